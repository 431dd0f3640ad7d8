"""The pieces of ``stability.checks``, one at a time, against independent references.

The package's private modules are tested here directly: each function's answer is compared
with a brute-force computation (``tests/brute_force.py``), a closed form or the formula it
implements written out again. Monte Carlo assertions are seeded, with bands at a stated
false-alarm probability.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import stability
import stability.checks
from stability import GD, SGD, HeavyBall, Quadratic
from stability._system import bind
from stability.checks._check import check_margin, rates_to_check
from stability.checks._comparisons import (
    EXACT_TOLERANCE,
    exact_comparison,
    growth_comparison,
    matrix_comparison,
    verdict_comparison,
)
from stability.checks._operator import operator_apply
from stability.checks._report import Comparison, format_comparison, json_comparison
from stability.checks._spectrum import (
    dense_spectrum,
    matrix_free_spectrum,
    psd_part,
    reduced_matrix,
)
from stability.checks._statistics import (
    INFORMATIVE,
    entry_statistics,
    informative,
    mixture_starts,
    one_step_runs,
    random_probe,
)
from stability.checks._symbolic import symbolic_layer, threshold_comparison
from stability.checks._trajectory import predicted_traces, quiet_horizon
from stability.errors import (
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    SizeLimitError,
    StabilityError,
)
from stability.methods import as_dynamics
from stability.numeric import reduced_operator, second_moment_recursion
from stability.simulation import bernstein_radius
from tests import brute_force

FALSE_ALARM = 1e-6


def _data_problem(samples: int, dimension: int, seed: int) -> Quadratic:
    return Quadratic.from_data(np.random.default_rng(seed).standard_normal((samples, dimension)))


def _lift(system) -> np.ndarray:
    return np.kron(np.eye(system.blocks), system.problem.reduced().basis)


# ------------------------------------------------------------------------- the public API
def test_the_package_exports_what_the_module_did():
    for name in ("check", "CheckReport", "Comparison", "RateCheck", "EXACT_TOLERANCE"):
        assert name in stability.checks.__all__ and hasattr(stability.checks, name)
    assert stability.check is stability.checks.check
    assert stability.CheckReport is stability.checks.CheckReport
    assert stability.checks.check.__module__ == "stability.checks._check"


def test_every_private_module_exports_only_what_it_defines_or_imports():
    for name in ("_check", "_comparisons", "_operator", "_probes", "_rate", "_report", "_setup"):
        module = importlib.import_module(f"stability.checks.{name}")
        for exported in module.__all__:
            assert hasattr(module, exported), f"{name}.{exported}"


# ------------------------------------------------------------------------- comparisons
def test_exact_comparison_tolerance_shapes_and_infinities():
    assert exact_comparison("x", "l", 1.0, 1.0 + 0.5 * EXACT_TOLERANCE).passed
    failed = exact_comparison("x", "l", 1.0, 1.0 + 3 * EXACT_TOLERANCE)
    assert not failed.passed and failed.score == pytest.approx(3.0, rel=1e-6)
    assert not exact_comparison("x", "l", np.ones(2), np.ones(3)).passed
    assert exact_comparison("x", "l", math.inf, math.inf).passed
    assert not exact_comparison("x", "l", math.inf, -math.inf).passed
    # relative to the largest entry of either array, not entrywise
    assert exact_comparison("x", "l", [1.0, 1e-12], [1.0, 2e-12]).passed


def test_verdict_comparison():
    assert verdict_comparison(0.5, 1.0, 2.0).passed
    assert verdict_comparison(1.5, 3.0, 2.0).passed
    assert not verdict_comparison(0.5, 3.0, 2.0).passed
    assert verdict_comparison(1.0 + 1e-12, 3.0, 2.0) is None  # too close to one to decide
    assert verdict_comparison(0.5, 1.0, math.inf) is None


def test_matrix_comparison_finds_a_wrong_prediction():
    # z ~ N(0, C): E z zᵀ = C; the normal band must hold C and reject 1.1 C
    rng = np.random.default_rng(0)
    covariance = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 0.5]])
    states = rng.multivariate_normal(np.zeros(3), covariance, size=200_000)
    mean, variance = entry_statistics(states)
    right = matrix_comparison(
        "C", mean, variance, covariance, 200_000, FALSE_ALARM, value_range=None
    )
    wrong = matrix_comparison(
        "C", mean, variance, 1.1 * covariance, 200_000, FALSE_ALARM, value_range=None
    )
    assert right.passed and right.kind == "asymptotic" and right.score <= 1
    assert not wrong.passed and wrong.score > 1


def test_matrix_comparison_bernstein_radius_is_the_formula():
    mean = np.array([[1.0, 0.0], [0.0, 1.0]])
    variance = np.array([[0.2, 0.1], [0.1, 0.3]])
    predicted = mean + 0.01
    comparison = matrix_comparison("S", mean, variance, predicted, 1000, 3e-6, value_range=2.0)
    radii = [bernstein_radius(v, 1000, 2.0, 1e-6) + 1e-9 * 1.01 for v in (0.2, 0.1, 0.3)]
    assert comparison.kind == "guaranteed" and comparison.passed
    assert comparison.score == pytest.approx(max(0.01 / r for r in radii), rel=1e-12)


def test_growth_comparison_band_holds_the_mean_and_scales_by_the_overlap():
    rng = np.random.default_rng(1)
    growth = rng.uniform(0.0, 4.0, size=50_000)  # mean 2
    comparison, (estimate, lower, upper) = growth_comparison(growth, 2.0, 2.0, 4.0, FALSE_ALARM)
    assert comparison.passed and lower < 1.0 < upper  # in units of the overlap 2
    assert estimate == pytest.approx(growth.mean() / 2.0)
    wrong, _ = growth_comparison(growth, 2.5, 2.0, 4.0, FALSE_ALARM)
    assert not wrong.passed


# ------------------------------------------------------------------------- statistics
def test_entry_statistics_against_outer_products():
    states = np.random.default_rng(2).standard_normal((50, 4))
    outer = np.einsum("ra,rb->rab", states, states)
    mean, variance = entry_statistics(states)
    np.testing.assert_allclose(mean, outer.mean(axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(variance, outer.var(axis=0, ddof=1), rtol=1e-10, atol=1e-13)


def test_mixture_starts_have_the_probe_as_second_moment():
    rng = np.random.default_rng(3)
    sigma = random_probe(4, rng)
    runs = 40_000
    starts = mixture_starts(sigma, runs, rng)
    np.testing.assert_allclose(np.sum(starts**2, axis=1), np.trace(sigma), rtol=1e-12)
    mean, variance = entry_statistics(starts)
    # |z_a z_b| ≤ tr Σ = 1: a guaranteed band, Bonferroni over the 10 entries
    radius = bernstein_radius(variance, runs, 2.0, FALSE_ALARM / 10)
    assert np.all(np.abs(mean - sigma) <= radius)


def test_random_probe_is_positive_definite_with_trace_one():
    probe = random_probe(6, np.random.default_rng(4))
    eigenvalues = np.linalg.eigvalsh(probe)
    np.testing.assert_allclose(probe, probe.T, atol=1e-15)
    assert np.trace(probe) == pytest.approx(1.0, rel=1e-12)
    assert eigenvalues[0] > 0 and eigenvalues[-1] / eigenvalues[0] <= 5.0 + 1e-9


def test_one_step_runs_bounds():
    assert one_step_runs(100, 3) == 1000  # ten times
    assert one_step_runs(1000, 2000) == 2000  # memory: 4e6 floats
    assert one_step_runs(1000, 10**7) == 1000  # never fewer than the trajectory's


def test_informative_is_the_bernstein_range_term():
    runs, false_alarm, last, bound = 500, 2.5e-7, 30, 3.0
    range_term = 7.0 * bound * math.log(4.0 * last / false_alarm) / (3.0 * (runs - 1))
    assert informative(range_term / INFORMATIVE * (1 + 1e-9), bound, runs, false_alarm, last)
    assert not informative(range_term / INFORMATIVE * (1 - 1e-9), bound, runs, false_alarm, last)
    assert not informative(math.nan, bound, runs, false_alarm, last)


# ------------------------------------------------------------------------- the trajectory
def test_predicted_traces_equal_the_prediction_module():
    problem = _data_problem(8, 3, 5)
    recursion = second_moment_recursion(problem, SGD(2), 0.3)
    start = recursion.initial_moment(None)
    traces = predicted_traces(recursion.apply, start, None, 12)
    np.testing.assert_allclose(traces, recursion.mean_square(12), rtol=1e-12)


def test_quiet_horizon_is_the_first_uninformative_time_minus_one():
    problem = _data_problem(10, 4, 6)
    recursion = second_moment_recursion(problem, SGD(1), 0.1)  # η* = 0.2499
    start = recursion.initial_moment(None)
    runs, share = 3000, 2e-7
    full = predicted_traces(recursion.apply, start, None, 30)
    bound = np.geomspace(1.0, 10.0, 31)  # a range bound that grows along the run
    range_term = 7.0 * bound * math.log(4.0 * 30 / share) / (3.0 * (runs - 1))
    fails = np.flatnonzero(range_term[1:] > INFORMATIVE * full[1:]) + 1
    expected = max(1, int(fails[0]) - 1) if fails.size else 30
    horizon, traces = quiet_horizon(recursion.apply, start, bound, runs, share)
    assert horizon == expected == 13
    np.testing.assert_allclose(traces, full[: len(traces)], rtol=1e-13)
    assert len(traces) == horizon + 2  # stepped one past the horizon, no further


# ------------------------------------------------------------------------- the operator
def test_operator_apply_forms_agree_and_refuse_bad_input():
    problem = _data_problem(5, 2, 7)
    recursion = second_moment_recursion(problem, SGD(1), 0.2)
    basis = np.eye(4).reshape(4, 2, 2)
    columns = recursion.apply(basis).reshape(4, 4).T  # row-major vec matrix
    moments = np.random.default_rng(8).standard_normal((3, 2, 2))
    by_matrix = operator_apply(columns, recursion.apply, 2)(moments)
    by_function = operator_apply(lambda s: recursion.apply(s), recursion.apply, 2)(moments)
    np.testing.assert_allclose(by_matrix, recursion.apply(moments), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(by_function, recursion.apply(moments), rtol=1e-12, atol=1e-15)
    assert operator_apply(None, recursion.apply, 2) == recursion.apply
    with pytest.raises(DimensionError, match="operator given as an array"):
        operator_apply(np.eye(3), recursion.apply, 2)
    with pytest.raises(InvalidTypeError, match="operator must be a function"):
        operator_apply("T", recursion.apply, 2)
    with pytest.raises(DimensionError, match="it returned shape"):
        operator_apply(lambda s: np.eye(3), recursion.apply, 2)(moments)


# ------------------------------------------------------------------------- the spectrum
def test_reduced_matrix_equals_brute_force():
    rng = np.random.default_rng(9)
    data = rng.standard_normal((5, 3)) @ np.diag([1.0, 1.0, 0.0])  # rank 2 in d = 3
    problem = Quadratic.from_data(data)
    per_sample = np.einsum("na,nb->nab", data, data)
    for method in (SGD(2), HeavyBall(0.5, batch_size=2)):
        system = bind(problem, method)
        recursion = second_moment_recursion(system.problem, system.dynamics, 0.3)
        matrix = reduced_matrix(recursion.apply, _lift(system))
        np.testing.assert_allclose(
            matrix, reduced_operator(problem, system.dynamics).matrix(0.3), atol=1e-12
        )
        radius = float(np.max(np.abs(np.linalg.eigvals(matrix))))
        expected = brute_force.spectral_radius(per_sample, system.dynamics, 0.3)
        assert radius == pytest.approx(expected, rel=1e-10)


def test_reduced_matrix_refuses_beyond_the_dense_limit():
    with pytest.raises(SizeLimitError, match="check needs it densely"):
        reduced_matrix(lambda stack: stack, np.eye(200))


def test_dense_spectrum_modes_are_eigenvectors():
    problem = _data_problem(6, 3, 10)
    for method in (SGD(2), HeavyBall(0.6, batch_size=2)):
        system = bind(problem, method)
        recursion = second_moment_recursion(system.problem, system.dynamics, 0.4)
        lift = _lift(system)
        spectrum = dense_spectrum(reduced_matrix(recursion.apply, lift), lift)
        right, left = spectrum.right, spectrum.left
        assert np.trace(right) == pytest.approx(1.0) and np.linalg.eigvalsh(right)[0] > -1e-12
        assert np.linalg.eigvalsh(left)[-1] == pytest.approx(1.0)
        np.testing.assert_allclose(
            recursion.apply(right[None])[0], spectrum.radius * right, atol=1e-10
        )
        # the left mode: ⟨W, T(S)⟩ = ρ ⟨W, S⟩ for every S
        probes = np.random.default_rng(11).standard_normal((4, *right.shape))
        probes = probes + probes.transpose(0, 2, 1)
        images = recursion.apply(probes)
        np.testing.assert_allclose(
            np.sum(left * images, axis=(1, 2)),
            spectrum.radius * np.sum(left * probes, axis=(1, 2)),
            atol=1e-10,
        )


def test_matrix_free_spectrum_equals_the_dense_one():
    problem = _data_problem(50, 36, 12)  # 666 svec coordinates
    system = bind(problem, SGD(4))
    recursion = second_moment_recursion(system.problem, system.dynamics, 0.05)
    lift = _lift(system)
    spectrum, tested, numeric = matrix_free_spectrum(system, recursion.apply, lift, 0.05)
    dense = dense_spectrum(reduced_matrix(recursion.apply, lift), lift)
    assert spectrum.radius == pytest.approx(dense.radius, rel=1e-9)
    np.testing.assert_allclose(spectrum.right, dense.right, atol=1e-6)
    np.testing.assert_allclose(tested, numeric, rtol=1e-10, atol=1e-12)


def test_psd_part_picks_the_sign_and_clips():
    matrix = np.array([[-3.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(psd_part(matrix), np.diag([3.0, 0.0]), atol=1e-15)
    np.testing.assert_allclose(psd_part(np.array([[1.0, 2.0], [0.0, 1.0]])), np.ones((2, 2)))


# ------------------------------------------------------------------------- symbolic layer
def test_symbolic_layer_limits():
    dynamics = as_dynamics(SGD(1))
    three = Quadratic.from_data(np.eye(3))
    four = Quadratic.from_data(np.eye(4))
    operator, threshold, status = symbolic_layer(four, dynamics, None)  # m d = 4 ≤ 6, m r = 4 > 3
    assert operator is not None and threshold is None and "threshold skipped" in status
    operator, threshold, status = symbolic_layer(three, dynamics, None)
    assert operator is not None and threshold is not None and status == "used"
    assert symbolic_layer(Quadratic(np.eye(7)), dynamics, None)[2].startswith("skipped")
    assert symbolic_layer(Quadratic(np.eye(7)), dynamics, True)[2] == "used"
    assert symbolic_layer(three, dynamics, False) == (None, None, "not requested")


def test_symbolic_threshold_declined_is_reported_not_raised():
    def refuse(problem, dynamics):
        raise StabilityError("no closed form\nsecond line")

    value, comparison, declined = threshold_comparison(
        refuse, Quadratic(np.eye(1)), as_dynamics(GD()), 1.0
    )
    assert value is None and comparison is None
    assert declined == "operator used; threshold declined (StabilityError: no closed form)"


# ------------------------------------------------------------------------- report and options
def test_report_formats():
    failed = Comparison("η*", "numeric–numeric", False, "guaranteed", 2.5e-7, math.inf, "d")
    assert format_comparison(failed) == "  [FAIL] η* (numeric–numeric, guaranteed, α=2.5e-07): d"
    assert json_comparison(failed)["score"] == "inf" and json_comparison(failed)["passed"] is False


def test_margin_and_rates():
    system = bind(Quadratic(np.eye(2)), GD())
    assert rates_to_check(system, 1.0, 0.5, 0.1, None) == [0.5]
    assert rates_to_check(system, 1.0, None, 0.1, None) == pytest.approx([0.9, 1.1])
    with pytest.raises(InvalidInputError, match="pass lr"):
        rates_to_check(system, 1.0, None, 0.1, np.eye(4))
    with pytest.raises(InvalidInputError, match="stable at every learning rate"):
        rates_to_check(system, math.inf, None, 0.1, None)
    with pytest.raises(InvalidInputError, match="margin must lie in"):
        check_margin(1.5)
    with pytest.raises(InvalidTypeError, match="margin must be a number"):
        check_margin("wide")


# ------------------------------------------------------------------------- one rate
def _setup(problem, method, lr, operator=None, **options):
    from stability.checks._setup import RateOptions, prepare

    values = {"runs": 2000, "horizon": None, "false_alarm": FALSE_ALARM, "init": None}
    values.update(options)
    return prepare(
        bind(problem, method),
        lr,
        operator,
        RateOptions(**values, executor=None, progress=False, chunk_size=1024),
    )


def test_probe_comparison_finds_an_operator_off_by_ten_percent():
    from stability.checks._probes import probe_comparison

    problem = _data_problem(6, 2, 13)
    right = _setup(problem, SGD(1), 0.3)
    wrong = _setup(problem, SGD(1), 0.3, operator=lambda s: 1.1 * right.image(s))
    streams = np.random.SeedSequence(14).spawn(8)
    passed = probe_comparison(right, np.random.default_rng(15), streams, FALSE_ALARM)
    failed = probe_comparison(wrong, np.random.default_rng(15), streams, FALSE_ALARM)
    assert passed.passed and passed.kind == "guaranteed"
    assert not failed.passed and failed.score > 1


def test_horizon_and_prediction_routes():
    from stability.checks._statistics import MAX_HORIZON
    from stability.checks._trajectory import horizon_and_prediction

    problem = _data_problem(6, 3, 16)
    given = _setup(problem, SGD(2), 0.2, horizon=7)
    horizon, predicted = horizon_and_prediction(given, 1e-7)
    assert horizon == 7
    np.testing.assert_allclose(predicted, given.recursion.mean_square(7), rtol=1e-12)
    exact = _setup(problem, GD(), 0.2)  # full batch, no noise, one start: deterministic
    horizon, predicted = horizon_and_prediction(exact, 1e-7)
    assert horizon == MAX_HORIZON
    np.testing.assert_allclose(predicted, exact.recursion.mean_square(MAX_HORIZON), rtol=1e-12)
    noisy = _setup(problem, stability.VariationalGD(0.3, samples=2, batch_size=2), 0.2)
    horizon, predicted = horizon_and_prediction(noisy, 1e-7)
    assert 1 <= horizon <= MAX_HORIZON and len(predicted) == horizon + 1
    np.testing.assert_allclose(predicted, noisy.recursion.mean_square(horizon), rtol=1e-12)
    assert (
        predicted[1]
        > predicted_traces(noisy.apply, noisy.recursion.initial_moment(None), None, 1)[1]
    )  # the noise adds to E‖z_1‖²
