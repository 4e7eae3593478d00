"""The GPU check: the `paper` recipe on a CUDA machine, real CIFAR-10, no ImageNet weights, inside a time budget.

One command, for a machine with an NVIDIA GPU (run through `tools/gpu_check.sh`):

1. measures, at the recipe's 224 px and mixed precision:
   - our 224-px training batches (`DeviceBatches`, on the GPU) beside torchvision's PIL pipeline in a DataLoader
     (target: at least 5x);
   - images/s of our training loop beside the bare model step on one ready-made batch, for ResNet50, MobileNetV2 and
     the fine-tuned fusion's blocks (target: at least 90%), and forward images/s of each backbone;
2. picks as many epochs (at most the recipe's 6) as fit in what is left of `--budget`, from those speeds;
3. trains the two baselines, their logit average and the members-first fusions with `fusion_nb_run`'s
   `run_case_study` (random initial weights: `--no-pretrained`, so the from-scratch recipe), writing `results.json`,
   `table.md`, predictions, figures and `gradcam.json` to `--out`;
4. writes `--out/bench.md`: the device, every measurement above against its target, each setup's images/s, seconds
   and peak GPU memory, and the time of each phase.

Runs on a CPU too, with tiny settings, which is how the tests check it:

    python tools/gpu_check.py --device cpu --img-size 64 --train-limit 256 --test-limit 128 --budget 600 --out /tmp/gpu
"""
from __future__ import annotations
import argparse, importlib.util, platform, statistics, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                      # run from a clone without installing it

import torch

from fusion_nb.experiment import MEMBERS_PLAN, run_case_study
from fusion_nb.plumbing import env_info, save_text
from fusion_nb.dataset import load_data
from fusion_nb.fusion import build_model
from fusion_nb.training import amp_dtype, get_device


