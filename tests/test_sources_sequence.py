"""The sequences' `from_paths` and `from_dataframe`: labels, checks in order, and every worker mode."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_tree, write_image

keras = pytest.importorskip("keras")
pd = pytest.importorskip("pandas")

from mixup_sequence import ImageFolderSequence, MissingFilesError, MixupSequence, index_directory  # noqa: E402

pytestmark = pytest.mark.keras


@pytest.fixture
def frame_tree(tmp_path):
    """A folder of 3 classes, and a frame of its files relative to it, index labels 'f0', 'f1', ..."""
    root = make_tree(tmp_path / "data", {"cat": 7, "dog": 5, "fox": 6})
    index = index_directory(root)
    frame = pd.DataFrame(
        {"filename": index.keys(), "class": [index.class_names[label] for label in index.labels]},
        index=[f"f{k}" for k in range(index.samples)],
    )
    return root, frame


def test_from_paths_gives_the_folder_sequences_batches(frame_tree):
    root, frame = frame_tree
    folder = MixupSequence(root, batch_size=4, image_size=(8, 8), seed=3, cutmix_alpha=1.0)
    listed = MixupSequence.from_paths(
        list(frame["filename"]),
        list(frame["class"]),
        directory=root,
        batch_size=4,
        image_size=(8, 8),
        seed=3,
        cutmix_alpha=1.0,
    )
    assert listed.class_names == folder.class_names and list(listed.filepaths) == list(folder.filepaths)
    np.testing.assert_array_equal(listed.labels, folder.labels)
    for i in range(len(folder)):
        for a, b in zip(listed[i], folder[i]):
            np.testing.assert_array_equal(a, b)


def test_from_dataframe_with_multi_hot_columns(tmp_path):
    paths = [str(write_image(tmp_path / f"{k}.png", (255 * (k % 2), 0, 0))) for k in range(6)]
    frame = pd.DataFrame({"path": paths, "red": [k % 2 for k in range(6)], "any": [1] * 6})
    seq = ImageFolderSequence.from_dataframe(frame, x_col="path", y_col=["red", "any"], batch_size=6, image_size=(4, 4))
    assert seq.multi_label and seq.class_names == ["red", "any"] and seq.source.directory is None
    x, y = seq[0]
    np.testing.assert_array_equal(y, [[k % 2, 1] for k in range(6)])
    assert y.dtype == np.float32
    np.testing.assert_allclose(x[..., 0].mean(axis=(1, 2)), y[:, 0])  # red images are the "red" ones
    assert "multi_label=True" in repr(seq)


def test_other_arguments_are_checked_before_the_files(frame_tree):
    root, frame = frame_tree
    frame.loc["f2", "filename"] = "cat/gone.png"
    with pytest.raises(ValueError, match="batch_size=0"):
        MixupSequence.from_dataframe(frame, root, batch_size=0)
    with pytest.raises(ValueError, match="a `Source` has its class names already"):
        MixupSequence.from_dataframe(frame, root, follow_links=True)
    with pytest.raises(MissingFilesError) as info:
        MixupSequence.from_dataframe(frame, root, validation_split=0.5, subset="training")
    assert [p[0] for p in info.value.problems] == ["row 'f2'"]  # the whole frame, whichever subset


def test_frame_split_is_disjoint_and_covers(frame_tree):
    root, frame = frame_tree
    kwargs = dict(batch_size=4, image_size=(8, 8), validation_split=0.3)
    train = MixupSequence.from_dataframe(frame.sample(frac=1.0, random_state=0), root, subset="training", **kwargs)
    val = ImageFolderSequence.from_dataframe(frame, root, subset="validation", **kwargs)
    assert not set(train.filepaths) & set(val.filepaths)
    assert sorted([*train.filepaths, *val.filepaths]) == sorted(str(root / p) for p in frame["filename"])


@pytest.mark.parametrize("mode", [{"workers": 2}, {"workers": 2, "use_multiprocessing": True}])
def test_frame_source_is_bit_identical_in_threads_and_processes(frame_tree, mode):
    root, frame = frame_tree
    frame["class"] = [[c, "pet"] if k % 2 else [c] for k, c in enumerate(frame["class"])]  # multi-label
    kwargs = dict(batch_size=4, image_size=(8, 8), seed=5, mixup_alpha=0.4, cutmix_alpha=1.0)
    serial = MixupSequence.from_dataframe(frame, root, **kwargs)
    workers = MixupSequence.from_dataframe(frame, root, **kwargs, **mode)
    try:
        for epoch in (0, 1):
            for i in range(len(serial)):
                for a, b in zip(workers.get_batch(i, epoch), serial.get_batch(i, epoch)):
                    np.testing.assert_array_equal(a, b)
    finally:
        workers.close()


def test_missing_pandas_raises_from_the_sequence():
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "from mixup_sequence import ImageFolderSequence\n"
        "try:\n"
        "    ImageFolderSequence.from_dataframe(object())\n"
        "except ImportError as e:\n"
        "    print('ImportError:', e)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "ImportError: `from_dataframe` needs pandas, which is not installed: `pip install pandas`" in out.stdout
