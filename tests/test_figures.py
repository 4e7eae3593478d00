"""Every figure the package draws, measured as the site shows it: no text under 9 px in the 678-px column.

A figure's PNG on the page is what the notebook saved: the figure at its dpi (100), cropped to its drawn content
(`bbox_inches='tight'`, 0.1 in of padding). The page shows it at its own width, or shrunk to the 678-px column when
wider, so a text of `s` pt is `s × dpi/72 × min(1, 678 / PNG width)` px there. Each figure is drawn with small inputs
(synthetic images, random-weight models, the committed result files), in a few seconds on a CPU.
"""
import json
from unittest import mock

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from conftest import ROOT  # noqa: E402

COLUMN = 678     # px: the site's text column
MIN_PX = 9       # px: the smallest text a reader should have to read there
DPI = 100        # the notebooks' figure dpi (matplotlib's default; a 6.8-in figure fills the column)
PAD = 0.1        # in: the padding `bbox_inches='tight'` adds on each side


def measure(fig, column: int = COLUMN) -> tuple[list[Text], float]:
    """Draw `fig` once: the texts it draws (visible, not empty; tick labels outside the view are not drawn) and how
    much the page shrinks its PNG (saved tight at the figure's dpi) to fit the column (1 if it fits)."""
    drawn, draw = [], Text.draw
    def record(self, renderer):
        if self.get_visible() and self.get_text().strip(): drawn.append(self)
        return draw(self, renderer)
    with mock.patch.object(Text, 'draw', record): fig.canvas.draw()
    width_px = (fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * PAD) * fig.dpi
    return drawn, min(1.0, column / width_px)


def page_scale(fig, column: int = COLUMN) -> float:
    "How much the page shrinks `fig` to fit the column; 1 if it fits."
    return measure(fig, column)[1]


def small_texts(fig, column: int = COLUMN, min_px: float = MIN_PX, measured=None) -> list[tuple[str, float, float]]:
    "`(text, size in pt, size in px on the page)` of every text of `fig` that the column shows under `min_px`."
    texts, scale = measured or measure(fig, column)
    px = lambda t: t.get_fontsize() * fig.dpi / 72 * scale
    return [(t.get_text(), t.get_fontsize(), px(t)) for t in texts if px(t) < min_px - 1e-9]


def _fully_outside(legend, ax) -> bool:
    "Whether the legend sits outside its axes (placed with bbox_to_anchor beyond them)."
    lb, ab = legend.get_window_extent(), ax.get_window_extent()
    return lb.x0 >= ab.x1 or lb.x1 <= ab.x0 or lb.y0 >= ab.y1 or lb.y1 <= ab.y0


def legend_overlaps(fig, draw: bool = True) -> list[str]:
    "Legends inside their axes that cover plotted data: a line (sampled along its segments) or a marker under them."
    if draw: fig.canvas.draw()
    out = []
    for ax in fig.axes:
        lg = ax.get_legend()
        if lg is None or not lg.get_visible() or _fully_outside(lg, ax): continue
        box = lg.get_window_extent()
        for line in ax.get_lines():
            xy = np.asarray(line.get_xydata(), dtype=float)
            xy = xy[np.isfinite(xy).all(1)]
            if not len(xy) or not line.get_visible(): continue
            if len(xy) > 1 and line.get_linestyle() not in ('None', ''):     # points along each segment
                t = np.linspace(0, 1, 20)[:, None, None]
                xy = (xy[:-1] * (1 - t) + xy[1:] * t).reshape(-1, 2)
            pts = line.get_transform().transform(xy)
            inside = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1))
            if inside.any(): out.append(f'legend of axes {ax.get_title()!r} covers {line.get_label()!r}')
    return out


# ---------------------------------------------------------------------------------------------------------------------
# every figure the package draws, with small inputs

