"""stability.testing: assertions for users' CI and the hypothesis strategies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import (
    GD,
    SGD,
    HeavyBall,
    InvalidInputError,
    InvalidTypeError,
    Quadratic,
    StabilityError,
    bounds,
    critical_learning_rate,
    is_stable,
)
from stability.bounds import end_to_end
from stability.testing import (
    BoundViolatedError,
    CriticalLearningRateMismatchError,
    ExpectedStableError,
    ExpectedUnstableError,
    StabilityAssertionError,
    assert_bound_holds,
    assert_critical_learning_rate,
    assert_stable,
    assert_unstable,
)
from stability.testing.strategies import (
    commuting_hessians,
    data_matrices,
    deep_linear_minimisers,
    gradient_methods,
    gram_matrices,
    integer_data_matrices,
    learning_rates,
    methods,
    one_dimensional_hessians,
    per_sample_hessians,
    problems,
    psd_matrices,
)

PROPERTY = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
PROBLEM = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
EXACT = 3 - math.sqrt(3)  # SGD(1) on PROBLEM


# ----------------------------------------------------------------------------- assertions
def test_assert_stable_passes_and_returns_the_threshold():
    assert assert_stable(PROBLEM, SGD(1), 1.0) == pytest.approx(EXACT)
    assert assert_stable(PROBLEM, SGD(1), 1.0, margin=0.2) == pytest.approx(EXACT)


def test_assert_stable_failure_shows_the_numbers():
    with pytest.raises(ExpectedStableError) as info:
        assert_stable(PROBLEM, SGD(1), 1.3)
    error = info.value
    assert isinstance(error, AssertionError) and isinstance(error, StabilityAssertionError)
    message = str(error)
    assert "lr = 1.3" in message and "η* = 1.26795" in message and "2.53% above" in message
    assert "lr/η* = 1.02528" in message and "SGD (B=1 without replacement)" in message
    assert error.actual == pytest.approx(EXACT) and error.expected == 1.3
    assert error.margin == pytest.approx(1.3 / EXACT - 1)


def test_assert_stable_margin_failure():
    with pytest.raises(
        ExpectedStableError, match=r"(?s)required margin 0.25.*at most \(1 − 0.25\)"
    ):
        assert_stable(PROBLEM, SGD(1), 1.0, margin=0.25)


def test_assert_stable_at_the_edge_fails():
    problem = Quadratic(np.diag([4.0, 1.0]))
    with pytest.raises(ExpectedStableError):
        assert_stable(problem, GD(), 0.5)
    assert not is_stable(problem, GD(), 0.5)


def test_assert_unstable():
    assert assert_unstable(PROBLEM, SGD(1), 1.3) == pytest.approx(EXACT)
    with pytest.raises(ExpectedUnstableError, match=r"(?s)stable at lr = 1 .*21.1% below"):
        assert_unstable(PROBLEM, SGD(1), 1.0)
    with pytest.raises(ExpectedUnstableError, match=r"at least \(1 \+ 0.1\) η\*"):
        assert_unstable(PROBLEM, SGD(1), 1.3, margin=0.1)
    assert assert_unstable(Quadratic(np.diag([2.0, 1.0])), HeavyBall(0.5), 1.6) == pytest.approx(
        1.5
    )


def test_higher_order_assertions():
    problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    method = SGD(1, replacement=True)
    fourth = bounds.moment_threshold(problem, method, 4)
    assert fourth < 0.8
    assert_stable(problem, method, 0.75)  # mean-square stable
    with pytest.raises(ExpectedStableError, match="order-4 moment"):
        assert_stable(problem, method, 0.75, order=4)
    assert_critical_learning_rate(problem, method, fourth, order=4)


def test_assert_critical_learning_rate():
    assert assert_critical_learning_rate(PROBLEM, SGD(1), EXACT, rtol=1e-12) == pytest.approx(EXACT)
    assert_critical_learning_rate(PROBLEM, SGD(1), 1.27, rtol=0, atol=0.01)
    with pytest.raises(CriticalLearningRateMismatchError) as info:
        assert_critical_learning_rate(PROBLEM, SGD(1), 1.25, rtol=1e-3)
    message = str(info.value)
    assert "η* = 1.26795" in message and "expected 1.25" in message
    assert "relative error 0.0144" in message and "0 + 0.001·1.25" in message
    assert info.value.margin > 0
    with pytest.raises(CriticalLearningRateMismatchError, match="inf"):
        assert_critical_learning_rate(Quadratic(np.zeros((2, 2))), GD(), 1.0)
    assert assert_critical_learning_rate(Quadratic(np.zeros((2, 2))), GD(), math.inf) == math.inf


@pytest.mark.parametrize(
    "bound",
    [
        bounds.gradient_descent_edge,
        bounds.rank_one_test_bound,
        bounds.identity_test_bound,
        bounds.trace_bound,
        bounds.frobenius_bound,
        bounds.wu_ma_e_sufficient_threshold,
        bounds.mulayoff_michaeli_threshold,
    ],
    ids=lambda bound: bound.__name__,
)
def test_assert_bound_holds_reads_the_side(bound):
    assert assert_bound_holds(bound, PROBLEM, SGD(1)) == bound(PROBLEM, SGD(1))


def test_assert_bound_violations_show_the_gap():
    with pytest.raises(BoundViolatedError) as info:
        assert_bound_holds(1.0, PROBLEM, SGD(1), side="upper")
    assert "η* = 1.26795 > bound = 1" in str(info.value) and "26.8%" in str(info.value)
    with pytest.raises(BoundViolatedError, match=r"η\* = 1.26795 < bound = 1.5"):
        assert_bound_holds(1.5, PROBLEM, SGD(1), side="lower")
    with pytest.raises(BoundViolatedError, match="exact bound"):
        assert_bound_holds(1.2, PROBLEM, SGD(1), side="exact")

    def too_small(problem, method):
        return 1.0

    too_small.side = "upper"
    with pytest.raises(BoundViolatedError, match="upper bound too_small"):
        assert_bound_holds(too_small, PROBLEM, SGD(1))
    # a bound on another threshold
    fourth = bounds.moment_threshold(PROBLEM, SGD(1), 4)
    assert_bound_holds(
        fourth, PROBLEM, SGD(1), side="exact", exact=lambda p, m: bounds.moment_threshold(p, m, 4)
    )


def test_assertion_helpers_reject_bad_arguments_with_package_errors():
    cases = [
        lambda: assert_stable(PROBLEM, SGD(1), 1.0, margin=1.5),
        lambda: assert_stable(PROBLEM, SGD(1), -1.0),
        lambda: assert_stable(np.eye(2), SGD(1), 1.0),
        lambda: assert_unstable(PROBLEM, "sgd", 1.0),
        lambda: assert_critical_learning_rate(PROBLEM, SGD(1), 1.0, rtol=-1),
        lambda: assert_critical_learning_rate(PROBLEM, SGD(1), "one"),
        lambda: assert_critical_learning_rate(PROBLEM, SGD(1), -1.0),
        lambda: assert_bound_holds(1.0, PROBLEM, SGD(1)),
        lambda: assert_bound_holds(1.0, PROBLEM, SGD(1), side="sideways"),
        lambda: assert_bound_holds("1.0", PROBLEM, SGD(1), side="upper"),
        lambda: assert_stable(PROBLEM, SGD(1), 1.0, order=0),
    ]
    for case in cases:
        with pytest.raises(StabilityError) as info:
            case()
        assert not isinstance(info.value, AssertionError)
    with pytest.raises(InvalidInputError, match="margin"):
        assert_stable(PROBLEM, SGD(1), 1.0, margin=1.5)
    with pytest.raises(InvalidTypeError, match="bound"):
        assert_bound_holds([1.0], PROBLEM, SGD(1), side="upper")


@PROPERTY
@given(problems(max_samples=4, max_dimension=3), st.data())
def test_assertions_agree_with_the_threshold(problem, data):
    method = data.draw(methods(problem.samples, max_momentum=0.9))
    threshold = critical_learning_rate(problem, method)
    if not math.isfinite(threshold):
        return
    stable = data.draw(learning_rates(problem, method))
    unstable = data.draw(learning_rates(problem, method, stable=False))
    assert assert_stable(problem, method, stable) == threshold
    assert assert_unstable(problem, method, unstable) == threshold
    with pytest.raises(ExpectedStableError):
        assert_stable(problem, method, unstable)
    with pytest.raises(ExpectedUnstableError):
        assert_unstable(problem, method, stable)


# ----------------------------------------------------------------------------- strategies
@PROPERTY
@given(psd_matrices(max_dimension=5))
def test_psd_matrices_are_psd(matrix):
    assert np.allclose(matrix, matrix.T)
    assert np.linalg.eigvalsh(matrix).min() >= -1e-10 * max(1.0, np.abs(matrix).max())


@PROPERTY
@given(per_sample_hessians(), data_matrices(), gram_matrices())
def test_existing_strategies_still_draw_valid_input(hessians, data, gram):
    Quadratic.from_hessians(hessians)
    Quadratic.from_data(data)
    Quadratic.from_gram(gram)


@PROPERTY
@given(commuting_hessians(min_samples=2, min_dimension=2))
def test_commuting_hessians_commute(stack):
    for a in stack:
        for b in stack:
            assert np.allclose(a @ b, b @ a, atol=1e-10 * max(1.0, np.abs(stack).max() ** 2))
    Quadratic.from_hessians(stack)


@PROPERTY
@given(one_dimensional_hessians(), integer_data_matrices())
def test_small_strategies(stack, data):
    assert stack.shape[1:] == (1, 1) and np.all(stack >= 0) and np.any(stack)
    assert np.array_equal(data, np.round(data)) and np.abs(data).max() <= 2 and np.any(data)


@PROPERTY
@given(
    st.one_of(st.none(), st.integers(1, 6)).flatmap(
        lambda n: st.tuples(st.just(n), gradient_methods(n))
    )
)
def test_gradient_methods_fit_the_samples(case):
    samples, method = case
    dynamics = method.dynamics()
    assert dynamics.gradient_step_scale() == 1
    dynamics.batch.validate(samples)


@PROPERTY
@given(deep_linear_minimisers())
def test_deep_linear_minimisers_are_minimisers(case):
    X, y, layers = case
    w = end_to_end(layers)
    assert np.allclose(X.T @ (X @ w - y), 0, atol=1e-8 * max(1.0, np.abs(X).max() ** 2))
    bounds.deep_linear_hessian(X, y, layers)


def test_learning_rates_refuses_an_impossible_request():
    from hypothesis import find

    flat = Quadratic(np.zeros((2, 2)))
    assert find(learning_rates(flat, GD()), lambda lr: True) > 0
    with pytest.raises(InvalidInputError, match="every learning rate is stable"):
        find(learning_rates(flat, GD(), stable=False), lambda lr: True)
    with pytest.raises(InvalidInputError, match="low"):
        find(learning_rates(PROBLEM, GD(), low=0.9, high=0.1), lambda lr: True)


def test_a_failing_assertion_under_pytest_shows_the_message_not_the_library(tmp_path):
    # the assertions set __tracebackhide__, so pytest's report is the user's line and the
    # message, not the source of stability.testing (88 lines of it before)
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "test_user.py").write_text(
        "from stability import SGD, Quadratic\n"
        "from stability.testing import assert_stable\n\n\n"
        "def test_my_learning_rate():\n"
        "    problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])\n"
        "    assert_stable(problem, SGD(1), 1.5)\n",
        encoding="utf-8",
    )
    environment = {**os.environ, "PYTHONPATH": str(root), "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_user.py"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout
    assert result.returncode == 1, report + result.stderr
    assert "is not mean-square stable at lr = 1.5" in report
    assert "assert_stable(problem, SGD(1), 1.5)" in report  # the user's failing line
    assert "raise ExpectedStableError" not in report and "def assert_stable" not in report
    assert len(report.splitlines()) < 30, report
