"""Training speed of fusion_nb's loop against the bare model step and the torchvision-tutorial loop.

Measured side by side in one run, alternating the variants, reporting medians and ratios:

(2) training images/s for MobileNetV2, ResNet50 and the fine-tuned fusion at 32 and 64 px:
    - ours:     `fusion_nb.training.train_epoch` over `DeviceBatches` (the loop `fit` runs: on-device crop/flip/resize/
                normalise, channels_last, AdamW over the trainable parameters, loss checks);
    - bare:     the same model's forward/backward/AdamW step on one ready-made batch (the limit);
    - tutorial: the torchvision-tutorial loop: PIL images, `transforms` (RandomCrop(32, padding=4),
                RandomHorizontalFlip, Resize, ToTensor, Normalize), a 2-worker DataLoader, default memory format,
                plain AdamW loop.
(3) the frozen fusion for 6 epochs from cached features vs running the frozen backbones every step: wall time and
    validation accuracy of both.
(4) the speeds behind `fusion_nb.cli.CPU_SPEEDS` (the `cpu` preset's time estimate): images/s of our training loop
    for each baseline and the fine-tuned fusion's blocks, and of a forward pass (eval, no grad) of each backbone, at
    the preset's batch size.

Random weights (`weights=None`) and synthetic images: no network needed. Prints a markdown table and writes it
atomically to --out.

    python bench/bench_train.py --out bench/results/train.md
"""
from __future__ import annotations
import argparse, os, statistics, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torchvision import transforms as T

from fusion_nb.dataset import IMAGENET_MEAN, IMAGENET_STD, DeviceBatches, make_synthetic
from fusion_nb.plumbing import atomic_write, env_info
from fusion_nb.fusion import build_model
from fusion_nb.training import TrainConfig, amp_dtype, autocast, fit, get_device, sync, train_epoch

sys.path.insert(0, str(Path(__file__).resolve().parent))      # bench/ is no package: its sibling, as gpu_check loads us
from bench_data import PILDataset  # noqa: E402  the PIL pipeline bench_data.py times, one definition




def tutorial_loader(x, y, size, bs, workers):
    tfm = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.Resize(size), T.ToTensor(),
                     T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return DataLoader(PILDataset(x.permute(0, 2, 3, 1).numpy(), y.numpy(), tfm), batch_size=bs, shuffle=True,
                      num_workers=workers, drop_last=True)


def time_bare(model, xb, yb, dev, dtype, steps):
    model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    def step():
        with autocast(dev, dtype): out = model(xb)
        loss = F.cross_entropy(out.float(), yb)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    step(); sync(dev)  # warm-up
    t = time.perf_counter()
    for _ in range(steps): step()
    sync(dev)
    return steps * len(yb) / (time.perf_counter() - t)


def time_ours(model, x, y, size, bs, dev, dtype, steps, seed):
    model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    warm = DeviceBatches(x[:bs], y[:bs], bs, img_size=size, train=True, seed=seed, device=dev)
    train_epoch(model, warm, opt, None, dev, dtype, progress=False); sync(dev)
    batches = DeviceBatches(x[:steps * bs], y[:steps * bs], bs, img_size=size, train=True, seed=seed, device=dev)
    batches.set_epoch(seed)
    t = time.perf_counter()
    r = train_epoch(model, batches, opt, None, dev, dtype, progress=False); sync(dev)
    return r['images'] / (time.perf_counter() - t)


def time_tutorial(model, x, y, size, bs, dev, steps, workers):
    model.to(memory_format=torch.contiguous_format).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    loader = tutorial_loader(x[:(steps + 1) * bs], y[:(steps + 1) * bs], size, bs, workers)
    n, t = 0, None
    for i, (xb, yb) in enumerate(loader):  # the clock starts once the first batch (worker start-up) is done
        xb, yb = xb.to(dev), yb.to(dev)
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward(); opt.step()
        if i == 0: sync(dev); t = time.perf_counter()
        else: n += len(yb)
    sync(dev)
    return n / (time.perf_counter() - t)


def bench_speed(setups, sizes, bs, steps, repeats, dev, workers, log):
    rows = []
    data = make_synthetic(n_train=(steps + 1) * bs, n_test=10, seed=0)
    x, y = data.x_train, data.y_train
    dtype = amp_dtype(dev, 'auto')
    for setup in setups:
        for size in sizes:
            torch.manual_seed(0)
            model = build_model(setup, weights=None).to(dev)
            xb, yb = next(iter(DeviceBatches(x[:bs], y[:bs], bs, img_size=size, train=True, seed=0, device=dev)))
            res = {'bare': [], 'ours': [], 'tutorial': []}
            for r in range(repeats):  # alternate the variants, rotating the order each round
                order = ['bare', 'ours', 'tutorial'][r % 3:] + ['bare', 'ours', 'tutorial'][:r % 3]
                for v in order:
                    if v == 'bare': res[v].append(time_bare(model, xb, yb, dev, dtype, steps))
                    elif v == 'ours': res[v].append(time_ours(model, x, y, size, bs, dev, dtype, steps, seed=r))
                    else: res[v].append(time_tutorial(model, x, y, size, bs, dev, steps, workers))
            med = {k: statistics.median(v) for k, v in res.items()}
            rows.append(dict(setup=setup, size=size, runs=res, **med))
            log(f'{setup:16s} {size:3d}px  bare {med["bare"]:7.1f}  ours {med["ours"]:7.1f}  '
                f'tutorial {med["tutorial"]:7.1f} images/s  '
                f'(runs: {", ".join(f"{k}={[round(a, 1) for a in v]}" for k, v in res.items())})')
    return rows


