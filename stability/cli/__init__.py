"""The ``stability`` command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a function of
the parsed arguments returning an exit code). Modules are discovered automatically,
so a new subcommand is one new file. Errors raised by the package (and unreadable
files) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from stability._version import __version__
from stability.errors import StabilityError

__all__ = ["CommandError", "build_parser", "main"]


class CommandError(StabilityError, ValueError):
    """A command-line argument or input file the command cannot use."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
        prog="stability",
        description="Linear-stability theory of optimisers: exact mean-square thresholds, "
        "symbolic derivations and Monte Carlo checks.",
    )
    parser.add_argument("--version", action="version", version=f"stability {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 1 a failed check, 2 an error).

    Examples
    --------
    >>> from stability.cli import main
    >>> main(["critical-lr", "--example", "--method", "gd", "--json"])  # doctest: +ELLIPSIS
    {...}
    0
    """
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        return int(arguments.handler(arguments) or 0)
    except (StabilityError, OSError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"stability {arguments.command}: error: {message}", file=sys.stderr)
        return 2
