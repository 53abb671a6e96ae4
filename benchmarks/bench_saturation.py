"""Where the time goes with 2 worker processes: are the workers saturated, and on what?

    python benchmarks/bench_saturation.py [--epochs 3]

For each image size of `bench_loaders.py` (on the same generated data, built
if missing), iterates `MixupSequence(workers=2, use_multiprocessing=True)`
through Keras' adapter, as `fit` does, and reports per epoch: images/s, how
busy the worker processes were (their CPU time over 2 x wall time), their
CPU time per image, and the parent's CPU share. Then, in the same run, the
same per-image work timed in this process, one image after another: the
limit's read + decode + resize + augment, and the library's whole per-image
cost (`load_batch` into a reused output, as in a worker, which adds the keyed
generators, the float32 output and the mixing). If the workers are ~100% busy, throughput is
`2 / worker CPU per image`, and any gap to the limit is per-image work.
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _dataset  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from _paths import AdapterLoader, albumentations_chain  # noqa: E402
from bench_loaders import SETTINGS  # noqa: E402


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def saturation(directory: str, image_size: tuple[int, int], epochs: int) -> list[dict]:
    from mixup_sequence import MixupSequence

    seq = MixupSequence(
        directory,
        batch_size=64,
        image_size=image_size,
        seed=0,
        mixup_alpha=0.2,
        augment=albumentations_chain(),
        workers=2,
        use_multiprocessing=True,
    )
    loader = AdapterLoader(seq)
    loader.run_epoch()  # warm-up; starts the workers
    pids = [p.pid for p in seq._pool._procs]
    rows = []
    for _ in range(epochs):
        workers0, parent0, start = sum(map(_cpu_s, pids)), time.process_time(), time.perf_counter()
        images, _ = loader.run_epoch()
        wall = time.perf_counter() - start
        workers_cpu, parent_cpu = sum(map(_cpu_s, pids)) - workers0, time.process_time() - parent0
        rows.append(
            {
                "images_per_s": images / wall,
                "workers_busy": workers_cpu / (len(pids) * wall),
                "worker_ms_per_image": 1e3 * workers_cpu / images,
                "parent_share": parent_cpu / wall,
            }
        )
    seq.close()
    return rows


def per_image_ms(directory: str, image_size: tuple[int, int], images: int = 256) -> dict[str, float]:
    """The limit's loop and the library's `load_batch`, image after image in this process (best of 3)."""
    from mixup_sequence.augment import Augmenter
    from mixup_sequence.index import index_directory
    from mixup_sequence.loader import BatchLoader
    from mixup_sequence.mixing import MixConfig
    from mixup_sequence.options import LoaderOptions

    cv2.setNumThreads(1)
    index = index_directory(directory)
    paths = [index.path(k) for k in range(min(images, index.samples))]
    chain = albumentations_chain()
    height, width = image_size
    options = LoaderOptions(batch_size=64, image_size=image_size, interpolation="area", shuffle=False)
    batch_loader = BatchLoader(
        index, options, 0, augment=Augmenter(albumentations_chain()), mix=MixConfig(mixup_alpha=0.2)
    )

    def limit() -> None:
        for path in paths:
            image = cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR_RGB), (width, height), interpolation=cv2.INTER_AREA)
            chain(image=image)

    x_shape, y_shape = batch_loader.batch_shapes()
    out = np.zeros(x_shape, np.float32), np.zeros(y_shape, np.float32)  # reused, as a worker's slot is

    def library() -> None:
        for i in range(len(paths) // 64):
            batch_loader.load_batch(0, i, out=out)

    best = {"limit": float("inf"), "library": float("inf")}
    for _ in range(3):  # alternated, so a drift of the machine's speed touches both
        for name, fn in (("limit", limit), ("library", library)):
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], 1e3 * (time.perf_counter() - start) / len(paths))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data-dir", default=os.path.join("out", "bench", "data"))
    args = parser.parse_args()
    data = _dataset.build(args.data_dir, 2000, seed=0, log=print)
    for setting, (variant, image_size) in SETTINGS.items():
        directory = _dataset.view(data, variant, 1024)
        print(f"\n{setting} (from {variant}), 2 worker processes, batch 64, mixup 0.2, 3-transform chain:")
        for k, row in enumerate(saturation(directory, image_size, args.epochs)):
            print(
                f"  epoch {k + 1}: {row['images_per_s']:6.0f} images/s, workers busy {row['workers_busy']:4.0%}, "
                f"worker CPU {row['worker_ms_per_image']:.2f} ms/image, parent {row['parent_share']:.0%} of a core"
            )
        ms = per_image_ms(directory, image_size)
        print(
            f"  one process, per image: limit {ms['limit']:.2f} ms, library {ms['library']:.2f} ms "
            f"(x{ms['library'] / ms['limit']:.2f}); 2 / library = {2e3 / ms['library']:.0f} images/s"
        )


if __name__ == "__main__":
    main()