def _bench(name):
    "A module of bench/ (not a package), loaded from its file."
    spec = importlib.util.spec_from_file_location(name, ROOT / 'bench' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def measure_data(data, size, bs, n_images, workers, dev, repeats):
    "Images/s of our augmented batches and of the PIL pipeline over the same images (medians of alternating passes)."
    from torch.utils.data import DataLoader
    bd = _bench('bench_data')
    x, y = data.x_train[:n_images], data.y_train[:n_images]
    ours = bd.DeviceBatches(x, y, bs, img_size=size, train=True, seed=0, device=dev)
    loader = DataLoader(bd.PILDataset(x.permute(0, 2, 3, 1).contiguous().numpy(), y.numpy(), bd.pil_transform(size)),
                        batch_size=bs, shuffle=True, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0)
    bd.time_pass(lambda: ours.set_epoch(0), dev); bd.time_pass(lambda: loader, dev)        # warm-up, workers started
    ta, tb = [], []
    for r in range(repeats):
        ta.append(bd.time_pass(lambda: ours.set_epoch(r + 1), dev)); tb.append(bd.time_pass(lambda: loader, dev))
    rate = lambda ts: statistics.median(n / s for s, n in ts)
    return dict(ours=rate(ta), pil=rate(tb), workers=workers, images=len(x), batch=bs, size=size)


def measure_models(data, size, bs, steps, repeats, dev):
    "Training images/s of our loop and of the bare step per setup; forward images/s per backbone."
    bt = _bench('bench_train')
    dtype, out = amp_dtype(dev, 'auto'), {}
    x, y = data.x_train[:(steps + 1) * bs], data.y_train[:(steps + 1) * bs]
    for setup in ('resnet50', 'mobilenetv2', 'fusion_finetune'):
        torch.manual_seed(0)
        model = build_model(setup, weights=None).to(dev)
        xb, yb = next(iter(bt.DeviceBatches(x[:bs], y[:bs], bs, img_size=size, train=True, seed=0, device=dev)))
        bare, ours = [], []
        for r in range(repeats):                                 # alternate, as bench_train.py does
            bare.append(bt.time_bare(model, xb, yb, dev, dtype, steps))
            ours.append(bt.time_ours(model, x, y, size, bs, dev, dtype, steps, seed=r))
        out[setup] = dict(bare=statistics.median(bare), ours=statistics.median(ours))
        if setup != 'fusion_finetune':
            out[setup]['forward'] = bt.time_forward(model, data.x_test[:4 * bs], dev, 2 * bs, repeats, size)
        del model
        if dev.type == 'cuda': torch.cuda.empty_cache()
    return out


def plan_epochs(speeds, n_train, n_test, seconds, max_epochs=6, max_fusion=3):
    "The most epochs (members, members-first fine-tuning) whose estimated time fits in `seconds`; the estimate."
    fw = {k: v.get('forward') or 3 * v['ours'] for k, v in speeds.items() if k != 'fusion_finetune'}
    both = 1 / (1 / fw['resnet50'] + 1 / fw['mobilenetv2'])
    member = sum(n_train / speeds[k]['ours'] + n_test / fw[k] for k in ('resnet50', 'mobilenetv2'))  # an epoch of each
    tune = n_train / speeds['fusion_finetune']['ours'] + n_test / both
    fixed = (n_train + n_test) / both + 3 * n_test / both + 15      # shared extraction, final evaluations, builds
    best = (1, 1, fixed + member + tune)
    for e in range(1, max_epochs + 1):
        for f in range(1, max_fusion + 1):
            est = fixed + e * member + f * tune
            if est <= seconds and (e, f) > best[:2]: best = (e, f, est)
    return best


def bench_markdown(env, args, phases, data_speed, model_speeds, plan, results) -> str:
    "The check's report: device, measurements against their targets, the run's setups."
    met = lambda ok: '**met**' if ok else '**not met**'
    lines = ['# GPU check (`tools/gpu_check.sh`)', '',
             f"- Device: {env['device_name']} ({env['device']}), {env['cpu_count']} CPU cores, torch {env['torch']}, "
             f"torchvision {env['torchvision']}, Python {platform.python_version()}; mixed precision: {args.amp} "
             f"({results['config']['amp']} in results.json: {amp_dtype(get_device(args.device), args.amp) or 'fp32'}).",
             f"- Data: {results['data']['source']}, {results['data']['n_train']:,} training / "
             f"{results['data']['n_test']:,} test images, "
             f"{args.img_size} px, batch {args.batch_size}; random initial weights (no ImageNet weights).",
             f"- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; time budget {args.budget:.0f} s; phases: "
             + ', '.join(f'{k} {v:.0f} s' for k, v in phases.items()) + '.', '']
    if data_speed:
        r, where = data_speed['ours'] / data_speed['pil'], 'GPU' if env['device'] == 'cuda' else env['device']
        lines += [f"## Training batches at {data_speed['size']} px", '',
                  '| pipeline | images/s |', '|---|---:|',
                  f"| ours: `DeviceBatches` on the {where} (crop, flip, resize, normalise there) "
                  f"| {data_speed['ours']:,.0f} |",
                  f"| torchvision's PIL transforms, `DataLoader(num_workers={data_speed['workers']})` "
                  f"| {data_speed['pil']:,.0f} |", '',
                  f"Ours / PIL: {r:.1f}× (target ≥ 5×: {met(r >= 5)}); {data_speed['images']:,} images, "
                  f"batch {data_speed['batch']}, medians of alternating passes.", '']
    if model_speeds:
        lines += [f'## Training step at {args.img_size} px, batch {args.batch_size}', '',
                  '| setup | bare step (images/s) | our loop (images/s) | ours / bare | target ≥ 0.90 '
                  '| forward (images/s) |',
                  '|---|---:|---:|---:|---|---:|']
        for k, v in model_speeds.items():
            q = v['ours'] / v['bare']
            fwd = f"{v['forward']:,.0f}" if 'forward' in v else '—'
            lines.append(f"| {k} | {v['bare']:,.0f} | {v['ours']:,.0f} | {q:.2f} | {met(q >= 0.9)} | {fwd} |")
        lines += ['', 'The bare step trains on one ready-made batch; our loop makes every batch on the device, '
                  'checks the loss and steps the schedule. `fusion_finetune` has the blocks of `members_finetune`.', '']
    e, f, est = plan
    how = ('as given on the command line' if args.epochs or args.fusion_epochs else
           f'the most that the speeds above fitted into the budget (estimated {est:.0f} s)')
    lines += ['## The run', '', f"{e} epoch(s) for the baselines and {f} for the members-first fusions, {how}.", '',
              '| setup | from | val acc (%) | seconds | train images/s (last epoch) | peak GPU memory (MiB) |',
              '|---|---|---:|---:|---:|---:|']
    for k, s in results['setups'].items():
        ips = f"{s['history'][-1]['train_images_per_s']:,.0f}" if s.get('history') else '—'
        mem = f"{s['peak_gpu_mib']:,.0f}" if 'peak_gpu_mib' in s else '—'
        lines.append(f"| {k} | {s['init']} | {s['val_acc']:.2f} | {s['seconds']:.0f} | {ips} | {mem} |")
    return '\n'.join(lines) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default='data/cifar10-jpeg.tar.gz',
                   help='CIFAR-10 folder or archive (or cifar10, synthetic)')
    p.add_argument('--out', default='results/gpu')
    p.add_argument('--device', default='cuda')
    p.add_argument('--amp', default='auto', choices=['auto', 'bf16', 'fp16', 'off'])
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--batch-size', type=int, default=64, help="the paper preset's 64")
    p.add_argument('--budget', type=float, default=450,
                   help='seconds for the whole check (benchmarks, training, figures)')
    p.add_argument('--reserve', type=float, default=60,
                   help='seconds kept for figures, the Grad-CAM check and the report')
    p.add_argument('--train-limit', type=int, default=None)
    p.add_argument('--test-limit', type=int, default=None)
    p.add_argument('--epochs', type=int, default=None, help='fix the epochs instead of fitting them to the budget')
    p.add_argument('--fusion-epochs', type=int, default=None)
    p.add_argument('--bench-steps', type=int, default=40,
                   help='timed steps per run (10 read our loop low: results/gpu/bench_loop.md)')
    p.add_argument('--bench-repeats', type=int, default=3)
    p.add_argument('--bench-images', type=int, default=2048, help='images per pass of the data benchmark')
    p.add_argument('--workers', type=int, default=2, help="the PIL pipeline's DataLoader workers (Colab has 2 CPUs)")
    args = p.parse_args(argv)
    t0, phases = time.perf_counter(), {}
    dev = get_device(args.device)
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True     # fixed shapes: let cuDNN pick its fastest kernels
    env = env_info(dev)
    print(f'[gpu_check] {env}', flush=True)
    data = load_data(args.data, train_limit=args.train_limit, test_limit=args.test_limit)
    phases['data'] = time.perf_counter() - t0
    data_speed, model_speeds = None, None
    try: data_speed = measure_data(data, args.img_size, args.batch_size, min(args.bench_images, len(data.y_train)),
                                   args.workers, dev, args.bench_repeats)
    except Exception as e: print(f'[gpu_check] data benchmark failed: {type(e).__name__}: {e}', flush=True)
    print(f'[gpu_check] data: {data_speed}', flush=True)
    phases['data benchmark'] = time.perf_counter() - t0 - sum(phases.values())
    try: model_speeds = measure_models(data, args.img_size, args.batch_size, args.bench_steps, args.bench_repeats, dev)
    except Exception as e: print(f'[gpu_check] model benchmark failed: {type(e).__name__}: {e}', flush=True)
    print(f'[gpu_check] models: {model_speeds}', flush=True)
    phases['model benchmark'] = time.perf_counter() - t0 - sum(phases.values())
    left = args.budget - (time.perf_counter() - t0) - args.reserve
    n_train, n_test = len(data.y_train), len(data.y_test)
    if model_speeds: plan = plan_epochs(model_speeds, n_train, n_test, left)
    else: plan = (1, 1, float('nan'))
    plan = (args.epochs or plan[0], args.fusion_epochs or plan[1], plan[2])
    print(f'[gpu_check] {left:.0f} s left for training: {plan[0]} epoch(s), {plan[1]} members-first '
          f'(estimated {plan[2]:.0f} s)', flush=True)
    del data                                                # run_case_study loads it again, from the decode cache
    results = run_case_study(preset='paper', setups=','.join(MEMBERS_PLAN), data=args.data, pretrained=False,
                             img_size=args.img_size, epochs=plan[0], fusion_epochs=plan[1], batch_size=args.batch_size,
                             train_limit=args.train_limit, test_limit=args.test_limit, device=args.device,
                             amp=args.amp, out=args.out, progress=False)
    phases['training and figures'] = time.perf_counter() - t0 - sum(phases.values())
    text = bench_markdown(env, args, phases, data_speed, model_speeds, plan, results)
    save_text(text, Path(args.out) / 'bench.md')
    print(text, flush=True)
    print(f'[gpu_check] done in {time.perf_counter() - t0:.0f} s: {args.out}', flush=True)


if __name__ == '__main__':
    main()
