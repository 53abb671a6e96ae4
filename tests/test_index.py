import hashlib
import logging
import os
import pickle
import shutil
import stat

import cv2
import numpy as np
import pytest
from conftest import make_tree, write_image

from mixup_sequence import index_directory
from mixup_sequence.decode import load_image
from mixup_sequence.index import SKIP_EXAMPLES
from mixup_sequence.split import validation_mask


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


# --- what the walk leaves out, and Keras' index on the same folder ----------------------------


def _non_utf8_name_allowed(folder):
    try:
        fd = os.open(os.path.join(os.fsencode(folder), b"probe\xe9"), os.O_CREAT | os.O_WRONLY)
    except OSError:
        return False
    os.close(fd)
    os.unlink(os.path.join(os.fsencode(folder), b"probe\xe9"))
    return True


@pytest.fixture
def every_kind(tmp_path):
    """One folder with every kind of entry the walk meets (see the expectations in the tests)."""
    root = tmp_path / "every"
    for name in ("a.JpG", "b.JPEG", "c.Png", "d.bMp", "e.GIF", "f.tif", "g.TIFF", "h.WebP", "sub/deeper/i.jpg"):
        write_image(root / "cat" / name, (200, 10, 10))
    for name in ("x.png", "y.jpg", "real/z.png"):
        write_image(root / "dog" / name, (10, 200, 10))
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / "data.csv").write_text("a,b")
    write_image(root / "cat" / ".hidden.png", (1, 2, 3))
    write_image(root / "cat" / ".cache" / "h.png", (1, 2, 3))
    write_image(root / ".hidden_class" / "k.png", (1, 2, 3))
    write_image(root / "loose.png", (1, 2, 3))
    (root / "README.txt").write_text("a dataset")
    os.symlink(root / "dog" / "x.png", root / "cat" / "link_file.png")  # a symlinked image counts
    os.symlink(root / "cat" / "missing.png", root / "cat" / "broken.png")  # a broken link
    os.mkfifo(root / "cat" / "fifo.png")  # named like an image, but reading it would block
    write_image(tmp_path / "elsewhere" / "extra" / "e1.png", (9, 9, 9))
    write_image(tmp_path / "elsewhere" / "extra" / "e2.jpg", (9, 9, 9))
    os.symlink(tmp_path / "elsewhere" / "extra", root / "cat" / "linked_dir")  # a symlinked sub-folder
    os.symlink(root / "dog" / "real", root / "dog" / "alias")  # a link beside its target
    if _non_utf8_name_allowed(root / "cat"):
        shutil.copy(root / "cat" / "a.JpG", os.path.join(os.fsencode(root / "cat"), b"caf\xe9.png"))
    return root


def _non_utf8(root):
    return ["cat/caf\udce9.png"] if os.path.exists(os.path.join(os.fsencode(root), b"cat/caf\xe9.png")) else []


EVERY_KIND_SKIPPED = {
    "unlabeled": ("loose.png",),
    "extension": ("README.txt", "cat/data.csv", "cat/notes.txt"),
    "hidden": (".hidden_class", "cat/.cache", "cat/.hidden.png"),
    "link": ("cat/linked_dir", "dog/alias"),
    "special": ("cat/broken.png", "cat/fifo.png"),
}


def test_every_kind_of_entry_is_indexed_or_counted(every_kind, caplog):
    with caplog.at_level(logging.INFO, logger="mixup_sequence"):
        index = index_directory(every_kind)
    cat = ["a.JpG", "b.JPEG", "c.Png", "d.bMp", "e.GIF", "f.tif", "g.TIFF", "h.WebP", "link_file.png"]
    cat.append("sub/deeper/i.jpg")
    expected = sorted(["cat/" + n for n in cat] + _non_utf8(every_kind)) + ["dog/real/z.png", "dog/x.png", "dog/y.jpg"]
    assert index.relative_paths() == expected
    assert dict(index.skipped.examples) == EVERY_KIND_SKIPPED
    assert dict(index.skipped.counts) == {reason: len(paths) for reason, paths in EVERY_KIND_SKIPPED.items()}
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1  # one record for the whole walk, with examples
    message = infos[0].getMessage()
    assert "files with another extension: 3 (README.txt, cat/data.csv, cat/notes.txt)" in message
    assert "broken symlinks and entries that are neither files nor folders: 2 (cat/broken.png, cat/fifo.png)" in message
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "1 image directly in" in warnings[0] and "'loose.png'" in warnings[0]
    assert f"pass its parent ('{every_kind.parent}')" in warnings[0]


def test_follow_links_indexes_a_folder_once(every_kind):
    index = index_directory(every_kind, follow_links=True)
    paths = index.relative_paths()
    assert "cat/linked_dir/e1.png" in paths and "cat/linked_dir/e2.jpg" in paths
    # dog/alias -> dog/real: one folder, two paths; the first in a sorted walk is kept.
    assert "dog/alias/z.png" in paths and "dog/real/z.png" not in paths
    assert index.skipped.examples["alias"] == ("dog/real",)
    assert "link" not in index.skipped.counts


