"""A picture of a batch: each image captioned with its soft label.

Users want to see mixed images with their labels before they trust a
loader; `batch_grid` draws one batch as a grid (an RGB uint8 array) and
`save_batch_grid` writes it as a PNG.

Each image is drawn at its own size (or at `cell_width`), with a caption
band under it: one line per class it holds, largest weight first. A cell is
as wide as its image or its longest caption line, whichever is wider, so
no caption is cut off or runs into the next one. When a class name would
make a line wider than `max(image width, 96 px)`, every caption names the
classes by number (`#3 0.72`) and a legend under the grid gives the full
names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_PLAIN
_SCALE = 0.8
_PAD = 2  # pixels around each line of text
_GUTTER = 4  # white pixels between cells
_NAME_WIDTH = 96  # a caption line with a class name may be this wide even under a narrower image
_MIN_WEIGHT = 0.005  # smaller label weights are not listed


def _text_width(text: str) -> int:
    return cv2.getTextSize(text, _FONT, _SCALE, 1)[0][0]


def _line_height() -> int:
    (_, height), baseline = cv2.getTextSize("Agjpqy|", _FONT, _SCALE, 1)
    return height + baseline + 2 * _PAD


def _printable(name: str) -> str:
    """The name as the Hershey font can draw it (ASCII; other characters escaped)."""
    return name.encode("ascii", "backslashreplace").decode("ascii")


def _to_uint8(x: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """Returns `x` as uint8 RGB `(B, H, W, 3)`, checking it can be drawn."""
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or len(x) == 0:
        raise ValueError(
            "`x` must be a non-empty batch of images (batch, height, width, 1 or 3 channels). "
            f"Received: x.shape={x.shape}"
        )
    if x.dtype == np.uint8:
        if value_range is not None and tuple(float(v) for v in value_range) != (0.0, 255.0):
            raise ValueError(
                "A uint8 batch is drawn as it is: `value_range` must be None or (0, 255). "
                f"Received: value_range={value_range!r}"
            )
        images = x
    elif np.issubdtype(x.dtype, np.floating):
        low, high = (0.0, 1.0) if value_range is None else value_range
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(
                f"`value_range` must be a pair (low, high) with low < high. Received: value_range={value_range!r}"
            )
        lo, hi = float(np.min(x)), float(np.max(x))
        tolerance = 1e-3 * (high - low)
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < low - tolerance or hi > high + tolerance:
            raise ValueError(
                f"`x` has values in [{lo:.4g}, {hi:.4g}], outside value_range=({low:g}, {high:g}). Pass the range "
                "the batch was made with (the sequence's `value_range`, e.g. value_range=(-1, 1)). "
                f"Received: value_range={value_range!r}"
            )
        scaled = (x.astype(np.float64) - low) * (255.0 / (high - low))
        images = np.clip(np.floor(scaled + 0.5), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"`x` must be uint8 or floating point. Received: x.dtype={x.dtype}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images


def _entries(label: np.ndarray, top: int) -> list[tuple[int, float]]:
    """The `top` largest (class, weight) pairs of a soft label, above `_MIN_WEIGHT`."""
    order = np.argsort(-label, kind="stable")[:top]
    return [(int(k), float(label[k])) for k in order if label[k] > _MIN_WEIGHT]


def _wrap(text: str, width: int) -> list[str]:
    """Splits `text` into lines at most `width` pixels wide (at least one character each).

    A line ends after a space, "_" or "-" where one falls in its second half.
    """
    lines = []
    while text:
        n = len(text)
        while n > 1 and _text_width(text[:n]) > width:
            n -= 1
        breaks = [j + 1 for j in range(n // 2, n) if text[j] in " _-"] if n < len(text) else []
        if breaks:
            n = breaks[-1]
        lines.append(text[:n])
        text = text[n:]
    return lines


def batch_grid(
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    *,
    value_range: tuple[float, float] | None = None,
    columns: int = 8,
    cell_width: int | None = None,
    top: int = 2,
) -> np.ndarray:
    """Draws a batch as an RGB uint8 grid with a caption under each image.

    Args:
        x: `(B, H, W, C)` images, `C` 1 or 3: uint8 (drawn as they are) or
            floating point in `value_range`.
        y: `(B, num_classes)` soft labels.
        class_names: Names for the label columns.
        value_range: The `(low, high)` range of a float `x`, as given to the
            sequence (None: (0, 1)); for uint8, None or (0, 255).
        columns: Images per row.
        cell_width: Width each image is drawn at (aspect kept, nearest
            neighbour); None draws the images at their own size.
        top: The most classes listed per image.

    Raises:
        ValueError: If `x` is not a batch of images in `value_range`, or `y`
            does not match `x` and `class_names`.
    """
    x, y = np.asarray(x), np.asarray(y)
    images = _to_uint8(x, value_range)
    if y.ndim != 2 or len(y) != len(x) or y.shape[1] != len(class_names):
        raise ValueError(
            f"`y` must be (batch, num_classes) = ({len(x)}, {len(class_names)}) soft labels, one row per image "
            f"of `x` and one column per class name. Received: y.shape={y.shape}"
        )
    for name, value in (("columns", columns), ("top", top), ("cell_width", cell_width)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
    n, h, w = images.shape[:3]
    if cell_width is not None:
        h, w = max(1, round(h * cell_width / w)), cell_width
        images = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_NEAREST) for im in images])

    entries = [_entries(label, top) for label in y]
    used = sorted({k for rows in entries for k, _ in rows})
    names = {k: _printable(class_names[k]) for k in used}
    named = [[f"{names[k]}:{v:.2f}" for k, v in rows] for rows in entries]
    keyed = [[f"#{k} {v:.2f}" for k, v in rows] for rows in entries]
    widest_named = max((_text_width(s) for rows in named for s in rows), default=0)
    widest_keyed = max((_text_width(s) for rows in keyed for s in rows), default=0)
    use_keys = widest_named + 2 * _PAD > max(w, _NAME_WIDTH) or any(names[k] != class_names[k] for k in used)
    captions = keyed if use_keys else named
    cell_w = max(w, (widest_keyed if use_keys else widest_named) + 2 * _PAD)

    line_h = _line_height()
    band_h = top * line_h
    columns = min(columns, n)
    rows = -(-n // columns)
    pitch_x, pitch_y = cell_w + _GUTTER, h + band_h + _GUTTER
    width = columns * pitch_x - _GUTTER
    legend = [s for k in used for s in _wrap(f"#{k} {names[k]}", width - 2 * _PAD)] if use_keys else []
    height = rows * pitch_y - _GUTTER + len(legend) * line_h
    grid = np.full((height, width, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        top_y, left = r * pitch_y, c * pitch_x
        grid[top_y : top_y + h, left : left + w] = images[i]
        for j, text in enumerate(captions[i]):
            _put(grid, text, left + _PAD, top_y + h + j * line_h)
    for j, text in enumerate(legend):
        _put(grid, text, _PAD, rows * pitch_y - _GUTTER + j * line_h)
    return grid


def _put(grid: np.ndarray, text: str, left: int, line_top: int) -> None:
    """Draws one line of black text in the line that starts at row `line_top`."""
    (_, height), _ = cv2.getTextSize("Agjpqy|", _FONT, _SCALE, 1)
    cv2.putText(grid, text, (left, line_top + _PAD + height), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA)


def save_batch_grid(
    path: str | os.PathLike,
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    **kwargs,
) -> str:
    """Draws `batch_grid(x, y, class_names, **kwargs)` and writes it as a PNG; returns the path.

    Pass the sequence's `value_range` for a float batch outside (0, 1), e.g.
    `save_batch_grid("grid.png", x, y, seq.class_names, value_range=(-1, 1))`.
    """
    grid = batch_grid(x, y, class_names, **kwargs)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"Could not write {path!r}")
    return path
