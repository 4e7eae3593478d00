"""Benchmark: device-side augmented batches (`fusion_nb.dataset.DeviceBatches`) vs torchvision's PIL pipeline.

Measures, alternating A (ours) and B (the baseline) and reporting medians:
  * augmented training batches/s and images/s at each size in --sizes, ours vs torchvision transforms on PIL images
    (Resize, RandomCrop with padding 4 px at 32 px scaled with the size, RandomHorizontalFlip, ToTensor, Normalize)
    in a 2-worker DataLoader, over the same images;
  * at 32 px, the share of data preparation in a MobileNetV2 (weights=None) training step.
Prints a markdown table and writes it atomically to --out.

    python bench/bench_data.py                                   # real JPEG data if found, else synthetic
    python bench/bench_data.py --data synthetic --n-images 2048 --repeats 3 --sizes 32,224
"""
import argparse, os, platform, shlex, statistics, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from fusion_nb.plumbing import atomic_write, env_info
from fusion_nb.dataset import IMAGENET_MEAN, IMAGENET_STD, DeviceBatches, load_data
from fusion_nb.training import sync

DEFAULT_DATA = '/tmp/cifar10-jpeg'


class PILDataset(Dataset):
    "What torchvision.datasets.CIFAR10 does per item: uint8 HWC array -> PIL image -> transform."
    def __init__(self, x_hwc, y, tf): self.x, self.y, self.tf = x_hwc, y, tf
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return self.tf(Image.fromarray(self.x[i])), int(self.y[i])


