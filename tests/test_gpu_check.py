"""tools/gpu_check.sh end to end, on this CPU with tiny settings: the script that a CUDA machine runs for real; and
tools/gpu_speed.py, which times the training step's variants and the largest batch in one process.

It must run through every phase (data, both benchmarks, the plan, the run, the report) and write what the GPU run
commits: results.json with the members and the members-first fusions, gradcam.json with the Shapley parts of the
best fusion, and bench.md with every measurement beside its target.
"""
import importlib.util, json, os, sys

import pytest

from conftest import ROOT, run


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / 'tools' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def _gpu_check(): return _load('gpu_check')


def test_plan_fits_the_budget():
    plan_epochs = _gpu_check().plan_epochs
    speeds = {'resnet50': dict(ours=1000, forward=3000), 'mobilenetv2': dict(ours=2000, forward=6000),
              'fusion_finetune': dict(ours=800)}
    e, f, est = plan_epochs(speeds, 50_000, 10_000, 400)
    assert (e, f) == (3, 1) and est <= 400, (e, f, est)    # members' epochs first: 3 of them, then 1 of fine-tuning
    e2, f2, est2 = plan_epochs(speeds, 50_000, 10_000, 10_000)
    assert (e2, f2) == (6, 3), (e2, f2)                                     # never more than the recipe's 6 (and 3)
    assert plan_epochs(speeds, 50_000, 10_000, 1)[:2] == (1, 1)              # at least one of each, even over budget


@pytest.mark.slow                      # tools/gpu_check.sh end to end: every setup, trained
def test_gpu_check_on_cpu(tmp_path):
    out = tmp_path / 'gpu'
    res = run(['bash', ROOT / 'tools' / 'gpu_check.sh', '--device', 'cpu', '--data', 'synthetic', '--img-size', '64',
               '--train-limit', '128', '--test-limit', '64', '--batch-size', '32', '--epochs', '1',
               '--fusion-epochs', '1', '--bench-images', '128', '--bench-steps', '2', '--bench-repeats', '1',
               '--workers', '0', '--out', out],
              env={'PYTHON': sys.executable}, timeout=1200)
    r = json.loads((out / 'results.json').read_text())
    assert list(r['setups']) == ['resnet50', 'mobilenetv2', 'members_frozen', 'members_aligned_frozen',
                                 'members_gated_frozen', 'members_finetune', 'reheaded_resnet50',
                                 'reheaded_mobilenetv2', 'finetuned_resnet50', 'finetuned_mobilenetv2',
                                 'members_frozen_naive', 'members_frozen_case_study',
                                 'logit_average'], list(r['setups'])           # every fusion beside its controls
    assert r['data']['n_val'] == 12                                 # a tenth of the 128 training images held out
    assert r['config']['pretrained'] is False and r['config']['img_size'] == 64 and r['config']['amp'] == 'auto'
    g = json.loads((out / 'gradcam.json').read_text())
    assert set(g['models']) >= {'resnet50', 'mobilenetv2'} and len(g['branches']) == 1, g
    best = next(iter(g['branches']))
    assert best.startswith('members_') and g['baseline'].startswith('the mean features of')
    shares = g['branches'][best]
    parts = sum(v['mean_part'] for v in shares['parts'].values())
    assert abs(parts + shares['mean_base'] - shares['mean_logit']) < 1e-4
    bench = (out / 'bench.md').read_text()
    for text in ('Ours / PIL:', 'target ≥ 5×', '| resnet50 |', 'target ≥ 0.90', '## The run', 'members_finetune'):
        assert text in bench, (text, bench)
    assert (out / 'figures' / 'gradcam.png').exists() and (out / 'table.md').exists()
    assert '[gpu_check] done in' in res.stdout


def test_gpu_speed_on_cpu(tmp_path):
    "tools/gpu_speed.py on this CPU with a tiny model: every variant in one table, the fraction of peak 'unknown' here."
    out = tmp_path / 'speed.md'
    res = run([sys.executable, ROOT / 'tools' / 'gpu_speed.py', '--device', 'cpu', '--setups', 'tiny',
               '--img-size', '16', '--batch-size', '8', '--steps', '3', '--warmup', '1', '--repeats', '1',
               '--big-steps', '2', '--max-batch', '32', '--threads', '1', '--out', out], timeout=600)
    table = out.read_text()
    assert table in res.stdout
    rows = [l for l in table.splitlines() if l.startswith('| tiny |')]
    assert [r.split('|')[2].strip() for r in rows] == ['bare step', 'our loop', 'compiled step', 'our loop, compiled',
                                                       'largest batch'], rows
    cells = [[c.strip() for c in r.strip('|').split('|')] for r in rows]
    assert [c[2] for c in cells] == ['8', '8', '8', '8', '32'], cells               # doubled to --max-batch on the CPU
    assert all(float(c[3].replace(',', '')) > 0 for c in cells) and cells[0][4] == '1.00'
    assert all(c[6] == 'unknown' for c in cells)                                   # no peak for a CPU
    assert "compile mode 'default'" in table and 'compiling took' in table and 'Peak: unknown' in table


def test_peak_and_flops():
    "The fraction of peak's two inputs: the table of peaks by name, and FLOPs counted for a known layer."
    import torch
    mod = _load('gpu_speed')
    assert mod.peak_tflops('NVIDIA H200', torch.bfloat16) == 989 and mod.peak_tflops('Tesla T4', torch.float16) == 65
    lin = torch.nn.Linear(100, 10, bias=False)
    x, y = torch.randn(4, 100), torch.randint(0, 10, (4,))
    # forward 2·100·10 per image; backward: the weight's gradient only (x needs none), another 2·100·10
    assert mod.training_flops(lin, x, y, torch.device('cpu'), None) == 4 * 100 * 10
    # a depthwise convolution (groups = channels), whose backward torch's own formula overcounts: forward and the
    # weight's gradient, 2·8·9·36 each per image; then a linear layer: forward and both gradients, 2·288·10 each
    dw = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), torch.nn.Flatten(),
                             torch.nn.Linear(288, 10, bias=False))
    x, y = torch.randn(2, 8, 6, 6), torch.randint(0, 10, (2,))
    assert mod.training_flops(dw, x, y, torch.device('cpu'), None) == 2 * (2 * 8 * 9 * 36) + 3 * (2 * 288 * 10)
