"""Cross-checks of the numeric, symbolic and simulation layers (stability.checks).

False alarms: every check allots at most ``false_alarm = 1e-6`` per rate to its
statistical comparisons (a finite-sample guarantee for noise-free dynamics, the nominal
CLT level for noisy ones), so the few dozen rates checked here falsely disagree with
probability below 1e-4; the seeds (and hypothesis, derandomized) are fixed, so outcomes
are reproducible. Detection of wrong operators is asserted on the prediction–simulation
comparisons themselves, not only on the exact numeric one.
"""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stability import GD, SGD, HeavyBall, Nesterov, Quadratic
from stability.checks import CheckReport, check
from stability.errors import DimensionError, InvalidInputError, InvalidTypeError
from stability.methods import VariationalGD
from stability.numeric import (
    critical_learning_rate,
    second_moment_operator,
    second_moment_recursion,
)
from stability.testing.strategies import methods, problems

RANDOM = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROBLEM = Quadratic.from_data(np.random.default_rng(3).standard_normal((4, 3)))
symbolic_module = importlib.import_module("stability.symbolic")


@st.composite
def problem_and_method(draw):
    problem = draw(problems(max_samples=5, max_dimension=3))
    method = draw(methods(problem.samples, momentum=True, max_momentum=0.9))
    return problem, method


def _simulation_failures(rate):
    return [
        c.name for c in rate.comparisons if c.layers == "prediction–simulation" and not c.passed
    ]


@RANDOM
@given(problem_and_method())
def test_stable_below_and_unstable_above_on_random_problems(case):
    problem, method = case
    threshold = critical_learning_rate(problem, method)
    assume(math.isfinite(threshold))
    below = check(problem, method, 0.8 * threshold, seed=1, runs=3000)
    above = check(problem, method, 1.25 * threshold, seed=2, runs=3000)
    assert below.stable is True and above.stable is False
    assert below.agrees, str(below)
    assert above.agrees, str(above)
    assert below.rates[0].spectral_radius < 1 < above.rates[0].spectral_radius


@pytest.mark.parametrize(
    "method",
    [
        SGD(2),
        SGD(3, replacement=True),
        HeavyBall(0.6, batch_size=2),
        Nesterov(0.3, batch_size=1, replacement=True),
        VariationalGD(0.3, samples=2, batch_size=2),
        VariationalGD([0.1, 0.2, 0.3], samples=2, posterior="student-t"),
    ],
    ids=lambda m: type(m).__name__,
)
@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_verdicts_and_agreement(method, factor):
    lr = factor * critical_learning_rate(PROBLEM, method)
    report = check(PROBLEM, method, lr, seed=4, runs=5000)
    assert report.agrees, str(report)
    assert report.stable is (factor < 1)
    rate = report.rates[0]
    assert rate.relative == pytest.approx(factor)
    # the one-step growth along the top mode estimates ρ(T) without a long run
    assert rate.radius_lower <= rate.spectral_radius <= rate.radius_upper
    expected = {"stable", "inconclusive"} if factor < 1 else {"unstable", "inconclusive"}
    assert rate.simulated_verdict in expected
    allotted = sum(c.false_alarm for c in rate.comparisons)
    assert allotted <= report.false_alarm * (1 + 1e-12)


def test_the_simulated_growth_settles_clear_cases():
    # far from the threshold the one-step growth band excludes one on the right side
    for factor, verdict in ((0.5, "stable"), (1.6, "unstable")):
        lr = factor * critical_learning_rate(PROBLEM, SGD(2))
        assert check(PROBLEM, SGD(2), lr, seed=5).rates[0].simulated_verdict == verdict


def test_without_lr_the_threshold_is_bracketed():
    report = check(PROBLEM, SGD(2), seed=6, runs=3000)
    assert report.stable is None and report.agrees
    below, above = report.rates
    assert below.stable and not above.stable
    assert below.relative == pytest.approx(0.95) and above.relative == pytest.approx(1.05)


def _wrong_law(lr):
    return second_moment_operator(PROBLEM, SGD(2, replacement=True), lr)


def _perturbed(lr, size=0.05, seed=0):
    dense = second_moment_operator(PROBLEM, SGD(2), lr)
    noise = np.random.default_rng(seed).standard_normal(dense.shape)
    side = PROBLEM.dimension
    transpose = np.arange(side * side).reshape(side, side).T.ravel()
    # keep symmetric moments symmetric: average over transposing input and output
    noise = (noise + noise[transpose] + noise[:, transpose] + noise[transpose][:, transpose]) / 4
    return dense + size * np.abs(dense).max() * noise / np.abs(noise).max()


@pytest.mark.parametrize("factor", [0.8, 1.25])
@pytest.mark.parametrize("wrong", ["sampling law", "perturbed", "wrong rate"])
def test_a_wrong_operator_is_caught_by_simulation(wrong, factor):
    lr = factor * critical_learning_rate(PROBLEM, SGD(2))
    if wrong == "sampling law":
        operator = _wrong_law(lr)
    elif wrong == "perturbed":
        operator = _perturbed(lr)
    else:  # a callable operator evaluated at 1.08 η
        recursion = second_moment_recursion(PROBLEM, SGD(2), 1.08 * lr)
        operator = recursion.apply
    report = check(PROBLEM, SGD(2), lr, seed=7, operator=operator)
    assert not report.agrees
    assert _simulation_failures(report.rates[0]), str(report)
    assert "DISAGREE" in str(report)


