"""``stability tour``: critical learning rates of every method on the built-in example."""

from __future__ import annotations

import argparse

from stability.cli._common import format_table, print_json
from stability.examples import regression_example
from stability.methods import GD, SGD, HeavyBall, Nesterov
from stability.numeric.thresholds import critical_learning_rate

__all__ = ["register", "run", "tour_rows"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tour`` subcommand."""
    parser = subparsers.add_parser(
        "tour",
        help="critical learning rates on the built-in example",
        description="Print exact mean-square critical learning rates of GD, SGD at several "
        "batch sizes (with and without replacement) and momentum on the built-in example "
        "(least squares, 32 samples, 8 features).",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def tour_rows() -> list[tuple[str, str, float]]:
    """``(method, batch, η*)`` for the methods of the tour."""
    problem = regression_example()
    methods = [GD()]
    methods += [SGD(batch) for batch in (1, 4, 16, 32)]
    methods += [SGD(batch, replacement=True) for batch in (1, 4, 16)]
    methods += [HeavyBall(0.9), Nesterov(0.9), HeavyBall(0.9, batch_size=8)]
    rows = []
    for method in methods:
        dynamics = method.dynamics()
        label = dynamics.name
        if hasattr(method, "momentum"):
            label += f" β={method.momentum}"
        rows.append((label, dynamics.batch.describe(), critical_learning_rate(problem, method)))
    return rows


def run(arguments: argparse.Namespace) -> int:
    """Print the tour."""
    problem = regression_example()
    rows = tour_rows()
    if arguments.json:
        print_json(
            {
                "sharpness": problem.sharpness,
                "rates": [
                    {"method": method, "batch": batch, "critical_learning_rate": rate}
                    for method, batch, rate in rows
                ],
            }
        )
        return 0
    print(
        f"Built-in example: least squares, n={problem.samples} samples, d={problem.dimension} "
        f"features, sharpness λ_max(H) = {problem.sharpness:.6g}\n"
        "Exact mean-square critical learning rates η* (shared/theory.md §3–§4):\n"
    )
    print(format_table([(m, b, f"{r:.8g}") for m, b, r in rows], ("method", "batch", "η*")))
    return 0
