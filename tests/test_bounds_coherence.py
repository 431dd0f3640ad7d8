"""The coherence construction of Dexter et al. (2024) (stability.bounds; docs/theory/threshold.md).

The closed form is checked against the formula written out per direction, the dense and
matrix-free routes, and brute force.
"""

from __future__ import annotations

import numpy as np
import pytest

from stability import SGD, InvalidInputError
from stability.bounds import coherence_critical_learning_rate, coherence_problem
from stability.numeric import critical_learning_rate, threshold_report
from tests import brute_force


def _coherence_by_formula(samples, copies, mixing):
    """Wu–Ma–E per direction, written out from the construction (no shared code)."""
    sharp = np.zeros(samples)
    sharp[:copies] = 2.0 * samples / copies
    candidates = [2 * sharp.mean() / (sharp.mean() ** 2 + mixing * sharp.var())]
    if copies < samples:
        unit = np.zeros(samples)
        unit[copies] = 1.0
        candidates.append(2 * unit.mean() / (unit.mean() ** 2 + mixing * unit.var()))
    return min(candidates)


@pytest.mark.parametrize("copies", [1, 3, 6])
@pytest.mark.parametrize(
    ("batch", "replacement"), [(1, True), (2, True), (2, False), (5, False), (6, False)]
)
def test_coherence_closed_form_small_against_the_dense_route_and_brute_force(
    copies, batch, replacement
):
    samples = 6
    problem = coherence_problem(samples, copies)
    assert problem.dimension == samples + 1 - copies and problem.sharpness == pytest.approx(2.0)
    method = SGD(batch, replacement=replacement)
    closed = coherence_critical_learning_rate(samples, copies, batch, replacement)
    mixing = float(method.dynamics().batch.mixing(samples))
    assert closed == pytest.approx(_coherence_by_formula(samples, copies, mixing), rel=1e-14)
    assert critical_learning_rate(problem, method, solver="dense") == pytest.approx(
        closed, rel=1e-12
    )
    if copies == 6 or batch <= 2:
        reference = brute_force.threshold(
            np.asarray(problem.per_sample_hessians()), method.dynamics()
        )
        assert closed == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("copies", [1, 10, 37, 99, 100])
@pytest.mark.parametrize(("batch", "replacement"), [(1, True), (10, True), (10, False)])
def test_coherence_closed_form_at_n_100(copies, batch, replacement):
    problem = coherence_problem(100, copies)
    method = SGD(batch, replacement=replacement)
    closed = coherence_critical_learning_rate(100, copies, batch, replacement)
    report = threshold_report(problem, method)
    assert report.route == "commuting"
    assert report.value == pytest.approx(closed, rel=1e-13)
    free = critical_learning_rate(problem, method, solver="matrix-free")
    assert free == pytest.approx(closed, rel=1e-10)


def test_coherence_with_one_sample_per_copy_is_sigma_over_n():
    for copies in (1, 5, 20, 100):
        assert coherence_critical_learning_rate(100, copies, 1, True) == pytest.approx(
            copies / 100, rel=1e-14
        )
        assert coherence_critical_learning_rate(100, copies, None) == pytest.approx(1.0)


def test_coherence_arguments_are_checked():
    with pytest.raises(InvalidInputError, match="copies must be at most samples=5"):
        coherence_problem(5, 6)
    with pytest.raises(InvalidInputError, match="copies must be at least 1"):
        coherence_critical_learning_rate(5, 0, 1)
    with pytest.raises(InvalidInputError, match="batch_size must be at most"):
        coherence_critical_learning_rate(5, 2, 7)
