import threading

import albumentations as A
import numpy as np
import pytest

from mixup_sequence import _rng
from mixup_sequence.augment import Augmenter


def image(seed=0, size=(16, 16)):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_sibling_transforms_draw_independently():
    # Under Albumentations' own set_random_seed both flips would always agree.
    augmenter = Augmenter(A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]))
    img = image()
    outcomes = set()
    for key in range(64):
        out = augmenter(img, _rng.generator(7, _rng.AUGMENT, 0, key))
        h = np.array_equal(out, img[:, ::-1]) or np.array_equal(out, img[::-1, ::-1])
        v = np.array_equal(out, img[::-1]) or np.array_equal(out, img[::-1, ::-1])
        outcomes.add((h, v))
    assert outcomes == {(False, False), (True, False), (False, True), (True, True)}


def test_same_key_same_result_different_key_differs():
    augmenter = Augmenter(A.Compose([A.Affine(rotate=(-30, 30), p=1.0), A.RandomBrightnessContrast(p=1.0)]))
    img = image()
    a = augmenter(img, _rng.generator(1, _rng.AUGMENT, 2, 3))
    b = augmenter(img, _rng.generator(1, _rng.AUGMENT, 2, 3))
    c = augmenter(img, _rng.generator(1, _rng.AUGMENT, 3, 3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_threads_never_share_pipeline_state():
    augmenter = Augmenter(A.Compose([A.Affine(rotate=(-30, 30), p=1.0), A.GaussNoise(p=1.0)]))
    img = image()
    expected = [augmenter(img, _rng.generator(5, _rng.AUGMENT, 0, k)) for k in range(40)]
    results = {}

    def work(tid):
        for rep in range(3):
            for k in range(40):
                results[(tid, rep, k)] = augmenter(img, _rng.generator(5, _rng.AUGMENT, 0, k))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (_, _, k), out in results.items():
        np.testing.assert_array_equal(out, expected[k])


def test_plain_callable_with_and_without_rng():
    img = image()
    invert = Augmenter(lambda x: 255 - x)
    np.testing.assert_array_equal(invert(img, np.random.default_rng(0)), 255 - img)

    def noisy(x, rng):
        return np.clip(x.astype(int) + rng.integers(-5, 6, x.shape), 0, 255).astype(np.uint8)

    seeded = Augmenter(noisy)
    a = seeded(img, _rng.generator(0, 1, 0, 4))
    b = seeded(img, _rng.generator(0, 1, 0, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, img)


def test_grayscale_and_2d_output():
    gray = image()[:, :, :1]
    out = Augmenter(lambda x: x[:, :, 0])(gray, np.random.default_rng(0))
    assert out.shape == gray.shape


@pytest.mark.parametrize(
    "fn, match",
    [(lambda x: x.astype(np.float32), "float32"), (lambda x: x[:8], r"\(8, 16, 3\)")],
)
def test_bad_output_is_explained(fn, match):
    with pytest.raises(ValueError, match=match):
        Augmenter(fn)(image(), np.random.default_rng(0))


def test_not_callable():
    with pytest.raises(TypeError, match="Received: augment=3"):
        Augmenter(3)
