"""Render the course's pages without Quarto, and check what a reader would trip over.

    python tools/render_pages.py            # pre-process nbs/ as nbdev_docs does, write _render/*.html, print a report
    python tools/render_pages.py --no-proc  # reuse _proc/ from an earlier run

The site is built by Quarto from nbdev's pre-processed notebooks (`_proc/`). Quarto cannot be installed everywhere we
work, so this renders the same pre-processed notebooks with nbconvert: the layout differs from the site's, what a page
shows does not (hidden cells are gone, outputs are the committed ones). Quarto reads the `#| ` cell options and drops
them from the page; so does this. `page_problems` is what tests/test_docs.py checks on every page.
"""
from __future__ import annotations
import argparse, json, posixpath, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROC, OUT = ROOT / '_proc', ROOT / '_render'
MAX_TEXT_LINES = 40          # a longer text output is a wall, not an example (a 55-line `--help` was one)
MAX_IMAGE_KB = 400           # one figure; more is a slow page
# What Quarto 1.11's page showed (tools/site_check.py measures it in Chromium): the text column is 678 px at 1280 px,
# so a figure wider than about twice that is shrunk past reading, and a text output line of more than about 100
# characters is cut off or wraps into a ragged block.
MAX_FIGURE_PX = 1400
MAX_LINE_CHARS = 100
# pandoc's Markdown (Quarto's) needs a blank line before a list: "Runs:\n- a\n- b" shows "Runs: - a - b"
_LIST_ITEM = re.compile(r'^ {0,3}(?:[-*+]|\d+[.)])\s+\S')
_ABS = re.compile(r'(?<![\w.])/(?:work|tmp|root|home|Users|private|var/folders|content)/')   # paths of a machine
_OPTION = re.compile(r'^#\|\s*([\w-]+)\s*:?\s*(.*)$')
# the text a widget leaves where a live kernel would draw it: on a static page a repr, not a picture
_WIDGET_REPR = re.compile(r'\b(?:VBox|HBox|GridBox|IntSlider|FloatSlider|IntRangeSlider|Button)\(')
_WIDGET_MIME = 'application/vnd.jupyter.widget-view+json'
# nbdev_docs' pre-processing without Quarto, _proc/ from nbs/ (tests/test_docs.py runs it too)
PROC_CODE = '''
from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
from nbdev.serve import proc_nbs
refresh_quarto_yml()
nbdev_sidebar.__wrapped__()
proc_nbs(n_workers=0, force=True)
'''


def cell_source(cell: dict) -> str:
    "A notebook cell's source as one string (nbformat stores it as a list of lines or as a string; it may be absent)."
    s = cell.get('source', '')
    return ''.join(s) if isinstance(s, list) else s


def cell_options(src: str) -> dict:
    "The Quarto/nbdev `#| ` options at the top of a cell's source."
    opts = {}
    for line in src.splitlines():
        m = _OPTION.match(line)
        if not m: break
        opts[m.group(1)] = m.group(2).strip().strip('"\'') or True
    return opts


def _output_text(o) -> str:
    if o['output_type'] == 'stream': return ''.join(o['text'])
    if o['output_type'] == 'error': return '\n'.join(o.get('traceback', []))
    d = o.get('data', {})
    for k in ('text/markdown', 'text/html', 'text/plain'):
        if k in d: return ''.join(d[k])
    return ''


def raw_lists(md: str) -> list[str]:
    "Lines of Markdown `md` that start a list right after a paragraph line: pandoc shows them as raw text."
    out, fence, lines = [], False, md.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith(('```', '~~~')): fence = not fence; continue
        if fence or i == 0 or not _LIST_ITEM.match(line): continue
        prev = lines[i - 1]
        if prev.strip() and not _LIST_ITEM.match(prev) and not prev.startswith((' ', '\t', '#', '|', '>')):
            out.append(f'{prev.strip()[-40:]!r} then {line.strip()[:40]!r}')
    return out


