"""Decode an image file with OpenCV into a uint8 array of a fixed size.

Whatever is on disk (grayscale, RGB, RGBA, palette, 16-bit, EXIF-rotated),
the output is `uint8` of shape `(height, width, channels)` with channels in
RGB order (`color_mode="rgb"`, 3 channels) or one luminance channel
(`color_mode="grayscale"`). EXIF orientation is applied; an alpha channel
is dropped (as `PIL.Image.convert("RGB")` and Keras do); 16-bit samples are
scaled to 8 bits.
"""

from __future__ import annotations

import cv2
import numpy as np

from mixup_sequence.errors import ImageDecodeError

COLOR_MODES = {"rgb": 3, "grayscale": 1}

INTERPOLATIONS = {
    "area": cv2.INTER_AREA,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
    "lanczos4": cv2.INTER_LANCZOS4,
}

_READ_FLAGS = {"rgb": cv2.IMREAD_COLOR_RGB, "grayscale": cv2.IMREAD_GRAYSCALE}


def read_bytes(path: str) -> np.ndarray:
    """Reads a whole file into a uint8 array (works for any file name)."""
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageDecodeError(path, f"{type(e).__name__}: {e.strerror or e}") from e


def decode_bytes(data: np.ndarray, path: str, color_mode: str = "rgb") -> np.ndarray:
    """Decodes encoded image bytes; `path` is only used in error messages."""
    if data.size == 0:
        raise ImageDecodeError(path, "the file is empty")
    try:
        image = cv2.imdecode(data, _READ_FLAGS[color_mode])
    except cv2.error as e:
        raise ImageDecodeError(path, f"OpenCV failed: {str(e).strip()}") from e
    if image is None:
        raise ImageDecodeError(path, "not a supported image, or the data is corrupt")
    if image.ndim == 2:
        image = image[:, :, None]
    return image


def resize(image: np.ndarray, image_size: tuple[int, int], interpolation: str = "area") -> np.ndarray:
    """Resizes an HWC uint8 image to `image_size=(height, width)`."""
    height, width = image_size
    if image.shape[:2] == (height, width):
        return image
    channels = image.shape[2]
    out = cv2.resize(image, (width, height), interpolation=INTERPOLATIONS[interpolation])
    return out.reshape(height, width, channels)


def load_image(
    path: str,
    image_size: tuple[int, int],
    color_mode: str = "rgb",
    interpolation: str = "area",
) -> np.ndarray:
    """Reads, decodes and resizes one image file.

    Args:
        path: The image file.
        image_size: `(height, width)` of the output.
        color_mode: `"rgb"` or `"grayscale"`.
        interpolation: One of `INTERPOLATIONS`; `"area"` (the default) is the
            one that does not alias when shrinking.

    Returns:
        `uint8` array of shape `(height, width, 3 or 1)`.

    Raises:
        ImageDecodeError: The file is missing, unreadable or not an image.
    """
    image = decode_bytes(read_bytes(path), path, color_mode)
    return resize(image, image_size, interpolation)
