#!/usr/bin/env python3
"""Benchmark: the test suite's wall time and the peak memory of a `cpu`-preset epoch.

Prints a markdown table and writes it (atomically) to --out. Nothing in the test suite depends on
these timings: they are measurements of whatever machine this runs on, recorded with it.

    python bench/bench_suite.py                      # both measurements
    python bench/bench_suite.py --skip-nbdev-test    # only the memory of a cpu-preset epoch
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(cmd, **kw):
    "Run `cmd`; return (wall seconds, peak RSS of the child in MiB, exit status, stdout+stderr tail)."
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux, the max over children so far
    return wall, max(peak, before) / 1024, res.returncode, (res.stdout + res.stderr)[-3000:]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=str(ROOT.parent / 'shared' / 'data' / 'cifar10-jpeg.tar.gz'),
                   help='data for the cpu-preset epoch (a folder or archive; default: ../shared archive)')
    p.add_argument('--setup', default='resnet50', help='the setup whose epoch is measured (the heaviest: resnet50)')
    p.add_argument('--skip-nbdev-test', action='store_true')
    p.add_argument('--out', default=str(ROOT / 'bench' / 'results' / 'suite.md'))
    args = p.parse_args()
    import torch
    from fusion_nb.plumbing import atomic_write, env_info
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [BIN / 'fusion_nb_run', '--preset', 'cpu', '--setups', args.setup, '--epochs', '1', '--no-pretrained',
               '--data', args.data, '--device', 'cpu', '--out', Path(tmp) / 'out']
        wall, peak, rc, tail = _run(cmd, cwd=ROOT)
        if rc != 0: print(tail, file=sys.stderr)
        cfg = {}
        try: cfg = json.loads((Path(tmp) / 'out' / 'results.json').read_text())['config']
        except (OSError, KeyError, ValueError): pass
        desc = ', '.join(f'{k}={cfg[k]}' for k in ('img_size', 'train_limit', 'test_limit', 'batch_size') if k in cfg)
        rows.append((f'one `cpu`-preset epoch of `{args.setup}` ({desc or "preset defaults"}, no pretrained weights)',
                     f'{peak:,.0f} MiB peak RSS, {wall:.0f} s wall', 'ok' if rc == 0 else f'FAILED ({rc})'))
    # nbdev_test after the epoch: RUSAGE_CHILDREN keeps the largest child's peak, so the epoch goes first.
    if not args.skip_nbdev_test:
        wall, _, rc, tail = _run([BIN / 'nbdev_test'], cwd=ROOT)
        rows.append(('`nbdev_test` (all notebooks, default flags)', f'{wall:.0f} s wall',
                     'passed' if rc == 0 else f'FAILED ({rc})'))
    lines = [f'# Test suite and memory ({time.strftime("%Y-%m-%d")})', '',
             f'Machine: {env_info("cpu")["device_name"]}, {os.cpu_count()} CPUs, torch {torch.__version__}, '
             f'{torch.get_num_threads()} threads, Python {platform.python_version()}.', '',
             '| what | measured | status |', '|---|---|---|'] + [f'| {a} | {b} | {c} |' for a, b, c in rows]
    text = '\n'.join(lines) + '\n'
    print(text)
    atomic_write(args.out, lambda f: f.write(text))


if __name__ == '__main__':
    main()
