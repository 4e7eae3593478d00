"""The unfreeze sliders as a student meets them: a real JupyterLab server on localhost with a fresh kernel,
Debian's Chromium driven by Playwright, the unfreeze notebook opened in it (with the committed sweep file where the
notebook reads it), the slider cell run, each slider moved, and the readout checked against the same model in this
process (built and frozen as the slider cell's), the measured numbers against the sweep file, and the train button
pressed until its curve is drawn. A screenshot is saved as an artifact (env FUSION_NB_ARTIFACTS, else tests/artifacts/).

Needs /usr/bin/chromium (Debian's package, installed by tools/install_browser.sh) and the `playwright`
Python package (in ".[dev]"). Playwright's own browser download (`playwright install`) is never used. In
CI (CI=true) a missing browser or package fails the test; elsewhere it is skipped with the reason."""
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import NBS, ROOT

CHROMIUM = Path(os.environ.get('FUSION_NB_CHROMIUM', '/usr/bin/chromium'))
sys.path.insert(0, str(ROOT / 'tools'))
from site_check import CHROMIUM_ARGS  # noqa: E402  the flags tools/site_check.py reads the site with

pytestmark = pytest.mark.slow          # JupyterLab and Chromium: a minute or more

NOTEBOOK = NBS / '04b_unfreeze.ipynb'
SLIDER_CALL, SLIDER_DEF = 'unfreeze_widget(', 'def unfreeze_widget('   # the slider cell calls, not defines, it
SLIDERS = {'resnet50': '.fusion-nb-slider-resnet50', 'mobilenetv2': '.fusion-nb-slider-mobilenetv2'}
READOUT, MEASURED = '.fusion-nb-readout', '.fusion-nb-measured'
TRAIN, CURVE, STATUS = '.fusion-nb-train', '.fusion-nb-train-curve', '.fusion-nb-train-status'
SWEEP = ROOT / 'results' / 'cpu' / 'unfreeze_sweep.json'      # the notebook reads ../results/cpu/unfreeze_sweep.json
TRAIN_S = 180          # the button trains for about 10 s; the first epoch also builds the data and warms up
IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
# Generous but bounded. Measured on this 2-core CPU at load 6-9: server up in ~5 s, page and kernel ~10 s, the
# slider cell (torch import, block counts) ~8-10 s, each slider setting ~1-2 s; ~45 s for the whole test.
SERVER_START_S, CELLS_S, STEP_S, STOP_S = 120, 420, 60, 20


def _missing(reason):
    if IN_CI: pytest.fail(f'{reason}; CI must run the browser test (tools/install_browser.sh installs chromium)')
    pytest.skip(reason)


def _artifacts():
    d = Path(os.environ.get('FUSION_NB_ARTIFACTS') or ROOT / 'tests' / 'artifacts')
    d.mkdir(parents=True, exist_ok=True)
    return d


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# localhost only, and never through a proxy that the environment might name
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _api(base, token, path, method='GET', timeout=10):
    req = urllib.request.Request(f'{base}{path}', method=method, headers={'Authorization': f'token {token}'},
                                 data=b'' if method == 'POST' else None)
    with _http.open(req, timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body else None


def _write_settings(config_dir):
    "JupyterLab user settings for the test profile: every cell rendered, no news or update checks."
    settings = {'@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
                '@jupyterlab/apputils-extension/notification.jupyterlab-settings':
                    {'fetchNews': 'false', 'checkForUpdates': False}}
    for rel, value in settings.items():
        f = config_dir / 'lab' / 'user-settings' / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))


def _our_kernels(runtime_dir):
    "Process ids of kernels whose connection file lies in our own temporary runtime folder."
    pids = []
    for p in Path('/proc').iterdir():
        if not p.name.isdigit(): continue
        try: cmd = (p / 'cmdline').read_bytes().decode(errors='replace')
        except OSError: continue
        if str(runtime_dir) in cmd and 'kernel' in cmd: pids.append(int(p.name))
    return pids


