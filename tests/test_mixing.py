import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_sequence import mixing
from mixup_sequence.mixing import CUTMIX, MIXUP, NONE, MixConfig, MixParams


def solid(values, size=(6, 5), channels=3):
    """A batch of solid uint8 images, one value per image."""
    return np.stack([np.full((*size, channels), v, np.uint8) for v in values])


def params(lam, partner, method, boxes=None):
    n = len(lam)
    return MixParams(
        lam=np.asarray(lam, float),
        partner=np.asarray(partner, np.int64),
        method=np.asarray(method, np.int8),
        boxes=np.zeros((n, 4), np.int64) if boxes is None else np.asarray(boxes, np.int64),
    )


def test_identity_parameters_return_the_input():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 6, 5, 3), dtype=np.uint8)
    p = params([1.0, 1.0, 1.0, 1.0], [1, 2, 3, 0], [MIXUP, NONE, CUTMIX, MIXUP])
    x = mixing.mix_images(images, images, p, value_range=(0, 255))
    np.testing.assert_array_equal(x, images.astype(np.float32))
    y = mixing.mix_labels(np.array([0, 1, 2, 0]), np.array([0, 1, 2, 0]), p, 3)
    np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])


def test_identity_partner_returns_the_input():
    images = solid([10, 20, 30])
    p = params([0.3, 0.6, 0.1], [0, 1, 2], [MIXUP, MIXUP, MIXUP])
    x = mixing.mix_images(images, images, p, value_range=(0, 255))
    np.testing.assert_allclose(x, images.astype(np.float32), rtol=1e-6)


def test_solid_pair_mixes_to_lam_a_plus_one_minus_lam_b():
    images = solid([200, 40])
    lam = 0.3
    p = params([lam, 0.8], [1, 0], [MIXUP, MIXUP])
    x = mixing.mix_images(images, images, p, value_range=(0, 255))
    assert x.dtype == np.float32 and x.shape == (2, 6, 5, 3)
    np.testing.assert_allclose(x[0], lam * 200 + (1 - lam) * 40, rtol=1e-6)
    np.testing.assert_allclose(x[1], 0.8 * 40 + 0.2 * 200, rtol=1e-6)
    y = mixing.mix_labels(np.array([0, 2]), np.array([0, 2]), p, 3)
    np.testing.assert_allclose(y, [[0.3, 0, 0.7], [0.2, 0, 0.8]], rtol=1e-6)


def test_value_range_maps_0_and_255():
    images = solid([0, 255])
    x = mixing.mix_images(images, images, MixParams.identity(2), (-1.0, 1.0))
    np.testing.assert_allclose(x[0], -1.0)
    np.testing.assert_allclose(x[1], 1.0, rtol=1e-6)
    assert x.max() <= 1.0
    np.testing.assert_allclose(mixing.mix_images(solid([51]), solid([51]), MixParams.identity(1)), 0.2, rtol=1e-6)


def test_uint8_output_rounds_mixup_and_copies_the_rest_exactly():
    images = solid([200, 41, 7], size=(8, 10))
    box = [2, 6, 3, 8]  # 4 rows x 5 cols = 20 of 80 pixels
    p = params([0.3, 0.75, 1.0], [1, 2, 0], [MIXUP, CUTMIX, NONE], [[0, 0, 0, 0], box, [0, 0, 0, 0]])
    out = np.zeros(images.shape, np.uint8)
    x = mixing.mix_images(images, images, p, out=out)
    assert x is out
    assert (x[0] == 89).all()  # 0.3 * 200 + 0.7 * 41 = 88.7, rounded
    inside = np.zeros((8, 10), bool)
    inside[2:6, 3:8] = True
    assert (x[1][inside] == 7).all() and (x[1][~inside] == 41).all()
    np.testing.assert_array_equal(x[2], images[2])
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    for lam in (0.0, 0.1234, 0.5, 0.9, 1.0):  # within 1/2 of the float32 value, which is exact to float rounding
        row = np.zeros_like(a)
        mixing.mix_row(row, a, b, lam, MIXUP, np.zeros(4, np.int64), (0.0, 255.0))
        exact = lam * a.astype(np.float64) + (1 - lam) * b
        assert np.abs(row - exact).max() <= 0.5 + 1e-4


def test_cutmix_pastes_the_box_and_lam_is_the_kept_share():
    images = solid([10, 250], size=(8, 10))
    box = [2, 6, 3, 8]  # 4 rows x 5 cols = 20 of 80 pixels
    p = params([0.75, 1.0], [1, 0], [CUTMIX, NONE], [box, [0, 0, 0, 0]])
    x = mixing.mix_images(images, images, p, value_range=(0, 255))
    inside = np.zeros((8, 10), bool)
    inside[2:6, 3:8] = True
    assert (x[0][inside] == 250).all() and (x[0][~inside] == 10).all()
    assert (x[1] == 250).all()
    kept_share = np.mean(x[0][..., 0] == 10)
    assert kept_share == 0.75


