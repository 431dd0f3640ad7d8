"""``check`` at n = 1000 samples: its time against the threshold's, and where it goes.

Run ``python benchmarks/check.py`` (this tree) or
``python benchmarks/check.py --package /path/to/old/tree`` to time another version of the
package (before). Each case runs in its own subprocess with one BLAS thread and a time
limit (``--timeout``); the threshold is timed in the same process just before, so the
ratio ``check / threshold`` is comparable between loaded and quiet machines. Nothing here
is asserted by the tests. Wall-clock and CPU (process) times are printed; with one BLAS
thread the CPU time is far less sensitive to other jobs on the machine.

Cases (SGD with ``B = 4``, :func:`stability.checks.check` at ``(1 ∓ 0.05) η*`` with 1,000
runs and seed 0, as ``benchmarks/capabilities.py``):

* ``mlp``: the per-sample Jacobian of a one-hidden-layer tanh network with a scalar
  output (``n = 1000``, ``d = 1011``, rank 1000: ``T`` has 500,500 ``svec`` coordinates);
* ``gaussian``: Gaussian data ``n = 1000``, ``d = 200`` (rank 200, 20,100 coordinates).

``--profile`` prints the ten most expensive functions (cProfile, cumulative time) and the
number of applications of the operator under test in the problem's coordinates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CASES = ("mlp", "gaussian")


def problem_data(case: str):
    """The data matrix of a case (rows are samples)."""
    import numpy as np

    if case == "gaussian":
        return np.random.default_rng(0).standard_normal((1000, 200))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from capabilities import mlp_jacobian

    return mlp_jacobian(1000)


def _child(case: str, profile: bool) -> dict:
    from stability import SGD, Quadratic, critical_learning_rate
    from stability.checks import check

    problem = Quadratic.from_data(problem_data(case))
    problem.reduced()
    start, cpu = time.perf_counter(), time.process_time()
    threshold = critical_learning_rate(problem, SGD(4))
    threshold_seconds = time.perf_counter() - start
    threshold_cpu = time.process_time() - cpu
    applications = _count_applications()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start, cpu = time.perf_counter(), time.process_time()
    report = check(problem, SGD(4), seed=0, runs=1000)
    seconds = time.perf_counter() - start
    check_cpu = time.process_time() - cpu
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(
            int(os.environ.get("CHECK_PROFILE_ROWS", "10"))
        )
        print(stream.getvalue(), file=sys.stderr)
    return {
        "threshold": threshold,
        "threshold_seconds": threshold_seconds,
        "seconds": seconds,
        "threshold_cpu": threshold_cpu,
        "cpu": check_cpu,
        "agrees": bool(report.agrees),
        "horizons": [rate.horizon for rate in report.rates],
        "applications": applications(),
    }


def _count_applications():
    """Count the prediction's applications of ``T`` in the problem's own coordinates."""
    from stability.numeric import SecondMomentRecursion

    original = SecondMomentRecursion.apply
    count = {"calls": 0}

    def apply(self, moment):
        count["calls"] += 1
        return original(self, moment)

    SecondMomentRecursion.apply = apply
    return lambda: count["calls"]


def _run(case: str, package: str | None, timeout: float, profile: bool) -> dict:
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if package:
        environment["PYTHONPATH"] = package
    command = [sys.executable, __file__, "--child", case] + (["--profile"] if profile else [])
    try:
        completed = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no answer after {timeout:.0f} s"}
    if profile:
        print(completed.stderr, file=sys.stderr)
    if completed.returncode:
        lines = completed.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {completed.returncode}"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, action="append")
    parser.add_argument("--package", default=None, help="PYTHONPATH of the version to time")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        print(json.dumps(_child(arguments.child, arguments.profile)))
        return 0
    print(
        "| case | threshold (CPU) | check (CPU) | check / threshold (CPU) | T applications "
        "| horizons | agrees |"
    )
    print("|---|---|---|---|---|---|---|")
    for case in arguments.case or CASES:
        row = _run(case, arguments.package, arguments.timeout, arguments.profile)
        if "error" in row:
            print(f"| {case} | | | | | | {row['error']} |", flush=True)
            continue
        print(
            f"| {case} | {row['threshold_seconds']:.2f} s ({row['threshold_cpu']:.2f} s) | "
            f"{row['seconds']:.1f} s ({row['cpu']:.1f} s) | "
            f"{row['seconds'] / row['threshold_seconds']:.1f} "
            f"({row['cpu'] / row['threshold_cpu']:.1f}) | {row['applications']} | "
            f"{row['horizons']} | {row['agrees']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
