"""The benchmark's image folder: JPEGs cut from photographs that ship inside scikit-image.

Ten classes, one per source photograph. Image `i` belongs to class `i % 10`
and is a random crop of that photograph (random scale, position and
horizontal flip), resized to about 500x375, sharpened, colour-jittered
(per-channel gain, brightness offset) and given mild sensor noise, so that the JPEGs
(quality 90) decode like ordinary photographs rather than like smooth
upscaled ones. A 256x256 variant holds the centre square of the same
images. Every draw comes from `numpy.random.default_rng([seed, i])`, so
the first `n` images of a larger set are the images of a smaller one.

Only photographs whose scikit-image docstring states a licence are used;
the licence sentences are read from those docstrings at build time and
written into the manifest (and so into BENCHMARKS.md). The stereo
"motorcycle" pair is left out: its docstring names the Middlebury 2014
benchmark but no licence.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass

import cv2
import numpy as np

# (function in skimage.data, class folder) in label order.
SOURCES = (
    ("astronaut", "astronaut"),
    ("chelsea", "cat"),
    ("coffee", "coffee"),
    ("rocket", "rocket"),
    ("hubble_deep_field", "hubble"),
    ("immunohistochemistry", "histology"),
    ("retina", "retina"),
    ("camera", "cameraman"),  # grayscale
    ("coins", "coins"),  # grayscale
    ("grass", "grass"),  # grayscale
)
FULL = "500x375"
SQUARE = "256x256"
JPEG_QUALITY = 90
MANIFEST_VERSION = 1
_LICENCE_WORDS = ("copyright", "public domain", "cc0", "licensed", "licence", "license")


@dataclass(frozen=True)
class DataSet:
    """Where a built data set lives."""

    root: str
    n_images: int
    manifest: dict

    def variant(self, name: str) -> str:
        return os.path.join(self.root, name)


def licence_note(name: str) -> str:
    """The licence sentence(s) of `skimage.data.<name>`'s docstring, as written there."""
    import skimage.data

    lines = (getattr(skimage.data, name).__doc__ or "").splitlines()
    kept = []
    for k, line in enumerate(lines):
        is_rule = bool(re.fullmatch(r"\s*-{3,}\s*", line))
        before_rule = k + 1 < len(lines) and re.fullmatch(r"\s*-{3,}\s*", lines[k + 1])
        kept.append("" if is_rule or before_rule else line)
    found = []
    for paragraph in "\n".join(kept).split("\n\n"):
        text = " ".join(paragraph.split())
        if text.startswith(".."):  # references, version notes
            continue
        text = re.sub(r"`([^`<]*?)\s*<[^>]*>`_*", r"\1", text)  # RST links: keep the words
        found += [s for s in re.split(r"(?<=\.)\s+", text) if any(w in s.lower() for w in _LICENCE_WORDS)]
    return " ".join(found) if found else "(no licence note found in the docstring)"


def load_source(name: str) -> np.ndarray:
    """The photograph as uint8 RGB."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8)


def make_image(source: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One jittered crop of `source`, about 500x375, uint8 RGB."""
    out_w = 500 + int(rng.integers(-20, 21))
    out_h = 375 + int(rng.integers(-15, 16))
    aspect = out_w / out_h * float(np.exp(rng.uniform(-0.1, 0.1)))
    src_h, src_w = source.shape[:2]
    max_w = min(src_w, src_h * aspect)
    scale = float(np.sqrt(rng.uniform(0.3, 1.0)))
    crop_w = max(16, int(max_w * scale))
    crop_h = max(16, min(src_h, int(crop_w / aspect)))
    x0 = int(rng.integers(0, src_w - crop_w + 1))
    y0 = int(rng.integers(0, src_h - crop_h + 1))
    crop = source[y0 : y0 + crop_h, x0 : x0 + crop_w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    shrinking = crop_w >= out_w
    image = cv2.resize(
        np.ascontiguousarray(crop), (out_w, out_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    )
    # Upscaled crops are smoother than camera images; an unsharp mask restores
    # some fine detail, so the JPEGs are closer to photographs in size.
    blurred = cv2.GaussianBlur(image, (0, 0), 1.5)
    image = cv2.addWeighted(image, 1.8, blurred, -0.8, 0).astype(np.float32)
    gain = rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    offset = np.float32(rng.uniform(-12.0, 12.0))
    noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 4.0))
    image = image * gain + offset + noise
    return np.clip(image, 0, 255).astype(np.uint8)


