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

A path name ending in `-bilinear` is that path with `interpolation="bilinear"`
instead of the run's (area by default). The library's cached paths read a
cache under `job["cache_dir"]` filled before they are timed; its filling
paths empty their cache before every epoch (see `FillLoader`).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
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
    per_core: bool = False  # one process's rate, times the cores (the limits)

    def title(self, workers: int) -> str:
        return self.label.format(w=workers)


BILINEAR = "-bilinear"


def _ours(mode: str, cache: str = "", dtype: str = "float32", bilinear: bool = False) -> tuple[str, PathInfo]:
    """A library path: `ours-[fill-|cached-]MODE[-uint8][-bilinear]`."""
    name = "-".join(filter(None, ["ours", cache, mode, "uint8" if dtype == "uint8" else "", "bilinear" * bilinear]))
    label = "mixup_sequence, " + {"serial": "serial", "threads": "{w} threads", "processes": "{w} processes"}[mode]
    label += {"": "", "fill": ", filling the cache", "cached": ", cached"}[cache]
    label += ", uint8 output" if dtype == "uint8" else ""
    label += ", bilinear" if bilinear else ""
    args = {"serial": "workers=1", "threads": "workers=W", "processes": "workers=W, use_multiprocessing=True"}[mode]
    args += ", cache=DIR" if cache else ""
    args += ", dtype='uint8'" if dtype == "uint8" else ""
    args += ', interpolation="bilinear"' if bilinear else ""
    how = (
        f"MixupSequence({args}), adapter"
        + {
            "": "",
            "fill": "; the cache's records moved aside before every epoch (untimed), so each is a run's first: "
            "it decodes, resizes and writes every record; the worker pool stays up, as on the uncached paths",
            "cached": "; the cache filled by `build_cache()` before timing (later epochs of a run)",
        }[cache]
    )
    if mode == "threads":
        how += "; the sequence's own threads"
    if dtype == "uint8":
        how += " (opt-in output)"
    return name, PathInfo(label, True, how)


PATHS = dict(
    [
        _ours("serial"),
        _ours("threads"),
        _ours("processes"),
        _ours("processes", dtype="uint8"),
        _ours("processes", bilinear=True),
        _ours("serial", "fill"),
        _ours("threads", "fill"),
        _ours("processes", "fill"),
        _ours("processes", "fill", dtype="uint8"),
        _ours("serial", "cached"),
        _ours("threads", "cached"),
        _ours("processes", "cached"),
        _ours("processes", "cached", dtype="uint8"),
        _ours("processes", "cached", bilinear=True),
    ]
)
PATHS.update(
    {
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
        "tfdata-cache": PathInfo(
            "tf.data .cache() + flip + keras.layers.MixUp",
            True,
            "image_dataset_from_directory(batch_size=None, shuffle=False), rounded to uint8, .cache() in memory, "
            "then per epoch shuffle (whole set), batch, RandomFlip + MixUp, map+prefetch AUTOTUNE; the first "
            "epoch fills the cache (the warm-up epoch), the measured ones read it. Flip only: it does less "
            "augmentation than the OpenCV paths",
        ),
        "grain": PathInfo(
            'Grain (Keras format="grain") + flip + keras.layers.MixUp, {w} processes',
            True,
            'image_dataset_from_directory(format="grain") (PIL decode, Keras resize), map(RandomFlip + MixUp), '
            "mp_prefetch(num_workers=W), iterated as fit does (a new iterator, so new worker processes, each "
            "epoch); flip only, like the tf.data cache peer",
        ),
        "limit": PathInfo(
            "limit: bare loop per core x cores",
            False,
            "imread + resize + Albumentations, 1 process, times os.cpu_count()",
            per_core=True,
        ),
        "limit-bilinear": PathInfo(
            "limit: bare loop per core x cores, bilinear",
            False,
            "the limit with interpolation bilinear",
            per_core=True,
        ),
        "limit-processes": PathInfo(
            "limit's loop, {w} processes at once",
            False,
            "the limit's loop in W forked processes at once, each over every W-th file; measured as it is, not scaled",
        ),
        "limit-decode": PathInfo(
            "decode limit: read + decode + resize per core x cores",
            False,
            "imread + resize (no augmentation), 1 process, times os.cpu_count(): the decode limit the cached "
            "targets are set against",
            per_core=True,
        ),
        "limit-decode-bilinear": PathInfo(
            "decode limit per core x cores, bilinear",
            False,
            "the decode limit with interpolation bilinear",
            per_core=True,
        ),
    }
)
OURS = ("ours-serial", "ours-threads", "ours-processes")
RSS_PATHS = (*OURS, "ours-cached-threads", "ours-cached-processes")  # the parent RSS flatness runs
REFERENCE = "ours-processes"  # what the paired runs compare the uncached paths with
CACHED_REFERENCE = "ours-cached-processes"  # ... and the cached paths, the cached peer and the decode limits
_PAIRED_WITH_CACHED = (
    "ours-cached-serial",
    "ours-cached-threads",
    "ours-cached-processes-uint8",
    "ours-cached-processes-bilinear",
    "tfdata-cache",
    "limit-decode",
    "limit-decode-bilinear",
    REFERENCE,  # links the two groups: the cache's speed-up, cycle by cycle
)


