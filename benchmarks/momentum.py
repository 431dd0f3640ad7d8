"""Minibatch momentum thresholds vs SGD: operator applications and time (never asserted).

Run ``python benchmarks/momentum.py`` (both sizes; the old heavy-ball route at the larger
size takes minutes, skip it with ``--skip-before``) or ``--size small``. Gaussian data
``X`` (``n × d``), batch size ``B = 8`` without replacement, ``β = 0.9``.

Columns:

* ``SGD``: ``threshold_report(problem, SGD(B), solver="matrix-free")`` (Lanczos on
  ``C^{-1/2} D C^{-1/2}``);
* ``before``: ``threshold_report(problem, HeavyBall/Nesterov(β, B), solver="matrix-free")``,
  the Perron root of the full ``2r × 2r`` second-moment operator located by regula falsi;
* ``after``: :func:`stability.numeric._rank_one_noise.rank_one_threshold` (the heavy-ball
  pencil, or Newton on ``μ(η) = 1`` for Nesterov) with the ``O(n r²)`` rank-one sandwich
  below; its relative difference from ``before`` is printed as ``agree``.

Applications count one ``O(n r²)`` sandwich each (for ``before``, one application of
``T(η)``, which costs three sandwiches' worth of work or more).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from stability import SGD, HeavyBall, Nesterov, Quadratic
from stability.numeric import threshold_report
from stability.numeric._rank_one_noise import rank_one_threshold
from stability.numeric._structure import full_batch_critical_learning_rate

SIZES = {"small": (300, 80), "large": (1000, 200)}


def rank_one_sandwich(vectors: np.ndarray):
    """``X ↦ (1/n) Σ y_s y_sᵀ X y_s y_sᵀ = Yᵀ diag(w) Y / n`` with ``w_s = y_sᵀ X y_s``."""
    samples = vectors.shape[0]

    def apply(matrix: np.ndarray) -> np.ndarray:
        weights = np.einsum("si,si->s", vectors @ matrix, vectors)
        return (vectors * weights[:, None]).T @ vectors / samples

    return apply


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def run(size: str, batch: int, beta: float, skip_before: bool) -> list[str]:
    samples, dimension = SIZES[size]
    data = np.random.default_rng(0).standard_normal((samples, dimension))
    problem = Quadratic.from_data(data)
    reduced = problem.reduced()
    sandwich = rank_one_sandwich(reduced.vectors)
    sgd, sgd_time = _timed(lambda: threshold_report(problem, SGD(batch), solver="matrix-free"))
    lines = [
        f"| n = {samples}, d = {dimension}, B = {batch} | SGD | {sgd.applications} | "
        f"{sgd_time:.3f} s | — | — | — |"
    ]
    for method in (HeavyBall(beta, batch_size=batch), Nesterov(beta, batch_size=batch)):
        dynamics = method.dynamics()
        upper = full_batch_critical_learning_rate(dynamics, reduced.eigenvalues)
        mixing = float(dynamics.batch.mixing(samples))
        after, after_time = _timed(
            lambda dynamics=dynamics, upper=upper, mixing=mixing: rank_one_threshold(
                reduced.eigenvalues,
                sandwich,
                dynamics.identity_part.numeric_coefficients(),
                dynamics.hessian_part.numeric_coefficients(),
                mixing,
                upper,
            )
        )
        if skip_before:
            before_text, agree = "not run", "—"
        else:
            before, before_time = _timed(
                lambda method=method: threshold_report(problem, method, solver="matrix-free")
            )
            before_text = f"{before.applications} / {before_time:.2f} s"
            agree = f"{abs(after.threshold - before.value) / before.value:.1e}"
        lines.append(
            f"| n = {samples}, d = {dimension}, B = {batch} | {dynamics.name} β = {beta} | "
            f"{after.applications} | {after_time:.3f} s | {before_text} | "
            f"{after.route}, residual {after.residual:.1e} | {agree} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=[*SIZES, "all"], default="all")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--skip-before", action="store_true")
    arguments = parser.parse_args()
    sizes = list(SIZES) if arguments.size == "all" else [arguments.size]
    print(
        "| problem | method | applications | time | before (applications / time) | "
        "route | agree |"
    )
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        for line in run(size, arguments.batch_size, arguments.momentum, arguments.skip_before):
            print(line, flush=True)


if __name__ == "__main__":
    main()
