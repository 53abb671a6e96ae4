"""Decode an image file with OpenCV into a uint8 array of a fixed size.

Whatever is on disk (grayscale, RGB, RGBA, palette, 16-bit, EXIF-rotated),
the output is `uint8` of shape `(height, width, channels)` with channels in
RGB order (`color_mode="rgb"`, 3 channels) or one luminance channel
(`color_mode="grayscale"`). EXIF orientation is applied; an alpha channel
is dropped (as `PIL.Image.convert("RGB")` and Keras do); 16-bit samples are
scaled to 8 bits. A JPEG at least twice the output size is decoded at 1/2,
1/4 or 1/8 scale first. The resize gives exactly `cv2.resize`'s pixels;
an area shrink by a non-integer factor (OpenCV's slowest case, and the
default filter's usual one) runs on a float32 copy, which OpenCV sums
faster. An image whose header declares more than `max_pixels` pixels is
refused before any pixel is decoded, whatever its format (OpenCV decodes by
content, so a GIF named `.png` is a GIF), and so is data whose size cannot
be read from its header. A GIF decodes to its first frame. `load_decoded`
stops before the resize, for pipelines that crop and resize themselves.
"""

from __future__ import annotations

import cv2
import numpy as np

from mixup_sequence.errors import ImageDecodeError
from mixup_sequence.header import read_headers, size_problem, structure_problem

COLOR_MODES = {"rgb": 3, "grayscale": 1}

INTERPOLATIONS = {
    "area": cv2.INTER_AREA,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
    "lanczos4": cv2.INTER_LANCZOS4,
}

_READ_FLAGS = {"rgb": cv2.IMREAD_COLOR_RGB, "grayscale": cv2.IMREAD_GRAYSCALE}
_REDUCED_FLAGS = {
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}

# (channels decoded, channels wanted) -> conversion; without an RGB flag OpenCV decodes to BGR.
_CHANNEL_FIXES = {
    (3, 1): cv2.COLOR_BGR2GRAY,
    (4, 1): cv2.COLOR_BGRA2GRAY,
    (1, 3): cv2.COLOR_GRAY2RGB,
    (4, 3): cv2.COLOR_RGBA2RGB,
}

# Pillow refuses images over this many pixels as decompression bombs; so do we by default.
DEFAULT_MAX_PIXELS = 178_956_970


def read_bytes(path: str) -> np.ndarray:
    """Reads a whole file into a read-only uint8 array (works for any file name)."""
    try:
        with open(path, "rb") as f:  # faster than np.fromfile for small files
            return np.frombuffer(f.read(), dtype=np.uint8)
    except OSError as e:
        raise ImageDecodeError(path, f"{type(e).__name__}: {e.strerror or e}") from e


def reduction_factor(size: tuple[int, int], image_size: tuple[int, int]) -> int:
    """The largest JPEG decode scale 1/f (f in 2, 4, 8) that stays at least `image_size`.

    Checked in both orientations, since EXIF rotation may swap the sides.
    """
    width, height = size
    target_h, target_w = image_size
    for f in (8, 4, 2):
        w, h = width // f, height // f
        if w >= max(target_w, target_h) and h >= max(target_w, target_h):
            return f
    return 1


