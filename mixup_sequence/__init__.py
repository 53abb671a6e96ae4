"""mixup-sequence: image-folder batches for Keras, with mixup done right.

`MixupSequence` and `ImageFolderSequence` are Keras `PyDataset`s, `SyncEpoch` and
`BackupAndResume` Keras callbacks; they are imported lazily, so the Keras-free parts (`index`, `decode`, `mixing`,
`loader`) load without importing Keras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mixup_sequence.errors import ImageDecodeError
from mixup_sequence.index import ALLOWED_FORMATS, FolderIndex, index_directory
from mixup_sequence.mixing import MixConfig, MixParams
from mixup_sequence.workers import WorkerError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mixup_sequence.callbacks import BackupAndResume, SyncEpoch
    from mixup_sequence.sequence import ImageFolderSequence, MixupSequence

__all__ = [
    "ALLOWED_FORMATS",
    "BackupAndResume",
    "FolderIndex",
    "ImageDecodeError",
    "ImageFolderSequence",
    "MixConfig",
    "MixParams",
    "MixupSequence",
    "SyncEpoch",
    "WorkerError",
    "index_directory",
]


def __getattr__(name: str) -> Any:
    if name in ("MixupSequence", "ImageFolderSequence"):
        from mixup_sequence import sequence

        return getattr(sequence, name)
    if name in ("SyncEpoch", "BackupAndResume"):
        from mixup_sequence import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module 'mixup_sequence' has no attribute {name!r}")
