"""mixup-sequence: image-folder batches for Keras, with mixup done right.

`MixupSequence` and `ImageFolderSequence` are Keras `PyDataset`s, `SyncEpoch` and
`BackupAndResume` Keras callbacks; they are imported lazily, so the Keras-free parts (`index`, `decode`, `mixing`,
`loader`) load without importing Keras.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mixup_sequence.errors import ImageDecodeError, MissingFilesError
from mixup_sequence.index import ALLOWED_FORMATS, FolderIndex, index_directory
from mixup_sequence.mixing import MixConfig, MixParams
from mixup_sequence.source import Source
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
    "MissingFilesError",
    "MixParams",
    "MixupSequence",
    "Source",
    "SyncEpoch",
    "WorkerError",
    "index_directory",
]


def _import_keras_part(module: str) -> Any:
    """Imports `mixup_sequence.<module>`, which needs Keras 3 and the backend `KERAS_BACKEND` names."""
    import importlib

    try:
        return importlib.import_module(f"mixup_sequence.{module}")
    except ModuleNotFoundError as e:
        if e.name not in ("keras", "tensorflow", "jax", "torch"):
            raise
        backend = os.environ.get("KERAS_BACKEND", "tensorflow (Keras' default)")
        raise ImportError(
            f"The Keras sequences need Keras 3 and its backend, but {e.name!r} is not installed "
            f"(KERAS_BACKEND={backend}). Install one backend with `pip install mixup-sequence[tensorflow]`, "
            "`[jax]` or `[torch]`, and set KERAS_BACKEND to it (e.g. `export KERAS_BACKEND=jax`)."
        ) from e


def __getattr__(name: str) -> Any:
    if name in ("MixupSequence", "ImageFolderSequence"):
        return getattr(_import_keras_part("sequence"), name)
    if name in ("SyncEpoch", "BackupAndResume"):
        return getattr(_import_keras_part("callbacks"), name)
    raise AttributeError(f"module 'mixup_sequence' has no attribute {name!r}")