def _kill(pid, sig):
    try: os.kill(pid, sig)
    except ProcessLookupError: pass


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 with the unfreeze notebook in a fresh root; stopped whatever happens."
    if not NOTEBOOK.exists(): pytest.fail(f'{NOTEBOOK} is missing')
    if importlib.util.find_spec('jupyterlab') is None: _missing('jupyterlab is not installed in this environment')
    root, runtime, config, data, ipy = (tmp_path / n for n in ('root', 'runtime', 'config', 'data', 'ipython'))
    for d in (root, runtime, config, data, ipy): d.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    if not SWEEP.exists(): pytest.fail(f'{SWEEP} is missing: tools/unfreeze_sweep.py writes it')
    (tmp_path / 'results' / 'cpu').mkdir(parents=True)
    shutil.copy(SWEEP, tmp_path / 'results' / 'cpu' / SWEEP.name)   # where the notebook's ../results/cpu finds it
    _write_settings(config)
    port, token = _free_port(), secrets.token_hex(24)
    env = {**os.environ, 'JUPYTER_RUNTIME_DIR': str(runtime), 'JUPYTER_CONFIG_DIR': str(config),
           'JUPYTER_DATA_DIR': str(data), 'IPYTHONDIR': str(ipy), 'JUPYTER_PLATFORM_DIRS': '0',
           'PYTHONUNBUFFERED': '1'}
    env.pop('IN_TEST', None)              # a live kernel, not nbdev_test
    log = (tmp_path / 'jupyterlab.log').open('w')
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
           '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}',
           '--ServerApp.allow_root=True',   # CI runs as root
           '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate', '--LabApp.extension_manager=readonly']
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                tail = (tmp_path / 'jupyterlab.log').read_text()[-4000:]
                pytest.fail(f'jupyterlab exited {proc.returncode}:\n{tail}')
            try:
                _api(base, token, '/api/status', timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f'jupyterlab did not answer on {base} within {SERVER_START_S} s:\n'
                                f'{(tmp_path / "jupyterlab.log").read_text()[-4000:]}')
                time.sleep(0.5)
        yield dict(url=base, token=token, notebook=NOTEBOOK.name, log=tmp_path / 'jupyterlab.log')
    finally:
        # kernels first (the server starts them in sessions of their own), then the server itself
        try:
            for k in _api(base, token, '/api/kernels', timeout=5) or []:
                _api(base, token, f'/api/kernels/{k["id"]}', method='DELETE', timeout=15)
        except Exception: pass
        try: _api(base, token, '/api/shutdown', method='POST', timeout=5)
        except Exception: pass
        for sig in (None, signal.SIGTERM, signal.SIGKILL):   # ask, then terminate, then kill (its process group)
            if sig is not None and proc.poll() is None:
                try: os.killpg(proc.pid, sig)
                except ProcessLookupError: pass
            try:
                proc.wait(STOP_S)
                break
            except subprocess.TimeoutExpired: pass
        for pid in _our_kernels(runtime): _kill(pid, signal.SIGKILL)
        log.close()


def _slider_cell(nb_path):
    "(index among all cells, runs on its own?) of the cell that shows the sliders: it calls `unfreeze_widget(`."
    cells = json.loads(Path(nb_path).read_text())['cells']
    src = lambda c: ''.join(c['source']) if isinstance(c['source'], list) else c['source']
    hits = [i for i, c in enumerate(cells)
            if c['cell_type'] == 'code' and SLIDER_CALL in src(c) and SLIDER_DEF not in src(c)]
    assert hits, f'no cell of {nb_path} calls {SLIDER_CALL}'
    # the interactive cell is the one nbdev does not run (`#| eval: false`); tests may call the function too
    i = next((i for i in hits if re.search(r'^#\|\s*eval:\s*false', src(cells[i]), re.M)), hits[-1])
    return i, 'import' in src(cells[i])