def bench_cache(n_train, n_test, size, bs, epochs, repeats, dev, log):
    data = make_synthetic(n_train=n_train, n_test=n_test, seed=0)
    res = {True: [], False: []}
    for r in range(repeats):
        for cached in ([True, False] if r % 2 == 0 else [False, True]):
            torch.manual_seed(0)
            model = build_model('fusion_frozen', weights=None)
            cfg = TrainConfig(epochs=epochs, img_size=size, batch_size=bs, lr=1e-3, device=str(dev),
                              cache_features=cached, progress=False)
            t = time.perf_counter()
            h = fit(model, data, cfg)
            sync(dev)
            res[cached].append((time.perf_counter() - t, h[-1]['val_acc']))
            log(f'fusion_frozen cached={cached}: {res[cached][-1][0]:.1f} s, val_acc {h[-1]["val_acc"]:.1f}%')
    return {k: (statistics.median(s for s, _ in v), statistics.median(a for _, a in v)) for k, v in res.items()}


def time_forward(model, x, dev, bs, repeats, size):
    """Median images/s of eval-mode forward passes (no grad) at `size` px in batches of `bs`, as evaluation and
    feature extraction run."""
    model.to(dev, memory_format=torch.channels_last).eval()
    batches = list(DeviceBatches(x, torch.zeros(len(x), dtype=torch.long), bs, img_size=size, train=False, device=dev))
    dtype, out = amp_dtype(dev, 'auto'), []
    with torch.inference_mode():
        for r in range(repeats + 1):
            t = time.perf_counter()
            for xb, _ in batches:
                with autocast(dev, dtype): model.features(xb)
            sync(dev)
            if r: out.append(len(x) / (time.perf_counter() - t))       # the first round warms up
    return statistics.median(out)


def bench_estimate(size, bs, steps, repeats, dev, log):
    "Training images/s (our loop) of the baselines and the fine-tuned fusion, forward images/s of each backbone."
    data = make_synthetic(n_train=(steps + 1) * bs, n_test=2 * bs, seed=0, size=32)
    dtype, train, fwd = amp_dtype(dev, 'auto'), {}, {}
    for setup in ('resnet50', 'mobilenetv2', 'fusion_finetune'):
        torch.manual_seed(0)
        model = build_model(setup, weights=None).to(dev)
        train[setup] = statistics.median(time_ours(model, data.x_train, data.y_train, size, bs, dev, dtype, steps,
                                                   seed=r) for r in range(repeats))
        if setup in ('resnet50', 'mobilenetv2'):
            fwd[setup] = time_forward(model, data.x_test.repeat(2, 1, 1, 1), dev, 2 * bs, repeats, size)
        log(f'estimate speeds, {setup} {size} px: train {train[setup]:.1f}'
            + (f', forward {fwd[setup]:.1f}' if setup in fwd else '') + ' images/s')
    return train, fwd


