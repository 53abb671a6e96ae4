import cv2
import numpy as np
import pytest
from conftest import write_image
from PIL import Image

from mixup_sequence import ImageDecodeError
from mixup_sequence.decode import INTERPOLATIONS, load_image, resize


def test_pure_red_png_is_rgb(tmp_path):
    path = write_image(tmp_path / "red.png", (255, 0, 0))
    image = load_image(str(path), (12, 10))
    assert image.dtype == np.uint8 and image.shape == (12, 10, 3)
    np.testing.assert_array_equal(image[0, 0], [255, 0, 0])
    assert (image == image[0, 0]).all()


def test_grayscale_png_in_both_modes(tmp_path):
    path = write_image(tmp_path / "g.png", (77, 77, 77), channels=1)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).ndim == 2
    rgb = load_image(str(path), (4, 4), "rgb")
    gray = load_image(str(path), (4, 4), "grayscale")
    assert rgb.shape == (4, 4, 3) and (rgb == 77).all()
    assert gray.shape == (4, 4, 1) and (gray == 77).all()


def test_rgb_to_grayscale_is_luminance(tmp_path):
    path = write_image(tmp_path / "green.png", (0, 255, 0))
    gray = load_image(str(path), (3, 3), "grayscale")
    assert gray.shape == (3, 3, 1)
    assert abs(int(gray[0, 0, 0]) - 0.587 * 255) < 1  # ITU-R 601 luminance of pure green


def test_rgba_png_drops_alpha(tmp_path):
    bgra = np.zeros((5, 5, 4), np.uint8)
    bgra[..., 0], bgra[..., 2], bgra[..., 3] = 200, 10, 30  # B=200, R=10, alpha=30
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), bgra)
    image = load_image(str(path), (5, 5))
    np.testing.assert_array_equal(image[2, 2], [10, 0, 200])


def test_palette_png(tmp_path):
    img = Image.new("P", (6, 4))
    img.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    img.putdata([1] * 24)
    path = tmp_path / "p.png"
    img.save(path)
    image = load_image(str(path), (4, 6))
    assert (image == [10, 20, 30]).all()


def test_16bit_png_scaled_to_8bit(tmp_path):
    deep = np.full((4, 4, 3), 256 * 100, np.uint16)
    deep[0, 0] = 65535
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), deep)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    image = load_image(str(path), (4, 4))
    assert image.dtype == np.uint8
    assert image[1, 1, 0] == 100 and image[0, 0, 0] == 255


def test_exif_rotation_is_applied(tmp_path):
    # Stored 8 wide x 4 high, left half red; orientation 6 means "rotate 90 deg clockwise to view".
    stored = np.zeros((4, 8, 3), np.uint8)
    stored[:, :4] = (255, 0, 0)
    img = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif, quality=100)
    image = load_image(str(path), (8, 4), interpolation="nearest")
    assert image.shape == (8, 4, 3)
    assert image[1, 2, 0] > 200 and image[6, 2, 0] < 50  # red went to the top


@pytest.mark.parametrize("interpolation", sorted(INTERPOLATIONS))
def test_resize_every_interpolation(tmp_path, interpolation):
    path = write_image(tmp_path / "c.png", (9, 99, 199), size=(40, 30))
    image = load_image(str(path), (7, 5), interpolation=interpolation)
    assert image.shape == (7, 5, 3)
    assert (image == [9, 99, 199]).all()  # a constant image stays constant


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(
    "size, image_size",
    [
        ((256, 256), (150, 150)),  # non-integer shrink: the float32 route
        ((375, 500), (224, 224)),  # non-integer, different along each axis
        ((256, 300), (128, 149)),  # integer along one axis only: still OpenCV's general path
        ((256, 256), (256, 150)),  # one axis kept
        ((451, 300), (150, 100)),
        ((256, 256), (128, 128)),  # integer shrinks and enlargements keep OpenCV's own uint8 paths
        ((300, 300), (100, 100)),
        ((100, 100), (150, 150)),
        ((100, 100), (100, 150)),
    ],
)
@pytest.mark.parametrize("interpolation", sorted(INTERPOLATIONS))
def test_resize_equals_opencv(size, image_size, channels, interpolation):
    rng = np.random.default_rng(sum(size) + channels)
    noise = rng.integers(0, 256, (*size, channels), dtype=np.uint8)
    steps = noise // 51 * 51  # few distinct values: many sums land exactly halfway
    for image in (noise, steps):
        expected = cv2.resize(image, image_size[::-1], interpolation=INTERPOLATIONS[interpolation])
        np.testing.assert_array_equal(resize(image, image_size, interpolation), expected.reshape(*image_size, -1))


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty"), (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt"), (b"hello, not an image", "corrupt")],
)
def test_bad_files_name_the_file(tmp_path, content, reason):
    path = tmp_path / "bad file é.png"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=reason) as info:
        load_image(str(path), (4, 4))
    assert info.value.filename == str(path)
    assert "bad file é.png" in str(info.value)
    assert isinstance(info.value, OSError)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ImageDecodeError, match="gone.jpg"):
        load_image(str(tmp_path / "gone.jpg"), (4, 4))


def test_truncated_jpeg_raises_or_decodes_but_never_returns_none(tmp_path):
    good = tmp_path / "g.jpg"
    cv2.imwrite(str(good), np.full((32, 32, 3), 128, np.uint8))
    data = good.read_bytes()
    bad = tmp_path / "t.jpg"
    bad.write_bytes(data[: len(data) // 3])
    try:
        image = load_image(str(bad), (8, 8))
    except ImageDecodeError as e:
        assert e.filename == str(bad)
    else:
        assert image.shape == (8, 8, 3)
