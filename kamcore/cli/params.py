"""Command-line options built from ``param`` configuration classes.

The same ``param.Parameterized`` classes configure the library, the command line
and the dashboard widgets, so an option's type, bounds and help text are defined
once.  :func:`add_param_options` turns the numeric, boolean and selector params of a
class into ``--name`` options; :func:`config_from_args` builds the instance back,
and out-of-bounds values end as a :class:`~kamcore.errors.ConfigError`.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import param

from ..errors import ConfigError

__all__ = ["add_param_options", "config_from_args", "finite_float", "check_output_file", "memory_bytes",
           "check_memory"]


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan``, ``inf`` and overflowing values like ``1e999`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_output_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a file can be created there, else a one-line :class:`ConfigError` -- checked before a
    command does its work, so that a typo in ``--out`` does not cost a whole evaluation."""
    out = Path(path)
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: cannot write, output directory {out.parent} does not exist")
    if out.is_dir():
        raise ConfigError(f"{out}: cannot write, it is a directory")
    try:
        name_max = os.pathconf(out.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    if len(os.fsencode(out.name)) + 24 > name_max:  # + the temporary file's prefix and suffix
        raise ConfigError(f"{out}: cannot write, file name longer than {name_max - 24} bytes")
    return out


def memory_bytes() -> int:
    """Physical memory of this machine, bytes (a bound on what one command may allocate); 2**63 when unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no bound
        return 2**63


def check_memory(what: str, n: int, bytes_each: int, hint: str, *, where: str | os.PathLike | None = None) -> None:
    """One-line :class:`ConfigError` when ``n`` items of ``bytes_each`` bytes (peak, copies included) need more
    than :func:`memory_bytes` -- checked before a command starts, instead of a ``MemoryError`` or swapping later.

    ``what`` names the items (``"C10 events"``), ``hint`` says what to do instead, ``where`` (a file) opens
    the message.

    >>> check_memory("maps", 10, 1000, "use fewer")
    >>> check_memory("maps", 10**12, 160_000, "use fewer")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    kamcore.errors.ConfigError: 1000000000000 maps need 145519.2 TiB at 156 kiB each, ... fit; use fewer
    """
    mem = memory_bytes()
    need = int(n) * int(bytes_each)
    if need <= mem:
        return
    prefix = f"{where}: " if where is not None else ""
    raise ConfigError(f"{prefix}{n} {what} need {_size(need)} at {bytes_each / 1024:.0f} kiB each, more than the "
                      f"{_size(mem)} of memory: at most {mem // bytes_each} fit; {hint}")


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**40:.1f} TiB" if nbytes >= 2**40 else f"{nbytes / 2**30:.1f} GiB"


def add_param_options(parser: argparse.ArgumentParser, cls: type[param.Parameterized], *,
                      prefix: str = "", aliases: dict[str, list[str]] | None = None,
                      title: str | None = None) -> None:
    """Add one option per numeric/boolean/selector/string param of ``cls`` (default ``None`` = keep the class default)."""
    group = parser.add_argument_group(title or f"{cls.__name__} options")
    aliases = aliases or {}
    for name, p in cls.param.objects("existing").items():
        if name == "name":
            continue
        flags = [_option(prefix + name), *aliases.get(name, [])]
        doc = (p.doc or "").strip().replace("%", "%%")
        dest = prefix + name
        if isinstance(p, param.Boolean):
            group.add_argument(*flags, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                               help=f"{doc} (default: {p.default})")
        elif isinstance(p, param.Selector):
            group.add_argument(*flags, dest=dest, choices=[str(o) for o in p.objects], default=None,
                               help=f"{doc} (default: {p.default})")
        elif isinstance(p, param.Integer):
            group.add_argument(*flags, dest=dest, type=int, default=None, metavar="N",
                               help=f"{doc} (default: {p.default})")
        elif isinstance(p, param.Number):
            group.add_argument(*flags, dest=dest, type=finite_float, default=None, metavar="F",
                               help=f"{doc} (default: {p.default})")
        elif isinstance(p, param.String):
            group.add_argument(*flags, dest=dest, type=str, default=None, metavar="TEXT",
                               help=f"{doc} (default: {p.default})")


def config_from_args(cls: type[param.Parameterized], args: argparse.Namespace, *, prefix: str = ""):
    """Instance of ``cls`` with the options given on the command line applied."""
    kw = {}
    for name in cls.param.objects("existing"):
        v = getattr(args, prefix + name, None)
        if name != "name" and v is not None:
            kw[name] = v
    try:
        return cls(**kw)
    except ValueError as exc:
        raise ConfigError(f"invalid option: {exc}") from None
