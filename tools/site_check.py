"""Read the site Quarto built (`nbdev_docs` writes `_docs/`) the way a reader meets it: Debian's Chromium, driven by
Playwright, opens every page at a desktop width and at a phone width, saves a full-page screenshot of each, and
measures what a reader would trip over.

    nbdev_docs                                     # needs Quarto on PATH (see CONTRIBUTING.md)
    python tools/site_check.py                     # _docs/ -> site_check/*.png and a report; exit 1 on a problem
    python tools/site_check.py --widths 1280 --pages results
    python tools/site_check.py --mathjax node_modules/mathjax   # offline: typeset the math with a local MathJax 3

What it measures on each page (the layout Quarto gives, which tools/render_pages.py cannot see):
- at a desktop width, a code, output or table block whose content is wider than the block, and any box that scrolls
  sideways (overflow-x auto or scroll: the wrapper around a table, not only the table) with content wider than itself
  (the reader must scroll sideways, or the text is cut off), and display math wider than the text column;
- at any width, a page that scrolls sideways;
- a figure whose file is more than 2.2x wider than it is drawn (its text is shrunk past reading);
- a link into the repository on GitHub whose file is not in the repository (e.g. "View source" without `nbs/`), and a
  link to another page's (or its own) anchor that the page does not have;
- a page without a link to the next or the previous page, and a page with sections but no visible table of contents
  (on a phone the right margin is gone);
- a caption or paragraph showing raw Markdown list markers.
The pages load MathJax from a CDN; without network, `--mathjax` serves a local copy (`npm install mathjax@3`) in its
place, so that display math is typeset and measured. Needs /usr/bin/chromium (tools/install_browser.sh) and the
`playwright` package (in ".[dev]"); Playwright's own browser download is never used. CI has no Quarto, so CI runs
tools/render_pages.py, which checks the same things it can see in the pre-processed notebooks.
"""
from __future__ import annotations
import argparse, functools, http.server, os, re, sys, threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_pages import _REPO_URL, repo_files  # noqa: E402  the same links render_pages checks in CI

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get('FUSION_NB_CHROMIUM', '/usr/bin/chromium')
# As root in a sandbox-less container, without GPU, and with nothing that phones home (offline, without the
# background-networking flags Chromium keeps retrying refused connections). tests/test_browser.py uses the same.
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-proxy-server']
MAX_SHRINK = 2.2         # a figure drawn at less than 1/2.2 of its pixel width has text too small to read

# Run in the page: one entry per problem, each [kind, detail].
MEASURE = r'''() => {
  const out = [];
  const main = document.querySelector('main') || document.body;
  const col = main.getBoundingClientRect().width;
  // At a desktop width every block must fit the column. On a phone a wide formula, table or output may scroll in
  // its own box (styles.css), but the page itself must not scroll sideways.
  const desktop = window.innerWidth >= 800;
  // The blocks themselves, and every box that scrolls sideways (a wrapper with overflow-x auto or scroll: a table
  // can fit its own element while the div around it hides most of its columns behind a scroll).
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const sel = 'pre, .cell-output-display table, .table-responsive, table';
  const blocks = new Set(desktop ? main.querySelectorAll(sel) : []);
  if (desktop) for (const e of main.querySelectorAll('*')) if (scrolls(e) && !e.closest('.math.display')) blocks.add(e);
  for (const el of blocks) {
    if (el.closest('.callout-collapse.collapse:not(.show)')) continue;   // a collapsed solution
    if (el.scrollWidth > el.clientWidth + 2) {
      const t = (el.innerText || '').split('\n').reduce((a, b) => a.length >= b.length ? a : b, '');
      out.push(['wide block',
                `${el.tagName.toLowerCase()} ${el.scrollWidth}px in ${el.clientWidth}px: ${t.slice(0, 90)}`]);
    }
  }
  for (const el of desktop ? main.querySelectorAll('.math.display') : []) {
    const w = el.scrollWidth, r = el.getBoundingClientRect().width;
    if (w > col + 2 || w > r + 2)
      out.push(['wide math', `${w}px in a ${Math.round(col)}px column: ${(el.textContent || '').slice(0, 60)}`]);
  }
  for (const img of main.querySelectorAll('img')) {
    const r = img.getBoundingClientRect();
    if (/^https?:/.test(img.getAttribute('src'))) continue;                // a badge from elsewhere
    if (window.innerWidth >= 800 && img.naturalWidth && r.width && img.naturalWidth / r.width > %SHRINK%)
      out.push(['shrunk figure',
                `${img.naturalWidth}px drawn at ${Math.round(r.width)}px: ${img.getAttribute('src').slice(0, 60)}`]);
    if (img.naturalWidth === 0 && !img.src.startsWith('data:')) out.push(['missing image', img.getAttribute('src')]);
  }
  for (const el of main.querySelectorAll('p, figcaption, caption, td')) {
    if (/(^|:\s)- \S.*\s- \S/.test(el.textContent)) out.push(['raw list', el.textContent.slice(0, 90)]);
  }
  // A phone has no right margin: a page with sections needs a table of contents it can see.
  const shown = e => e && e.getBoundingClientRect().height > 0 && getComputedStyle(e).visibility !== 'hidden';
  if (main.querySelectorAll('h2').length >= 2 && ![...document.querySelectorAll('nav[role="doc-toc"]')].some(shown))
    out.push(['no table of contents', `${main.querySelectorAll('h2').length} sections at ${window.innerWidth}px`]);
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  const nav = document.querySelector('.page-navigation, nav.page-navigation');
  const navLinks = nav ? [...nav.querySelectorAll('a[href]')].length : 0;
  if (document.documentElement.scrollWidth > window.innerWidth + 2) {
    // name the outermost element that sticks out past the window's right edge
    const clipped = e => { for (let a = e.parentElement; a && a !== main; a = a.parentElement)
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) return true; return false; };
    const wide = [...main.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 2)
      .filter((e, _, all) => !all.includes(e.parentElement) && !clipped(e));
    const what = wide.slice(0, 2).map(e => `<${e.tagName.toLowerCase()} class="${e.className}"> `
                                           + (e.textContent || e.getAttribute('src') || '').trim().slice(0, 50));
    out.push(['page scrolls sideways',
              `${document.documentElement.scrollWidth}px in a ${window.innerWidth}px window: ${what.join(' | ')}`]);
  }
  return {problems: out, links, navLinks, width: Math.round(col)};
}'''.replace('%SHRINK%', str(MAX_SHRINK))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass


