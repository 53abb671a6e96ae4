"""The mixer registry, ResizeMix and FMix: exact pixels on hand-made parameters, labels that match pixels."""

import dataclasses
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_sequence import index_directory, mixers, mixing
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixers import fmix, resizemix
from mixup_sequence.mixing import CUTMIX, FMIX, MIXUP, NONE, RESIZEMIX, MixConfig, MixParams
from mixup_sequence.options import LoaderOptions

# Pure primaries, one per class: the mean of channel c is the share of the image from class c, whatever the mixer.
PRIMARIES = np.eye(3, dtype=np.uint8) * 255
# Each mixer alone, as a user turns it on.
ALONE = {
    "mixup": MixConfig(mixup_alpha=1.0),
    "cutmix": MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0),
    "resizemix": MixConfig(mixer_probs={"resizemix": 1.0}),
    "fmix": MixConfig(mixer_probs={"fmix": 1.0}),
}


def primary_images(labels, size):
    return np.stack([np.broadcast_to(PRIMARIES[c], (*size, 3)) for c in labels]).copy()


def one_row(method, lam=0.5, box=(0, 0, 0, 0), mask=None, n=2):
    """`MixParams` for 2 rows: row 0 mixed by `method` with row 1, row 1 unmixed."""
    return MixParams(
        lam=np.array([lam, 1.0]),
        partner=np.array([1, 0]),
        method=np.array([method, NONE], np.int8),
        boxes=np.array([box, (0, 0, 0, 0)], np.int64),
        masks=None if mask is None else np.stack([mask, np.ones_like(mask)]),
    )


def test_registry_codes_are_the_method_constants():
    assert mixers.NAMES == ("mixup", "cutmix", "resizemix", "fmix")
    assert [mixers.code(n) for n in mixers.NAMES] == [MIXUP, CUTMIX, RESIZEMIX, FMIX] == [1, 2, 3, 4]
    for name in mixers.NAMES:
        assert mixers.get(name).name == name
        assert callable(mixers.get(name).sample) and callable(mixers.get(name).apply)


# --- ResizeMix: the apply step on hand-made boxes -----------------------------------------------


def blocky_partner():
    """8x8: 2x2 blocks of 16 distinct values, so a 4x4 area resize gives each block's value exactly."""
    blocks = (np.arange(16, dtype=np.uint8) * 15 + 5).reshape(4, 4)
    return np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1)[..., None].repeat(3, axis=2), blocks


@pytest.mark.parametrize("value_range", [(0.0, 255.0), (-1.0, 1.0), None])
def test_resizemix_pastes_the_whole_partner_shrunk_into_the_box(value_range):
    partner, blocks = blocky_partner()
    image = np.full((8, 8, 3), 200, np.uint8)
    images = np.stack([image, partner])
    box = (3, 7, 1, 5)  # 4x4 at rows 3-6, columns 1-4
    p = one_row(RESIZEMIX, lam=1 - 16 / 64, box=box)
    out = None if value_range is not None else np.empty(images.shape, np.uint8)
    x = mixing.mix_images(images, images, p, value_range or (0.0, 255.0), out=out)
    low, high = value_range or (0.0, 255.0)
    scale = (high - low) / 255.0
    inside = np.zeros((8, 8), bool)
    inside[3:7, 1:5] = True
    expected = np.where(inside[..., None], 0, image.astype(np.float64) * scale + low)
    expected[3:7, 1:5] = blocks[..., None] * scale + low
    np.testing.assert_allclose(x[0], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x[1], partner * scale + low, rtol=1e-6, atol=1e-6)  # the unmixed row
    assert np.mean(~inside) == p.lam[0]


