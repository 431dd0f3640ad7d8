"""Cost of the exact epoch operator of random reshuffling (never asserted in tests).

Run ``python benchmarks/reshuffling.py``. For each ``(n, B)`` it prints the transitions of the
subset recursion (``docs/theory/reshuffling.md``), the time to build the epoch operator as a
polynomial in ``η`` and the time of the threshold search, on seeded Gaussian data in ``d = 3``
(SGD) and, for a few cases, heavy ball (``m = 2``, a larger symmetric state space).
"""

from __future__ import annotations

import time

import numpy as np

from stability import SGD, HeavyBall, Quadratic
from stability.reshuffling import (
    EPOCH_TRANSITION_LIMIT,
    epoch_critical_learning_rate,
    epoch_operator,
)

CASES = [
    ("SGD", 8, 2),
    ("SGD", 10, 2),
    ("SGD", 12, 3),
    ("SGD", 12, 1),
    ("SGD", 14, 4),
    ("HeavyBall", 8, 2),
    ("HeavyBall", 10, 5),
]


def main() -> None:
    print("| method | n | B | transitions | build (s) | threshold, with its build (s) | η* |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, samples, batch in CASES:
        data = np.random.default_rng(samples).standard_normal((samples, 3))
        problem = Quadratic.from_data(data)
        method = (
            SGD(batch, shuffle=True) if name == "SGD" else HeavyBall(0.5, batch, shuffle=True)
        )
        start = time.perf_counter()
        operator = epoch_operator(problem, method)
        built = time.perf_counter() - start
        start = time.perf_counter()
        value = epoch_critical_learning_rate(problem, method)
        searched = time.perf_counter() - start
        print(
            f"| {name} | {samples} | {batch} | {operator.transitions:,} | {built:.2f} | "
            f"{searched:.2f} | {value:.6g} |"
        )
    print(f"\nlimit: {EPOCH_TRANSITION_LIMIT:,} transitions")


if __name__ == "__main__":
    main()
