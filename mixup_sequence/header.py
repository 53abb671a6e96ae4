"""Read an image's width and height from its first bytes, without decoding.

Used to refuse decompression bombs before OpenCV allocates the pixels, and
to pick a reduced JPEG decode scale. Knows PNG, JPEG, BMP, WebP and TIFF;
returns None for anything else (OpenCV then has the last word).
"""

from __future__ import annotations

import struct

Bytes = bytes | memoryview

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _png(data: Bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _jpeg(data: Bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        i += 2 + length
    return None


def _bmp(data: Bytes) -> tuple[int, int] | None:
    if len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    return None


def _webp(data: Bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _tiff(data: Bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        found: dict[int, int] = {}
        for k in range(count):
            entry = data[offset + 2 + 12 * k : offset + 14 + 12 * k]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag in (256, 257):
                fmt = "H" if kind == 3 else "I"
                (found[tag],) = struct.unpack(order + fmt, entry[8 : 8 + struct.calcsize(fmt)])
        if 256 in found and 257 in found:
            return found[256], found[257]
    except struct.error:
        return None
    return None


def peek_size(data: Bytes) -> tuple[int, int] | None:
    """Returns `(width, height)` from an encoded image's header, or None if unknown."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg(data)
        if data[:2] == b"BM":
            return _bmp(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(data)
    except struct.error:
        return None
    return None


def is_jpeg(data: Bytes) -> bool:
    return data[:2] == b"\xff\xd8"


def structure_problem(data: Bytes) -> str | None:
    """Returns why the file's container is inconsistent, or None if no problem is seen.

    A PNG chunk that declares more bytes than the file holds makes OpenCV
    allocate that much (a 1.5 KB file can ask for 4 GB), so it is refused here.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    i, n = 8, len(data)
    while i + 8 <= n:
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = bytes(data[i + 4 : i + 8])
        if length > n - i - 12:
            return f"PNG chunk {kind!r} declares {length} bytes but only {max(0, n - i - 12)} remain"
        if kind == b"IEND":
            return None
        i += 12 + length
    return "PNG ends without an IEND chunk"