_FLAG = re.compile(r'(?<![\w`-])--[a-z][\w-]*')


def bare_flags(md: str) -> list[str]:
    "Command-line flags in Markdown `md` outside code: pandoc's smart typography shows `--out` as an en dash and `out`."
    prose = re.sub(r'`[^`]*`', '', re.sub(r'^(```|~~~).*?^\1', '', md, flags=re.S | re.M))
    return _FLAG.findall(prose)


def image_width(o) -> int | None:
    "The pixel width of a PNG or JPEG output, from its bytes."
    import base64, io
    d = o.get('data', {})
    b64 = d.get('image/png') or d.get('image/jpeg')
    if not b64: return None
    try:
        from PIL import Image
        return Image.open(io.BytesIO(base64.b64decode(''.join(b64)))).size[0]
    except Exception: return None


def markdown_problems(where: str, text: str) -> list[str]:
    "What pandoc's Markdown shows differently from what the author meant in `text` (prose, or a Markdown output)."
    return ([f'{where}: a list without a blank line before it shows as raw text: {r}' for r in raw_lists(text)] +
            [f'{where}: {f} outside backticks shows as a dash: write `{f}`' for f in bare_flags(text)])


def page_problems(nb: dict) -> list[str]:
    "What a reader would trip over on the page made from pre-processed notebook `nb`."
    problems = []
    for i, cell in enumerate(nb['cells']):
        src, where = cell_source(cell), f'cell {i}'
        if cell['cell_type'] == 'markdown':
            if re.search(r'^#\|', src, re.M): problems.append(f'{where}: a raw `#|` directive in prose')
            if _ABS.search(src): problems.append(f'{where}: an absolute path in prose')
            problems += markdown_problems(where, src)
            continue
        if cell['cell_type'] != 'code': continue
        opts = cell_options(src)
        for o in cell.get('outputs', []):
            text = _output_text(o)
            if o['output_type'] == 'error': problems.append(f'{where}: an error in the output')
            if o['output_type'] == 'stream' and o.get('name') == 'stderr' and text.strip():
                problems.append(f'{where}: stderr in the output (warnings or a log): {text.strip()[:120]!r}')
            if _WIDGET_REPR.search(text) or _WIDGET_MIME in o.get('data', {}):
                widget = (_WIDGET_REPR.search(text) or [_WIDGET_MIME])[0]
                problems.append(f'{where}: a widget left in the page ({widget}…): '
                                'a static page cannot draw it; show a static figure of the same information, and clear '
                                'the widget cell (`#| eval: false`) of its output')
            if _ABS.search(text):
                problems.append(f'{where}: an absolute path in the output: {_ABS.search(text).group(0)}…')
            if '\r' in text or '\x1b[' in text:
                problems.append(f'{where}: progress-bar control characters in the output')
            data = o.get('data', {})
            if 'text/markdown' in data:
                problems += markdown_problems(where, text)
            elif 'text/html' not in data and not any(k.startswith('image/') for k in data):
                long = [l for l in text.splitlines() if len(l) > MAX_LINE_CHARS]
                if long: problems.append(f'{where}: {len(long)} output line(s) over {MAX_LINE_CHARS} characters, the '
                                         f'longest {max(map(len, long))}: {long[0][:60]!r}… '
                                         '(wrap it, or show it as Markdown)')
            if 'text/html' not in o.get('data', {}) and text.count('\n') + 1 > MAX_TEXT_LINES:
                problems.append(f'{where}: {text.count(chr(10)) + 1} lines of output (more than {MAX_TEXT_LINES})')
            img = o.get('data', {}).get('image/png') or o.get('data', {}).get('image/jpeg')
            if img:
                kb = len(''.join(img)) * 3 / 4 / 1024
                if kb > MAX_IMAGE_KB: problems.append(f'{where}: a {kb:.0f} KB image (more than {MAX_IMAGE_KB})')
                if not opts.get('fig-alt'): problems.append(f'{where}: a figure without `#| fig-alt:`')
                w = image_width(o)
                if w and w > MAX_FIGURE_PX:
                    problems.append(f'{where}: a figure {w} px wide (more than {MAX_FIGURE_PX}): the page shrinks it '
                                    'past reading; shorten its title, give it a smaller figsize')
    return problems


