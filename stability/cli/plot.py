"""``stability plot``: stability diagrams written to PNG, SVG or PDF files.

Subcommands (one per figure of :mod:`stability.plot`):

* ``radius``: spectral radius of the second-moment operator against the learning rate,
  for several batch sizes, with the exact thresholds marked;
* ``phase``: the (learning rate, batch size) phase diagram, with the exact boundary and,
  with ``--monte-carlo``, simulated verdicts as dots;
* ``variational-edge``: the expected-descent edge of variational GD against ``z``;
* ``mean-square``: predicted against simulated ``E‖z_t‖²`` at one or more learning rates.

matplotlib (the ``plot`` extra) is needed only when a figure is drawn.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stability.cli import CommandError
from stability.cli._common import (
    add_method_arguments,
    add_problem_arguments,
    method_from_arguments,
    problem_from_arguments,
)
from stability.methods import GD, SGD, HeavyBall, Method, Nesterov

__all__ = [
    "FORMATS",
    "register",
    "run_mean_square",
    "run_phase",
    "run_radius",
    "run_variational_edge",
]

#: File suffixes the figures can be written as.
FORMATS = (".png", ".svg", ".pdf")
_PLOT_METHODS = ("sgd", "heavy-ball", "nesterov")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand and its figures."""
    parser = subparsers.add_parser(
        "plot",
        help="stability diagrams as PNG, SVG or PDF",
        description="Draw a stability diagram and write it to a file; the format follows the "
        "suffix of --output (.png, .svg or .pdf). Needs the plot extra (matplotlib).",
    )
    figures = parser.add_subparsers(dest="figure", metavar="FIGURE")
    figures.required = True

    radius = figures.add_parser(
        "radius",
        help="spectral radius against the learning rate, exact thresholds marked",
        description="Spectral radius ρ(T(η)) of the second-moment operator against the "
        "learning rate η, one curve per batch size, with each exact threshold η* marked.",
    )
    add_problem_arguments(radius)
    _add_method_family(radius)
    radius.add_argument(
        "--full-batch", action="store_true", help="add the full-batch curve (GD or momentum)"
    )
    radius.add_argument("--lr-max", type=float, help="largest learning rate on the axis")
    radius.add_argument("--points", type=int, default=150, help="grid size (default 150)")
    _add_output(radius)
    radius.set_defaults(handler=run_radius)

    phase = figures.add_parser(
        "phase",
        help="(learning rate, batch size) phase diagram",
        description="The (learning rate, batch size) plane with the exact mean-square "
        "boundary η*(B) and the stable region shaded.",
    )
    add_problem_arguments(phase)
    _add_method_family(phase)
    phase.add_argument(
        "--lrs", type=float, nargs="+", metavar="LR", help="learning rates of the grid columns"
    )
    simulation = phase.add_argument_group("Monte Carlo verdicts")
    simulation.add_argument(
        "--monte-carlo",
        action="store_true",
        help="add a dot per grid point with the verdict of a seeded simulation "
        "(stability check; false-alarm probability 1e-6 per point)",
    )
    simulation.add_argument("--runs", type=int, default=2000, help="runs per check (2000)")
    simulation.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    _add_output(phase)
    phase.set_defaults(handler=run_phase)

    edge = figures.add_parser(
        "variational-edge",
        help="variational GD's expected-descent edge against z",
        description="The curvature λ_edge(η, z) below which a variational GD step decreases "
        "the expected loss, against z = S c / σ², with GD's edge 2/η for comparison.",
    )
    edge.add_argument(
        "--lr", type=float, nargs="+", required=True, metavar="LR", help="learning rates η"
    )
    _add_output(edge)
    edge.set_defaults(handler=run_variational_edge)

    mean_square = figures.add_parser(
        "mean-square",
        help="predicted against simulated E‖z_t‖²",
        description="Simulate the method's recursion at one or more learning rates and draw "
        "the simulated E‖z_t‖² with its confidence band against the exact prediction tr S_t, "
        "and the typical run exp E log ‖z_t‖².",
    )
    add_problem_arguments(mean_square)
    add_method_arguments(mean_square)
    rates = mean_square.add_mutually_exclusive_group(required=True)
    rates.add_argument("--lr", type=float, nargs="+", metavar="LR", help="learning rates η")
    rates.add_argument(
        "--relative", type=float, nargs="+", metavar="FACTOR", help="multiples of η*"
    )
    mean_square.add_argument("--steps", type=int, default=20, help="horizon (default 20)")
    mean_square.add_argument("--runs", type=int, default=10_000, help="runs (default 10000)")
    mean_square.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    _add_output(mean_square)
    mean_square.set_defaults(handler=run_mean_square)


def _add_method_family(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("method")
    group.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        required=True,
        metavar="B",
        help="minibatch sizes, one curve or row each",
    )
    group.add_argument("--method", choices=_PLOT_METHODS, default="sgd", help="default sgd")
    group.add_argument(
        "--replacement", action="store_true", help="draw batch indices with replacement"
    )
    group.add_argument("--momentum", type=float, help="momentum β in [0, 1) (momentum methods)")


