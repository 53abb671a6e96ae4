"""The version lives in `mixup_sequence.__version__`; the build, the command line and the changelog follow it.

`make package-check` builds and installs the wheel; these check the sources in seconds.
"""

import os
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.version import Version

import mixup_sequence
from mixup_sequence.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_version_is_a_normalised_pep_440_version():
    assert str(Version(mixup_sequence.__version__)) == mixup_sequence.__version__


def test_the_build_reads_the_version_from_the_package():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        pyproject = tomllib.load(f)
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mixup_sequence.__version__"}


def test_the_command_line_prints_it(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"mixup-sequence {mixup_sequence.__version__}\n"


def test_the_changelog_has_a_section_for_it_below_unreleased():
    with open(os.path.join(ROOT, "CHANGELOG.md")) as f:
        headings = re.findall(r"^## (.+)$", f.read(), flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert mixup_sequence.__version__ in headings


def test_a_missing_backend_is_named_with_the_fix():
    code = (
        "import sys; sys.modules['jax'] = None\n"  # as if the jax backend were not installed
        "import mixup_sequence\n"
        "try:\n    mixup_sequence.MixupSequence\nexcept ImportError as e:\n    print(e)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "NO_ALBUMENTATIONS_UPDATE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300).stdout
    assert "'jax' is not installed (KERAS_BACKEND=jax)" in out and "mixup-sequence[tensorflow]" in out
