"""Read an image's width and height from its header, without decoding.

OpenCV picks a decoder by a file's first bytes, never by its name, so a
20,000 x 20,000 GIF saved as `x.png` is decoded as a GIF. `read_headers`
recognises the first bytes of every format this OpenCV build decodes, in
the order OpenCV tries its decoders: BMP, GIF, AVIF, Radiance HDR, JPEG,
WebP, Sun raster, PBM/PGM/PPM, PAM, PFM, TIFF (and BigTIFF), PNG and JPEG
2000 (JP2 and bare codestream). For each it reads the size the way that
decoder's header reader does, before any pixel is allocated. Data that
matches none of them, or whose header cannot be read, has no size here:
`size_problem` then refuses it rather than let OpenCV find out.

Used to refuse decompression bombs and to pick a reduced JPEG decode scale.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from collections.abc import Callable, Iterator
from typing import NamedTuple

Bytes = bytes | memoryview
Size = tuple[int, int]

_INT_MAX = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class Header:
    """A format whose signature the data starts with, and the size its header declares.

    Attributes:
        format: The format's name, e.g. `"GIF"`.
        size: `(width, height)`, or None if the header is truncated or unreadable.
    """

    format: str
    size: Size | None


# --- one reader per format: each takes the whole file and returns (width, height) or None ----


def _bmp(data: Bytes) -> Size | None:
    (header_size,) = struct.unpack("<i", data[14:18])
    if header_size >= 36:
        width, height = struct.unpack("<ii", data[18:26])
        return width, abs(height)  # a negative height means rows stored top-down
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sides
        return struct.unpack("<HH", data[18:22])
    return None


def _gif(data: Bytes) -> Size | None:
    # The logical screen: OpenCV composes every frame onto a canvas this size (and asserts they fit).
    return struct.unpack("<HH", data[6:10])


_BOX_HEADER = struct.Struct(">I4s")


def _boxes(data: Bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yields `(type, payload start, payload end)` for the ISO BMFF boxes in `data[start:end]`."""
    i = start
    while i + 8 <= end:
        size, kind = _BOX_HEADER.unpack(data[i : i + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[i + 8 : i + 16])
            header = 16
        elif size == 0:  # to the end of the enclosing box
            size = end - i
        if size < header:
            return
        yield kind, i + header, min(i + size, end)
        i += size


_AVIF_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0, b"moov": 0, b"trak": 0}


def _avif(data: Bytes) -> Size | None:
    """The largest size declared by an `ispe` property (still images) or a `tkhd` box (sequences).

    libavif reports the primary item's `ispe` (or the track's `tkhd`) as the
    image size before decoding; thumbnails, alpha planes and grid tiles are
    no larger, so the largest of them bounds what is allocated.
    """
    sizes: list[Size] = []
    stack = [(0, len(data))]
    while stack:
        start, end = stack.pop()
        for kind, begin, stop in _boxes(data, start, end):
            if kind in _AVIF_CONTAINERS:
                stack.append((begin + _AVIF_CONTAINERS[kind], stop))
            elif kind == b"ispe" and stop - begin >= 12:
                sizes.append(struct.unpack(">II", data[begin + 4 : begin + 12]))
            elif kind == b"tkhd":
                at = begin + (88 if data[begin] == 1 else 76)  # version 1 has 64-bit times
                if at + 8 <= stop:
                    width, height = struct.unpack(">II", data[at : at + 8])
                    sizes.append((width >> 16, height >> 16))  # 16.16 fixed point
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


_AVIF_BRANDS = (b"avif", b"avis", b"avio", b"mif3")


