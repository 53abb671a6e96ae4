"""Finds the code examples of the documentation and runs them, for test_docs.py.

python tests/docs_examples.py PAGE WORKDIR   # one page in a process of its own

PAGE is a Markdown file under docs/. Its examples are its fenced blocks and, for an API reference page,
the fenced blocks in the docstrings of the objects it renders (`::: module.Object` lines). They run in
page order in WORKDIR, where `data/flowers` is data_samples/digits and `data_samples` the repository's:

- a `python` block runs in one namespace shared by the page; an example that uses `model` (or
  `tf_model`) without defining it gets a small compiled Keras (or tf_keras) classifier for it,
  which trains at most `MAX_EPOCHS` of the epochs asked;
- a `bash` block's lines run through `mixup_sequence.cli.main`, so they must all be `mixup-sequence`
  commands;
- a block preceded by `<!-- not run: REASON -->` does not run (a fragment that needs several hosts, a
  package install, code that does not run on Keras 3).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*$")
_NOT_RUN = re.compile(r"^\s*<!--\s*not run:(?P<reason>.*?)-->\s*$")
_RENDERED = re.compile(r"^:::\s*(?P<path>[\w.]+)\s*$", re.MULTILINE)
# Languages of code that runs; other fences (`text`: program output) are not code.
CODE = ("python", "bash")
COMMAND = "mixup-sequence"


@dataclasses.dataclass(frozen=True)
class Block:
    source: str  # the page, or the object whose docstring holds the block
    line: int  # of the block's first code line in `source` (1-based; for a docstring, within it)
    lang: str
    code: str
    not_run: str | None  # the reason given by a `<!-- not run: ... -->` marker, or None

    @property
    def runs(self) -> bool:
        return self.lang in CODE and self.not_run is None

    def commands(self) -> list[list[str]]:
        """The command lines of a `bash` block, without comments; each must start with `mixup-sequence`."""
        lines = [shlex.split(line, comments=True) for line in self.code.splitlines()]
        return [argv for argv in lines if argv]

    def where(self) -> str:
        return f"{self.source}:{self.line}"


def blocks_in(text: str, source: str) -> list[Block]:
    """The fenced blocks of Markdown `text`, in order (fences may be indented, as in a list item)."""
    lines = text.splitlines()
    found = []
    k = 0
    while k < len(lines):
        opening = _FENCE.match(lines[k])
        if opening is None or not opening["lang"]:
            k += 1
            continue
        indent = len(opening["indent"])
        end = k + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{source}:{k + 1}: a ``` fence that is never closed")
        previous = next((lines[j] for j in range(k - 1, -1, -1) if lines[j].strip()), "")
        marker = _NOT_RUN.match(previous)
        reason = marker["reason"].strip() if marker else None
        code = "\n".join(line[indent:] for line in lines[k + 1 : end]) + "\n"
        found.append(Block(source, k + 2, opening["lang"], code, reason))
        k = end + 1
    return found


def rendered_objects(text: str) -> list[str]:
    """The dotted paths an API reference page renders with `::: path`."""
    return _RENDERED.findall(text)


def resolve(path: str) -> object:
    """The object at a dotted path: the longest importable module, then attributes."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[n:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(f"cannot import {path!r}")


def documented(path: str, obj: object) -> list[tuple[str, object]]:
    """`obj` and the public members the reference shows with it: a class's own, a module's own."""
    found = [(path, obj)]
    if inspect.ismodule(obj):
        for name, member in vars(obj).items():
            if not name.startswith("_") and getattr(member, "__module__", None) == obj.__name__:
                found += documented(f"{path}.{name}", member)
    elif inspect.isclass(obj):
        for name, member in vars(obj).items():
            if isinstance(member, (classmethod, staticmethod)):
                member = member.__func__
            if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                found.append((f"{path}.{name}", member))
    return found


def _docstring_line(obj: object, doc: str, name: str) -> tuple[str, int]:
    """Where the docstring starts: (file relative to the repository, line), or (`name`, 1) if unknown."""
    target = obj.fget if isinstance(obj, property) else obj
    try:
        lines, start = inspect.getsourcelines(target)  # type: ignore[arg-type]
        path = os.path.relpath(inspect.getsourcefile(target), ROOT)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return name, 1
    first = doc.strip().splitlines()[0].strip()
    for k, line in enumerate(lines):
        if first in line:
            return path, max(start, 1) + k
    return name, 1


