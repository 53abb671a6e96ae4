"""The Keras `PyDataset`s: `ImageFolderSequence` and `MixupSequence`.

The Keras-free modules (`index`, `decode`, `mixing`, `loader`, ...) never
import this one; `callbacks`, `keras2` and `tf_data` build on it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from mixup_sequence import _rng, _threads
from mixup_sequence.augment import Augmenter
from mixup_sequence.cache import CacheSummary, ImageCache, fill_cache, open_cache
from mixup_sequence.decode import DEFAULT_MAX_PIXELS
from mixup_sequence.index import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions, check_cache, check_keras_arguments, check_seed
from mixup_sequence.split import split_index
from mixup_sequence.verify import check_files
from mixup_sequence.workers import ProcessPool, ThreadPool

logger = logging.getLogger("mixup_sequence")


class ImageFolderSequence(keras.utils.PyDataset):
    """Batches of images from a folder with one sub-folder per class.

    Yields `(x, y)`: `x` float32 `(batch, height, width, channels)` scaled to
    `value_range` (default [0, 1]), or uint8 with `dtype="uint8"`; `y` float32
    one-hot `(batch, num_classes)`.
    Batch `i` of epoch `e` is a pure function of `(seed, e, i)` and the files,
    whatever the worker count, threads or processes, or order of access.

    Example:

    ```python
    val = ImageFolderSequence("data/flowers", batch_size=32, image_size=(160, 160),
                              validation_split=0.2, subset="validation")
    x, y = val[0]
    model.evaluate(val)
    ```

    Args:
        directory: Root folder; each sub-folder is a class.
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
        shuffle: Reshuffle the samples every epoch (seeded); if False, keep
            index order.
        seed: Integer seed; None draws one, kept in `self.seed`.
        augment: Optional Albumentations transform, or callable on one uint8
            HWC RGB image (with an optional `rng` keyword). It runs per image,
            after decoding and resizing, and must keep the image's shape.
        drop_remainder: Drop the last, short batch.
        value_range: `(low, high)` range of `x`, e.g. `(0, 255)`; None for
            (0, 1) with float32 and (0, 255) with uint8.
        dtype: `"float32"` (default) or `"uint8"`: a quarter of the memory and
            of the copies for each batch, and no float conversion in the
            workers; rescale in the model (`keras.layers.Rescaling(1 / 255)`).
            A mixup pixel is then rounded to the nearest integer (at most
            0.5/255 from the float32 value); labels stay float32 and exact.
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
            it in `bad_files`.
        max_pixels: Refuse images whose header declares more pixels than
            this (decompression bombs), before decoding; None for OpenCV's own
            limit only.
        shard_index, num_shards: For multi-host training: this host serves
            positions `shard_index, shard_index + num_shards, ...` of every
            epoch's global order (the same on every host, given the same
            seed), `samples // num_shards` of them: disjoint, equal-size parts
            that together cover the epoch but for fewer than `num_shards`
            samples (dropped, a different few each epoch).
        cache: None (decode every epoch), or a directory for a persistent
            cache of the decoded, resized uint8 images (see `cache.py`): the
            first epoch (or `build_cache()`) writes one record per file, later
            epochs and runs read it. Batches are bit-identical either way. A
            record is used only for its file's unchanged (path, size, mtime)
            and these pixel settings; raises `cache.CacheError` if the
            directory is not writable, and `cache.CacheSpaceError` here if its
            disk cannot hold the missing records.

    Attributes:
        class_names, class_indices, filepaths, labels, samples, num_classes:
            As in Keras' directory iterators, for this subset.
        seed: The seed in use.
        epoch: The epoch whose batches `__getitem__` returns.
        cache: The `cache.ImageCache`, or None.
    """

    _mix: MixConfig | None = None
    _pairing: str = "batch"

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        batch_size: int = 32,
        image_size: tuple[int, int] = (256, 256),
        color_mode: str = "rgb",
        interpolation: str = "area",
        class_names: Sequence[str] | None = None,
        follow_links: bool = False,
        validation_split: float | None = None,
        subset: str | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        augment: Callable[..., Any] | None = None,
        drop_remainder: bool = False,
        value_range: tuple[float, float] | None = None,
        dtype: str = "float32",
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
        start_method: str | None = None,
        on_error: str = "raise",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        shard_index: int = 0,
        num_shards: int = 1,
        cache: str | os.PathLike | None = None,
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
            pairing=self._pairing,
            on_error=on_error,
            max_pixels=max_pixels,
            shard_index=shard_index,
            num_shards=num_shards,
        )
        check_seed(seed)
        check_cache(cache)
        check_keras_arguments(
            directory, class_names, follow_links, workers, use_multiprocessing, max_queue_size, start_method
        )
        augmenter = Augmenter(augment) if augment is not None else None
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
        index = index_directory(directory, class_names=class_names, follow_links=follow_links)
        if validation_split is not None and subset is not None:
            index = split_index(index, validation_split, subset)
            if index.samples == 0:
                raise ValueError(
                    f"The {subset!r} subset of {os.fspath(directory)!r} is empty with "
                    f"validation_split={validation_split}."
                )
        self.seed = _rng.draw_seed() if seed is None else int(seed)
        self._cache = None if cache is None else open_cache(cache, options, index)
        self._loader = BatchLoader(index, options, self.seed, augment=augmenter, mix=self._mix, cache=self._cache)
        self._bad_files: dict[str, str] = {}
        self._bad_lock = threading.Lock()
        self._epoch = 0
        self._start = 0  # the first batch of this epoch: > 0 only in an epoch resumed midway
        self._epoch_begun = False
        self._seen_epoch_end = False
        if self._pool_workers:
            _threads.limit_opencv_threads_for_workers()

    # --- the index, as in Keras' directory iterators -----------------------
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
    def labels(self) -> np.ndarray:
        return self._loader.index.labels

    @property
    def samples(self) -> int:
        return self._loader.index.samples

    @property
    def num_classes(self) -> int:
        return self._loader.index.num_classes

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

    def set_epoch(self, epoch: int) -> None:
        """Makes `__getitem__` return the batches of `epoch` (e.g. to resume)."""
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"`epoch` must be an integer >= 0. Received: epoch={epoch!r}")
        self._epoch = int(epoch)
        self._start = 0
        # As if new: the next fit's reset (or discarded prefetch) must not advance it.
        self._epoch_begun = False
        self._seen_epoch_end = False

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

    def _follow_fit(self, epoch: int, start: int = 0) -> None:
        """Moves to `epoch` from inside `fit`; the epoch protocol continues.

        `start > 0` (from `BackupAndResume`) makes this epoch begin at batch
        `start`: `len()` shrinks by `start` and index `j` is batch `start + j`,
        so `fit` ends the epoch after its remaining batches.
        """
        if not 0 <= start < len(self._loader):
            raise ValueError(f"`start` must be in [0, {len(self._loader)}). Received: start={start}")
        self._epoch = int(epoch)
        self._start = int(start)
        self._seen_epoch_end = True

    def on_epoch_begin(self) -> None:
        self._epoch_begun = True

    def on_epoch_end(self) -> None:
        """Advances `epoch` after an epoch that Keras actually ran.

        Keras 3 calls `on_epoch_end` once before training starts (from its
        iterator reset), after a prefetch that it discards (JAX and PyTorch
        backends, unbuilt model), and then after every epoch, each of which
        it opens with `on_epoch_begin`. The epoch advances only on an
        `on_epoch_end` that closes an `on_epoch_begin` and comes after the
        first `on_epoch_end` seen; so the first epoch trained is epoch 0 on
        every backend and in every worker mode. Outside `fit`, use
        `set_epoch`.
        """
        if self._epoch_begun and self._seen_epoch_end:
            self._epoch += 1
            logger.debug("%s: now at epoch %d", type(self).__name__, self._epoch)
        self._start = 0  # an epoch resumed midway is over, or a new fit is resetting
        self._epoch_begun = False
        self._seen_epoch_end = True

    # --- batches ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._loader) - self._start

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._start:
            if not 0 <= index < len(self):
                raise IndexError(f"Batch index out of range: expected 0 <= index < {len(self)}. Received: {index}")
            index = self._start + int(index)
        return self._load(self._epoch, int(index))

    def _load(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch `index` of `epoch`, from this thread or the workers."""
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
            self._record_bad_files(pool.reports)
            pool.reports = []

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
        extra = f", {self._mix}" if self._mix is not None else ""
        return (
            f"{type(self).__name__}(directory={self._loader.index.directory!r}, samples={self.samples}, "
            f"num_classes={self.num_classes}, batch_size={o.batch_size}, image_size={o.image_size}, "
            f"seed={self.seed}, epoch={self._epoch}, worker_mode={self.worker_mode!r}{extra})"
        )


