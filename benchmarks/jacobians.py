"""Thresholds from per-sample Jacobians with n·k = 10,000 rows (never asserted in tests).

Run ``python benchmarks/jacobians.py`` (both full-size cases, several minutes on one core)
or ``python benchmarks/jacobians.py --case wide-2000`` (a small one); ``--threads k`` sets
the BLAS thread count. Each case runs in a fresh subprocess so that its peak resident
memory (``ru_maxrss``) is its own. Printed as a Markdown table; ``--json PATH`` saves it.

What is measured, in the same process and run:

* ``reduce_s``: ``Quadratic.from_jacobians(J)`` and its reduction to ``range(H)`` (a thin
  QR + SVD of the stacked ``(n k) × d`` matrix when it is tall; the Gram route, one
  ``dsyrk`` and one ``eigh`` of the ``n k × n k`` Gram matrix, when it is wide), which gives
  the sharpness and the GD threshold ``2 / λ_max`` at once;
* ``eigh_s``: one dense ``numpy.linalg.eigh`` of the ``n k × n k`` Gram matrix ``J Jᵀ``
  (formed beforehand, not timed), the reference cost the issue compares with;
* ``application_s``: one application of the factored batch sandwich
  ``X ↦ (1/n) Σ_i G_iᵀ (G_i X G_iᵀ) G_i`` on the reduced ``r × r`` space (two GEMMs of
  ``n k × r × r``), the unit of work of every stochastic threshold;
* with ``--sgd``: the ``SGD(32)`` threshold, its route, operator applications and time.

Cases: ``tall`` (``n = 1000``, ``k = 10``, ``d = 2410``: the ten-class MLP on the digits of
issue 14 on a thousand samples, rank ``d``), ``wide`` (``n = 1000``, ``k = 10``,
``d = 12 000``, rank ``n k = 10 000``), ``wide-2000`` (``n = 200``, ``k = 10``, ``d = 4000``)
and ``mid`` (``n = 200``, ``k = 10``, ``d = 2410``).

Measured (``--threads 1``, on a 2-core machine shared with other jobs, so absolute times
are several times an idle machine's; the ratios are from one process and run):

====== ===== ======== ======= ============== ============= ========== ==============
case   rank  reduce   eigh    reduce / eigh  one T apply   GFLOP      peak RSS
====== ===== ======== ======= ============== ============= ========== ==============
tall   2410  59 s     541 s   0.11           36 s          232        4.5 GB
wide   10000 1017 s   421 s   2.4            462 s         4000       7.4 GB
====== ===== ======== ======= ============== ============= ========== ==============

The sharpness and the GD threshold come with the reduction and agree with the dense
eigenvalues of the Gram matrix to 2e-15. The peak memory of ``wide`` includes the
reference ``eigh`` (its Gram matrix, eigenvectors and ``dsyevd`` workspace, about 3.2 GB).

Stochastic thresholds. The one operator reads the factors ``(n, k, r)`` the reduction
holds (no per-sample ``(n, r, r)`` Hessians, which would take 46 GB for ``tall`` and 800 GB
for ``wide``). One application costs ``4 n k r²`` flops: ``0.07`` of the reference ``eigh``
for ``tall`` but ``1.1`` for ``wide`` (measured above). Measured with ``--sgd`` on ``mid``
(``n = 200``, ``k = 10``, ``d = 2410``, ``r = n k = 2000``): reduction 15 s, ``eigh`` 9.7 s,
SGD(32) threshold by the matrix-free route in 19 applications and 280 s, 29 ``eigh``.
So at ``r = n k`` the budget of ``3×`` one ``eigh`` buys fewer than three applications and
the SGD threshold is out of reach of it: the bottleneck is the operator's ``n k r²`` work
per application (each costs about one dense ``eigh`` of the Gram matrix) times the ~20
Lanczos applications, not the reduction (0.1–2.4 ``eigh``) and not memory. For ``tall``
(``r = d ≪ n k``) the budget is about 45 applications, enough for a run like ``mid``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "tall": (1000, 10, 2410),
    "wide": (1000, 10, 12_000),
    "wide-2000": (200, 10, 4000),
    "mid": (200, 10, 2410),
}


def _setup_threads(threads: int | None) -> None:
    if threads is not None:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(threads)


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(name: str, sgd: bool = False) -> dict:
    import numpy as np

    from stability import GD, SGD, Quadratic, SizeLimitError, critical_learning_rate

    samples, outputs, dimension = CASES[name]
    rng = np.random.default_rng(0)
    jacobians = rng.standard_normal((samples, outputs, dimension)) / np.sqrt(dimension)
    row: dict = {"case": name, "n": samples, "k": outputs, "d": dimension}

    start = time.perf_counter()
    problem = Quadratic.from_jacobians(jacobians)
    reduced = problem.reduced()
    gd = critical_learning_rate(problem, GD())
    row["reduce_s"] = time.perf_counter() - start
    row["rank"] = reduced.rank
    row["sharpness"] = problem.sharpness
    row["gd"] = gd
    row["rss_after_reduce_mb"] = _rss_mb()

    rows = jacobians.reshape(samples * outputs, dimension)
    gram = rows @ rows.T
    start = time.perf_counter()
    values = np.linalg.eigh(gram)[0]
    row["eigh_s"] = time.perf_counter() - start
    del gram
    row["reduce_over_eigh"] = row["reduce_s"] / row["eigh_s"]
    # the GD threshold agrees with the dense eigenvalues of the Gram matrix
    row["gd_relative_difference"] = abs(gd - 2.0 * samples / values[-1]) / gd

    factors = reduced.factors
    rank = reduced.rank
    matrix = rng.standard_normal((rank, rank))
    matrix = matrix + matrix.T
    start = time.perf_counter()
    projected = factors @ matrix  # (n, k, r)
    inner = projected @ np.swapaxes(factors, 1, 2)  # (n, k, k)
    outer = inner @ factors  # (n, k, r)
    factors.reshape(-1, rank).T @ outer.reshape(-1, rank)
    row["application_s"] = time.perf_counter() - start
    row["application_gflop"] = 4.0 * samples * outputs * rank**2 / 1e9
    del projected, outer

    if sgd:
        from stability.numeric import threshold_report

        try:
            start = time.perf_counter()
            report = threshold_report(problem, SGD(32))
            row["sgd_s"] = time.perf_counter() - start
            row["sgd"] = report.value
            row["sgd_applications"] = report.applications
            row["sgd_route"] = report.route
            row["sgd_over_eigh"] = row["sgd_s"] / row["eigh_s"]
        except SizeLimitError as error:
            row["sgd"] = f"refused: {error}"
    row["peak_rss_mb"] = _rss_mb()
    return row


def _table(rows: list[dict]) -> str:
    columns = [
        "case", "n", "k", "d", "rank", "reduce_s", "eigh_s", "reduce_over_eigh",
        "gd_relative_difference", "application_s", "application_gflop", "peak_rss_mb",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column, "")
            cells.append(f"{value:.3g}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        f"- {row['case']}: SGD(32): {row.get('sgd')} ({row.get('sgd_applications')} "
        f"applications, {row.get('sgd_s')} s, {row.get('sgd_over_eigh')} eigh)"
        for row in rows
        if "sgd" in row
    ]
    return "\n".join([*lines, "", *notes])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sgd", action="store_true", help="also time the SGD(32) threshold")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    _setup_threads(arguments.threads)
    if arguments.inner:
        print(json.dumps(run_case(arguments.inner, arguments.sgd)))
        return
    rows = []
    for name in arguments.case or ["tall", "wide"]:
        command = [sys.executable, __file__, "--inner", name]
        if arguments.threads is not None:
            command += ["--threads", str(arguments.threads)]
        if arguments.sgd:
            command.append("--sgd")
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    print(_table(rows))
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
