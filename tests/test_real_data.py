"""The real CIFAR-10 data: `load_data` on the project's JPEG archive (ImageFolder layout, 50,000 + 10,000 images).

The archive lives outside the repository, in `../shared/data/cifar10-jpeg.tar.gz` next to the clone (it is never
committed). Without it the tests are skipped, except in CI (env CI=true), where its absence is a failure.
Runs in about a minute on 2 cores: extract + decode once into a temporary cache, then a second load from the cache.
"""
import os, time
from pathlib import Path

import pytest
import torch

from fusion_nb.dataset import CIFAR10_CLASSES, load_data

ARCHIVE = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'cifar10-jpeg.tar.gz'
IN_CI = os.environ.get('CI', '').lower() == 'true'


@pytest.fixture(scope='module')
def loads(tmp_path_factory):
    if not ARCHIVE.is_file():
        if IN_CI: pytest.fail(f'CI=true but the real data archive is missing: {ARCHIVE}')
        pytest.skip(f'real CIFAR-10 archive not found at {ARCHIVE} (set CI=true to make this a failure)')
    cache = tmp_path_factory.mktemp('fusion_nb_cache')
    t0 = time.perf_counter(); first = load_data(ARCHIVE, cache_dir=cache); t1 = time.perf_counter()
    second = load_data(ARCHIVE, cache_dir=cache); t2 = time.perf_counter()
    return first, t1 - t0, second, t2 - t1, cache


def test_full_dataset(loads):
    d = loads[0]
    assert d.x_train.shape == (50_000, 3, 32, 32) and d.x_test.shape == (10_000, 3, 32, 32)
    assert d.x_train.dtype == torch.uint8 and d.x_test.dtype == torch.uint8
    assert d.y_train.dtype == torch.int64 and d.y_test.dtype == torch.int64
    assert d.classes == CIFAR10_CLASSES and len(d.classes) == 10
    assert d.class_counts('train') == [5_000] * 10
    assert d.class_counts('test') == [1_000] * 10
    assert 0.4 < d.x_train[::10].float().mean().item() / 255 < 0.55  # CIFAR-10's mean pixel is about 0.47


def test_second_load_from_cache(loads):
    first, t_first, second, t_second, cache = loads
    print(f'first load (extract + decode): {t_first:.1f} s, second load (cache): {t_second:.2f} s')
    assert 'cached' not in first.source and 'cached' in second.source
    assert len(list((cache / 'decoded').glob('*.pt'))) == 1
    assert t_second < t_first / 3, (t_first, t_second)
    for k in ('x_train', 'y_train', 'x_test', 'y_test'):
        assert torch.equal(getattr(first, k), getattr(second, k)), k