# Not in the paired runs: Grain's epochs are mostly its worker processes starting (they import
# TensorFlow, every epoch), and its ratio is no target; the medians of its own epochs give it.
NOT_PAIRED = ("grain",)


def pair_groups(paths: list[str]) -> dict[str, list[str]]:
    """Reference -> the paths of `paths` whose epochs alternate with its epochs in the paired runs."""
    groups: dict[str, list[str]] = {REFERENCE: [], CACHED_REFERENCE: []}
    cached = CACHED_REFERENCE in paths
    for path in paths:
        if path == CACHED_REFERENCE or (path == REFERENCE and not cached) or path in NOT_PAIRED:
            continue
        groups[CACHED_REFERENCE if cached and path in _PAIRED_WITH_CACHED else REFERENCE].append(path)
    return {ref: items for ref, items in groups.items() if items and ref in paths}


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


class _DatasetLoader:
    """A loader whose epoch is one pass over `self.dataset` (an iterable of `(x, y)` batches)."""

    dataset: object

    def run_epoch(self) -> tuple[int, int]:
        images = batches = 0
        for x, _y in self.dataset:  # type: ignore[attr-defined]
            images += int(x.shape[0])
            batches += 1
        return images, batches


class TfDataLoader(_DatasetLoader):
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


class FlipAndMix:
    """`RandomFlip("horizontal")` then `MixUp(alpha)` on a batch, scaled to [0, 1] (a Grain map, picklable)."""

    def __init__(self, alpha: float, seed: int):
        import keras

        self.flip = keras.layers.RandomFlip("horizontal", seed=seed)
        self.mix_up = keras.layers.MixUp(alpha=alpha, seed=seed + 4)

    def __call__(self, images, labels):
        images = self.flip(images, training=True)
        mixed = self.mix_up({"images": images, "labels": labels}, training=True)
        return mixed["images"] / 255.0, mixed["labels"]


