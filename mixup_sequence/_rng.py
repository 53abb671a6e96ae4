"""Random generators keyed by `(seed, stream, epoch, index)`.

Every random draw in the library comes from a generator built here, so a
batch is a pure function of its key: whatever process, thread or order asks
for it, it gets the same numbers. Nothing reads or writes global random
state (`np.random.*`, `random.*`).
"""

from __future__ import annotations

import random
import secrets

import numpy as np

# Streams keep independent uses of one `(seed, epoch, index)` apart.
ORDER = 0  # the per-epoch sample permutation (index unused)
AUGMENT = 1  # per-sample augmentation draws (index = sample index)
MIX = 2  # per-batch mixing parameters (index = batch index)
PARTNER_ORDER = 3  # per-epoch partner permutation for `pairing="dataset"`
PARTNER_AUGMENT = 4  # augmentation of a partner decoded separately
REPLACE = 5  # order of same-class replacements for an unreadable sample


def draw_seed() -> int:
    """Returns a fresh 32-bit seed from the operating system's entropy."""
    return secrets.randbits(32)


def generator(seed: int, stream: int, epoch: int, index: int = 0) -> np.random.Generator:
    """Returns a NumPy generator that depends only on its arguments."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, stream, epoch, index))))


def py_random(rng: np.random.Generator) -> random.Random:
    """Returns a `random.Random` seeded from `rng` (for libraries that want one)."""
    return random.Random(int(rng.integers(0, 2**63)))
