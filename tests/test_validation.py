"""Bad input raises the package's own exceptions with messages that name the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest

import stability
from stability import (
    GD,
    SGD,
    DimensionError,
    HeavyBall,
    InvalidInputError,
    InvalidTypeError,
    Nesterov,
    NotPositiveSemidefiniteError,
    NotSymmetricError,
    Quadratic,
    StabilityError,
)


def test_exception_hierarchy():
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(InvalidTypeError, TypeError)
    for error in (DimensionError, NotSymmetricError, NotPositiveSemidefiniteError):
        assert issubclass(error, InvalidInputError)
        assert issubclass(error, StabilityError)


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda: Quadratic(np.ones((2, 3))), DimensionError, ["hessian", "square", "(2, 3)"]),
        (lambda: Quadratic(np.ones(3)), DimensionError, ["hessian", "2 dimensions"]),
        (lambda: Quadratic([[1.0, 2.0], [0.0, 1.0]]), NotSymmetricError, ["hessian", "symmetric"]),
        (lambda: Quadratic(np.diag([1.0, -0.5])), NotPositiveSemidefiniteError,
         ["hessian", "positive semi-definite", "-0.5"]),
        (lambda: Quadratic([[1.0, np.nan], [np.nan, 1.0]]), InvalidInputError,
         ["hessian", "finite", "NaN"]),
        (lambda: Quadratic([[np.inf]]), InvalidInputError, ["hessian", "finite"]),
        (lambda: Quadratic([["a"]]), InvalidTypeError, ["hessian", "real numbers"]),
        (lambda: Quadratic(np.zeros((0, 0))), DimensionError, ["hessian", "empty"]),
        (lambda: Quadratic.from_hessians(np.eye(2)), DimensionError, ["hessians", "3 dimensions"]),
        (lambda: Quadratic.from_hessians([np.eye(2), np.diag([1.0, -1.0])]),
         NotPositiveSemidefiniteError, ["hessians", "sample 1"]),
        (lambda: Quadratic.from_hessians(np.ones((2, 2, 3))), DimensionError,
         ["hessians", "square"]),
        (lambda: Quadratic.from_data(np.ones(3)), DimensionError, ["data", "2 dimensions"]),
        (lambda: Quadratic.from_data([[1.0, np.inf]]), InvalidInputError, ["data", "finite"]),
        (lambda: Quadratic.from_gram([[1.0, 2.0], [2.0, 1.0]]), NotPositiveSemidefiniteError,
         ["gram"]),
        (lambda: Quadratic.from_gram(np.ones((2, 3))), DimensionError, ["gram", "square"]),
    ],
)
def test_bad_problems(build, error, words):
    with pytest.raises(error) as raised:
        build()
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda: SGD(0), InvalidInputError, ["batch_size", "at least 1", "0"]),
        (lambda: SGD(-2), InvalidInputError, ["batch_size"]),
        (lambda: SGD(1.5), InvalidTypeError, ["batch_size", "integer"]),
        (lambda: SGD(True), InvalidTypeError, ["batch_size", "integer"]),
        (lambda: SGD(2, replacement="yes"), InvalidInputError, ["replacement"]),
        (lambda: HeavyBall(1.0), InvalidInputError, ["momentum", "[0, 1)", "1.0"]),
        (lambda: HeavyBall(-0.1), InvalidInputError, ["momentum", "[0, 1)"]),
        (lambda: Nesterov(math.nan), InvalidInputError, ["momentum"]),
        (lambda: Nesterov("fast"), InvalidTypeError, ["momentum", "real number"]),
        (lambda: HeavyBall(0.5, batch_size=0), InvalidInputError, ["batch_size"]),
    ],
)
def test_bad_methods(build, error, words):
    with pytest.raises(error) as raised:
        build()
    for word in words:
        assert word in str(raised.value)


PROBLEM = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


@pytest.mark.parametrize("lr", [0.0, -1.0, math.nan, math.inf])
def test_bad_learning_rates(lr):
    for function in (stability.spectral_radius, stability.is_stable,
                     stability.second_moment_operator):
        with pytest.raises(InvalidInputError, match="lr"):
            function(PROBLEM, GD(), lr)


def test_learning_rate_of_wrong_type():
    with pytest.raises(InvalidTypeError, match="lr"):
        stability.spectral_radius(PROBLEM, GD(), "big")


def test_batch_size_larger_than_samples():
    with pytest.raises(InvalidInputError, match=r"batch_size.*n=3.*got 4"):
        stability.critical_learning_rate(PROBLEM, SGD(4))
    # with replacement any batch size is fine
    assert stability.critical_learning_rate(PROBLEM, SGD(4, replacement=True)) > 0


def test_stochastic_method_on_a_single_hessian():
    with pytest.raises(InvalidInputError, match="per-sample"):
        stability.critical_learning_rate(Quadratic(np.eye(2)), SGD(1))
    with pytest.raises(InvalidInputError, match="per-sample"):
        stability.spectral_radius(Quadratic(np.eye(2)), HeavyBall(0.5, batch_size=1), 0.1)


def test_wrong_argument_types():
    with pytest.raises(InvalidTypeError, match="problem"):
        stability.critical_learning_rate(np.eye(2), GD())
    with pytest.raises(InvalidTypeError, match="method"):
        stability.critical_learning_rate(PROBLEM, "sgd")


def test_precision_must_be_a_positive_integer():
    with pytest.raises(InvalidInputError, match="precision"):
        stability.critical_learning_rate(PROBLEM, GD(), precision=0)


def test_tiny_asymmetry_and_roundoff_negativity_are_accepted():
    hessian = np.array([[1.0, 0.5 + 1e-14], [0.5, 1.0]])
    assert Quadratic(hessian).hessian[0, 1] == Quadratic(hessian).hessian[1, 0]
    almost = np.array([[1.0, 1.0], [1.0, 1.0]]) - 1e-15 * np.eye(2)
    assert Quadratic(almost).reduced().rank == 1


def test_problems_are_immutable():
    problem = Quadratic(np.eye(2))
    with pytest.raises(ValueError):
        problem.hessian[0, 0] = 5.0
    with pytest.raises(AttributeError):
        GD().extra = 1  # frozen dataclass