def test_examples_are_the_smallest_paths_and_capped(tmp_path):
    make_tree(tmp_path, {"cat": 2, "dog": 2})
    for k in range(30):
        (tmp_path / "dog" / f"note_{29 - k:02d}.txt").write_text("x")
    skipped = index_directory(tmp_path, log=False).skipped
    assert skipped.counts == {"extension": 30}
    assert skipped.examples["extension"] == tuple(f"dog/note_{k:02d}.txt" for k in range(SKIP_EXAMPLES))
    assert skipped.describe()[0].endswith("dog/note_04.txt, ...)")


def test_an_unreadable_folder_is_reported_by_name(tmp_path, monkeypatch):
    make_tree(tmp_path, {"cat": 2, "dog": 2})
    write_image(tmp_path / "dog" / "locked" / "p.png", (1, 2, 3))
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.basename(os.fspath(path)) == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    index = index_directory(tmp_path, log=False)
    assert index.samples == 4
    assert index.skipped.examples == {"unreadable": ("dog/locked",)}


def test_an_empty_class_error_says_what_was_left_out(tmp_path):
    make_tree(tmp_path, {"cat": 2})
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "scan.pdf").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"\['dog'\].*files with another extension: 1 \(dog/scan.pdf\)"):
        index_directory(tmp_path)


@pytest.mark.keras
@pytest.mark.parametrize("follow_links", [False, True])
def test_keras_indexes_the_same_files_but_for_the_differences_the_readme_names(every_kind, follow_links):
    from keras.src.utils.dataset_utils import index_directory as keras_index_directory
    from keras.src.utils.image_dataset_utils import ALLOWLIST_FORMATS

    ours = index_directory(every_kind, follow_links=follow_links, log=False)
    paths, labels, class_names = keras_index_directory(
        str(every_kind), "inferred", ALLOWLIST_FORMATS, shuffle=False, follow_links=follow_links, verbose=False
    )
    assert tuple(class_names) == ours.class_names  # sorted non-hidden sub-folders, as here
    theirs = dict(zip(paths, labels.tolist()))
    mine = dict(zip(ours.filepaths.tolist(), ours.labels.tolist()))
    assert {p: theirs[p] for p in mine if p in theirs} == {p: mine[p] for p in mine if p in theirs}
    # Every difference is one of the README's "Compared with Keras" list (the order differs too:
    # sorted by relative path here, by folder then name there; compared as sets).
    formats, hidden, not_files, aliases = set(), set(), set(), set()
    formats.update(p for p in mine if p not in theirs)
    assert all(os.path.splitext(p)[1].lower() in (".tif", ".tiff", ".webp") for p in formats)
    real_paths = {os.path.realpath(q) for q in mine}
    for p in theirs.keys() - mine.keys():
        if any(part.startswith(".") for part in os.path.relpath(p, every_kind).split(os.sep)):
            hidden.add(p)
        elif not os.path.isfile(p) or stat.S_ISFIFO(os.stat(p).st_mode):
            not_files.add(p)
        elif os.path.realpath(p) in real_paths:
            aliases.add(p)
        else:
            raise AssertionError(f"Keras indexes {p!r} and this index does not, for no documented reason")
    assert len(formats) == 3  # cat/f.tif, cat/g.TIFF, cat/h.WebP: indexed here, not by Keras
    assert len(hidden) == 2  # cat/.hidden.png, cat/.cache/h.png: skipped here, indexed by Keras
    assert len(not_files) == 2  # cat/broken.png, cat/fifo.png: skipped here, indexed by Keras
    assert len(aliases) == (1 if follow_links else 0)  # dog/real/z.png, also reached as dog/alias/z.png


# --- the wrong folder ----------------------------------------------------------------------------


def test_the_wrong_folder_warns_twice(tmp_path, caplog):
    photos = tmp_path / "photos"
    make_tree(photos / "space", {"nested": 3})
    for k in range(4):
        write_image(photos / "space" / f"direct_{k}.png", (5, 5, 5))
    make_tree(photos / "ocean", {"deep": 2})
    with caplog.at_level(logging.WARNING, logger="mixup_sequence"):
        index = index_directory(photos / "space")
    assert index.class_names == ("nested",) and index.samples == 3
    assert index.skipped.count("unlabeled") == 4
    loose, single = [r.getMessage() for r in caplog.records]
    assert "4 images directly in" in loose and f"pass its parent ('{photos}')" in loose
    assert "Only one class ('nested')" in single and f"'{photos}'" in single
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mixup_sequence"):
        right = index_directory(photos)
    assert right.class_names == ("ocean", "space") and right.samples == 2 + 7 and not caplog.records


def test_no_class_folder_but_images_points_to_the_parent(tmp_path):
    for k in range(3):
        write_image(tmp_path / "flat" / f"{k}.png", (1, 2, 3))
    with pytest.raises(FileNotFoundError, match="It holds 3 images itself: is it one class"):
        index_directory(tmp_path / "flat")