def test_same_class_partner_keeps_a_hard_label():
    p = params([0.4, 0.6], [1, 0], [MIXUP, MIXUP])
    y = mixing.mix_labels(np.array([1, 1]), np.array([1, 1]), p, 2)
    np.testing.assert_array_equal(y, [[0, 1], [0, 1]])


def test_label_smoothing_as_keras():
    p = params([1.0], [0], [NONE])
    y = mixing.mix_labels(np.array([2]), np.array([2]), p, 4, label_smoothing=0.2)
    np.testing.assert_allclose(y, [[0.05, 0.05, 0.85, 0.05]], rtol=1e-6)


def test_cyclic_partners_have_no_fixed_point():
    rng = np.random.default_rng(1)
    for n in range(2, 40):
        partner = mixing.cyclic_partners(rng, n)
        assert sorted(partner) == list(range(n))
        assert (partner != np.arange(n)).all()
    np.testing.assert_array_equal(mixing.cyclic_partners(rng, 1), [0])


def test_disabled_config_draws_no_beta_and_mixes_nothing():
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=0.0)
    p = mixing.sample_mix_params(config, np.random.default_rng(0), 5, (8, 8))
    assert (p.method == NONE).all() and (p.lam == 1).all()


def test_batch_mode_shares_lam_and_method():
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mix_mode="batch")
    for seed in range(20):
        p = mixing.sample_mix_params(config, np.random.default_rng(seed), 6, (16, 16))
        assert len(set(p.method.tolist())) == 1 and len(set(p.lam.tolist())) == 1


def test_switch_prob_extremes():
    rng = np.random.default_rng(3)
    only_cut = mixing.sample_mix_params(MixConfig(1.0, 1.0, switch_prob=1.0), rng, 50, (8, 8))
    only_mix = mixing.sample_mix_params(MixConfig(1.0, 1.0, switch_prob=0.0), rng, 50, (8, 8))
    assert (only_cut.method == CUTMIX).all() and (only_mix.method == MIXUP).all()
    none = mixing.sample_mix_params(MixConfig(1.0, 1.0, mix_prob=0.0), rng, 50, (8, 8))
    assert (none.method == NONE).all()


def test_sample_params_golden():
    # Pins the sampling rule for a fixed generator; it changes only on purpose
    # (it would change every user's batches for a given seed).
    config = MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0, switch_prob=0.5)
    p = mixing.sample_mix_params(config, np.random.default_rng(123), 4, (10, 10))
    assert p.partner.tolist() == GOLDEN["partner"]
    assert p.method.tolist() == GOLDEN["method"]
    np.testing.assert_allclose(p.lam, GOLDEN["lam"], rtol=1e-12)
    assert p.boxes.tolist() == GOLDEN["boxes"]


GOLDEN = {
    "partner": [2, 0, 3, 1],
    "method": [MIXUP, CUTMIX, MIXUP, MIXUP],
    "lam": [0.863864044547957, 0.98, 0.6004917681689166, 0.9696791047611568],
    "boxes": [[0, 0, 0, 0], [6, 8, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]],
}


@pytest.mark.parametrize("name", ["mixup_alpha", "cutmix_alpha"])
def test_negative_alpha_rejected(name):
    with pytest.raises(ValueError, match=f"Received: {name}=-1"):
        MixConfig(**{name: -1})


@pytest.mark.parametrize("name", ["switch_prob", "mix_prob", "label_smoothing"])
def test_probability_out_of_range_rejected(name):
    with pytest.raises(ValueError, match=f"Received: {name}=1.5"):
        MixConfig(**{name: 1.5})


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 9),
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    mixup_alpha=st.sampled_from([0.0, 0.1, 1.0, 4.0]),
    cutmix_alpha=st.sampled_from([0.0, 0.5, 1.0]),
    switch_prob=st.floats(0, 1),
    mix_prob=st.floats(0, 1),
    mix_mode=st.sampled_from(["sample", "batch"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_labels_match_pixel_shares(
    batch, height, width, mixup_alpha, cutmix_alpha, switch_prob, mix_prob, mix_mode, seed
):
    rng = np.random.default_rng(seed)
    config = MixConfig(mixup_alpha, cutmix_alpha, switch_prob, mix_prob, mix_mode=mix_mode)
    p = mixing.sample_mix_params(config, rng, batch, (height, width))
    # Image r is solid 0 or 255 by the parity of its class, with 2 classes; row 0 is class 0.
    labels = np.arange(batch) % 2
    images = solid((labels * 255).tolist(), size=(height, width), channels=1)
    x = mixing.mix_images(images, images, p)
    y = mixing.mix_labels(labels, labels, p, 2)
    assert ((x >= 0) & (x <= 1)).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    assert ((y >= 0) & (y <= 1)).all()
    # The mean brightness of a sample is the share of it that came from class 1.
    np.testing.assert_allclose(x.reshape(batch, -1).mean(axis=1), y[:, 1], atol=1e-5)
