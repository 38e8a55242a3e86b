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
# pytest-xdist's workers share the machine's cores: TensorFlow's default of one compute thread per core in
# each worker oversubscribes them. A share of the cores each was measured faster: the README's test command
# on the 2-core machine, two workers, 523 s with the default, 468 s with one thread each.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    share = max(1, (os.cpu_count() or 1) // max(1, int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(share))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: The files that take longest under the README's `python -m pytest` (``--durations`` on the idle 2-core
#: machine), slowest first. pytest-xdist hands whole files (``--dist loadfile``) to its two workers in the
#: order they are collected (``--no-loadscope-reorder``): longest first leaves the short files for the end,
#: so that both workers finish at about the same time. Files not named here follow, in their own order.
SLOWEST_FIRST = (
    "solutions/05_evaluation.ipynb", "solutions/02_dcgan.ipynb", "tests/test_distribution.py",
    "tests/test_diffusion.py", "tests/test_runs.py", "solutions/04_cyclegan.ipynb", "tests/test_cnn.py",
    "solutions/06_diffusion.ipynb", "solutions/03_vae.ipynb", "solutions/01_cnn_classifier.ipynb",
    "tests/test_cli.py", "tests/test_dcgan.py", "tests/test_cyclegan.py", "tests/test_jobs.py",
    "tests/test_checks.py", "tests/test_grading.py", "tests/test_foundations.py", "tests/test_judging.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: cells keep their order
