"""The version lives in `mixup_sequence.__version__`; the build, the command line and the changelog follow it.

`make package-check` builds and installs the wheel; these check the sources in seconds.
"""

import os
import re
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
