import numpy as np
import pytest

from mixup_sequence.index import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.preview import _text_width, _wrap, batch_grid, save_batch_grid


def _batch(tree, mix, **options):
    loader = BatchLoader(index_directory(tree), LoaderOptions(batch_size=8, image_size=(10, 14), **options), 3, mix=mix)
    x, y = loader.load_batch(0, 0)
    return x, y, loader.index.class_names, loader.options.value_range


@pytest.mark.parametrize(
    ("mix", "tolerance"),
    [
        (MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0), 0),  # CutMix copies pixels: the same picture exactly
        (MixConfig(mixup_alpha=1.0), 1),  # mixup rounds (uint8: ties to even), within one level
    ],
)
def test_uint8_and_minus_one_to_one_batches_draw_the_float_picture(textured_tree, mix, tolerance):
    tree = textured_tree  # noise images: every pixel value occurs
    x, y, names, value_range = _batch(tree, mix)
    assert value_range == (0.0, 1.0)
    reference = batch_grid(x, y, names, value_range=value_range)
    assert reference.shape[1] >= 8 * 14
    for options in ({"dtype": "uint8"}, {"value_range": (-1.0, 1.0)}, {"value_range": (0.0, 255.0)}):
        x2, y2, _, range2 = _batch(tree, mix, **options)
        np.testing.assert_array_equal(y2, y)
        drawn = batch_grid(x2, y2, names, value_range=range2)
        assert drawn.shape == reference.shape
        assert np.abs(drawn.astype(int) - reference).max() <= tolerance, options
    # A uint8 batch needs no range: it is drawn as it is.
    x8, y8, _, _ = _batch(tree, mix, dtype="uint8")
    np.testing.assert_array_equal(batch_grid(x8, y8, names), batch_grid(x8, y8, names, value_range=(0, 255)))


def test_refuses_what_it_cannot_draw(tree):
    x, y, names, _ = _batch(tree, MixConfig())
    x8 = (x * 255).round().astype(np.uint8)
    cases = [
        ((x * 2 - 1, y, names), {}, "outside value_range=(0, 1)"),
        ((x * 255, y, names), {"value_range": (-1, 1)}, "outside value_range=(-1, 1)"),
        ((np.full_like(x, np.nan), y, names), {}, "outside value_range"),
        ((x8, y, names), {"value_range": (0, 1)}, "must be None or (0, 255)"),
        ((x8.astype(np.int32), y, names), {}, "x.dtype=int32"),
        ((x[0], y, names), {}, "x.shape=(10, 14, 3)"),
        ((x[..., :2], y, names), {}, "x.shape="),
        ((x, y[:3], names), {}, "y.shape=(3, 3)"),
        ((x, y, names[:2]), {}, "y.shape=(8, 3)"),
        ((x, y, names), {"value_range": (1, 0)}, "low < high"),
        ((x, y, names), {"columns": 0}, "columns=0"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            batch_grid(*args, **kwargs)


def test_images_drawn_at_their_size_or_cell_width(tree, tmp_path):
    x, y, names, _ = _batch(tree, MixConfig(mixup_alpha=0.0))  # unmixed: each tile is one solid image
    grid = batch_grid(x, y, names, columns=8)
    expected = np.round(x[0] * 255).astype(np.uint8)
    np.testing.assert_array_equal(grid[:10, :14], expected)
    wide = batch_grid(x, y, names, columns=8, cell_width=28)
    np.testing.assert_array_equal(wide[:20, :28], np.repeat(np.repeat(expected, 2, axis=0), 2, axis=1))
    path = save_batch_grid(tmp_path / "sub" / "grid.png", x, y, names, columns=4)
    assert path.endswith("grid.png")


def test_grayscale_batches_are_drawn_grey(tree):
    x, y, names, _ = _batch(tree, MixConfig(), color_mode="grayscale")
    grid = batch_grid(x, y, names)
    assert grid.shape[-1] == 3 and np.array_equal(grid[..., 0], grid[..., 2])


def test_names_that_do_not_fit_are_numbered_with_a_legend(tree):
    x, y, names, _ = _batch(tree, MixConfig(mixup_alpha=0.0))
    short = batch_grid(x, y, names)
    for other in (["a" * 60, "dog", "fox"], ["猫", "dog", "fox"]):  # too long; not drawable in the font
        grid = batch_grid(x, y, other)
        assert grid.shape[1] <= short.shape[1]  # the cells do not grow with the name
        assert grid.shape[0] > short.shape[0]  # the legend


def test_wrap_keeps_every_character_within_the_width():
    text = "#12 portrait_photographs_of_people_taken_indoors-and-outdoors " + "x" * 40
    for width in (40, 90, 300):
        lines = _wrap(text, width)
        assert "".join(lines) == text
        assert all(_text_width(line) <= width for line in lines)
    assert _wrap("#1 abc_defghij", 60)[0].endswith("_")  # breaks after a separator where one fits