class TfDataCacheLoader(_DatasetLoader):
    """`image_dataset_from_directory(...).cache()`, then a flip and `MixUp`, in tf.data.

    As a careful user sets it up: the cache holds each decoded, resized
    image (rounded to uint8, a quarter of float32's memory), before any
    random step, and unbatched, so that every epoch reshuffles the whole set
    and batches it anew; augmentation, mixing and prefetch run in parallel
    (AUTOTUNE). Its first epoch decodes and fills the cache.
    """

    def __init__(self, job: dict):
        import keras
        import tensorflow as tf

        seed = job["seed"]
        images = keras.utils.image_dataset_from_directory(
            job["data"],
            label_mode="categorical",
            image_size=tuple(job["image_size"]),
            batch_size=None,
            shuffle=False,
            interpolation=job["interpolation"],
            verbose=False,
        )
        count = len(images.file_paths)
        flip_and_mix = FlipAndMix(job["alpha"], seed)

        def to_uint8(image, label):
            return tf.cast(tf.round(image), tf.uint8), label

        def augment_and_mix(image, label):
            return flip_and_mix(tf.cast(image, tf.float32), label)

        self.dataset = (
            images.map(to_uint8, num_parallel_calls=tf.data.AUTOTUNE)
            .cache()
            .shuffle(count, seed=seed, reshuffle_each_iteration=True)
            .batch(job["batch_size"])
            .map(augment_and_mix, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )


def _parse_absl_flags() -> None:
    """Grain's multiprocessing reads absl flags, which raise until parsed (a program without absl.app)."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS([sys.argv[0]])


class GrainLoader(_DatasetLoader):
    """`image_dataset_from_directory(..., format="grain")`, then a flip and `MixUp`, in Grain worker processes.

    Iterated as Keras' `fit` iterates a Grain dataset: a new iterator every
    epoch, so Grain starts its worker processes (spawned: each imports
    TensorFlow) every epoch.
    """

    def __init__(self, job: dict):
        _parse_absl_flags()
        import grain
        import keras

        dataset = keras.utils.image_dataset_from_directory(
            job["data"],
            label_mode="categorical",
            image_size=tuple(job["image_size"]),
            batch_size=job["batch_size"],
            shuffle=True,
            seed=job["seed"],
            interpolation=job["interpolation"],
            format="grain",
            verbose=False,
        )
        flip_and_mix = FlipAndMix(job["alpha"], job["seed"])
        self.dataset = dataset.map(lambda batch: flip_and_mix(*batch)).mp_prefetch(
            grain.MultiprocessingOptions(num_workers=job["workers"])
        )


class FillLoader(AdapterLoader):
    """The library's filling epoch, every epoch: the sequence's cache is emptied before each one.

    `prepare()` (not timed) lets the workers finish what they prefetched,
    drops it, and moves every record aside (the layout in `cache.py`:
    `records/` under the cache's settings directory, renamed, and a new empty
    one made), so the timed epoch decodes every file and writes its record,
    as a run's first epoch does. Nothing is deleted until `close()`: removing
    thousands of files just before a timed epoch would charge the file
    system's cleanup (journal, discards) to it. The worker pool stays up
    across epochs, as with the uncached paths, so the comparison is the
    cache's own cost, not a pool's start.
    """

    def __init__(self, sequence, iterator: str = "numpy", directory: str | None = None):
        super().__init__(sequence, iterator)
        self.records = os.path.join(sequence.cache.path, "records")
        self.directory = directory  # removed on close
        self.emptied = False
        self.retired = 0

    def prepare(self) -> None:
        settle(self)
        self.retired += 1
        os.rename(self.records, f"{self.records}-retired-{self.retired}")
        os.mkdir(self.records)
        self.emptied = True

    def run_epoch(self) -> tuple[int, int]:
        if not self.emptied:
            self.prepare()  # called without prepare(): still a cold cache, its emptying timed
        self.emptied = False
        return super().run_epoch()

    def close(self) -> None:
        super().close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


class LimitLoader:
    """The same read + decode + resize (+ augment), image after image, in one process with one OpenCV thread.

    Without `augment`, the decode limit: what decoding alone allows, which a
    cache removes.
    """

    def __init__(self, job: dict, augment: bool = True):
        cv2.setNumThreads(1)
        self.paths = list_files(job["data"])
        self.size = tuple(job["image_size"])
        self.batch_size = job["batch_size"]
        self.interpolation = INTERPOLATIONS[job["interpolation"]]
        self.chain = albumentations_chain() if augment else None
        self.flag = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)

    def run(self, paths: list[str]) -> None:
        height, width = self.size
        for path in paths:
            image = cv2.imread(path, self.flag)
            if self.flag == cv2.IMREAD_COLOR:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            image = cv2.resize(image, (width, height), interpolation=self.interpolation)
            if self.chain is not None:
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


def _make_sequence(path: str, job: dict, cache: str | None = None):
    """The `MixupSequence` of an `ours-...` path (see `_ours`)."""
    from mixup_sequence import MixupSequence

    mode = next(m for m in ("serial", "threads", "processes") if f"-{m}" in path)
    return MixupSequence(
        job["data"],
        batch_size=job["batch_size"],
        image_size=tuple(job["image_size"]),
        mixup_alpha=job["alpha"],
        augment=albumentations_chain(),
        interpolation=job["interpolation"],
        seed=job["seed"],
        workers=1 if mode == "serial" else job["workers"],
        use_multiprocessing=mode == "processes",
        dtype="uint8" if "-uint8" in path else "float32",
        cache=cache,
    )


def cache_root(job: dict) -> str:
    """The cached paths' cache for this job's image size (one root per size: their files share relative paths)."""
    return os.path.join(job["cache_dir"], job["size"])


def build_loader(path: str, job: dict):
    """Makes the loader of `path` for `job` (a dict: see bench_loaders.job_settings)."""
    if path.endswith(BILINEAR):
        path, job = path[: -len(BILINEAR)], {**job, "interpolation": "bilinear"}
    size, workers = tuple(job["image_size"]), job["workers"]
    if path.startswith("ours-fill-"):
        os.makedirs(job["cache_dir"], exist_ok=True)
        directory = tempfile.mkdtemp(prefix=f"fill-{job['size']}-", dir=job["cache_dir"])
        return FillLoader(_make_sequence(path, job, directory), job["adapter"], directory)
    if path.startswith("ours-cached-"):
        sequence = _make_sequence(path, job, cache_root(job))
        sequence.build_cache(progress=False)  # before timing: the cached paths measure later epochs
        return AdapterLoader(sequence, job["adapter"])
    if path.startswith("ours-"):
        return AdapterLoader(_make_sequence(path, job), job["adapter"])
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
    if path == "tfdata-cache":
        return TfDataCacheLoader(job)
    if path == "grain":
        return GrainLoader(job)
    if path in ("limit", "limit-decode"):
        return LimitLoader(job, augment=path == "limit")
    if path == "limit-processes":
        return LimitProcessesLoader(job)
    raise ValueError(f"unknown path {path!r}")


def scale_of(path: str) -> float:
    """What a path's images/s is multiplied by: the cores for the per-core limits, else 1."""
    return float(os.cpu_count() or 1) if PATHS[path].per_core else 1.0


def _write_marker(path: str | None, text: str) -> None:
    """Tells the sampler in the starting process which item is running ("" = none)."""
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)


