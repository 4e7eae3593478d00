"""A newcomer's first hour: a fresh clone (committed files only) in a temporary folder, with `../shared`
beside it, and the README's two commands run literally, in the README's order:

    bash tools/run_case_study.sh --data ../shared/data/cifar10-jpeg.tar.gz --no-pretrained <small size>
    bash tools/test.sh -k "not newcomer and not browser and not wheel and not nbdev_test"

Both create their own `.venv` inside the clone from the system's python3. The extra arguments are the
documented pass-through ones (the README: "`run_case_study.sh` passes extra arguments to `fusion_nb_run`",
"extra arguments go to pytest"). The data comes from ../shared where a newcomer would download it (this
machine has no network), and the ImageNet weights are skipped for the same reason.

The nested test run leaves out (with `-k`):
- this test (it would recurse; FUSION_NB_NESTED=1 also makes it skip, in case a name changes),
- the browser test, the wheel test and the run of every notebook under `nbdev_test`: the outer run has just run
  them on the same commit, and they are the heaviest (a JupyterLab server and Chromium; a wheel build plus another
  multi-GB environment; six minutes of notebooks on 2 cores), so running them twice would only double CI time
  without checking anything new about a fresh clone. The notebooks' other checks (clean, in sync, the planted
  failing cell) still run in the clone.
Logs of both commands go to the artifacts folder (env FUSION_NB_ARTIFACTS, else tests/artifacts/)."""
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BIN, ROOT

pytestmark = pytest.mark.slow          # a fresh clone, two new virtual environments, the case study and the test suite

SHARED = ROOT.parent / 'shared'
ARCHIVE_REL = '../shared/data/cifar10-jpeg.tar.gz'      # as seen from the clone
IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
SETUPS = ['mobilenetv2', 'fusion_frozen']
# small enough for a couple of minutes on a 2-core CPU; real data, random initial weights
CASE_STUDY_ARGS = ['--data', ARCHIVE_REL, '--no-pretrained', '--epochs', '1', '--img-size', '32',
                   '--train-limit', '500', '--test-limit', '200', '--setups', ','.join(SETUPS)]
NESTED_PYTEST_ARGS = ['-k', 'not newcomer and not browser and not wheel and not nbdev_test']
# each command creates or updates a venv (torch and friends: a few minutes on a loaded machine) before its work
CASE_STUDY_S, TEST_SH_S = 1800, 3000


def _artifacts():
    d = Path(os.environ.get('FUSION_NB_ARTIFACTS') or ROOT / 'tests' / 'artifacts')
    d.mkdir(parents=True, exist_ok=True)
    return d


def _newcomer_env(tmp):
    "The environment of a new shell: none of this run's virtual environment, caches in the temporary folder."
    env = {k: v for k, v in os.environ.items()
           if k not in ('VENV', 'VIRTUAL_ENV', 'PYTHONPATH', 'PYTHONHOME', 'PYTEST_ADDOPTS', 'PYTEST_CURRENT_TEST')}
    env['PATH'] = os.pathsep.join(p for p in env.get('PATH', '').split(os.pathsep)
                                  if p and Path(p).resolve() != BIN.resolve())
    env.update(FUSION_NB_NESTED='1', FUSION_NB_CACHE=str(tmp / 'cache'), FUSION_NB_DATA=str(tmp / 'data'),
               FUSION_NB_ARTIFACTS=str(tmp / 'artifacts'))
    return env


