"""`nbdev_test` passes, and really executes notebooks: a planted failing cell makes it fail.

nbdev 2.4.14 with execnb >= 0.3 can report success without running a cell; this guards against
that (and against any other way of passing without executing)."""
import json
import shutil

import pytest

from conftest import BIN, NBS, ROOT, run


def test_nbdev_test_passes():
    res = run([BIN / 'nbdev_test', '--timing'], timeout=1800)
    assert 'Success' in res.stdout, res.stdout


def _sandbox(tmp_path, cells):
    "A minimal nbdev project in tmp_path: settings.ini and one notebook made of `cells`."
    shutil.copy(ROOT / 'settings.ini', tmp_path / 'settings.ini')
    (tmp_path / 'nbs').mkdir()
    nb = json.loads((NBS / 'index.ipynb').read_text())  # a real notebook's metadata and format
    nb['cells'] = [{'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [],
                    'source': src} for i, src in enumerate(cells)]
    path = tmp_path / 'nbs' / 'planted.ipynb'
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.parametrize('fail', [False, True])
def test_planted_cell_decides_the_outcome(tmp_path, fail):
    marker = tmp_path / 'ran.txt'
    cells = ['import fusion_nb, os, pathlib',
             f'pathlib.Path({str(marker)!r}).write_text(os.environ.get("IN_TEST", ""))',
             'assert 1 + 1 == 2']
    if fail: cells.append('assert False, "planted failure"')
    nb = _sandbox(tmp_path, cells)
    res = run([BIN / 'nbdev_test', '--path', nb], cwd=tmp_path, check=False, timeout=600)
    assert marker.read_text() == '1', 'the notebook did not run under nbdev_test (IN_TEST=1)'
    if fail:
        assert res.returncode != 0, f'nbdev_test passed a notebook with a failing cell:\n{res.stdout}\n{res.stderr}'
        assert 'planted failure' in res.stderr
    else:
        assert res.returncode == 0, res.stderr


def test_flagged_cells_are_skipped(tmp_path):
    "Cells marked `#| slow` or `#| gpu` do not run under plain nbdev_test (settings.ini tst_flags)."
    nb = _sandbox(tmp_path, ['#| slow\nassert False, "slow ran"', '#| gpu\nassert False, "gpu ran"', 'x = 1'])
    run([BIN / 'nbdev_test', '--path', nb], cwd=tmp_path, timeout=600)
    res = run([BIN / 'nbdev_test', '--path', nb, '--flags', 'slow'], cwd=tmp_path, check=False, timeout=600)
    assert res.returncode != 0 and 'slow ran' in res.stderr
