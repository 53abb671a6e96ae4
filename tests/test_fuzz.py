import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mutated_images_only_raise_our_error_and_never_crash(seed):
    # In a child process: a crash inside OpenCV must fail this test, not kill the test run.
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "fuzz_decode.py"), "5000", str(seed)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5000 inputs:" in result.stdout
    assert "refused with ImageDecodeError" in result.stdout
    peak_mb = int(re.search(r"peak RSS (\d+) MB", result.stdout).group(1))
    assert peak_mb < 400, result.stdout  # memory stays bounded: no input allocates its declared size