def _check_readout(expect, readout, summary):
    "Each part's row of the readout shows its trainable and total counts (thousands separators) and % trainable."
    for part, p in summary.items():
        row = readout.locator('tr').filter(
            has=readout.page.locator('td:first-child', has_text=re.compile(rf'^\s*{re.escape(part)}\s*$')))
        for text in (f"{p['trainable']:,}", f"{p['total']:,}", f"{p['pct']:.1f}%"):
            expect(row).to_contain_text(text, timeout=STEP_S * 1000)


def _slider_max(slider):
    return int(float(slider.locator('.noUi-handle').first.get_attribute('aria-valuemax')))


def _set_slider(expect, slider, value):
    """Move a slider as a keyboard user does: focus its handle, Home, then one arrow press per step (End for the
    maximum)."""
    handle = slider.locator('.noUi-handle').first
    handle.focus()
    handle.press('Home')
    if value == _slider_max(slider): handle.press('End')
    else:
        for _ in range(value): handle.press('ArrowRight')
    expect(slider.locator('.widget-readout')).to_have_text(str(value), timeout=STEP_S * 1000)


def _wait_for_widget(page, cell, status):
    "Wait until the cell shows the sliders; fail early once the kernel has gone idle after running it without them."
    widget, deadline, idle_since = cell.locator(SLIDERS['resnet50']), time.monotonic() + CELLS_S, None
    while not widget.is_visible():
        prompt = cell.locator('.jp-InputPrompt').inner_text()
        done = re.search(r'\[\d+\]', prompt) and status.get_attribute('data-status') == 'idle'
        idle_since = (idle_since or time.monotonic()) if done else None
        if time.monotonic() > deadline or (idle_since and time.monotonic() - idle_since > 15):
            errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            pytest.fail(f'the slider cell (prompt {prompt!r}) showed no sliders; output of the cell:\n'
                        f'{cell.locator(".jp-OutputArea").inner_text()[-3000:]}\nerrors in the notebook:\n'
                        + '\n---\n'.join(t[-2000:] for t in errors.all_inner_texts()))
        time.sleep(1)


@pytest.fixture
def browser_tools():
    "Playwright's sync API and Debian's Chromium, checked before any server starts."
    try: from playwright.sync_api import expect, sync_playwright
    except ImportError: _missing('the playwright package is not installed (it is in ".[dev]")')
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        _missing(f'{CHROMIUM} is missing: install Debian\'s chromium (bash tools/install_browser.sh)')
    return expect, sync_playwright


