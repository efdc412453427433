"""The kamcore version (one place; the package and file writers read it)."""

__version__ = "0.1.0"
