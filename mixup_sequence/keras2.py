"""Keras 2 (`tf_keras`): the same batches as a `tf_keras.utils.Sequence`.

Imported only by `ImageFolderSequence.for_tf_keras()`, so Keras 3 users never
import `tf_keras`.

Keras 2's `OrderedEnqueuer` calls `on_epoch_end` from its own thread when it
has handed out an epoch's batches, and `fit` calls it again from the main
thread when the epoch is over (the enqueuer's call often comes first, but
not always). Only the main thread's call advances the epoch; `fit` then
starts a new enqueuer, whose workers see the new epoch.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import numpy as np
import tf_keras

if TYPE_CHECKING:
    from mixup_sequence.sequence import ImageFolderSequence


class Keras2Sequence(tf_keras.utils.Sequence):
    """Wraps an `ImageFolderSequence` for `tf_keras` `fit(seq, workers=..., use_multiprocessing=...)`.

    Args:
        sequence: The Keras 3 sequence whose batches to serve.
    """

    def __init__(self, sequence: ImageFolderSequence):
        self.sequence = sequence
        self._owner_pid = os.getpid()

    def __len__(self) -> int:
        return len(self.sequence)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if os.getpid() == self._owner_pid:
            return self.sequence[index]
        # In one of Keras 2's worker processes: load here, not through a pool of our own.
        return self.sequence.loader.load_batch(self.sequence.epoch, int(index))

    def on_epoch_end(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.sequence.set_epoch(self.sequence.epoch + 1)

    @property
    def epoch(self) -> int:
        return self.sequence.epoch

    def __repr__(self) -> str:
        return f"Keras2Sequence({self.sequence!r})"