def prepare(loader) -> None:
    """Untimed set-up before an epoch, for a loader that has some (`FillLoader`: a new, empty cache)."""
    hook = getattr(loader, "prepare", None)
    if callable(hook):
        hook()


def timed_epoch(loader, scale: float = 1.0) -> float:
    """One epoch's images/s (times `scale`), then `settle`: nothing of it runs into the next timing."""
    prepare(loader)
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
    """Alternates epochs of `job["reference"]` with epochs of each item's path, in this process.

    For each item: its warm-up epochs, then `job["pairs"]` cycles of one
    epoch of each, the order reversed every cycle, so both see the same
    stretch of the machine's drifting speed. Returns per item both series
    of images/s, epoch by epoch (a ratio per cycle is their quotient).
    """
    name = job["reference"]
    reference = build_loader(name, {**job, **job["items"][0], "path": name})
    results = []
    try:
        for _ in range(job["warmup"]):
            timed_epoch(reference, 1.0)
        for item in job["items"]:
            spec = dict(job, **item)
            record = {"path": item["path"], "size": item["size"], "reference": name}
            record.update(rates=[], reference_rates=[], images_per_s=None)
            loader = None
            try:
                loader = build_loader(item["path"], spec)
                scale = scale_of(item["path"])
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
                f"[{time.strftime('%H:%M:%S')}] paired {item['path']:32s} {item['size']:8s} "
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
        if item.get("kind") == "parent":
            from _parent import profile

            results.append(profile(spec, build_loader, settle))
            cv2.setNumThreads(threads_before)
            continue
        _write_marker(job.get("marker"), str(k))
        m = Measurement(path=item["path"], size=item["size"], note=item.get("note", ""))
        measure(
            m,
            lambda spec=spec: build_loader(spec["path"], spec),
            lambda loader: loader.run_epoch(),
            epochs=spec["epochs"],
            warmup=spec["warmup"],
            scale=scale_of(item["path"]),
            prepare=prepare,
        )
        _write_marker(job.get("marker"), "")
        cv2.setNumThreads(threads_before)  # MixupSequence sets 1 for workers; do not leak it into the next path
        print(
            f"[{time.strftime('%H:%M:%S')}] {m.path:32s} {m.size:8s} "
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
