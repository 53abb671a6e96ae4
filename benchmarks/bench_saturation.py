"""Where the time goes with 2 worker processes: are the workers saturated, and on what?

    python benchmarks/bench_saturation.py [--epochs 3] [--cycles 6]

For each image size of `bench_loaders.py` (on the same generated data, built
if missing), iterates `MixupSequence(workers=2, use_multiprocessing=True)`
through Keras' adapter, as `fit` does, and reports per epoch: images/s, how
busy the worker processes were (their CPU time over 2 x wall time), their
CPU time per image, and the parent's CPU share. Then, in the same run, the
same per-image work timed in this process, one image after another: the
limit's read + decode + resize + augment; that loop with the library's read,
decode and resize (`decode.load_image`, which gives the same pixels, faster)
in place of `cv2.imread` + `cv2.resize`; and the library's whole per-image
cost (`load_batch` into a reused output, as in a worker, which adds the keyed
generators, the float32 output and the mixing). If the workers are ~100% busy, throughput is
`2 / worker CPU per image`, and any gap to the limit is per-image work. Last, cycles that
alternate three runs of the same 1,024 images: the limit's loop in this process (times 2, as
the limit is defined), that loop in 2 processes at once, and the library's `load_batch` in 2
processes at once (no pool, no transport): what running two at once costs each, apart from
everything else. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
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


def _work(directory: str, image_size: tuple[int, int], images: int):
    """The limit's loop over some paths, that loop with the library's decode and resize, and the
    library's `load_batch` over some batches (into a reused output)."""
    from mixup_sequence.augment import Augmenter
    from mixup_sequence.decode import load_image
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

    def limit(part=paths) -> None:
        for path in part:
            image = cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR_RGB), (width, height), interpolation=cv2.INTER_AREA)
            chain(image=image)

    def limit_own_decode(part=paths) -> None:
        for path in part:
            chain(image=load_image(path, image_size))

    x_shape, y_shape = batch_loader.batch_shapes()
    out = np.zeros(x_shape, np.float32), np.zeros(y_shape, np.float32)  # reused, as a worker's slot is

    def library(batches=None, epoch=0) -> None:
        for i in range(len(paths) // 64) if batches is None else batches:
            batch_loader.load_batch(epoch, i, out=out)

    return paths, limit, limit_own_decode, library


def per_image_ms(directory: str, image_size: tuple[int, int], images: int = 256) -> dict[str, float]:
    """The limit's loop (also with the library's decode), and `load_batch`, image after image here (best of 5)."""
    paths, limit, limit_own_decode, library = _work(directory, image_size, images)
    runs = {"limit": limit, "limit, library's decode": limit_own_decode, "library": library}
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(5):  # alternated, so a drift of the machine's speed touches all
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], 1e3 * (time.perf_counter() - start) / len(paths))
    return best


def _serve(tasks, done, limit, library) -> None:
    while (task := tasks.get()) is not None:
        kind, part, epoch = task
        limit(part) if kind == "limit" else library(part, epoch)
        done.put(kind)


def two_at_once(directory: str, image_size: tuple[int, int], cycles: int = 6) -> dict[str, list[float]]:
    """The same work in 2 processes at once (each half of it), alternated with the limit's one-process loop.

    Per cycle: the limit's loop in this process (its rate times 2, as the
    limit is defined), the limit's loop in 2 forked processes at once, and
    the library's `load_batch` in 2 forked processes at once (no pool, no
    transport); the order reverses every cycle. Returns each series of images/s.
    """
    paths, limit, _, library = _work(directory, image_size, 1024)
    batches = len(paths) // 64
    ctx = multiprocessing.get_context("fork")
    tasks, done = [ctx.Queue() for _ in range(2)], ctx.Queue()
    procs = [ctx.Process(target=_serve, args=(q, done, limit, library), daemon=True) for q in tasks]
    for proc in procs:
        proc.start()

    def alone() -> float:
        start = time.perf_counter()
        limit(paths)
        return 2 * len(paths) / (time.perf_counter() - start)

    def at_once(kind: str, epoch: int) -> float:
        start = time.perf_counter()
        for k, q in enumerate(tasks):
            q.put((kind, paths[k::2], epoch) if kind == "limit" else (kind, range(k, batches, 2), epoch))
        for _ in tasks:
            done.get()
        return (len(paths) if kind == "limit" else batches * 64) / (time.perf_counter() - start)

    runs = {
        "limit, 1 process x 2": lambda c: alone(),
        "limit, 2 processes at once": lambda c: at_once("limit", c),
        "library load_batch, 2 processes at once": lambda c: at_once("library", c),
    }
    for fn in runs.values():  # warm-up
        fn(0)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for cycle in range(1, cycles + 1):
        for name, fn in list(runs.items())[:: 1 if cycle % 2 else -1]:
            rates[name].append(fn(cycle))
    for q in tasks:
        q.put(None)
    for proc in procs:
        proc.join()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=6, help="cycles of the 2-processes-at-once comparison")
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
        own = ms["limit, library's decode"]
        print(
            f"  one process, per image: limit {ms['limit']:.2f} ms; with the library's decode and resize "
            f"{own:.2f} ms (x{own / ms['limit']:.2f}); library {ms['library']:.2f} ms "
            f"(x{ms['library'] / ms['limit']:.2f}); 2 / library = {2e3 / ms['library']:.0f} images/s"
        )
        rates = two_at_once(directory, image_size, args.cycles)
        base = rates["limit, 1 process x 2"]
        for name, series in rates.items():
            ratios = [a / b for a, b in zip(series, base)]
            print(
                f"  {name}: median {statistics.median(series):.0f} images/s, "
                f"per cycle / limit {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            )


if __name__ == "__main__":
    main()
