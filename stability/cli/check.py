"""``stability check``: numeric, symbolic and Monte Carlo layers against each other.

The verdict is one of three: ``all layers AGREE`` (exit 0), ``layers DISAGREE`` (exit 1)
or ``INCONCLUSIVE`` (exit 0) when every comparison passed but some layer could not
decide: the simulated one-step growth band contains 1 at a checked rate. The JSON
object carries the same word in ``verdict`` (``"agree"``, ``"disagree"``,
``"inconclusive"``).
"""

from __future__ import annotations

import argparse
from typing import Any

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
    method_from_arguments,
    print_json,
    progress_from_arguments,
)
from stability.cli.simulate import (
    add_false_alarm_argument,
    add_rate_arguments,
    check_false_alarm,
    check_output_path,
    learning_rate_from_arguments,
    simulation_work,
)

__all__ = ["register", "run", "verdict"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The command line's subcommands.
    """
    parser = subparsers.add_parser(
        "check",
        help="cross-check the numeric, symbolic and simulation layers",
        description="Compute the exact mean-square verdict at a learning rate (default: just "
        "below and just above η*) and check that the numeric layer, the symbolic layer (small "
        "problems) and Monte Carlo simulation agree at a stated false-alarm probability. "
        "Exit code 0 when they agree (or a layer is inconclusive), 1 when they do not.",
    )
    add_problem_arguments(parser)
    add_method_arguments(parser)
    add_rate_arguments(parser, required=False)
    parser.add_argument(
        "--runs", type=count("--runs"), default=20_000, help="runs per simulation (default 20000)"
    )
    add_seed_argument(parser)
    add_false_alarm_argument(parser)
    parser.add_argument(
        "--horizon", type=count("--horizon"), help="trajectory length (default: automatic)"
    )
    parser.add_argument(
        "--margin",
        type=finite_float("--margin"),
        default=0.05,
        help="relative distance from η* without --lr (default 0.05)",
    )
    parser.add_argument(
        "--chunk-size",
        type=count("--chunk-size"),
        default=None,
        help="runs per random stream (default: the library's)",
    )
    parser.add_argument(
        "--symbolic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="consult the symbolic layer (default: on for small problems)",
    )
    add_progress_argument(parser)
    add_json_argument(parser)
    add_output_argument(parser, required=False, what="predicted against simulated E‖z_t‖²")
    parser.set_defaults(handler=run)


def verdict(report: Any) -> str:
    """``"agree"``, ``"disagree"`` or ``"inconclusive"`` for a :class:`CheckReport`.

    Parameters
    ----------
    report : CheckReport
        The outcome of :func:`stability.check`.
    """
    if not report.agrees:
        return "disagree"
    if any(rate.simulated_verdict == "inconclusive" for rate in report.rates):
        return "inconclusive"
    return "agree"


def _scale_payload(payload: dict[str, Any], exponent: int, problem: Any) -> None:
    """Turn the learning rates and sharpness of a scaled problem's JSON into the input's."""
    from stability.cli._common import scale_back
    from stability.errors import OutOfRangeError

    def back(value: Any, power: int) -> Any:
        if not isinstance(value, float):
            return value
        try:
            return scale_back(value, power, "a learning rate")
        except OutOfRangeError:
            return None

    for key in ("critical_learning_rate", "symbolic_critical_learning_rate"):
        payload[key] = back(payload.get(key), -exponent)
    payload["sharpness"] = back(problem.sharpness, exponent)
    for rate in payload.get("rates", []):
        rate["learning_rate"] = back(rate.get("learning_rate"), -exponent)


def run(arguments: argparse.Namespace) -> int:
    """Run the checks; exit code 1 when the layers disagree.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    """
    from stability.checks import check
    from stability.numeric import critical_learning_rate
    from stability.simulation import DEFAULT_CHUNK_SIZE

    output = check_output_path(arguments.output)
    check_false_alarm(arguments.false_alarm)
    if not 0.0 < arguments.margin < 1.0:
        raise CommandError(f"--margin must be in (0, 1); got {arguments.margin:g}")
    from stability.cli._common import scale_back, scaled_problem_from_arguments

    # every comparison depends on η H only: check the problem divided by 2^e at η 2^e
    problem, exponent = scaled_problem_from_arguments(arguments)
    method = method_from_arguments(arguments)
    horizon = arguments.horizon if arguments.horizon is not None else 30
    check_workload(
        2 * simulation_work(problem, method, arguments.runs, horizon),
        "--runs or --horizon",
    )
    lr = None
    if arguments.relative is not None:
        lr = learning_rate_from_arguments(arguments, critical_learning_rate(problem, method))
    elif arguments.lr is not None:
        lr = arguments.lr
        if lr > 0:
            lr = scale_back(lr, exponent, "--lr times the problem's scale")
    report = check(
        problem,
        method,
        lr,
        seed=arguments.seed,
        runs=arguments.runs,
        horizon=arguments.horizon,
        false_alarm=arguments.false_alarm,
        margin=arguments.margin,
        chunk_size=arguments.chunk_size or DEFAULT_CHUNK_SIZE,
        symbolic=arguments.symbolic,
        progress=progress_from_arguments(arguments, "check"),
    )
    outcome = verdict(report)
    if output is not None:
        from stability.plot import plot_check, save_figure

        # exact ρ(T(η)) against the simulated one-step growth and its band, per rate
        save_figure(plot_check(report), output, dpi=arguments.dpi)
    if arguments.json:
        from stability.cli._common import problem_fields

        payload = report.to_dict()
        payload.update(problem_fields(problem))
        if exponent:
            _scale_payload(payload, exponent, problem)
        payload["verdict"] = outcome
        print_json(payload)
    else:
        text = str(report)
        lines = text.splitlines()
        if exponent:
            lines.insert(
                1,
                f"note: the problem was divided by 2^{exponent} for the computation; every η "
                f"below is for the divided problem (multiply by 2^-{exponent} for yours)"
                if exponent > 0
                else f"note: the problem was multiplied by 2^{-exponent} for the computation; "
                f"every η below is for that problem (multiply by 2^{-exponent} for yours)",
            )
        if lines and lines[-1].startswith("verdict:"):
            lines = lines[:-1]
        if outcome == "agree":
            lines.append("verdict: all layers AGREE")
        elif outcome == "disagree":
            lines.append("verdict: layers DISAGREE")
        else:
            lines.append(
                "verdict: INCONCLUSIVE: no comparison failed, but the simulation could not "
                "tell stable from unstable at a checked rate (its growth band contains 1); "
                "use more --runs, a longer --horizon or a rate farther from η*"
            )
        print("\n".join(lines))
        if output is not None:
            print(f"wrote {output}")
    return 1 if outcome == "disagree" else 0
