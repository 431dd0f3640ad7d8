"""``stability critical-lr``: exact mean-square critical learning rates of methods.

Several methods and batch sizes in one call (``--method gd sgd heavy-ball --batch-size 1
8 full --momentum 0.9``) give one row each, in one table (and, under ``--json``, one
list of objects with the same fields as the single-method object).

Examples
--------
>>> from stability.cli import main
>>> main(["critical-lr", "--example", "--method", "gd", "sgd", "--batch-size", "4", "32"])
... # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
problem: n = 32 samples, d = 8 parameters, rank 8, sharpness λ_max(H) = ...
method  batch                    η*    η* × λ_max / 2
...
0
"""

from __future__ import annotations

import argparse
from typing import Any

from stability.cli._common import (
    add_json_argument,
    add_method_arguments,
    add_problem_arguments,
    add_progress_argument,
    count,
    format_table,
    methods_from_arguments,
    print_json,
    progress_from_arguments,
    scaled_problem_from_arguments,
)

__all__ = ["register", "run", "threshold_row"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``critical-lr`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The command line's subcommands.
    """
    parser = subparsers.add_parser(
        "critical-lr",
        help="exact mean-square critical learning rates",
        description="Print the exact mean-square critical learning rate η* of one or more "
        "methods (and batch sizes) on a problem read from .npy, .npz, .csv, .txt or .pt.",
    )
    add_problem_arguments(parser)
    add_method_arguments(parser, multiple=True, epochs=True)
    parser.add_argument(
        "--precision",
        type=count("--precision"),
        help="digits of the high-precision (mpmath) route (default: float arithmetic)",
    )
    add_progress_argument(parser)
    add_json_argument(parser)
    parser.set_defaults(handler=run)


def threshold_row(
    problem: Any, method: Any, threshold: float, exponent: int = 0
) -> dict[str, Any]:
    """The JSON object of one method: the same fields in every subcommand.

    Parameters
    ----------
    problem : Quadratic
        The problem.
    method : Method
        The method.
    threshold : float
        Its ``η*`` (of the problem as given to this function).
    exponent : int, default 0
        The problem is the user's divided by ``2^exponent`` (see
        :func:`~stability.cli._common.scaled_problem_from_arguments`); the sharpness and
        thresholds are scaled back exactly.

    Examples
    --------
    >>> from stability import GD, Quadratic
    >>> from stability.cli.critical_lr import threshold_row
    >>> threshold_row(Quadratic([[2.0]]), GD(), 1.0)["gd_edge"]
    1.0
    """
    from stability.cli._common import problem_fields, scale_back
    from stability.methods.registry import label, spec_of

    dynamics = method.dynamics()
    spec = spec_of(method)
    from stability.errors import OutOfRangeError

    fields = problem_fields(problem)
    scaled_sharpness = problem.sharpness
    try:
        sharpness: float | None = scale_back(scaled_sharpness, exponent, "λ_max(H)")
    except OutOfRangeError:
        sharpness = None  # λ_max(H) itself is beyond the float range; η* may not be
    fields["sharpness"] = sharpness
    threshold = scale_back(threshold, -exponent, "η*")
    gd_edge = (
        scale_back(2.0 / scaled_sharpness, -exponent, "2/λ_max(H)")
        if scaled_sharpness > 0
        else float("inf")
    )
    return {
        "method": dynamics.name,
        "method_name": spec.name if spec is not None else type(method).__name__,
        "label": label(method),
        "batch": dynamics.batch.describe(),
        "batch_size": getattr(method, "batch_size", None),
        "momentum": getattr(method, "momentum", None),
        **fields,
        "critical_learning_rate": threshold,
        "gd_edge": gd_edge,
    }


def run(arguments: argparse.Namespace) -> int:
    """Compute and print the thresholds.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    """
    from stability.methods.registry import label
    from stability.numeric import critical_learning_rate
    from stability.progress import StatusLine

    problem, exponent = scaled_problem_from_arguments(arguments)
    methods = methods_from_arguments(arguments)
    meter = progress_from_arguments(arguments, "critical-lr")
    rows = []
    meter.start(len(methods), "critical-lr")
    try:
        for method in methods:
            with StatusLine(f"critical-lr: η* of {label(method)}", enabled=meter.enabled):
                if getattr(method, "shuffle", False):
                    from stability.reshuffling import epoch_critical_learning_rate

                    threshold = epoch_critical_learning_rate(problem, method)
                else:
                    threshold = critical_learning_rate(
                        problem, method, precision=arguments.precision
                    )
            rows.append(threshold_row(problem, method, threshold, exponent))
            meter.update(1)
    finally:
        meter.close()
    if arguments.json:
        print_json(rows[0] if len(rows) == 1 else rows)
        return 0
    if len(rows) == 1:
        table = [
            (key.replace("_", " "), f"{value:.10g}" if isinstance(value, float) else str(value))
            for key, value in rows[0].items()
            if value is not None and key not in ("label", "method_name", "batch_size")
        ]
        print(format_table(table, ("quantity", "value")))
        return 0
    first = rows[0]
    samples = "one Hessian" if first["samples"] is None else f"n = {first['samples']} samples"
    dimension = "" if first["dimension"] is None else f"d = {first['dimension']} parameters, "
    sharpness = (
        "beyond the float range" if first["sharpness"] is None else f"{first['sharpness']:.6g}"
    )
    print(f"problem: {samples}, {dimension}rank {first['rank']}, sharpness λ_max(H) = {sharpness}")
    table = []
    for row in rows:
        rate = row["critical_learning_rate"]
        edge = row["gd_edge"]
        ratio = rate / edge if 0 < edge < float("inf") else float("nan")
        table.append((row["label"].split(" B=")[0], row["batch"], f"{rate:.8g}", f"{ratio:.4g}"))
    print(format_table(table, ("method", "batch", "η*", "η* × λ_max / 2")))
    return 0
