"""Worker threads: the sequence's own `ThreadPool` against Keras' own thread pool, same run.

    python benchmarks/bench_threads.py [--cycles 8]

Keras' `PyDataset(workers=2)` restarts its thread pool every epoch, waits
0.1 s on an empty queue at the end of each, and gets a freshly allocated
batch from every `__getitem__`. The sequence with `workers=2` runs its own
persistent threads that write into reused slots and prefetch into the next
epoch. Both here load the same batches with the same `BatchLoader`, through
Keras' adapter as `fit` does, on the data of `bench_loaders.py` (built if
missing); 2 worker processes are the reference. One process alternates one
epoch of each, reversing the order every cycle, and reports per image size
the median and quartiles of each path's images/s over the reference's, cycle
by cycle. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _dataset  # noqa: E402
from _paths import AdapterLoader, albumentations_chain, timed_epoch  # noqa: E402
from bench_loaders import SETTINGS  # noqa: E402


def keras_threads(sequence, workers: int):
    """The sequence's batches served by Keras' own thread pool, each loaded into a fresh array."""
    import keras

    loader = sequence.loader

    class KerasThreads(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=workers, use_multiprocessing=False)

        def __len__(self) -> int:
            return len(loader)

        def __getitem__(self, i: int):
            return loader.load_batch(sequence.epoch, i)

    return KerasThreads()


def compare(directory: str, image_size: tuple[int, int], cycles: int, workers: int = 2) -> dict[str, list[float]]:
    from mixup_sequence import MixupSequence

    def sequence(**kwargs):
        return MixupSequence(
            directory,
            batch_size=64,
            image_size=image_size,
            mixup_alpha=0.2,
            augment=albumentations_chain(),
            seed=0,
            workers=workers,
            **kwargs,
        )

    loaders = {
        "processes": AdapterLoader(sequence(use_multiprocessing=True)),
        "ThreadPool (the sequence's threads)": AdapterLoader(sequence()),
        "Keras' thread pool": AdapterLoader(keras_threads(sequence(), workers)),
    }
    rates: dict[str, list[float]] = {name: [] for name in loaders}
    try:
        for loader in loaders.values():
            timed_epoch(loader)  # warm-up: starts the workers
        for cycle in range(cycles):
            for name, loader in list(loaders.items())[:: 1 if cycle % 2 else -1]:
                rates[name].append(timed_epoch(loader))
    finally:
        for loader in loaders.values():
            loader.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--data-dir", default=os.path.join("out", "bench", "data"))
    args = parser.parse_args()
    data = _dataset.build(args.data_dir, 2000, seed=0, log=print)
    for setting, (variant, image_size) in SETTINGS.items():
        rates = compare(_dataset.view(data, variant, 1024), image_size, args.cycles)
        base = rates["processes"]
        print(f"\n{setting} (from {variant}), batch 64, mixup 0.2, 3-transform chain, {args.cycles} cycles:")
        for name, series in rates.items():
            ratios = [a / b for a, b in zip(series, base)]
            q1, median, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
            print(
                f"  {name:36s} median {statistics.median(series):5.0f} images/s; "
                f"/ processes per cycle {median:.2f} (quartiles {q1:.2f}-{q3:.2f})"
            )


if __name__ == "__main__":
    main()
