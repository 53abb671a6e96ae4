"""Exceptions that carry the file they are about."""

from __future__ import annotations


class ImageDecodeError(OSError):
    """An image file could not be read or decoded.

    Attributes:
        filename: The path of the file.
        reason: What went wrong, in words.
    """

    def __init__(self, filename: str, reason: str):
        self.message = f"Could not decode image {filename!r}: {reason}"
        super().__init__(self.message)
        self.filename = filename
        self.reason = reason

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep the fields and any notes across process boundaries
        return (type(self), (self.filename, self.reason), self.__dict__)
