"""Lines fit: ruff's line-length rule (E501) at 120 characters, as pyproject.toml's [tool.ruff] sets it.

Only E501 is selected: the code keeps fastai's compact style (several statements on a line, `import a, b`), which
other rules would flag."""
import os, shutil

from conftest import BIN, run

# The folders checked. fusion_nb/ is generated from the notebooks and still has long lines: once its export cells are
# wrapped, it joins this list (RUFF_PATHS = ['fusion_nb', 'tools', 'bench']).
RUFF_PATHS = ['tools', 'bench']


def test_lines_fit():
    ruff = shutil.which('ruff', path=os.pathsep.join([str(BIN), os.environ.get('PATH', '')]))
    assert ruff, 'ruff is missing: it is a dev requirement (pip install -e ".[dev]")'
    res = run([ruff, 'check', '--select', 'E501', '--output-format', 'concise', *RUFF_PATHS], check=False)
    assert res.returncode == 0, f'lines over 120 characters (wrap them):\n{res.stdout}{res.stderr}'