def _serve(folder: Path):
    handler = functools.partial(_Quiet, directory=str(folder))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def repo_link_problems(links, files: set[str]) -> list[str]:
    "Links into the repository on GitHub (blob|tree|edit|raw/<branch>/<path>) whose path is not in `files`."
    found = {m.group(1).rstrip('/') for m in map(_REPO_URL.match, set(links)) if m}
    return [f'a link to {f}, which is not in the repository' for f in sorted(found - files)]


def anchor_problems(docs: Path) -> dict[str, list[str]]:
    "Links between the site's pages (`page.html#anchor`) whose anchor is no element's id on that page."
    pages = {p.name: p.read_text(errors='replace') for p in docs.glob('*.html')}
    ids = {n: set(re.findall(r'\sid="([^"]+)"', h)) for n, h in pages.items()}
    out = {}
    for n, h in pages.items():
        for target, anchor in sorted(set(re.findall(r'href="([\w.-]*\.html)?#([^"]+)"', h))):
            target = target or n
            if target in ids and anchor not in ids[target]:
                out.setdefault(n, []).append(f'a link to {target}#{anchor}, an anchor that page does not have')
    return out


def check(docs: Path, widths, pages=None, shots: Path | None = None,
          mathjax: Path | None = None) -> dict[str, list[str]]:
    from playwright.sync_api import sync_playwright
    srv = _serve(docs)
    base = f'http://127.0.0.1:{srv.server_address[1]}'
    files = repo_files()
    anchors = anchor_problems(docs)
    htmls = sorted(p.name for p in docs.glob('*.html') if not pages or p.stem in pages)
    report = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for w in widths:
            page = browser.new_page(viewport={'width': w, 'height': 900})
            if mathjax:                                  # cdn.jsdelivr.net/npm/mathjax@3/es5/... from the local copy
                page.route(re.compile(r'.*/mathjax@3/(.*)'), lambda route: route.fulfill(
                    path=str(mathjax / re.match(r'.*/mathjax@3/([^?#]*)', route.request.url).group(1))))
            for name in htmls:
                page.goto(f'{base}/{name}', wait_until='networkidle')
                if mathjax:                                     # MathJax typesets after load
                    page.wait_for_function('() => !document.querySelector(".math.display") || '
                                           'document.querySelector("mjx-container")', timeout=20000)
                page.wait_for_timeout(500)
                r = page.evaluate(MEASURE)
                probs = [f'{k}: {d}' for k, d in r['problems']]
                if w == widths[0]:
                    probs += repo_link_problems(r['links'], files) + anchors.get(name, [])
                    if r['navLinks'] == 0 and name != '404.html': probs.append('no previous/next page links')
                report[f'{name} @ {w}px'] = probs
                if shots:
                    shots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shots / f'{Path(name).stem}-{w}.png'), full_page=True)
            page.close()
        browser.close()
    srv.shutdown()
    return report


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--docs', default=str(ROOT / '_docs'), help='the built site (default: _docs/)')
    ap.add_argument('--widths', type=int, nargs='+', default=[1280, 390], help='viewport widths in px')
    ap.add_argument('--pages', nargs='*', help='page names without .html (default: all)')
    ap.add_argument('--shots', default=str(ROOT / 'site_check'), help='folder for the screenshots')
    ap.add_argument('--mathjax', help='a local MathJax 3 folder (node_modules/mathjax) to serve in place of the CDN')
    a = ap.parse_args()
    docs = Path(a.docs)
    if not (docs / 'index.html').exists():
        sys.exit(f'site_check: no {docs}/index.html; build the site first with `nbdev_docs` (Quarto on PATH)')
    rep = check(docs, a.widths, a.pages, Path(a.shots), Path(a.mathjax) if a.mathjax else None)
    for k, v in rep.items():
        print(f'{k}: {"ok" if not v else f"{len(v)} problem(s)"}')
        for p in v: print(f'  - {p}')
    print(f'screenshots in {a.shots}/')
    sys.exit(1 if any(rep.values()) else 0)
