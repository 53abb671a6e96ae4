"""The mixers, one module each, and the registry that lists them.

Each module holds one mixer's `sample` step (draw its parameters from the
batch's generator) and `apply` step (write one row), wrapped in a
`base.Mixer`; `mixing.py` draws and applies them for a batch. A sample's
`MixParams.method` is its mixer's position in `REGISTRY` plus one (0: not
mixed), so the order below is part of every batch's value: append new
mixers at the end.

A new mixer is a module here with `sample`, `apply` and a `MIXER`, one line
in `REGISTRY`, and, if it has settings, their fields in `MixConfig`.
"""

from __future__ import annotations

from mixup_sequence.mixers import cutmix, fmix, mixup, resizemix
from mixup_sequence.mixers.base import Draw, Mixer

REGISTRY: tuple[Mixer, ...] = (
    mixup.MIXER,  # method 1
    cutmix.MIXER,  # method 2
    resizemix.MIXER,  # method 3
    fmix.MIXER,  # method 4
)

NAMES = tuple(m.name for m in REGISTRY)

__all__ = ["NAMES", "REGISTRY", "Draw", "Mixer", "code", "get"]


def code(name: str) -> int:
    """The `MixParams.method` value of the mixer called `name`."""
    return NAMES.index(name) + 1


def get(name: str) -> Mixer:
    """The registered mixer called `name`."""
    return REGISTRY[code(name) - 1]
