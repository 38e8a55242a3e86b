"""Loaded by pytest for every test path (tests/, solutions/, notebooks/).

Notebook kernels inherit this environment, so every notebook runs in fast mode under nbval.
"""
import os

os.environ["COURSE_FAST"] = "1"
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
