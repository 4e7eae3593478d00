"""`fusion_nb_run` end to end on the real CIFAR-10, with a configuration small enough for a 2-core CPU.

The data: $FUSION_NB_DATA, or the archive CI puts beside the clone (conftest's `real_data`). Without either the test
is skipped, with a reason that says how to run it; on CI (`CI=true`) it fails.
The command is the console script installed next to this Python (`pip install -e .` puts it there).
"""
import json, os, subprocess, sys
from pathlib import Path

import pytest

from conftest import real_data

pytestmark = pytest.mark.slow          # the console script on the real CIFAR-10

EXE = Path(sys.executable).parent / ('fusion_nb_run.exe' if os.name == 'nt' else 'fusion_nb_run')
CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
SETUPS = ['mobilenetv2', 'fusion_frozen']
HISTORY_KEYS = ['epoch', 'train_loss', 'train_acc', 'val_loss', 'val_acc', 'seconds', 'train_images_per_s']


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "Run the console script once on the archive; return (output folder, completed process)."
    archive = real_data()
    assert EXE.exists(), f'the console script {EXE} is missing: install the package (pip install -e .)'
    out = tmp_path_factory.mktemp('cli') / 'run'
    cmd = [str(EXE), '--setups', ','.join(SETUPS), '--data', str(archive), '--img-size', '32', '--epochs', '1',
           '--train-limit', '1000', '--test-limit', '500', '--seeds', '2', '--no-pretrained', '--device', 'cpu',
           '--out', str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f'exit {p.returncode}\nstdout:\n{p.stdout[-4000:]}\nstderr:\n{p.stderr[-4000:]}'
    return out, p, archive


def test_results_json(run):
    out, p, archive = run
    r = json.loads((out / 'results.json').read_text())
    assert list(r) == ['config', 'env', 'data', 'setups', 'points', 'comparisons']
    assert r['data'] == dict(source=str(archive), n_train=900, n_val=100, n_test=500)   # a tenth held out by default
    c = r['config']
    expected = dict(setups=SETUPS, data=str(archive), img_size=32, epochs=1, train_limit=1000, test_limit=500,
                    pretrained=False, weights=None, device='cpu', out=str(run[0]), resume=False, seeds=2, n_val=None)
    assert {k: c[k] for k in expected} == expected
    for k in ('batch_size', 'lr', 'seed', 'preset', 'weight_decay'): assert k in c, k     # every setting used
    assert set(r['env']) == {'torch', 'torchvision', 'device', 'device_name', 'cpu_count'}
    assert r['env']['device'] == 'cpu'
    assert list(r['setups']) == SETUPS
    for name, s in r['setups'].items():
        # a head on cached features: 2 seeds
        seeds = {'seeds', 'val_acc_sd', 'test_acc_sd'} if name == 'fusion_frozen' else set()
        assert set(s) == {'val_acc', 'test_acc', 'init', 'epochs', 'lr', 'schedule', 'seed', 'history', 'loss_spikes',
                          'trainable_params', 'total_params', 'seconds'} | seeds, name
        assert (s['init'], s['lr'], s['schedule']) == ('random', 2e-3, 'onecycle'), name  # no --lr: from-scratch recipe
        assert 0 <= s['val_acc'] <= 100, (name, s['val_acc'])
        assert 0 < s['trainable_params'] <= s['total_params'] and s['seconds'] > 0, (name, s)
        assert len(s['history']) == 1 and list(s['history'][0]) == HISTORY_KEYS, (name, s['history'])
        assert s['history'][0]['val_acc'] == pytest.approx(s['seeds'][0]['val_acc'] if seeds else s['val_acc'])
    assert r['setups']['fusion_frozen']['trainable_params'] == 1_709_578            # the case study's head only


def test_table_and_predictions(run):
    out, p, archive = run
    r = json.loads((out / 'results.json').read_text())
    table = (out / 'table.md').read_text()
    assert '94.75' in table and '85.40' in table                                   # the case study's reported values
    for name in SETUPS: assert f"{r['setups'][name]['test_acc']:.2f}" in table, name  # beside ours
    pr = json.loads((out / 'predictions.json').read_text())
    assert pr['classes'] == CIFAR10_CLASSES
    assert len(pr['y_true']) == 500 and sorted(set(pr['y_true'])) == list(range(10))
    assert list(pr['setups']) == SETUPS
    for name, preds in pr['setups'].items():
        assert len(preds) == 500 and all(0 <= x < 10 for x in preds), name
        acc = 100 * sum(a == b for a, b in zip(preds, pr['y_true'])) / 500
        s = r['setups'][name]
        assert acc == pytest.approx((s['seeds'][0] if 'seeds' in s else s)['test_acc']), name   # the first seed's


def test_outputs_and_log(run):
    out, p, archive = run
    assert sorted(f.name for f in (out / 'checkpoints').iterdir()) == sorted(f'{n}{e}' for n in SETUPS
                                                                              for e in ('.pt', '.preds.pt'))
    assert '\r' not in p.stderr and '\x1b' not in p.stderr, 'progress bars drawn into a log (not a terminal)'
    figs = {f.name for f in (out / 'figures').iterdir()}
    assert {'samples.png', 'curves.png', 'pipeline.png', 'confusion_mobilenetv2.png',
            'confusion_fusion_frozen.png'} <= figs, figs
    assert 'data: ' in p.stdout and '900 training, 100 held-out (validation) and 500 test images' in p.stdout, p.stdout
    assert 'device: cpu' in p.stdout and str(out / 'results.json') in p.stdout
    assert not [f for f in out.rglob('*.tmp')], 'temporary files left behind'