def _avif_signature(prefix: bytes) -> bool:
    """Whether libavif, as OpenCV asks it, would take these bytes for AVIF.

    OpenCV hands libavif the first 500 bytes; libavif walks the top-level
    boxes and accepts once it meets an `ftyp` with an AVIF brand, or a
    `meta` or `moov` box (a truncated box included). Brands are searched
    anywhere in the box, and `meta`/`moov` are taken at once: where this
    differs from libavif it takes more files for AVIF, never fewer, and a
    file taken for two formats is checked as both.
    """
    i = 0
    while i + 8 <= len(prefix):
        size, kind = _BOX_HEADER.unpack(prefix[i : i + 8])
        header = 8
        if size == 1:
            if i + 16 > len(prefix):
                return False
            (size,) = struct.unpack(">Q", prefix[i + 8 : i + 16])
            header = 16
        if kind == b"ftyp":
            # A complete `ftyp` without an AVIF brand is refused by libavif (JPEG 2000 has one);
            # a truncated one is accepted.
            brands = prefix[i + header : i + size]
            return size > len(prefix) - i or any(brand in brands for brand in _AVIF_BRANDS)
        if kind in (b"meta", b"moov"):
            return True
        if kind == b"uuid":
            header += 16
        if size < header:
            return False
        i += size
    return False


def _fgets(data: Bytes, i: int, limit: int = 127) -> tuple[bytes, int]:
    """C's `fgets` with a 128-byte buffer: up to and including a newline, at most `limit` bytes."""
    chunk = bytes(data[i : i + limit])
    newline = chunk.find(b"\n")
    if newline >= 0:
        chunk = chunk[: newline + 1]
    return chunk, i + len(chunk)


_HDR_SIZE = re.compile(rb"-Y\s*([+-]?\d+)\s*\+X\s*([+-]?\d+)")


def _hdr(data: Bytes) -> Size | None:
    """Radiance HDR, read line by line as OpenCV's `RGBE_ReadHeader` does."""
    line, i = _fgets(data, 0)
    has_format = False
    while True:
        line, i = _fgets(data, i)
        if not line:
            return None
        if line[:1] == b"\n":
            break
        has_format |= line.split(b"\0", 1)[0] == b"FORMAT=32-bit_rle_rgbe\n"
    if line.split(b"\0", 1)[0] != b"\n" or not has_format:
        return None
    line, i = _fgets(data, i)
    match = _HDR_SIZE.match(line.split(b"\0", 1)[0])
    if match is None:
        return None
    height, width = int(match.group(1)), int(match.group(2))
    if max(abs(width), abs(height)) > _INT_MAX:  # sscanf's %d would overflow
        return None
    return width, height


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: Bytes) -> Size | None:
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:  # libjpeg skips stray bytes before a marker
            found = bytes(data[i : i + 65536]).find(b"\xff")
            if found < 0:
                return None
            i += found
            continue
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


def _webp(data: Bytes) -> Size | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:  # the canvas; libwebp checks every frame against it
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _sun_raster(data: Bytes) -> Size | None:
    return struct.unpack(">ii", data[4:12])


_SPACE = b" \t\n\v\f\r"


def _netpbm_numbers(data: Bytes, i: int, count: int) -> list[int] | None:
    """Reads `count` numbers as OpenCV's PxM reader does: whitespace and `#` comments between."""
    numbers: list[int] = []
    head = bytes(data[i : i + 4096])
    j = 0
    while len(numbers) < count:
        if j >= len(head):
            return None
        c = head[j : j + 1]
        if c == b"#":
            end = min((k for k in (head.find(b"\n", j), head.find(b"\r", j)) if k >= 0), default=-1)
            if end < 0:
                return None
            j = end + 1
        elif c in _SPACE:
            j += 1
        elif c.isdigit():
            k = j
            while k < len(head) and head[k : k + 1].isdigit():
                k += 1
            if k >= len(head):  # the number may go on past what was read
                return None
            value = int(head[j:k])
            if value > _INT_MAX:
                return None
            numbers.append(value)
            j = k
        else:
            return None
    return numbers


def _pxm(data: Bytes) -> Size | None:
    numbers = _netpbm_numbers(data, 2, 2)
    return (numbers[0], numbers[1]) if numbers else None


