"""The Keras `PyDataset`s: `ImageFolderSequence` and `MixupSequence`.

The Keras-free modules (`index`, `decode`, `mixing`, `loader`, ...) never
import this one; `callbacks`, `keras2` and `tf_data` build on it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Self

import keras
import numpy as np

from mixup_sequence import _rng, _threads
from mixup_sequence.augment import Augmenter
from mixup_sequence.cache import CacheSummary, ImageCache, fill_cache, open_cache
from mixup_sequence.index import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import (
    LoaderOptions,
    check_augment,
    check_cache,
    check_keras_arguments,
    check_pairing,
    check_seed,
)
from mixup_sequence.source import Source
from mixup_sequence.source_dataframe import dataframe_source, row_namer
from mixup_sequence.source_paths import check_files as check_listed_files
from mixup_sequence.source_paths import paths_source
from mixup_sequence.split import split_index
from mixup_sequence.verify import check_files
from mixup_sequence.workers import ProcessPool, ThreadPool

logger = logging.getLogger("mixup_sequence")


def _keras_is_resetting() -> bool:
    """Whether the caller is Keras' `EpochIterator.reset()`, whose `on_epoch_end` ends no epoch.

    Keras 3 (`keras.src.trainers.epoch_iterator`) resets its iterator before
    the first epoch of `fit`, `evaluate` and `predict`, and after fetching a
    batch to build an unbuilt model (JAX, PyTorch); each reset calls
    `on_epoch_end`. Its real epoch ends come from iterating. The tests pin
    this on every backend, so a Keras that changes it fails them.
    """
    frame: types.FrameType | None = sys._getframe(2)  # our caller's caller: Keras' adapter calls `on_epoch_end`
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code.co_name == "reset" and frame.f_globals.get("__name__", "").startswith("keras."):
            return True
        frame = frame.f_back
    return False


class ImageFolderSequence(keras.utils.PyDataset):
    """Batches of images from a folder with one sub-folder per class, or from paths or a data frame.

    Yields `(x, y)`: `x` float32 `(batch, height, width, channels)` scaled to
    `value_range` (default [0, 1]), or uint8 with `dtype="uint8"`; `y` float32
    one-hot `(batch, num_classes)` (multi-hot for multi-label sources). Build
    one from a list of paths with `from_paths`, from a pandas data frame with
    `from_dataframe`.
    Batch `i` of epoch `e` is a pure function of `(seed, e, i)` and the files,
    whatever the worker count, threads or processes, or order of access.

    Example:

    ```python
    from mixup_sequence import ImageFolderSequence

    val = ImageFolderSequence("data/flowers", batch_size=32, image_size=(160, 160),
                              validation_split=0.2, subset="validation")
    x, y = val[0]
    model.evaluate(val)
    probabilities = model.predict(val)  # in index order: shuffle is False by default
    accuracy = (probabilities.argmax(axis=1) == val.labels).mean()
    ```

    Args:
        directory: Root folder; each sub-folder is a class. Or a
            `source.Source` (what `from_paths` and `from_dataframe` pass).
        batch_size: Samples per batch. The last batch is shorter unless
            `drop_remainder=True`.
        image_size: `(height, width)` every image is resized to.
        color_mode: `"rgb"` (3 channels) or `"grayscale"` (1 channel).
        interpolation: Resize filter: `"area"` (default; right for
            shrinking), `"bilinear"`, `"bicubic"`, `"nearest"`, `"lanczos4"`.
        class_names: Optional sub-folders to use, in label order.
        follow_links: Whether to follow symlinked folders.
        validation_split: Share of each class held out, in (0, 1); needs `subset`.
        subset: `"training"` or `"validation"`; needs `validation_split`.
            The split is stratified and independent of `seed` (see `split.py`).
        shuffle: Reshuffle the samples every epoch (seeded). False (the
            default here, for evaluation and prediction) keeps index order, so
            `model.predict(seq)` lines up with `seq.labels`. `MixupSequence`,
            the training sequence, defaults to True.
        seed: Integer seed; None draws one, kept in `self.seed`.
        augment: Optional Albumentations transform, or callable on one uint8
            HWC RGB image (with an optional `rng` keyword). It runs per image,
            after decoding and resizing, and must keep the image's shape
            (but see `augment_input`). It must return uint8: normalize with
            `mean` and `std` instead of `A.Normalize`.
        augment_input: What `augment` receives: `"resized"` (default), the
            image resized to `image_size`, to be returned at that shape; or
            `"decoded"`, the image as decoded, not resized (a JPEG at least
            twice `image_size` at the reduced scale 1/2, 1/4 or 1/8 whose
            sides still reach `max(image_size)`; other images at full size),
            which the pipeline must crop or resize to exactly `image_size`
            itself, e.g. `A.RandomResizedCrop(size=image_size)` for the
            ImageNet recipe. Needs `augment`; `interpolation` is then unused.
        drop_remainder: Drop the last, short batch.
        value_range: `(low, high)` range of `x`, e.g. `(0, 255)`; None for
            (0, 1) with float32 and (0, 255) with uint8.
        dtype: `"float32"` (default) or `"uint8"`: a quarter of the memory and
            of the copies for each batch, and no float conversion in the
            workers; rescale in the model (`keras.layers.Rescaling(1 / 255)`).
            A mixup pixel is then rounded to the nearest integer (at most
            0.5/255 from the float32 value); labels stay float32 and exact.
        mean: Per-channel normalization of the float32 batch after mixing:
            `x = (x - mean) / std` (float32), with `x` in `value_range`; a
            number, or one per channel. With the default `value_range`
            (0, 1), `mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)`
            give what `A.Normalize()` gives. None (default) for both: no
            normalization; one alone: the other is 0 or 1. Not with
            `dtype="uint8"`.
        std: See `mean`.
        balance: None (default), or `"class"`: every class is drawn equally
            often, whatever its size (see `sample_weights`). Needs
            `shuffle=True`.
        sample_weights: None, or one weight >= 0 per sample, aligned with
            `filepaths` (of this subset): each epoch is then `samples` draws
            with replacement, sample `k` with a chance proportional to its
            weight (with `balance="class"`: each class gets an equal share,
            split by the weights within it). An epoch keeps its length, so
            some samples repeat and some are left out; the draws are keyed
            by `(seed, epoch)`, and shards take their positions of them as
            without weights. Needs `shuffle=True`.
        workers: Number of workers (Keras 3's `fit` no longer takes it).
        use_multiprocessing: If True, `workers` processes of the sequence's
            own make the batches: started once and kept across epochs, they
            write each batch into shared memory that the caller reads without
            a copy, and a worker that dies raises `WorkerError` instead of
            hanging (see `workers.py`). If False, `workers > 1` threads of the
            sequence's own make them, kept across epochs in the same way,
            into reused buffers. Either way Keras sees a serial dataset
            (`self.workers == 1`).
        max_queue_size: Batches computed ahead: at most
            `min(max_queue_size, 2 * workers)`, into the next epoch too.
        start_method: `multiprocessing` start method for the processes
            ("fork", "forkserver", "spawn"); None for Python's default.
        on_error: What an unreadable image does: "raise" (default) an
            `ImageDecodeError` naming the file, its class and the batch; or
            "skip": use another image of the same class in its place (the same
            one in every mode and run), log a warning once per file, and list
            it in `bad_files`. Multi-label: another image with exactly the same
            set of classes; without one, the error is raised.
        max_pixels: Refuse images whose header declares more pixels than
            this (decompression bombs), before decoding; None for OpenCV's own
            limit only.
        shard_index: For multi-host training, this host's index in
            `[0, num_shards)`: it serves positions `shard_index,
            shard_index + num_shards, ...` of every epoch's global order (the
            same on every host, given the same seed), `samples // num_shards`
            of them: disjoint, equal-size parts that together cover the epoch
            but for fewer than `num_shards` samples (dropped, a different few
            each epoch).
        num_shards: The number of hosts (shards) of the epoch.
        cache: None (decode every epoch), or a directory for a persistent
            cache of the decoded, resized uint8 images (see `cache.py`): the
            first epoch (or `build_cache()`) writes one record per file, later
            epochs and runs read it. Batches are bit-identical either way. A
            record is used only for its file's unchanged (path, size, mtime)
            and these pixel settings; raises `cache.CacheError` if the
            directory is not writable, and `cache.CacheSpaceError` here if its
            disk cannot hold the missing records. With
            `augment_input="decoded"` the records hold the decoded images,
            not resized, and vary in size.

    Attributes:
        class_names: The class names, in label order (as in Keras' directory
            iterators, as are the five attributes that follow).
        class_indices: Class name -> integer label.
        filepaths: The path of every sample of this subset (a NumPy string array).
        labels: The label of every sample: int32 `(samples,)`, or uint8
            multi-hot `(samples, num_classes)` for a multi-label source.
        samples: The number of samples.
        num_classes: The number of classes.
        source: The `source.Source` (paths, labels, class names) of this subset.
        multi_label: Whether `y` is multi-hot (for sigmoid outputs).
        seed: The seed in use.
        epoch: The epoch whose batches `__getitem__` returns.
        shuffle: Whether samples are reshuffled every epoch.
        cache: The `cache.ImageCache`, or None.
    """

    def __init__(
        self,
        directory: str | os.PathLike | Source,
        *,
        batch_size: int = LoaderOptions.batch_size,
        image_size: tuple[int, int] = LoaderOptions.image_size,
        color_mode: str = LoaderOptions.color_mode,
        interpolation: str = LoaderOptions.interpolation,
        class_names: Sequence[str] | None = None,
        follow_links: bool = False,
        validation_split: float | None = None,
        subset: str | None = None,
        shuffle: bool = False,
        seed: int | None = None,
        augment: Callable[..., Any] | None = None,
        drop_remainder: bool = LoaderOptions.drop_remainder,
        value_range: tuple[float, float] | None = LoaderOptions.value_range,
        dtype: str = LoaderOptions.dtype,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
        start_method: str | None = None,
        on_error: str = LoaderOptions.on_error,
        max_pixels: int | None = LoaderOptions.max_pixels,
        shard_index: int = LoaderOptions.shard_index,
        num_shards: int = LoaderOptions.num_shards,
        cache: str | os.PathLike | None = None,
        augment_input: str = LoaderOptions.augment_input,
        mean: float | Sequence[float] | None = LoaderOptions.mean,
        std: float | Sequence[float] | None = LoaderOptions.std,
        balance: str | None = LoaderOptions.balance,
        sample_weights: Any = LoaderOptions.sample_weights,
    ):
        options = LoaderOptions(
            batch_size=batch_size,
            image_size=image_size,
            color_mode=color_mode,
            interpolation=interpolation,
            validation_split=validation_split,
            subset=subset,
            shuffle=shuffle,
            drop_remainder=drop_remainder,
            value_range=value_range,
            dtype=dtype,
            on_error=on_error,
            max_pixels=max_pixels,
            shard_index=shard_index,
            num_shards=num_shards,
            augment_input=augment_input,
            mean=mean,
            std=std,
            balance=balance,
            sample_weights=sample_weights,
        )
        check_seed(seed)
        check_cache(cache)
        check_keras_arguments(
            directory, class_names, follow_links, workers, use_multiprocessing, max_queue_size, start_method
        )
        augmenter = Augmenter(augment) if augment is not None else None
        check_augment(options, augmenter)
        if use_multiprocessing and workers > 0:
            self._pool_kind, self._pool_workers = "processes", workers
        else:
            self._pool_kind, self._pool_workers = ("threads", workers) if workers > 1 else ("serial", 0)
        self._start_method = start_method
        self._pool: ProcessPool | ThreadPool | None = None
        # Workers are the sequence's own (see `workers.py`): Keras sees a serial dataset
        # and calls `__getitem__` in order from one thread.
        keras_workers = 1 if self._pool_workers else workers
        super().__init__(workers=keras_workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        if isinstance(directory, Source):
            index = directory
        else:
            index = index_directory(directory, class_names=class_names, follow_links=follow_links)
        if validation_split is not None and subset is not None:
            whole = index.samples
            index = split_index(index, validation_split, subset)
            if index.samples == 0:
                what = "the source" if isinstance(directory, Source) else repr(os.fspath(directory))
                raise ValueError(
                    f"The {subset!r} subset of {what} ({whole} samples) is empty with "
                    f"validation_split={validation_split}."
                )
        self.seed = _rng.draw_seed() if seed is None else int(seed)
        self._cache = None if cache is None else open_cache(cache, options, index)
        self._loader = BatchLoader(index, options, self.seed, augment=augmenter, cache=self._cache)
        self._bad_files: dict[str, str] = {}
        self._bad_lock = threading.Lock()
        self._epoch = 0
        self._start = 0  # the first batch of this epoch: > 0 only in an epoch resumed midway
        self._served = False  # whether a batch of this epoch was served (see `on_epoch_end`)
        if self._pool_workers:
            _threads.limit_opencv_threads_for_workers()

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[str | os.PathLike],
        labels: Any,
        *,
        class_names: Sequence[str] | None = None,
        directory: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> Self:
        """A sequence of the images at `paths`, with `labels`.

        Labels, one per path: class names (classes are the sorted names, or
        `class_names`), integer ids (classes `"0"`..`"K-1"`, or
        `class_names`), or multi-label: a list of class names per path, or a
        `(len(paths), K)` array of 0/1 (see `source_paths.py`). Multi-label
        gives multi-hot `y` for sigmoid outputs and binary cross-entropy.
        Every file is checked once the other arguments are: all missing or
        unreadable ones raise together (`errors.MissingFilesError`).

        ```python
        from mixup_sequence import MixupSequence

        paths = ["0/digit_0000.png", "1/digit_0001.jpg", "2/digit_0002.png", "3/digit_0003.png"]
        train = MixupSequence.from_paths(paths, ["zero", "one", "two", "three"],
                                         directory="data/flowers", image_size=(32, 32), batch_size=2)
        names = train.class_names  # ['one', 'three', 'two', 'zero']: the sorted names
        ```

        Args:
            paths: Image paths, relative to `directory`; or, if it is None,
                absolute (or relative to the working directory).
            labels: One label per path, or a multi-hot array.
            class_names: Optional class names, in label order.
            directory: Optional folder the paths are relative to.
            **kwargs: The sequence's other arguments (not `follow_links`).
        """
        source = paths_source(paths, labels, class_names=class_names, directory=directory)
        sequence = cls(source, **kwargs)  # every other argument checked first
        check_listed_files(source, what="paths")
        return sequence

    @classmethod
    def from_dataframe(
        cls,
        dataframe: Any,
        directory: str | os.PathLike | None = None,
        *,
        x_col: str = "filename",
        y_col: str | Sequence[str] = "class",
        class_names: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Self:
        """A sequence of the rows of a pandas data frame, with the names of Keras' `flow_from_dataframe`.

        `x_col` holds the paths (relative to `directory`, or as they are if it
        is None); `y_col` the labels: a column of class names, integer ids or
        lists of class names (multi-label), or a list of 0/1 columns, one per
        class, whose names are the class names (multi-label, multi-hot). One
        sample per row, in frame order. Missing or unreadable files raise
        together, each with its row (`errors.MissingFilesError`); no row is
        dropped. Needs pandas (imported here only).

        ```python
        import pandas
        from mixup_sequence import MixupSequence

        frame = pandas.DataFrame({"filename": ["0/digit_0000.png", "1/digit_0001.jpg", "2/digit_0002.png"],
                                  "class": ["zero", "one", "two"]})  # or pandas.read_csv("labels.csv")
        train = MixupSequence.from_dataframe(frame, "data/flowers", image_size=(32, 32), batch_size=2,
                                             validation_split=0.34, subset="training", seed=1)
        ```

        Args:
            dataframe: A pandas `DataFrame`.
            directory: Optional folder the paths are relative to.
            x_col: The column of paths.
            y_col: The column of labels, or a list of 0/1 columns.
            class_names: Optional class names, in label order (not with a list `y_col`).
            **kwargs: The sequence's other arguments (not `follow_links`).
        """
        source = dataframe_source(dataframe, directory, x_col=x_col, y_col=y_col, class_names=class_names)
        sequence = cls(source, **kwargs)  # every other argument checked first
        check_listed_files(source, row_namer(dataframe), what=f"dataframe[{x_col!r}]")
        return sequence

    # --- the index, as in Keras' directory iterators -----------------------
    @property
    def source(self) -> Source:
        """The samples of this subset: paths, labels and class names."""
        return self._loader.index

    @property
    def multi_label(self) -> bool:
        """Whether each sample has a set of classes: `labels` and `y` are then multi-hot."""
        return self._loader.index.multi_label

    @property
    def class_names(self) -> list[str]:
        return list(self._loader.index.class_names)

    @property
    def class_indices(self) -> dict[str, int]:
        return self._loader.index.class_indices

    @property
    def filepaths(self) -> np.ndarray:
        return self._loader.index.filepaths

    @property
    def loader(self) -> BatchLoader:
        """The Keras-free `BatchLoader` that makes this sequence's batches."""
        return self._loader

    @property
    def labels(self) -> np.ndarray:
        return self._loader.index.labels

    @property
    def samples(self) -> int:
        return self._loader.index.samples

    @property
    def num_classes(self) -> int:
        return self._loader.index.num_classes

    @property
    def shuffle(self) -> bool:
        """Whether the samples are reshuffled every epoch (else index order)."""
        return self._loader.options.shuffle

    @property
    def batch_size(self) -> int:
        return self._loader.options.batch_size

    @property
    def image_size(self) -> tuple[int, int]:
        return self._loader.options.image_size

    # --- epochs -------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def start(self) -> int:
        """The first batch of this epoch: > 0 only in an epoch resumed midway (see `set_epoch`)."""
        return self._start

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Makes `__getitem__` return the batches of `epoch` (e.g. to resume).

        Args:
            epoch: The epoch.
            start: Begin the epoch at this batch (as `BackupAndResume` does
                for an epoch interrupted midway): until the epoch ends, `len()`
                is `start` less and `seq[j]` is batch `start + j`.
        """
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"`epoch` must be an integer >= 0. Received: epoch={epoch!r}")
        if not isinstance(start, (int, np.integer)) or not 0 <= start < len(self._loader):
            raise ValueError(f"`start` must be an integer in [0, {len(self._loader)}). Received: start={start!r}")
        self._epoch = int(epoch)
        self._start = int(start)
        self._served = False  # no batch of `epoch` served yet

    def for_tf_keras(self) -> Any:
        """Returns this sequence as a Keras 2 (`tf_keras`) `Sequence`, for `tf_keras` models.

        Pass `workers` and `use_multiprocessing` to Keras 2's `fit`, as usual
        there; the epoch advances once per epoch although Keras 2 calls
        `on_epoch_end` twice (see `keras2.py`).
        """
        from mixup_sequence.keras2 import Keras2Sequence

        return Keras2Sequence(self)

    def to_tf_dataset(self, epochs: int | None = None, start_epoch: int = 0) -> Any:
        """Returns the batches of epochs `start_epoch, start_epoch + 1, ...` as one `tf.data.Dataset`.

        Each epoch's batches are made for that epoch explicitly, so the
        dataset does not depend on `fit`'s epoch callbacks; pass
        `steps_per_epoch=len(seq)` to `fit`. Auto-sharding is off: the
        sequence shards itself (`shard_index`, `num_shards`). See
        `distribute` for `tf.distribute` strategies.

        Args:
            epochs: Where to stop (exclusive); `None` repeats forever.
            start_epoch: The first epoch, e.g. `initial_epoch` when resuming.
        """
        from mixup_sequence.tf_data import to_tf_dataset

        return to_tf_dataset(self, epochs, start_epoch)

    def distribute(self, strategy: Any, epochs: int | None = None, start_epoch: int = 0) -> Any:
        """Returns `to_tf_dataset(...)` as `strategy`'s distributed dataset, one pipeline a host.

        For `tf.distribute.MultiWorkerMirroredStrategy` with `shard_index`
        equal to the worker's index and `num_shards` to the number of
        workers: each worker's batches go whole to its replica (`batch_size`
        is per worker; the global batch is `batch_size * num_shards`).
        Passing the sequence itself to `fit` under such a strategy would
        train on half of each batch, silently.

        Args:
            strategy: A `tf.distribute.Strategy`.
            epochs: As in `to_tf_dataset`.
            start_epoch: As in `to_tf_dataset`.
        """
        from mixup_sequence.tf_data import distribute

        return distribute(self, strategy, epochs, start_epoch)

    def on_epoch_begin(self) -> None:
        """Does nothing: the epoch advances at `on_epoch_end` (see there)."""

    def on_epoch_end(self) -> None:
        """Ends the epoch: the next batches are those of `epoch + 1`.

        The rule: an `on_epoch_end` that follows at least one batch served
        since the epoch began starts the next epoch, except when Keras' epoch
        iterator is resetting. So a plain loop (`seq[i]` ..., then
        `on_epoch_end()`, with or without `on_epoch_begin()`) sees a new epoch
        every time, and under `fit` the first epoch trained is epoch 0 and
        `seq.epoch == E` after `fit(epochs=E)`: Keras 3 also calls
        `on_epoch_end` from its iterator's `reset()`, before the first epoch
        and after the batch it fetches (and discards) to build a model, and
        those calls end no epoch.
        """
        if self._served and not _keras_is_resetting():
            self._epoch += 1
            logger.debug("%s: now at epoch %d", type(self).__name__, self._epoch)
        self._start = 0  # an epoch resumed midway is over, or a new fit is resetting
        self._served = False

    # --- batches ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._loader) - self._start

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._start:
            if not 0 <= index < len(self):
                raise IndexError(f"Batch index out of range: expected 0 <= index < {len(self)}. Received: {index}")
            index = self._start + int(index)
        self._served = True
        return self.get_batch(int(index), self._epoch)

    def get_batch(self, index: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Returns batch `index` of `epoch`, from this thread or the sequence's workers.

        Unlike `seq[index]`, it takes the epoch explicitly and leaves the
        sequence's epoch as it is (`to_tf_dataset` and the `tf_keras`
        adapter read batches this way).
        """
        if not self._pool_workers:
            report: list[tuple[str, str]] = []
            batch = self._loader.load_batch(epoch, index, report=report)
            self._record_bad_files(report)
            return batch
        pool = self._pool
        if pool is None or pool.owner_pid != os.getpid():
            prefetch = min(self.max_queue_size, 2 * self._pool_workers)
            if self._pool_kind == "processes":
                pool = ProcessPool(self._loader, self._pool_workers, prefetch, self._start_method)
            else:
                pool = ThreadPool(self._loader, self._pool_workers, prefetch)
            self._pool = pool
        try:
            return pool.get(epoch, index)
        finally:
            # Taken under the pool's lock: another thread's batch may be adding to them meanwhile.
            self._record_bad_files(pool.take_reports())

    def _record_bad_files(self, report: list[tuple[str, str]]) -> None:
        if not report:
            return
        with self._bad_lock:
            for path, reason in report:
                if path not in self._bad_files:
                    self._bad_files[path] = reason
                    logger.warning(
                        "Skipping unreadable image %r (%s): another image of its class is used in its place "
                        "(on_error='skip'; listed in `bad_files`).",
                        path,
                        reason,
                    )

    def verify(self, progress: bool = True, workers: int | None = None) -> dict[str, str]:
        """Decodes every file of this subset once; returns `{path: reason}` for the bad ones.

        Run it before training to find unreadable, truncated or oversized
        images up front. It shows a progress line on stderr.
        """
        o = self._loader.options
        return check_files(
            self._loader.index, color_mode=o.color_mode, max_pixels=o.max_pixels, workers=workers, progress=progress
        )

    @property
    def cache(self) -> ImageCache | None:
        """The image cache (`cache=` directory), or None."""
        return self._cache

    def build_cache(self, workers: int | None = None, progress: bool = True) -> CacheSummary:
        """Writes the cache record of every file of this subset that lacks one, on all cores.

        Run it before training to make even the first epoch read records. It
        shows a progress line on stderr; files that fail to decode are listed
        in the summary's `bad` (and never cached).

        Args:
            workers: Threads; None for one per core.
            progress: Show the progress line.
        """
        if self._cache is None:
            raise ValueError("`build_cache()` needs a sequence made with `cache=DIRECTORY`. Received: cache=None")
        o = self._loader.options
        return fill_cache(self._cache, self._loader.index, o.max_pixels, workers=workers, progress=progress)

    @property
    def bad_files(self) -> dict[str, str]:
        """Files replaced so far under `on_error="skip"`: path -> reason."""
        with self._bad_lock:
            return dict(self._bad_files)

    @property
    def worker_mode(self) -> str:
        """How batches are made: in "processes" or "threads" (the sequence's own), or "serial"."""
        return self._pool_kind

    def close(self) -> None:
        """Stops the workers, if any (they also stop when the sequence is collected)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pool"] = None  # workers belong to the process that started them
        del state["_bad_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bad_lock = threading.Lock()

    def batch_samples(self, index: int, epoch: int | None = None) -> np.ndarray:
        """Returns the positions (in `filepaths`) of the samples of a batch."""
        return self._loader.batch_samples(self._epoch if epoch is None else epoch, index)

    def __repr__(self) -> str:
        o = self._loader.options
        extra = f", {self._loader.mix}" if self._loader.mix is not None else ""
        multi = ", multi_label=True" if self.multi_label else ""
        return (
            f"{type(self).__name__}(directory={self._loader.index.directory!r}, samples={self.samples}, "
            f"num_classes={self.num_classes}{multi}, batch_size={o.batch_size}, image_size={o.image_size}, "
            f"seed={self.seed}, epoch={self._epoch}, worker_mode={self.worker_mode!r}{extra})"
        )


class MixupSequence(ImageFolderSequence):
    """Image-folder batches mixed with mixup, CutMix, ResizeMix and/or FMix.

    Each batch is decoded once; partners are a seeded permutation of the
    batch with no fixed point (every image is mixed with a different one).
    `x` is float32 in `value_range` (or uint8); `y` is float32 soft labels that sum to
    1, whose weight on each class is the share of the sample that came from
    it (before label smoothing). For a multi-label source (`from_paths`,
    `from_dataframe`), `y = lam * y_i + (1 - lam) * y_p` from the multi-hot
    rows, by the same pixel shares and not renormalised, for sigmoid outputs.

    Example:

    ```python
    import albumentations as A
    from mixup_sequence import MixupSequence, ImageFolderSequence

    train = MixupSequence(
        "data/flowers", batch_size=32, image_size=(160, 160),
        mixup_alpha=0.2, cutmix_alpha=1.0, switch_prob=0.5,
        augment=A.Compose([A.HorizontalFlip(), A.Affine(rotate=(-10, 10))]),
        validation_split=0.2, subset="training", seed=7,
        workers=2, use_multiprocessing=True)
    val = ImageFolderSequence("data/flowers", batch_size=32, image_size=(160, 160),
                              validation_split=0.2, subset="validation")
    model.fit(train, validation_data=val, epochs=10, shuffle=False)
    ```

    Pass `shuffle=False` to `fit`: the sequence reshuffles itself, seeded;
    Keras' own batch shuffle uses the unseeded global `random` module.

    Args:
        directory: Root folder; each sub-folder is a class (or a `source.Source`).
        mixup_alpha: `lam ~ Beta(mixup_alpha, mixup_alpha)`; 0 disables mixup.
        cutmix_alpha: Beta parameter for CutMix; 0 disables CutMix.
        switch_prob: When both are on, the chance a sample uses CutMix.
        mix_prob: The chance a sample is mixed at all.
        label_smoothing: `y * (1 - eps) + eps / num_classes`, as in Keras'
            categorical cross-entropy; multi-label: `y * (1 - eps) + eps / 2`,
            as in its binary cross-entropy.
        mix_mode: `"sample"` (one `lam` per sample) or `"batch"` (one per batch).
        mixer_probs: None (mixup and/or CutMix, as their alphas enable them,
            split by `switch_prob`), or `{mixer: probability}` summing to 1:
            the chance that a mixed sample uses each of "mixup", "cutmix",
            "resizemix" (arXiv:2012.11101) and "fmix" (arXiv:2002.12047).
        resizemix_scale: `(low, high)`: ResizeMix pastes the partner shrunk
            to `tau ~ U(low, high)` of each side.
        fmix_alpha: Beta parameter of FMix's `lam`; 0 disables FMix.
        fmix_decay_power: Decay of FMix's noise spectrum (higher: smoother masks).
        mix_off_epoch: Batches of this epoch on are not mixed (one-hot;
            timm's `mixup_off_epoch`). None: never.
        mix_schedule: A function of the epoch returning a dict of mixing
            arguments to override in that epoch (e.g.
            `schedules.Linear(0, 10, mixup_alpha=(0.0, 0.4))`); a pure
            function of the epoch, picklable for spawned workers.
        pairing: `"batch"` (partners from the same batch, each image decoded
            once) or `"dataset"` (a partner drawn from a second permutation of
            the whole dataset and decoded separately, as two zipped
            iterators do; twice the decoding).
        shuffle: Reshuffle the samples every epoch, seeded (default True).
            With `mixup_alpha=0` and `cutmix_alpha=0` this is the unmixed
            training sequence.
        **kwargs: All other arguments of `ImageFolderSequence`.
    """

    def __init__(
        self,
        directory: str | os.PathLike | Source,
        *,
        mixup_alpha: float = MixConfig.mixup_alpha,
        cutmix_alpha: float = MixConfig.cutmix_alpha,
        switch_prob: float = MixConfig.switch_prob,
        mix_prob: float = MixConfig.mix_prob,
        label_smoothing: float = MixConfig.label_smoothing,
        mix_mode: str = MixConfig.mix_mode,
        mixer_probs: Mapping[str, float] | Iterable[tuple[str, float]] | None = MixConfig.mixer_probs,
        resizemix_scale: tuple[float, float] = MixConfig.resizemix_scale,
        fmix_alpha: float = MixConfig.fmix_alpha,
        fmix_decay_power: float = MixConfig.fmix_decay_power,
        mix_off_epoch: int | None = MixConfig.mix_off_epoch,
        mix_schedule: Callable[[int], Mapping[str, Any]] | None = MixConfig.mix_schedule,
        pairing: str = LoaderOptions.pairing,
        shuffle: bool = True,
        **kwargs: Any,
    ):
        mix = MixConfig(  # checked before the disk is touched
            mixup_alpha=mixup_alpha,
            cutmix_alpha=cutmix_alpha,
            switch_prob=switch_prob,
            mix_prob=mix_prob,
            label_smoothing=label_smoothing,
            mix_mode=mix_mode,
            mixer_probs=mixer_probs,
            resizemix_scale=resizemix_scale,
            fmix_alpha=fmix_alpha,
            fmix_decay_power=fmix_decay_power,
            mix_off_epoch=mix_off_epoch,
            mix_schedule=mix_schedule,
        )
        check_pairing(pairing)
        super().__init__(directory, shuffle=shuffle, **kwargs)
        self._mix_config = mix
        self._loader = self._loader.with_mixing(mix, pairing)

    @property
    def mix_config(self) -> MixConfig:
        """The mixing settings (also when they disable mixing)."""
        return self._mix_config
