"""The loader paths compared by bench_loaders.py, and the job runner each benchmark process executes.

Every path delivers batches of `batch_size` float32 images of `image_size`,
augmented (flip, rotation within 10 degrees, brightness/contrast) and
mixed with mixup (alpha 0.2), from the same folder. PyDataset paths are
driven the way `fit` drives them, through Keras' own `PyDatasetAdapter`:

    adapter = PyDatasetAdapter(dataset, shuffle=False)
    adapter.on_epoch_end()            # fit resets its epoch iterator once before epoch 1
    for each epoch:
        adapter.on_epoch_begin()      # starts the worker pool (a fresh one every epoch)
        for batch in adapter.get_numpy_iterator(): ...
        adapter.on_epoch_end()        # stops it; the dataset's on_epoch_end

(`--adapter tf` uses `adapter.get_tf_dataset()` instead, which is what the
TensorFlow backend's `fit` iterates; it also calls `dataset[0]` and
`dataset[1]` in the parent to infer the output signature.)
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import dataclass

import cv2
from _measure import Measurement, measure

INTERPOLATIONS = {
    "area": cv2.INTER_AREA,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
}


@dataclass(frozen=True)
class PathInfo:
    label: str  # "{w}" stands for the worker count
    keras: bool  # imports Keras (and so TensorFlow)
    how: str

    def title(self, workers: int) -> str:
        return self.label.format(w=workers)


PATHS = {
    "ours-serial": PathInfo("mixup_sequence, serial", True, "MixupSequence(workers=1), adapter, main thread"),
    "ours-threads": PathInfo(
        "mixup_sequence, {w} threads", True, "MixupSequence(workers=W), adapter, the sequence's own threads"
    ),
    "ours-processes": PathInfo(
        "mixup_sequence, {w} processes", True, "MixupSequence(workers=W, use_multiprocessing=True), adapter"
    ),
    "ours-processes-uint8": PathInfo(
        "mixup_sequence, {w} processes, uint8 output",
        True,
        "MixupSequence(workers=W, use_multiprocessing=True, dtype='uint8'), adapter (opt-in; not the targets')",
    ),
    "naive-processes": PathInfo(
        "naive OpenCV PyDataset, {w} processes", True, "cv2 + Albumentations + NumPy mixup, float32, adapter"
    ),
    "blog-generator": PathInfo(
        "blog recipe, as published (generator)",
        True,
        "two flow_from_directory iterators zipped; Keras' generator adapter, steps_per_epoch=n//batch",
    ),
    "blog-processes": PathInfo(
        "blog recipe in a PyDataset, {w} processes", True, "the same recipe behind a PyDataset, adapter"
    ),
    "tfdata": PathInfo(
        "tf.data + keras.layers.MixUp",
        True,
        "image_dataset_from_directory, Random{Flip,Rotation,Brightness,Contrast}, MixUp, map+prefetch AUTOTUNE",
    ),
    "limit": PathInfo("limit: bare loop per core x cores", False, "imread + resize + Albumentations, 1 process"),
    "limit-processes": PathInfo(
        "limit's loop, {w} processes at once",
        False,
        "the limit's loop in W forked processes at once, each over every W-th file; measured as it is, not "
        "scaled (not the targets' limit)",
    ),
}
OURS = ("ours-serial", "ours-threads", "ours-processes")
REFERENCE = "ours-processes"  # what the paired runs compare every other path with


def list_files(directory: str) -> list[str]:
    """All JPEG/PNG files in the class folders of `directory`, sorted."""
    found = []
    for name in sorted(os.listdir(directory)):
        folder = os.path.join(directory, name)
        if os.path.isdir(folder) and not name.startswith("."):
            files = sorted(f for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg", ".png")))
            found += [os.path.join(folder, f) for f in files]
    return found


def albumentations_chain():
    """The 3-transform chain every OpenCV path runs (Albumentations' default probabilities)."""
    import albumentations as A

    return A.Compose([A.HorizontalFlip(p=0.5), A.Affine(rotate=(-10, 10), p=0.5), A.RandomBrightnessContrast(p=0.5)])


class AdapterLoader:
    """A `PyDataset` driven through Keras' `PyDatasetAdapter`, epoch by epoch, as `fit` does."""

    def __init__(self, dataset, iterator: str = "numpy"):
        from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

        self.dataset = dataset
        self.adapter = PyDatasetAdapter(dataset, shuffle=False)
        self._tf_dataset = self.adapter.get_tf_dataset() if iterator == "tf" else None
        self.adapter.on_epoch_end()  # fit's EpochIterator.reset() before the first epoch

    def run_epoch(self) -> tuple[int, int]:
        self.adapter.on_epoch_begin()
        images = batches = 0
        batches_iter = self._tf_dataset if self._tf_dataset is not None else self.adapter.get_numpy_iterator()
        for batch in batches_iter:
            images += int(batch[0].shape[0])
            batches += 1
        self.adapter.on_epoch_end()
        return images, batches

    def describe(self) -> str:
        epoch = getattr(self.dataset, "epoch", None)
        return "" if epoch is None else f"dataset.epoch={epoch} at the end"

    def close(self) -> None:
        if self.adapter.enqueuer is not None:
            self.adapter.enqueuer.stop()
        close = getattr(self.dataset, "close", None)  # a dataset that owns workers may offer one
        if callable(close):
            close()


class GeneratorLoader:
    """A Python generator through Keras' generator adapter, `steps` batches per epoch.

    As `fit(generator, steps_per_epoch=steps)` does: one iterator carried
    across epochs (the adapter first takes two batches to infer shapes,
    then replays them).
    """

    def __init__(self, generator, steps: int):
        from keras.src.trainers.data_adapters.generator_data_adapter import GeneratorDataAdapter

        self.adapter = GeneratorDataAdapter(generator)
        self.steps = steps
        self.iterator = iter(self.adapter.get_numpy_iterator())

    def run_epoch(self) -> tuple[int, int]:
        self.adapter.on_epoch_begin()
        images = 0
        for _ in range(self.steps):
            x, _y = next(self.iterator)
            images += int(x.shape[0])
        self.adapter.on_epoch_end()
        return images, self.steps


class TfDataLoader:
    """`image_dataset_from_directory` + Keras augmentation layers + `MixUp`, in tf.data."""

    def __init__(self, job: dict):
        import keras
        import tensorflow as tf

        seed = job["seed"]
        dataset = keras.utils.image_dataset_from_directory(
            job["data"],
            label_mode="categorical",
            image_size=tuple(job["image_size"]),
            batch_size=job["batch_size"],
            shuffle=True,
            seed=seed,
            interpolation=job["interpolation"],
            verbose=False,
        )
        layers = [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomBrightness(0.2, seed=seed + 2),
            keras.layers.RandomContrast(0.2, seed=seed + 3),
        ]
        mix_up = keras.layers.MixUp(alpha=job["alpha"], seed=seed + 4)

        def augment_and_mix(images, labels):
            for layer in layers:
                images = layer(images, training=True)
            mixed = mix_up({"images": images, "labels": labels}, training=True)
            return mixed["images"] / 255.0, mixed["labels"]

        self.dataset = dataset.map(augment_and_mix, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def run_epoch(self) -> tuple[int, int]:
        images = batches = 0
        for x, _y in self.dataset:
            images += int(x.shape[0])
            batches += 1
        return images, batches


class LimitLoader:
    """The same read + decode + resize + augment, image after image, in one process with one OpenCV thread."""

    def __init__(self, job: dict):
        cv2.setNumThreads(1)
        self.paths = list_files(job["data"])
        self.size = tuple(job["image_size"])
        self.batch_size = job["batch_size"]
        self.interpolation = INTERPOLATIONS[job["interpolation"]]
        self.chain = albumentations_chain()
        self.flag = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)

    def run(self, paths: list[str]) -> None:
        height, width = self.size
        for path in paths:
            image = cv2.imread(path, self.flag)
            if self.flag == cv2.IMREAD_COLOR:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            image = cv2.resize(image, (width, height), interpolation=self.interpolation)
            self.chain(image=image)

    def epoch_size(self) -> tuple[int, int]:
        """Images and batches in an epoch."""
        return len(self.paths), math.ceil(len(self.paths) / self.batch_size)

    def run_epoch(self) -> tuple[int, int]:
        self.run(self.paths)
        return self.epoch_size()


def _limit_worker(limit: LimitLoader, part: list[str], conn) -> None:
    while conn.recv():
        limit.run(part)
        conn.send(True)


class LimitProcessesLoader:
    """The limit's loop in `workers` forked processes at once, each over every `workers`-th file.

    What the limit's bare loop reaches when the cores run it side by side
    (they share caches, memory bandwidth and, on a virtual machine, the
    host), with no batching, no transport and nothing in the parent. The
    processes are started once; an epoch is one pass of each over its share.
    """

    def __init__(self, job: dict):
        self.limit = LimitLoader(job)  # sets OpenCV to one thread before forking (never after, in a child)
        self.conns, self.procs = [], []
        ctx = multiprocessing.get_context("fork")  # a bare loop: nothing to import, nothing to pickle
        workers = job["workers"]
        for k in range(workers):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_limit_worker, args=(self.limit, self.limit.paths[k::workers], child_end))
            proc.daemon = True
            proc.start()
            self.conns.append(parent_end)
            self.procs.append(proc)

    def run_epoch(self) -> tuple[int, int]:
        for conn in self.conns:
            conn.send(True)
        for conn in self.conns:
            conn.recv()  # EOFError if the process died
        return self.limit.epoch_size()

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(False)
            except OSError:
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        self.conns, self.procs = [], []