def docstring_blocks(paths: list[str]) -> list[Block]:
    """The fenced blocks in the docstrings of the objects at `paths` and of their members."""
    found = []
    for path in paths:
        for name, obj in documented(path, resolve(path)):
            doc = obj.__doc__  # its own: a class without one shows none, not its base's
            if doc:
                source, first = _docstring_line(obj, doc, name)
                for block in blocks_in(inspect.cleandoc(doc), name):
                    found.append(dataclasses.replace(block, source=source, line=first + block.line - 1))
    return found


def page_blocks(page: str) -> list[Block]:
    """Every block of a page: its own, then those of the docstrings it renders."""
    with open(page, encoding="utf-8") as f:
        text = f.read()
    source = os.path.relpath(page, ROOT)
    return blocks_in(text, source) + docstring_blocks(rendered_objects(text))


def pages() -> list[str]:
    found = []
    for folder, _, files in os.walk(DOCS):
        found += [os.path.join(folder, name) for name in files if name.endswith(".md")]
    return sorted(found)


# --- running -------------------------------------------------------------------------------------
# The stand-in classifier trains at most this many of the epochs an example asks for: every example
# still runs `fit` (with its callbacks, workers and validation) end to end, in seconds.
MAX_EPOCHS = 2


def uses(name: str, code: str) -> bool:
    return re.search(rf"(?<![\w.]){name}\b", code) is not None


def _classifier(keras_module, num_classes: int):
    """A small compiled classifier for images of any size: the stand-in for the reader's model."""

    class Classifier(keras_module.Sequential):
        def fit(self, *args, epochs=1, **kwargs):
            return super().fit(*args, epochs=min(epochs, MAX_EPOCHS), **kwargs)

    layers = keras_module.layers
    model = Classifier(
        [
            keras_module.Input((None, None, 3)),
            layers.Conv2D(4, 3, strides=2, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    return model


def prepare(workdir: str) -> None:
    """Fills `workdir` as the examples expect: `data/flowers` (data_samples/digits) and `data_samples`."""
    os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
    samples = os.path.join(ROOT, "data_samples")
    os.symlink(os.path.join(samples, "digits"), os.path.join(workdir, "data", "flowers"))
    os.symlink(samples, os.path.join(workdir, "data_samples"))


def run(blocks: list[Block]) -> int:
    """Runs the blocks that run, in order, in the current directory (made by `prepare`); returns how many ran.

    The sequences an example leaves open are closed at the end, so no worker outlives its page.
    """
    runnable = [b for b in blocks if b.runs]
    python = "".join(b.code for b in runnable if b.lang == "python")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    num_classes = len(os.listdir(os.path.join("data", "flowers")))
    if uses("model", python):
        import keras

        namespace["model"] = _classifier(keras, num_classes)
    if uses("tf_model", python):
        import tf_keras

        namespace["tf_model"] = _classifier(tf_keras, num_classes)
    try:
        for block in runnable:
            print(f"--- {block.where()} ({block.lang})", flush=True)
            if block.lang == "python":
                exec(compile("\n" * (block.line - 1) + block.code, block.source, "exec"), namespace)
                continue
            from mixup_sequence import cli

            for argv in block.commands():
                if argv[0] != COMMAND:
                    raise ValueError(f"{block.where()}: runs only `{COMMAND}` commands; mark others <!-- not run: -->")
                print("$ " + shlex.join(argv), flush=True)
                code = cli.main(argv[1:])
                if code != 0:
                    raise AssertionError(f"{block.where()}: `{shlex.join(argv)}` exited with {code}")
    finally:
        for value in namespace.values():
            close = getattr(value, "close", None)
            if callable(close) and type(value).__module__.startswith("mixup_sequence."):
                close()
    return len(runnable)


def main(page: str, workdir: str) -> None:
    blocks = page_blocks(os.path.abspath(page))
    prepare(workdir)
    os.chdir(workdir)
    count = run(blocks)
    print(f"ran {count} examples of {page}")


if __name__ == "__main__":
    main(*sys.argv[1:])
