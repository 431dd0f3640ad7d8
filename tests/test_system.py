"""The binding of a problem to a method: one validation, one error, scale and shifts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

from stability import (
    GD,
    SGD,
    HeavyBall,
    Quadratic,
    critical_learning_rate,
    is_stable,
    spectral_radius,
)
from stability._system import bind
from stability.bounds import lyapunov_exponent, moment_spectral_radius, moment_threshold
from stability.checks import check
from stability.errors import InvalidTypeError
from stability.numeric import predicted_mean_square, stationary_second_moment
from stability.simulation import simulate

PROBLEM = Quadratic.from_data(np.random.default_rng(3).standard_normal((6, 3)))
SYMBOLIC = HeavyBall(sympy.Symbol("beta"), batch_size=2)

ENTRY_POINTS = {
    "critical_learning_rate": lambda: critical_learning_rate(PROBLEM, SYMBOLIC),
    "critical_learning_rate(precision)": lambda: critical_learning_rate(
        PROBLEM, SYMBOLIC, precision=30
    ),
    "spectral_radius": lambda: spectral_radius(PROBLEM, SYMBOLIC, 0.1),
    "is_stable": lambda: is_stable(PROBLEM, SYMBOLIC, 0.1),
    "predicted_mean_square": lambda: predicted_mean_square(PROBLEM, SYMBOLIC, 0.1, steps=3),
    "stationary_second_moment": lambda: stationary_second_moment(PROBLEM, SYMBOLIC, 0.1),
    "simulate": lambda: simulate(PROBLEM, SYMBOLIC, 0.1, steps=2, runs=2),
    "check": lambda: check(PROBLEM, SYMBOLIC, 0.1, runs=10),
    "moment_threshold": lambda: moment_threshold(PROBLEM, SYMBOLIC, 4),
    "moment_spectral_radius": lambda: moment_spectral_radius(PROBLEM, SYMBOLIC, 0.1, 4),
    "lyapunov_exponent": lambda: lyapunov_exponent(PROBLEM, SYMBOLIC, 0.1),
}


def _message() -> str:
    with pytest.raises(InvalidTypeError) as caught:
        bind(PROBLEM, SYMBOLIC)
    return str(caught.value)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_symbolic_momentum_raises_one_error_with_one_message(entry):
    expected = _message()
    assert "symbolic" in expected and "beta" in expected
    with pytest.raises(InvalidTypeError) as caught:
        ENTRY_POINTS[entry]()
    assert str(caught.value) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, "fast", True])
def test_malformed_coefficients_are_refused_by_bind(value):
    from stability.dynamics import BatchLaw, LinearDynamics, MatrixPolynomial

    dynamics = LinearDynamics(
        "odd",
        MatrixPolynomial.from_matrices([[[1]]]),
        MatrixPolynomial.from_matrices([[[0]], [[value]]]),
        BatchLaw(None),
    )
    with pytest.raises(InvalidTypeError, match="odd has a symbolic or non-numeric"):
        bind(PROBLEM, dynamics)


def test_bind_reads_gradient_steps_and_their_weight_decay_form():
    from stability.dynamics import BatchLaw, LinearDynamics, MatrixPolynomial

    assert bind(PROBLEM, GD()).gradient_scale == 1.0
    assert bind(PROBLEM, HeavyBall(0.5)).gradient_scale is None
    decayed = LinearDynamics(
        "decayed",
        MatrixPolynomial.from_matrices([[[1]], [[-0.3]]]),  # 1 − g μ η, g = 2, μ = 0.15
        MatrixPolynomial.from_matrices([[[0]], [[-2]]]),
        BatchLaw(2),
    )
    system = bind(PROBLEM, decayed)
    assert system.gradient_scale == 2.0
    assert system.shift == pytest.approx(0.15, rel=1e-15)
    assert not system.homogeneous
    assert system.null_space_factor(1.0) == pytest.approx(0.7**2, rel=1e-15)


# ------------------------------------------------------------------ scale
def _stored(problem: Quadratic, scale: float):
    """A hand-built reduced problem storing the Hessians divided by ``scale``."""
    import dataclasses

    reduced = problem.reduced()
    return dataclasses.replace(
        reduced,
        eigenvalues=reduced.eigenvalues / scale,
        vectors=None if reduced.vectors is None else reduced.vectors / np.sqrt(scale),
        hessians=None if reduced.hessians is None else reduced.hessians / scale,
        scale=scale,
    )


def _with_reduced(problem: Quadratic, reduced) -> Quadratic:
    import copy

    clone = copy.copy(problem)
    clone.__dict__["_reduced"] = reduced
    return clone


@pytest.mark.parametrize("scale", [1e-3, 7.0, 1e120])
@pytest.mark.parametrize(
    "method", [GD(), SGD(2), SGD(3, replacement=True), HeavyBall(0.5, batch_size=2)], ids=str
)
def test_thresholds_and_radii_honour_the_stored_scale(method, scale):
    problem = Quadratic.from_data(np.random.default_rng(5).standard_normal((7, 4)))
    scaled = _with_reduced(problem, _stored(problem, scale))
    assert scaled.reduced().scale == scale
    for solver in ("auto", "dense", "matrix-free"):
        expected = critical_learning_rate(problem, method, solver=solver)
        assert critical_learning_rate(scaled, method, solver=solver) == pytest.approx(
            expected, rel=1e-10
        )
    lr = 0.7 * critical_learning_rate(problem, method)
    assert spectral_radius(scaled, method, lr) == pytest.approx(
        spectral_radius(problem, method, lr), rel=1e-10
    )


def test_non_homogeneous_dynamics_multiply_the_stored_hessians_back():
    from stability.dynamics import BatchLaw, LinearDynamics, MatrixPolynomial

    decayed = LinearDynamics(
        "decayed",
        MatrixPolynomial.from_matrices([[[1]], [[-0.2]]]),
        MatrixPolynomial.from_matrices([[[0]], [[-1]]]),
        BatchLaw(2),
    )
    problem = Quadratic.from_data(np.random.default_rng(6).standard_normal((6, 3)))
    scaled = _with_reduced(problem, _stored(problem, 10.0))
    system = bind(scaled, decayed)
    assert system.rate_factor == 1.0
    np.testing.assert_allclose(system.reduced.eigenvalues, problem.reduced().eigenvalues)
    assert critical_learning_rate(scaled, decayed) == pytest.approx(
        critical_learning_rate(problem, decayed), rel=1e-12
    )


# ------------------------------------------------------------------ weight decay
def _decayed(decay: float, batch_size, scale: float = 1.0):
    from stability.dynamics import BatchLaw, LinearDynamics, MatrixPolynomial

    return LinearDynamics(
        "SGD+wd",
        MatrixPolynomial.from_matrices([[[1]], [[-scale * decay]]]),
        MatrixPolynomial.from_matrices([[[0]], [[-scale]]]),
        BatchLaw(batch_size),
    )


@pytest.mark.parametrize("batch_size", [None, 1, 3])
@pytest.mark.parametrize("decay", [0.05, 0.4])
def test_weight_decay_is_the_gradient_step_on_shifted_hessians(batch_size, decay):
    rng = np.random.default_rng(7)
    data = rng.standard_normal((6, 3))
    per_sample = np.einsum("ni,nj->nij", data, data)
    # full rank: null(H) is empty, so the shifted problem is the same operator
    shifted = Quadratic.from_hessians(per_sample + decay * np.eye(3))
    plain = SGD(batch_size) if batch_size else GD()
    method = _decayed(decay, batch_size)
    problem = Quadratic.from_data(data)
    for solver in ("auto", "dense", "matrix-free"):
        assert critical_learning_rate(problem, method, solver=solver) == pytest.approx(
            critical_learning_rate(shifted, plain, solver=solver), rel=1e-12
        )
    eta = critical_learning_rate(shifted, plain)
    for factor in (0.3, 0.9, 1.1):
        for solver in ("dense", "matrix-free"):
            assert spectral_radius(problem, method, factor * eta, solver=solver) == pytest.approx(
                spectral_radius(shifted, plain, factor * eta, solver=solver), rel=1e-12
            )


def test_weight_decay_contracts_the_null_space():
    # H = diag(2, 0): the null direction contracts by (1 − g η μ)², which dominates at small η
    problem = Quadratic(np.diag([2.0, 0.0]))
    method = _decayed(0.1, None, scale=2.0)  # g = 2, μ = 0.1
    lr = 0.05
    expected = max((1 - 2 * lr * 2.1) ** 2, (1 - 2 * lr * 0.1) ** 2)
    for solver in ("auto", "dense", "matrix-free"):
        assert spectral_radius(problem, method, lr, solver=solver) == pytest.approx(
            expected, rel=1e-14
        )
    assert critical_learning_rate(problem, method) == pytest.approx(2 / (2 * 2.1), rel=1e-14)
    # the null space alone: a zero Hessian with decay is stable only below 2 / (g μ)
    assert critical_learning_rate(Quadratic(np.zeros((2, 2))), method) == pytest.approx(10.0)


@pytest.mark.parametrize("samples", [8, 3])  # full rank, and d = 5 > rank 3 (a null space)
@pytest.mark.parametrize(
    "pair",
    [
        (GD(weight_decay=0.3), GD()),
        (SGD(2, weight_decay=0.3), SGD(2)),
        (SGD(1, replacement=True, weight_decay=0.3), SGD(1, replacement=True)),
    ],
    ids=lambda pair: str(pair[0]),
)
def test_weight_decay_methods_equal_the_plain_step_on_shifted_hessians(pair, samples):
    decayed, plain = pair
    data = np.random.default_rng(8).standard_normal((samples, 5))
    problem = Quadratic.from_data(data)
    shifted = Quadratic.from_hessians(np.einsum("ni,nj->nij", data, data) + 0.3 * np.eye(5))
    eta = critical_learning_rate(shifted, plain)
    for solver in ("auto", "dense", "matrix-free"):
        assert critical_learning_rate(problem, decayed, solver=solver) == pytest.approx(
            eta, rel=1e-12
        )
        for factor in (0.05, 0.5, 0.99, 1.2):
            assert spectral_radius(problem, decayed, factor * eta, solver=solver) == pytest.approx(
                spectral_radius(shifted, plain, factor * eta, solver="dense"), rel=1e-12
            )
