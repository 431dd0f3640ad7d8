"""``stability tour``: critical learning rates of every method on the built-in example.

Written for a newcomer: each table says in a sentence what its numbers mean, and the tour
ends with the commands to run on one's own data. Variational GD
(``docs/theory/methods.md``) appears twice: in the table of thresholds, where its ``η*``
is GD's or SGD's (posterior noise is additive), and in a second table of its
expected-descent edge ``(2/η) VF(z)`` next to GD's ``2/η``.
"""

from __future__ import annotations

import argparse

from stability.cli._common import format_table, print_json

__all__ = ["EDGE_SETTINGS", "NEXT_COMMANDS", "edge_rows", "register", "run", "tour_rows"]

#: What to run next on one's own data (printed at the end of the tour).
NEXT_COMMANDS = (
    "python -c \"import numpy as np; np.save('X.npy', np.random.randn(100, 10))\"  "
    "# or your own rows",
    "stability critical-lr --data X.npy --method gd sgd heavy-ball --batch-size 1 8 32 "
    "--momentum 0.9",
    "stability check --data X.npy --method sgd --batch-size 8",
    "stability plot radius --data X.npy --batch-size 1 8 32 --full-batch -o radius.png",
)

#: ``(σ², S)`` pairs of the variational-edge table.
EDGE_SETTINGS = ((0.01, 1), (0.1, 1), (2.0, 1), (2.0, 16), (2.0, 256))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tour`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``add_subparsers`` object of the ``stability`` parser.
    """
    parser = subparsers.add_parser(
        "tour",
        help="critical learning rates on the built-in example",
        description="Print exact mean-square critical learning rates of GD, SGD at several "
        "batch sizes (with and without replacement), momentum and variational GD on the "
        "built-in example (least squares, 32 samples, 8 features), and the expected-descent "
        "edge of variational GD next to GD's.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def tour_rows() -> list[tuple[str, str, float]]:
    """``(method, batch, η*)`` for the methods of the tour.

    Examples
    --------
    >>> from stability.cli.tour import tour_rows
    >>> tour_rows()[0][:2]
    ('GD', 'full batch')
    """
    from stability._examples import regression_example
    from stability.methods import GD, SGD, HeavyBall, Nesterov, VariationalGD
    from stability.numeric import critical_learning_rate

    problem = regression_example()
    methods = [GD()]
    methods += [SGD(batch) for batch in (1, 4, 16, 32)]
    methods += [SGD(batch, replacement=True) for batch in (1, 4, 16)]
    methods += [HeavyBall(0.9), Nesterov(0.9), HeavyBall(0.9, batch_size=8)]
    methods += [VariationalGD(0.01), VariationalGD(0.01, samples=4, batch_size=4)]
    rows = []
    for method in methods:
        dynamics = method.dynamics()
        label = dynamics.name
        if hasattr(method, "momentum"):
            label += f" β={method.momentum}"
        if hasattr(method, "posterior_cov"):
            label += f" σ²={method.posterior_cov:g} S={method.samples}"
        rows.append((label, dynamics.batch.describe(), critical_learning_rate(problem, method)))
    return rows


def edge_rows() -> tuple[float, float, list[tuple[float, int, float, float]]]:
    """Variational GD's expected-descent edge on the built-in example.

    At ``η = 1/λ_max`` (half of GD's ``η*``) and the mean ``δ = v_1`` (a unit step along
    the sharpest eigenvector), for each ``(σ², S)`` of :data:`EDGE_SETTINGS`: the
    parameter ``z = S c / σ²`` and the edge ``(2/η) VF(z)`` along ``v_1``
    (``docs/theory/methods.md``). The sharpest direction still descends in expectation iff
    ``λ_max`` is below the edge.

    Returns
    -------
    tuple
        ``(lr, gd_edge, rows)`` with rows ``(σ², S, z, edge)``.

    Examples
    --------
    >>> from stability.cli.tour import edge_rows
    >>> lr, gd_edge, rows = edge_rows()
    >>> all(edge < gd_edge for *_, edge in rows)
    True
    """
    from stability._examples import regression_example
    from stability.methods import VariationalGD
    from stability.numeric import variational_edges

    problem = regression_example()
    lr = 1.0 / problem.sharpness
    top = problem.reduced().basis[:, 0]
    rows = []
    for variance, samples in EDGE_SETTINGS:
        result = variational_edges(problem, VariationalGD(variance, samples=samples), lr, top)
        rows.append((variance, samples, float(result.parameters[0]), float(result.edges[0])))
    return lr, 2.0 / lr, rows


def run(arguments: argparse.Namespace) -> int:
    """Print the tour.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    """
    from stability._examples import regression_example

    problem = regression_example()
    rows = tour_rows()
    lr, gd_edge, edges = edge_rows()
    if arguments.json:
        print_json(
            {
                "sharpness": problem.sharpness,
                "rates": [
                    {"method": method, "batch": batch, "critical_learning_rate": rate}
                    for method, batch, rate in rows
                ],
                "variational_edges": {
                    "lr": lr,
                    "mean": "unit step along the sharpest eigenvector",
                    "gd_edge": gd_edge,
                    "rows": [
                        {
                            "posterior_variance": variance,
                            "samples": samples,
                            "z": z,
                            "edge": edge,
                            "sharpest_direction_descends": bool(problem.sharpness < edge),
                        }
                        for variance, samples, z, edge in edges
                    ],
                },
                "next_commands": list(NEXT_COMMANDS),
            }
        )
        return 0
    print(
        f"Built-in example: least squares, n={problem.samples} samples, d={problem.dimension} "
        f"features, sharpness λ_max(H) = {problem.sharpness:.6g} (the largest curvature)\n"
        "\nExact mean-square critical learning rates η*: below η* the expected squared "
        "distance to the minimum E‖θ_t − θ*‖² stays bounded; above it, it grows without "
        "bound.\nFull-batch GD's η* is 2/λ_max; smaller batches, sampling with replacement "
        "and momentum lower it (docs/theory/threshold.md):\n"
    )
    print(format_table([(m, b, f"{r:.8g}") for m, b, r in rows], ("method", "batch", "η*")))
    print(
        "\nExpected-descent edge of variational GD. Variational GD adds posterior noise, "
        "which leaves η* unchanged but flattens the curvature it can still descend "
        "(docs/theory/methods.md).\n"
        f"Take η = 1/λ_max = {lr:.6g} (half of GD's η*) and start one unit along the "
        "sharpest direction.\nThe 'edge' is the largest curvature along which one step "
        "still lowers the loss on average; GD's edge is 2/η. With posterior variance σ² and "
        "S samples per step (z = S c / σ²) the edge drops below 2/η, and the last column "
        "says whether the sharpest direction still descends:\n"
    )
    table = [("GD", "-", "-", "∞", f"{gd_edge:.8g}", "yes")]
    table += [
        (
            "VariationalGD",
            f"{variance:g}",
            str(samples),
            f"{z:.6g}",
            f"{edge:.8g}",
            "yes" if problem.sharpness < edge else "no",
        )
        for variance, samples, z, edge in edges
    ]
    print(format_table(table, ("method", "σ²", "S", "z", "edge", "λ_max descends")))
    print("\nNext, on your own data (rows x_i of a least-squares problem, or Jacobian rows):")
    for command in NEXT_COMMANDS:
        print(f"  {command}")
    print("Files may be .npy, .npz, .csv (a header line is fine), .txt or .pt; see stability "
          "COMMAND --help.")
    return 0
