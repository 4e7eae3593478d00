"""tools/gpu_check.sh end to end, on this CPU with tiny settings: the script that a CUDA machine runs for real.

It must run through every phase (data, both benchmarks, the plan, the run, the report) and write what the GPU run
commits: results.json with the members and the members-first fusions, gradcam.json with the Shapley parts of the
best fusion, and bench.md with every measurement beside its target.
"""
import importlib.util, json, os, sys

from conftest import ROOT, run


def _gpu_check():
    spec = importlib.util.spec_from_file_location('gpu_check', ROOT / 'tools' / 'gpu_check.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_plan_fits_the_budget():
    plan_epochs = _gpu_check().plan_epochs
    speeds = {'resnet50': dict(ours=1000, forward=3000), 'mobilenetv2': dict(ours=2000, forward=6000), 'fusion_finetune': dict(ours=800)}
    e, f, est = plan_epochs(speeds, 50_000, 10_000, 400)
    assert (e, f) == (3, 1) and est <= 400, (e, f, est)                    # members' epochs first: 3 of them, then 1 of fine-tuning
    e2, f2, est2 = plan_epochs(speeds, 50_000, 10_000, 10_000)
    assert (e2, f2) == (6, 3), (e2, f2)                                     # never more than the recipe's 6 (and 3)
    assert plan_epochs(speeds, 50_000, 10_000, 1)[:2] == (1, 1)              # at least one of each, even over budget


def test_gpu_check_on_cpu(tmp_path):
    out = tmp_path / 'gpu'
    res = run(['bash', ROOT / 'tools' / 'gpu_check.sh', '--device', 'cpu', '--data', 'synthetic', '--img-size', '64',
               '--train-limit', '128', '--test-limit', '64', '--batch-size', '32', '--epochs', '1', '--fusion-epochs', '1',
               '--bench-images', '128', '--bench-steps', '2', '--bench-repeats', '1', '--workers', '0', '--out', out],
              env={'PYTHON': sys.executable}, timeout=1200)
    r = json.loads((out / 'results.json').read_text())
    assert list(r['setups']) == ['resnet50', 'mobilenetv2', 'members_frozen', 'members_aligned_frozen', 'members_gated_frozen',
                                 'members_finetune', 'logit_average'], list(r['setups'])
    assert r['config']['pretrained'] is False and r['config']['img_size'] == 64 and r['config']['amp'] == 'auto'
    g = json.loads((out / 'gradcam.json').read_text())
    assert set(g['models']) >= {'resnet50', 'mobilenetv2'} and len(g['branches']) == 1, g
    best = next(iter(g['branches']))
    assert best.startswith('members_') and g['baseline'].startswith('the mean features of')
    shares = g['branches'][best]
    assert abs(sum(v['mean_part'] for v in shares['parts'].values()) + shares['mean_base'] - shares['mean_logit']) < 1e-4
    bench = (out / 'bench.md').read_text()
    for text in ('Ours / PIL:', 'target ≥ 5×', '| resnet50 |', 'target ≥ 0.90', '## The run', 'members_finetune'):
        assert text in bench, (text, bench)
    assert (out / 'figures' / 'gradcam.png').exists() and (out / 'table.md').exists()
    assert '[gpu_check] done in' in res.stdout
