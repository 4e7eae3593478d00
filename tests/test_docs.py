"""The site sources, checked without Quarto (which cannot be installed everywhere we work).

`nbdev_docs` = Quarto + nbdev's pre-processing. The pre-processing runs from Python, so a broken
notebook or site configuration is caught here rather than on the docs server."""
import json
import os
import re
import shutil
import sys

import pytest
import yaml

from conftest import BIN, NBS, NOTEBOOKS, ROOT, git_state, run

sys.path.insert(0, str(ROOT / 'tools'))
from render_pages import PROC_CODE, cell_source, link_problems, page_problems, render, repo_files  # noqa: E402


def _cells(nb): return json.loads(nb.read_text())['cells']


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
                                   'nbs/sidebar.yml are stale): commit them.\n'
                                   f'{run(["git", "status", "--short"]).stdout}')



def test_rendered_pages_read_cleanly(processed):
    """Every page, as the site shows it: no errors, stderr logs, machine paths, walls of text or figures without alt
    text."""
    report = render(proc=False)
    assert set(report) >= {nb.name for nb in NOTEBOOKS + [NBS / 'index.ipynb']}
    bad = {name: problems for name, problems in report.items() if problems}
    assert not bad, '\n'.join(f'{n}: {p}' for n, ps in bad.items() for p in ps)


def test_page_problems_finds_what_it_looks_for():
    "The checks above can fail: each kind of problem, planted in a page, is reported."
    code = lambda src, *outputs: {'cell_type': 'code', 'source': src, 'metadata': {}, 'outputs': list(outputs)}
    prose = lambda src: {'cell_type': 'markdown', 'source': src, 'metadata': {}}
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
                     'text/plain': "VBox(children=(HBox(children=(IntSlider(value=3, "
                                   "description='ResNet50 blocks'),)),))",
                     'application/vnd.jupyter.widget-view+json': {'model_id': 'abc', 'version_major': 2,
                                                                  'version_minor': 0}}}]},
             code('w', {'output_type': 'execute_result', 'metadata': {}, 'execution_count': 2,
                        'data': {'text/plain': 'HBox(children=())'}})]
    wide = {'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': _png(1500), 'text/plain': '<Figure>'}}
    fits = {'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': _png(1400), 'text/plain': '<Figure>'}}
    stdout = lambda t: {'output_type': 'stream', 'name': 'stdout', 'text': t}
    md = lambda t: {'output_type': 'display_data', 'metadata': {}, 'data': {'text/markdown': t,
                                                                            'text/plain': '<Markdown>'}}
    cells += [code('#| fig-alt: "Curves."\nplot_curves()', wide),
              code('#| fig-alt: "Curves."\nplot_curves()', fits),
              code('print(s)', stdout('x' * 100 + '\n' + 'y' * 101 + '\n')),
              code('print(s)', stdout('x' * 100 + '\n'), md('word ' * 60)),
              code('table1()', md('| a |\n|---|\n\nRuns:\n- resnet50: 32 px')),
              code('table1()', md('Runs:\n\n- resnet50: 32 px\n- mobilenetv2')),
              prose('The setups are:\n1. resnet50\n2. mobilenetv2'),
              code('help_table()', md('| `--lr` | scaled to --batch-size |')),
              prose('Run `fusion_nb_run --preset\ncpu`, then\n```bash\nfusion_nb_run --resume\n```')]
    found = page_problems({'cells': cells})
    for what in ('cell 6: a figure 1500 px wide', 'cell 8: 1 output line(s) over 100 characters, the longest 101',
                 'cell 10: a list without a blank line', 'cell 12: a list without a blank line',
                 'cell 13: --batch-size outside backticks',
                 'raw `#|` directive', 'cell 1: a figure without', 'stderr', 'absolute path', 'control characters',
                 'lines of output', 'an error', 'cell 4: a widget left in the page (VBox(',
                 'cell 5: a widget left in the page (HBox('):
        assert any(what in p for p in found), (what, found)
    for fine in ('cell 2', 'cell 7', 'cell 9', 'cell 11', 'cell 14'):
        assert not any(p.startswith(fine + ':') for p in found), (fine, found)


def _png(width: int) -> str:
    "A base64 PNG `width` pixels wide, as a notebook stores a figure."
    import base64, io
    from PIL import Image
    buf = io.BytesIO(); Image.new('RGB', (width, 10), 'white').save(buf, format='PNG')
    return base64.b64encode(buf.getvalue()).decode()

def test_link_problems_finds_broken_links():
    "Links into the repository, relative or by GitHub URL, must name tracked files; other links are not checked here."
    repo = 'https://github.com/fusion-nb/fusion_nb'
    md = (f'[next](03_fusion.ipynb#the-heads) [run](../results/cpu/README.md) [bench]({repo}/tree/main/bench) '
          f'[gone](04_trainig.ipynb) [old]({repo}/blob/main/01_dataset.ipynb) [web](https://quarto.org) [up](#top)')
    out = {'output_type': 'display_data', 'metadata': {},
           'data': {'text/markdown': '[table](../results/cpu/table.mdx)'}}
    found = link_problems({'cells': [{'cell_type': 'markdown', 'source': md, 'metadata': {}},
                                     {'cell_type': 'code', 'source': 'x', 'metadata': {}, 'outputs': [out]}]},
                          repo_files())
    assert [p.split(': a link to ')[1].split(',')[0] for p in found] == [
        '04_trainig.ipynb', f'{repo}/blob/main/01_dataset.ipynb', '../results/cpu/table.mdx'], found


