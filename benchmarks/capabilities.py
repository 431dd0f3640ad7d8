"""Every capability at every size: spectral radius, check and moments on a tanh-MLP Jacobian.

Run ``python benchmarks/capabilities.py`` (after) or
``python benchmarks/capabilities.py --package /path/to/old/tree`` to time another version
of the package (before). The problem is the per-sample Jacobian of a one-hidden-layer
tanh network with a scalar output (``n`` samples, rank ``r = n``, near-flat directions);
each call runs in its own subprocess with a time limit (``--timeout``), so a call that
hangs is reported as such. Nothing here is asserted by the tests.

Cases (``--size`` 256 and/or 1000):

* ``threshold``: :func:`stability.critical_learning_rate`;
* ``radius 0.8`` / ``radius 1.2``: :func:`stability.spectral_radius` at ``0.8 η*`` and
  ``1.2 η*``;
* ``check``: :func:`stability.checks.check` at ``(1 ∓ 0.05) η*`` with 1,000 runs
  (SGD with ``B = 4`` only);
* ``predicted``: :func:`stability.numeric.predicted_mean_square`, 20 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

METHODS = ("GD", "SGD(1)", "SGD(4)")
CASES = ("threshold", "radius 0.8", "radius 1.2", "check", "predicted")


def mlp_jacobian(samples: int, *, inputs: int = 8, seed: int = 0):
    """Per-sample gradients of a tanh MLP's scalar output (rank ``samples``)."""
    import numpy as np

    hidden = max(40, samples // 10 + 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, inputs))
    weights = rng.standard_normal((hidden, inputs)) / np.sqrt(inputs)
    bias = 0.1 * rng.standard_normal(hidden)
    readout = rng.standard_normal(hidden) / np.sqrt(hidden)
    activation = np.tanh(x @ weights.T + bias)
    slope = (1.0 - activation**2) * readout
    by_weights = (slope[:, :, None] * x[:, None, :]).reshape(samples, -1)
    return np.hstack([by_weights, slope, activation, np.ones((samples, 1))])


def _child(size: int, method_name: str, case: str) -> dict:
    from stability import GD, SGD, Quadratic, critical_learning_rate, spectral_radius

    method = {"GD": GD(), "SGD(1)": SGD(1), "SGD(4)": SGD(4)}[method_name]
    problem = Quadratic.from_data(mlp_jacobian(size))
    problem.reduced()
    start = time.perf_counter()
    threshold = critical_learning_rate(problem, method)
    elapsed = time.perf_counter() - start
    result: dict = {"threshold": threshold}
    if case != "threshold":
        start = time.perf_counter()
        if case.startswith("radius"):
            result["value"] = spectral_radius(problem, method, float(case.split()[1]) * threshold)
        elif case == "check":
            from stability.checks import check

            report = check(problem, method, seed=0, runs=1000)
            result["value"] = bool(report.agrees)
        else:
            from stability.numeric import predicted_mean_square

            result["value"] = float(predicted_mean_square(problem, method, threshold, steps=20)[-1])
        elapsed = time.perf_counter() - start
    result["seconds"] = elapsed
    return result


def _run(size: int, method: str, case: str, package: str | None, timeout: float) -> dict:
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if package:
        environment["PYTHONPATH"] = package
    command = [sys.executable, __file__, "--child", str(size), method, case]
    try:
        completed = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no answer after {timeout:.0f} s"}
    if completed.returncode:
        lines = completed.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {completed.returncode}"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append", help="n = r (default 256 and 1000)")
    parser.add_argument("--method", choices=METHODS, action="append")
    parser.add_argument("--case", choices=CASES, action="append")
    parser.add_argument("--package", default=None, help="PYTHONPATH of the version to time")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        size, method, case = arguments.child
        print(json.dumps(_child(int(size), method, case)))
        return 0
    sizes = arguments.size or [256, 1000]
    print("| n = r | method | case | time | result |")
    print("|---|---|---|---|---|")
    for size in sizes:
        for method in arguments.method or METHODS:
            for case in arguments.case or CASES:
                if case == "check" and method != "SGD(4)":
                    continue
                row = _run(size, method, case, arguments.package, arguments.timeout)
                if "error" in row:
                    print(f"| {size} | {method} | {case} | | {row['error']} |", flush=True)
                    continue
                value = row.get("value", row["threshold"])
                print(
                    f"| {size} | {method} | {case} | {row['seconds']:.2f} s | {value!r} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
