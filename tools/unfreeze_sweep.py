"""The unfreeze sweep (04b_unfreeze: `unfreeze_sweep`) from the command line: fine-tune the members-first fusion with
the last k blocks of each backbone trainable, for a grid of k, and write what each setting measured to a JSON file
that the sliders of 04b_unfreeze read.

    python tools/unfreeze_sweep.py --data data/cifar10-jpeg.tar.gz --members runs/cpu/checkpoints \
        --out results/cpu/unfreeze_sweep.json
    python tools/unfreeze_sweep.py --data synthetic --members random --n-val 100 --train-limit 200 --test-limit 100 \
        --out /tmp/sweep.json

`--members` is the `checkpoints/` folder of a run that trained the `resnet50` and `mobilenetv2` baselines (07's
`fusion_nb_run`); `random` uses untrained random-weight stand-ins, to test the mechanism only. Flags are hyphenated like
`fusion_nb_run`'s (`--n-val`); the underscore spellings of earlier recorded commands still work.
"""
from __future__ import annotations
import sys, time
from pathlib import Path

import torch
from fastcore.script import Param, anno_parser

from fusion_nb.unfreeze import SWEEP_K, unfreeze_sweep
from fusion_nb.dataset import load_data
from fusion_nb.fusion import architecture, build_model
from fusion_nb.plumbing import hyphenate_flags, save_json
from fusion_nb.training import TrainConfig, load_checkpoint


def _ints(s: str) -> list[int]: return [int(v) for v in str(s).split(',') if v.strip()]


def load_members(members: str, n_classes: int = 10) -> dict:
    """The trained baselines from a run's checkpoints folder (`resnet50.pt`, `mobilenetv2.pt`), or random stand-ins for
    'random'."""
    if members == 'random':
        torch.manual_seed(0)
        return {n: build_model(n, weights=None, n_classes=n_classes) for n in ('resnet50', 'mobilenetv2')}
    out = {}
    for n in ('resnet50', 'mobilenetv2'):
        m = architecture(n, n_classes=n_classes)
        m.load_state_dict(load_checkpoint(Path(members) / f'{n}.pt')['model'])   # clear errors if missing or damaged
        out[n] = m
    return out


_K = {n: ','.join(map(str, ks)) for n, ks in SWEEP_K.items()}       # the notebook's grid, as the flags write it


def main(data: Param("CIFAR-10: a folder or archive (as `load_data` reads), 'cifar10' or 'synthetic'",
                     str) = 'synthetic',
         members: Param("a run's checkpoints/ folder with resnet50.pt and mobilenetv2.pt, or 'random' (a test)",
                        str) = 'random',
         out: Param('the JSON file to write', str) = 'results/cpu/unfreeze_sweep.json',
         k_resnet: Param('trainable ResNet50 blocks to sweep, comma-separated', str) = _K['resnet50'],
         k_mobilenet: Param('trainable MobileNetV2 blocks to sweep, comma-separated', str) = _K['mobilenetv2'],
         n_val: Param('training images held out (stratified) to score on', int) = 5000,
         train_limit: Param('training images to train on (stratified subset; 0: all the rest)', int) = 5000,
         test_limit: Param('test images (0: all)', int) = 0,
         epochs: Param('epochs per setting', int) = 1,
         img_size: Param('image size in pixels', int) = 32,
         batch_size: int = 128,
         lr: Param("AdamW learning rate (constant): the cpu preset's members-first rate", float) = 1e-4,
         seed: int = 0,
         device: Param("'auto', 'cpu', 'cuda' or 'mps'", str) = 'auto',
         settings: Param("only these cells of the grid, e.g. '0,0;3,3;17,19' ('': the whole grid)", str) = '',
         plain_check: Param("settings also trained with plain fit, to measure the cache, e.g. '3,3' or '3,3;0,0' "
                            "('' for none)", str) = '3,3',
         note: Param('a note kept in the file (e.g. what else ran on the machine)', str) = ''):
    "Run the unfreeze sweep and write it to `out`."
    t0 = time.perf_counter()
    d = load_data(data)
    cfg = TrainConfig(epochs=epochs, lr=lr, schedule='constant', img_size=img_size, batch_size=batch_size, seed=seed,
                      device=device, progress=False)
    checks = [tuple(_ints(p)) for p in plain_check.split(';') if p.strip()]
    sweep = unfreeze_sweep(load_members(members, len(d.classes)), d, _ints(k_resnet), _ints(k_mobilenet), cfg,
                           n_val=n_val, train_limit=train_limit or None, test_limit=test_limit or None,
                           plain_check=checks, note=note,
                           settings=[tuple(_ints(p)) for p in settings.split(';') if p.strip()] or None)
    sweep['members'] = (members if members == 'random' else
                        f'{Path(members).name}/ of a run (resnet50.pt, mobilenetv2.pt)')
    sweep['command'] = ' '.join(['python tools/unfreeze_sweep.py', *sys.argv[1:]])
    sweep['command_seconds'] = time.perf_counter() - t0
    save_json(sweep, out)
    print(f'wrote {out} ({sweep["command_seconds"]:.0f} s)')


if __name__ == '__main__':
    args = vars(hyphenate_flags(anno_parser(main, prog='tools/unfreeze_sweep.py')).parse_args())
    for k in ('pdb', 'xtra'): args.pop(k, None)
    main(**args)
