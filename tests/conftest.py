import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import pytest

# Distinct solid colours (RGB) per class, so a pixel tells which image it came from.
COLOURS = {"cat": (255, 0, 0), "dog": (0, 255, 0), "fox": (0, 0, 255)}


def alive(pid):
    """True if process `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def write_image(path, rgb, size=(12, 10), channels=3):
    """Writes a solid-colour image (RGB given; OpenCV wants BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    image = np.empty((h, w, 3), dtype=np.uint8)
    image[:] = rgb[::-1]
    if channels == 1:
        image = image[:, :, 0]
    ok = cv2.imwrite(str(path), image)
    if not ok:
        raise RuntimeError(f"could not write {path}")
    return path


def make_tree(root, counts, ext=".png"):
    """Writes `counts[class]` solid images per class; image k of a class gets a shade k."""
    for name, n in counts.items():
        base = np.array(COLOURS.get(name, (128, 128, 128)))
        for k in range(n):
            shade = np.clip(base - 3 * k, 0, 255).astype(int)
            write_image(root / name / f"img_{k:03d}{ext}", tuple(int(v) for v in shade))
    return root


@pytest.fixture
def tree(tmp_path):
    """Three classes, 7 + 5 + 6 PNG images of 12x10."""
    return make_tree(tmp_path / "data", {"cat": 7, "dog": 5, "fox": 6})


@pytest.fixture
def textured_tree(tmp_path):
    """Two classes of noisy images, so augmentations change pixels visibly."""
    rng = np.random.default_rng(0)
    root = tmp_path / "tex"
    for c in ("a", "b"):
        for k in range(9):
            p = root / c / f"{k}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(p), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    return root