def decode_bytes(
    data: np.ndarray,
    path: str,
    color_mode: str = "rgb",
    image_size: tuple[int, int] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decodes encoded image bytes; `path` is only used in error messages.

    Args:
        data: The file's bytes.
        path: Named in errors.
        color_mode: `"rgb"` or `"grayscale"`.
        image_size: If given, a large JPEG is decoded at a reduced scale (libjpeg's
            DCT scaling, 1/2 to 1/8) that is still at least this size; it is
            faster and needs less memory than decoding in full and resizing.
        max_pixels: Images whose header declares more pixels are refused before
            decoding (a decompression bomb), and so is anything whose size
            cannot be read from its header (see `header.read_headers`); None
            for no limit but OpenCV's own.
    """
    if data.size == 0:
        raise ImageDecodeError(path, "the file is empty")
    head = data.data  # a memoryview: no copy
    problem = structure_problem(head)
    if problem is not None:
        raise ImageDecodeError(path, f"corrupt: {problem}")
    flags = _READ_FLAGS[color_mode]
    if max_pixels is None and image_size is None:
        headers = []
    else:
        headers = read_headers(head)
    if max_pixels is not None:
        problem = size_problem(headers, max_pixels)
        if problem is not None:
            raise ImageDecodeError(path, problem)
    if image_size is not None and len(headers) == 1 and headers[0].format == "JPEG" and headers[0].size:
        f = reduction_factor(headers[0].size, image_size)
        if f > 1:
            flags = _REDUCED_FLAGS[f] | (cv2.IMREAD_COLOR_RGB if color_mode == "rgb" else 0)
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as e:
        raise ImageDecodeError(path, f"OpenCV failed: {str(e).strip()}") from e
    if image is None:
        raise ImageDecodeError(path, "not a supported image, or the data is corrupt")
    if image.ndim == 2:
        image = image[:, :, None]
    channels = COLOR_MODES[color_mode]
    if image.shape[2] != channels:  # a decoder that ignores the mode asked for (OpenCV 5's PFM reader)
        fix = _CHANNEL_FIXES.get((image.shape[2], channels))
        if fix is None:
            raise ImageDecodeError(path, f"decoded to {image.shape[2]} channels; {color_mode!r} needs {channels}")
        image = cv2.cvtColor(image, fix).reshape(*image.shape[:2], channels)
    return image


# Above this many source pixels, `resize` does not make a float32 copy (4 bytes a sample) to speed
# up an area shrink: the result is the same either way, and the copy would cost more memory than time.
FLOAT_AREA_MAX_PIXELS = 1 << 21


def _area_in_float(size: tuple[int, int], image_size: tuple[int, int]) -> bool:
    """Whether an area resize from `size` goes through a float32 copy (see `resize`).

    Only where OpenCV's `INTER_AREA` takes its general path, which sums in
    float32: a shrink along both axes (or one axis kept) by a factor that is
    not an integer along both. An integer shrink takes OpenCV's integer path
    instead, and an enlargement its bilinear path; both round differently.
    """
    (height, width), (target_h, target_w) = size, image_size
    shrinks = height >= target_h and width >= target_w
    integer = height % target_h == 0 and width % target_w == 0
    return shrinks and not integer and height * width <= FLOAT_AREA_MAX_PIXELS


def resize(image: np.ndarray, image_size: tuple[int, int], interpolation: str = "area") -> np.ndarray:
    """Resizes an HWC uint8 image to `image_size=(height, width)`.

    Pixel for pixel the same as `cv2.resize` with the named interpolation.
    """
    height, width = image_size
    if image.shape[:2] == (height, width):
        return image
    channels = image.shape[2]
    if interpolation == "area" and _area_in_float(image.shape[:2], image_size):
        # OpenCV's general area loop converts every uint8 sample to float32 as it sums; on a
        # float32 copy it runs 20-30% faster, and rounding back (half to even, as OpenCV
        # rounds) gives the identical uint8 image (tests/test_decode.py checks it).
        out = cv2.resize(image.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
        out = cv2.convertScaleAbs(out)
    else:
        out = cv2.resize(image, (width, height), interpolation=INTERPOLATIONS[interpolation])
    return out.reshape(height, width, channels)


def load_image(
    path: str,
    image_size: tuple[int, int],
    color_mode: str = "rgb",
    interpolation: str = "area",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Reads, decodes and resizes one image file.

    Args:
        path: The image file.
        image_size: `(height, width)` of the output.
        color_mode: `"rgb"` or `"grayscale"`.
        interpolation: One of `INTERPOLATIONS`; `"area"` (the default) is the
            one that does not alias when shrinking.
        max_pixels: Refuse images larger than this (see `decode_bytes`).

    Returns:
        `uint8` array of shape `(height, width, 3 or 1)`.

    Raises:
        ImageDecodeError: The file is missing, unreadable, too large or not an image.
    """
    image = decode_bytes(read_bytes(path), path, color_mode, image_size, max_pixels)
    return resize(image, image_size, interpolation)


def load_decoded(
    path: str,
    image_size: tuple[int, int],
    color_mode: str = "rgb",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Reads and decodes one image file without resizing it (for `augment_input="decoded"`).

    A JPEG at least twice `image_size` is decoded at the reduced scale (1/2,
    1/4 or 1/8) whose both sides still reach `max(image_size)`, in either
    orientation, so a crop of it at `image_size` needs no enlargement; other
    images, and smaller JPEGs, come at full size.

    Args:
        path: The image file.
        image_size: `(height, width)` the image will be cropped or resized to.
        color_mode: `"rgb"` or `"grayscale"`.
        max_pixels: Refuse images larger than this (see `decode_bytes`).

    Returns:
        `uint8` array of shape `(height, width, 3 or 1)`, the image's own size
        (or its reduced JPEG scale).

    Raises:
        ImageDecodeError: The file is missing, unreadable, too large or not an image.
    """
    return decode_bytes(read_bytes(path), path, color_mode, image_size, max_pixels)
