"""The ``stability`` command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a function of
the parsed arguments returning an exit code). Modules are discovered automatically,
so a new subcommand is one new file; they import the numeric, symbolic and plotting
layers only inside their handlers, so ``stability --help`` starts fast.

Failures never show a traceback. Every failure is one line on stderr,
``stability COMMAND: error: MESSAGE``, and, under ``--json``, also a JSON object
``{"error": {"command", "type", "message", "exit_code"}}`` on stdout. Exit codes:
0 success, 1 an internal failure (or a failed check), 2 bad input (arguments, files,
problems outside the documented limits). Warnings raised during a failing command are
not printed; those of a successful one are printed as one line each.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from stability._version import __version__
from stability.errors import StabilityError

__all__ = ["CommandError", "build_parser", "main"]


class CommandError(StabilityError, ValueError):
    """A command-line argument or input file the command cannot use."""


class _UsageError(Exception):
    """An argparse usage error, carried to :func:`main` as one line."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (raised, not printed)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self.prog, message)


#: API phrases in messages and the command-line words that replace them.
_VOCABULARY: tuple[tuple[str, str], ...] = (
    (
        r"build it with Quadratic\.from_hessians, from_data or from_gram, or use "
        r"batch_size=None",
        "give --hessians, --data or --gram instead of --hessian, or omit --batch-size",
    ),
    (r"use Quadratic\.from_hessians, from_data or from_gram", "give --hessians, --data or --gram"),
    (
        r"stability\.critical_learning_rate\(Quadratic\.from_hessians\(\.\.\.\), method\)",
        "stability critical-lr --hessians FILE",
    ),
    (r"use the float route \(precision=None\)", "omit --precision"),
    (r"pass symbolic=True to force it", "use --symbolic to force it"),
    (r"symbolic=True", "--symbolic"),
    (r"symbolic=False", "--no-symbolic"),
    (r"progress=False", "--no-progress"),
    (r"progress=True", "--progress"),
    (r"drop_last=True", "--drop-last"),
    (r"shuffle=True", "--shuffle"),
    (r"use stability\.reshuffling \([^)]*\)", "stability critical-lr takes --shuffle"),
    (r"use simulate_epochs", "simulate epochs in Python (stability.reshuffling.simulate_epochs)"),
    (
        r"replacement must be False for reshuffled batches",
        "--replacement does not apply to --shuffle",
    ),
    (r"batch_size=None", "no --batch-size"),
    (r"batch_size=(\d+)", r"--batch-size \1"),
    (r"Quadratic\.from_(hessians|data|gram|jacobians)(\(\.\.\.\))?", r"--\1"),
)


def command_words(message: str) -> str:
    """Rewrite API vocabulary in ``message`` into the command line's flags.

    Parameters
    ----------
    message : str
        An error message raised by the library.

    Examples
    --------
    >>> from stability.cli import command_words
    >>> command_words("too large; pass symbolic=True to force it")
    'too large; use --symbolic to force it'
    >>> command_words("weight_decay must be non-negative; got -1")
    '--weight-decay must be non-negative; got -1'
    """
    for pattern, replacement in _VOCABULARY:
        message = re.sub(pattern, replacement, message)
    from stability.methods import registry

    for flag, option in registry.flags().items():  # weight_decay -> --weight-decay
        if "_" in option.keyword or any(character.isdigit() for character in option.keyword):
            message = re.sub(rf"(?<![-\w]){option.keyword}(?![\w=])", flag, message)
    return message


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every discovered subcommand.

    Examples
    --------
    >>> from stability.cli import build_parser
    >>> "critical-lr" in build_parser().format_help()
    True
    """
    parser = _Parser(
        prog="stability",
        description="Linear-stability theory of optimisers: exact mean-square thresholds, "
        "symbolic derivations and Monte Carlo checks.",
    )
    parser.add_argument("--version", action="version", version=f"stability {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _command_of(argv: Sequence[str]) -> str:
    for word in argv:
        if not word.startswith("-"):
            return word
    return ""


def _fail(command: str, message: str, code: int, kind: str, json_wanted: bool) -> int:
    message = command_words(message)
    prefix = f"stability {command}" if command else "stability"
    print(f"{prefix}: error: {message}", file=sys.stderr)
    if json_wanted:
        from stability.cli._common import json_text

        print(
            json_text(
                {
                    "error": {
                        "command": command,
                        "type": kind,
                        "message": message,
                        "exit_code": code,
                    }
                }
            )
        )
    return code


def _classify(error: BaseException) -> tuple[int, str, str]:
    """``(exit code, type name, message)`` of an exception escaping a handler."""
    if isinstance(error, StabilityError):
        return 2, type(error).__name__, _first_line(error)
    if isinstance(error, ImportError):
        return 2, "MissingDependency", _first_line(error)
    if isinstance(error, MemoryError):
        return 1, "MemoryError", "internal error: out of memory; lower the sizes asked for"
    if isinstance(error, OSError):
        target = f" {error.filename}" if getattr(error, "filename", None) else ""
        return 2, "OSError", f"cannot use{target}: {error.strerror or _first_line(error)}"
    return 1, type(error).__name__, f"internal error: {type(error).__name__}: {_first_line(error)}"


def _show_warnings(command: str, caught: list[Any]) -> None:
    seen = set()
    for warning in caught:
        if issubclass(warning.category, RuntimeWarning | DeprecationWarning):
            continue
        text = _first_line(warning.message) if isinstance(warning.message, Warning) else str(
            warning.message
        )
        if text not in seen:
            seen.add(text)
            print(f"stability {command}: warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (see :func:`_main`); a closed output pipe ends it quietly.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Examples
    --------
    >>> from stability.cli import main
    >>> main(["critical-lr", "--example", "--method", "gd", "--json"])  # doctest: +ELLIPSIS
    {...}
    0
    """
    try:
        return _main(argv)
    except BrokenPipeError:  # ``stability ... | head``: the reader left
        import os

        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1


def _main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 1 failure, 2 bad input).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Examples
    --------
    >>> from stability.cli import main
    >>> main(["critical-lr", "--example", "--method", "gd", "--json"])  # doctest: +ELLIPSIS
    {...}
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    json_wanted = "--json" in argv
    command = _command_of(argv)
    try:
        parser = build_parser()
        arguments = parser.parse_args(argv)
    except _UsageError as error:
        _fail(command, f"{error} (see {error.prog} --help)", 2, "UsageError", json_wanted)
        raise SystemExit(2) from None
    except Exception as error:  # a bug in a parser definition
        code, kind, message = _classify(error)
        return _fail(command, message, code, kind, json_wanted)
    command = arguments.command
    json_wanted = bool(getattr(arguments, "json", False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            from stability.cli._common import check_limits

            check_limits(arguments)
            code = int(arguments.handler(arguments) or 0)
        except KeyboardInterrupt:
            return _fail(command, "interrupted", 1, "KeyboardInterrupt", json_wanted)
        except BrokenPipeError:
            raise  # the reader of the output left: end quietly (see main)
        except Exception as error:  # the contract: never a traceback
            code, kind, message = _classify(error)
            return _fail(command, message, code, kind, json_wanted)
    _show_warnings(command, caught)
    return code
