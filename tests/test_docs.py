"""Every code example of the documentation runs, so none can rot (see docs/development.md, "This site").

Each page's examples run in order in a folder where `data/flowers` is data_samples/digits
(tests/docs_examples.py); `make docs` checks the links and the docstrings.
"""

import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import docs_examples  # noqa: E402

import mixup_sequence  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
KERAS = re.compile(r"MixupSequence|ImageFolderSequence|SyncEpoch|BackupAndResume|keras|(?<![\w.])model\b")


def _page_params():
    """The pages with examples: their own blocks, or objects whose docstrings may hold some (not imported here)."""
    params = []
    for page in docs_examples.pages():
        with open(page, encoding="utf-8") as f:
            text = f.read()
        own = "".join(b.code for b in docs_examples.blocks_in(text, page) if b.runs)
        code = own + " ".join(docs_examples.rendered_objects(text))
        if not code:
            continue
        marks = [pytest.mark.slow] + ([pytest.mark.keras] if KERAS.search(code) else [])
        params.append(pytest.param(page, marks=marks, id=os.path.relpath(page, docs_examples.DOCS)))
    return params


@pytest.mark.parametrize("page", _page_params())
def test_page_examples_run(page, tmp_path, monkeypatch):
    blocks = docs_examples.page_blocks(page)
    python = "".join(b.code for b in blocks if b.runs and b.lang == "python")
    if not docs_examples.uses("tf_model", python):
        docs_examples.prepare(str(tmp_path))
        monkeypatch.chdir(tmp_path)
        docs_examples.run(blocks)
        return
    # Keras 2 starts its own worker pools: in a process of its own, as tests/test_keras2.py does.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [docs_examples.ROOT, os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "docs_examples.py"), page, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + "\n" + result.stderr[-6000:]
    assert f"ran {sum(b.runs for b in blocks)} examples of" in result.stdout


def test_every_code_block_runs_or_says_why_not():
    unexplained = []
    for page in docs_examples.pages():
        for block in docs_examples.page_blocks(page):
            if block.lang not in (*docs_examples.CODE, "text"):
                unexplained.append(f"{block.where()}: ```{block.lang} (use python, bash or text)")
            elif block.not_run is not None and not block.not_run:
                unexplained.append(f"{block.where()}: `<!-- not run: -->` without a reason")
            elif block.runs and block.lang == "bash":
                others = [argv for argv in block.commands() if argv[0] != docs_examples.COMMAND]
                if others:
                    unexplained.append(f"{block.where()}: runs only mixup-sequence commands, not {others[0][0]}")
    assert not unexplained, "\n".join(unexplained)


@pytest.mark.keras
def test_the_reference_renders_the_public_api():
    rendered = []
    for page in docs_examples.pages():
        with open(page, encoding="utf-8") as f:
            rendered += docs_examples.rendered_objects(f.read())
    shown = [obj for path in rendered for _, obj in docs_examples.documented(path, docs_examples.resolve(path))]
    documented = {id(obj) for obj in shown}
    public = [*mixup_sequence.__all__, "preview.batch_grid", "preview.save_batch_grid", "cache.ImageCache"]
    missing = [name for name in public if id(docs_examples.resolve(f"mixup_sequence.{name}")) not in documented]
    assert not missing, f"not in the API reference: {missing}"


def test_blocks_are_found_with_their_markers_lines_and_indentation():
    text = "\n".join(
        [
            "# A page",  # 1
            "",
            "```python",  # 3
            "x = 1",  # 4
            "```",
            "- a list item:",
            "",
            "  <!-- not run: needs two hosts -->",  # 8
            "  ```python",
            "  if x:",  # 10
            "      y = 2",
            "  ```",
            "```bash",
            "mixup-sequence verify data  # a comment",  # 14
            "",
            "```",
            "```text",
            "output",
            "```",
        ]
    )
    blocks = docs_examples.blocks_in(text, "page.md")
    assert [(b.line, b.lang, b.not_run, b.runs) for b in blocks] == [
        (4, "python", None, True),
        (10, "python", "needs two hosts", False),
        (14, "bash", None, True),
        (18, "text", None, False),
    ]
    assert blocks[1].code == "if x:\n    y = 2\n"
    assert blocks[2].commands() == [["mixup-sequence", "verify", "data"]]
    with pytest.raises(ValueError, match="never closed"):
        docs_examples.blocks_in("```python\nx = 1\n", "page.md")