@pytest.fixture(autouse=True, scope='module')
def one_thread():
    "Tiny tensors: more threads only wait for each other (and for the other tests running beside these)."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _results(run):
    from fusion_nb.results import load_results
    return load_results(ROOT / 'results' / run)


def _samples(n_per_class=8):
    from fusion_nb.dataset import make_synthetic, show_samples
    return show_samples(make_synthetic(200, 50), n_per_class=n_per_class)


def _bn_drift():
    import torchvision
    from fusion_nb.backbones import bn_drift, make_backbone, plot_bn_drift
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v2(weights=None)
    ours = make_backbone('mobilenetv2', weights=None).freeze(0)
    batches = [torch.randn(2, 3, 32, 32) for _ in range(4)]
    return plot_bn_drift({'naive freeze, train()': bn_drift(net, batches), 'freeze(0), train()': bn_drift(ours, batches)},
                         show=(0, 26, -1))


def _trainable(kr, km):
    from fusion_nb.backbones import plot_trainable
    return plot_trainable(kr, km)


def _gates():
    from fusion_nb.dataset import CIFAR10_CLASSES
    from fusion_nb.fusion import plot_gate_by_class
    return plot_gate_by_class(torch.linspace(0.2, 0.8, 10), CIFAR10_CLASSES)


def _pipeline(setup):
    from fusion_nb.fusion import plot_pipeline
    return plot_pipeline(setup)


def _lr_schedules():
    from fusion_nb.training import TrainConfig, plot_lr_schedules
    return plot_lr_schedules({'constant 1e-4 (the case study)': TrainConfig(epochs=3),
                              'one-cycle 1e-3': TrainConfig(epochs=3, lr=1e-3, schedule='onecycle')})


def _lr_sweep():
    from fusion_nb.training import plot_lr_sweep
    path = ROOT / 'results' / 'lr' / 'results.json'
    if path.exists(): return plot_lr_sweep(str(path))
    lrs, epochs = (1e-4, 1e-3, 1e-2), (1, 2, 3)                     # a sweep shaped like tools/lr_sweep.py's
    runs = [dict(init=i, lr=lr, seed=0, history=[dict(epoch=e, val_acc=40 + 10 * e - 5 * k) for e in epochs])
            for i in ('pretrained', 'scratch') for k, lr in enumerate(lrs)]
    summary = {i: dict(picked_lr=1e-3, by_lr={str(lr): dict(lr=lr, val_acc=60.0 - k, test_acc=59.0 - k, n_seeds=1)
                                              for k, lr in enumerate(lrs)}) for i in ('pretrained', 'scratch')}
    return plot_lr_sweep(dict(data=dict(target=dict(classes=['dog', 'frog', 'horse', 'ship', 'truck'])), runs=runs,
                              summary=summary))


def _history():
    from fusion_nb.training import plot_history
    h = [dict(epoch=e, train_loss=2 / e, val_loss=2.1 / e, train_acc=30 + 10 * e, val_acc=28 + 10 * e) for e in (1, 2, 3)]
    return plot_history(h, chance=10)


def _predictions():
    from fusion_nb.dataset import CIFAR10_CLASSES, make_synthetic
    from fusion_nb.results import plot_predictions
    d = make_synthetic(20, 20)
    y = d.y_test[:16].numpy()
    return plot_predictions(d.x_test[:16], y, (y + (np.arange(16) % 5 == 0)) % 10, CIFAR10_CLASSES,
                            title='fusion_finetune')


def _confusion():
    from fusion_nb.dataset import CIFAR10_CLASSES
    from fusion_nb.results import plot_confusion
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 30)
    p = np.where(rng.random(300) < 0.7, y, rng.integers(0, 10, 300))
    return plot_confusion(y, p, CIFAR10_CLASSES, title='results/gpu, fusion_finetune, test set')