def test_resizemix_grayscale_and_an_empty_box():
    partner = np.full((6, 5, 1), 90, np.uint8)
    image = np.full((6, 5, 1), 10, np.uint8)
    images = np.stack([image, partner])
    x = mixing.mix_images(images, images, one_row(RESIZEMIX, lam=1 - 6 / 30, box=(1, 4, 2, 4)), (0.0, 255.0))
    assert x.shape == (2, 6, 5, 1)
    assert (x[0, 1:4, 2:4] == 90).all() and (x[0] == 90).sum() == 6 and (x[0] == 10).sum() == 24
    empty = mixing.mix_images(images, images, one_row(RESIZEMIX, lam=1.0, box=(2, 2, 0, 3)), (0.0, 255.0))
    assert (empty[0] == 10).all()


def test_resizemix_boxes_fit_and_scale_as_drawn():
    tau = np.array([0.1, 0.5, 0.8, 1.0, 0.0])
    pos = np.array([0.0, 0.999, 0.5, 0.3, 0.7])
    boxes, kept = resizemix.paste_boxes(tau, pos, pos[::-1], (20, 30))
    h, w = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    assert h.tolist() == [2, 10, 16, 20, 0] and w.tolist() == [3, 15, 24, 30, 0]
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] <= 20).all() and (boxes[:, 2] >= 0).all()
    assert (boxes[:, 3] <= 30).all()
    np.testing.assert_allclose(kept, 1 - h * w / 600)
    assert boxes[1].tolist()[:2] == [10, 20]  # pos 0.999 of the 11 rows of room: the last row


# --- FMix: the apply step on hand-made masks, and the mask itself -------------------------------


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("value_range", [(0.0, 255.0), (-1.0, 1.0), None])
def test_fmix_takes_the_partners_pixels_where_the_mask_is_false(value_range, channels):
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (2, 5, 7, channels), dtype=np.uint8)
    mask = np.zeros((5, 7), bool)
    mask[:, :3] = True
    mask[4, 6] = True  # 16 of 35 pixels stay the image's own
    p = one_row(FMIX, lam=16 / 35, mask=mask)
    out = None if value_range is not None else np.empty(images.shape, np.uint8)
    x = mixing.mix_images(images, images, p, value_range or (0.0, 255.0), out=out)
    low, high = value_range or (0.0, 255.0)
    scale = (high - low) / 255.0
    expected = np.where(mask[..., None], images[0], images[1]) * scale + low
    np.testing.assert_allclose(x[0], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x[1], images[1] * scale + low, rtol=1e-6, atol=1e-6)
    y = mixing.mix_labels(np.array([0, 1]), np.array([0, 1]), p, 2)
    np.testing.assert_allclose(y[0], [16 / 35, 19 / 35], rtol=1e-6)


