"""Shared helpers for the checks that cannot live in a notebook."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NBS = ROOT / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.glob('[0-9][0-9]*_*.ipynb'))   # 04b_unfreeze too


def run(cmd, cwd=ROOT, check=True, timeout=1800, env=None, **kw):
    "Run `cmd`, return the CompletedProcess; on an unexpected exit status fail with its output."
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})}, **kw)
    if check and res.returncode != 0:
        pytest.fail(f'{" ".join(map(str, cmd))} exited {res.returncode}\n--- stdout\n{res.stdout[-6000:]}\n--- stderr\n{res.stderr[-6000:]}')
    return res


def git_state():
    "What git sees as changed in the work tree (porcelain), plus the diff of tracked files."
    return run(['git', 'status', '--porcelain']).stdout + run(['git', 'diff']).stdout


SHARED_ARCHIVE = ROOT.parent / 'shared' / 'data' / 'cifar10-jpeg.tar.gz'    # where CI puts the real data, beside the clone
HOW_TO_RUN = ('set FUSION_NB_DATA to your copy of CIFAR-10 (a cifar-10-batches-py folder, an ImageFolder train/ test/ '
              'folder, or a .tar.gz/.zip of either) to run them')


def real_data():
    """The real CIFAR-10 the real-data tests use: $FUSION_NB_DATA (the folder or archive `load_data('cifar10')` also
    reads), else the archive CI provides beside the clone. Missing: the test fails on CI (CI=true), else it is skipped
    with a reason that says how to run it."""
    given = os.environ.get('FUSION_NB_DATA')
    for p in ([Path(given).expanduser()] if given else []) + [SHARED_ARCHIVE]:
        if p.exists() and (p.is_file() or (p / 'train').is_dir() or (p / 'cifar-10-batches-py').is_dir() or (p / 'data_batch_1').is_file()):
            return p.resolve()
    found = f'FUSION_NB_DATA={given} holds no CIFAR-10' if given else 'no CIFAR-10 found'
    if os.environ.get('CI', '').lower() in ('1', 'true', 'yes'): pytest.fail(f'{found}; CI needs the archive at {SHARED_ARCHIVE}')
    pytest.skip(f'real-data test: {found}; {HOW_TO_RUN}')
