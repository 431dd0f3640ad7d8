"""Speed and memory of the exact-threshold routes (never asserted in tests).

Run ``python benchmarks/thresholds.py`` (all cases, a few minutes) or
``python benchmarks/thresholds.py --case gram-2000`` (one case); ``--threads k`` sets
the BLAS thread count (the default leaves it to OpenBLAS). Each case runs in a fresh
subprocess so that its peak resident memory (``ru_maxrss``) is its own; the peak of the
array allocations (``tracemalloc``, which NumPy reports to) is measured too. Results
are printed as a Markdown table and, with ``--json PATH``, saved.

Routes compared (``docs/theory/threshold.md``):

* ``kronecker``: the dense computation on the full ``d² × d²`` space: ``C`` and ``D``
  assembled with :func:`numpy.kron`, ``C^{+1/2}`` from a dense ``eigh`` and
  ``λ_max(C^{+1/2} D C^{+1/2})`` from a dense ``eigvalsh``;
* ``dense``: ``solver="dense"``, the reduced ``svec`` operator (``r(r+1)/2`` square);
* ``matrix-free``: ``solver="matrix-free"`` (Lanczos, ``O(n r²)`` per application);
* ``auto``: the default route (closed forms where the structure allows them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CASES = [
    "kronecker-40",
    "data-400",
    "gram-2000",
    "wide-200x100000",
    "coherence",
    "scaling",
    "momentum",
]


def _setup_threads(threads: int | None) -> None:
    if threads is not None:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(threads)


def _measure(function, repeat: int = 1):
    """(result, best wall time, peak traced bytes) of ``function()``.

    The timed runs are not traced (``tracemalloc`` slows every allocation down); one
    more run under ``tracemalloc`` gives the peak of the array allocations.
    """
    import tracemalloc

    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, best, peak


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def kronecker_threshold(data, method) -> float:
    """The dense ``d² × d²`` baseline: ``2 / (g λ_max(C^{+1/2} D C^{+1/2}))``.

    ``C = ½ (H ⊗ I + I ⊗ H)`` and ``D = (1 − p) H ⊗ H + p (1/n) Σ_i H_i ⊗ H_i`` are
    assembled with :func:`numpy.kron` on ``vec`` of all ``d × d`` matrices (an independent
    baseline: no code of the package); the neutral directions (the null space of ``C``)
    are dropped by the pseudo-inverse square root of a dense ``eigh``.
    """
    import numpy as np

    dynamics = method.dynamics()
    n, d = data.shape
    mixing = float(dynamics.batch.mixing(n))
    scale = float(dynamics.gradient_step_scale())
    hessian = data.T @ data / n
    eye = np.eye(d)
    curvature = 0.5 * (np.kron(hessian, eye) + np.kron(eye, hessian))
    noise = (1.0 - mixing) * np.kron(hessian, hessian)
    if mixing:
        lifted = np.einsum("ni,nj->nij", data, data).reshape(n, d * d)
        noise += mixing * lifted.T @ lifted / n  # (1/n) Σ vec(H_i) vec(H_i)ᵀ = Σ H_i ⊗ H_i
    values, vectors = np.linalg.eigh(0.5 * (curvature + curvature.T))
    keep = values > 1e-12 * values.max()
    root = vectors[:, keep] / np.sqrt(values[keep])
    top = np.linalg.eigvalsh(root.T @ noise @ root)[-1]
    return 2.0 / (scale * top)


def case_kronecker_40() -> list[dict]:
    import numpy as np

    from stability import SGD, Quadratic
    from stability.numeric import threshold_report

    rows = []
    rng = np.random.default_rng(0)
    for n in (40, 200):
        data = rng.standard_normal((n, 40))
        for batch in (1, 8):
            method = SGD(batch)

            def run(solver, data=data, method=method):
                return threshold_report(Quadratic.from_data(data), method, solver=solver)

            baseline, t_kron, m_kron = _measure(
                lambda data=data, method=method: kronecker_threshold(data, method)
            )
            report_dense, t_dense, m_dense = _measure(lambda run=run: run("dense"), 3)
            report_free, t_free, m_free = _measure(lambda run=run: run("matrix-free"), 5)
            rows.append(
                {
                    "case": f"n={n}, d=40, SGD(B={batch})",
                    "value": report_free.value,
                    "kronecker_s": t_kron,
                    "kronecker_mb": m_kron / 2**20,
                    "dense_s": t_dense,
                    "dense_mb": m_dense / 2**20,
                    "matrix_free_s": t_free,
                    "matrix_free_mb": m_free / 2**20,
                    "speedup_vs_kronecker": t_kron / t_free,
                    "speedup_vs_dense": t_dense / t_free,
                    "relative_difference_kronecker": abs(report_free.value - baseline) / baseline,
                    "relative_difference_dense": abs(report_free.value - report_dense.value)
                    / report_dense.value,
                    "applications": report_free.applications,
                    "residual": report_free.residual,
                }
            )
    return rows


def _end_to_end(build, method, repeat: int = 1, **options) -> dict:
    from stability.numeric import threshold_report

    def run():
        start = time.perf_counter()
        problem = build()
        problem.reduced()
        reduced_at = time.perf_counter()
        report = threshold_report(problem, method, **options)
        return report, reduced_at - start

    (report, reduction), seconds, peak = _measure(run, repeat)
    return {
        "value": report.value,
        "route": report.route,
        "seconds": seconds,
        "reduction_s": reduction,
        "traced_peak_mb": peak / 2**20,
        "applications": report.applications,
        "single_applications": report.single_applications,
        "residual": report.residual,
        "rank": report.rank,
        "size": report.size,
    }


def _reference(problem, method) -> float:
    """``η*`` from ARPACK run to machine precision from a random start (no mixed precision)."""
    import numpy as np
    from scipy.sparse.linalg import eigsh

    from stability.numeric import GradientPencil

    dynamics = method.dynamics()
    pencil = GradientPencil(problem.reduced(), float(dynamics.batch.mixing(problem.samples)))
    start = np.random.default_rng(0).random(pencil.size)
    top = eigsh(pencil.linear_operator(), k=1, which="LA", v0=start, tol=0.0)[0][0]
    return 2.0 / (float(dynamics.gradient_step_scale()) * top)


def _with_reference(row: dict, problem, method) -> dict:
    reference = _reference(problem, method)
    row["reference"] = reference
    row["relative_difference"] = abs(row["value"] - reference) / reference
    return row


def case_data_400() -> list[dict]:
    import numpy as np

    from stability import SGD, Quadratic

    data = np.random.default_rng(1).standard_normal((400, 400))
    rows = []
    for batch in (1, 8, 64):
        row = _end_to_end(lambda: Quadratic.from_data(data), SGD(batch))
        row = _with_reference(row, Quadratic.from_data(data), SGD(batch))
        rows.append({"case": f"from_data n=d=400, SGD(B={batch})", **row})
    return rows


def case_gram_2000() -> list[dict]:
    import numpy as np

    from stability import SGD, Quadratic

    features = np.random.default_rng(2).standard_normal((2000, 4000)) / np.sqrt(4000)
    gram = features @ features.T
    del features
    rows = []
    for batch in (1, 32):
        row = _end_to_end(lambda: Quadratic.from_gram(gram), SGD(batch))
        rows.append({"case": f"from_gram n=2000, SGD(B={batch})", **row})
    for row in rows:  # the references below need memory of their own
        row["max_rss_mb"] = _rss_mb()
    for row, batch in zip(rows, (1, 32), strict=True):
        _with_reference(row, Quadratic.from_gram(gram), SGD(batch))
    return rows


def case_wide() -> list[dict]:
    import numpy as np

    from stability import SGD, Quadratic

    data = np.random.default_rng(3).standard_normal((200, 100_000))
    row = _end_to_end(lambda: Quadratic.from_data(data), SGD(4))
    return [{"case": "from_data n=200, d=100000, SGD(B=4)", **row}]


def case_coherence() -> list[dict]:
    from stability import SGD
    from stability.numeric._structure import coherence_critical_learning_rate, coherence_problem

    rows = []
    for copies in (1, 10, 50, 100):
        for batch in (1, 10):
            method = SGD(batch, replacement=True)
            auto = _end_to_end(lambda copies=copies: coherence_problem(100, copies), method, 3)
            free = _end_to_end(
                lambda copies=copies: coherence_problem(100, copies),
                method,
                1,
                solver="matrix-free",
            )
            closed = coherence_critical_learning_rate(100, copies, batch, replacement=True)
            rows.append(
                {
                    "case": f"coherence n=100, σ={copies}, SGD(B={batch}, with replacement)",
                    "closed_form": closed,
                    "auto": auto["value"],
                    "auto_route": auto["route"],
                    "auto_s": auto["seconds"],
                    "matrix_free": free["value"],
                    "matrix_free_s": free["seconds"],
                    "relative_difference": abs(free["value"] - closed) / closed,
                }
            )
    return rows


def case_scaling() -> list[dict]:
    import numpy as np

    from stability import SGD, Quadratic
    from stability.numeric import GradientPencil

    rows = []
    rng = np.random.default_rng(4)
    for n, d in ((100, 100), (200, 200), (400, 400), (800, 800), (1600, 1600), (1600, 200)):
        data = rng.standard_normal((n, d))
        problem = Quadratic.from_data(data)
        reduced = problem.reduced()
        pencil = GradientPencil(reduced, 1.0)
        vector = pencil.start_vector()
        _, per_application, _ = _measure(lambda pencil=pencil, vector=vector: pencil(vector), 3)
        row = _end_to_end(lambda data=data: Quadratic.from_data(data), SGD(1))
        rows.append(
            {
                "case": f"from_data n={n}, d={d}, SGD(B=1)",
                "application_s": per_application,
                **row,
            }
        )
    for d in (1_000, 10_000, 100_000):
        data = rng.standard_normal((100, d))
        row = _end_to_end(lambda data=data: Quadratic.from_data(data), SGD(1))
        rows.append({"case": f"from_data n=100, d={d}, SGD(B=1)", **row})
    return rows


def case_momentum() -> list[dict]:
    import numpy as np

    from stability import HeavyBall, Quadratic
    from stability.numeric import threshold_report

    rows = []
    rng = np.random.default_rng(5)
    for n, d in ((20, 6), (30, 8), (60, 20), (200, 60)):
        data = rng.standard_normal((n, d))
        method = HeavyBall(0.9, batch_size=1)

        def run(solver, data=data, method=method):
            return threshold_report(Quadratic.from_data(data), method, solver=solver)

        free, t_free, m_free = _measure(lambda run=run: run("matrix-free"))
        row = {
            "case": f"HeavyBall(0.9, B=1) n={n}, d={d}",
            "size": free.size,
            "matrix_free": free.value,
            "matrix_free_s": t_free,
            "matrix_free_mb": m_free / 2**20,
            "applications": free.applications,
        }
        if free.size <= 300:
            dense, t_dense, m_dense = _measure(lambda run=run: run("dense"))
            row.update(
                dense=dense.value,
                dense_s=t_dense,
                dense_mb=m_dense / 2**20,
                relative_difference=abs(dense.value - free.value) / dense.value,
            )
        rows.append(row)
    return rows


RUNNERS = {
    "kronecker-40": case_kronecker_40,
    "data-400": case_data_400,
    "gram-2000": case_gram_2000,
    "wide-200x100000": case_wide,
    "coherence": case_coherence,
    "scaling": case_scaling,
    "momentum": case_momentum,
}


def _run_case(name: str) -> None:
    load_before = os.getloadavg()[0]
    rows = RUNNERS[name]()
    for row in rows:
        row.setdefault("max_rss_mb", _rss_mb())
        row["load_before"] = load_before
        row["load_after"] = os.getloadavg()[0]
    print(json.dumps(rows))


def _format(value) -> str:
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, action="append", help="run only these cases")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="save the results here")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    _setup_threads(arguments.threads)
    if arguments.child:
        _run_case(arguments.child)
        return 0
    results = {}
    for name in arguments.case or CASES:
        command = [sys.executable, __file__, "--child", name]
        if arguments.threads is not None:
            command += ["--threads", str(arguments.threads)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows = json.loads(output.strip().splitlines()[-1])
        results[name] = rows
        print(f"\n## {name}\n")
        keys = list(rows[0])
        print("| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        for row in rows:
            print("| " + " | ".join(_format(row.get(key, "")) for key in keys) + " |")
        sys.stdout.flush()
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