def _pam(data: Bytes) -> Size | None:
    """PAM (`P7`): `WIDTH`/`HEIGHT` lines before `ENDHDR`; anything odd leaves it unsized."""
    if data[2:3] not in (b"\n", b"\r"):
        return None
    fields: dict[bytes, int] = {}
    lines = re.split(rb"[\r\n]", bytes(data[3:65536]))[:-1]  # the last piece may be cut short
    for line in lines:
        words = line.split(None, 1)
        if not words or words[0].startswith(b"#"):
            continue
        if words[0] == b"ENDHDR":
            if b"WIDTH" in fields and b"HEIGHT" in fields:
                return fields[b"WIDTH"], fields[b"HEIGHT"]
            return None
        if words[0] in (b"WIDTH", b"HEIGHT"):
            if words[0] in fields or len(words) < 2 or not re.fullmatch(rb"-?\d{1,10}", words[1].strip()):
                return None
            fields[words[0]] = int(words[1].strip())
    return None


def _atoi(token: bytes) -> int | None:
    match = re.match(rb"[+-]?\d+", token)
    if match is None:
        return 0
    value = int(match.group())
    return value if abs(value) <= _INT_MAX else None


def _pfm(data: Bytes) -> Size | None:
    """PFM: `Pf`/`PF`, a newline, then width and height each ended by one whitespace byte."""
    if data[2:3] != b"\n":
        return None
    head = bytes(data[3:4200])
    tokens = []
    j = 0
    for _ in range(2):
        k = j
        while k < len(head) and head[k : k + 1] not in _SPACE:
            k += 1
        if k >= len(head):
            return None
        tokens.append(_atoi(head[j:k]))
        j = k + 1
    width, height = tokens
    return None if width is None or height is None else (width, height)


_TIFF_TYPES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q", 17: "q"}


def _tiff(data: Bytes) -> Size | None:
    """The first directory's ImageWidth and ImageLength (classic TIFF and BigTIFF)."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"\x2b\x00", b"\x00\x2b")
    if big:
        (offset,) = struct.unpack(order + "Q", data[8:16])
        (count,) = struct.unpack(order + "Q", data[offset : offset + 8])
        first, entry_size, value_at, count_fmt = offset + 8, 20, 12, "Q"
    else:
        (offset,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        first, entry_size, value_at, count_fmt = offset + 2, 12, 8, "I"
    found: dict[int, int] = {}
    for k in range(min(count, 4096)):
        at = first + entry_size * k
        tag, kind = struct.unpack(order + "HH", data[at : at + 4])
        if tag in (256, 257):
            fmt = _TIFF_TYPES.get(kind)
            (n,) = struct.unpack(order + count_fmt, data[at + 4 : at + value_at])
            if fmt is None or n != 1 or struct.calcsize(fmt) > entry_size - value_at:
                return None
            (value,) = struct.unpack(order + fmt, data[at + value_at : at + value_at + struct.calcsize(fmt)])
            found[tag] = max(found.get(tag, 0), value)  # a repeated tag: the larger counts
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _png(data: Bytes) -> Size | None:
    if data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _codestream(data: Bytes, at: int) -> Size | None:
    """A JPEG 2000 codestream's SIZ segment: the image area is (Xsiz - XOsiz) x (Ysiz - YOsiz)."""
    if data[at : at + 4] != b"\xff\x4f\xff\x51":
        return None
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", data[at + 8 : at + 24])
    return xsiz - xosiz, ysiz - yosiz


def _j2k(data: Bytes) -> Size | None:
    return _codestream(data, 0)


def _jp2(data: Bytes) -> Size | None:
    """JP2: the codestream's SIZ (what OpenJPEG allocates), or the `ihdr` box's size if larger."""
    sizes: list[Size] = []
    for kind, begin, end in _boxes(data, 0, len(data)):
        if kind == b"jp2h":
            for inner, ibegin, iend in _boxes(data, begin, end):
                if inner == b"ihdr" and iend - ibegin >= 8:
                    height, width = struct.unpack(">II", data[ibegin : ibegin + 8])
                    sizes.append((width, height))
        elif kind == b"jp2c":
            size = _codestream(data, begin)
            if size is None:
                return None
            sizes.append(size)
            return max(sizes, key=lambda s: s[0] * s[1])
    return None


def _starts(*signatures: bytes) -> Callable[[bytes], bool]:
    return lambda prefix: prefix.startswith(signatures)


