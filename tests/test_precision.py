"""The mpmath route reproduces the float thresholds and is the reference near degenerate spectra."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, HeavyBall, Nesterov, Quadratic, SizeLimitError
from stability.testing.strategies import data_matrices


@settings(max_examples=15, deadline=None)
@given(
    data_matrices(min_samples=2, max_samples=3, max_dimension=2),
    st.sampled_from(["gd", "sgd", "sgd-replacement", "heavy-ball", "nesterov"]),
)
def test_high_precision_reproduces_float(data, kind):
    problem = Quadratic.from_data(data)
    method = {
        "gd": GD(),
        "sgd": SGD(1),
        "sgd-replacement": SGD(2, replacement=True),
        "heavy-ball": HeavyBall(0.6, batch_size=1),
        "nesterov": Nesterov(0.3),
    }[kind]
    precise = stability.critical_learning_rate(problem, method, precision=30)
    assert isinstance(precise, mpmath.mpf)
    assert float(precise) == pytest.approx(
        stability.critical_learning_rate(problem, method), rel=1e-10
    )


def test_known_value_to_forty_digits():
    problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with mpmath.workdps(45):
        exact = 3 - mpmath.sqrt(3)
        value = stability.critical_learning_rate(problem, SGD(1), precision=45)
        assert abs(value - exact) < mpmath.mpf(10) ** -42


def test_momentum_edge_to_thirty_digits():
    problem = Quadratic(np.diag([2.0, 0.5]))
    with mpmath.workdps(35):
        value = stability.critical_learning_rate(problem, HeavyBall(0.25), precision=35)
        assert abs(value - mpmath.mpf("1.25")) < mpmath.mpf(10) ** -30


@pytest.mark.parametrize("gap", [1e-4, 1e-7, 1e-10])
def test_float_agrees_with_reference_near_degenerate_spectra(gap):
    """Nearly repeated Hessian eigenvalues and nearly parallel samples."""
    data = np.array([[1.0, 0.0, 0.0], [1.0, gap, 0.0], [0.0, 0.0, 1.0 + gap]])
    problem = Quadratic.from_data(data)
    for method in (SGD(1), SGD(2), HeavyBall(0.5, batch_size=2)):
        reference = stability.critical_learning_rate(problem, method, precision=40)
        assert stability.critical_learning_rate(problem, method) == pytest.approx(
            float(reference), rel=1e-9
        )


def test_size_guard():
    problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((20, 12)))
    with pytest.raises(SizeLimitError, match="float route"):
        stability.critical_learning_rate(problem, SGD(2), precision=30)