def test_sliders_in_jupyterlab(browser_tools, lab, capsys):
    expect, sync_playwright = browser_tools
    t0 = time.monotonic()
    log = lambda msg: print(f'[{time.monotonic() - t0:6.1f} s] {msg}', flush=True)
    from fusion_nb.backbones import model_summary
    from fusion_nb.unfreeze import load_sweep, sweep_cell
    from fusion_nb.fusion import architecture
    model = architecture('fusion_finetune')                 # the slider cell's model, to read its counts from
    sweep = load_sweep(SWEEP)
    def expected(k_resnet, k_mobilenet):
        model.backbones['resnet50'].freeze(k_resnet); model.backbones['mobilenetv2'].freeze(k_mobilenet)
        return model_summary(model)
    log('fusion_nb imported in the test process; the model built')
    idx, standalone = _slider_cell(NOTEBOOK)
    shot = _artifacts() / 'browser_sliders.png'
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                                     timeout=120_000)
        page = None
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1200})
            page.set_default_timeout(STEP_S * 1000)
            # JupyterLab may ask which kernel to use (e.g. when a cell is run while the kernel still connects):
            # answer as a student would, with the suggested Python 3 kernel
            page.add_locator_handler(page.locator('.jp-Dialog').filter(has_text='Select Kernel'),
                                     lambda d: d.get_by_role('button', name='Select', exact=True).click())
            page.goto(f'{lab["url"]}/lab/tree/{lab["notebook"]}?token={lab["token"]}', timeout=120_000)
            cells = page.locator('.jp-Notebook .jp-Cell')   # all rendered: the test profile turns windowing off
            cell = cells.nth(idx)
            cell.wait_for(timeout=120_000)
            expect(cell.locator('.jp-InputArea-editor')).to_contain_text(SLIDER_CALL)
            log(f'notebook open in JupyterLab; slider cell is cell {idx}')
            # the page has started its kernel and is connected to it
            deadline = time.monotonic() + 120
            while not any(k.get('connections', 0) > 0 and k.get('execution_state') == 'idle'
                          for k in _api(lab['url'], lab['token'], '/api/kernels') or []):
                if time.monotonic() > deadline: pytest.fail('the notebook\'s kernel did not start within 120 s')
                expect(page.locator('.jp-NotebookPanel')).to_be_visible()   # lets the kernel-dialog handler act
                time.sleep(1)
            status = page.locator('.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator')
            expect(status).to_have_attribute('data-status', 'idle', timeout=120_000)
            log('kernel started and connected')
            # select the slider cell; when it does not import what it needs, run everything above it first
            cell.locator('.jp-InputPrompt').click()
            expect(cell).to_have_class(re.compile(r'\bjp-mod-selected\b'))
            if not standalone:
                page.get_by_role('menuitem', name='Run', exact=True).click()
                page.get_by_role('menuitem', name='Run All Above Selected Cell').click()
                cell.locator('.jp-InputPrompt').click()
            expect(cell).to_have_class(re.compile(r'\bjp-mod-active\b'))
            page.get_by_role('menuitem', name='Run', exact=True).click()
            page.get_by_role('menuitem', name='Run Selected Cell and Do not Advance').click()
            _wait_for_widget(page, cell, status)
            log('slider cell ran: sliders shown')
            readout = cell.locator(READOUT)
            s_resnet, s_mobilenet = cell.locator(SLIDERS['resnet50']), cell.locator(SLIDERS['mobilenetv2'])
            max_r, max_m = _slider_max(s_resnet), _slider_max(s_mobilenet)
            assert max_r >= 3 and max_m >= 3, (max_r, max_m)
            measured = cell.locator(MEASURED)
            # each slider alone, both together, both at their maximum, a setting outside the sweep, and back down
            settings = [(0, 0), (3, 0), (3, 2), (0, 1), (max_r, max_m), (1, 3), (3, 3)]
            assert any(sweep_cell(sweep, *k) for k in settings) and not all(sweep_cell(sweep, *k) for k in settings)
            for k_resnet, k_mobilenet in settings:
                _set_slider(expect, s_resnet, k_resnet)
                _set_slider(expect, s_mobilenet, k_mobilenet)
                _check_readout(expect, readout, expected(k_resnet, k_mobilenet))
                r = sweep_cell(sweep, k_resnet, k_mobilenet)
                shown = (f"held-out accuracy {r['heldout_acc']:.2f}%, test accuracy {r['test_acc']:.2f}%" if r else
                         'not measured')
                expect(measured).to_contain_text(shown, timeout=STEP_S * 1000)
                log(f'readout and measured numbers checked for k_resnet={k_resnet}, k_mobilenet={k_mobilenet}'
                    f' ({"in the sweep" if r else "not in the sweep"})')
            # the button trains the setting (3, 3) with fit and draws its curve
            cell.locator(TRAIN).click()
            expect(cell.locator(f'{CURVE} img')).to_be_visible(timeout=TRAIN_S * 1000)
            expect(cell.locator(STATUS)).to_contain_text('epoch(s) in', timeout=TRAIN_S * 1000)
            expect(cell.locator(TRAIN)).to_be_enabled(timeout=TRAIN_S * 1000)      # training finished
            assert 'failed' not in cell.locator(STATUS).inner_text()
            log(f'train button: {cell.locator(STATUS).inner_text()}')
            s_resnet.scroll_into_view_if_needed()
            page.screenshot(path=str(shot), full_page=True)
        except BaseException:
            if page is not None:
                try: page.screenshot(path=str(_artifacts() / 'browser_sliders_failure.png'))
                except Exception: pass
            raise
        finally:
            browser.close()
    with capsys.disabled(): print(f'\nbrowser test screenshot: {shot}')
    assert shot.stat().st_size > 0