def _netpbm(second: bytes) -> Callable[[bytes], bool]:
    return lambda prefix: len(prefix) >= 3 and prefix[:1] == b"P" and prefix[1:2] in second and prefix[2:3] in _SPACE


class _Format(NamedTuple):
    name: str
    first: bytes | None  # the bytes a file of this format can start with (None: any)
    matches: Callable[[bytes], bool]  # the signature test, as loose as OpenCV's or looser
    read: Callable[[Bytes], Size | None]


# OpenCV's decoders in the order it tries them (`ImageCodecInitializer`, OpenCV 5.0).
FORMATS: tuple[_Format, ...] = (
    _Format("BMP", b"B", _starts(b"BM"), _bmp),
    _Format("GIF", b"G", _starts(b"GIF"), _gif),
    _Format("AVIF", None, _avif_signature, _avif),
    _Format("HDR", b"#", _starts(b"#?RGBE", b"#?RADIANCE"), _hdr),
    _Format("JPEG", b"\xff", _starts(b"\xff\xd8"), _jpeg),
    _Format("WebP", b"R", lambda p: p[:4] == b"RIFF" and p[8:12] == b"WEBP", _webp),
    _Format("Sun raster", b"\x59", _starts(b"\x59\xa6\x6a\x95"), _sun_raster),
    _Format("PxM", b"P", _netpbm(b"123456"), _pxm),
    _Format("PAM", b"P", _netpbm(b"7"), _pam),
    _Format("PFM", b"P", _netpbm(b"fF"), _pfm),
    _Format("TIFF", b"IM", _starts(b"II\x2a\x00", b"MM\x00\x2a", b"II\x2b\x00", b"MM\x00\x2b"), _tiff),
    _Format("PNG", b"\x89", _starts(b"\x89PNG\r\n\x1a\n"), _png),
    _Format("JPEG 2000", b"\x00", _starts(b"\x00\x00\x00\x0cjP  \r\n\x87\n"), _jp2),
    _Format("JPEG 2000", b"\xff", _starts(b"\xff\x4f\xff\x51"), _j2k),
)

FORMAT_NAMES = tuple(dict.fromkeys(f.name for f in FORMATS))

# The formats to try for each first byte, in order (a file is tested only against those it can be).
_BY_FIRST_BYTE = tuple(tuple(f for f in FORMATS if f.first is None or byte in f.first) for byte in range(256))


def read_headers(data: Bytes) -> list[Header]:
    """Returns every format whose signature `data` starts with, in OpenCV's order, with its declared size.

    Real files match one format; a crafted file may match more than one,
    and is then checked under each.
    """
    prefix = bytes(data[:500])
    headers = []
    for fmt in _BY_FIRST_BYTE[prefix[0]] if prefix else ():
        if fmt.matches(prefix):
            try:
                size = fmt.read(data)
            except (struct.error, IndexError, ValueError):
                size = None
            headers.append(Header(fmt.name, size))
    return headers


def peek_size(data: Bytes) -> Size | None:
    """Returns `(width, height)` from an encoded image's header, or None if unknown."""
    headers = read_headers(data)
    return headers[0].size if headers else None


def size_problem(headers: list[Header], max_pixels: int) -> str | None:
    """Returns why an image with these headers must not be decoded under `max_pixels`, or None."""
    if not headers:
        return (
            "not a supported image, or the data is corrupt: its first bytes match none of the formats sized "
            f"before decoding ({', '.join(FORMAT_NAMES)}; max_pixels=None lets OpenCV try anyway)"
        )
    for header in headers:
        if header.size is None:
            return (
                f"corrupt: its {header.format} header is truncated or unreadable, so its size cannot be checked "
                f"against max_pixels={max_pixels} before decoding"
            )
        width, height = header.size
        if width <= 0 or height <= 0:
            return f"corrupt: its {header.format} header declares an invalid size {width}x{height}"
        if width * height > max_pixels:
            return (
                f"its {header.format} header declares {width}x{height} pixels, over the limit max_pixels={max_pixels}"
            )
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