def _add_output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--output", "-o", required=True, metavar="FILE", help=".png, .svg or .pdf")
    group.add_argument("--dpi", type=int, default=150, help="resolution of PNG files (150)")
    group.add_argument("--title", help="a title for the figure")


def _method_factory(arguments: argparse.Namespace) -> Callable[[int | None], Method]:
    name, momentum, replacement = arguments.method, arguments.momentum, arguments.replacement
    if name == "sgd":
        if momentum is not None:
            raise CommandError("--momentum does not apply to --method sgd")

        def plain(batch_size: int | None) -> Method:
            return GD() if batch_size is None else SGD(batch_size, replacement=replacement)

        return plain
    if momentum is None:
        raise CommandError(f"--method {name} needs --momentum")
    kind = HeavyBall if name == "heavy-ball" else Nesterov

    def with_momentum(batch_size: int | None) -> Method:
        return kind(momentum, batch_size=batch_size, replacement=replacement)

    return with_momentum


def _output_path(arguments: argparse.Namespace) -> Path:
    path = Path(arguments.output)
    if path.suffix.lower() not in FORMATS:
        raise CommandError(f"--output must end in {', '.join(FORMATS)}; got {arguments.output!r}")
    if arguments.dpi is not None and arguments.dpi < 1:
        raise CommandError(f"--dpi must be a positive integer; got {arguments.dpi}")
    return path


def _plotting() -> Any:
    """The :mod:`stability.plot` package, after checking that matplotlib is installed."""
    from stability.plot import _backend

    try:
        _backend.require_matplotlib()
    except ImportError as error:
        raise CommandError(str(error)) from None
    import stability.plot

    return stability.plot


def _save(ax: Any, arguments: argparse.Namespace, path: Path) -> int:
    if arguments.title:
        ax.set_title(arguments.title)
    ax.figure.savefig(path, dpi=arguments.dpi)
    print(f"wrote {path}")
    return 0


def run_radius(arguments: argparse.Namespace) -> int:
    """Draw the spectral radius curves and write the file."""
    path = _output_path(arguments)
    plot = _plotting()
    problem = problem_from_arguments(arguments)
    factory = _method_factory(arguments)
    methods = [factory(size) for size in arguments.batch_sizes]
    if arguments.full_batch:
        methods.append(factory(None))
    lrs = None
    if arguments.lr_max is not None:
        if not arguments.lr_max > 0:
            raise CommandError(f"--lr-max must be positive; got {arguments.lr_max}")
        if arguments.points < 2:
            raise CommandError(f"--points must be at least 2; got {arguments.points}")
        lrs = np.linspace(0.0, arguments.lr_max, arguments.points + 1)[1:]
    ax = plot.spectral_radius_curves(problem, methods, lrs, points=arguments.points)
    return _save(ax, arguments, path)


def run_phase(arguments: argparse.Namespace) -> int:
    """Draw the phase diagram and write the file."""
    path = _output_path(arguments)
    plot = _plotting()
    problem = problem_from_arguments(arguments)
    verdict = None
    if arguments.monte_carlo:
        verdict = plot.monte_carlo_verdict(problem, runs=arguments.runs, seed=arguments.seed)
    ax = plot.phase_diagram(
        problem,
        arguments.batch_sizes,
        arguments.lrs,
        method=_method_factory(arguments),
        verdict=verdict,
    )
    return _save(ax, arguments, path)


def run_variational_edge(arguments: argparse.Namespace) -> int:
    """Draw the variational edge against z and write the file."""
    path = _output_path(arguments)
    plot = _plotting()
    ax = plot.variational_edge_curves(arguments.lr)
    return _save(ax, arguments, path)


def run_mean_square(arguments: argparse.Namespace) -> int:
    """Simulate, predict and draw ``E‖z_t‖²``, then write the file."""
    from stability.numeric.prediction import predicted_mean_square
    from stability.numeric.thresholds import critical_learning_rate
    from stability.simulation import simulate

    path = _output_path(arguments)
    if arguments.seed < 0:
        raise CommandError(f"--seed must be a non-negative integer; got {arguments.seed}")
    plot = _plotting()
    problem = problem_from_arguments(arguments)
    method = method_from_arguments(arguments)
    if arguments.lr is not None:
        rates = [(lr, f"η = {lr:g}") for lr in arguments.lr]
    else:
        edge = critical_learning_rate(problem, method)
        if edge == float("inf"):
            raise CommandError("--relative needs a finite η*; this problem is stable at every η")
        rates = [(factor * edge, f"η = {factor:g} η*") for factor in arguments.relative]
    ax = None
    for index, (lr, label) in enumerate(rates):
        seed = np.random.SeedSequence(arguments.seed, spawn_key=(index,))
        result = simulate(
            problem, method, lr, steps=arguments.steps, runs=arguments.runs, seed=seed
        )
        exact = predicted_mean_square(problem, method, lr, steps=arguments.steps)
        ax = plot.plot_mean_square(result, exact, typical=True, ax=ax, label=label)
    return _save(ax, arguments, path)
