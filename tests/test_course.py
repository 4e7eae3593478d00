"""The course's shape, as a reader meets it: an Appendix for the engineering, pages short enough to finish, a caption
on every figure, no talk of how the project was made, and a table of contents on a phone."""
import json
import re

import pytest
import yaml

from conftest import NBS

MAX_CELLS, MAX_WORDS = 45, 3000
# Talk about how the project was made, not about the subject: never on a page (Markdown or output) ...
NEVER = ['nice 19', 'load average', 'deadline', 'other users', 'for the docs', 'lighter for the page',
         'could run it', 'our machine', 'busy machine']
# ... and, in the course (outside the Appendix), no talk of the test machinery either.
NOT_IN_COURSE = ['marked slow', 'hidden cells']


def _sidebar():
    side = yaml.safe_load((NBS / 'sidebar.yml').read_text())['website']['sidebar']['contents']
    appendix = [s for s in side if isinstance(s, dict) and s.get('section') == 'Appendix']
    course = [s for s in side if isinstance(s, str)]
    return course, (appendix[0]['contents'] if appendix else [])


def _cells(name):
    return json.loads((NBS / name).read_text())['cells']


def _words(cells):
    return sum(len(re.findall(r'\S+', ''.join(c['source']))) for c in cells if c['cell_type'] == 'markdown')


def _page_text(cell):
    "What a reader sees of a cell: its Markdown, or its outputs."
    if cell['cell_type'] == 'markdown': return ''.join(cell['source'])
    out = []
    for o in cell.get('outputs', []):
        out.append(''.join(o.get('text', '')))
        for k in ('text/plain', 'text/markdown', 'text/html'): out.append(''.join(o.get('data', {}).get(k, '')))
    return '\n'.join(out)


def test_course_and_appendix():
    course, appendix = _sidebar()
    assert len(appendix) >= 2, 'nbs/sidebar.yml needs a section titled Appendix with at least two notebooks'
    assert 'index.ipynb' in course and not set(course) & set(appendix)
    listed = set(course) | set(appendix)
    assert listed == {p.name for p in NBS.glob('*.ipynb')}, 'every notebook is in the sidebar, once'


@pytest.mark.parametrize('name', sorted(p.name for p in NBS.glob('*.ipynb')))
def test_page_is_short_enough_to_finish(name):
    course, _ = _sidebar()
    cells = _cells(name)
    assert len(cells) <= MAX_CELLS, f'{name}: {len(cells)} cells (at most {MAX_CELLS})'
    if name in course:
        assert _words(cells) <= MAX_WORDS, f'{name}: {_words(cells)} words of Markdown (at most {MAX_WORDS})'


@pytest.mark.parametrize('name', sorted(p.name for p in NBS.glob('*.ipynb')))
def test_every_figure_has_a_caption(name):
    for i, c in enumerate(_cells(name)):
        figure = any('image/png' in o.get('data', {}) or 'image/svg+xml' in o.get('data', {})
                     for o in c.get('outputs', []))
        if figure: assert '#| fig-cap:' in ''.join(c['source']), f'{name} cell {i}: a figure without `#| fig-cap:`'


@pytest.mark.parametrize('name', sorted(p.name for p in NBS.glob('*.ipynb')))
def test_no_talk_of_how_it_was_made(name):
    course, _ = _sidebar()
    banned = NEVER + (NOT_IN_COURSE if name in course else [])
    for i, c in enumerate(_cells(name)):
        text = _page_text(c).lower()
        found = [b for b in banned if b in text]
        assert not found, f'{name} cell {i}: {found}'


def test_phones_get_a_table_of_contents():
    "Quarto hides the margin's table of contents below 768 px: the body's copy is shown there, and only there."
    html = yaml.safe_load((NBS / '_quarto.yml').read_text())['format']['html']
    assert html['toc'] is True and html['toc-location'] == 'right-body'
    css = (NBS / 'styles.css').read_text()
    phone = re.search(r'@media \(max-width: 767\.98px\) \{\s*#TOC-body \{\s*display: block;', css)
    wide = re.search(r'@media \(min-width: 768px\) \{\s*#TOC-body \{\s*display: none;', css)
    assert phone and wide, 'styles.css must show #TOC-body below 768 px and hide it from 768 px'
