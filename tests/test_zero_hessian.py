"""``H = 0``: the edge comes from ``F(η)`` alone when weight decay makes it depend on ``η``.

With every Hessian zero the state evolves by ``F(η)`` and its second moment by ``F ⊗ F``;
mean-square stability is ``ρ(F(η)) < 1``. Closed forms: decoupled decay (AdamW) moves ``δ``
by ``1 − ημ`` (edge ``2/μ``); coupled decay is the method on ``μ I`` (heavy ball
``2(1 + β)/μ``, Nesterov ``2(1 + β)/((1 + 2β) μ)``); without decay nothing moves (``∞``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import stability
from stability import AdamW, HeavyBall, Nesterov, Quadratic

CASES = [
    (AdamW(0.9, preconditioner=[1.0, 3.0], weight_decay=0.1), 2 / 0.1),
    (AdamW(0.5, preconditioner=[2.0, 1.0], weight_decay=0.3), 2 / 0.3),
    (HeavyBall(0.9, weight_decay=0.1), 2 * 1.9 / 0.1),
    (Nesterov(0.5, weight_decay=0.2), 2 * 1.5 / (2.0 * 0.2)),
    (HeavyBall(0.9), math.inf),
]


@pytest.mark.parametrize(("method", "expected"), CASES, ids=lambda case: str(case)[:24])
def test_zero_hessian_edge_is_the_closed_form(method, expected) -> None:
    problem = Quadratic(np.zeros((2, 2)))
    threshold = stability.critical_learning_rate(problem, method)
    if math.isinf(expected):
        assert math.isinf(threshold)
        return
    assert threshold == pytest.approx(expected, rel=1e-13)
    # the radius (which includes null(H)) crosses one there
    assert stability.spectral_radius(problem, method, 0.999 * threshold) < 1.0
    assert stability.spectral_radius(problem, method, 1.001 * threshold) > 1.0
    assert stability.is_stable(problem, method, 0.999 * threshold)
