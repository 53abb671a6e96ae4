"""Exceptions that carry the files they are about."""

from __future__ import annotations

from collections.abc import Sequence


class FileError(OSError):
    """An error about one file or folder, with its path and the reason apart.

    Its fields and notes survive pickling, so a worker process's error arrives
    whole in the caller.

    Attributes:
        filename: The path concerned.
        reason: What went wrong (and what to do), in words.
    """

    def __init__(self, filename: str, reason: str):
        self.message = self._format(filename, reason)
        super().__init__(self.message)
        self.filename = filename
        self.reason = reason

    @staticmethod
    def _format(filename: str, reason: str) -> str:
        return reason

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep the fields and any notes across process boundaries
        return (type(self), (self.filename, self.reason), self.__dict__)


class ImageDecodeError(FileError):
    """An image file could not be read or decoded.

    Attributes:
        filename: The path of the file.
        reason: What went wrong, in words.
    """

    @staticmethod
    def _format(filename: str, reason: str) -> str:
        return f"Could not decode image {filename!r}: {reason}"


class MissingFilesError(FileNotFoundError):
    """Files that a source lists but that are missing or cannot be read: all of them, with their rows.

    Attributes:
        problems: `[(row, path, reason), ...]` for every such file, in row order
            (`row` as the message names it: `"paths[3]"`, `"row 'a17'"`).
    """

    def __init__(self, message: str, problems: Sequence[tuple[str, str, str]] = ()):
        super().__init__(message)
        self.problems = list(problems)

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self):  # keep `problems` across process boundaries
        return (type(self), (self.args[0], self.problems))
