"""The student notebooks run as Colab runs them: a google.colab module present, nothing of the course
installed, TensorFlow 2.20 and Keras 3.13 as Colab ships them, "Run all" with errors not allowed.

Run by .ci/run in the environment of .ci/colab-requirements.txt (COURSE_COLAB=1). Each notebook is
built with `notebooks build --repo file://CLONE --ref COMMIT`, so its install cell pip-installs the
course from a local clone of this repository, as it installs from GitHub in Colab.
"""
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("COURSE_COLAB") != "1",
                                reason="needs the Colab-version environment (.ci/run sets COURSE_COLAB=1)")

ROOT = Path(__file__).resolve().parents[1]
STANDIN = '''"""A stand-in for Colab's module: its presence is what the lessons' install cells look for."""


class _Drive:
    def mount(self, path, **kwargs):
        raise RuntimeError("Google Drive is not available outside Colab")


drive = _Drive()
'''


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """A local clone, student notebooks pointed at it, and a stand-in google.colab for the kernels."""
    tmp = tmp_path_factory.mktemp("colab")
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True,
                            check=True).stdout.strip()
    from course import notebooks

    out = tmp / "notebooks"
    notebooks.build(clone, repository=f"file://{clone}", ref=commit, out=out)
    standin = tmp / "standin"
    (standin / "google" / "colab").mkdir(parents=True)  # `google` stays a namespace package (protobuf's too)
    (standin / "google" / "colab" / "__init__.py").write_text(STANDIN)
    (standin / "sitecustomize.py").write_text("import google.colab  # Colab's kernels start with it imported\n")
    env = {**os.environ, "PYTHONPATH": str(standin), "COURSE_FAST": "1", "COURSE_HOME": str(tmp / "home"),
           "KERAS_BACKEND": "tensorflow"}
    return {"notebooks": out, "env": env, "commit": commit, "clone": clone, "tmp": tmp}


def test_the_course_is_not_installed_before_the_install_cell(colab):
    probe = subprocess.run([sys.executable, "-c", "import importlib.util; print(importlib.util.find_spec('course'))"],
                           cwd=colab["tmp"], env=colab["env"], capture_output=True, text=True)
    assert probe.stdout.strip() == "None", probe.stdout + probe.stderr


def _run(notebook: Path, env: dict) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=False,
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
        seconds = time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "not done yet" in text, "the unsolved exercises should say so"
    nbformat.write(nb, notebook.with_suffix(".executed.ipynb"))
    return seconds


def test_every_student_notebook_runs_top_to_bottom_as_in_colab(colab, capsys):
    times = {}
    for notebook in sorted(colab["notebooks"].glob("[0-9]*.ipynb")):
        if notebook.name.endswith(".executed.ipynb"):
            continue
        times[notebook.name] = _run(notebook, colab["env"])
    versions = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import json, keras, tensorflow, course
        print(json.dumps({"keras": keras.__version__, "tensorflow": tensorflow.__version__,
                          "course": course.__file__}))""")], cwd=colab["tmp"], env=colab["env"], capture_output=True,
                             text=True)
    found = json.loads(versions.stdout.strip().splitlines()[-1])
    # the install cell installed the course and kept Colab's TensorFlow and Keras
    assert found["keras"].startswith("3.13.") and found["tensorflow"].startswith("2.20."), found
    assert "site-packages" in found["course"], found
    with capsys.disabled():
        print(f"\nstudent notebooks run as in Colab (TensorFlow {found['tensorflow']}, Keras {found['keras']}, "
              f"fast mode, the course installed from a local clone at {colab['commit'][:10]}):")
        for name, seconds in times.items():
            print(f"  {name:<28} {seconds:6.1f} s")


def test_a_wrong_address_stops_the_install_cell_with_one_message(colab, tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from course import notebooks

    notebooks.build(colab["clone"], repository=f"file://{tmp_path}/no-such-repo", ref="v9.9.9", out=tmp_path)
    nb = nbformat.read(sorted(tmp_path.glob("0*.ipynb"))[0], as_version=4)
    nb.cells = [c for c in nb.cells if c.get("id") == "install"]
    saved = dict(os.environ)
    os.environ.update(colab["env"])
    try:
        with pytest.raises(CellExecutionError) as err:
            NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    message = str(err.value)
    assert "no-such-repo" in message and "v9.9.9" in message and "--repo URL --ref REF" in message