def centre_square(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return cv2.resize(image[y0 : y0 + s, x0 : x0 + s], (side, side), interpolation=cv2.INTER_AREA)


def _write_jpeg(path: str, rgb: np.ndarray) -> int:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"could not encode {path}")
    data.tofile(path)
    return int(data.size)


def _class_dirs() -> list[str]:
    return [f"{k:02d}_{folder}" for k, (_, folder) in enumerate(SOURCES)]


def relative_path(i: int) -> str:
    return f"{_class_dirs()[i % len(SOURCES)]}/img_{i:05d}.jpg"


def build(data_dir: str, n_images: int, seed: int = 0, log=print) -> DataSet:
    """Builds (or reuses) `n_images` JPEGs under `data_dir/n{n}-s{seed}/{500x375,256x256}`."""
    import skimage

    root = os.path.join(data_dir, f"n{n_images}-s{seed}")
    manifest_path = os.path.join(root, "manifest.json")
    key = {"version": MANIFEST_VERSION, "n_images": n_images, "seed": seed, "sources": [s for s, _ in SOURCES]}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if all(manifest.get(k) == v for k, v in key.items()):
            return DataSet(root, n_images, manifest)
    start = time.perf_counter()
    log(f"building {n_images} JPEGs in {root} ...")
    sources = [load_source(name) for name, _ in SOURCES]
    for variant in (FULL, SQUARE):
        for d in _class_dirs():
            os.makedirs(os.path.join(root, variant, d), exist_ok=True)
    bytes_full = bytes_square = 0
    for i in range(n_images):
        image = make_image(sources[i % len(SOURCES)], np.random.default_rng([seed, i]))
        rel = relative_path(i)
        bytes_full += _write_jpeg(os.path.join(root, FULL, rel), image)
        bytes_square += _write_jpeg(os.path.join(root, SQUARE, rel), centre_square(image, 256))
    manifest = dict(
        key,
        jpeg_quality=JPEG_QUALITY,
        skimage_version=skimage.__version__,
        classes=_class_dirs(),
        images=[
            {
                "class": cls,
                "source": f"skimage.data.{name}()",
                "shape": list(src.shape),
                "licence": licence_note(name),
            }
            for cls, (name, _), src in zip(_class_dirs(), SOURCES, sources)
        ],
        mean_kb={FULL: bytes_full / n_images / 1024, SQUARE: bytes_square / n_images / 1024},
        build_seconds=time.perf_counter() - start,
    )
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
    log(f"built in {manifest['build_seconds']:.1f} s")
    return DataSet(root, n_images, manifest)


def view(data: DataSet, variant: str, n_images: int) -> str:
    """A folder with the first `n_images` images of `variant` (hard links), or the variant itself."""
    if n_images >= data.n_images:
        return data.variant(variant)
    target = os.path.join(data.root, "views", f"{variant}-first{n_images}")
    done = os.path.join(target, ".complete")
    if os.path.exists(done):
        return target
    for i in range(n_images):
        rel = relative_path(i)
        dst = os.path.join(target, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.exists(dst):
            os.remove(dst)
        src = os.path.join(data.variant(variant), rel)
        try:
            os.link(src, dst)
        except OSError:
            import shutil

            shutil.copyfile(src, dst)
    open(done, "w").close()
    return target
