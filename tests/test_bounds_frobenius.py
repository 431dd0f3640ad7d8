"""The Frobenius bound in the √B form (Wu, Wang & Su 2022's scaling, exact constant here).

References: the exact threshold, the identity test it is derived from, an independent
numeric maximisation of its constant, and the former 2r/(p ‖H‖_F) form.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import SGD, Quadratic, bounds, critical_learning_rate
from stability.bounds import frobenius_constant
from stability.errors import InvalidInputError
from stability.testing.strategies import data_matrices, per_sample_hessians

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def sgd_cases(draw):
    if draw(st.booleans()):
        problem = Quadratic.from_data(draw(data_matrices(min_samples=2, max_samples=6)))
    else:
        problem = Quadratic.from_hessians(draw(per_sample_hessians(min_samples=2, max_samples=5)))
    replacement = draw(st.booleans())
    batch = draw(st.integers(1, problem.samples * (2 if replacement else 1)))
    return problem, SGD(batch, replacement=replacement)


def _largest_rank(problem: Quadratic) -> int:
    if problem.rank_one:
        return 1
    eigenvalues = np.linalg.eigvalsh(np.asarray(problem.per_sample_hessians()))
    return max(1, int(np.max(np.sum(eigenvalues > 1e-9 * problem.sharpness, axis=1))))


@PROPERTY
@given(sgd_cases())
def test_frobenius_bound_is_a_valid_necessary_condition(case):
    problem, method = case
    exact = critical_learning_rate(problem, method)
    value = bounds.frobenius_bound(problem, method)
    assert value >= exact * (1 - 1e-9)
    # it is a relaxation of the identity test, so never tighter than it
    assert value >= bounds.identity_test_bound(problem, method) * (1 - 1e-12)


@PROPERTY
@given(sgd_cases())
def test_never_weaker_than_the_former_form_and_root_b_below_the_switch(case):
    problem, method = case
    mixing = float(method.dynamics().batch.mixing(problem.samples))
    norm = float(np.linalg.norm(problem.reduced().eigenvalues))
    rank = _largest_rank(problem)
    value = bounds.frobenius_bound(problem, method)
    former = 2 * rank / (mixing * norm) if mixing else math.inf
    assert value <= former * (1 + 1e-12)
    if 0 < mixing <= rank / (1 + rank):
        assert value == pytest.approx(math.sqrt(rank / (mixing * (1 - mixing))) / norm, rel=1e-12)


@given(st.integers(1, 6), st.floats(0.001, 1.0))
@settings(max_examples=60, deadline=None)
def test_constant_is_the_maximum_of_the_relaxed_identity_test(rank, mixing):
    # independent: maximise f over t ≥ f ≥ 0 with (1 − p) f² + p t² / r ≤ 2 t (at g η = 1)
    t = np.linspace(0, 2 * rank / mixing, 200_001)
    slack = 2 * t - mixing * t**2 / rank
    feasible = slack >= 0
    f = np.where(
        feasible,
        np.minimum(t, np.sqrt(np.maximum(slack, 0) / (1 - mixing)) if mixing < 1 else t),
        0,
    )
    numeric = float(f.max())
    assert frobenius_constant(rank, mixing) == pytest.approx(numeric, rel=1e-4)


def test_root_b_scaling_against_the_former_b_scaling():
    # orthonormal data rows: ‖H‖_F = 1/√n, r = 1; with replacement p = 1/B
    samples = 64
    problem = Quadratic.from_data(np.eye(samples))
    norm = 1 / math.sqrt(samples)
    for batch in (2, 8, 32):
        value = bounds.frobenius_bound(problem, SGD(batch, replacement=True))
        p = 1 / batch
        assert value == pytest.approx(math.sqrt(1 / (p * (1 - p))) / norm, rel=1e-12)
        assert value * norm == pytest.approx(batch / math.sqrt(batch - 1), rel=1e-12)  # ~ √B
        assert 2 * batch / norm / value >= math.sqrt(batch)  # the former form grows like B


def test_constant_rejects_bad_input():
    with pytest.raises(InvalidInputError, match="mixing"):
        frobenius_constant(1, 1.5)
    with pytest.raises(InvalidInputError, match="rank"):
        frobenius_constant(0, 0.5)
    assert frobenius_constant(3, 0.0) == math.inf


def test_citation_says_which_part_is_whose():
    assert "Wu, Wang & Su (2022)" in bounds.frobenius_bound.citation
    assert "derived here" in bounds.frobenius_bound.citation
    assert "derived here" in bounds.deep_linear_sharpness_lower_bound.citation


def test_deep_linear_limit_is_below_marion_chizat_form():
    rng = np.random.default_rng(4)
    features = rng.standard_normal((8, 3)) * np.array([3.0, 1.0, 0.3])
    targets = rng.standard_normal(8)
    for depth in (2, 3, 5):
        weak = bounds.deep_linear_sharpness_lower_bound(features, targets, depth, simplified=True)
        limit = bounds.deep_linear_learning_rate_limit(features, targets, depth)
        assert limit <= 2 / weak * (1 + 1e-12)
