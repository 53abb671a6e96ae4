"""`max_pixels` holds for every format OpenCV decodes, whatever the file is called.

OpenCV picks its decoder from a file's first bytes, so each format is tried
under a name that says something else. The files are OpenCV's own encodings
of a 40x48 image; the bombs are the same files with the size fields of the
header patched to 20,000 x 20,000 (or each format's largest side), which
is all the header reader sees.
"""

import os
import re
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from mixup_sequence import ImageDecodeError
from mixup_sequence.decode import DEFAULT_MAX_PIXELS, decode_bytes, load_image
from mixup_sequence.header import FORMAT_NAMES, read_headers
from mixup_sequence.verify import check_files

W, H = 40, 48
IMAGE = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _encode(ext, image=IMAGE, params=()):
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok, ext
    return buf.tobytes()


def _jp2_codestream(jp2):
    at = jp2.find(b"jp2c") + 4
    return jp2[at:]


def _bigtiff(width, height, byteorder="<"):
    """A handcrafted BigTIFF: one 8-bit grey strip (OpenCV does not write BigTIFF)."""
    pixels = np.arange(width * height, dtype=np.uint8).tobytes()
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 16, 0), (277, 3, 1)]
    tags += [(278, 4, height), (279, 16, len(pixels))]
    ifd_at = 16
    data_at = ifd_at + 8 + 20 * len(tags) + 8
    sig = b"II\x2b\x00" if byteorder == "<" else b"MM\x00\x2b"
    out = sig + struct.pack(byteorder + "HHQ", 8, 0, ifd_at) + struct.pack(byteorder + "Q", len(tags))
    for tag, kind, value in tags:
        value = data_at if tag == 273 else value
        fmt = {3: "H", 4: "I", 16: "Q"}[kind]
        field = struct.pack(byteorder + fmt, value).ljust(8, b"\0")
        out += struct.pack(byteorder + "HHQ", tag, kind, 1) + field
    return out + struct.pack(byteorder + "Q", 0) + pixels


def _os2_bmp():
    """A BMP with the 12-byte OS/2 header (16-bit sides), 24 bits a pixel."""
    row = (W * 3 + 3) & ~3
    pixels = b"".join(IMAGE[y].tobytes().ljust(row, b"\0") for y in range(H - 1, -1, -1))
    header = struct.pack("<IHHHH", 12, W, H, 1, 24)
    return b"BM" + struct.pack("<IHHI", 14 + 12 + len(pixels), 0, 0, 26) + header + pixels


def _top_down_bmp():
    data = bytearray(_encode(".bmp"))
    rows = [bytes(data[54 + i * W * 3 : 54 + (i + 1) * W * 3]) for i in range(H)]
    data[54:] = b"".join(reversed(rows))
    struct.pack_into("<i", data, 22, -H)
    return bytes(data)


# name -> (bytes, format read from the header). Every format OpenCV 5 decodes in this build.
SAMPLES = {
    "bmp": (_encode(".bmp"), "BMP"),
    "bmp-os2": (_os2_bmp(), "BMP"),
    "bmp-top-down": (_top_down_bmp(), "BMP"),
    "gif": (_encode(".gif"), "GIF"),
    "avif": (_encode(".avif"), "AVIF"),
    "hdr": (_encode(".hdr"), "HDR"),
    "jpeg": (_encode(".jpg"), "JPEG"),
    "webp-lossless": (_encode(".webp", params=(cv2.IMWRITE_WEBP_QUALITY, 101)), "WebP"),
    "webp-lossy": (_encode(".webp", params=(cv2.IMWRITE_WEBP_QUALITY, 80)), "WebP"),
    "webp-alpha": (_encode(".webp", np.dstack([IMAGE, IMAGE[..., :1]]), (cv2.IMWRITE_WEBP_QUALITY, 80)), "WebP"),
    "sun-raster": (_encode(".ras"), "Sun raster"),
    "ppm": (_encode(".ppm"), "PxM"),
    "pgm": (_encode(".pgm", IMAGE[..., 0]), "PxM"),
    "pbm": (_encode(".pbm", IMAGE[..., 0]), "PxM"),
    "ppm-ascii": (_encode(".ppm", params=(cv2.IMWRITE_PXM_BINARY, 0)), "PxM"),
    "pam": (_encode(".pam"), "PAM"),
    "pfm": (_encode(".pfm", IMAGE.astype(np.float32) / 255), "PFM"),
    "tiff": (_encode(".tiff"), "TIFF"),
    "bigtiff-le": (_bigtiff(W, H, "<"), "TIFF"),
    "bigtiff-be": (_bigtiff(W, H, ">"), "TIFF"),
    "png": (_encode(".png"), "PNG"),
    "jp2": (_encode(".jp2"), "JPEG 2000"),
    "j2k": (_jp2_codestream(_encode(".jp2")), "JPEG 2000"),
}


