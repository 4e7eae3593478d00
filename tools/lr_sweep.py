"""The learning rate of fine-tuning against the learning rate of training from scratch, measured on real CIFAR-10.

MobileNetV2 is pretrained on the transfer miniature's source task (five CIFAR-10 classes, `fusion_nb.transfer`),
then trained whole on the target task (the other five classes) at each learning rate of `LRS`, once from those
weights (the miniature's setup `mobilenetv2`) and once from random ones (`scratch_mobilenetv2`). Everything else is
the case study's recipe (AdamW, constant lr, batch 64, crops and flips) at 32 px; `SIZES` sets the tasks' sizes.
Each start's learning rate is picked on the held-out split; the test set scores every run once (`summary`: the picks).

    OMP_NUM_THREADS=1 python tools/lr_sweep.py --data data/cifar10-jpeg.tar.gz            # 15 minutes on 2 CPU cores
    OMP_NUM_THREADS=1 python tools/lr_sweep.py --data data/cifar10-jpeg.tar.gz --resume   # skips finished runs

Writes `results.json` and `predictions.json` to `--out` (default results/lr), each atomically after every run;
checkpoints (the pretrained weights, a run's last epoch) go to `--work` (default runs/lr_sweep, not committed).
With `--resume` the pretraining and every run that results.json holds are kept.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import torch

from fusion_nb.plumbing import cpu_name, env_info, save_json
from fusion_nb.training import get_device
from fusion_nb.transfer import TRANSFER_SETUPS, pretrain, train_transfer_seed, transfer_config, transfer_data

LRS = (1e-5, 1e-4, 1e-3, 1e-2)
# counts per class: the source task whole (4,900 training images, 3 epochs of pretraining, 100 held out) and a smaller
# target task (300 training images, 4 epochs; 100 held out for the picks; all 1,000 test images)
SIZES = dict(n_train_source=None, pretrain_epochs=3, n_train=300, n_val=100, n_test=None, epochs=4)
INITS = {'pretrained': 'mobilenetv2', 'scratch': 'scratch_mobilenetv2'}   # start → the miniature's setup
BRANCH = 'mobilenetv2'


def run_key(init: str, lr: float, seed: int) -> str: return f'{init} lr={lr:g} seed={seed}'


def binomial_se_diff(p1: float, p2: float, n: int) -> float:
    "Standard error (percentage points) of the difference of two accuracies (in %) on `n` images each, independent."
    a, b = p1 / 100, p2 / 100
    return 100 * math.sqrt(a * (1 - a) / n + b * (1 - b) / n)


def summarise(results: dict, n_test: int) -> dict:
    "Per start: the held-out accuracy at each lr (mean over seeds), the lr picked on it, and that pick's test accuracy."
    out = {}
    for init in INITS:
        runs = [r for r in results['runs'] if r['init'] == init]
        by_lr = {}
        for r in runs:
            by_lr.setdefault(r['lr'], []).append(r)
        mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)
        curve = {f'{lr:g}': dict(lr=lr, val_acc=mean(rs, 'val_acc'), test_acc=mean(rs, 'test_acc'), n_seeds=len(rs))
                 for lr, rs in sorted(by_lr.items())}
        if not curve: continue
        best = max(curve.values(), key=lambda c: c['val_acc'])
        out[init] = dict(by_lr=curve, picked_lr=best['lr'], picked_val_acc=best['val_acc'],
                         picked_test_acc=best['test_acc'])
    if len(out) == 2:
        p, s = out['pretrained'], out['scratch']
        out['noise'] = dict(
            n_test=n_test, what='binomial standard error of a difference of two test accuracies, one seed each',
            se_diff_picks=binomial_se_diff(p['picked_test_acc'], s['picked_test_acc'], n_test))
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='data/cifar10-jpeg.tar.gz', help='CIFAR-10: a folder, a .tar.gz, or cifar10')
    ap.add_argument('--out', default='results/lr', help='where results.json and predictions.json go')
    ap.add_argument('--work', default='runs/lr_sweep', help='checkpoints and logits (not committed)')
    ap.add_argument('--seeds', type=int, default=1, help='seeds per point (0, 1, ...)')
    ap.add_argument('--resume', action='store_true', help='keep the runs results.json holds; train the rest')
    ap.add_argument('--device', default='auto')
    a = ap.parse_args(argv)
    out, work = Path(a.out), Path(a.work)
    rp, pp = out/'results.json', out/'predictions.json'
    if rp.exists() and not a.resume:
        raise SystemExit(f'{rp} exists: give --resume to continue it, or another --out')
    cfg = transfer_config('transfer', data=a.data, device=a.device, **SIZES)
    sweep = dict(lrs=list(LRS), seeds=list(range(a.seeds)), inits=dict(INITS), branch=BRANCH, epochs=cfg['epochs'],
                 schedule='constant', pick='the lr with the highest held-out accuracy, per start')
    old = json.loads(rp.read_text()) if a.resume and rp.exists() else {}
    if old and old['config']['transfer'] | {'device': a.device} != json.loads(json.dumps(cfg)) | {'device': a.device}:
        raise SystemExit(f'{rp} was made with other settings; give another --out')
    t_start = time.perf_counter()
    tasks = transfer_data(cfg)
    (sd, sf), (td, tf) = tasks['source'], tasks['target']
    env = env_info(get_device(cfg['device'])) | dict(cpu_model=cpu_name(), threads=torch.get_num_threads())
    (work/'checkpoints').mkdir(parents=True, exist_ok=True); (work/'logits').mkdir(exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    data = {t: dict(classes=list(d.classes), n_train=len(d.y_train), n_val=len(d.y_test), n_test=len(f.y_test))
            for t, (d, f) in tasks.items()}
    results = dict(config=dict(transfer=cfg, sweep=sweep), env=env, data=data,
                   pretraining=old.get('pretraining'), runs=old.get('runs', []))
    preds = dict(classes=list(td.classes), y_val=td.y_test.tolist(), y_test=tf.y_test.tolist(),
                 runs=json.loads(pp.read_text())['runs'] if old and pp.exists() else {})
    results['runs'] = [r for r in results['runs'] if run_key(r['init'], r['lr'], r['seed']) in preds['runs']]

    def save():
        results['summary'] = summarise(results, len(tf.y_test))
        save_json(preds, pp); save_json(results, rp)

    state, entry = pretrain(BRANCH, sd, sf, cfg, work)
    results['pretraining'] = entry
    save()
    print(f"pretrained {BRANCH}: source held-out {entry['val_acc']:.2f}%, test {entry['test_acc']:.2f}%", flush=True)
    for seed in sweep['seeds']:
        for lr in LRS:
            for init, name in INITS.items():
                key = run_key(init, lr, seed)
                if key in preds['runs']: continue
                s = dataclasses.replace(TRANSFER_SETUPS[name], name=f'{name}_lr{lr:g}')
                try:
                    r, p = train_transfer_seed(s, seed, cfg | dict(lr=lr), {BRANCH: state}, td, tf, work)
                except FloatingPointError as e:       # a diverged run is a result: chance accuracy, no predictions
                    r, p = dict(seed=seed, val_acc=100 / len(td.classes), test_acc=100 / len(tf.classes),
                                seconds=0.0, diverged=str(e), history=[]), dict(val=[], test=[])
                results['runs'].append(dict(init=init, setup=name, lr=lr, **r))
                preds['runs'][key] = p
                save()
                print(f"{key}: held-out {r['val_acc']:.2f}%, test {r['test_acc']:.2f}%, {r['seconds']:.0f} s"
                      + (' (diverged)' if 'diverged' in r else ''), flush=True)
    results['seconds'] = entry['seconds'] + sum(r['seconds'] for r in results['runs'])
    save()
    print(f'done: {results["seconds"] / 60:.1f} min of training and evaluation as recorded, this process '
          f'{(time.perf_counter() - t_start) / 60:.1f} min; {rp}', flush=True)
    return results


if __name__ == '__main__':
    main()
