"""``stability check``: numeric, symbolic and Monte Carlo layers against each other."""

from __future__ import annotations

import argparse
import json

from stability.checks import check
from stability.cli._common import (
    add_method_arguments,
    add_problem_arguments,
    method_from_arguments,
    problem_from_arguments,
)
from stability.cli.simulate import add_rate_arguments, learning_rate_from_arguments, save_plot
from stability.numeric.thresholds import critical_learning_rate
from stability.simulation import DEFAULT_CHUNK_SIZE

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check`` subcommand."""
    parser = subparsers.add_parser(
        "check",
        help="cross-check the numeric, symbolic and simulation layers",
        description="Compute the exact mean-square verdict at a learning rate (default: just "
        "below and just above η*) and check that the numeric layer, the symbolic layer (small "
        "problems) and Monte Carlo simulation agree at a stated false-alarm probability. "
        "Exit code 0 when they agree, 1 when they do not.",
    )
    add_problem_arguments(parser)
    add_method_arguments(parser)
    add_rate_arguments(parser, required=False)
    parser.add_argument("--runs", type=int, default=20_000, help="runs per simulation")
    parser.add_argument("--seed", type=int, help="random seed (default: fresh entropy)")
    parser.add_argument(
        "--false-alarm", type=float, default=1e-6, help="false-alarm probability per rate"
    )
    parser.add_argument("--horizon", type=int, help="trajectory length (default: automatic)")
    parser.add_argument(
        "--margin", type=float, default=0.05, help="relative distance from η* without --lr"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="runs per random stream"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a report")
    parser.add_argument("--plot", metavar="FILE.png", help="save predicted vs simulated E‖z_t‖²")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Run the checks; exit code 1 when the layers disagree."""
    problem = problem_from_arguments(arguments)
    method = method_from_arguments(arguments)
    lr = None
    if arguments.lr is not None or arguments.relative is not None:
        lr = learning_rate_from_arguments(arguments, critical_learning_rate(problem, method))
    report = check(
        problem,
        method,
        lr,
        seed=arguments.seed,
        runs=arguments.runs,
        horizon=arguments.horizon,
        false_alarm=arguments.false_alarm,
        margin=arguments.margin,
        chunk_size=arguments.chunk_size,
    )
    if arguments.plot:
        from stability.plot.mean_square import plot_mean_square

        def draw(ax):
            for rate in report.rates:
                plot_mean_square(
                    rate.simulation,
                    rate.predicted,
                    ax=ax,
                    false_alarm=arguments.false_alarm,
                    label=f"η={rate.learning_rate:.4g}",
                )

        save_plot(arguments.plot, draw)
    if arguments.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report)
    return 0 if report.agrees else 1