def _bash(args, cwd, env, log, timeout):
    "Run `bash ARGS` in its own process group, output to `log`; on timeout, end the whole group. Returns the exit code."
    with open(log, 'w') as f:
        f.write(f'$ {shlex.join(["bash", *args])}\n'); f.flush()
        p = subprocess.Popen(['bash', *args], cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try: return p.wait(timeout)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try: os.killpg(p.pid, sig)
                except ProcessLookupError: break
                try:
                    p.wait(30)
                    break
                except subprocess.TimeoutExpired: pass
            pytest.fail(f'{shlex.join(["bash", *args])} ran past {timeout} s; log: {log}\n{_tail(log)}')


def _tail(log, n=6000): return Path(log).read_text(errors='replace')[-n:]


@pytest.fixture
def newcomer_dir():
    "<tmp>/repo (a fresh clone) beside <tmp>/shared (a link to the real shared folder); removed afterwards."
    if os.environ.get('FUSION_NB_NESTED'): pytest.skip('already inside a newcomer run')
    if not (SHARED / 'data' / 'cifar10-jpeg.tar.gz').exists():
        msg = f'{SHARED}/data/cifar10-jpeg.tar.gz is missing (the real data that stands in for the download)'
        if IN_CI: pytest.fail(msg)
        pytest.skip(msg)
    if shutil.which('git') is None: pytest.fail('git is needed to clone the repository')
    tmp = Path(tempfile.mkdtemp(prefix='fusion_nb_newcomer_'))
    try:
        (tmp / 'shared').symlink_to(SHARED.resolve(), target_is_directory=True)
        res = subprocess.run(['git', 'clone', '-q', str(ROOT), str(tmp / 'repo')], capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, f'git clone failed:\n{res.stderr}'
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)           # the two .venv folders weigh gigabytes: never keep them


def test_readme_commands_on_a_fresh_clone(newcomer_dir, capsys):
    repo, env, logs = newcomer_dir / 'repo', _newcomer_env(newcomer_dir), _artifacts()
    readme = (repo / 'README.md').read_text()
    # the commands this test runs are the README's, word for word
    for cmd in ('bash tools/run_case_study.sh', 'bash tools/test.sh'): assert f'\n{cmd}' in readme, cmd
    timings = {}

    # 1. the main job (README first): creates .venv, runs the case study on the real data, small size
    t = time.monotonic()
    log = logs / 'newcomer_run_case_study.log'
    rc = _bash(['tools/run_case_study.sh', *CASE_STUDY_ARGS], repo, env, log, CASE_STUDY_S)
    timings['run_case_study.sh'] = time.monotonic() - t
    assert rc == 0, f'bash tools/run_case_study.sh exited {rc}; log: {log}\n{_tail(log)}'
    out = Path(log).read_text(errors='replace')
    preset = next((l.split("'")[1] for l in out.splitlines() if "running the case study with preset '" in l), 'cpu')
    results = repo / 'runs' / preset / 'results.json'
    assert results.exists(), f'{results} was not written; log: {log}\n{_tail(log)}'
    res = json.loads(results.read_text())
    assert {'config', 'env', 'setups'} <= set(res), sorted(res)
    assert sorted(res['setups']) == sorted(SETUPS), sorted(res['setups'])
    for name, s in res['setups'].items():
        assert 0 <= s['val_acc'] <= 100, (name, s['val_acc'])
        assert len(s['history']) == 1 and s['history'][0]['epoch'] in (0, 1), (name, s['history'])

    # 2. the test command, on the same clone and .venv (it adds the dev requirements)
    t = time.monotonic()
    log = logs / 'newcomer_test_sh.log'
    rc = _bash(['tools/test.sh', *NESTED_PYTEST_ARGS], repo, env, log, TEST_SH_S)
    timings['test.sh'] = time.monotonic() - t
    assert rc == 0, f'bash tools/test.sh exited {rc}; log: {log}\n{_tail(log)}'
    last = [l for l in Path(log).read_text(errors='replace').splitlines() if l.strip()][-1]
    assert ' passed' in last and 'failed' not in last and 'error' not in last, last

    with capsys.disabled():
        print('\nnewcomer: ' + ', '.join(f'{k} {v:.0f} s' for k, v in timings.items()) + f'; logs in {logs}; '
              f'nested pytest: {last.strip("= ")}')