def test_site_configuration():
    q = yaml.safe_load((NBS / '_quarto.yml').read_text())
    assert q['project']['type'] == 'website'
    assert set(q['metadata-files']) == {'nbdev.yml', 'sidebar.yml'}
    assert (NBS / q['format']['html']['css']).exists()
    side = yaml.safe_load((NBS / 'sidebar.yml').read_text())
    listed = json.dumps(side)
    for nb in NOTEBOOKS + [NBS / 'index.ipynb']:
        assert nb.name in listed, f'{nb.name} is missing from nbs/sidebar.yml'
    assert q['website']['repo-subdir'] == 'nbs', '"View source" must link to nbs/<notebook>'
    assert q['website']['page-navigation'] is True and q['format']['html']['code-overflow'] == 'wrap'
    ny = yaml.safe_load((NBS / 'nbdev.yml').read_text())
    assert ny['project']['output-dir'] == '_docs'


def test_readme_is_index_markdown():
    run([BIN / 'python', ROOT / 'tools' / 'readme.py', '--check'])


def test_notebook_front_matter_badge_and_colab_install():
    for nb in NOTEBOOKS + [NBS / 'index.ipynb']:
        cells = _cells(nb)
        first = cell_source(cells[0])
        assert cells[0]['cell_type'] == 'markdown' and re.match(r'# \S', first) and '\n> ' in first, \
            f'{nb.name}: the first cell must be the front matter `# Title` / `> description`'
        badge = f'https://colab.research.google.com/github/fusion-nb/fusion_nb/blob/main/nbs/{nb.name}'
        assert badge in cell_source(cells[1]), f'{nb.name}: the second cell must be an Open in Colab badge to {badge}'
        code = [cell_source(c) for c in cells if c['cell_type'] == 'code']
        assert any("'google.colab' in sys.modules" in c and 'pip' in c for c in code[:3]), \
            f'{nb.name}: no cell that installs fusion_nb in Colab near the top'
        if nb.name != 'index.ipynb':
            module = nb.stem.split('_', 1)[1]
            assert f'#| default_exp {module}' in code[0], \
                f'{nb.name}: the first code cell must be `#| default_exp {module}`'


def test_no_widget_state_in_notebooks():
    """Executing a notebook can save every widget's state (a progress bar's too) in its metadata: thousands of lines
    of noise."""
    saved = [nb.name for nb in NOTEBOOKS + [NBS / 'index.ipynb'] if 'widgets' in json.loads(nb.read_text())['metadata']]
    assert not saved, f'widget state in the metadata of {saved}: delete metadata["widgets"] (nbdev_clean keeps it)'


def test_readme_links_resolve():
    """Every relative link of README.md points at a file of the repository, from README.md's own folder (as GitHub
    reads it)."""
    readme = (ROOT / 'README.md').read_text()
    links = re.findall(r'\]\(([^)\s]+)\)', readme)
    relative = [l.split('#')[0] for l in links if not re.match(r'^([a-z][a-z0-9+.-]*:|#|/)', l)]
    assert relative, 'no relative links found: the pattern is broken'
    missing = [l for l in relative if l and not (ROOT / l).exists()]
    assert not missing, f'README.md links to files that do not exist from the repository root: {missing}'


NBDEV_README_SKIP = '''
import inspect, nbdev.quarto as q
from nbdev.config import get_config
assert 'nbdev_readme.__wrapped__(path=path, chk_time=True)' in inspect.getsource(q.nbdev_docs.__wrapped__), \\
    'nbdev_docs no longer calls nbdev_readme with chk_time=True: settings.ini readme_nb no longer keeps README.md'
assert not (get_config().nbs_path / get_config().readme_nb).exists()
def refuse(*a, **k): raise SystemExit('nbdev_readme tried to render README.md through Quarto')
q._sprun = q.proc_nbs = refuse
q.nbdev_readme.__wrapped__(chk_time=True)
'''


def test_nbdev_docs_leaves_the_readme_alone():
    """README.md is tools/readme.py's. `nbdev_docs` would rewrite it through Quarto's gfm writer and leave
    index_files/ at the root: settings.ini names a readme notebook that does not exist, so nbdev skips that step.
    Checked here without Quarto: nbdev's own nbdev_readme, as nbdev_docs calls it, returns before rendering."""
    before = git_state()
    run([BIN / 'python', '-c', NBDEV_README_SKIP])
    assert git_state() == before


@pytest.mark.skipif(not shutil.which('quarto'),
                    reason='needs Quarto on PATH (CI has none; CONTRIBUTING.md says how to build it)')
@pytest.mark.slow                      # the whole site with Quarto, in a clean clone
def test_nbdev_docs_with_quarto_leaves_a_clean_tree(tmp_path):
    "The whole `nbdev_docs`, with the real Quarto, in a clean clone: the site is built and nothing tracked changes."
    clone = tmp_path / 'clone'
    run(['git', 'clone', '-q', ROOT, clone])
    env = {'PYTHONPATH': str(clone), 'PATH': f'{BIN}{os.pathsep}{os.environ["PATH"]}'}
    run([BIN / 'nbdev_docs'], cwd=clone, env=env, timeout=1800)
    assert (clone / '_docs' / 'index.html').exists()
    status = run(['git', 'status', '--porcelain', '--ignored'], cwd=clone).stdout.splitlines()
    assert [s for s in status if not s.startswith('!! ')] == [], status
