"""Errors the course raises on purpose: each says what was wrong and how to fix it.

The command line prints these as one readable line (no traceback).
"""


class CourseError(Exception):
    """Base class of every error that carries a message meant for the learner."""


class DataError(CourseError, ValueError):
    """A dataset is unknown, missing, empty, truncated or corrupt."""


class ShapeError(CourseError, ValueError):
    """Images or tensors of the wrong shape or dtype met a model."""


class RunFolderError(CourseError):
    """A run folder cannot be used as asked (e.g. it already holds another run)."""
