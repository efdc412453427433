"""The ``kamcore`` command line."""

from .main import main

__all__ = ["main"]
