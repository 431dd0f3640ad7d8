"""The shared dynamics description: polynomials, batch laws and their samplers."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from stability import GD, SGD, BatchLaw, HeavyBall, MatrixPolynomial, Nesterov
from stability.errors import InvalidInputError


def test_mixing_weights_match_theory():
    assert BatchLaw(None).mixing(7) == 0
    assert BatchLaw(3, replacement=True).mixing(7) == Fraction(1, 3)
    assert BatchLaw(3).mixing(7) == Fraction(4, 18)
    assert BatchLaw(7).mixing(7) == 0
    assert BatchLaw(1).mixing(1) == 0


@pytest.mark.parametrize(("samples", "batch_size", "replacement"),
                         [(4, 2, False), (5, 3, False), (3, 2, True), (4, 3, True)])
def test_batch_sampler_has_the_exact_law(samples, batch_size, replacement):
    """Chi-square goodness of fit of the sampled batches against the exact law.

    Seeded; the test fails when the p-value is below 1e-6, so a correct sampler fails it
    with probability 1e-6 over seeds (here: never, the seed is fixed).
    """
    law = BatchLaw(batch_size, replacement)
    draws = 60_000
    weights = law.sample_weights(samples, draws, np.random.default_rng(12345))
    counts = np.rint(weights * batch_size).astype(int)
    assert np.all(counts.sum(axis=1) == batch_size)
    if not replacement:
        assert counts.max() == 1
    outcomes = {}
    for row in map(tuple, counts):
        outcomes[row] = outcomes.get(row, 0) + 1
    if replacement:
        support = [c for c in itertools.product(range(batch_size + 1), repeat=samples)
                   if sum(c) == batch_size]
        expected = {c: math.factorial(batch_size) / math.prod(math.factorial(k) for k in c)
                    / samples**batch_size for c in support}
    else:
        support = [tuple(1 if i in combo else 0 for i in range(samples))
                   for combo in itertools.combinations(range(samples), batch_size)]
        expected = {c: 1 / len(support) for c in support}
    assert set(outcomes) <= set(expected)
    observed = np.array([outcomes.get(c, 0) for c in support])
    probabilities = np.array([expected[c] for c in support])
    _, p_value = stats.chisquare(observed, probabilities * draws)
    assert p_value > 1e-6


def test_second_moment_of_sampled_batches_matches_mixing():
    """E[w wᵀ] = (1 − p) 1 1ᵀ / n² + p I / n: the identity behind E[H_B ⊗ H_B]."""
    samples, batch_size = 5, 2
    for replacement in (False, True):
        law = BatchLaw(batch_size, replacement)
        p = float(law.mixing(samples))
        weights = law.sample_weights(samples, 200_000, np.random.default_rng(7))
        estimate = weights.T @ weights / len(weights)
        expected = (1 - p) * np.ones((samples, samples)) / samples**2 + p * np.eye(samples) / (
            samples
        )
        # entries are bounded by 1/B², so Hoeffding at 200k draws gives |error| < 0.01 with
        # probability above 1 − 1e-30 per entry
        np.testing.assert_allclose(estimate, expected, atol=0.01)


def test_full_batch_sampler_is_deterministic():
    weights = BatchLaw(None).sample_weights(4, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(weights, np.full((3, 4), 0.25))


def test_batch_law_validation():
    with pytest.raises(InvalidInputError, match="batch_size"):
        BatchLaw(5).validate(4)
    BatchLaw(5, replacement=True).validate(4)
    with pytest.raises(InvalidInputError, match="per-sample"):
        BatchLaw(2).validate(None)


def test_matrix_polynomial_trims_and_evaluates():
    polynomial = MatrixPolynomial.from_matrices([[[1, 2], [3, 4]], [[0, 1], [0, 0]],
                                                 [[0, 0], [0, 0]]])
    assert polynomial.degree == 1 and polynomial.size == 2
    np.testing.assert_array_equal(polynomial.evaluate(2.0), [[1, 4], [3, 4]])
    with pytest.raises(InvalidInputError):
        MatrixPolynomial.from_matrices([[[1, 2]], [[1]]])


@pytest.mark.parametrize("beta", [0.0, 0.25, 0.9])
def test_state_maps_are_the_optimisers(beta):
    """One step of each compiled state map equals the optimiser's update written directly."""
    rng = np.random.default_rng(1)
    batch_hessian = rng.standard_normal((3, 3))
    batch_hessian = batch_hessian @ batch_hessian.T
    current, previous = rng.standard_normal(3), rng.standard_normal(3)
    lr = 0.3
    state = np.concatenate([current, previous])
    gd = GD().dynamics().state_map(lr, batch_hessian) @ current
    np.testing.assert_allclose(gd, current - lr * batch_hessian @ current)
    assert SGD(2).dynamics().gradient_step_scale() == 1
    heavy = HeavyBall(beta).dynamics().state_map(lr, batch_hessian) @ state
    expected = current - lr * batch_hessian @ current + beta * (current - previous)
    np.testing.assert_allclose(heavy, np.concatenate([expected, current]))
    nesterov = Nesterov(beta).dynamics().state_map(lr, batch_hessian) @ state
    look_ahead = current + beta * (current - previous)
    expected = look_ahead - lr * batch_hessian @ look_ahead
    np.testing.assert_allclose(nesterov, np.concatenate([expected, current]))
    assert HeavyBall(beta).dynamics().gradient_step_scale() is None


def test_momentum_coefficients_are_exact():
    dynamics = HeavyBall(0.6).dynamics()
    (row, _), = dynamics.identity_part.coefficients
    assert row[0] + row[1] == 1  # (1 + β) − β, exactly
