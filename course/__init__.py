"""Deep generative models in Keras 3: the tested code behind the course notebooks.

Lessons: 01_cnn_classifier, 02_dcgan, 03_vae, 04_cyclegan. Each notebook shows the
code the learner is meant to read and imports the rest from here.
"""
import os as _os

# Keras 3 reads its backend once, at first import; the course is written for TensorFlow.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
