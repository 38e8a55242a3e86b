"""Deep generative models in Keras 3: the tested code behind the course notebooks.

Lessons: 01_cnn_classifier, 02_dcgan, 03_vae, 04_cyclegan. Each notebook shows the
code the learner is meant to read and imports the rest from here.
"""
import os as _os

# Keras 3 reads its backend once, at first import; the course is written for TensorFlow.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .version import __version__  # noqa: E402

__all__ = ["__version__", "show_source"]


def show_source(obj) -> None:
    """Show the source of a course function or class in a notebook.

    Lessons call this instead of copying package code into cells, so what the
    learner reads is exactly what runs.
    """
    import inspect

    source = inspect.getsource(obj)
    try:
        from IPython.display import Code, display

        display(Code(source, language="python"))
    except ImportError:  # plain Python: print it
        print(source)