def test_fourier_mask_of_one_frequency_keeps_the_crests():
    # Noise with one component, one cycle across the width: the image is cos(2 pi x / 8), the same on every
    # row; its highest 3/8 are the columns 7, 0 and 1.
    noise = np.zeros((4, 8 // 2 + 1, 2), np.float32)
    noise[0, 1, 0] = 1.0
    scale = fmix.spectrum_scale((4, 8), 3.0)
    mask = fmix.fourier_mask(noise, scale, 3 / 8, (4, 8))
    assert mask.tolist() == [[True, True, False, False, False, False, False, True]] * 4
    assert not fmix.fourier_mask(noise, scale, 0.0, (4, 8)).any()
    assert fmix.fourier_mask(noise, scale, 1.0, (4, 8)).all()


def test_fmix_spectrum_decays_with_frequency():
    scale = fmix.spectrum_scale((16, 16), 3.0)
    assert scale.shape == (16, 9) and scale.dtype == np.float32
    # The zero frequency is capped at 1 / max(H, W); the highest, sqrt(0.5) cycles a pixel, gets the least.
    assert scale[0, 0] == scale[0, 1] == pytest.approx(16.0**3)
    assert scale[8, 8] == scale.min()
    assert scale[0, 2] == pytest.approx((1 / (2 / 16)) ** 3)


def test_fmix_masks_keep_the_drawn_share_and_smoother_with_decay():
    rough, smooth = [], []
    for seed in range(8):
        for decay, edges in ((0.5, rough), (4.0, smooth)):
            config = MixConfig(mixer_probs={"fmix": 1.0}, fmix_decay_power=decay)
            p = mixing.sample_mix_params(config, np.random.default_rng(seed), 4, (32, 32))
            assert (p.method == FMIX).all() and p.masks is not None and p.masks.shape == (4, 32, 32)
            np.testing.assert_array_equal(p.lam, p.masks.mean(axis=(1, 2)))  # the label is the mask's exact mean
            edges.append(np.sum(p.masks[:, 1:] != p.masks[:, :-1]) + np.sum(p.masks[:, :, 1:] != p.masks[:, :, :-1]))
    assert sum(smooth) * 2 < sum(rough)  # a faster decay leaves fewer, larger blobs


# --- Sampling: choice among the mixers, batch mode, golden values --------------------------------


def test_mixer_probs_spelling_switch_prob_draws_the_same_numbers():
    for s in (0.3, 0.5, 0.8):
        legacy = MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0, switch_prob=s)
        spelled = MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0, mixer_probs={"cutmix": s, "mixup": 1 - s})
        for seed in range(5):
            a = mixing.sample_mix_params(legacy, np.random.default_rng(seed), 7, (9, 9))
            b = mixing.sample_mix_params(spelled, np.random.default_rng(seed), 7, (9, 9))
            for field in ("lam", "partner", "method", "boxes"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_every_mixer_is_chosen_at_its_probability():
    config = MixConfig(
        mixup_alpha=0.4, cutmix_alpha=1.0, mixer_probs={"mixup": 0.1, "cutmix": 0.2, "resizemix": 0.3, "fmix": 0.4}
    )
    p = mixing.sample_mix_params(config, np.random.default_rng(0), 4000, (6, 6))
    shares = np.bincount(p.method, minlength=5) / 4000
    assert shares[NONE] == 0
    np.testing.assert_allclose(shares[1:], [0.1, 0.2, 0.3, 0.4], atol=0.025)
    # Boxes only in pasting rows, masks meaningful in FMix rows.
    assert not p.boxes[(p.method == MIXUP) | (p.method == FMIX)].any()
    assert (p.boxes[p.method == RESIZEMIX][:, 1] > p.boxes[p.method == RESIZEMIX][:, 0]).any()


@pytest.mark.parametrize("name", ["resizemix", "fmix"])
def test_batch_mode_shares_one_box_or_mask(name):
    config = MixConfig(mixer_probs={name: 1.0}, mix_mode="batch")
    for seed in range(5):
        p = mixing.sample_mix_params(config, np.random.default_rng(seed), 5, (12, 10))
        assert len(set(p.lam.tolist())) == 1 and (p.method == mixers.code(name)).all()
        assert len({tuple(b) for b in p.boxes.tolist()}) == 1
        if name == "fmix":
            assert p.masks is not None and (p.masks == p.masks[0]).all()


def test_new_mixers_sample_golden():
    # Pins the draws of the new mixers for a fixed generator (as test_sample_params_golden does for mixup
    # and CutMix); they change only on purpose. FMix's lam is a count of pixels over 100, so exact.
    config = MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0, mixer_probs={"resizemix": 0.5, "fmix": 0.5})
    p = mixing.sample_mix_params(config, np.random.default_rng(123), 4, (10, 10))
    assert p.partner.tolist() == [2, 0, 3, 1]
    assert p.method.tolist() == [RESIZEMIX, FMIX, RESIZEMIX, RESIZEMIX]
    np.testing.assert_allclose(p.lam, [0.84, 0.36, 0.64, 0.96], rtol=1e-12)
    assert p.boxes.tolist() == [[5, 9, 5, 9], [0, 0, 0, 0], [4, 10, 1, 7], [2, 4, 1, 3]]
    # ResizeMix's kept share is its box's complement; FMix's is its mask's mean.
    assert p.masks is not None and p.masks[1].sum() == 36


