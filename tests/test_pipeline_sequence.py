"""The sequences' `augment_input`, `mean`/`std`, `balance` and `sample_weights` arguments."""

import albumentations as A
import numpy as np
import pytest
from test_augment_input import write_photo

keras = pytest.importorskip("keras")

from mixup_sequence import ImageFolderSequence, MixupSequence  # noqa: E402

pytestmark = pytest.mark.keras

SIZE = (24, 32)


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    for c, name in enumerate(("a", "b", "c")):
        for k, size in enumerate([(120, 160), (200, 150), (60, 80), (300, 400)][: 4 - c]):
            write_photo(root / name / f"{k}.jpg", size, seed=10 * c + k)
    return root


def crop():
    return A.Compose([A.RandomResizedCrop(size=SIZE), A.HorizontalFlip()])


@pytest.mark.parametrize(
    "kwargs, error, received",
    [
        ({"augment_input": "raw"}, ValueError, "augment_input='raw'"),
        ({"augment_input": "decoded"}, ValueError, "augment=None"),
        ({"mean": (0.5, 0.5)}, ValueError, "mean=(0.5, 0.5)"),
        ({"std": 0}, ValueError, "std=0"),
        ({"mean": 0.5, "dtype": "uint8"}, ValueError, "dtype='uint8', mean=0.5"),
        ({"balance": "label", "shuffle": True}, ValueError, "balance='label'"),
        ({"sample_weights": [-1.0], "shuffle": True}, ValueError, "sample_weights=[-1.]"),
        ({"balance": "class", "shuffle": False}, ValueError, "shuffle=False, balance='class'"),
    ],
)
@pytest.mark.parametrize("cls", [MixupSequence, ImageFolderSequence])
def test_bad_arguments_fail_before_touching_the_disk(cls, kwargs, error, received):
    with pytest.raises(error) as info:
        cls("/definitely/not/a/folder", **kwargs)
    assert f"Received: {received}" in str(info.value)


def test_image_folder_sequence_needs_shuffle_for_balance(photos):
    with pytest.raises(ValueError, match="need shuffle=True"):
        ImageFolderSequence(photos, balance="class")
    seq = ImageFolderSequence(photos, balance="class", shuffle=True, batch_size=3, image_size=(8, 8), seed=1)
    assert len(seq.batch_samples(0)) == 3


@pytest.mark.parametrize(
    "mode",
    [
        {},
        {"workers": 2},
        {"workers": 2, "use_multiprocessing": True},
        {"workers": 2, "use_multiprocessing": True, "start_method": "spawn"},
    ],
)
def test_every_worker_mode_serves_the_serial_batches(photos, mode):
    kwargs = dict(
        batch_size=4,
        image_size=SIZE,
        augment=crop(),
        augment_input="decoded",
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        balance="class",
        mixup_alpha=0.4,
        cutmix_alpha=1.0,
        seed=13,
    )
    serial = MixupSequence(photos, **kwargs)
    seq = MixupSequence(photos, **kwargs, **mode)
    try:
        for e in (0, 1):
            serial.set_epoch(e)
            seq.set_epoch(e)
            for i in range(len(serial)):
                x, y = seq[i]
                assert x.shape == (len(y), *SIZE, 3) and x.dtype == np.float32
                np.testing.assert_array_equal(x, serial[i][0])
                np.testing.assert_array_equal(y, serial[i][1])
    finally:
        seq.close()


def test_a_decoded_cache_serves_worker_processes_the_uncached_batches(photos, tmp_path):
    kwargs = dict(batch_size=4, image_size=SIZE, augment=crop(), augment_input="decoded", seed=2, cutmix_alpha=1.0)
    plain = MixupSequence(photos, **kwargs)
    cached = MixupSequence(photos, cache=tmp_path / "c", workers=2, use_multiprocessing=True, **kwargs)
    try:
        assert cached.cache.augment_input == "decoded"
        for e in (0, 1):  # filling, then reading
            plain.set_epoch(e)
            cached.set_epoch(e)
            for i in range(len(plain)):
                np.testing.assert_array_equal(cached[i][0], plain[i][0])
        summary = cached.build_cache(progress=False)
        assert (summary.written, summary.present) == (0, cached.samples)
    finally:
        cached.close()


def test_sample_weights_align_with_the_subsets_filepaths(photos):
    kwargs = dict(batch_size=2, image_size=(8, 8), validation_split=0.34, subset="training", seed=4)
    probe = MixupSequence(photos, **kwargs)
    n = probe.samples
    with pytest.raises(ValueError, match=rf"\({n} samples here, after any `validation_split`\).*length {n + 1}"):
        MixupSequence(photos, sample_weights=np.ones(n + 1), **kwargs)
    weights = np.zeros(n)
    weights[-2:] = 1.0
    seq = MixupSequence(photos, sample_weights=weights, **kwargs)
    served = np.concatenate([seq.batch_samples(i, epoch=e) for e in range(5) for i in range(len(seq))])
    assert set(served.tolist()) == {n - 2, n - 1} and len(served) == 5 * n