def _misleading_name(fmt):
    return "image.jpg" if fmt == "PNG" else "image.png"


def test_every_format_opencv_decodes_is_covered():
    assert set(FORMAT_NAMES) == {fmt for _, fmt in SAMPLES.values()}


@pytest.mark.parametrize("name", SAMPLES)
def test_each_format_is_sized_from_its_header(name):
    data, fmt = SAMPLES[name]
    headers = read_headers(data)
    assert [(h.format, h.size) for h in headers] == [(fmt, (W, H))]


@pytest.mark.parametrize("name", SAMPLES)
def test_limit_holds_under_a_misleading_name(name, tmp_path):
    data, fmt = SAMPLES[name]
    path = tmp_path / _misleading_name(fmt)
    path.write_bytes(data)
    image = load_image(str(path), (H, W), max_pixels=W * H)  # exactly at the limit: decodes
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    assert load_image(str(path), (8, 8), "grayscale", max_pixels=W * H).shape == (8, 8, 1)
    with pytest.raises(ImageDecodeError, match=f"its {fmt} header declares {W}x{H} pixels.*max_pixels={W * H - 1}"):
        load_image(str(path), (8, 8), max_pixels=W * H - 1)


def _declare(name, data, width, height):
    """`data` with the header's size fields rewritten to `width` x `height` (the pixels left as they are)."""
    out = bytearray(data)
    if name.startswith("bmp") and name != "bmp-os2":
        struct.pack_into("<ii", out, 18, width, height)
    elif name == "bmp-os2":
        struct.pack_into("<HH", out, 18, width, height)
    elif name == "gif":
        struct.pack_into("<HH", out, 6, width, height)
        flags = out[10]
        end = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
        return bytes(out[:end]) + b"\x3b"  # the screen and its colours, then the trailer: no frame to paint
    elif name == "avif":
        at = out.find(b"ispe") + 8
        struct.pack_into(">II", out, at, width, height)
    elif name == "hdr":
        return bytes(data).replace(f"-Y {H} +X {W}".encode(), f"-Y {height} +X {width}".encode(), 1)
    elif name == "jpeg":
        at = out.find(b"\xff\xc0")
        struct.pack_into(">HH", out, at + 5, height, width)
    elif name == "webp-lossless":
        bits = int.from_bytes(out[21:25], "little") & ~((1 << 28) - 1)
        out[21:25] = (bits | (width - 1) | ((height - 1) << 14)).to_bytes(4, "little")
    elif name == "webp-lossy":
        struct.pack_into("<HH", out, 26, width, height)
    elif name == "webp-alpha":
        out[24:27], out[27:30] = (width - 1).to_bytes(3, "little"), (height - 1).to_bytes(3, "little")
    elif name == "sun-raster":
        struct.pack_into(">ii", out, 4, width, height)
    elif name in ("ppm", "pgm", "pbm", "ppm-ascii", "pfm"):
        return bytes(data).replace(f"{W} {H}".encode(), f"{width} {height}".encode(), 1)
    elif name == "pam":
        text = bytes(data).replace(f"WIDTH {W}".encode(), f"WIDTH {width}".encode(), 1)
        return text.replace(f"HEIGHT {H}".encode(), f"HEIGHT {height}".encode(), 1)
    elif name.startswith("bigtiff"):
        order = "<" if name.endswith("le") else ">"
        struct.pack_into(order + "I", out, 16 + 8 + 12, width)
        struct.pack_into(order + "I", out, 16 + 8 + 20 + 12, height)
    elif name == "tiff":
        (ifd,) = struct.unpack("<I", out[4:8])
        (count,) = struct.unpack("<H", out[ifd : ifd + 2])
        for k in range(count):
            at = ifd + 2 + 12 * k
            tag, kind = struct.unpack("<HH", out[at : at + 4])
            if tag in (256, 257):
                struct.pack_into("<" + {3: "H", 4: "I"}[kind], out, at + 8, width if tag == 256 else height)
    elif name == "png":
        struct.pack_into(">II", out, 16, width, height)
    elif name in ("jp2", "j2k"):
        at = out.find(b"\xff\x4f\xff\x51")
        struct.pack_into(">II", out, at + 8, width, height)
        ihdr = out.find(b"ihdr")
        if ihdr >= 0:
            struct.pack_into(">II", out, ihdr + 4, height, width)
    else:
        raise AssertionError(name)
    return bytes(out)


