"""``stability simulate``: Monte Carlo of a method's recursion against the exact prediction."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from stability.cli import CommandError
from stability.cli._common import (
    add_json_argument,
    add_method_arguments,
    add_output_argument,
    add_problem_arguments,
    add_progress_argument,
    add_seed_argument,
    check_workload,
    count,
    finite_float,
    format_table,
    method_from_arguments,
    print_json,
    progress_from_arguments,
)

__all__ = [
    "add_rate_arguments",
    "check_output_path",
    "learning_rate_from_arguments",
    "register",
    "run",
    "save_plot",
    "simulation_work",
]

#: File suffixes figures are written as.
FIGURE_FORMATS = (".png", ".svg", ".pdf")


def add_rate_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """Add ``--lr`` and ``--relative`` (mutually exclusive).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    required : bool
        Whether one of them must be given.
    """
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--lr", type=finite_float("--lr"), help="the learning rate η")
    group.add_argument(
        "--relative",
        type=finite_float("--relative"),
        metavar="FACTOR",
        help="the learning rate as a multiple of η*",
    )


def add_false_alarm_argument(parser: argparse.ArgumentParser, default: float = 1e-6) -> None:
    """Add ``--false-alarm`` (a probability in (0, 1)).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    default : float
        Its default.
    """
    parser.add_argument(
        "--false-alarm",
        type=finite_float("--false-alarm"),
        default=default,
        help=f"false-alarm probability of the confidence band, in (0, 1) (default {default:g})",
    )


def check_false_alarm(value: float) -> None:
    """Refuse a false-alarm probability outside ``(0, 1)``.

    Parameters
    ----------
    value : float
        The probability.
    """
    if not 0.0 < value < 1.0:
        raise CommandError(f"--false-alarm must be a probability in (0, 1); got {value:g}")


def learning_rate_from_arguments(arguments: argparse.Namespace, threshold: float) -> float | None:
    """The learning rate named by ``--lr`` or ``--relative`` (``None`` if neither).

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    threshold : float
        ``η*``, the unit of ``--relative``.
    """
    if arguments.relative is not None:
        if not math.isfinite(threshold):
            raise CommandError("--relative needs a finite η*; this method is stable at every rate")
        if not arguments.relative > 0:
            raise CommandError(f"--relative must be positive; got {arguments.relative}")
        lr = arguments.relative * threshold
        if not math.isfinite(lr) or lr <= 0:
            raise CommandError(
                f"--relative {arguments.relative:g} times η* = {threshold:.6g} is not a "
                "representable positive learning rate"
            )
        return lr
    return arguments.lr


def check_output_path(path: str | None, formats: tuple[str, ...] = FIGURE_FORMATS) -> Path | None:
    """Check an ``--output`` file before any work: a known suffix, a writable folder.

    Parameters
    ----------
    path : str or None
        The file name given (``None``: no file asked for).
    formats : tuple of str
        Accepted suffixes.

    Examples
    --------
    >>> from stability.cli.simulate import check_output_path
    >>> check_output_path("figure.txt")
    Traceback (most recent call last):
    ...
    stability.cli.CommandError: --output must end in .png, .svg or .pdf; got 'figure.txt'
    """
    if path is None:
        return None
    if not path:
        raise CommandError("--output: empty file name")
    file = Path(path)
    if file.is_dir() or path.endswith(("/", "\\")):
        raise CommandError(f"--output {path!r} is a directory; give a file name such as fig.png")
    if file.suffix.lower() not in formats:
        allowed = ", ".join(formats[:-1]) + f" or {formats[-1]}"
        raise CommandError(f"--output must end in {allowed}; got {path!r}")
    parent = file.parent if str(file.parent) else Path(".")
    if not parent.is_dir():
        raise CommandError(
            f"cannot write --output {path!r}: No such file or directory (the folder "
            f"{str(parent)!r} does not exist)"
        )
    if file.exists() and not file.is_file():
        raise CommandError(f"--output {path!r} exists and is not a regular file")
    return file


def save_plot(path: str | Path, draw: Any, *, dpi: int = 150) -> None:
    """Draw with ``draw(ax)`` on a new figure in the package's style and save it.

    Parameters
    ----------
    path : str or Path
        The file (checked with :func:`check_output_path`).
    draw : callable
        ``draw(ax)`` draws on the axes.
    dpi : int
        Resolution of PNG files.
    """
    from stability.plot import new_axes

    ax = new_axes(None)
    draw(ax)
    ax.figure.savefig(path, dpi=dpi)


def simulation_work(problem: Any, method: Any, runs: int, steps: int) -> float:
    """Estimated multiply-adds of a simulation and its exact prediction.

    Parameters
    ----------
    problem : Quadratic
        The problem.
    method : Method
        The method.
    runs, steps : int
        The sizes asked for.
    """
    dimension = problem.dimension
    blocks = len(method.dynamics().state)
    samples = problem.samples or dimension
    per_run_step = blocks * dimension * min(dimension, samples) + blocks * dimension
    prediction = float(steps) * (blocks * dimension) ** 2 * min(dimension, samples)
    return float(runs) * float(steps) * per_run_step + prediction


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The command line's subcommands.
    """
    from stability.cli._common import LIMITS

    parser = subparsers.add_parser(
        "simulate",
        help="Monte Carlo of E‖z_t‖² against the exact prediction",
        description="Simulate independent runs of a method's linear recursion (vectorised "
        "over runs) and compare the mean square E‖z_t‖² with its exact finite-time "
        "prediction tr S_t and a confidence band. "
        f"Limits: --runs ≤ {LIMITS['--runs'][1]:.0e}, --steps ≤ {LIMITS['--steps'][1]:.0e}.",
    )
    add_problem_arguments(parser)
    add_method_arguments(parser)
    add_rate_arguments(parser, required=True)
    parser.add_argument("--steps", type=count("--steps"), default=100, help="horizon (default 100)")
    parser.add_argument(
        "--runs", type=count("--runs"), default=10_000, help="runs (default 10000)"
    )
    add_seed_argument(parser)
    add_false_alarm_argument(parser)
    parser.add_argument(
        "--chunk-size",
        type=count("--chunk-size"),
        default=None,
        help="runs per random stream (default: the library's)",
    )
    add_progress_argument(parser)
    add_json_argument(parser)
    add_output_argument(parser, required=False, what="predicted against simulated E‖z_t‖²")
    parser.set_defaults(handler=run)


