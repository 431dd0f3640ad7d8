"""Rank-one noise thresholds (stability.numeric._rank_one_noise; docs/theory/momentum-threshold.md).

Every threshold is compared with an independent computation: the dense companion pencil
of ``det(T(η) − I)`` on the assembled ``svec`` operator (``solver="dense"``), batch
enumeration with bisection on the brute-force spectral radius (tests/brute_force.py),
the closed form of the heavy-ball pair weight, and finite differences.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import SGD, HeavyBall, LinearDynamics, Nesterov, Quadratic
from stability.dynamics import BatchLaw, MatrixPolynomial
from stability.errors import InvalidInputError
from stability.numeric import critical_learning_rate
from stability.numeric._rank_one_noise import (
    NOT_APPLICABLE,
    heavy_ball_shape,
    heavy_ball_threshold,
    not_applicable_reason,
    pair_weights,
    rank_one_threshold,
)
from stability.numeric._structure import full_batch_critical_learning_rate
from stability.testing.strategies import data_matrices, per_sample_hessians
from tests import brute_force

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sample_moment(problem: Quadratic):
    """``X ↦ (1/n) Σ H_s X H_s`` in the eigenbasis of ``H``, from the factors ``H_s = G_sᵀ G_s``."""
    factors = problem.reduced().factors
    hessians = np.einsum("ski,skj->sij", factors, factors)

    def apply(matrix: np.ndarray) -> np.ndarray:
        return np.einsum("sij,...jk,skl->...il", hessians, matrix, hessians) / len(hessians)

    return apply


def threshold(problem: Quadratic, method, dynamics: LinearDynamics | None = None):
    """The rank-one route on ``problem`` (``dynamics`` overrides the method's description)."""
    dynamics = method.dynamics() if dynamics is None else dynamics
    reduced = problem.reduced()
    result = rank_one_threshold(
        reduced.eigenvalues,
        sample_moment(problem),
        dynamics.identity_part.numeric_coefficients(),
        dynamics.hessian_part.numeric_coefficients(),
        float(dynamics.batch.mixing(problem.samples)),
        full_batch_critical_learning_rate(dynamics, reduced.eigenvalues),
    )
    # the reduced Hessians are stored divided by ``scale``: η* scales back by 1/scale
    return dataclasses.replace(result, threshold=result.threshold / reduced.scale)


@st.composite
def problems_and_momentum(draw, max_samples=6, max_dimension=4):
    if draw(st.booleans()):
        data = draw(data_matrices(min_samples=2, max_samples=max_samples,
                                  max_dimension=max_dimension))
        problem = Quadratic.from_data(data)
    else:
        problem = Quadratic.from_hessians(
            draw(per_sample_hessians(min_samples=2, max_samples=max_samples - 1,
                                     max_dimension=max_dimension - 1))
        )
    samples = problem.samples
    replacement = draw(st.booleans())
    batch = draw(st.integers(1, samples + 2 if replacement else samples))
    beta = draw(st.floats(0.0, 0.99))
    family = draw(st.sampled_from([HeavyBall, Nesterov]))
    return problem, family(beta, batch_size=batch, replacement=replacement)


@PROPERTY
@given(problems_and_momentum())
def test_agrees_with_the_dense_companion_pencil(case):
    problem, method = case
    if problem.reduced().rank == 0:
        return
    result = threshold(problem, method)
    dense = critical_learning_rate(problem, method, solver="dense")
    assert result.threshold == pytest.approx(dense, rel=1e-10)
    assert result.residual <= 1e-9
    dynamics = method.dynamics()
    recognised = heavy_ball_shape(dynamics.identity_part.numeric_coefficients(),
                                  dynamics.hessian_part.numeric_coefficients())
    assert (recognised is not None) == (isinstance(method, HeavyBall) or method.momentum == 0)
    expected = "heavy-ball pencil" if recognised is not None else "rank-one newton"
    if float(method.dynamics().batch.mixing(problem.samples)) == 0:
        expected = "noise-free"
    assert result.route == expected


@pytest.mark.parametrize(
    ("family", "beta", "batch", "replacement"),
    [(HeavyBall, 0.9, 1, False), (Nesterov, 0.5, 2, True), (HeavyBall, 0.3, 2, False),
     (Nesterov, 0.95, 1, True)],
)
def test_agrees_with_batch_enumeration(family, beta, batch, replacement):
    rng = np.random.default_rng(7)
    factors = rng.standard_normal((4, 2, 3))
    hessians = np.einsum("ski,skj->sij", factors, factors)
    problem = Quadratic.from_hessians(hessians)
    method = family(beta, batch_size=batch, replacement=replacement)
    reference = brute_force.threshold(hessians, method.dynamics(), relative=1e-12)
    assert threshold(problem, method).threshold == pytest.approx(reference, rel=1e-10)


def test_heavy_ball_pair_weight_has_the_closed_form():
    # r_ij = η² (1 − β²) / [β (a − b)² + (1 − β)² ((a + b)(1 + β) − a b)], a = ηλ_i, b = ηλ_j
    beta, lr = 0.8, 0.3
    lam = np.array([3.0, 1.5, 0.2])
    dynamics = HeavyBall(beta).dynamics()
    values, _ = pair_weights(lam, dynamics.identity_part.numeric_coefficients(),
                             dynamics.hessian_part.numeric_coefficients(), lr)
    rows, cols = np.triu_indices(3)
    a, b = lr * lam[rows], lr * lam[cols]
    closed = lr**2 * (1 - beta**2) / (
        beta * (a - b) ** 2 + (1 - beta) ** 2 * ((a + b) * (1 + beta) - a * b)
    )
    assert np.allclose(values, closed, rtol=1e-12)
    assert np.all(values > 0)


@pytest.mark.parametrize("method", [HeavyBall(0.7), Nesterov(0.9), SGD(1)])
def test_pair_weight_derivative_matches_finite_differences(method):
    dynamics = method.dynamics()
    identity = dynamics.identity_part.numeric_coefficients()
    hessian = dynamics.hessian_part.numeric_coefficients()
    lam = np.array([2.0, 0.7, 0.1])
    lr, step = 0.4, 1e-6
    _, slopes = pair_weights(lam, identity, hessian, lr, derivative=True)
    plus, _ = pair_weights(lam, identity, hessian, lr + step)
    minus, _ = pair_weights(lam, identity, hessian, lr - step)
    assert np.allclose(slopes, (plus - minus) / (2 * step), rtol=1e-6)


def _swapped_heavy_ball(beta: float, batch: int) -> LinearDynamics:
    """Heavy ball with the state blocks in the other order, ``(δ_{t−1}, δ_t)``."""
    return LinearDynamics(
        name="swapped",
        identity_part=MatrixPolynomial.from_matrices([[[0, 1], [-beta, 1 + beta]]]),
        hessian_part=MatrixPolynomial.from_matrices([[[0, 0], [0, 0]], [[0, 0], [0, -1]]]),
        batch=BatchLaw(batch),
        state=("δ_{t-1}", "δ_t"),
    )


@pytest.mark.parametrize("beta", [0.0, 0.6, 0.95])
def test_newton_route_and_heavy_ball_pencil_agree(beta):
    problem = Quadratic.from_data(np.random.default_rng(3).standard_normal((12, 5)))
    method = HeavyBall(beta, batch_size=3)
    pencil = threshold(problem, method)
    newton = threshold(problem, method, _swapped_heavy_ball(beta, 3))
    assert (pencil.route, newton.route) == ("heavy-ball pencil", "rank-one newton")
    assert newton.threshold == pytest.approx(pencil.threshold, rel=1e-11)


def test_identical_samples_give_the_full_batch_threshold():
    problem = Quadratic.from_data(np.tile([[1.0, 2.0]], (4, 1)))
    for method in (HeavyBall(0.9, batch_size=1), Nesterov(0.9, batch_size=2)):
        upper = full_batch_critical_learning_rate(method.dynamics(), problem.reduced().eigenvalues)
        assert threshold(problem, method).threshold == pytest.approx(upper, rel=1e-12)


def test_warm_start_saves_applications():
    problem = Quadratic.from_data(np.random.default_rng(5).standard_normal((60, 12)))
    reduced = problem.reduced()
    dynamics = Nesterov(0.9, batch_size=4).dynamics()
    arguments = (
        reduced.eigenvalues,
        sample_moment(problem),
        dynamics.identity_part.numeric_coefficients(),
        dynamics.hessian_part.numeric_coefficients(),
        float(dynamics.batch.mixing(60)),
        full_batch_critical_learning_rate(dynamics, reduced.eigenvalues),
    )
    cold = rank_one_threshold(*arguments)
    warm = rank_one_threshold(*arguments, start=cold.vector)
    assert warm.threshold == pytest.approx(cold.threshold, rel=1e-12)
    assert warm.applications < cold.applications


def test_shapes_are_recognised_from_the_description():
    def shape(dynamics):
        return heavy_ball_shape(dynamics.identity_part.numeric_coefficients(),
                                dynamics.hessian_part.numeric_coefficients())

    assert shape(HeavyBall(0.25).dynamics()) == (0.25, 1.0)
    assert shape(HeavyBall(0.9999999999999999).dynamics()) == (0.9999999999999999, 1.0)
    assert shape(Nesterov(0.25).dynamics()) is None
    assert shape(SGD(2).dynamics()) is None
    assert shape(_swapped_heavy_ball(0.5, 2)) is None


def test_full_rank_noise_is_not_applicable():
    identity = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    hessian = np.array([np.zeros((2, 2)), -np.eye(2)])  # two independent gradient blocks
    reason = not_applicable_reason(identity, hessian)
    assert reason is not None and "rank 2" in reason
    with pytest.raises(InvalidInputError, match=NOT_APPLICABLE):
        rank_one_threshold(np.array([1.0]), lambda x: x, identity, hessian, 0.5, 1.0)


def test_vanishing_noise_is_not_applicable():
    identity = np.array([[[0.5]]])
    assert "vanishes" in not_applicable_reason(identity, np.zeros((2, 1, 1)))


def test_noise_free_and_empty_problems():
    dynamics = HeavyBall(0.5).dynamics()
    identity = dynamics.identity_part.numeric_coefficients()
    hessian = dynamics.hessian_part.numeric_coefficients()
    result = rank_one_threshold(np.array([2.0]), lambda x: x, identity, hessian, 0.0, 1.5)
    assert (result.threshold, result.route, result.applications) == (1.5, "noise-free", 0)
    empty = rank_one_threshold(np.zeros(0), lambda x: x, identity, hessian, 0.5, math.inf)
    assert math.isinf(empty.threshold)


def test_bad_arguments_are_named():
    dynamics = HeavyBall(0.5).dynamics()
    identity = dynamics.identity_part.numeric_coefficients()
    hessian = dynamics.hessian_part.numeric_coefficients()
    with pytest.raises(InvalidInputError, match="eigenvalues"):
        rank_one_threshold(np.array([1.0, -1.0]), lambda x: x, identity, hessian, 0.5, 1.0)
    with pytest.raises(InvalidInputError, match="upper"):
        rank_one_threshold(np.array([1.0]), lambda x: x, identity, hessian, 0.5, -1.0)
    with pytest.raises(InvalidInputError, match="beta"):
        heavy_ball_threshold(np.array([1.0]), lambda x: x, 1.0, 0.5, 1.0)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.999])
