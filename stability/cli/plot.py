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
    MAX_PIXELS,
    add_json_argument,
    add_method_arguments,
    add_output_argument,
    add_problem_arguments,
    add_progress_argument,
    add_seed_argument,
    check_workload,
    count,
    finite_float,
    method_from_arguments,
    print_json,
    problem_from_arguments,
    progress_from_arguments,
)
from stability.cli.simulate import check_output_path, simulation_work
from stability.methods import registry

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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand and its figures.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The command line's subcommands.
    """
    parser = subparsers.add_parser(
        "plot",
        help="stability diagrams as PNG, SVG or PDF",
        description="Draw a stability diagram and write it to a file; the format follows the "
        "suffix of --output (.png, .svg or .pdf). Needs the plot extra (matplotlib).",
    )
    figures = parser.add_subparsers(dest="figure", metavar="FIGURE", parser_class=type(parser))
    figures.required = True

    radius = figures.add_parser(
        "radius",
        help="spectral radius against the learning rate, exact thresholds marked",
        description="Spectral radius ρ(T(η)) of the second-moment operator against the "
        "learning rate η, one curve per method and batch size, with each exact threshold η* "
        "marked. Without --batch-size: the full-batch curve (GD for sgd), which also works "
        "for a single --hessian.",
    )
    add_problem_arguments(radius)
    add_method_arguments(
        radius, default="sgd", multiple=True, batch_default_help="default: the full batch"
    )
    radius.add_argument(
        "--full-batch", action="store_true", help="add the full-batch curve (GD or momentum)"
    )
    radius.add_argument(
        "--lr-max", type=finite_float("--lr-max"), help="largest learning rate on the axis"
    )
    radius.add_argument(
        "--points", type=count("--points"), default=150, help="grid size (default 150)"
    )
    _add_output(radius)
    radius.set_defaults(handler=run_radius)

    phase = figures.add_parser(
        "phase",
        help="(learning rate, batch size) phase diagram",
        description="The (learning rate, batch size) plane with the exact mean-square "
        "boundary η*(B) and the stable region shaded.",
    )
    add_problem_arguments(phase)
    add_method_arguments(
        phase, default="sgd", multiple=True, batch_default_help="required: the rows"
    )
    phase.add_argument(
        "--lrs",
        type=finite_float("--lrs"),
        nargs="+",
        metavar="LR",
        help="learning rates of the grid columns",
    )
    simulation = phase.add_argument_group("Monte Carlo verdicts")
    simulation.add_argument(
        "--monte-carlo",
        action="store_true",
        help="add a dot per grid point with the verdict of a seeded simulation "
        "(stability check; false-alarm probability 1e-6 per point)",
    )
    simulation.add_argument(
        "--runs", type=count("--runs"), default=2000, help="runs per check (default 2000)"
    )
    add_seed_argument(simulation)
    _add_output(phase)
    phase.set_defaults(handler=run_phase)

    edge = figures.add_parser(
        "variational-edge",
        help="variational GD's expected-descent edge against z",
        description="The curvature λ_edge(η, z) below which a variational GD step decreases "
        "the expected loss, against z = S c / σ², with GD's edge 2/η for comparison.",
    )
    edge.add_argument(
        "--lr",
        type=finite_float("--lr"),
        nargs="+",
        required=True,
        metavar="LR",
        help="learning rates η",
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
    rates.add_argument(
        "--lr", type=finite_float("--lr"), nargs="+", metavar="LR", help="learning rates η"
    )
    rates.add_argument(
        "--relative",
        type=finite_float("--relative"),
        nargs="+",
        metavar="FACTOR",
        help="multiples of η*",
    )
    mean_square.add_argument(
        "--steps", type=count("--steps"), default=20, help="horizon (default 20)"
    )
    mean_square.add_argument(
        "--runs", type=count("--runs"), default=10_000, help="runs (default 10000)"
    )
    add_seed_argument(mean_square)
    add_progress_argument(mean_square)
    _add_output(mean_square)
    mean_square.set_defaults(handler=run_mean_square)


def _add_output(parser: argparse.ArgumentParser) -> None:
    add_output_argument(parser, required=True)
    parser.add_argument("--title", help="a title for the figure")
    add_json_argument(parser)


def _options(arguments: argparse.Namespace, names: list[str]) -> dict[str, dict[str, Any]]:
    """The option values of each named method, after checking they apply."""
    given = {}
    for flag, option in registry.flags().items():
        value = getattr(arguments, flag[2:].replace("-", "_"), None)
        if value is not None:
            given[option.keyword] = (flag, value)
    specs = [registry.get(name) for name in names]
    for keyword, (flag, _) in given.items():
        if not any(keyword in {o.keyword for o in spec.options} for spec in specs):
            raise CommandError(f"{flag} does not apply to --method {' '.join(names)}")
    result = {}
    for spec in specs:
        values = {}
        for option in spec.options:
            if option.keyword in given:
                values[option.keyword] = given[option.keyword][1]
            elif option.required:
                raise CommandError(f"--method {spec.name} needs {option.flag}")
        result[spec.name] = values
    return result


def _method_factory(arguments: argparse.Namespace, name: str, options: dict[str, Any]) -> Callable[
    [int | None], Any
]:
    """``batch_size -> method`` for one registry method (full batch for ``None``)."""
    spec = registry.get(name)
    replacement = arguments.replacement

    def build(batch_size: int | None) -> Any:
        if spec.batch == "none":
            return spec.build(**options)
        if batch_size is None and spec.batch == "required":
            return registry.get("gd").build()  # the full batch of a minibatch method
        return spec.build(batch_size=batch_size, replacement=replacement, **options)

    return build


def _names(arguments: argparse.Namespace) -> list[str]:
    names = arguments.method if isinstance(arguments.method, list) else [arguments.method]
    return list(dict.fromkeys(names))


def _output_path(arguments: argparse.Namespace) -> Path:
    path = check_output_path(arguments.output, FORMATS)
    assert path is not None  # --output is required
    width, height = 6.0, 4.5
    if arguments.dpi * arguments.dpi * width * height > MAX_PIXELS:
        raise CommandError(f"--dpi {arguments.dpi} makes a figure of too many pixels")
    return path


def _plotting() -> Any:
    """The :mod:`stability.plot` package, after checking that matplotlib is installed."""
    from stability.plot import require_matplotlib

    try:
        require_matplotlib()
    except ImportError as error:
        raise CommandError(str(error)) from None
    import stability.plot

    return stability.plot


def _save(ax: Any, arguments: argparse.Namespace, path: Path) -> int:
    if arguments.title:
        ax.set_title(arguments.title)
    ax.figure.savefig(path, dpi=arguments.dpi)
    if arguments.json:
        print_json({"figure": arguments.figure, "output": str(path), "dpi": arguments.dpi})
    else:
        print(f"wrote {path}")
    return 0


def run_radius(arguments: argparse.Namespace) -> int:
    """Draw the spectral radius curves and write the file.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    """
    path = _output_path(arguments)
    plot = _plotting()
    problem = problem_from_arguments(arguments)
    names = _names(arguments)
    options = _options(arguments, names)
    sizes = list(arguments.batch_size or [])
    if arguments.full_batch or not sizes:
        sizes.append(None)
    sizes = list(dict.fromkeys(sizes))
    methods = []
    for name in names:
        factory = _method_factory(arguments, name, options[name])
        chosen = [None] if registry.get(name).batch == "none" else sizes
        methods += [factory(size) for size in chosen]
    methods = list(dict.fromkeys(methods))
    lrs = None
    if arguments.lr_max is not None:
        if not arguments.lr_max > 0:
            raise CommandError(f"--lr-max must be positive; got {arguments.lr_max}")
        lrs = np.linspace(0.0, arguments.lr_max, arguments.points + 1)[1:]
    dimension = problem.dimension
    check_workload(
        float(arguments.points) * len(methods) * (4 * dimension) ** 3, "--points or --method"
    )
    ax = plot.spectral_radius_curves(problem, methods, lrs, points=arguments.points)
    return _save(ax, arguments, path)


def run_phase(arguments: argparse.Namespace) -> int:
    """Draw the phase diagram and write the file.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    """
    path = _output_path(arguments)
    plot = _plotting()
    names = _names(arguments)
    if len(names) != 1:
        raise CommandError("plot phase takes one --method (its rows are batch sizes)")
    if registry.get(names[0]).batch == "none":
        raise CommandError(f"plot phase needs a method with a batch size; {names[0]} has none")
    if not arguments.batch_size:
        raise CommandError("plot phase needs --batch-size (one row per batch size)")
    problem = problem_from_arguments(arguments)
    options = _options(arguments, names)
    factory = _method_factory(arguments, names[0], options[names[0]])
    verdict = None
    if arguments.monte_carlo:
        columns = len(arguments.lrs) if arguments.lrs else 12
        check_workload(
            len(arguments.batch_size)
            * columns
            * simulation_work(problem, factory(arguments.batch_size[0] or 1), arguments.runs, 30),
            "--runs, --lrs or --batch-size",
        )
        verdict = plot.monte_carlo_verdict(problem, runs=arguments.runs, seed=arguments.seed)
    ax = plot.phase_diagram(
        problem,
        arguments.batch_size,
        arguments.lrs,
        method=factory,
        verdict=verdict,
    )
    return _save(ax, arguments, path)


def run_variational_edge(arguments: argparse.Namespace) -> int:
    """Draw the variational edge against z and write the file.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    """
    path = _output_path(arguments)
    plot = _plotting()
    ax = plot.variational_edge_curves(arguments.lr)
    return _save(ax, arguments, path)


def run_mean_square(arguments: argparse.Namespace) -> int:
    """Simulate, predict and draw ``E‖z_t‖²``, then write the file.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    """
    from stability.numeric import critical_learning_rate, predicted_mean_square
    from stability.simulation import simulate

    path = _output_path(arguments)
    plot = _plotting()
    problem = problem_from_arguments(arguments)
    method = method_from_arguments(arguments)
    count_rates = len(arguments.lr or arguments.relative)
    check_workload(
        count_rates * simulation_work(problem, method, arguments.runs, arguments.steps),
        "--runs, --steps or the number of rates",
    )
    if arguments.lr is not None:
        rates = [(lr, f"η = {lr:g}") for lr in arguments.lr]
    else:
        edge = critical_learning_rate(problem, method)
        if edge == float("inf"):
            raise CommandError("--relative needs a finite η*; this problem is stable at every η")
        rates = [(factor * edge, f"η = {factor:g} η*") for factor in arguments.relative]
    ax = None
    meter = progress_from_arguments(arguments, "plot mean-square")
    for index, (lr, label) in enumerate(rates):
        seed = np.random.SeedSequence(arguments.seed, spawn_key=(index,))
        result = simulate(
            problem,
            method,
            lr,
            steps=arguments.steps,
            runs=arguments.runs,
            seed=seed,
            progress=meter,
        )
        exact = predicted_mean_square(problem, method, lr, steps=arguments.steps)
        ax = plot.plot_mean_square(result, exact, typical=True, ax=ax, label=label)
    return _save(ax, arguments, path)
