"""The site sources, checked without Quarto (which cannot be installed everywhere we work).

`nbdev_docs` = Quarto + nbdev's pre-processing. The pre-processing runs from Python, so a broken
notebook or site configuration is caught here rather than on the docs server."""
import json
import re
import sys

import pytest
import yaml

from conftest import BIN, NBS, NOTEBOOKS, ROOT, git_state, run

sys.path.insert(0, str(ROOT / 'tools'))
from render_pages import PROC_CODE, page_problems, render  # noqa: E402


def _cells(nb): return json.loads(nb.read_text())['cells']
def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']


@pytest.fixture(scope='module')
def processed():
    "nbdev's pre-processing of nbs/ into _proc/, once per test run: (git state before, the CompletedProcess)."
    before = git_state()
    return before, run([BIN / 'python', '-c', PROC_CODE], timeout=1200)


def test_docs_preprocessing_without_quarto(processed):
    before, res = processed
    cache = ROOT / '_proc'
    for nb in NOTEBOOKS + [NBS / 'index.ipynb']:
        assert (cache / nb.name).exists(), f'{nb.name} was not processed for the docs:\n{res.stdout}\n{res.stderr}'
    assert (cache / '_quarto.yml').exists()
    assert git_state() == before, ('the docs pre-processing changed committed site files (nbs/nbdev.yml or '
                                   f'nbs/sidebar.yml are stale): commit them.\n{run(["git", "status", "--short"]).stdout}')



def test_rendered_pages_read_cleanly(processed):
    "Every page, as the site shows it: no errors, stderr logs, machine paths, walls of text or figures without alt text."
    report = render(proc=False)
    assert set(report) >= {nb.name for nb in NOTEBOOKS + [NBS / 'index.ipynb']}
    bad = {name: problems for name, problems in report.items() if problems}
    assert not bad, '\n'.join(f'{n}: {p}' for n, ps in bad.items() for p in ps)


def test_page_problems_finds_what_it_looks_for():
    "The checks above can fail: each kind of problem, planted in a page, is reported."
    img = {'output_type': 'display_data', 'data': {'image/png': 'iVBOR', 'text/plain': '<Figure>'}, 'metadata': {}}
    cells = [{'cell_type': 'markdown', 'source': '#| hide\nprose', 'metadata': {}},
             {'cell_type': 'code', 'source': 'plot()', 'outputs': [img], 'metadata': {}},
             {'cell_type': 'code', 'source': '#| fig-alt: "A plot."\nplot()', 'outputs': [img], 'metadata': {}},
             {'cell_type': 'code', 'source': 'x', 'metadata': {}, 'outputs': [
                 {'output_type': 'stream', 'name': 'stderr', 'text': 'UserWarning: careful'},
                 {'output_type': 'stream', 'name': 'stdout', 'text': 'saved to /tmp/run/results.json\n'},
                 {'output_type': 'stream', 'name': 'stdout', 'text': 'epoch 1\r epoch 2'},
                 {'output_type': 'stream', 'name': 'stdout', 'text': 'line\n' * 60},
                 {'output_type': 'error', 'ename': 'E', 'evalue': '', 'traceback': ['E']}]},
             {'cell_type': 'code', 'source': '#| eval: false\nunfreeze_widget()', 'metadata': {}, 'outputs': [
                 {'output_type': 'execute_result', 'metadata': {}, 'execution_count': 1, 'data': {
                     'text/plain': "VBox(children=(HBox(children=(IntSlider(value=3, description='ResNet50 blocks'),)),))",
                     'application/vnd.jupyter.widget-view+json': {'model_id': 'abc', 'version_major': 2, 'version_minor': 0}}}]},
             {'cell_type': 'code', 'source': 'w', 'metadata': {}, 'outputs': [
                 {'output_type': 'execute_result', 'metadata': {}, 'execution_count': 2, 'data': {'text/plain': 'HBox(children=())'}}]}]
    found = page_problems({'cells': cells})
    for what in ('raw `#|` directive', 'cell 1: a figure without', 'stderr', 'absolute path', 'control characters',
                 'lines of output', 'an error', 'cell 4: a widget left in the page (VBox(', 'cell 5: a widget left in the page (HBox('):
        assert any(what in p for p in found), (what, found)
    assert not any(p.startswith('cell 2') for p in found), found

def test_site_configuration():
    q = yaml.safe_load((NBS / '_quarto.yml').read_text())
    assert q['project']['type'] == 'website'
    assert set(q['metadata-files']) == {'nbdev.yml', 'sidebar.yml'}
    assert (NBS / q['format']['html']['css']).exists()
    side = yaml.safe_load((NBS / 'sidebar.yml').read_text())
    listed = json.dumps(side)
    for nb in NOTEBOOKS + [NBS / 'index.ipynb']:
        assert nb.name in listed, f'{nb.name} is missing from nbs/sidebar.yml'
    ny = yaml.safe_load((NBS / 'nbdev.yml').read_text())
    assert ny['project']['output-dir'] == '_docs'


def test_readme_is_index_markdown():
    run([BIN / 'python', ROOT / 'tools' / 'readme.py', '--check'])


def test_notebook_front_matter_badge_and_colab_install():
    for nb in NOTEBOOKS + [NBS / 'index.ipynb']:
        cells = _cells(nb)
        first = _src(cells[0])
        assert cells[0]['cell_type'] == 'markdown' and re.match(r'# \S', first) and '\n> ' in first, \
            f'{nb.name}: the first cell must be the front matter `# Title` / `> description`'
        badge = f'https://colab.research.google.com/github/fusion-nb/fusion_nb/blob/main/nbs/{nb.name}'
        assert badge in _src(cells[1]), f'{nb.name}: the second cell must be an Open in Colab badge to {badge}'
        code = [_src(c) for c in cells if c['cell_type'] == 'code']
        assert any("'google.colab' in sys.modules" in c and 'pip' in c for c in code[:3]), \
            f'{nb.name}: no cell that installs fusion_nb in Colab near the top'
        if nb.name != 'index.ipynb':
            module = nb.stem.split('_', 1)[1]
            assert f'#| default_exp {module}' in code[0], f'{nb.name}: the first code cell must be `#| default_exp {module}`'


def test_readme_links_resolve():
    "Every relative link of README.md points at a file of the repository, from README.md's own folder (as GitHub reads it)."
    readme = (ROOT / 'README.md').read_text()
    links = re.findall(r'\]\(([^)\s]+)\)', readme)
    relative = [l.split('#')[0] for l in links if not re.match(r'^([a-z][a-z0-9+.-]*:|#|/)', l)]
    assert relative, 'no relative links found: the pattern is broken'
    missing = [l for l in relative if l and not (ROOT / l).exists()]
    assert not missing, f'README.md links to files that do not exist from the repository root: {missing}'
