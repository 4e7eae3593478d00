"""The real CIFAR-10 data: `load_data` on the project's JPEG archive (ImageFolder layout, 50,000 + 10,000 images).

The data: $FUSION_NB_DATA, or the archive CI puts beside the clone (conftest's `real_data`; it is never committed).
Without either the tests are skipped, with a reason that says how to run them; on CI (CI=true) they fail.
Runs in about a minute on 2 cores: extract + decode once into a temporary cache, then a second load from the cache.
"""
import os, time
from pathlib import Path

import pytest
import torch

from fusion_nb.dataset import CIFAR10_CLASSES, load_data
from conftest import real_data

pytestmark = pytest.mark.slow          # extracts and decodes the real CIFAR-10



@pytest.fixture(scope='module')
def loads(tmp_path_factory):
    src = real_data()
    cache = tmp_path_factory.mktemp('fusion_nb_cache')
    t0 = time.perf_counter(); first = load_data(src, cache_dir=cache); t1 = time.perf_counter()
    second = load_data(src, cache_dir=cache); t2 = time.perf_counter()
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
    if first.source.startswith('cifar-10-batches-py'):
        pytest.skip('pickled CIFAR-10 batches need no decoding, so no cache')
    print(f'first load (extract + decode): {t_first:.1f} s, second load (cache): {t_second:.2f} s')
    assert 'cached' not in first.source and 'cached' in second.source
    assert len(list((cache / 'decoded').glob('*.pt'))) == 1
    assert t_second < t_first / 3, (t_first, t_second)
    for k in ('x_train', 'y_train', 'x_test', 'y_test'):
        assert torch.equal(getattr(first, k), getattr(second, k)), k
