"""Stratified, seed-independent train/validation split.

The rule: within each class, samples are ranked by a hash of their key
(BLAKE2b, 64 bits, of the key's bytes as the file system gives them: for
class folders and for paths given relative to a `directory`, the path
relative to it with "/" separators; for paths given without a
`directory`, the path as given, normalised), and the
`round(validation_split * n_class)` lowest-ranked form the validation
subset. Multi-label sources are ranked all together instead, unstratified:
their label sets are often unique to one or two samples, which a split
stratified by label set would leave wholly in training. The assignment
depends on neither a seed nor the order in which samples were listed, so a
"training" and a "validation" object made from the same source and
`validation_split` are always disjoint and together cover the source
exactly; adding a file moves at most one other file of its stratum across
the split; and a list of a folder's files with their classes, relative to
it, splits exactly as indexing the folder does.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from mixup_sequence.source import Source

SUBSETS = ("training", "validation")


def _path_rank_keys(source: Source) -> np.ndarray:
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(source.key_bytes(k), digest_size=8).digest(), "big")
            for k in range(source.samples)
        ],
        dtype=np.uint64,
    )


def _strata(source: Source) -> list[np.ndarray]:
    """The groups each split alike: each class's samples; all samples of a multi-label source."""
    if source.multi_label:
        return [np.arange(source.samples)]
    return [np.flatnonzero(source.labels == label) for label in range(source.num_classes)]


def validation_mask(source: Source, validation_split: float) -> np.ndarray:
    """Returns a boolean array, True for samples in the validation subset."""
    keys = _path_rank_keys(source)
    mask = np.zeros(source.samples, dtype=bool)
    for members in _strata(source):
        n_val = math.floor(validation_split * len(members) + 0.5)
        # Ties (identical hashes) are broken by position.
        order = np.lexsort((members, keys[members]))
        mask[members[order[:n_val]]] = True
    return mask


def split_index(source: Source, validation_split: float, subset: str) -> Source:
    """Returns the "training" or "validation" part of `source` (order kept)."""
    mask = validation_mask(source, validation_split)
    keep = mask if subset == "validation" else ~mask
    return source.take(np.flatnonzero(keep))
