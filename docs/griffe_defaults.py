"""A griffe extension for the API reference: shows defaults read from a constant as their values.

The sequences take their defaults from one place (`LoaderOptions.batch_size`, `MixConfig.mixup_alpha`,
`DEFAULT_MAX_PIXELS`); read from the source alone, a signature would show those names, not the values.
This looks each such name up in the Keras-free modules that define them, so the build needs no Keras.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import griffe

_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_MODULES = ("mixup_sequence.decode", "mixup_sequence.options", "mixup_sequence.mixing", "mixup_sequence.cache")


def _namespace() -> dict[str, Any]:
    names: dict[str, Any] = {}
    for module in _MODULES:
        names.update(vars(importlib.import_module(module)))
    return names


def _literal(value: object) -> str | None:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
        return repr(value)
    return None


class ConstantDefaults(griffe.Extension):
    """Replaces a parameter default that names a constant (`LoaderOptions.batch_size`) by its value (`32`)."""

    def __init__(self) -> None:
        self._names = _namespace()

    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        for parameter in func.parameters:
            default = parameter.default
            if default is None or not _DOTTED_NAME.fullmatch(str(default)):
                continue
            root, *attributes = str(default).split(".")
            if root not in self._names:
                continue
            value = self._names[root]
            for attribute in attributes:
                value = getattr(value, attribute)
            literal = _literal(value)
            if literal is not None:
                parameter.default = literal
