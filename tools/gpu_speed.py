"""How fast the training step runs, and how much of the chip it uses: one process, one batch.

For each setup (default: ResNet50 and MobileNetV2, random weights, synthetic images), at --img-size and
--batch-size, with the precision `fit` picks for the device (bf16 from compute capability 8.0, fp16 with a GradScaler
below it, fp32 on the CPU) and `fit`'s optimiser (AdamW, fused on CUDA), it times on the same images:

- bare step:          forward, backward and AdamW on one ready-made batch, again and again (eager): the limit of the
                      model itself;
- our loop:           `train_epoch` over `DeviceBatches` of those images (what `fit` runs), eager;
- compiled step:      the bare step with `compile_step` (torch.compile; mode 'reduce-overhead', CUDA graphs, on CUDA);
- our loop, compiled: `train_epoch` with the compiled forward (what `fit` runs with `compile=True`);
- largest batch:      the bare step at the largest batch that fits: the batch doubles from --batch-size until CUDA
                      runs out of memory (on a CPU, or with --max-batch, it stops there).

Each speed is the median of --repeats runs (the variants alternate) of --steps timed steps after --warmup untimed
ones; compiling happens in a first, separate warm-up whose time is reported. The fraction of the chip's peak: the
FLOPs of one training step (forward and backward, counted by `torch.utils.flop_counter.FlopCounterMode`, which counts
matrix products and convolutions; `fusion_nb.training.training_flops`) times images/s, over the chip's dense peak for
the autocast dtype from `fusion_nb.training.PEAK_TFLOPS` (by the GPU's name; 'unknown' for other chips, the CPU and
fp32). Prints a markdown table; --out writes it to a file.

    python tools/gpu_speed.py --out results/gpu/speed.md                        # on a CUDA machine: 224 px, batch 64
    python tools/gpu_speed.py --device cpu --setups tiny --img-size 32 --batch-size 32 --steps 20   # a CPU smoke run
"""
from __future__ import annotations
import argparse, gc, statistics, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                      # run from a clone without installing it

import torch
import torch.nn.functional as F

from fusion_nb.dataset import DeviceBatches, make_synthetic
from fusion_nb.plumbing import env_info, save_text
from fusion_nb.training import (TrainConfig, autocast, compile_mode, compile_step, fused_adamw, get_device,
                                make_optimizer, peak_tflops, precision, sync, train_epoch, training_flops)

DTYPE_NAMES = {torch.bfloat16: 'bf16', torch.float16: 'fp16', None: 'fp32'}
VARIANTS = ('bare step', 'our loop', 'compiled step', 'our loop, compiled')


def tiny_cnn():
    "A model small enough to compile in seconds on a CPU (for smoke runs: --setups tiny)."
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1, stride=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def build(setup: str):
    torch.manual_seed(0)
    if setup == 'tiny': return tiny_cnn()
    from fusion_nb.fusion import build_model
    return build_model(setup, weights=None)



class Step:
    """One training step of `model` as `fit` takes it (autocast, cross-entropy, GradScaler for fp16, AdamW), eager or
    compiled."""
    def __init__(self, model, dev, dtype, scaled, compiled=False):
        self.model, self.dev, self.dtype = model, dev, dtype
        self.opt = make_optimizer([p for p in model.parameters() if p.requires_grad], TrainConfig(lr=1e-4), dev)
        self.scaler = torch.amp.GradScaler(dev.type) if scaled else None
        self.forward = compile_step(model, dev) if compiled else model
        self.graphs = compiled and dev.type == 'cuda'

    def __call__(self, xb, yb):
        if self.graphs: torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.dev, self.dtype): out = self.forward(xb)
        loss = F.cross_entropy(out.float(), yb)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None: self.scaler.scale(loss).backward(); self.scaler.step(self.opt); self.scaler.update()
        else: loss.backward(); self.opt.step()


def time_step(step, xb, yb, steps, warmup, dev) -> float:
    "Images/s of `steps` calls of `step` on one batch, after `warmup` untimed ones."
    for _ in range(warmup): step(xb, yb)
    sync(dev); t = time.perf_counter()
    for _ in range(steps): step(xb, yb)
    sync(dev)
    return steps * len(yb) / (time.perf_counter() - t)


def time_loop(step, x, y, size, bs, steps, warmup, dev, seed) -> float:
    """Images/s of `train_epoch` (fit's loop) over `steps` batches made from images `x` by `DeviceBatches`, after a
    warm-up epoch."""
    fwd = None if step.forward is step.model else step.forward
    def batches(n, s):
        return DeviceBatches(x.repeat(n, 1, 1, 1), y.repeat(n), bs, img_size=size, train=True, seed=s, device=dev)
    def epoch(b): return train_epoch(step.model, b, step.opt, step.scaler, dev, step.dtype, progress=False, forward=fwd)
    if warmup: epoch(batches(warmup, seed + 1000))
    timed = batches(steps, seed)                      # the images on the device before the clock starts, as in fit
    sync(dev); t = time.perf_counter()
    r = epoch(timed)
    sync(dev)
    return r['images'] / (time.perf_counter() - t)


