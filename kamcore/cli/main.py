"""The ``kamcore`` command: parser, dispatch and the error boundary.

Each sub-command lives in a module of this package and registers itself in
:data:`~kamcore.cli.registry.COMMANDS` (name -> ``(add_arguments, run)``).  Any
:class:`~kamcore.errors.KamcoreError` (and argument errors) ends with exit status
2 and one line on stderr; nothing shows a traceback unless ``KAMCORE_DEBUG=1``.
kamcore's own warnings (:class:`~kamcore.errors.KamcoreWarning`, e.g. a run far from the rates of
its fit's constraints) are one ``kamcore: warning: ...`` line each.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from ..errors import KamcoreError, KamcoreWarning, one_line
from . import (  # noqa: F401
    events_cmds,
    gen_cmds,
    genstudy_cmds,
    model_cmds,
    monitor_cmds,
    runs_cmds,
    study_cmds,
)
from .registry import COMMANDS, command  # noqa: F401  (re-exported)

__all__ = ["main", "COMMANDS", "build_parser"]

class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (no usage dump)."""

    def error(self, message: str):  # noqa: D102 - argparse hook
        raise _UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """kamcore's own warnings as one line on stderr, like its errors; others as Python prints them."""
    if issubclass(category, KamcoreWarning):
        print(f"kamcore: warning: {one_line(message, None)}", file=sys.stderr if file is None else file)
    else:
        _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)


_PYTHON_SHOWWARNING = warnings.showwarning


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kamcore", description=(
        "kamcore: KamLAND-Zen detector Monte Carlo, event files, preprocessing and models. "
        "Run 'kamcore demo' for a first look on the embedded defaults."),
        epilog="'kamcore COMMAND --help' explains each command and its options.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_, add_args, _) in COMMANDS.items():
        text = help_.replace("%", "%%")  # argparse formats help strings with %
        p = sub.add_parser(name, help=text, description=text)
        add_args(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``kamcore`` with ``argv``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv = argv  # commands record how they were called (results files)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        if not args.command:
            parser.print_help()
            return 0
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(COMMANDS[args.command][2](args) or 0)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KamcoreError as exc:
        if os.environ.get("KAMCORE_DEBUG"):
            raise
        print(f"kamcore: error: {one_line(exc, None)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as exc:  # output paths, permissions, full disks
        if os.environ.get("KAMCORE_DEBUG"):
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"kamcore: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kamcore: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, traceback on request
        if os.environ.get("KAMCORE_DEBUG"):
            raise
        print(f"kamcore: internal error: {type(exc).__name__}: {one_line(exc, None)} "
              "(set KAMCORE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
