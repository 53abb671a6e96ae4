"""Files that change while a job runs: deleted, truncated, or replaced by another image.

Every row of every batch must still show an image of its label's class (or the
old or new pixels of a replaced file), and a file that became unreadable is
either named in an `ImageDecodeError` (`on_error="raise"`) or replaced by
another image of its class and listed in `bad_files` (`on_error="skip"`).
"""

import numpy as np
import pytest
from conftest import COLOURS, make_tree, write_image

keras = pytest.importorskip("keras")

from mixup_sequence import ImageDecodeError, ImageFolderSequence  # noqa: E402

pytestmark = pytest.mark.keras

MODES = {
    "serial": {},
    "threads": {"workers": 2},
    "processes": {"workers": 2, "use_multiprocessing": True},
}
NEW_COLOUR = (40, 90, 200)  # what the replaced cat image becomes


def class_colours(counts):
    """Every solid colour `make_tree` gives each class (shade k of image k)."""
    return {
        name: {tuple(int(v) for v in np.clip(np.array(COLOURS[name]) - 3 * k, 0, 255)) for k in range(n)}
        for name, n in counts.items()
    }


def change_files(root):
    deleted = root / "dog" / "img_001.png"
    truncated = root / "fox" / "img_002.png"
    replaced = root / "cat" / "img_003.png"
    deleted.unlink()
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    write_image(replaced, NEW_COLOUR)
    return deleted, truncated, replaced


def rows_match_their_labels(x, y, class_names, colours):
    for image, label in zip(x, y):
        name = class_names[int(np.argmax(label))]
        rgb = tuple(int(round(v * 255)) for v in image[0, 0])
        assert (image == image[:1, :1]).all()  # one solid image per row, nothing blended
        assert rgb in colours[name], (name, rgb)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_files_changed_during_training(tmp_path, mode, on_error):
    counts = {"cat": 7, "dog": 5, "fox": 6}
    root = make_tree(tmp_path / "data", counts)
    colours = class_colours(counts)
    seq = ImageFolderSequence(
        root, batch_size=6, image_size=(8, 8), shuffle=True, seed=5, on_error=on_error, **MODES[mode]
    )
    try:
        for i in range(len(seq)):
            rows_match_their_labels(*seq[i], seq.class_names, colours)
        seq.on_epoch_end()
        deleted, truncated, replaced = change_files(root)
        colours["cat"].add(NEW_COLOUR)
        new_seen = False
        errors = []
        # Batches prefetched before the change may still show old pixels; two more epochs see the change.
        for _ in range(2):
            for i in range(len(seq)):
                try:
                    x, y = seq[i]
                except ImageDecodeError as e:
                    errors.append(e)
                    continue
                rows_match_their_labels(x, y, seq.class_names, colours)
                new_seen |= any(tuple(int(round(v * 255)) for v in image[0, 0]) == NEW_COLOUR for image in x)
            seq.on_epoch_end()
        assert new_seen  # the replaced file's new pixels are served, with its folder's label
        if on_error == "raise":
            assert errors, "an unreadable file must raise"
            for e in errors:
                assert e.filename in (str(deleted), str(truncated))
                assert "class" in "\n".join(getattr(e, "__notes__", []))
        else:
            assert not errors
            assert set(seq.bad_files) == {str(deleted), str(truncated)}
    finally:
        seq.close()
