"""``stability simulate``: Monte Carlo of a method's recursion against the exact prediction."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from stability.cli import CommandError
from stability.cli._common import (
    add_method_arguments,
    add_problem_arguments,
    format_table,
    method_from_arguments,
    print_json,
    problem_from_arguments,
)
from stability.numeric.prediction import predicted_mean_square
from stability.numeric.thresholds import critical_learning_rate, spectral_radius
from stability.simulation import DEFAULT_CHUNK_SIZE, simulate

__all__ = ["add_rate_arguments", "learning_rate_from_arguments", "register", "run", "save_plot"]


def add_rate_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """Add ``--lr`` and ``--relative`` (mutually exclusive)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--lr", type=float, help="the learning rate η")
    group.add_argument(
        "--relative", type=float, metavar="FACTOR", help="the learning rate as a multiple of η*"
    )


def learning_rate_from_arguments(arguments: argparse.Namespace, threshold: float) -> float | None:
    """The learning rate named by ``--lr`` or ``--relative`` (``None`` if neither)."""
    if arguments.relative is not None:
        if not math.isfinite(threshold):
            raise CommandError("--relative needs a finite η*; this method is stable at every rate")
        if not arguments.relative > 0:
            raise CommandError(f"--relative must be positive; got {arguments.relative}")
        return arguments.relative * threshold
    return arguments.lr


def save_plot(path: str, draw: Any) -> None:
    """Draw with ``draw(ax)`` on a new figure and save it to ``path``."""
    from stability.plot._backend import new_axes

    try:
        ax = new_axes(None, size=(6.0, 4.0))
    except ImportError as error:
        raise CommandError(str(error)) from None
    draw(ax)
    ax.figure.savefig(path)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand."""
    parser = subparsers.add_parser(
        "simulate",
        help="Monte Carlo of E‖z_t‖² against the exact prediction",
        description="Simulate independent runs of a method's linear recursion (vectorised "
        "over runs) and compare the mean square E‖z_t‖² with its exact finite-time "
        "prediction tr S_t and a confidence band.",
    )
    add_problem_arguments(parser)
    add_method_arguments(parser)
    add_rate_arguments(parser, required=True)
    parser.add_argument("--steps", type=int, default=100, help="horizon (default 100)")
    parser.add_argument("--runs", type=int, default=10_000, help="runs (default 10000)")
    parser.add_argument("--seed", type=int, help="random seed (default: fresh entropy)")
    parser.add_argument(
        "--false-alarm", type=float, default=1e-6, help="band false-alarm probability"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="runs per random stream"
    )
    parser.add_argument("--progress", action="store_true", help="show a progress bar (tqdm)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--plot", metavar="FILE.png", help="save predicted vs simulated E‖z_t‖²")
    parser.set_defaults(handler=run)


def _shown_times(steps: int, count: int = 12) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, steps, count)).astype(int).clip(1, steps))


def run(arguments: argparse.Namespace) -> int:
    """Simulate and print the comparison."""
    problem = problem_from_arguments(arguments)
    method = method_from_arguments(arguments)
    threshold = critical_learning_rate(problem, method)
    lr = learning_rate_from_arguments(arguments, threshold)
    if arguments.progress:
        try:
            import tqdm  # noqa: F401
        except ImportError as error:
            raise CommandError(f"--progress needs tqdm: {error}") from None
    result = simulate(
        problem,
        method,
        lr,
        steps=arguments.steps,
        runs=arguments.runs,
        seed=arguments.seed,
        progress=arguments.progress,
        chunk_size=arguments.chunk_size,
    )
    predicted = predicted_mean_square(problem, method, lr, steps=arguments.steps)
    lower, upper = result.band(arguments.false_alarm)
    inside = (lower <= predicted) & (predicted <= upper)
    radius = spectral_radius(problem, method, lr)
    if arguments.plot:
        from stability.plot.mean_square import plot_mean_square

        save_plot(
            arguments.plot,
            lambda ax: plot_mean_square(
                result, predicted, ax=ax, false_alarm=arguments.false_alarm, typical=True
            ),
        )
    if arguments.json:
        payload = result.to_dict()
        payload.update(
            {
                "critical_learning_rate": threshold,
                "spectral_radius": radius,
                "false_alarm": arguments.false_alarm,
                "predicted": [float(x) for x in predicted],
                "lower": [float(x) for x in lower],
                "upper": [float(x) if math.isfinite(x) else "inf" for x in upper],
                "prediction_inside_band": bool(np.all(inside)),
            }
        )
        print_json(payload)
        return 0
    print(
        f"{result.name} ({method.dynamics().batch.describe()}) at η = {lr:.8g}"
        + (f" = {lr / threshold:.4g} η*" if math.isfinite(threshold) else "")
        + f"; ρ(T) = {radius:.6g} ({'stable' if radius < 1 else 'unstable'} in mean square)"
    )
    print(
        f"{result.runs} runs, {result.steps} steps, seed entropy {result.seed.entropy}; band: "
        f"{result.band_kind()}, false-alarm probability {arguments.false_alarm:g} "
        "over all steps\n"
    )
    rows = []
    for t in _shown_times(result.steps):
        rows.append(
            (
                str(t),
                f"{predicted[t]:.6g}",
                f"{result.mean_square[t]:.6g}",
                f"[{lower[t]:.4g}, {upper[t]:.4g}]",
                "yes" if inside[t] else "NO",
            )
        )
    print(format_table(rows, ("t", "predicted E‖z_t‖²", "simulated", "band", "inside")))
    print(
        f"\nprediction inside the band at every step: {'yes' if np.all(inside) else 'NO'}; "
        f"typical-run growth rate (Lyapunov exponent) {result.lyapunov_exponent:.4g} per step"
    )
    return 0