# --- Pixels versus labels, for every mixer -------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(mixers.NAMES),
    batch=st.integers(1, 8),
    height=st.integers(1, 14),
    width=st.integers(1, 14),
    mix_mode=st.sampled_from(["sample", "batch"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_labels_equal_colour_shares_for_every_mixer(name, batch, height, width, mix_mode, seed):
    config = dataclasses.replace(ALONE[name], mix_mode=mix_mode)
    p = mixing.sample_mix_params(config, np.random.default_rng(seed), batch, (height, width))
    labels = np.random.default_rng(seed).integers(0, 3, batch)
    images = primary_images(labels, (height, width))
    x = mixing.mix_images(images, images, p)
    y = mixing.mix_labels(labels, labels, p, 3)
    # Channel c's mean is the share of the sample that came from class c.
    np.testing.assert_allclose(x.mean(axis=(1, 2)), y, atol=1e-5)
    if name != "mixup":  # pasted and masked pixels are whole: count them
        for c in range(3):
            is_c = np.isclose(x, PRIMARIES[c] / 255.0, atol=1e-6).all(axis=-1)
            np.testing.assert_allclose(is_c.mean(axis=(1, 2)), y[:, c], atol=1e-6)


@pytest.fixture
def primary_tree(tmp_path):
    """Three classes of solid pure red, green and blue PNGs (8 + 7 + 6)."""
    import cv2

    root = tmp_path / "rgb"
    for c, count in enumerate((8, 7, 6)):
        (root / f"c{c}").mkdir(parents=True)
        for k in range(count):
            cv2.imwrite(str(root / f"c{c}" / f"{k}.png"), np.tile(PRIMARIES[c][::-1], (9, 11, 1)))
    return root


@pytest.mark.parametrize("pairing", ["batch", "dataset"])
@pytest.mark.parametrize("name", mixers.NAMES)
def test_labels_equal_colour_shares_end_to_end(primary_tree, name, pairing):
    config = MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0, mixer_probs={name: 1.0})
    options = LoaderOptions(batch_size=5, image_size=(9, 11), pairing=pairing)
    loader = BatchLoader(index_directory(primary_tree), options, 7, mix=config)
    mixed = 0
    for epoch in range(2):
        for i in range(len(loader)):
            x, y = loader.load_batch(epoch, i)
            np.testing.assert_allclose(x.mean(axis=(1, 2)), y, atol=1e-5)
            mixed += int(np.sum(y.max(axis=1) < 1))
            assert (loader.sampler.plan(epoch, i).params.method == mixers.code(name)).sum() > 0 or len(x) == 1
    assert mixed > 5


# --- Settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, received",
    [
        ({"mixer_probs": {"mixip": 1.0}}, ValueError, "mixer_probs={'mixip': 1.0}"),
        ({"mixer_probs": {"mixup": 0.6}}, ValueError, "must sum to 1"),
        ({"mixer_probs": {"mixup": 1.5, "fmix": -0.5}}, ValueError, "in [0, 1]"),
        ({"mixer_probs": {"mixup": "1"}}, TypeError, "mixer_probs={'mixup': '1'}"),
        ({"mixer_probs": 1.0}, TypeError, "mixer_probs=1.0"),
        ({"mixer_probs": {"cutmix": 1.0}}, ValueError, "cutmix_alpha=0.0 disables it"),
        ({"mixer_probs": {"fmix": 1.0}, "fmix_alpha": 0}, ValueError, "fmix_alpha=0 disables it"),
        ({"mixer_probs": {"mixup": 1.0}, "switch_prob": 0.2}, ValueError, "switch_prob=0.2"),
        ({"resizemix_scale": (0.9, 0.2)}, ValueError, "resizemix_scale=(0.9, 0.2)"),
        ({"resizemix_scale": (0.1, 1.2)}, ValueError, "resizemix_scale=(0.1, 1.2)"),
        ({"resizemix_scale": 0.5}, ValueError, "resizemix_scale=0.5"),
        ({"resizemix_scale": ("a", 1)}, TypeError, "resizemix_scale=('a', 1)"),
        ({"fmix_alpha": -1.0}, ValueError, "fmix_alpha=-1.0"),
        ({"fmix_alpha": None}, TypeError, "fmix_alpha=None"),
        ({"fmix_decay_power": 0.0}, ValueError, "fmix_decay_power=0.0"),
        ({"fmix_decay_power": float("inf")}, ValueError, "fmix_decay_power=inf"),
    ],
)
def test_bad_mixer_settings_say_what_was_expected(kwargs, error, received):
    with pytest.raises(error) as info:
        MixConfig(**kwargs)
    assert received in str(info.value)