def settle(loader) -> None:
    """Leaves `loader` with no work in flight and nothing prefetched for its next epoch.

    The library's worker pool prefetches into the next epoch. When epochs of
    two paths alternate, that work would run during the other path's epoch
    and hand this path batches made outside its own time. So wait for it,
    then move the sequence two epochs on: the prefetched batches are dropped
    and its next measured epoch starts cold, like every other path's.
    """
    dataset = getattr(loader, "dataset", None)
    pool = getattr(dataset, "_pool", None)
    if pool is not None:
        pool.wait_idle()
        dataset.set_epoch(dataset.epoch + 2)


def build_loader(path: str, job: dict):
    """Makes the loader of `path` for `job` (a dict: see bench_loaders.make_job)."""
    size, workers = tuple(job["image_size"]), job["workers"]
    if path.startswith("ours-"):
        from mixup_sequence import MixupSequence

        serial = path == "ours-serial"
        sequence = MixupSequence(
            job["data"],
            batch_size=job["batch_size"],
            image_size=size,
            mixup_alpha=job["alpha"],
            augment=albumentations_chain(),
            interpolation=job["interpolation"],
            seed=job["seed"],
            workers=1 if serial else workers,
            use_multiprocessing=path.startswith("ours-processes"),
            dtype="uint8" if path.endswith("-uint8") else "float32",
        )
        return AdapterLoader(sequence, job["adapter"])
    if path == "naive-processes":
        from _baselines import NaiveOpenCVDataset

        dataset = NaiveOpenCVDataset(
            job["data"],
            job["batch_size"],
            size,
            albumentations_chain(),
            job["alpha"],
            job["interpolation"],
            workers=workers,
            use_multiprocessing=True,
        )
        return AdapterLoader(dataset, job["adapter"])
    if path in ("blog-generator", "blog-processes"):
        import tensorflow as tf
        from _baselines import MixupImageDataGenerator, RecipeAsPyDataset, blog_image_data_generator

        recipe = MixupImageDataGenerator(
            blog_image_data_generator(tf), job["data"], job["batch_size"], size[0], size[1], alpha=job["alpha"]
        )
        if path == "blog-generator":
            return GeneratorLoader(iter(recipe), recipe.get_steps_per_epoch())
        return AdapterLoader(RecipeAsPyDataset(recipe, workers=workers, use_multiprocessing=True), job["adapter"])
    if path == "tfdata":
        return TfDataLoader(job)
    if path == "limit":
        return LimitLoader(job)
    if path == "limit-processes":
        return LimitProcessesLoader(job)
    raise ValueError(f"unknown path {path!r}")


