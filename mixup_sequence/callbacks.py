"""Keras callbacks that keep sequences in step with `fit` across restarts."""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable
from typing import cast

import keras

from mixup_sequence.sequence import ImageFolderSequence

logger = logging.getLogger("mixup_sequence")


def _check_sequences(owner: str, sequences: Iterable[object]) -> tuple[ImageFolderSequence, ...]:
    sequences = tuple(sequences)
    for seq in sequences:
        if not isinstance(seq, ImageFolderSequence):
            raise TypeError(f"`{owner}` takes ImageFolderSequence objects. Received: {seq!r}")
    return sequences  # type: ignore[return-value]  # checked above


class SyncEpoch(keras.callbacks.Callback):
    """Keeps sequences on the epoch that `fit` is running, for exact resumes.

    A new process that resumes training (with `keras.callbacks.BackupAndRestore`,
    or `fit(initial_epoch=k)` after restoring a `ModelCheckpoint`) starts its
    sequence at epoch 0, while Keras continues at epoch `k`. This callback calls
    `set_epoch(epoch)` on each sequence as Keras begins each epoch (before the
    epoch's first batch is requested, and before worker threads or processes
    read it), so the resumed run sees exactly the batches, in the same order,
    that an uninterrupted run would have. To resume in the middle of an epoch,
    use `BackupAndResume` instead.

    Example:

    ```python
    import keras
    from mixup_sequence import MixupSequence, SyncEpoch

    train = MixupSequence("data/flowers", seed=7, workers=2, use_multiprocessing=True)
    model.fit(train, epochs=10, shuffle=False,
              callbacks=[keras.callbacks.BackupAndRestore("backup"), SyncEpoch(train)])
    ```

    Args:
        *sequences: The `ImageFolderSequence`s to keep in step.
    """

    def __init__(self, *sequences: ImageFolderSequence):
        super().__init__()
        self.sequences = _check_sequences("SyncEpoch", sequences)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for seq in self.sequences:
            if seq.epoch != epoch:
                logger.debug("SyncEpoch: %r moves from epoch %d to %d", seq, seq.epoch, epoch)
                seq.set_epoch(epoch)


class BackupAndResume(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore`, resuming the sequence exactly, even mid-epoch.

    Keras' own callback saves the model every `save_freq` batches but, after
    an interruption, restarts the interrupted epoch from its first batch: the
    batches trained before the last backup are trained twice. This one
    records which batch of the epoch the backup follows (in the same
    `training_metadata.json`) and, in the new process, starts the sequence's
    epoch at the next batch. The batches before it are not loaded at all: the
    sequence's `len()` shrinks for that one epoch, so `fit` ends it early
    (the "Your input ran out of data" warning Keras gives then is silenced for
    that epoch only). With deterministic ops, the resumed run ends with the
    same weights as an uninterrupted one. It also does what `SyncEpoch` does.

    Use the same `save_freq` in the interrupted and the resumed run, and pass
    `shuffle=False` to `fit` (the sequence shuffles itself, seeded).

    Example:

    ```python
    from mixup_sequence import BackupAndResume, MixupSequence

    train = MixupSequence("data/flowers", seed=7, workers=2, use_multiprocessing=True)
    model.fit(train, epochs=10, shuffle=False,
              callbacks=[BackupAndResume("backup", train, save_freq=100)])
    ```

    Args:
        backup_dir: Where the backup is kept, as in `BackupAndRestore`.
        sequence: The training `ImageFolderSequence`.
        save_freq: `"epoch"` or a number of batches, as in `BackupAndRestore`.
        double_checkpoint: As in `BackupAndRestore`.
        delete_checkpoint: As in `BackupAndRestore`: remove the backup when
            training ends.
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        sequence: ImageFolderSequence,
        save_freq: str | int = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ):
        super().__init__(
            os.fspath(backup_dir),
            save_freq=save_freq,
            double_checkpoint=double_checkpoint,
            delete_checkpoint=delete_checkpoint,
        )
        (self.sequence,) = _check_sequences("BackupAndResume", (sequence,))
        if not hasattr(self, "_training_metadata_path") or not hasattr(self, "_last_batch_seen"):
            raise RuntimeError(
                f"`BackupAndResume` needs the `BackupAndRestore` of Keras 3; found Keras {keras.__version__}."
            )
        self._resume_at: tuple[int, int] | None = None  # (epoch, first batch) for this fit
        self._start = 0  # the first batch of the epoch running, in the sequence's numbering
        self._silenced: tuple | None = None  # the warnings filter set for an epoch resumed midway

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)  # restores the weights and the epoch
        self._resume_at = None
        self._start = 0
        if self.save_freq == "epoch" or not os.path.exists(self._training_metadata_path):
            return
        with open(self._training_metadata_path) as f:
            metadata = json.load(f)
        epoch, start = int(metadata["epoch"]), int(metadata["batch"]) + 1
        if start >= len(self.sequence.loader):  # the backup closed its epoch's last batch
            self.model._initial_epoch = epoch + 1
        else:
            self._resume_at = (epoch, start)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        start = 0
        if self._resume_at is not None and self._resume_at[0] == epoch:
            start = self._resume_at[1]
            logger.info("BackupAndResume: resuming epoch %d at batch %d of %d", epoch, start, len(self.sequence))
            warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
            self._silenced = warnings.filters[0]
        self._resume_at = None
        self._start = start
        # Keras' callback learns the epoch only when one ends, so its backups in an epoch
        # resumed midway would name the epoch before.
        self._current_epoch = epoch
        self.sequence.set_epoch(epoch, start)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._start = 0
        if self._silenced is not None:
            if self._silenced in warnings.filters:
                cast(list, warnings.filters).remove(self._silenced)
            self._silenced = None
        super().on_epoch_end(epoch, logs)

    def _save_model(self) -> None:
        # Keras counts batches from where this fit began the epoch; record the sequence's count.
        relative: int = self._last_batch_seen  # type: ignore[has-type]  # set by Keras' __init__
        self._last_batch_seen = relative + self._start
        try:
            super()._save_model()
        finally:
            self._last_batch_seen = relative