def _gradcam():
    from fusion_nb.dataset import CIFAR10_CLASSES, make_synthetic
    from fusion_nb.fusion import architecture
    from fusion_nb.gradcam import gradcam_figure
    torch.manual_seed(0)
    models = {'mobilenetv2': architecture('mobilenetv2'), 'fusion_finetune': architecture('fusion_finetune')}
    d = make_synthetic(10, 10, size=64)
    return gradcam_figure(models, d.x_test[:2], d.y_test[:2], CIFAR10_CLASSES, img_size=64)


def _comparisons():
    from fusion_nb.transfer import plot_comparisons
    return plot_comparisons(json.loads((ROOT / 'results' / 'transfer' / 'results.json').read_text()))


def _sweep():
    from fusion_nb.unfreeze import load_sweep
    return load_sweep(ROOT / 'results' / 'cpu' / 'unfreeze_sweep.json')


def _plot_sweep():
    from fusion_nb.unfreeze import plot_sweep
    return plot_sweep(_sweep(), 3, 3)


def _unfreeze(kr, km, with_sweep=True):
    from fusion_nb.unfreeze import plot_unfreeze
    return plot_unfreeze(kr, km, _sweep() if with_sweep else None)


def _training():
    from fusion_nb.unfreeze import plot_training
    pts = [dict(round=r, train_loss=2.0 / r, val_acc=30.0 + 5 * r) for r in (1, 2, 3)]
    return plot_training(pts, 'ResNet50 17, MobileNetV2 19 trainable blocks: fit() on synthetic images')


def _curves(run):
    from fusion_nb.results import plot_curves
    return plot_curves(_results(run))


def _member_points():
    from fusion_nb.results import plot_member_points
    return plot_member_points(_results('cpu'))


# name → (notebook that draws it, how to draw it)
FIGURES = {
    'show_samples (Fig. 1)': ('01_dataset', _samples),
    'plot_bn_drift': ('02_backbones', _bn_drift),
    'plot_trainable(3, 3)': ('02_backbones', lambda: _trainable(3, 3)),
    'plot_trainable(17, 19)': ('02_backbones', lambda: _trainable(17, 19)),
    'plot_gate_by_class': ('03_fusion', _gates),
    'plot_pipeline(fusion_finetune) (Fig. 2)': ('03_fusion', lambda: _pipeline('fusion_finetune')),
    'plot_pipeline(fusion_gated_frozen)': ('03_fusion', lambda: _pipeline('fusion_gated_frozen')),
    'plot_lr_schedules': ('04_training', _lr_schedules),
    'plot_lr_sweep': ('04_training', _lr_sweep),
    'plot_history': ('04_training', _history),
    'plot_sweep': ('04b_unfreeze', _plot_sweep),
    'plot_unfreeze(3, 3)': ('04b_unfreeze', lambda: _unfreeze(3, 3)),
    'plot_unfreeze(17, 19)': ('04b_unfreeze', lambda: _unfreeze(17, 19)),
    'plot_unfreeze, no sweep': ('04b_unfreeze', lambda: _unfreeze(1, 2, with_sweep=False)),
    'plot_training': ('04b_unfreeze', _training),
    'plot_curves(results/cpu) (Fig. 3)': ('05_results', lambda: _curves('cpu')),
    'plot_curves(results/gpu) (Fig. 3)': ('05_results', lambda: _curves('gpu')),
    'plot_predictions (Fig. 4)': ('05_results', _predictions),
    'plot_confusion': ('05_results', _confusion),
    'plot_member_points': ('05_results', _member_points),
    'gradcam_figure (Fig. 5)': ('06_gradcam', _gradcam),
    'plot_comparisons(results/transfer)': ('09_transfer', _comparisons),
}

# Figures known to fail, each with its reason: the test expects them to fail (strict), so a fixed one fails here until
# it is taken off this list.
KNOWN_SMALL: dict[str, str] = {}


def _draw(name):
    plt.close('all')
    with matplotlib.rc_context({'figure.dpi': DPI}):
        return FIGURES[name][1]()