def _write_marker(path: str | None, text: str) -> None:
    """Tells the sampler in the starting process which item is running ("" = none)."""
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)


def timed_epoch(loader, scale: float = 1.0) -> float:
    """One epoch's images/s (times `scale`), then `settle`: nothing of it runs into the next timing."""
    start = time.perf_counter()
    images, _ = loader.run_epoch()
    rate = images / (time.perf_counter() - start) * scale
    settle(loader)
    return rate


def _close(loader) -> None:
    close = getattr(loader, "close", None)
    if callable(close):
        close()


def run_pairs(job: dict) -> list[dict]:
    """Alternates epochs of `REFERENCE` with epochs of each item's path, in this process.

    For each item: its warm-up epochs, then `job["pairs"]` cycles of one
    epoch of each, the order reversed every cycle, so both see the same
    stretch of the machine's drifting speed. Returns per item both series
    of images/s, epoch by epoch (a ratio per cycle is their quotient).
    """
    cores = float(os.cpu_count() or 1)
    reference = build_loader(REFERENCE, {**job, **job["items"][0], "path": REFERENCE})
    results = []
    try:
        for _ in range(job["warmup"]):
            timed_epoch(reference, 1.0)
        for item in job["items"]:
            spec = dict(job, **item)
            record = {"path": item["path"], "size": item["size"], "reference": REFERENCE}
            record.update(rates=[], reference_rates=[], images_per_s=None)
            loader = None
            try:
                loader = build_loader(item["path"], spec)
                scale = cores if item["path"] == "limit" else 1.0
                for _ in range(job["warmup"]):
                    timed_epoch(loader, scale)
                for cycle in range(job["pairs"]):
                    turns = [(loader, "rates", scale), (reference, "reference_rates", 1.0)]
                    for which, key, factor in turns[:: 1 if cycle % 2 == 0 else -1]:
                        record[key].append(timed_epoch(which, factor))
                record["images_per_s"] = statistics.median(record["rates"])
            except Exception as e:  # a path that fails is reported, not fatal
                record["error"] = f"{type(e).__name__}: {e}"[:500]
            finally:
                _close(loader)
            print(
                f"[{time.strftime('%H:%M:%S')}] paired {item['path']:16s} {item['size']:8s} "
                + (f"{record['images_per_s']:8.1f} images/s" if record["images_per_s"] else "failed"),
                file=sys.stderr,
                flush=True,
            )
            results.append(record)
    finally:
        _close(reference)
    return results


