"""`pip install fusion_nb` works: build the wheel, install it into a fresh environment (with its
dependencies, as a student would), and use the package and its console script from there."""
import venv

import pytest

from conftest import BIN, ROOT, run

pytestmark = pytest.mark.slow          # builds the wheel and installs it into a new environment


def test_wheel_installs_and_runs(tmp_path):
    dist = tmp_path / 'dist'
    run([BIN / 'python', '-m', 'build', '--wheel', '--outdir', dist, ROOT], timeout=900)
    wheels = list(dist.glob('fusion_nb-*.whl'))
    assert len(wheels) == 1, wheels
    env = tmp_path / 'env'
    venv.create(env, with_pip=True)
    py = env / 'bin' / 'python'
    run([py, '-m', 'pip', 'install', '-q', wheels[0]], timeout=1800)
    code = ('import fusion_nb, fusion_nb._modidx, pathlib; '
            'from fusion_nb import dataset, backbones, fusion, training, results, gradcam, cli; '
            'print(pathlib.Path(fusion_nb.__file__).resolve()); print(fusion_nb.__version__)')
    out = run([py, '-c', code], cwd=tmp_path).stdout.split()
    assert out[0].startswith(str(env.resolve())), f'fusion_nb was imported from {out[0]}, not the fresh environment'
    assert out[1] == next(l.split('=')[1].strip() for l in (ROOT / 'settings.ini').read_text().splitlines()
                          if l.startswith('version'))
    helptext = run([env / 'bin' / 'fusion_nb_run', '--help'], cwd=tmp_path).stdout
    for flag in ['--setups', '--preset', '--data', '--img-size', '--resume']: assert flag in helptext
    smoke = tmp_path / 'smoke'
    run([env / 'bin' / 'fusion_nb_run', '--preset', 'smoke', '--out', smoke], cwd=tmp_path, timeout=900)
    assert (smoke / 'results.json').exists()