@pytest.mark.parametrize("name", SAMPLES)
def test_bombs_are_refused_with_the_default_limit(name, tmp_path):
    data, fmt = SAMPLES[name]
    side = {"webp-lossless": 16384, "webp-lossy": 16383}.get(name, 20_000)  # WebP holds 14 bits a side
    assert side * side > DEFAULT_MAX_PIXELS
    bomb = _declare(name, data, side, side)
    assert [(h.format, h.size) for h in read_headers(bomb)] == [(fmt, (side, side))]
    path = tmp_path / _misleading_name(fmt)
    path.write_bytes(bomb)
    with pytest.raises(ImageDecodeError, match=f"{side}x{side} pixels, over the limit max_pixels={DEFAULT_MAX_PIXELS}"):
        load_image(str(path), (8, 8))


def test_verify_lists_a_gif_bomb_named_png(tmp_path):
    from mixup_sequence import index_directory

    for k in range(2):
        (tmp_path / "data" / "a").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "a" / f"ok{k}.png").write_bytes(SAMPLES["png"][0])
        (tmp_path / "data" / "b").mkdir(exist_ok=True)
        (tmp_path / "data" / "b" / f"ok{k}.gif").write_bytes(SAMPLES["gif"][0])
    (tmp_path / "data" / "b" / "bomb.png").write_bytes(_declare("gif", SAMPLES["gif"][0], 20_000, 20_000))
    bad = check_files(index_directory(tmp_path / "data"), progress=False)
    assert list(bad) == [str(tmp_path / "data" / "b" / "bomb.png")]
    assert "GIF header declares 20000x20000 pixels" in bad[str(tmp_path / "data" / "b" / "bomb.png")]


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\x76\x2f\x31\x01" + bytes(200), "match none of the formats sized before decoding"),  # OpenEXR: not sized
        (b"GIF89a\x10", "GIF header is truncated"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40), "JPEG header is truncated"),
        (b"P6\n# a comment\n40 x\n255\n" + bytes(100), "PxM header is truncated"),
        (b"P7\nWIDTH 40\nHEIGHT 48\nWIDTH 41\nENDHDR\n" + bytes(100), "PAM header is truncated"),
        (b"#?RADIANCE\n\n-Y 48 +X 40\n" + bytes(100), "HDR header is truncated"),  # no FORMAT line
        (b"P6\n0 48\n255\n" + bytes(10), "invalid size 0x48"),
    ],
)
def test_what_cannot_be_sized_is_refused_before_decoding(data, words):
    with pytest.raises(ImageDecodeError, match=re.escape(words)):
        decode_bytes(np.frombuffer(data, np.uint8), "x.png")


def test_hdr_header_read_as_opencv_reads_it():
    # OpenCV reads header lines with a 128-byte fgets: a 127-byte line followed by its newline ends the
    # header there, and the size line after it is the one that counts.
    head = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n" + b"A" * 127 + b"\n-Y 20000 +X 20000\n\n-Y 1 +X 1\n"
    assert [h.size for h in read_headers(head)] == [(20_000, 20_000)]


def test_without_a_limit_opencv_has_the_last_word():
    data = np.frombuffer(SAMPLES["gif"][0], np.uint8)
    assert decode_bytes(data, "x", max_pixels=None).shape == (H, W, 3)
    with pytest.raises(ImageDecodeError, match="not a supported image"):
        decode_bytes(np.frombuffer(b"\x76\x2f\x31\x01" + bytes(200), np.uint8), "x.exr", max_pixels=None)


def test_a_gif_decodes_to_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 4), colour) for colour in ((250, 0, 0), (0, 0, 250), (0, 250, 0))]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
    image = load_image(str(path), (4, 6), interpolation="nearest")
    assert (image == [250, 0, 0]).all()


@pytest.mark.parametrize("name", SAMPLES)
def test_header_readers_never_raise_on_mutated_headers(name):
    data, _ = SAMPLES[name]
    rng = np.random.default_rng(len(name))
    for _ in range(300):
        mutated = bytearray(data[: rng.integers(0, min(len(data), 400))] if rng.random() < 0.3 else data)
        for _ in range(rng.integers(1, 6)):
            if mutated:
                mutated[rng.integers(0, min(len(mutated), 64))] = rng.integers(0, 256)
        for header in read_headers(bytes(mutated)):  # may find nothing, or no size; never raises
            assert header.size is None or all(isinstance(v, int) for v in header.size)


def test_load_image_names_the_file_that_is_refused(tmp_path):
    path = tmp_path / "bomb.jpg"
    path.write_bytes(_declare("png", SAMPLES["png"][0], 20_000, 20_000))
    with pytest.raises(ImageDecodeError) as info:
        load_image(str(path), (8, 8))
    assert info.value.filename == str(path) and os.path.basename(str(path)) in str(info.value)