def test_the_right_operator_supplied_by_hand_agrees():
    lr = 1.25 * critical_learning_rate(PROBLEM, SGD(2))
    report = check(
        PROBLEM, SGD(2), lr, seed=8, operator=second_moment_operator(PROBLEM, SGD(2), lr)
    )
    assert report.agrees, str(report)


def test_symbolic_layer_is_consulted_and_can_disagree(monkeypatch):
    small = Quadratic.from_data(np.random.default_rng(9).standard_normal((4, 2)))
    lr = 0.8 * critical_learning_rate(small, SGD(2))
    report = check(small, SGD(2), lr, seed=9, runs=3000)
    assert report.symbolic == "used" and report.agrees
    layers = [c.layers for c in report.comparisons + report.rates[0].comparisons]
    assert layers.count("numeric–symbolic") == 2  # threshold and operator
    assert report.symbolic_critical_learning_rate == pytest.approx(
        report.critical_learning_rate, rel=1e-12
    )
    original = symbolic_module.second_moment_operator

    def wrong_operator(hessians, method, lr):
        return original(hessians, method, lr=lr * 1.01)

    monkeypatch.setattr(symbolic_module, "second_moment_operator", wrong_operator)
    monkeypatch.setattr(symbolic_module, "critical_learning_rate", lambda h, m: 1.5)
    report = check(small, SGD(2), lr, seed=9, runs=3000)
    failed = [
        c.name
        for c in report.comparisons + report.rates[0].comparisons
        if c.layers == "numeric–symbolic" and not c.passed
    ]
    assert len(failed) == 2 and not report.agrees


def test_symbolic_layer_is_skipped_for_large_states():
    problem = Quadratic.from_data(np.random.default_rng(1).standard_normal((6, 4)))
    report = check(problem, HeavyBall(0.5, batch_size=2), 0.5, seed=1, runs=2000)
    assert report.symbolic.startswith("skipped")
    report = check(problem, HeavyBall(0.5, batch_size=2), 0.5, seed=1, runs=2000, symbolic=False)
    assert report.symbolic == "not requested"


def test_full_batch_trajectories_are_compared_exactly_over_the_long_horizon():
    problem = Quadratic(np.diag([3.0, 1.0, 0.5]))
    for factor in (0.8, 1.25):
        lr = factor * critical_learning_rate(problem, HeavyBall(0.7))
        report = check(problem, HeavyBall(0.7), lr, seed=2, runs=1000, symbolic=False)
        rate = report.rates[0]
        assert rate.horizon == 30 and report.agrees
        trajectory = next(c for c in rate.comparisons if c.name.startswith("E‖z_t‖²"))
        assert trajectory.kind == "exact"


def test_report_text_and_json():
    report = check(PROBLEM, VariationalGD(0.3, samples=2, batch_size=2), seed=3, runs=2000)
    assert isinstance(report, CheckReport)
    text = str(report)
    for fragment in ("critical learning rate η*", "one-step E[AΣAᵀ]", "noise", "AGREE", "α="):
        assert fragment in text
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["agrees"] is True and payload["stable"] is None
    assert len(payload["rates"]) == 2 and payload["rates"][1]["stable"] is False


def test_bad_input_is_refused_with_named_arguments():
    with pytest.raises(InvalidInputError, match="lr"):
        check(PROBLEM, SGD(2), operator=np.eye(81))
    with pytest.raises(InvalidInputError, match="lr"):
        check(Quadratic(np.zeros((2, 2))), GD())
    with pytest.raises(InvalidInputError, match="runs"):
        check(PROBLEM, SGD(2), 0.1, runs=1)
    with pytest.raises(InvalidInputError, match="margin"):
        check(PROBLEM, SGD(2), margin=1.5)
    with pytest.raises(InvalidInputError, match="false_alarm"):
        check(PROBLEM, SGD(2), 0.1, false_alarm=0.0)
    with pytest.raises(InvalidTypeError, match="symbolic"):
        check(PROBLEM, SGD(2), 0.1, symbolic="yes")
    with pytest.raises(DimensionError, match="operator"):
        check(PROBLEM, SGD(2), 0.1, operator=np.eye(4))
    with pytest.raises(DimensionError, match="operator"):
        check(PROBLEM, SGD(2), 0.1, operator=lambda moment: moment[:2, :2])
    with pytest.raises(InvalidInputError, match="horizon"):
        check(PROBLEM, SGD(2), 0.1, horizon=0)


def test_operator_of_the_wrong_type_is_a_package_error():
    with pytest.raises(InvalidTypeError, match="operator"):
        check(PROBLEM, SGD(2), 0.1, operator="x")


def test_verdict_says_inconclusive_and_json_is_strict():
    # a handful of runs: the simulated growth cannot tell the side of one
    report = check(PROBLEM, SGD(2), seed=1, runs=4)
    assert report.inconclusive and "INCONCLUSIVE" in str(report)
    text = json.dumps(report.to_dict(), allow_nan=False)  # no NaN / Infinity tokens
    payload = json.loads(text)
    assert payload["inconclusive"] is True and payload["verdict"] == report.verdict