def test_mixer_probs_are_stored_in_registry_order():
    a = MixConfig(mixer_probs={"fmix": 0.5, "mixup": 0.5})
    b = MixConfig(mixer_probs=[("mixup", 0.5), ("fmix", 0.5)])
    assert a == b and a.mixer_probs == (("mixup", 0.5), ("fmix", 0.5))
    assert a.choices == (("mixup", 0.5), ("fmix", 0.5)) and a.enabled
    assert MixConfig(mixer_probs={"mixup": 1.0, "fmix": 0.0}, fmix_alpha=0).choices == (("mixup", 1.0),)
    assert MixConfig(mixup_alpha=0.2, cutmix_alpha=1.0, switch_prob=0.25).choices == (
        ("mixup", 0.75),
        ("cutmix", 0.25),
    )
    assert not MixConfig(mixup_alpha=0.0).enabled and not MixConfig(mix_prob=0.0).enabled


# --- The command line --------------------------------------------------------------------------------


def test_every_mixing_setting_has_a_command_line_option():
    from mixup_sequence import cli

    for command in ("preview", "bench"):
        args = cli.build_parser().parse_args([command, "some/dir"])
        for field in dataclasses.fields(MixConfig):
            assert getattr(args, field.name) == getattr(MixConfig, field.name), field.name


def test_preview_shows_the_new_mixers_and_the_epochs_settings(tree, tmp_path, capsys, monkeypatch):
    from mixup_sequence import cli

    common = ["preview", str(tree), "--image-size", "12", "16", "--batch-size", "6", "--seed", "3"]
    out = tmp_path / "grid.png"
    mixers_args = ["--mixer-probs", "resizemix=0.5,fmix=0.5", "--resizemix-scale", "0.3", "0.6"]
    assert cli.main([*common, "--out", str(out), *mixers_args]) == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 0
    assert "mixer_probs=(('resizemix', 0.5), ('fmix', 0.5)), resizemix_scale=(0.3, 0.6)" in printed
    counts = dict(item.split() for item in printed.split("rows: ")[1].splitlines()[0].split(", "))
    assert set(counts) == {"resizemix", "fmix"} and sum(map(int, counts.values())) == 6
    # A schedule from a module, and mixing off from epoch 1.
    (tmp_path / "cli_test_schedule.py").write_text(
        "from mixup_sequence.schedules import Steps\nschedule = Steps({0: {'mixer_probs': {'fmix': 1.0}}})\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, "cli_test_schedule", None)  # so that the import is undone afterwards
    monkeypatch.delitem(sys.modules, "cli_test_schedule")
    scheduled = [*common, "--out", str(out), "--mix-schedule", "cli_test_schedule:schedule", "--mix-off-epoch", "1"]
    assert cli.main(scheduled) == 0
    assert "rows: fmix 6" in capsys.readouterr().out
    assert cli.main([*scheduled, "--epoch", "1"]) == 0
    assert "rows: unmixed 6" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--mixer-probs", "fmix"], "expected NAME=PROBABILITY pairs"),
        (["--mixer-probs", "fmix=0.5"], "must sum to 1"),
        (["--resizemix-scale", "0.8", "0.1"], "resizemix_scale=(0.8, 0.1)"),
        (["--mix-schedule", "no_such_module_xyz:schedule"], "--mix-schedule=no_such_module_xyz:schedule"),
    ],
)
def test_bad_mixing_options_are_clear_errors(tree, tmp_path, capsys, extra, expected):
    from mixup_sequence import cli

    argv = ["preview", str(tree), "--out", str(tmp_path / "p.png"), *extra]
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2 and expected in capsys.readouterr().err
