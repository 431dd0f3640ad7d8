"""``stability critical-lr``: the exact mean-square critical learning rate of a method."""

from __future__ import annotations

import argparse

from stability.cli._common import (
    add_method_arguments,
    add_problem_arguments,
    format_table,
    method_from_arguments,
    print_json,
    problem_from_arguments,
)
from stability.numeric.thresholds import critical_learning_rate

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``critical-lr`` subcommand."""
    parser = subparsers.add_parser(
        "critical-lr",
        help="exact mean-square critical learning rate",
        description="Print the exact mean-square critical learning rate η* of a method on a "
        "problem read from .npy, .npz or .csv.",
    )
    add_problem_arguments(parser)
    add_method_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Compute and print the threshold."""
    problem = problem_from_arguments(arguments)
    method = method_from_arguments(arguments)
    threshold = critical_learning_rate(problem, method)
    dynamics = method.dynamics()
    payload = {
        "method": dynamics.name,
        "batch": dynamics.batch.describe(),
        "momentum": getattr(method, "momentum", None),
        "samples": problem.samples,
        "dimension": problem.dimension,
        "sharpness": problem.sharpness,
        "critical_learning_rate": threshold,
        "gd_edge": 2.0 / problem.sharpness if problem.sharpness > 0 else float("inf"),
    }
    if arguments.json:
        print_json(payload)
        return 0
    rows = [
        (key.replace("_", " "), f"{value:.10g}" if isinstance(value, float) else str(value))
        for key, value in payload.items()
        if value is not None
    ]
    print(format_table(rows, ("quantity", "value")))
    return 0
