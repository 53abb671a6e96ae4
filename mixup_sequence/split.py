"""Stratified, seed-independent train/validation split.

The rule: within each class, files are ranked by a hash of their path
relative to the root directory (BLAKE2b, 64 bits, of the path's bytes as
the file system gives them, "/" separators: UTF-8 for UTF-8 names, and the
same bytes every time for names that are not), and the
`round(validation_split * n_class)` lowest-ranked files form the
validation subset. The assignment depends on neither a seed nor the order
in which files were found, so a "training" and a "validation" object made
from the same tree and `validation_split` are always disjoint and together
cover the tree exactly, and adding files moves no other file across the
split.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from mixup_sequence.index import FolderIndex

SUBSETS = ("training", "validation")


def _path_rank_keys(index: FolderIndex) -> np.ndarray:
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(index.relative_path_bytes(k), digest_size=8).digest(), "big")
            for k in range(index.samples)
        ],
        dtype=np.uint64,
    )


def validation_mask(index: FolderIndex, validation_split: float) -> np.ndarray:
    """Returns a boolean array, True for files in the validation subset."""
    keys = _path_rank_keys(index)
    mask = np.zeros(index.samples, dtype=bool)
    for label in range(index.num_classes):
        members = np.flatnonzero(index.labels == label)
        n_val = math.floor(validation_split * len(members) + 0.5)
        # Ties (identical hashes) are broken by position, which is sorted by path.
        order = np.lexsort((members, keys[members]))
        mask[members[order[:n_val]]] = True
    return mask


def split_index(index: FolderIndex, validation_split: float, subset: str) -> FolderIndex:
    """Returns the "training" or "validation" part of `index` (order kept)."""
    mask = validation_mask(index, validation_split)
    keep = mask if subset == "validation" else ~mask
    return index.take(np.flatnonzero(keep))