def met(ok): return 'met' if ok else '**missed**'


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='bench/results/train.md', help='markdown file to write (atomically)')
    p.add_argument('--device', default='auto')
    p.add_argument('--setups', default='mobilenetv2,resnet50,fusion_finetune')
    p.add_argument('--sizes', default='32,64')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--steps', type=int, default=3, help='timed training steps per measurement')
    p.add_argument('--repeats', type=int, default=5, help='alternating rounds per measurement (median reported)')
    p.add_argument('--workers', type=int, default=2, help='DataLoader workers of the tutorial loop')
    p.add_argument('--cache-train', type=int, default=256, help='training images of the frozen-fusion comparison')
    p.add_argument('--cache-test', type=int, default=128)
    p.add_argument('--cache-repeats', type=int, default=2)
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch\'s own choice)')
    p.add_argument('--skip-speed', action='store_true')
    p.add_argument('--skip-cache', action='store_true')
    p.add_argument('--estimate-size', type=int, default=32, help="image size of the cpu preset's speeds (section 4)")
    p.add_argument('--estimate-batch', type=int, default=128, help="the cpu preset's batch size (section 4)")
    p.add_argument('--estimate-steps', type=int, default=30,
                   help='timed steps per run (section 4); fewer read too fast: '
                        '6 steps gave 1.27x the speed of a real epoch')
    p.add_argument('--skip-estimate', action='store_true')
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    load0 = os.getloadavg() if hasattr(os, 'getloadavg') else None
    lines = []
    def log(s): print(s, flush=True)
    t_all = time.perf_counter()
    name = env_info(dev)['device_name']
    env = (f'device: {dev.type} ({name}); torch {torch.__version__}, torchvision {torchvision.__version__}; '
           f'{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs; amp: {amp_dtype(dev, "auto") or "fp32"}; '
           f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}')
    log(env)
    lines += ['# Training speed (bench/bench_train.py)', '', env, '',
              'Random weights (`weights=None`), synthetic images (`make_synthetic`), CPU threads shared with whatever '
              'else ran on the machine. Medians of alternating runs; images/s of training steps (forward, backward, '
              'AdamW).', '']
    if not a.skip_speed:
        rows = bench_speed(a.setups.split(','), [int(s) for s in a.sizes.split(',')], a.batch_size, a.steps, a.repeats,
                           dev, a.workers, log)
        lines += [f'## Training images/s (batch {a.batch_size}, {a.steps} timed steps per run, {a.repeats} alternating '
                  'runs, median)', '',
                  '| setup | px | bare step (limit) | ours (`fit` loop) | tutorial loop | ours / bare | target ≥ 0.90 '
                  '| ours / tutorial |',
                  '|---|---|---|---|---|---|---|---|']
        for r in rows:
            ob, ot = r['ours'] / r['bare'], r['ours'] / r['tutorial']
            lines.append(f"| {r['setup']} | {r['size']} | {r['bare']:.1f} | {r['ours']:.1f} | {r['tutorial']:.1f} "
                         f"| {ob:.2f} | {met(ob >= 0.9)} | {ot:.2f} |")
        runs = lambda r: ', '.join(f"{k} {[round(v, 1) for v in r['runs'][k]]}" for k in ('bare', 'ours', 'tutorial'))
        lines += ['', 'Every run (images/s, in the order measured within each variant): ' + '; '.join(
            f"{r['setup']} {r['size']} px: " + runs(r) for r in rows) + '.']
        mob = [r for r in rows if r['setup'] == 'mobilenetv2' and r['size'] == 64]
        if mob:
            ot = mob[0]['ours'] / mob[0]['tutorial']
            lines += ['', f'MobileNetV2 at 64 px, ours vs the tutorial loop: {ot:.2f}× '
                      f'(target ≥ 1.5×: {met(ot >= 1.5)}).']
        lines.append('')
    if not a.skip_estimate:
        tr, fw = bench_estimate(a.estimate_size, a.estimate_batch, a.estimate_steps, a.repeats, dev, log)
        lines += [f'## Speeds for the `cpu` preset\'s estimate ({a.estimate_size} px, batch {a.estimate_batch}; '
                  f'{a.estimate_steps} timed steps of our loop per run, {a.repeats} runs, median)', '',
                  '| setup | training images/s (our loop) | forward images/s (eval, no grad, batch '
                  f'{2 * a.estimate_batch}) |',
                  '|---|---|---|']
        lines += [f"| {k} | {v:.0f} | {f'{fw[k]:.0f}' if k in fw else '—'} |" for k, v in tr.items()]
        speeds = lambda d: ', '.join(f'{k!r}: {v:.0f}' for k, v in d.items())
        lines += ['', f"`fusion_nb.cli.CPU_SPEEDS[{a.estimate_size}]` = `dict(train={{{speeds(tr)}}}, "
                  f"forward={{{speeds(fw)}}})`", '']
    if not a.skip_cache:
        c = bench_cache(a.cache_train, a.cache_test, 32, a.batch_size, 6, a.cache_repeats, dev, log)
        ratio = c[False][0] / c[True][0]
        lines += [f'## Frozen fusion, 6 epochs at 32 px ({a.cache_train} training / {a.cache_test} test images, '
                  f'batch {a.batch_size}, lr 1e-3, median of {a.cache_repeats} alternating runs; wall time of `fit`, '
                  'feature extraction and evaluation included)', '',
                  '| variant | seconds | val acc (%) |', '|---|---|---|',
                  f'| cached features (`cache_features=True`) | {c[True][0]:.1f} | {c[True][1]:.1f} |',
                  f'| backbones every step (`cache_features=False`) | {c[False][0]:.1f} | {c[False][1]:.1f} |', '',
                  f'Speed-up from caching: {ratio:.1f}× (target ≥ 4×: {met(ratio >= 4)}). The accuracies are those of '
                  'random-weight backbones with the case study\'s head after 6 short epochs: they show that both '
                  'variants run, not what the setup can reach (the cached run sees plain images, the other augmented '
                  'ones; 04_training shows that with `n_views=epochs` the two trainings coincide).', '']
    lines += [f'Whole benchmark: {time.perf_counter() - t_all:.0f} s. Load average (1 min) at the start: '
              f'{load0[0]:.1f}, at the end: {os.getloadavg()[0]:.1f} (other processes shared the CPUs).' if load0 else
              f'Whole benchmark: {time.perf_counter() - t_all:.0f} s.', '']
    text = '\n'.join(lines)
    print('\n' + text)
    atomic_write(a.out, lambda f: f.write(text))


if __name__ == '__main__':
    main()
