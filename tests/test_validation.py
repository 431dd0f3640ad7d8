"""Bad input raises the package's own exceptions with messages that name the argument."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

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
    critical_learning_rate,
)
from stability._validation import check_learning_rate, check_positive_integer


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


# ---------------------------------------------------------------- real numbers only (issue 13)
_CONSTRUCTORS = {
    "hessian": lambda value: Quadratic(value),
    "hessians": lambda value: Quadratic.from_hessians(value),
    "data": lambda value: Quadratic.from_data(value),
    "gram": lambda value: Quadratic.from_gram(value),
    "jacobians": lambda value: Quadratic.from_jacobians(value),
}


def _shaped(name: str, dtype) -> np.ndarray:
    shape = {"hessian": (2, 2), "hessians": (2, 2, 2), "data": (2, 2), "gram": (2, 2),
             "jacobians": (2, 1, 2)}[name]
    return np.eye(2).reshape(shape) if name != "hessians" else np.stack([np.eye(2)] * 2)


@pytest.mark.parametrize("name", sorted(_CONSTRUCTORS))
@pytest.mark.parametrize(
    ("convert", "words"),
    [
        (lambda a: a.astype(complex), ["complex"]),
        (lambda a: a + 0j, ["complex"]),
        (lambda a: a.astype(bool), ["booleans"]),
        (lambda a: a.astype("datetime64[D]"), ["datetime64"]),
        (lambda a: a.astype("timedelta64[s]"), ["timedelta64"]),
        (lambda a: a.astype(str), ["strings"]),
        (lambda a: a.astype(bytes), ["bytes"]),
        (lambda a: np.array(a.tolist(), dtype=object) if a.ndim == 0 else
         np.vectorize(lambda v: "x" if v else v, otypes=[object])(a), ["str"]),
        (lambda a: np.vectorize(lambda v: None, otypes=[object])(a), ["NoneType"]),
    ],
)
def test_only_real_numbers_are_accepted(name, convert, words):
    value = convert(_shaped(name, float))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in particular no ComplexWarning on the way
        with pytest.raises(InvalidTypeError) as raised:
            _CONSTRUCTORS[name](value)
    message = str(raised.value)
    assert name in message and "real numbers" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("name", sorted(_CONSTRUCTORS))
def test_integer_float32_and_exact_fraction_arrays_are_accepted(name):
    base = _shaped(name, float)
    reference = critical_learning_rate(_CONSTRUCTORS[name](base), GD())
    exact = np.vectorize(Fraction, otypes=[object])(base.astype(int))
    for value in (base.astype(np.int64), base.astype(np.float32), base.astype(np.uint8),
                  base.tolist(), exact):
        assert critical_learning_rate(_CONSTRUCTORS[name](value), GD()) == reference


def test_plain_strings_and_ragged_lists_are_refused():
    with pytest.raises(InvalidTypeError, match=r"hessian.*string"):
        Quadratic("1 0; 0 1")
    with pytest.raises(InvalidTypeError, match="data"):
        Quadratic.from_data([[1.0, 2.0], [3.0]])


# ---------------------------------------------------------------- tolerances
@pytest.mark.parametrize("tolerance", [math.nan, math.inf, -math.inf, 2.0, 0.5, -1e-12, 0.011])
def test_tolerance_out_of_range_is_refused(tolerance):
    for build in (
        lambda: Quadratic(np.diag([1.0, -0.5]), tolerance=tolerance),
        lambda: Quadratic.from_hessians(np.ones((2, 1, 1)), tolerance=tolerance),
        lambda: Quadratic.from_data(np.ones((2, 2)), tolerance=tolerance),
        lambda: Quadratic.from_gram(np.eye(2), tolerance=tolerance),
        lambda: Quadratic.from_jacobians(np.ones((2, 2, 3)), tolerance=tolerance),
    ):
        with pytest.raises(InvalidInputError, match=r"tolerance.*\[0, 0\.01\]"):
            build()


@pytest.mark.parametrize("tolerance", ["x", "1e-8", True, None, 1e-8j, [1e-8]])
def test_tolerance_of_wrong_type_is_refused(tolerance):
    with pytest.raises(InvalidTypeError, match="tolerance"):
        Quadratic(np.eye(2), tolerance=tolerance)


def test_tolerance_in_range_is_honoured():
    assert Quadratic(np.eye(2), tolerance=0).tolerance == 0.0
    assert Quadratic(np.eye(2), tolerance=np.float32(1e-3)).tolerance == pytest.approx(1e-3)
    slightly = np.diag([1.0, -1e-3])
    with pytest.raises(NotPositiveSemidefiniteError):
        Quadratic(slightly)
    assert Quadratic(slightly, tolerance=0.01).reduced().rank == 1
    # the documented example of the issue: not a minimum at any accepted tolerance
    with pytest.raises(NotPositiveSemidefiniteError, match=r"-0\.5"):
        Quadratic(np.diag([1.0, -0.5]), tolerance=0.01)


# ---------------------------------------------------------------- scalars: a bool is not a number
@pytest.mark.parametrize("lr", [True, False, np.True_, "0.5", b"1", 0.5 + 0j, None, [0.1]])
def test_learning_rate_must_be_a_real_number(lr):
    for function in (stability.spectral_radius, stability.is_stable):
        with pytest.raises(InvalidTypeError, match="lr"):
            function(PROBLEM, GD(), lr)
    with pytest.raises(InvalidTypeError, match="lr"):
        check_learning_rate(lr)


def test_learning_rate_numeric_types_are_accepted():
    assert check_learning_rate(np.float32(0.5)) == 0.5
    assert check_learning_rate(Fraction(1, 4)) == 0.25
    assert check_learning_rate(np.array(0.125)) == 0.125
    assert check_learning_rate(3) == 3.0


@pytest.mark.parametrize("momentum", [True, False, "0.5", b"0.5", 0.5j])
def test_momentum_must_be_a_real_number(momentum):
    for method in (HeavyBall, Nesterov):
        with pytest.raises(InvalidTypeError, match="momentum"):
            method(momentum)


def test_counts_have_documented_limits():
    assert check_positive_integer(np.int64(3), "runs", maximum=10) == 3
    with pytest.raises(InvalidInputError, match=r"runs must be at most 10; got 11"):
        check_positive_integer(11, "runs", maximum=10)
    with pytest.raises(InvalidTypeError, match="runs"):
        check_positive_integer(np.True_, "runs")