def run_job(job: dict) -> list[dict]:
    """Measures each `(path, size)` item of `job` in this process; returns the measurements as dicts."""
    if job.get("start_method"):
        multiprocessing.set_start_method(job["start_method"], force=True)
    if job.get("pairs"):
        return run_pairs(job)
    threads_before = cv2.getNumThreads()
    results = []
    for k, item in enumerate(job["items"]):
        spec = dict(job, **item)
        _write_marker(job.get("marker"), str(k))
        m = Measurement(path=item["path"], size=item["size"], note=item.get("note", ""))
        scale = float(os.cpu_count() or 1) if item["path"] == "limit" else 1.0
        measure(
            m,
            lambda spec=spec: build_loader(spec["path"], spec),
            lambda loader: loader.run_epoch(),
            epochs=spec["epochs"],
            warmup=spec["warmup"],
            scale=scale,
        )
        _write_marker(job.get("marker"), "")
        cv2.setNumThreads(threads_before)  # MixupSequence sets 1 for workers; do not leak it into the next path
        print(
            f"[{time.strftime('%H:%M:%S')}] {m.path:16s} {m.size:8s} "
            + (f"{m.images_per_s:8.1f} images/s" if m.images_per_s else f"failed: {m.error}"),
            file=sys.stderr,
            flush=True,
        )
        results.append(m.to_dict())
    return results


def child_main(job_file: str, result_file: str) -> None:
    with open(job_file) as f:
        job = json.load(f)
    results = run_job(job)
    with open(result_file, "w") as f:
        json.dump(results, f)
