"""Loaded by pytest for every test path (tests/, solutions/, notebooks/).

Notebook kernels inherit this environment, so every notebook runs in fast mode under nbval,
and writes its runs and caches into a home folder of this session's own (unless
COURSE_HOME is set), never into the learner's. Each pytest-xdist worker gets a home of its
own, so the solution and student copies of a lesson, run at the same time on two workers,
never share a run folder; the cached evaluators are shared (COURSE_CACHE_DIR: built once,
under a lock).
"""
import atexit
import os
import shutil
import tempfile

os.environ["COURSE_FAST"] = "1"
if "COURSE_HOME" not in os.environ or "COURSE_TEST_BASE" in os.environ:
    if "COURSE_TEST_BASE" not in os.environ:  # this process made the folder (workers inherit it): it removes it
        os.environ["COURSE_TEST_BASE"] = tempfile.mkdtemp(prefix="course-test-")
        atexit.register(shutil.rmtree, os.environ["COURSE_TEST_BASE"], ignore_errors=True)
    base = os.environ["COURSE_TEST_BASE"]
    os.environ["COURSE_HOME"] = os.path.join(base, "home-" + os.environ.get("PYTEST_XDIST_WORKER", "main"))
    os.environ.setdefault("COURSE_CACHE_DIR", os.path.join(base, "cache"))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