def problems(name, notebook, fig) -> list[str]:
    "What a reader trips over in `fig` (drawn in `notebook`): each too-small text, each legend over the data."
    texts, scale = measured = measure(fig)
    small = small_texts(fig, measured=measured)
    out = [f'{name} ({notebook}): {c}' for c in legend_overlaps(fig, draw=False)]
    if small:
        seen = list(dict.fromkeys(small))              # each (text, size) once: a heatmap repeats its numbers
        rows = '\n'.join(f'  {t!r}: {pt:g} pt = {px:.1f} px' for t, pt, px in seen[:12])
        more = f'\n  … and {len(seen) - 12} more' if len(seen) > 12 else ''
        out.insert(0, f'{name} ({notebook}): {len(small)} text(s) under {MIN_PX} px in the {COLUMN}-px column (the '
                      f'figure is shown at {100 * scale:.0f}% of its size):\n{rows}{more}')
    return out


@pytest.mark.parametrize('name', [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_SMALL[n], strict=True))
                                  if n in KNOWN_SMALL else n for n in FIGURES])
def test_figure_reads_in_the_column(name):
    "No text under 9 px in the column, and no legend inside the axes over the data."
    found = problems(name, FIGURES[name][0], _draw(name))
    plt.close('all')
    if found: pytest.fail('\n'.join(found), pytrace=False)


def test_the_measure_can_fail():
    "A 6-pt text on a column-wide figure fails; 10-pt text passes there but fails on a 14-in figure, shrunk to 59%."
    with matplotlib.rc_context({'figure.dpi': DPI}):
        fig, ax = plt.subplots(figsize=(6.8, 3))
        ax.set_title('fine', fontsize=10); ax.text(0.5, 0.5, 'planted', fontsize=6)
        small = small_texts(fig)
        assert [t for t, _, _ in small] == ['planted'], small
        assert small[0][2] == pytest.approx(6 * DPI / 72 * page_scale(fig))
        found = problems('a planted figure', 'nowhere', fig)        # the message names the figure and the text
        assert len(found) == 1 and found[0].startswith('a planted figure (nowhere): 1 text(s) under 9 px'), found
        assert "'planted': 6 pt = 8.3 px" in found[0], found
        fig, ax = plt.subplots(figsize=(14, 3))
        ax.set_title('a title of 10 pt', fontsize=10)
        assert 'a title of 10 pt' in [t for t, _, _ in small_texts(fig)]
        assert page_scale(fig) < 0.65 and 10 * DPI / 72 * page_scale(fig) < MIN_PX
        # a legend over the data is found; one beside the axes is not
        fig, ax = plt.subplots(figsize=(6.8, 3))
        ax.plot([0, 1], [0, 1], label='diagonal'); ax.legend(loc='upper left', bbox_to_anchor=(0.4, 0.6))
        assert legend_overlaps(fig)
        ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1))
        assert not legend_overlaps(fig)
    plt.close('all')


def figure_functions() -> set[str]:
    "The public functions of fusion_nb that make a figure themselves (call plt.subplots or plt.figure)."
    import ast
    out = set()
    for path in sorted((ROOT / 'fusion_nb').glob('*.py')):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef) or node.name.startswith('_'): continue
            calls = {f'{c.func.value.id}.{c.func.attr}' for c in ast.walk(node) if isinstance(c, ast.Call)
                     and isinstance(c.func, ast.Attribute) and isinstance(c.func.value, ast.Name)}
            if calls & {'plt.subplots', 'plt.figure'}: out.add(node.name)
    return out


def test_every_figure_function_is_measured():
    "A new figure function is drawn here too: add it to FIGURES with small inputs."
    drawn = {n.split('(')[0].split(',')[0].split(' ')[0] for n in FIGURES}
    assert figure_functions() - drawn == set(), f'not drawn by tests/test_figures.py: {figure_functions() - drawn}'
    assert {'show_samples', 'plot_bn_drift', 'gradcam_figure', 'plot_comparisons'} <= figure_functions()