class MixupSequence(ImageFolderSequence):
    """Image-folder batches mixed with mixup and/or CutMix.

    Each batch is decoded once; partners are a seeded permutation of the
    batch with no fixed point (every image is mixed with a different one).
    `x` is float32 in `value_range` (or uint8); `y` is float32 soft labels that sum to
    1, whose weight on each class is the share of the sample that came from
    it (before label smoothing).

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
        directory: Root folder; each sub-folder is a class.
        mixup_alpha: `lam ~ Beta(mixup_alpha, mixup_alpha)`; 0 disables mixup.
        cutmix_alpha: Beta parameter for CutMix; 0 disables CutMix.
        switch_prob: When both are on, the chance a sample uses CutMix.
        mix_prob: The chance a sample is mixed at all.
        label_smoothing: `y * (1 - eps) + eps / num_classes`, as in Keras'
            categorical cross-entropy.
        mix_mode: `"sample"` (one `lam` per sample) or `"batch"` (one per batch).
        pairing: `"batch"` (partners from the same batch, each image decoded
            once) or `"dataset"` (a partner drawn from a second permutation of
            the whole dataset and decoded separately, as two zipped
            iterators do; twice the decoding).
        **kwargs: All arguments of `ImageFolderSequence`.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        mixup_alpha: float = 0.2,
        cutmix_alpha: float = 0.0,
        switch_prob: float = 0.5,
        mix_prob: float = 1.0,
        label_smoothing: float = 0.0,
        mix_mode: str = "sample",
        pairing: str = "batch",
        **kwargs: Any,
    ):
        self._mix = MixConfig(
            mixup_alpha=mixup_alpha,
            cutmix_alpha=cutmix_alpha,
            switch_prob=switch_prob,
            mix_prob=mix_prob,
            label_smoothing=label_smoothing,
            mix_mode=mix_mode,
        )
        self._pairing = pairing
        super().__init__(directory, **kwargs)

    @property
    def mix_config(self) -> MixConfig:
        return self._mix  # type: ignore[return-value]  # always set above
