"""`mean` and `std`: x = (x - mean) / std on the float32 batch, after mixing."""

import albumentations as A
import numpy as np
import pytest
from conftest import COLOURS

from mixup_sequence import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.normalize import Normalizer
from mixup_sequence.options import LoaderOptions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def make_loader(root, mix=None, **overrides):
    opts = LoaderOptions(**{"batch_size": 4, "image_size": (8, 8), "shuffle": False, **overrides})
    return BatchLoader(index_directory(root), opts, 5, mix=mix)


def test_golden_values():
    # Hand-picked values whose results are exact in float32.
    x = np.array([[[[0.0, 0.5, 1.0], [1.0, 0.25, 0.0]]]], dtype=np.float32)  # (1, 1, 2, 3)
    Normalizer((0.5, 0.25, 0.5), (0.25, 0.5, 2.0))(x)
    np.testing.assert_array_equal(x, [[[[-2.0, 0.5, 0.25], [2.0, 0.0, -0.25]]]])


def test_the_rounding_is_numpys_subtract_then_divide():
    x = np.random.default_rng(0).random((3, 5, 7, 3), dtype=np.float32)
    expected = (x - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
    np.testing.assert_array_equal(Normalizer(IMAGENET_MEAN, IMAGENET_STD)(x.copy()), expected)
    strided = np.random.default_rng(1).random((3, 5, 14, 3), dtype=np.float32)[:, :, ::2]  # not contiguous
    expected = (strided - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
    np.testing.assert_array_equal(Normalizer(IMAGENET_MEAN, IMAGENET_STD)(strided), expected)


def test_solid_images_come_out_at_their_normalized_colour(tree):
    # With value_range (0, 1), a channel at 255 is 1.0 and one at 0 is 0.0 before normalization.
    loader = make_loader(tree, mean=(0.5, 0.25, 0.5), std=(0.25, 0.5, 2.0))
    x, _ = loader.load_batch(0, 0)
    assert loader.index.class_names[0] == "cat" and COLOURS["cat"] == (255, 0, 0)
    np.testing.assert_array_equal(x[0], np.broadcast_to(np.float32([2.0, -0.5, -0.25]), (8, 8, 3)))


def test_imagenet_statistics_give_what_albumentations_normalize_gives(textured_tree):
    plain = make_loader(textured_tree)
    normalized = make_loader(textured_tree, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    images = np.stack([plain.reader.read(k, 0, 0) for k in plain.batch_samples(0, 0)])
    expected = np.stack([A.Normalize(p=1.0)(image=image)["image"] for image in images])
    np.testing.assert_allclose(normalized.load_batch(0, 0)[0], expected, rtol=0, atol=2e-6)


def test_applied_after_mixing_in_the_units_of_value_range(textured_tree):
    mix = MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0)
    mean, std = (120.0, 110.0, 100.0), (60.0, 55.0, 50.0)
    plain = make_loader(textured_tree, mix=mix, value_range=(0, 255))
    normalized = make_loader(textured_tree, mix=mix, value_range=(0, 255), mean=mean, std=std)
    for i in range(len(plain)):
        x, y = plain.load_batch(1, i)
        got_x, got_y = normalized.load_batch(1, i)
        np.testing.assert_array_equal(got_x, (x - np.float32(mean)) / np.float32(std))
        np.testing.assert_array_equal(got_y, y)
    out = (np.empty((4, 8, 8, 3), np.float32), np.empty((4, 2), np.float32))  # as the workers write
    x, _ = normalized.load_batch(1, 0, out=out)
    np.testing.assert_array_equal(x, normalized.load_batch(1, 0)[0])
    assert np.shares_memory(x, out[0])


def test_one_number_serves_every_channel_and_one_alone_leaves_the_other_neutral(tree):
    options = LoaderOptions(mean=0.5)
    assert (options.mean, options.std) == ((0.5, 0.5, 0.5), (1.0, 1.0, 1.0))
    options = LoaderOptions(std=np.array([2.0, 4.0, 8.0]))
    assert (options.mean, options.std) == ((0.0, 0.0, 0.0), (2.0, 4.0, 8.0))
    gray = LoaderOptions(color_mode="grayscale", mean=[0.5], std=0.25)
    assert (gray.mean, gray.std) == ((0.5,), (0.25,))
    x, _ = make_loader(tree, color_mode="grayscale", mean=0.5, std=0.25).load_batch(0, 0)
    assert x.shape[-1] == 1 and np.isfinite(x).all()
    assert LoaderOptions().mean is None and LoaderOptions().std is None


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"mean": (0.5, 0.5)}, "mean=(0.5, 0.5)"),
        ({"std": (0.2, 0.0, 0.2)}, "std=(0.2, 0.0, 0.2)"),
        ({"std": -1.0}, "std=-1.0"),
        ({"mean": float("nan")}, "mean=nan"),
        ({"mean": "imagenet"}, "mean='imagenet'"),
        ({"std": True}, "std=True"),
        ({"mean": (0.5, 0.5, 0.5), "color_mode": "grayscale"}, "mean=(0.5, 0.5, 0.5)"),
    ],
)
def test_bad_statistics_are_refused(kwargs, received):
    with pytest.raises(ValueError) as info:
        LoaderOptions(**kwargs)
    assert f"Received: {received}" in str(info.value)


def test_refused_with_uint8():
    with pytest.raises(ValueError, match=r"normalize in the model.*Received: dtype='uint8', mean=0.5, std=None"):
        LoaderOptions(dtype="uint8", mean=0.5)
