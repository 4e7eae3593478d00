"""Shared helpers for the checks that cannot live in a notebook."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NBS = ROOT / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.glob('[0-9][0-9]_*.ipynb'))


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
