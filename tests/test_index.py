import os

import numpy as np
import pytest
from conftest import make_tree, write_image

from mixup_sequence import index_directory


def test_classes_sorted_labels_and_counts(tree):
    index = index_directory(tree)
    assert index.class_names == ("cat", "dog", "fox")
    assert index.class_indices == {"cat": 0, "dog": 1, "fox": 2}
    assert index.num_classes == 3
    assert index.samples == 18
    np.testing.assert_array_equal(index.labels, [0] * 7 + [1] * 5 + [2] * 6)
    assert index.labels.dtype == np.int32
    assert os.path.basename(index.filepaths[0]) == "img_000.png"
    assert os.path.basename(index.filepaths[7]) == "img_000.png"  # first dog


def test_class_names_pick_and_order(tree):
    index = index_directory(tree, class_names=["fox", "cat"])
    assert index.class_names == ("fox", "cat")
    np.testing.assert_array_equal(index.labels, [0] * 6 + [1] * 7)
    assert all("/fox/" in p for p in index.filepaths[:6])


def test_nested_extensions_hidden_and_order(tmp_path):
    root = tmp_path / "d"
    for rel in ["a/z.PNG", "a/sub/b.jpg", "a/sub/deeper/c.Jpeg", "a/a.tiff", "a/x.webp", "a/y.bmp", "a/t.TIF"]:
        write_image(root / rel, (1, 2, 3))
    (root / "a" / "notes.txt").write_text("not an image")
    write_image(root / "a" / ".hidden.png", (1, 2, 3))
    write_image(root / "a" / ".cache" / "h.png", (1, 2, 3))
    write_image(root / ".secret" / "s.png", (1, 2, 3))
    index = index_directory(root)
    assert index.class_names == ("a",)
    assert index.relative_paths() == [
        "a/a.tiff",
        "a/sub/b.jpg",
        "a/sub/deeper/c.Jpeg",
        "a/t.TIF",
        "a/x.webp",
        "a/y.bmp",
        "a/z.PNG",
    ]


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        index_directory(tmp_path / "nope")


def test_no_class_folders(tmp_path):
    write_image(tmp_path / "loose.png", (1, 2, 3))
    with pytest.raises(FileNotFoundError, match="one sub-folder per class"):
        index_directory(tmp_path)


def test_every_empty_class_named_with_formats(tmp_path):
    make_tree(tmp_path, {"cat": 2})
    (tmp_path / "dog").mkdir()
    (tmp_path / "emu").mkdir()
    (tmp_path / "emu" / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError) as info:
        index_directory(tmp_path)
    message = str(info.value)
    assert "'dog'" in message and "'emu'" in message and "'cat'" not in message
    assert ".jpg" in message and ".webp" in message


def test_class_names_must_exist(tree):
    with pytest.raises(ValueError, match="Missing: \\['wolf'\\]"):
        index_directory(tree, class_names=["cat", "wolf"])


def test_follow_links_and_symlink_loop(tmp_path):
    make_tree(tmp_path / "src", {"cat": 2, "extra": 3})
    root = tmp_path / "root"
    (root / "dog").mkdir(parents=True)
    write_image(root / "dog" / "d.png", (0, 9, 0))
    os.symlink(tmp_path / "src" / "cat", root / "cat")  # a symlinked class folder
    os.symlink(tmp_path / "src" / "extra", root / "dog" / "linked")  # a symlinked sub-folder
    os.symlink(root / "dog", root / "dog" / "loop")  # a cycle
    plain = index_directory(root)
    assert plain.class_names == ("cat", "dog")  # class folders count either way, as in Keras
    assert plain.samples == 3
    linked = index_directory(root, follow_links=True)
    assert linked.samples == 6  # + the 3 linked images; the loop is visited once
    assert "dog/linked/img_000.png" in linked.relative_paths()


def test_compact_and_picklable(tree):
    import pickle

    index = index_directory(tree)
    clone = pickle.loads(pickle.dumps(index))
    assert clone.relative_paths() == index.relative_paths()
    assert clone.path(7) == str(tree / "dog" / "img_000.png")
    np.testing.assert_array_equal(clone.filepaths, index.filepaths)
    sub = index.take(np.array([9, 2]))
    assert sub.relative_paths() == ["dog/img_002.png", "cat/img_002.png"]
    np.testing.assert_array_equal(sub.labels, [1, 0])