def pil_transform(size):
    return T.Compose([T.Resize(size), T.RandomCrop(size, padding=4 * size // 32), T.RandomHorizontalFlip(),
                      T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])



def time_pass(make_iter, device):
    "Seconds and number of images for one pass over an iterable of (x, y) batches."
    sync(device); t = time.perf_counter(); n = 0
    for xb, _ in make_iter(): n += len(xb)
    sync(device)
    return time.perf_counter() - t, n


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=None,
                   help=f"load_data source (default: {DEFAULT_DATA} if present, else 'synthetic')")
    p.add_argument('--cache-dir', default=None, help='cache folder for load_data')
    p.add_argument('--n-images', type=int, default=4096)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--sizes', default='32,64,224')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=None, help="torch threads for ours (default: torch's default)")
    p.add_argument('--step-batches', type=int, default=8, help='batches per MobileNetV2 timing at 32 px')
    p.add_argument('--out', default='bench/results/data.md')
    a = p.parse_args()
    data_arg = a.data or (DEFAULT_DATA if Path(DEFAULT_DATA).is_dir() else 'synthetic')
    device = torch.device(a.device)
    if a.threads: torch.set_num_threads(a.threads)
    sizes = [int(s) for s in a.sizes.split(',')]
    load0 = os.getloadavg()[0]

    data = load_data(data_arg, cache_dir=a.cache_dir)
    x, y = data.x_train[:a.n_images], data.y_train[:a.n_images]
    x_hwc, y_np = x.permute(0, 2, 3, 1).contiguous().numpy(), y.numpy()
    n_batches = len(x) // a.batch_size
    bs = a.batch_size

    rows, ratios = [], {}
    for size in sizes:
        ours = DeviceBatches(x, y, bs, img_size=size, train=True, seed=0, device=device)
        loader = DataLoader(PILDataset(x_hwc, y_np, pil_transform(size)), batch_size=bs, shuffle=True, drop_last=True,
                            num_workers=a.workers, persistent_workers=a.workers > 0)
        time_pass(lambda: ours.set_epoch(0), device); time_pass(lambda: loader, device)  # warm-up (starts the workers)
        ta, tb = [], []
        for r in range(a.repeats):  # alternate A and B
            ta.append(time_pass(lambda: ours.set_epoch(r + 1), device)[0])
            tb.append(time_pass(lambda: loader, device)[0])
        del loader
        ma, mb = statistics.median(ta), statistics.median(tb)
        ratios[size] = mb / ma
        rows.append(f'| {size} px | {n_batches / ma:,.1f} | {n_batches * bs / ma:,.0f} | {n_batches / mb:,.1f} | '
                    f'{n_batches * bs / mb:,.0f} | {mb / ma:.1f}× |')
        print(rows[-1], flush=True)

    # MobileNetV2 training step at 32 px: data preparation vs the step itself
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=10)
    model = model.to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    k = a.step_batches
    ours = DeviceBatches(x[:k * bs], y[:k * bs], bs, img_size=32, train=True, device=device)
    batches = [(xb.clone(), yb.clone()) for xb, yb in ours]

    def step(xb, yb):
        loss = F.cross_entropy(model(xb), yb); opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

    for xb, yb in batches[:2]: step(xb, yb)  # warm-up
    tp, ts = [], []
    for r in range(a.repeats):
        tp.append(time_pass(lambda: ours.set_epoch(r), device)[0] / k)
        sync(device); t = time.perf_counter()
        for xb, yb in batches: step(xb, yb)
        sync(device); ts.append((time.perf_counter() - t) / k)
    prep, stp = statistics.median(tp), statistics.median(ts)
    share = prep / (prep + stp)
    load1 = os.getloadavg()[0]

    src = (f'real CIFAR-10 JPEGs ({data_arg}, decoded into memory by `load_data`)' if data_arg != 'synthetic'
           else 'synthetic data (`make_synthetic`)')
    t224 = ratios.get(224)
    lines = [
        '# Data pipeline benchmark (`bench/bench_data.py`)', '',
        f"- Command: `python {' '.join(shlex.quote(v) for v in sys.argv)}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
        f'- Machine: {env_info("cpu")["device_name"]}, {os.cpu_count()} CPU cores, torch {torch.__version__} '
        f'({torch.get_num_threads()} threads), '
        f'torchvision {torchvision.__version__}, Python {platform.python_version()}; ours runs on `{device}`'
        + (f' ({torch.cuda.get_device_name(device)})' if device.type == 'cuda' else '') + '.',
        f'- Load average (1 min) at start / end: {load0:.2f} / {load1:.2f} (other processes may share the cores).',
        f'- Data: {src}; the first {len(x):,} training images, batch size {bs}, {n_batches} batches per pass, '
        f'{a.repeats} passes each, A/B alternating, medians.',
        f'- Ours: `DeviceBatches(train=True)`: seeded shuffle, crop (pad 4) + flip at 32 px in one gather, normalise, '
        'channels_last, bilinear `F.interpolate` to the size, in the main process.',
        '- Baseline: `torchvision.transforms` Resize(S), RandomCrop(S, padding=4·S/32), RandomHorizontalFlip, '
        'ToTensor, Normalize on PIL images made from in-memory uint8 arrays (as `torchvision.datasets.CIFAR10` does), '
        f'`DataLoader(num_workers={a.workers}, persistent_workers=True, shuffle=True)`, '
        'workers started before timing.', '',
        '| size | ours batches/s | ours images/s | PIL + DataLoader batches/s | PIL + DataLoader images/s | speed-up |',
        '|---|---|---|---|---|---|', *rows, '',
        f'MobileNetV2 (weights=None, channels_last, AdamW) at 32 px, batch {bs}: training step {1e3 * stp:.1f} ms, '
        f'making the batch {1e3 * prep:.2f} ms: data preparation is **{100 * share:.2f}%** of a step '
        f'(median over {a.repeats} × {k} batches).', '',
        'Goals:', '',
        f'- ≥ 5× the PIL pipeline at 224 px: ' + ('not measured' if t224 is None else
            f"{'**met**' if t224 >= 5 else '**not met**'} ({t224:.1f}×)"),
        f"- data preparation < 10% of a MobileNetV2 step at 32 px: {'**met**' if share < 0.1 else '**not met**'} "
        f"({100 * share:.2f}%)",
    ]
    text = '\n'.join(lines) + '\n'
    print(text)
    atomic_write(a.out, lambda f: f.write(text))


if __name__ == '__main__':
    main()
