"""Where the consuming process's time goes at cached rates: the sequence, Keras' adapter, tensor conversion.

With the cache, 2 worker processes make batches faster than without, so
the process that consumes them (the one running `fit`) may become the
bottleneck. Its CPU per batch is split here into layers, each timed over
whole epochs of the cached sequence (2 processes, float32 and uint8):

- the sequence's `__getitem__` alone, called in order as Keras calls it;
- through Keras' `PyDatasetAdapter`: its numpy iterator (what the JAX
  and PyTorch backends' `fit` iterates) and its `tf.data` iterator (what
  the TensorFlow backend's `fit` iterates: `Dataset.from_generator`, which
  copies each batch into a tensor);
- Keras' own share, apart from ours: the same two iterators over a
  `PyDataset` that returns one batch held in memory (no loading at all),
  and `tf.convert_to_tensor` of a batch alone.

CPU is `time.process_time()` of this process (all its threads: the
caller, the pool's and tf.data's); wall time per batch is also given.
"""

from __future__ import annotations

import time

import numpy as np


def held_batch(x: np.ndarray, y: np.ndarray, batches: int):
    """A `PyDataset` of `batches` batches that are all one batch held in memory: Keras' cost alone."""
    import keras

    class HeldBatch(keras.utils.PyDataset):
        def __len__(self) -> int:
            return batches

        def __getitem__(self, index: int):
            return x, y

    return HeldBatch(workers=1, use_multiprocessing=False)


def _time(run, epochs: int) -> dict:
    """Runs `run()` (one epoch: returns images, batches) once unmeasured, then `epochs` times."""
    run()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    images = batches = 0
    for _ in range(epochs):
        n, b = run()
        images, batches = images + n, batches + b
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "images_per_s": images / wall if wall else None,
        "wall_ms_per_batch": 1e3 * wall / batches,
        "cpu_ms_per_batch": 1e3 * cpu / batches,
        "batches": batches,
    }


def profile(spec: dict, build_loader, settle) -> dict:
    """The layers of the parent's time for `spec`'s path (a cached path: float32 or uint8 output)."""
    record = {"path": spec["path"], "size": spec["size"], "kind": "parent", "stages": []}
    try:
        record["stages"] = _stages(spec, build_loader, settle)
        record["images_per_s"] = record["stages"][1]["images_per_s"]
    except Exception as e:  # reported, not fatal
        record["error"] = f"{type(e).__name__}: {e}"[:500]
    return record


def _stages(spec: dict, build_loader, settle) -> list[dict]:
    from _paths import AdapterLoader

    loader = build_loader(spec["path"], spec)  # the cache is filled before timing
    sequence = loader.dataset
    tf_loader = None
    try:

        def by_index() -> tuple[int, int]:
            images = 0
            for i in range(len(sequence)):
                images += int(sequence[i][0].shape[0])
            settle(loader)
            return images, len(sequence)

        def through(adapter_loader) -> tuple[int, int]:
            done = adapter_loader.run_epoch()
            settle(adapter_loader)
            return done

        tf_loader = AdapterLoader(sequence, "tf")  # takes batches 0 and 1 for the output signature
        settle(loader)
        x, y = (np.array(a) for a in sequence[0])  # copies: the slot goes back to the pool
        settle(loader)
        held = held_batch(x, y, len(sequence))
        held_numpy, held_tf = AdapterLoader(held, "numpy"), AdapterLoader(held, "tf")
        stages = [
            ("the sequence's `__getitem__`, in order", by_index),
            ("Keras' adapter, numpy iterator", lambda: through(loader)),
            ("Keras' adapter, tf.data iterator (TensorFlow fit)", lambda: through(tf_loader)),
            ("Keras alone: numpy iterator over a batch held in memory", held_numpy.run_epoch),
            ("Keras alone: tf.data iterator over a batch held in memory", held_tf.run_epoch),
            ("`tf.convert_to_tensor` of x and y alone", _convert(x, y, len(sequence))),
        ]
        return [{"stage": name, **_time(run, spec["epochs"])} for name, run in stages]
    finally:
        for each in (tf_loader, loader):
            if each is not None:
                each.close()


def _convert(x: np.ndarray, y: np.ndarray, batches: int):
    import tensorflow as tf

    def run() -> tuple[int, int]:
        for _ in range(batches):
            tf.convert_to_tensor(x)
            tf.convert_to_tensor(y)
        return batches * len(x), batches

    return run
