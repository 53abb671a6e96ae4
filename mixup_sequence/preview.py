"""A picture of a batch: each image captioned with its soft label.

Users want to see mixed images with their labels before they trust a
loader; `batch_grid` draws one batch as a grid (an RGB uint8 array) and
`save_batch_grid` writes it as a PNG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

_CAPTION_HEIGHT = 14


def caption(label: np.ndarray, class_names: Sequence[str], top: int = 2) -> str:
    """Returns e.g. "cat:0.72 dog:0.28": the largest class weights of a soft label."""
    order = np.argsort(-label, kind="stable")[:top]
    parts = [f"{class_names[k]}:{label[k]:.2f}" for k in order if label[k] > 0.005]
    return " ".join(parts)


def batch_grid(
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    value_range: tuple[float, float] = (0.0, 1.0),
    columns: int = 8,
    cell_width: int = 128,
) -> np.ndarray:
    """Draws a batch as an RGB uint8 grid with a caption under each image.

    Args:
        x: `(B, H, W, C)` float images in `value_range`.
        y: `(B, num_classes)` soft labels.
        class_names: Names for the label columns.
        value_range: The range of `x`.
        columns: Images per row.
        cell_width: Width in pixels each image is drawn at.
    """
    low, high = value_range
    images = np.clip((np.asarray(x, np.float32) - low) / (high - low) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    n, h, w = images.shape[:3]
    cell_h = max(1, round(h * cell_width / w))
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full((rows * (cell_h + _CAPTION_HEIGHT), columns * cell_width, 3), 255, np.uint8)
    for k in range(n):
        r, c = divmod(k, columns)
        top, left = r * (cell_h + _CAPTION_HEIGHT), c * cell_width
        grid[top : top + cell_h, left : left + cell_width] = cv2.resize(
            images[k], (cell_width, cell_h), interpolation=cv2.INTER_NEAREST
        )
        cv2.putText(
            grid,
            caption(y[k], class_names),
            (left + 2, top + cell_h + _CAPTION_HEIGHT - 4),
            cv2.FONT_HERSHEY_PLAIN,
            0.8,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return grid


def save_batch_grid(path: str | os.PathLike, *args, **kwargs) -> str:
    """Draws `batch_grid(*args, **kwargs)` and writes it as a PNG; returns the path."""
    grid = batch_grid(*args, **kwargs)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"Could not write {path!r}")
    return path
