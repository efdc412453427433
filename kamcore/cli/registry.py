"""The registry of ``kamcore`` sub-commands: :data:`COMMANDS` and the :func:`command` decorator.

Every command module imports this one (and never :mod:`kamcore.cli.main`), and
:mod:`kamcore.cli.main` imports every command module: no import cycle.
"""

from __future__ import annotations

import argparse
from typing import Callable

__all__ = ["COMMANDS", "command"]

#: sub-command name -> (help line, add_arguments(parser), run(args) -> exit status)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str):
    """Decorator: register ``run`` with its ``add_arguments`` (attribute ``.arguments``)."""
    def deco(run):
        COMMANDS[name] = (help, getattr(run, "arguments", lambda p: None), run)
        return run
    return deco
