"""Loaded by pytest for every test path (tests/, solutions/, notebooks/).

Notebook kernels inherit this environment, so every notebook runs in fast mode under nbval,
and writes its runs and caches into a home folder of this session's own (unless
COURSE_HOME is set), never into the learner's. The two pytest-xdist workers of one session
share that folder (cached evaluators are built once, under a lock).
"""
import os
import tempfile
from pathlib import Path

os.environ["COURSE_FAST"] = "1"
if "COURSE_HOME" not in os.environ:
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # the same in every worker of one session
    if run_id:
        home = Path(tempfile.gettempdir()) / f"course-home-{run_id}"
        home.mkdir(exist_ok=True)
        os.environ["COURSE_HOME"] = str(home)
    else:
        os.environ["COURSE_HOME"] = tempfile.mkdtemp(prefix="course-home-")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