def is_oom(e: Exception) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or 'out of memory' in str(e).lower()


def largest_batch(model, x, y, size, bs, dev, dtype, scaled, cap, log):
    "The largest batch (doubling from `bs`, at most `cap`) whose eager training step runs; None if even `bs` does not."
    best, b = None, bs
    while b <= cap:
        step = Step(model, dev, dtype, scaled)
        try:
            xb, yb = batch_of(x, y, b, size, dev)
            for _ in range(2): step(xb, yb)
            sync(dev); best = b
        except Exception as e:
            if not is_oom(e): raise
            log(f'batch {b}: out of memory')
            break
        finally:
            model.zero_grad(set_to_none=True)
            del step; xb = yb = None; gc.collect()
            if dev.type == 'cuda': torch.cuda.empty_cache()
        b *= 2
    return best


def batch_of(x, y, b, size, dev):
    "A training batch of `b` images (repeating `x` as needed) at `size` px on `dev`, made by DeviceBatches."
    n = -(-b // len(x))
    return next(iter(DeviceBatches(x.repeat(n, 1, 1, 1)[:b], y.repeat(n)[:b], b, img_size=size, train=True, seed=0,
                                   device=dev)))


def measure(setup, args, dev, dtype, scaled, log) -> dict:
    "Every variant's images/s (median and runs), compile times, FLOPs per image and the largest batch, for `setup`."
    data = make_synthetic(n_train=args.batch_size, n_test=1, seed=0)
    x, y, bs, size = data.x_train, data.y_train, args.batch_size, args.img_size
    model = build(setup).to(dev, memory_format=torch.channels_last)
    xb, yb = batch_of(x, y, bs, size, dev)
    out = dict(setup=setup, batch=bs, flops=training_flops(model, xb, yb, dev, dtype), runs={}, compile_s=None,
               peak_mib={})
    steps = {'bare step': Step(model, dev, dtype, scaled), 'our loop': None}
    variants = [v for v in VARIANTS if args.compile or 'compiled' not in v]
    if args.compile:                          # compile once (the first calls), timed; the loop shares the wrapper
        t = time.perf_counter()
        steps['compiled step'] = Step(model, dev, dtype, scaled, compiled=True)
        for _ in range(3): steps['compiled step'](xb, yb)
        sync(dev); out['compile_s'] = time.perf_counter() - t
        log(f'{setup}: compiled ({compile_mode(dev)}) in {out["compile_s"]:.1f} s')
    steps['our loop'] = steps['bare step']
    steps['our loop, compiled'] = steps.get('compiled step')
    for r in range(args.repeats):
        for v in variants[r % len(variants):] + variants[:r % len(variants)]:      # alternate, rotating the order
            if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
            s = steps[v]
            ips = (time_step(s, xb, yb, args.steps, args.warmup, dev) if 'loop' not in v else
                   time_loop(s, x, y, size, bs, args.steps, args.warmup, dev, seed=r))
            out['runs'].setdefault(v, []).append(ips)
            if dev.type == 'cuda':
                out['peak_mib'][v] = max(out['peak_mib'].get(v, 0), torch.cuda.max_memory_allocated(dev) / 2**20)
        log(f'{setup}: run {r + 1}: ' + ', '.join(f'{v} {out["runs"][v][-1]:,.1f}' for v in variants) + ' images/s')
    out['ips'] = {v: statistics.median(rs) for v, rs in out['runs'].items()}
    s = steps = None
    if args.compile: torch._dynamo.reset()                # frees the compiled graphs (and CUDA graphs' memory pool)
    gc.collect()
    if dev.type == 'cuda': torch.cuda.empty_cache()
    cap = args.max_batch or (2 ** 16 if dev.type == 'cuda' else 4 * bs)
    big = largest_batch(model, x, y, size, bs, dev, dtype, scaled, cap, log)
    out['largest'] = big
    if big:
        xb2, yb2 = batch_of(x, y, big, size, dev)
        s = Step(model, dev, dtype, scaled)
        if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
        out['runs']['largest batch'] = [time_step(s, xb2, yb2, args.big_steps, args.warmup, dev)
                                        for _ in range(args.repeats)]
        out['ips']['largest batch'] = statistics.median(out['runs']['largest batch'])
        if dev.type == 'cuda': out['peak_mib']['largest batch'] = torch.cuda.max_memory_allocated(dev) / 2**20
        del s, xb2, yb2
    del model; gc.collect()
    if dev.type == 'cuda': torch.cuda.empty_cache()
    return out


def speed_markdown(env, args, dtype, scaled, peak, results, seconds) -> str:
    "The report: where and how it was measured, one row per setup and variant, every run."
    name = DTYPE_NAMES[dtype] + (' autocast' if dtype else '') + (' with a GradScaler' if scaled else '')
    cap = (f'up to --max-batch {args.max_batch}' if args.max_batch else
           'until CUDA ran out of memory' if env['device'] == 'cuda' else f'up to 4 × {args.batch_size}')
    peak_text = (f'{peak:g} TFLOPS (dense {DTYPE_NAMES[dtype]}, `PEAK_TFLOPS`)' if peak else
                 'unknown (not in `PEAK_TFLOPS` for this chip and dtype)')
    lines = ['# Training speed and use of the chip (`tools/gpu_speed.py`)', '',
             f"- Device: {env['device_name']} ({env['device']}), torch {env['torch']}, {env['cpu_count']} CPU cores; "
             f"{name}; "
             f"AdamW {'fused' if fused_adamw(torch.device(env['device'])) else 'not fused (PyTorch default)'}; "
             f"compile mode '{compile_mode(torch.device(env['device']))}'"
             + ('' if args.compile else ' (not measured: --no-compile)') + '.',
             f"- {args.img_size} px, batch {args.batch_size}; random weights, synthetic images; {args.steps} timed "
             f"steps after {args.warmup} untimed ones, median of {args.repeats} alternating runs "
             f"({args.big_steps} timed steps at the largest batch, doubled from {args.batch_size} {cap}); "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {seconds:.0f} s in all.",
             f"- Peak: {peak_text}. "
             'FLOPs per image: one training step (forward and backward) as `FlopCounterMode` counts it.', '',
             '| setup | variant | batch | images/s | × bare step | TFLOP/s | % of peak | peak memory (MiB) |',
             '|---|---|---:|---:|---:|---:|---:|---:|']
    for r in results:
        bare = r['ips']['bare step']
        for v, ips in r['ips'].items():
            tf = r['flops'] * ips / 1e12
            frac = f'{100 * tf / peak:.1f}' if peak else 'unknown'
            mem = f"{r['peak_mib'][v]:,.0f}" if v in r['peak_mib'] else '—'
            batch = r['largest'] if v == 'largest batch' else r['batch']
            lines.append(f"| {r['setup']} | {v} | {batch} | {ips:,.1f} | {ips / bare:.2f} | {tf:.3g} | {frac} "
                         f"| {mem} |")
    lines += ['']
    for r in results:
        lines.append(f"- {r['setup']}: {r['flops'] / 1e9:.3g} GFLOP per image per training step"
                     + (f"; compiling took {r['compile_s']:.1f} s" if r['compile_s'] is not None else '')
                     + f"; largest batch tried that fit: {r['largest']}; every run (images/s): "
                     + '; '.join(f"{v} {[round(x, 1) for x in rs]}" for v, rs in r['runs'].items()) + '.')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='auto')
    p.add_argument('--amp', default='auto', choices=['auto', 'bf16', 'fp16', 'off'])
    p.add_argument('--setups', default='resnet50,mobilenetv2',
                   help="comma-separated setups of 03, or 'tiny' (a small CNN for smoke runs)")
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--batch-size', type=int, default=64, help="the case study's 64")
    p.add_argument('--steps', type=int, default=60, help='timed steps per run')
    p.add_argument('--warmup', type=int, default=10, help='untimed steps before each run')
    p.add_argument('--repeats', type=int, default=3, help='alternating runs per variant (the median is reported)')
    p.add_argument('--big-steps', type=int, default=10, help='timed steps per run at the largest batch')
    p.add_argument('--max-batch', type=int, default=None,
                   help='stop doubling the batch here (default: until out of memory on CUDA, '
                        '4 × --batch-size elsewhere)')
    p.add_argument('--no-compile', dest='compile', action='store_false', help='skip the compiled variants')
    p.add_argument('--threads', type=int, default=None, help="torch's CPU threads (default: torch's choice)")
    p.add_argument('--out', default=None, help='also write the table to this markdown file')
    args = p.parse_args(argv)
    for k in ('img_size', 'batch_size', 'steps', 'repeats', 'big_steps'):
        if getattr(args, k) < 1: p.error(f"--{k.replace('_', '-')} must be at least 1, got {getattr(args, k)}")
    if args.warmup < 0: p.error(f'--warmup must be 0 or more, got {args.warmup}')
    if args.batch_size < 2:
        p.error('--batch-size must be at least 2 (BatchNorm layers that train need more than one image)')
    if args.max_batch is not None and args.max_batch < args.batch_size:
        p.error('--max-batch must be at least --batch-size')
    if args.threads: torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    dev = get_device(args.device)
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True
    dtype, scaled = precision(dev, args.amp)
    env = env_info(dev)
    peak = peak_tflops(env['device_name'], dtype) if dev.type == 'cuda' else None
    log = lambda s: print(f'[gpu_speed] {s}', flush=True)
    log(f"{env['device_name']} ({dev}), {DTYPE_NAMES[dtype]}, peak {peak or 'unknown'} TFLOPS")
    results = [measure(s.strip(), args, dev, dtype, scaled, log) for s in args.setups.split(',') if s.strip()]
    text = speed_markdown(env, args, dtype, scaled, peak, results, time.perf_counter() - t0)
    print(text, flush=True)
    if args.out: save_text(text, args.out); log(f'written to {args.out}')
    return results


if __name__ == '__main__':
    main()
