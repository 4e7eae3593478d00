"""The Colab install cell, run for real against a local clone, in an environment shaped like Colab's.

Every notebook starts with the same hidden cell that installs fusion_nb when it runs in Colab. Colab already has
torch, torchvision, matplotlib, seaborn, pandas, scipy, ipywidgets, tqdm, Pillow and numpy; it lacks grad-cam (and
its ttach) and may lack fastcore below 2. This test builds such an environment (a fresh venv that sees this venv's
packages, except those), runs the cell's pip command with its git URL pointed at a clone of this repository, and
checks that the package imports and its command runs. A second test runs the cell's other half, which clones the
repository so that the notebooks find the committed results and benchmarks they read (../results, ../bench).
"""
import json, os, re, subprocess, sys, venv
from pathlib import Path

import pytest

from conftest import NBS, NOTEBOOKS, ROOT, run

LACKS = ('grad_cam', 'pytorch_grad_cam', 'ttach', 'fastcore', 'fusion_nb', '__editable__')  # what Colab lacks, and we
URL = 'git+https://github.com/fusion-nb/fusion_nb.git@main'


def _install_cell(nb: Path) -> str:
    cells = json.loads(nb.read_text())['cells']
    return next(''.join(c['source']) for c in cells
                if c['cell_type'] == 'code' and "'google.colab' in sys.modules" in ''.join(c['source']))


def test_every_notebook_has_the_same_install_cell():
    cells = {nb.name: _install_cell(nb) for nb in NOTEBOOKS + [NBS / 'index.ipynb']}
    first = next(iter(cells.values()))
    assert all(c == first for c in cells.values()), 'the Colab install cells differ between notebooks'
    assert f"'fusion_nb @ {URL}'" in first, first


@pytest.mark.slow                      # a new environment and a pip install from a clone
def test_install_cell_in_a_colab_like_environment(tmp_path):
    cell = _install_cell(NBS / 'index.ipynb')
    args = re.search(r"subprocess\.run\(\[sys\.executable, (.*)\], check=True\)", cell).group(1)
    argv = [eval(a) for a in re.findall(r"'[^']*'", args)]                  # the cell's pip arguments, literally
    clone = tmp_path / 'clone'
    run(['git', 'clone', '-q', ROOT, clone])
    sha = run(['git', '-C', clone, 'rev-parse', 'HEAD']).stdout.strip()     # a commit: 'HEAD' is no branch name to pip
    # a host (localhost): pip refuses an empty one
    argv = [a.replace(URL, f'git+file://localhost{clone}@{sha}') if URL in a else a for a in argv]

    preinstalled = tmp_path / 'colab-preinstalled'                                 # this venv's packages, minus LACKS
    preinstalled.mkdir()
    venv_root = str(Path(sys.executable).parents[1])
    site = Path(next(p for p in sys.path if p.endswith('site-packages') and Path(p).is_dir() and venv_root in p))
    for entry in site.iterdir():
        if not entry.name.lower().replace('-', '_').startswith(LACKS) and not entry.name.endswith('.pth'):
            (preinstalled / entry.name).symlink_to(entry)
    env_dir = tmp_path / 'colab'
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / 'bin' / 'python'
    pyver = f'python{sys.version_info.major}.{sys.version_info.minor}'
    (env_dir / 'lib' / pyver / 'site-packages' / 'colab_preinstalled.pth').write_text(f'{preinstalled}\n')
    missing = subprocess.run([py, '-c', 'import pytorch_grad_cam'], capture_output=True)
    assert missing.returncode != 0, 'the Colab-like environment should lack grad-cam before the cell runs'

    run([py, *argv], cwd=tmp_path, timeout=1200, env={'PIP_DISABLE_PIP_VERSION_CHECK': '1'})
    res = run([py, '-c', 'import fusion_nb, fusion_nb.gradcam, fastcore, pytorch_grad_cam; print(fusion_nb.__file__)'],
              cwd=tmp_path)
    assert str(env_dir) in res.stdout, f'fusion_nb was not installed into the Colab-like environment: {res.stdout}'
    helptext = run([env_dir / 'bin' / 'fusion_nb_run', '--help'], cwd=tmp_path).stdout
    assert '--preset' in helptext and 'members_frozen' in helptext


CHILD = r'''
import os, subprocess, sys, types
sys.modules['google.colab'] = types.ModuleType('google.colab')       # what makes the cell act
calls, real_run = [], subprocess.run
def fake_run(cmd, **kw):
    calls.append(cmd[0])
    if cmd[0] == sys.executable: return subprocess.CompletedProcess(cmd, 0)          # pip: tested above, for real
    return real_run([c.replace(os.environ['REPO_URL'], os.environ['LOCAL_REPO']) for c in cmd], **kw)
subprocess.run = fake_run
cell = open(os.environ['CELL']).read()
for attempt in range(3):        # a first run, the cell run again, and a restarted kernel (back in the start folder)
    if attempt == 2: os.chdir(os.environ['START'])
    exec(compile(cell, 'install-cell', 'exec'), {})
    print(attempt, os.path.relpath(os.getcwd(), os.environ['START']), os.path.isfile('../results/gpu/results.json'))
print('git clones:', calls.count('git'))
'''


def test_install_cell_brings_the_results_the_notebooks_read(tmp_path):
    "In Colab a notebook starts in /content, without the repository: the cell clones it and moves into its nbs/ folder."
    cell = _install_cell(NBS / 'index.ipynb')
    src = tmp_path / 'cell.py'; src.write_text(cell)
    start = tmp_path / 'content'; start.mkdir()
    env = {'CELL': str(src), 'START': str(start), 'REPO_URL': 'https://github.com/fusion-nb/fusion_nb.git',
           'LOCAL_REPO': f'file://{ROOT}'}
    assert env['REPO_URL'] in cell
    out = run([sys.executable, '-c', CHILD], cwd=start, env=env).stdout.splitlines()
    nbs = str(Path('fusion_nb') / 'nbs')
    assert out == [f'0 {nbs} True', f'1 {nbs} True', f'2 {nbs} True', 'git clones: 1'], out
