"""The course's release: the package version, and the tag the Colab install cells pin."""

__version__ = "0.2.0"
