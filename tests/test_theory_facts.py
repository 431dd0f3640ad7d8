"""The facts of docs/theory/threshold.md as tests (Mulayoff & Michaeli 2023; Wu, Ma & E 2018)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, Quadratic
from stability.testing.strategies import data_matrices, per_sample_hessians

FACTS = settings(max_examples=40, deadline=None)


def _mixing(samples: int, batch_size: int, replacement: bool) -> float:
    return float(SGD(batch_size, replacement=replacement).dynamics().batch.mixing(samples))


problems = st.one_of(
    data_matrices(min_samples=2, max_samples=6, max_dimension=4).map(Quadratic.from_data),
    per_sample_hessians(min_samples=2, max_samples=5, max_dimension=3).map(
        Quadratic.from_hessians
    ),
)


@FACTS
@given(problems)
def test_full_batch_without_replacement_equals_gd(problem):
    sgd = stability.critical_learning_rate(problem, SGD(problem.samples))
    assert sgd == pytest.approx(stability.critical_learning_rate(problem, GD()), rel=1e-10)
    assert sgd == pytest.approx(2 / problem.sharpness, rel=1e-10)


@FACTS
@given(problems, st.booleans())
def test_threshold_non_decreasing_in_batch_size_and_never_beats_gd(problem, replacement):
    gd = stability.critical_learning_rate(problem, GD())
    largest = problem.samples if not replacement else 2 * problem.samples
    rates = [
        stability.critical_learning_rate(problem, SGD(b, replacement=replacement))
        for b in range(1, largest + 1)
    ]
    assert all(b >= a * (1 - 1e-10) for a, b in itertools.pairwise(rates))
    assert all(rate <= gd * (1 + 1e-10) for rate in rates)


@FACTS
@given(
    data_matrices(min_samples=6, max_samples=6, max_dimension=4).map(Quadratic.from_data)
)
def test_equal_mixing_gives_equal_threshold(problem):
    """n = 6: with replacement B = 5 and without replacement B = 3 both have p = 1/5."""
    assert _mixing(6, 5, True) == _mixing(6, 3, False) == pytest.approx(0.2)
    with_replacement = stability.critical_learning_rate(problem, SGD(5, replacement=True))
    without = stability.critical_learning_rate(problem, SGD(3))
    assert with_replacement == pytest.approx(without, rel=1e-10)


@FACTS
@given(
    st.lists(st.floats(0.0, 10.0), min_size=2, max_size=8).filter(lambda h: sum(h) > 1e-3),
    st.integers(1, 8),
    st.booleans(),
)
def test_one_dimensional_closed_form(curvatures, batch_size, replacement):
    """Wu, Ma & E (2018): η* = 2a / (a² + p s²) with a = mean h_i, s² = var h_i."""
    samples = len(curvatures)
    if not replacement:
        batch_size = min(batch_size, samples)
    values = np.array(curvatures)
    mean, variance = values.mean(), values.var()
    p = _mixing(samples, batch_size, replacement)
    problem = Quadratic.from_hessians(values[:, None, None])
    expected = 2 * mean / (mean**2 + p * variance)
    method = SGD(batch_size, replacement=replacement)
    assert stability.critical_learning_rate(problem, method) == pytest.approx(expected, rel=1e-10)


@FACTS
@given(
    st.integers(2, 5),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
    st.integers(1, 5),
    st.booleans(),
)
def test_commuting_closed_form(samples, dimension, seed, batch_size, replacement):
    """Common eigenbasis: η* = min_k 2 h̄_k / (h̄_k² + p Var_i h_ik)."""
    rng = np.random.default_rng(seed)
    if not replacement:
        batch_size = min(batch_size, samples)
    eigen = rng.exponential(size=(samples, dimension))
    eigen[rng.random(eigen.shape) < 0.2] = 0.0
    eigen[0] += 0.1
    rotation = np.linalg.qr(rng.standard_normal((dimension, dimension)))[0]
    hessians = np.einsum("ij,nj,kj->nik", rotation, eigen, rotation)
    problem = Quadratic.from_hessians(hessians)
    p = _mixing(samples, batch_size, replacement)
    mean, variance = eigen.mean(axis=0), eigen.var(axis=0)
    expected = np.min(2 * mean / (mean**2 + p * variance))
    method = SGD(batch_size, replacement=replacement)
    assert stability.critical_learning_rate(problem, method) == pytest.approx(expected, rel=1e-9)


def _bounds(problem: Quadratic, p: float, directions: np.ndarray):
    hessians = np.asarray(problem.per_sample_hessians())
    hessian = problem.hessian
    samples = len(hessians)
    # Σ = v vᵀ: η* ≤ 2 a_v / (a_v² + p s_v²) for every unit v
    a = np.einsum("ki,ij,kj->k", directions, hessian, directions)
    per = np.einsum("ki,nij,kj->nk", directions, hessians, directions)
    s2 = (per**2).mean(axis=0) - a**2
    rank_one = np.min(2 * a / (a**2 + p * s2))
    # Σ = I: η* ≤ 2 tr H / ((1 − p)‖H‖_F² + (p/n) Σ ‖H_i‖_F²)
    trace = 2 * np.trace(hessian) / (
        (1 - p) * np.sum(hessian**2) + p / samples * np.sum(hessians**2)
    )
    # sufficient (Wu, Ma & E): λ_max((I − ηH)² + η² p (mean H_i² − H²)) ≤ 1
    second = (1 - p) * hessian @ hessian + p * np.einsum("nij,njk->ik", hessians, hessians) / (
        samples
    )
    values, vectors = np.linalg.eigh(hessian)
    keep = values > 1e-10 * values.max()
    root_inverse = vectors[:, keep] / np.sqrt(values[keep])
    sufficient = 2 / np.linalg.eigvalsh(root_inverse.T @ second @ root_inverse)[-1]
    return rank_one, trace, sufficient


@FACTS
@given(problems, st.integers(1, 6), st.booleans(), st.integers(0, 2**32 - 1))
def test_necessary_and_sufficient_bounds_bracket_threshold(problem, batch_size, replacement, seed):
    if not replacement:
        batch_size = min(batch_size, problem.samples)
    p = _mixing(problem.samples, batch_size, replacement)
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((64, problem.dimension))
    directions = np.vstack([directions, np.linalg.eigh(problem.hessian)[1].T])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    keep = np.einsum("ki,ij,kj->k", directions, problem.hessian, directions) > 1e-12
    rank_one, trace, sufficient = _bounds(problem, p, directions[keep])
    exact = stability.critical_learning_rate(problem, SGD(batch_size, replacement=replacement))
    tolerance = 1 + 1e-10
    assert sufficient <= exact * tolerance
    assert exact <= rank_one * tolerance
    assert exact <= trace * tolerance


def test_sgd_threshold_of_the_issue_example_is_three_minus_root_three():
    problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert stability.critical_learning_rate(problem, SGD(1)) == pytest.approx(
        3 - np.sqrt(3), rel=1e-14
    )