def test_log_false_logs_nothing(every_kind, caplog):
    with caplog.at_level(logging.DEBUG, logger="mixup_sequence"):
        index = index_directory(every_kind, log=False)
    assert index.skipped.total == 11 and not caplog.records


# --- file names that are not UTF-8 ---------------------------------------------------------------


def test_names_that_are_not_utf8_are_indexed_decoded_and_split_stably(tmp_path):
    if not _non_utf8_name_allowed(tmp_path):
        pytest.skip("this file system refuses names that are not valid UTF-8")
    root = os.fsencode(tmp_path / "latin1")
    for folder in (b"caf\xe9s", b"plain"):
        os.makedirs(os.path.join(root, folder))
        for k, name in enumerate((b"caf\xe9.png", b"na\xefve.jpg", b"ok.png", b"\xff\xfe.GIF")):
            ok, data = cv2.imencode(os.fsdecode(name)[-4:].lower(), np.full((6, 6, 3), 40 * k, np.uint8))
            with open(os.path.join(root, folder, name), "wb") as f:
                f.write(data.tobytes())
    index = index_directory(os.fsdecode(root))
    assert index.class_names == ("caf\udce9s", "plain") and index.samples == 8
    assert index.relative_path_bytes(0) == b"caf\xe9s/caf\xe9.png"  # kept as the file system gives them
    assert [os.fsencode(p) for p in index.filepaths] == [
        os.path.join(root, os.fsencode(p).replace(b"/", os.sep.encode())) for p in index.relative_paths()
    ]
    for k in range(index.samples):
        assert load_image(index.path(k), (3, 3)).shape == (3, 3, 3)
    # The split hashes the same bytes every time, in any process: the bytes written above, not a re-encoding.
    mask = validation_mask(index, 0.5)
    again = validation_mask(pickle.loads(pickle.dumps(index_directory(os.fsdecode(root), log=False))), 0.5)
    np.testing.assert_array_equal(mask, again)
    expected = set()
    for folder in (b"caf\xe9s", b"plain"):
        written = [folder + b"/" + name for name in (b"caf\xe9.png", b"na\xefve.jpg", b"ok.png", b"\xff\xfe.GIF")]
        expected.update(sorted(written, key=lambda p: hashlib.blake2b(p, digest_size=8).digest())[:2])
    assert {index.relative_path_bytes(k) for k in np.flatnonzero(mask)} == expected


# --- aliases do not depend on the order the file system lists entries in ------------------------


def _aliased_tree(root, reverse):
    """The same tree whatever `reverse`; only the order entries are created in (and so listed in) differs."""
    steps = [
        lambda: make_tree(root, {"cat": 4}),
        lambda: make_tree(root / "dog", {"b_real": 5}),
        lambda: os.symlink(root / "dog" / "b_real", root / "dog" / "c_link"),
        lambda: os.symlink(root / "dog" / "b_real", root / "dog" / "a_link"),
        lambda: make_tree(root / "dog", {"d_other": 3}),
    ]
    for step in reversed(steps) if reverse else steps:
        step()
    return root


@pytest.fixture
def reversed_listing(monkeypatch):
    """Makes os.scandir list every folder in reverse order."""
    real_scandir = os.scandir

    class Reversed:
        def __init__(self, path):
            with real_scandir(path) as entries:
                self.entries = list(entries)[::-1]

        def __enter__(self):
            return iter(self.entries)

        def __exit__(self, *exc):
            return False

    def enable():
        monkeypatch.setattr(os, "scandir", Reversed)

    return enable


def test_aliases_give_the_same_index_split_and_batches_whatever_the_listing_order(tmp_path, reversed_listing):
    from mixup_sequence.loader import BatchLoader
    from mixup_sequence.mixing import MixConfig
    from mixup_sequence.options import LoaderOptions

    trees = [_aliased_tree(tmp_path / "first", False), _aliased_tree(tmp_path / "second", True)]
    indexes = [index_directory(t, follow_links=True, log=False) for t in trees]
    reversed_listing()
    indexes += [index_directory(t, follow_links=True, log=False) for t in trees]
    expected = indexes[0].relative_paths()
    assert [p for p in expected if "_link" in p or "_real" in p] == [f"dog/a_link/img_{k:03d}.png" for k in range(5)]
    options = LoaderOptions(batch_size=4, image_size=(6, 6))
    mix = MixConfig(mixup_alpha=0.4)
    first = BatchLoader(indexes[0], options, 7, mix=mix)
    for index in indexes[1:]:
        assert index.relative_paths() == expected
        np.testing.assert_array_equal(index.labels, indexes[0].labels)
        assert index.skipped == indexes[0].skipped
        np.testing.assert_array_equal(validation_mask(index, 0.4), validation_mask(indexes[0], 0.4))
        loader = BatchLoader(index, options, 7, mix=mix)
        for i in range(len(first)):
            for a, b in zip(first.load_batch(1, i), loader.load_batch(1, i)):
                np.testing.assert_array_equal(a, b)
