"""Feeds mutated JPEG/PNG bytes to the decode path; run as a script by test_fuzz.py.

Exit code 0 means every input either decoded to a uint8 image or raised the
library's own ImageDecodeError; the peak RSS it prints shows that no input
made the decoder allocate far beyond its size (a 1.5 KB PNG can declare a
4 GB chunk). Anything else (another exception, or a crash
of the interpreter inside OpenCV) fails the test that runs this.
"""

import sys

import cv2
import numpy as np

from mixup_sequence import ImageDecodeError
from mixup_sequence.decode import decode_bytes, resize


def seeds(rng):
    image = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    for ext in (".jpg", ".png", ".bmp", ".webp", ".tiff"):
        yield cv2.imencode(ext, image)[1].tobytes()


def mutate(rng, data):
    data = bytearray(data)
    kind = rng.integers(0, 4)
    if kind == 0:  # flip random bytes
        for _ in range(rng.integers(1, 20)):
            data[rng.integers(0, len(data))] = rng.integers(0, 256)
    elif kind == 1:  # truncate
        data = data[: rng.integers(0, len(data))]
    elif kind == 2:  # splice a random run of bytes in the header region
        at = rng.integers(0, min(len(data), 64))
        data[at : at + 8] = rng.bytes(8)
    else:  # duplicate a slice
        a, b = sorted(rng.integers(0, len(data), 2))
        data = data[:b] + data[a:b] + data[b:]
    return bytes(data)


def peak_rss_kb():
    """This process's own peak RSS (VmHWM; ru_maxrss would include the parent's from before exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def main(count, seed):
    rng = np.random.default_rng(seed)
    bases = list(seeds(rng))
    decoded = refused = 0
    for k in range(count):
        data = mutate(rng, bases[k % len(bases)])
        try:
            image = decode_bytes(np.frombuffer(data, np.uint8), f"fuzz-{k}", "rgb", (16, 16), max_pixels=4_000_000)
            image = resize(image, (16, 16))
        except ImageDecodeError:
            refused += 1
            continue
        if image.dtype != np.uint8 or image.shape != (16, 16, 3):
            print(f"input {k}: wrong output {image.dtype} {image.shape}")
            return 1
        decoded += 1
    peak_mb = peak_rss_kb() // 1024
    print(f"{count} inputs: {decoded} decoded, {refused} refused with ImageDecodeError; peak RSS {peak_mb} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