def _shown_times(steps: int, count: int = 12) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, steps, count)).astype(int).clip(1, steps))


def band_note(predicted: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> str | None:
    """A sentence when the band is too wide to test the prediction, else ``None``.

    The band says nothing at a step where it spans more than 100 times the predicted value
    (guaranteed bands widen quickly with the horizon when the recursion can grow).

    Parameters
    ----------
    predicted, lower, upper : ndarray
        The exact values and the band, one per step ``t = 0..steps``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.cli.simulate import band_note
    >>> band_note(np.ones(3), np.zeros(3), np.array([1.5, 2.0, 1e9]))[:45]
    'from step 2 on the band spans more than 100 t'
    """
    with np.errstate(all="ignore"):
        scale = np.maximum(np.abs(predicted), 1e-300)
        width = (upper - lower) / scale
    wide = ~(np.isfinite(width) & (width <= 100.0))
    wide[0] = False
    if not wide.any():
        return None
    first = int(np.argmax(wide))
    return (
        f"from step {first} on the band spans more than 100 times the predicted value, so it "
        "tests nothing there; use more --runs or fewer --steps"
    )


def run(arguments: argparse.Namespace) -> int:
    """Simulate and print the comparison.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    """
    from stability.numeric import critical_learning_rate, predicted_mean_square, spectral_radius
    from stability.progress import StatusLine
    from stability.simulation import DEFAULT_CHUNK_SIZE, simulate

    output = check_output_path(arguments.output)
    check_false_alarm(arguments.false_alarm)
    from stability.cli._common import scale_back, scaled_problem_from_arguments
    from stability.errors import OutOfRangeError

    # the dynamics depend on η H only: simulate the problem divided by 2^e at η 2^e
    problem, exponent = scaled_problem_from_arguments(arguments)
    method = method_from_arguments(arguments)
    check_workload(
        simulation_work(problem, method, arguments.runs, arguments.steps), "--runs or --steps"
    )
    meter = progress_from_arguments(arguments, "simulate")
    with StatusLine("simulate: η*", enabled=meter.enabled):
        scaled_threshold = critical_learning_rate(problem, method)
    if arguments.relative is not None:
        scaled_lr = learning_rate_from_arguments(arguments, scaled_threshold)
        lr = scale_back(scaled_lr, -exponent, "the learning rate")
    else:
        lr = arguments.lr
        scaled_lr = scale_back(lr, exponent, "--lr times the problem's scale") if lr > 0 else lr
    try:
        threshold = scale_back(scaled_threshold, -exponent, "η*")
    except OutOfRangeError:
        threshold = math.nan
    result = simulate(
        problem,
        method,
        scaled_lr,
        steps=arguments.steps,
        runs=arguments.runs,
        seed=arguments.seed,
        progress=meter,
        chunk_size=arguments.chunk_size or DEFAULT_CHUNK_SIZE,
    )
    with StatusLine("simulate: the exact prediction", enabled=meter.enabled):
        predicted = predicted_mean_square(problem, method, scaled_lr, steps=arguments.steps)
        radius = spectral_radius(problem, method, scaled_lr)
    lower, upper = result.band(arguments.false_alarm)
    with np.errstate(invalid="ignore"):
        inside = (lower <= predicted) & (predicted <= upper)
    note = band_note(predicted, lower, upper)
    if output is not None:
        from stability.plot import plot_mean_square

        save_plot(
            output,
            lambda ax: plot_mean_square(
                result, predicted, ax=ax, false_alarm=arguments.false_alarm, typical=True
            ),
            dpi=arguments.dpi,
        )
    if arguments.json:
        from stability.cli._common import problem_fields

        payload = result.to_dict()
        payload.update(problem_fields(problem))
        try:
            payload["sharpness"] = scale_back(problem.sharpness, exponent, "λ_max(H)")
        except OutOfRangeError:
            payload["sharpness"] = None
        payload.update(
            {
                "learning_rate": lr,
                "critical_learning_rate": threshold,
                "spectral_radius": radius,
                "false_alarm": arguments.false_alarm,
                "predicted": predicted,
                "lower": lower,
                "upper": upper,
                "prediction_inside_band": bool(np.all(inside)),
                "band_informative": note is None,
            }
        )
        print_json(payload)
        return 0
    print(
        f"{result.name} ({method.dynamics().batch.describe()}) at η = {lr:.8g}"
        + (f" = {scaled_lr / scaled_threshold:.4g} η*" if math.isfinite(scaled_threshold) else "")
        + f"; ρ(T) = {radius:.6g} ({'stable' if radius < 1 else 'unstable'} in mean square)"
    )
    print(
        f"{result.runs} runs, {result.steps} steps, seed {arguments.seed}; band: "
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
    if note is not None:
        print(f"note: {note}")
    if output is not None:
        print(f"wrote {output}")
    return 0
