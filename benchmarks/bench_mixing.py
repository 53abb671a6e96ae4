"""Mixing a 64x224x224x3 uint8 batch into float32: the library vs whole-batch NumPy.

    python benchmarks/bench_mixing.py

Both compute the same mixup (lam per sample, partner a permutation of the
batch) into [0, 1]; the baseline is the natural vectorised NumPy form with
reused buffers. Prints the median of 15 runs of each and their ratio, in
the same run. A benchmark, not a test.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from mixup_sequence import mixing


def numpy_mixup(images, params, out, gathered, tmp):
    w_self = (params.lam / 255.0).astype(np.float32)[:, None, None, None]
    w_other = ((1.0 - params.lam) / 255.0).astype(np.float32)[:, None, None, None]
    np.take(images, params.partner, axis=0, out=gathered)
    np.multiply(images, w_self, out=out)
    np.multiply(gathered, w_other, out=tmp)
    np.add(out, tmp, out=out)
    return out


def median_ms(fn, repeats=15):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    shape = (64, 224, 224, 3)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    params = mixing.sample_mix_params(mixing.MixConfig(mixup_alpha=0.4), rng, shape[0], shape[1:3])
    out, tmp, gathered = np.empty(shape, np.float32), np.empty(shape, np.float32), np.empty_like(images)
    ours = median_ms(lambda: mixing.mix_images(images, images, params))
    ours_reused = median_ms(lambda: mixing.mix_images(images, images, params, out=out))
    base = median_ms(lambda: numpy_mixup(images, params, out, gathered, tmp))
    np.testing.assert_allclose(
        mixing.mix_images(images, images, params), numpy_mixup(images, params, out, gathered, tmp), atol=1e-6
    )
    print("| path | ms per batch | vs NumPy |")
    print("| --- | --- | --- |")
    print(f"| mix_images, fresh output (what a batch uses) | {ours:.1f} | {base / ours:.2f}x |")
    print(f"| mix_images, reused output | {ours_reused:.1f} | {base / ours_reused:.2f}x |")
    print(f"| whole-batch NumPy, reused buffers | {base:.1f} | 1.00x |")


if __name__ == "__main__":
    main()