_LINK = re.compile(r'\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)|href="([^"]+)"')
_REPO_URL = re.compile(r'https://github\.com/fusion-nb/fusion_nb/(?:blob|tree|raw|edit)/[^/]+/([^?#]+)')


def repo_files(root: Path = ROOT) -> set[str]:
    "The files git tracks under `root`, and their folders."
    git = subprocess.run(['git', 'ls-files'], cwd=root, capture_output=True, text=True, check=True)
    files = set(git.stdout.split())
    return files | {str(p) for f in files for p in Path(f).parents if str(p) != '.'}


def link_problems(nb: dict, files: set[str], here: str = 'nbs') -> list[str]:
    """Links in a page's prose and Markdown outputs that point into the repository (relative to `here`, or to its
    GitHub URL) at a file git does not track."""
    problems = []
    for i, cell in enumerate(nb['cells']):
        texts = [cell_source(cell)] if cell['cell_type'] == 'markdown' else \
                [''.join(o['data']['text/markdown']) for o in cell.get('outputs', [])
                 if 'text/markdown' in o.get('data', {})]
        for text in texts:
            for m in _LINK.finditer(text):
                url = m.group(1) or m.group(2)
                g = _REPO_URL.match(url)
                if g: target = g.group(1).rstrip('/')
                elif re.match(r'^([a-z][a-z0-9+.-]*:|#|/)', url): continue
                else: target = posixpath.normpath(posixpath.join(here, url.split('#')[0]))
                if target not in files:
                    problems.append(f'cell {i}: a link to {url}, which is not a file of the repository')
    return problems


def strip_options(nb: dict) -> dict:
    """Drop the `#| ` option lines from code cells, and the code of `echo: false` cells, as Quarto does when it
    renders them."""
    for cell in nb['cells']:
        if cell['cell_type'] == 'code':
            lines = cell_source(cell).splitlines(True)
            k = 0
            while k < len(lines) and _OPTION.match(lines[k]): k += 1
            if str(cell_options(cell_source(cell)).get('echo', '')).lower() == 'false':
                cell.setdefault('metadata', {}).setdefault('tags', []).append('remove_input')
            cell['source'] = ''.join(lines[k:])
    return nb


def render(names=None, proc: bool = True) -> dict[str, list[str]]:
    "Pre-process (unless `proc` is False), render every page to `_render/`, and return each page's problems."
    if proc: subprocess.run([sys.executable, '-c', PROC_CODE], cwd=ROOT, check=True)
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    import nbformat
    OUT.mkdir(exist_ok=True)
    report, files = {}, repo_files()
    for p in sorted(PROC.glob('*.ipynb')):
        if names and p.stem not in names: continue
        nb = json.loads(p.read_text())
        report[p.name] = page_problems(nb) + link_problems(nb, files)
        exporter = HTMLExporter()
        exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}, enabled=True),
                                       enabled=True)
        html, _ = exporter.from_notebook_node(nbformat.reads(json.dumps(strip_options(nb)), as_version=4))
        (OUT / f'{p.stem}.html').write_text(html)
    return report


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('names', nargs='*', help='notebook names without .ipynb (default: all)')
    ap.add_argument('--no-proc', action='store_true', help='reuse _proc/ instead of pre-processing again')
    a = ap.parse_args()
    report = render(a.names, proc=not a.no_proc)
    for name, problems in report.items():
        print(f'{name}: {"ok" if not problems else f"{len(problems)} problem(s)"}')
        for pr in problems: print(f'  - {pr}')
    print(f'pages in {OUT.relative_to(ROOT)}/')
    sys.exit(1 if any(report.values()) else 0)
