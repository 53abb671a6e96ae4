"""Spawned and forkserver workers start without re-importing the user's script (and its Keras).

multiprocessing's preparation re-imports the parent's `__main__` in each
spawn or forkserver worker; the pool hides it while the workers start,
unless the loader refers to something defined there.
"""

import json
import multiprocessing.spawn
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from conftest import make_tree

from mixup_sequence import _launch, index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.options import LoaderOptions
from mixup_sequence.workers import ProcessPool

HERE = os.path.dirname(os.path.abspath(__file__))


def flip(image):
    return np.ascontiguousarray(image[:, ::-1])


@pytest.fixture
def script_main(monkeypatch, tmp_path):
    """A `__main__` that is a script (it has a file), holding `flip` as the script would."""
    main = types.ModuleType("__main__")
    main.__file__ = str(tmp_path / "train.py")
    monkeypatch.setitem(sys.modules, "__main__", main)
    return main


def test_main_hidden_keeps_the_script_out_of_the_preparation_data(script_main):
    assert multiprocessing.spawn.get_preparation_data("x")["init_main_from_path"] == script_main.__file__
    with _launch.main_hidden():
        data = multiprocessing.spawn.get_preparation_data("x")
        assert "init_main_from_path" not in data and "init_main_from_name" not in data
        assert sys.modules["__main__"].__name__ == "__main__"
    assert sys.modules["__main__"] is script_main
    with _launch.main_hidden(hide=False):
        assert "init_main_from_path" in multiprocessing.spawn.get_preparation_data("x")


def test_a_left_over_stand_in_is_put_back(script_main):
    hidden = _launch.main_hidden()
    hidden.__enter__()  # never closed, as if interrupted in the middle
    assert sys.modules["__main__"] is not script_main
    with _launch.main_hidden(hide=False):
        assert sys.modules["__main__"] is script_main


def test_main_reference_names_what_lives_in_main(tmp_path, script_main):
    make_tree(tmp_path / "data", {"cat": 2, "dog": 2})
    index = index_directory(tmp_path / "data")
    options = LoaderOptions(batch_size=2, image_size=(8, 8))
    assert _launch.main_reference(BatchLoader(index, options, 1, augment=flip)) is None  # lives in this module
    in_main = types.FunctionType(flip.__code__, {"np": np}, "flip")
    in_main.__module__ = "__main__"
    script_main.flip = in_main
    assert _launch.main_reference(BatchLoader(index, options, 1, augment=in_main)) == "__main__.flip"


def test_an_augment_from_an_interactive_session_is_a_clear_error(tmp_path, monkeypatch):
    make_tree(tmp_path / "data", {"cat": 2, "dog": 2})
    interactive = types.ModuleType("__main__")  # a notebook's or the REPL's: no file to import
    monkeypatch.setitem(sys.modules, "__main__", interactive)
    in_main = types.FunctionType(flip.__code__, {"np": np}, "flip")
    in_main.__module__ = "__main__"
    interactive.flip = in_main
    loader = BatchLoader(index_directory(tmp_path / "data"), LoaderOptions(batch_size=2, image_size=(8, 8)), 1, in_main)
    pool = ProcessPool(loader, 1, 1, "spawn")
    with pytest.raises(TypeError, match=r"`__main__\.flip` is defined in an interactive session.*start_method='fork'"):
        pool.get(0, 0)
    pool.close()


@pytest.mark.keras
@pytest.mark.slow
def test_workers_of_a_keras_script_hold_no_keras(tmp_path):
    pytest.importorskip("keras")
    data = make_tree(tmp_path / "data", {"cat": 6, "dog": 6})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "start_child.py"), str(data), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"keras", "start_child.py"} <= set(report["parent_modules"])
    for method in ("forkserver", "spawn"):
        assert report[method]["identical"], method
        assert len(report[method]["modules"]) == 2, method
        # No Keras, TensorFlow, JAX or torch, and no re-imported script, in any worker.
        assert all(modules == [] for modules in report[method]["modules"].values()), (method, report[method])
    assert report["warnings_so_far"] == []
    # An augment defined in the script still works: its workers re-import the script, and say so once.
    assert report["script_augment"]["identical"]
    (message,) = report["script_augment"]["messages"]
    assert "`__main__.flip` is defined in the script being run" in message and "spawn" in message
