"""Shared pieces of the command line: reading problems, choosing methods, printing results."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from stability.cli import CommandError
from stability.examples import regression_example
from stability.methods import GD, SGD, HeavyBall, Method, Nesterov
from stability.problems import Quadratic

__all__ = [
    "add_method_arguments",
    "add_problem_arguments",
    "format_table",
    "load_array",
    "method_from_arguments",
    "print_json",
    "problem_from_arguments",
]

METHODS = ("gd", "sgd", "heavy-ball", "nesterov")


def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive problem sources (``--hessian``, ``--data``, ``--example``, …)."""
    group = parser.add_argument_group("problem (choose one)")
    sources = group.add_mutually_exclusive_group(required=True)
    sources.add_argument("--hessian", metavar="FILE", help="one symmetric PSD d×d Hessian")
    sources.add_argument("--hessians", metavar="FILE", help="per-sample Hessians, shape (n, d, d)")
    sources.add_argument("--data", metavar="FILE", help="data/Jacobian rows, shape (n, d)")
    sources.add_argument("--gram", metavar="FILE", help="Gram (NTK) matrix, shape (n, n)")
    sources.add_argument(
        "--example", action="store_true", help="the built-in example (32 samples, 8 features)"
    )
    group.add_argument("--key", help="array name inside an .npz file (default: its only array)")


def add_method_arguments(parser: argparse.ArgumentParser, *, default: str = "gd") -> None:
    """Add ``--method``, ``--batch-size``, ``--replacement`` and ``--momentum``."""
    group = parser.add_argument_group("method")
    group.add_argument("--method", choices=METHODS, default=default, help=f"default {default}")
    group.add_argument("--batch-size", type=int, help="minibatch size B (default: full batch)")
    group.add_argument(
        "--replacement", action="store_true", help="draw batch indices with replacement"
    )
    group.add_argument("--momentum", type=float, help="momentum β in [0, 1)")


def load_array(path: str, key: str | None = None) -> np.ndarray:
    """Read an array from ``.npy``, ``.npz`` (``key`` or its only array) or ``.csv``."""
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"cannot read {path}: no such file")
    suffix = file.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(file, allow_pickle=False)
        if suffix == ".npz":
            with np.load(file, allow_pickle=False) as archive:
                names = list(archive.keys())
                if key is None:
                    if len(names) != 1:
                        raise CommandError(
                            f"{path} holds {len(names)} arrays ({', '.join(names)}); name one "
                            "with --key"
                        )
                    key = names[0]
                if key not in archive:
                    raise CommandError(f"{path} has no array {key!r}; it has {', '.join(names)}")
                return archive[key]
        if suffix == ".csv":
            return np.loadtxt(file, delimiter=",", ndmin=2)
    except CommandError:
        raise
    except (ValueError, OSError, EOFError) as error:
        raise CommandError(f"cannot read {path}: {str(error).splitlines()[0]}") from None
    raise CommandError(f"cannot read {path}: unknown format {suffix!r} (use .npy, .npz or .csv)")


def problem_from_arguments(arguments: argparse.Namespace) -> Quadratic:
    """Build the :class:`Quadratic` named by the problem arguments."""
    if getattr(arguments, "example", False):
        return regression_example()
    if arguments.hessian:
        return Quadratic(load_array(arguments.hessian, arguments.key))
    if arguments.hessians:
        return Quadratic.from_hessians(load_array(arguments.hessians, arguments.key))
    if arguments.data:
        return Quadratic.from_data(load_array(arguments.data, arguments.key))
    return Quadratic.from_gram(load_array(arguments.gram, arguments.key))


def method_from_arguments(arguments: argparse.Namespace) -> Method:
    """Build the method named by ``--method`` and its options."""
    name = arguments.method
    batch_size = arguments.batch_size
    momentum = arguments.momentum
    if name in ("gd", "sgd") and momentum is not None:
        raise CommandError(f"--momentum does not apply to --method {name}")
    if name == "gd":
        if batch_size is not None:
            raise CommandError("--batch-size does not apply to --method gd (use sgd)")
        return GD()
    if name == "sgd":
        if batch_size is None:
            raise CommandError("--method sgd needs --batch-size")
        return SGD(batch_size, replacement=arguments.replacement)
    if momentum is None:
        raise CommandError(f"--method {name} needs --momentum")
    kind = HeavyBall if name == "heavy-ball" else Nesterov
    return kind(momentum, batch_size=batch_size, replacement=arguments.replacement)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, np.generic):
        return value.item()
    return value


def print_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as JSON (infinities as the string ``"inf"``)."""
    print(json.dumps({key: _plain(value) for key, value in payload.items()}, indent=2))


def format_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A plain-text table with aligned columns."""
    table = [header, *rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
