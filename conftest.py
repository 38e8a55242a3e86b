"""Loaded by pytest for every test path (tests/, solutions/, notebooks/).

Notebook kernels inherit this environment, so every notebook runs in fast mode under nbval,
and writes its runs and caches into a home folder of this session's own (unless
COURSE_HOME is set), never into the learner's.
"""
import os
import tempfile

os.environ["COURSE_FAST"] = "1"
os.environ.setdefault("COURSE_HOME", tempfile.mkdtemp(prefix="course-home-"))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
