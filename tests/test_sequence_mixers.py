"""`MixupSequence`'s mixer and schedule arguments: checked up front, and served alike in every worker mode."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mixup_sequence import MixConfig, MixupSequence  # noqa: E402
from mixup_sequence.schedules import Steps  # noqa: E402

pytestmark = pytest.mark.keras


@pytest.mark.parametrize(
    "kwargs, error, received",
    [
        ({"mixer_probs": {"fmix": 0.3}}, ValueError, "mixer_probs={'fmix': 0.3}"),
        ({"mixer_probs": {"cutmix": 1.0}}, ValueError, "cutmix_alpha=0.0"),
        ({"resizemix_scale": (0.5, 2)}, ValueError, "resizemix_scale=(0.5, 2)"),
        ({"fmix_alpha": -2}, ValueError, "fmix_alpha=-2"),
        ({"fmix_decay_power": "3"}, TypeError, "fmix_decay_power='3'"),
        ({"mix_off_epoch": -1}, ValueError, "mix_off_epoch=-1"),
        ({"mix_schedule": {"mix_prob": 0.5}}, TypeError, "mix_schedule={'mix_prob': 0.5}"),
    ],
)
def test_bad_mixing_arguments_fail_before_touching_the_disk(kwargs, error, received):
    with pytest.raises(error) as info:
        MixupSequence("/definitely/not/a/folder", **kwargs)
    assert received in str(info.value)


def test_the_defaults_are_mixconfigs(tree):
    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=1)
    assert seq.mix_config == MixConfig()


@pytest.mark.parametrize("workers", [{"workers": 2}, {"workers": 2, "use_multiprocessing": True}])
def test_a_plain_loop_sees_the_schedule_in_every_mode(tree, workers):
    arguments = {
        "batch_size": 4,
        "image_size": (8, 8),
        "seed": 3,
        "mixer_probs": {"mixup": 0.5, "fmix": 0.5},
        "mix_schedule": Steps({1: {"mixer_probs": {"resizemix": 1.0}}}),
        "mix_off_epoch": 2,
    }
    serial = MixupSequence(tree, **arguments)
    pooled = MixupSequence(tree, **arguments, **workers)
    assert pooled.mix_config == serial.mix_config and pooled.mix_config.mix_off_epoch == 2
    labels = []
    for _ in range(3):
        for i in range(len(serial)):
            (x, y), (px, py) = serial[i], pooled[i]
            np.testing.assert_array_equal(px, x)
            np.testing.assert_array_equal(py, y)
            labels.append((serial.epoch, y))
        serial.on_epoch_end()
        pooled.on_epoch_end()
    pooled.close()
    for epoch in (0, 1):
        assert any((y.max(axis=1) < 1).any() for e, y in labels if e == epoch)
    assert all(set(np.unique(y).tolist()) <= {0.0, 1.0} for e, y in labels if e == 2)
