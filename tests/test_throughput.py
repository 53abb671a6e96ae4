import numpy as np
import pytest

from mixup_sequence import throughput
from mixup_sequence.index import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions


@pytest.fixture
def loader(tree):
    return BatchLoader(index_directory(tree), LoaderOptions(batch_size=4, image_size=(8, 8)), 0, mix=MixConfig())


@pytest.mark.parametrize("mode", ["serial", "threads"])
def test_measure_warms_up_then_times_whole_epochs(loader, mode):
    calls = []
    result = throughput.measure(
        loader, mode, 2, min_epochs=3, min_seconds=0, on_batch=lambda e, i: calls.append((e, i))
    )
    assert calls == [(e, i) for e in range(4) for i in range(len(loader))]  # epoch 0 is the warm-up
    assert result.mode == mode and result.workers == (0 if mode == "serial" else 2)
    assert result.epoch_images == 18 and len(result.epoch_seconds) == 3
    np.testing.assert_allclose(result.rates, 18 / np.array(result.epoch_seconds))
    assert result.rates.min() <= result.median <= result.rates.max()
    assert result.first_batch_s > 0


def test_measure_checks_its_arguments(loader):
    with pytest.raises(ValueError, match="mode='gpu'"):
        throughput.measure(loader, "gpu")
    with pytest.raises(ValueError, match="workers=0"):
        throughput.measure(loader, "threads", 0)
    with pytest.raises(ValueError, match="min_epochs=0"):
        throughput.measure(loader, "serial", min_epochs=0)


def test_epoch_images_counts_a_short_last_batch_and_drop_remainder(tree):
    index = index_directory(tree)
    assert throughput.epoch_images(BatchLoader(index, LoaderOptions(batch_size=4), 0)) == 18
    dropped = LoaderOptions(batch_size=4, drop_remainder=True)
    assert throughput.epoch_images(BatchLoader(index, dropped, 0)) == 16
