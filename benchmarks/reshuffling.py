"""Cost of the exact epoch operator of random reshuffling (never asserted in tests).

Run ``python benchmarks/reshuffling.py``. For each case it prints the transitions of the
recursion taken (over used samples, ``n 2^{n−1}`` for every batch size, or over whole batches,
``docs/theory/reshuffling.md``), the time of one exact evaluation of the epoch operator
``𝒯(η)`` and the time of the threshold search, on seeded Gaussian data (SGD: ``m = 1``; heavy
ball: ``m = 2``, a larger state space).
"""

from __future__ import annotations

import time

import numpy as np

from stability import SGD, HeavyBall, Quadratic, critical_learning_rate
from stability.reshuffling import EPOCH_TRANSITION_LIMIT, epoch_operator

CASES = [
    ("SGD", 8, 3, 2),
    ("SGD", 10, 3, 2),
    ("SGD", 12, 3, 3),
    ("SGD", 12, 3, 1),
    ("SGD", 14, 3, 4),
    ("SGD", 16, 3, 4),
    ("SGD", 16, 2, 8),
    ("HeavyBall", 8, 3, 2),
    ("HeavyBall", 10, 3, 5),
    ("HeavyBall", 12, 2, 4),
]


def main() -> None:
    print("| method | n | d | B | transitions | one 𝒯(η) (s) | threshold (s) | η* |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, samples, dimension, batch in CASES:
        data = np.random.default_rng(samples).standard_normal((samples, dimension))
        problem = Quadratic.from_data(data)
        method = (
            SGD(batch, shuffle=True) if name == "SGD" else HeavyBall(0.5, batch, shuffle=True)
        )
        operator = epoch_operator(problem, method)
        start = time.perf_counter()
        operator.radius(0.5 / problem.sharpness)
        evaluated = time.perf_counter() - start
        start = time.perf_counter()
        value = critical_learning_rate(problem, method)
        searched = time.perf_counter() - start
        print(
            f"| {name} | {samples} | {dimension} | {batch} | {operator.transitions:,} | "
            f"{evaluated:.3f} | {searched:.1f} | {value:.6g} |"
        )
    print(f"\nlimit over samples: {EPOCH_TRANSITION_LIMIT:,} transitions (n ≤ 16)")


if __name__ == "__main__":
    main()
