"""Throughput of stability.simulation against a plain per-run loop (never asserted in tests).

The configuration of the issue: 10,000 runs × d = 100 × 1,000 steps of minibatch SGD
(B = 10 of n = 200 rank-one samples, without replacement) at half the critical learning
rate. The vectorised simulator runs the full configuration; the per-run loop, written
the obvious way (one run at a time, ``rng.choice`` for the batch, ``X_B`` products for the
gradient), runs ``--naive-runs`` runs and is extrapolated linearly in the number of runs
(each run costs the same). Both record ``‖δ_t‖²`` at every step.

Usage::

    python benchmarks/simulation.py                 # the full configuration
    python benchmarks/simulation.py --quick         # 1,000 runs × 100 steps, for a smoke test
    python benchmarks/simulation.py --method heavy-ball

Wall-clock and CPU times (``time.process_time``, all threads of the process) are both
reported, with the machine's load average: on a shared machine the CPU times are the
fairer comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from stability import SGD, HeavyBall, Quadratic, critical_learning_rate
from stability.simulation import simulate


def naive_sgd(data, lr, batch, steps, runs, seed, momentum=0.0):
    """The obvious loop: one run at a time, one step at a time.

    Records ``‖z_t‖²``: ``‖δ_t‖²`` for SGD, ``‖δ_t‖² + ‖δ_{t−1}‖²`` for momentum (the
    simulator's state), so the two mean squares estimate the same quantity.
    """
    samples, dimension = data.shape
    squares = np.zeros((runs, steps + 1))
    for run in range(runs):
        rng = np.random.default_rng([seed, run])
        delta = np.full(dimension, 1.0 / np.sqrt(dimension))
        previous = delta.copy()
        squares[run, 0] = delta @ delta + (previous @ previous if momentum else 0.0)
        for t in range(steps):
            chosen = rng.choice(samples, size=batch, replace=False)
            rows = data[chosen]
            gradient = rows.T @ (rows @ delta) / batch
            delta, previous = delta - lr * gradient + momentum * (delta - previous), delta
            squares[run, t + 1] = delta @ delta + (previous @ previous if momentum else 0.0)
    return squares.mean(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--dimension", type=int, default=100)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--naive-runs", type=int, default=20)
    parser.add_argument("--method", choices=("sgd", "heavy-ball"), default="sgd")
    parser.add_argument("--quick", action="store_true", help="1,000 runs × 100 steps")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.runs, arguments.steps, arguments.naive_runs = 1_000, 100, 5

    rng = np.random.default_rng(0)
    data = rng.standard_normal((arguments.samples, arguments.dimension)) / np.sqrt(
        arguments.dimension
    )
    problem = Quadratic.from_data(data)
    momentum = 0.9 if arguments.method == "heavy-ball" else 0.0
    method = (
        HeavyBall(momentum, batch_size=arguments.batch_size)
        if momentum
        else SGD(arguments.batch_size)
    )
    lr = 0.5 * critical_learning_rate(problem, method)
    load_before = os.getloadavg()[0]

    start, cpu = time.perf_counter(), time.process_time()
    result = simulate(problem, method, lr, steps=arguments.steps, runs=arguments.runs, seed=1)
    vectorised = time.perf_counter() - start
    vectorised_cpu = time.process_time() - cpu

    start, cpu = time.perf_counter(), time.process_time()
    naive_mean = naive_sgd(
        data, lr, arguments.batch_size, arguments.steps, arguments.naive_runs, 2, momentum
    )
    naive_measured = time.perf_counter() - start
    naive = naive_measured * arguments.runs / arguments.naive_runs
    naive_cpu = (time.process_time() - cpu) * arguments.runs / arguments.naive_runs

    step_runs = arguments.runs * arguments.steps
    report = {
        "method": f"{result.name} (B={arguments.batch_size} of n={arguments.samples})",
        "runs": arguments.runs,
        "dimension": arguments.dimension,
        "steps": arguments.steps,
        "vectorised_seconds": round(vectorised, 2),
        "vectorised_run_steps_per_second": round(step_runs / vectorised),
        "naive_runs_timed": arguments.naive_runs,
        "naive_seconds_measured": round(naive_measured, 2),
        "naive_seconds_extrapolated": round(naive, 1),
        "naive_run_steps_per_second": round(step_runs / naive),
        "speed_up": round(naive / vectorised, 1),
        "vectorised_cpu_seconds": round(vectorised_cpu, 2),
        "naive_cpu_seconds_extrapolated": round(naive_cpu, 1),
        "speed_up_cpu": round(naive_cpu / vectorised_cpu, 1),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
        # sanity: both estimate the same E‖δ_1‖² (the naive one from few runs)
        "mean_square_t1": [float(result.mean_square[1]), float(naive_mean[1])],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
