"""Builds the sdist and the wheel, installs the wheel into a fresh virtual environment, and uses it.

    python tests/package_check.py [--extra jax] [--keep]

`make package-check` runs this (CI too). The wheel goes in with one backend
extra and nothing else; then, from a folder outside the repository and with
no PYTHONPATH, `mixup-sequence --help`, `mixup-sequence --version` and the
quick start on data_samples/ (tests/package_quickstart.py) must work, and no
other backend may have been installed. Needs only the standard library and
`build`; the new environment is made with this Python's `venv`.
"""

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch", "keras2": "tf_keras"}
BRINGS = {"keras2": {"keras2", "tensorflow"}}  # tf_keras requires tensorflow


def version():
    """`__version__` from the package's `__init__.py`, read without importing it."""
    with open(os.path.join(ROOT, "mixup_sequence", "__init__.py")) as f:
        for node in ast.parse(f.read()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
                return ast.literal_eval(node.value)
    raise SystemExit("package check: no __version__ in mixup_sequence/__init__.py")


def run(args, **kwargs):
    start = time.perf_counter()
    print("$ " + " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"package check: exit {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    return result.stdout


def check(ok, what):
    if not ok:
        raise SystemExit(f"package check: {what}")


def build(dist, ver):
    shutil.rmtree(dist, ignore_errors=True)
    run([sys.executable, "-m", "build", "--outdir", dist, ROOT])
    sdist = os.path.join(dist, f"mixup_sequence-{ver}.tar.gz")
    wheel = os.path.join(dist, f"mixup_sequence-{ver}-py3-none-any.whl")
    check(sorted(os.listdir(dist)) == sorted(map(os.path.basename, (sdist, wheel))), f"dist/ holds {os.listdir(dist)}")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    check("mixup_sequence/py.typed" in names, "the wheel lacks py.typed")
    check(all(n.startswith(("mixup_sequence/", f"mixup_sequence-{ver}.dist-info/")) for n in names), "stray files")
    with tarfile.open(sdist) as t:
        members = set(t.getnames())
    for path in ("CHANGELOG.md", "tests/conftest.py", "data_samples/digits/0", "examples/train.py", "docs/index.md"):
        check(f"mixup_sequence-{ver}/{path}" in members, f"the sdist lacks {path}")
    return wheel


def main(extra, keep):
    ver = version()
    total = time.perf_counter()
    wheel = build(os.path.join(ROOT, "dist"), ver)
    outside = tempfile.mkdtemp(prefix="mixup-sequence-package-")
    try:
        venv = os.path.join(outside, "venv")
        bin_dir = os.path.join(venv, "bin")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND", "VIRTUAL_ENV")}
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        run([sys.executable, "-m", "venv", venv])
        python = os.path.join(bin_dir, "python")
        run([python, "-m", "pip", "install", "--quiet", f"{wheel}[{extra}]"], env=env, cwd=outside)
        probe = f"import importlib.util as u; print(*[u.find_spec(m) is not None for m in {list(BACKENDS.values())}])"
        found = run([python, "-c", probe], env=env, cwd=outside).split()
        installed = {name for name, yes in zip(BACKENDS, found) if yes == "True"}
        check(installed == BRINGS.get(extra, {extra}), f"[{extra}] installed the backends {sorted(installed)}")
        # The package and its command line import without Keras, so without a backend chosen.
        probe = "import sys, mixup_sequence.cli; print('keras' in sys.modules)"
        imported = run([python, "-c", probe], env=env, cwd=outside)
        check(imported.strip() == "False", "importing mixup_sequence imported Keras")
        usage = run([os.path.join(bin_dir, "mixup-sequence"), "--help"], env=env, cwd=outside)
        check(all(c in usage for c in ("preview", "inspect", "verify", "bench", "--version")), f"--help: {usage}")
        shown = run([os.path.join(bin_dir, "mixup-sequence"), "--version"], env=env, cwd=outside).strip()
        check(shown == f"mixup-sequence {ver}", f"--version printed {shown!r}")
        script = shutil.copy(os.path.join(ROOT, "tests", "package_quickstart.py"), outside)
        data = os.path.join(ROOT, "data_samples", "digits")
        backend = {"keras2": "tensorflow"}.get(extra, extra)
        print(run([python, script, data], env={**env, "KERAS_BACKEND": backend}, cwd=outside).strip())
    finally:
        if keep:
            print(f"kept {outside}")
        else:
            shutil.rmtree(outside, ignore_errors=True)
    print(f"package check passed: mixup-sequence {ver}, wheel + [{extra}], {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default="jax", choices=sorted(BACKENDS), help="the backend extra to install")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder with the environment")
    args = parser.parse_args()
    main(args.extra, args.keep)