def test_heavy_ball_newton_refinement_agrees_with_the_pencil(beta, monkeypatch):
    import stability.numeric._rank_one_noise as rank_one_noise

    problem = Quadratic.from_data(np.random.default_rng(11).standard_normal((15, 6)))
    method = HeavyBall(beta, batch_size=4)
    pencil = threshold(problem, method)
    monkeypatch.setattr(rank_one_noise, "PENCIL_RESIDUAL", 0.0)  # always refine by Newton
    newton = threshold(problem, method)
    assert (pencil.route, newton.route) == ("heavy-ball pencil", "heavy-ball newton")
    assert newton.threshold == pytest.approx(pencil.threshold, rel=1e-12)
    assert newton.residual <= 1e-9


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.6, 0.9, 0.99, 0.9999])
def test_nesterov_pair_weights_are_positive_on_the_stable_range(beta):
    # at η = 1 the pairs (λ_i, λ_j) sweep the full-batch-stable square (0, 2(1+β)/(1+2β))²
    dynamics = Nesterov(beta).dynamics()
    edge = 2 * (1 + beta) / (1 + 2 * beta)
    curvatures = np.linspace(1e-4, 1 - 1e-9, 60) * edge
    values, _ = pair_weights(curvatures, dynamics.identity_part.numeric_coefficients(),
                             dynamics.hessian_part.numeric_coefficients(), 1.0)
    assert np.all(values > 0)


@pytest.mark.parametrize("family", [HeavyBall, Nesterov])
@pytest.mark.parametrize("scale", [1e-70, 1e70])
def test_thresholds_scale_as_one_over_the_square_of_the_data(family, scale):
    data = np.random.default_rng(2).standard_normal((8, 3))
    method = family(1 - 1e-3, batch_size=2)
    unit = threshold(Quadratic.from_data(data), method).threshold
    scaled = threshold(Quadratic.from_data(scale * data), method).threshold
    assert scaled * scale**2 == pytest.approx(unit, rel=1e-12)
