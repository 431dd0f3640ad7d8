"""The binding of a problem to a method: one validation, one error, scale and shifts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

from stability import (
    GD,
    HeavyBall,
    Quadratic,
    critical_learning_rate,
    is_stable,
    spectral_radius,
)
from stability.bounds import lyapunov_exponent, moment_spectral_radius, moment_threshold
from stability.checks import check
from stability.errors import InvalidTypeError
from stability.numeric.moments import stationary_second_moment
from stability.numeric.prediction import predicted_mean_square
from stability.simulation import simulate
from stability.system import bind

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
