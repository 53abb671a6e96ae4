"""Write a small, deterministic image-folder tree of handwritten digits.

Source: scikit-learn's bundled copy of the UCI "Optical Recognition of
Handwritten Digits" test set (``sklearn.datasets.load_digits``), which ships
with scikit-learn and needs no network access.

Layout written next to this script::

    digits/<class>/digit_<index>.png     8-bit grayscale PNG (1 channel)
    digits/<class>/digit_<index>.jpg     RGB JPEG, quality 95, mild colour tint
    digits/<class>/digit_<index>.png     RGBA PNG with a non-trivial alpha channel
    digits/<class>/more/...              a few files of each class, one level deeper

``<index>`` is the image's row in ``load_digits()``.  The first 40 images of
each class (in dataset order) are used, 400 files in all.  The ``digits/``
folder is deleted and rebuilt on every run, so reruns give identical bytes
(for a given OpenCV build).

Usage::

    python data_samples/make_samples.py
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from sklearn.datasets import load_digits

SEED = 20240517
PER_CLASS = 40
N_JPEG = 10  # about a quarter of each class
N_RGBA = 2
N_NESTED = 5
SIZE = 32
JPEG_QUALITY = 95
NESTED_DIR = "more"

OUT_DIR = Path(__file__).resolve().parent / "digits"


def upscale(img8x8: np.ndarray) -> np.ndarray:
    """0..16 8x8 -> 0..255 uint8 SIZE x SIZE, bicubic, clipped."""
    scaled = img8x8.astype(np.float32) * (255.0 / 16.0)
    big = cv2.resize(scaled, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    return np.clip(np.rint(big), 0, 255).astype(np.uint8)


def tinted_bgr(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey image -> 3-channel BGR image with a mild per-image colour tint."""
    gain = rng.uniform(0.75, 1.0, size=3)  # per-channel gain (R, G, B)
    offset = rng.uniform(0.0, 30.0, size=3)  # faint coloured background
    rgb = gray[..., None].astype(np.float32) * gain + offset
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1])  # OpenCV writes BGR


def bgra_with_alpha(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey image -> BGRA with alpha 255 on the digit and 128 elsewhere."""
    bgr = tinted_bgr(gray, rng)
    alpha = np.where(gray > 0, 255, 128).astype(np.uint8)
    return np.dstack([bgr, alpha])


def write(path: Path, img: np.ndarray, params: list[int] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img, params or []):
        raise RuntimeError(f"cv2.imwrite failed for {path}")


def main(rng: np.random.Generator) -> None:
    data = load_digits()
    images, target = data.images, data.target

    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True)

    counts: Counter[str] = Counter()
    total_bytes = 0
    png_params = [cv2.IMWRITE_PNG_COMPRESSION, 9]
    jpg_params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]

    for label in range(10):
        indices = np.flatnonzero(target == label)[:PER_CLASS]
        if len(indices) < PER_CLASS:
            raise RuntimeError(f"class {label} has only {len(indices)} images")
        # Which positions within the class get which format / the nested folder.
        order = rng.permutation(PER_CLASS)
        rgba_pos = set(order[:N_RGBA].tolist())
        jpeg_pos = set(order[N_RGBA : N_RGBA + N_JPEG].tolist())
        nested_pos = set(rng.choice(PER_CLASS, size=N_NESTED, replace=False).tolist())

        for pos, idx in enumerate(indices):
            gray = upscale(images[idx])
            folder = OUT_DIR / str(label)
            if pos in nested_pos:
                folder = folder / NESTED_DIR
                counts["nested"] += 1
            stem = f"digit_{idx:04d}"
            if pos in rgba_pos:
                path = folder / f"{stem}.png"
                write(path, bgra_with_alpha(gray, rng), png_params)
                counts["rgba_png"] += 1
            elif pos in jpeg_pos:
                path = folder / f"{stem}.jpg"
                write(path, tinted_bgr(gray, rng), jpg_params)
                counts["rgb_jpeg"] += 1
            else:
                path = folder / f"{stem}.png"
                write(path, gray, png_params)
                counts["gray_png"] += 1
            total_bytes += path.stat().st_size

    n_files = counts["gray_png"] + counts["rgb_jpeg"] + counts["rgba_png"]
    print(
        f"wrote {n_files} files to {OUT_DIR}: "
        f"gray_png={counts['gray_png']} rgb_jpeg={counts['rgb_jpeg']} "
        f"rgba_png={counts['rgba_png']} (in nested '{NESTED_DIR}/': {counts['nested']}), "
        f"total {total_bytes} bytes"
    )


if __name__ == "__main__":
    main(np.random.default_rng(SEED))
