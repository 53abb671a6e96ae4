"""Mixing settings as functions of the epoch: the same batches in every worker mode, across a change."""

import pickle

import albumentations as A
import numpy as np
import pytest

from mixup_sequence import index_directory, mixing
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.schedules import Linear, Steps
from mixup_sequence.workers import ProcessPool, ThreadPool


def strong_then_fmix(epoch):
    """A module-level schedule (picklable): strong mixup in epoch 0, FMix in epoch 1."""
    return {"mixup_alpha": 1.0} if epoch == 0 else {"mixer_probs": {"fmix": 1.0}}


def test_mix_off_epoch_turns_mixing_off_from_that_epoch():
    config = MixConfig(mixup_alpha=0.4, label_smoothing=0.1, mix_off_epoch=2)
    assert config.at_epoch(0) == config.at_epoch(1) == MixConfig(mixup_alpha=0.4, label_smoothing=0.1)
    for epoch in (2, 3, 50):
        off = config.at_epoch(epoch)
        assert not off.enabled and off.label_smoothing == 0.1  # smoothing stays, as in timm
    plain = MixConfig()
    assert plain.at_epoch(7) is plain


def test_steps_and_linear_are_pure_functions_of_the_epoch():
    steps = Steps({3: {"mix_prob": 0.5}, 0: {"cutmix_alpha": 1.0, "mixup_alpha": 0.0}})
    assert [steps(e) for e in (0, 2, 3, 9)] == [
        {"cutmix_alpha": 1.0, "mixup_alpha": 0.0},
        {"cutmix_alpha": 1.0, "mixup_alpha": 0.0},
        {"mix_prob": 0.5},
        {"mix_prob": 0.5},
    ]
    assert Steps({2: {"mix_prob": 0.5}})(1) == {}
    ramp = Linear(2, 6, mixup_alpha=(0.0, 0.4), mix_prob=(1.0, 0.5))
    assert [ramp(e)["mixup_alpha"] for e in (0, 2, 3, 4, 6, 10)] == pytest.approx([0, 0, 0.1, 0.2, 0.4, 0.4])
    assert ramp(6) == {"mixup_alpha": 0.4, "mix_prob": 0.5} and ramp(0) == {"mixup_alpha": 0.0, "mix_prob": 1.0}
    config = MixConfig(mix_schedule=ramp)
    assert config.at_epoch(4).mixup_alpha == pytest.approx(0.2) and config.at_epoch(4).mix_schedule is None
    assert not config.at_epoch(0).enabled and config.at_epoch(3).enabled  # alpha 0 in epoch 0: unmixed
    for schedule in (steps, ramp):
        clone = pickle.loads(pickle.dumps(schedule))
        assert clone == schedule and repr(clone) == repr(schedule) and hash(clone) == hash(schedule)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: Steps({-1: {}}), TypeError, "milestones={-1: {}}"),
        (lambda: Steps([0, 1]), TypeError, "milestones=[0, 1]"),
        (lambda: Linear(3, 3, mix_prob=(0, 1)), ValueError, "start_epoch=3, end_epoch=3"),
        (lambda: Linear(0, 3), ValueError, "no fields"),
        (lambda: Linear(0, 3, mix_prob=0.5), TypeError, "mix_prob=0.5"),
        (lambda: MixConfig(mix_off_epoch=-1), ValueError, "mix_off_epoch=-1"),
        (lambda: MixConfig(mix_off_epoch=2.5), TypeError, "mix_off_epoch=2.5"),
        (lambda: MixConfig(mix_schedule="linear"), TypeError, "mix_schedule='linear'"),
        (lambda: MixConfig(mix_schedule=lambda e: [e]), TypeError, "mix_schedule(0)=[0]"),
        (lambda: MixConfig(mix_schedule=lambda e: {"alpha": 1}), ValueError, "['alpha'] are not among them"),
        (lambda: MixConfig(mix_schedule=lambda e: {"mix_off_epoch": 1}), ValueError, "['mix_off_epoch']"),
        (lambda: MixConfig(mix_schedule=Linear(0, 2, mix_prob=(0.5, 1.5))).at_epoch(2), ValueError, "mix_prob=1.5"),
    ],
)
def test_bad_schedules_say_what_was_expected(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert message in str(info.value)


def test_the_draw_takes_one_epochs_settings():
    with pytest.raises(ValueError, match=r"pass `config.at_epoch\(epoch\)`"):
        mixing.sample_mix_params(MixConfig(mix_off_epoch=3), np.random.default_rng(0), 4, (8, 8))


def test_a_schedule_that_fails_later_names_the_epoch():
    config = MixConfig(mix_schedule=Linear(0, 4, mixup_alpha=(0.2, -0.2)))  # epoch 0 is fine
    with pytest.raises(ValueError, match="mixup_alpha=-0.1") as info:
        config.at_epoch(3)
    assert "In epoch 3, with mix_schedule(3)={'mixup_alpha': -0.1" in "\n".join(info.value.__notes__)


def test_an_unpicklable_schedule_is_named_when_pickled():
    config = MixConfig(mix_schedule=lambda epoch: {})
    with pytest.raises(TypeError, match="`mix_schedule` must be picklable"):
        pickle.dumps(config)
    assert pickle.loads(pickle.dumps(MixConfig(mix_schedule=strong_then_fmix))).at_epoch(1).choices == (("fmix", 1.0),)


def make_loader(root, mix, **options):
    opts = LoaderOptions(**{"batch_size": 4, "image_size": (8, 8), **options})
    augment = A.Compose([A.HorizontalFlip(), A.Affine(rotate=(-20, 20), p=0.7)])
    return BatchLoader(index_directory(root), opts, 11, augment=augment, mix=mix)


@pytest.mark.parametrize("pairing", ["batch", "dataset"])
def test_the_plan_uses_each_epochs_settings(textured_tree, pairing):
    mix = MixConfig(mixup_alpha=0.4, label_smoothing=0.2, mix_schedule=strong_then_fmix, mix_off_epoch=2)
    loader = make_loader(textured_tree, mix, pairing=pairing)
    methods = {
        e: np.concatenate([loader.sampler.plan(e, i).params.method for i in range(len(loader))]) for e in (0, 1, 2)
    }
    assert set(methods[0].tolist()) == {mixing.MIXUP}
    assert set(methods[1].tolist()) == {mixing.FMIX}
    assert set(methods[2].tolist()) == {mixing.NONE}
    off = loader.sampler.plan(2, 0)
    assert off.partners is None and off.label_smoothing == 0.2  # no partner decoded for an unmixed epoch
    x, y = loader.load_batch(2, 0)
    np.testing.assert_allclose(np.unique(y), [0.1, 0.9], rtol=1e-6)  # one-hot, smoothed
    # Epoch 0 is what a config with the epoch's settings gives directly.
    direct = make_loader(textured_tree, MixConfig(mixup_alpha=1.0, label_smoothing=0.2), pairing=pairing)
    for i in range(len(loader)):
        np.testing.assert_array_equal(loader.load_batch(0, i)[0], direct.load_batch(0, i)[0])


def _pool(loader, mode):
    if mode == "threads":
        return ThreadPool(loader, 2, 3)
    return ProcessPool(loader, 2, 3, mode)


@pytest.mark.parametrize("mode", ["fork", "spawn", "threads"])
def test_every_mode_gives_the_same_batches_across_a_schedule_change(textured_tree, mode):
    mix = MixConfig(mixup_alpha=0.4, mix_schedule=Steps({1: {"mixer_probs": {"resizemix": 1.0}}}), mix_off_epoch=2)
    loader = make_loader(textured_tree, mix)
    pool = _pool(loader, mode)
    try:
        kinds = {}
        for epoch in (0, 1, 2):
            for i in range(len(loader)):
                x, y = pool.get(epoch, i)
                rx, ry = loader.load_batch(epoch, i)
                np.testing.assert_array_equal(x, rx)
                np.testing.assert_array_equal(y, ry)
                kinds.setdefault(epoch, []).append(y)
            # The pool prefetches into the next epoch: let that finish before the next epoch asks for it, so
            # its first batches are the ones computed while this epoch was being served.
            pool.wait_idle()
        y0, y1, y2 = (np.concatenate(kinds[e]) for e in (0, 1, 2))
        assert (y0.max(axis=1) < 1).mean() > 0.2 and (y1.max(axis=1) < 1).mean() > 0.2  # mixed
        assert set(y2.ravel().tolist()) == {0.0, 1.0}  # one-hot from epoch 2 on
    finally:
        pool.close()


def test_spawned_workers_refuse_an_unpicklable_schedule_by_name(textured_tree):
    loader = make_loader(textured_tree, MixConfig(mix_schedule=lambda epoch: {"mix_prob": 0.5}))
    pool = ProcessPool(loader, 2, 2, "spawn")
    try:
        with pytest.raises(TypeError, match="`mix_schedule` must be picklable"):
            pool.get(0, 0)
    finally:
        pool.close()
