"""Monte Carlo of the linear recursion (stability.simulation), docs/monte-carlo.md.

Statistical tests are seeded. Every band is simultaneous over its time points at a
false-alarm probability of 1e-6: a finite-sample guarantee (empirical Bernstein, Maurer &
Pontil 2009) for noise-free dynamics, and the nominal level of a CLT band for the
dynamics with additive noise. With about 30 such assertions the chance that any of them
fails although simulator and prediction are right is below 1e-4 (and, the seeds being
fixed, the outcome is reproducible). Each test also asserts that its band is narrow
enough to have caught an error, and a negative control shows a wrong prediction caught.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import math

import numpy as np
import pytest
import sympy

from stability import GD, SGD, AdditiveNoise, HeavyBall, Nesterov, Quadratic
from stability.errors import DimensionError, InvalidInputError, InvalidTypeError
from stability.methods import VariationalGD
from stability.numeric import critical_learning_rate, predicted_mean_square
from stability.progress import ProgressMeter, TextProgress, TqdmProgress
from stability.simulation import (
    SimulationResult,
    bernstein_radius,
    normal_radius,
    simulate,
    state_map_norm_bound,
)
from stability.sweeps import sweep

# the package re-exports the functions simulate and check, which shadow the submodules
simulate_module = importlib.import_module("stability.simulation")
progress_module = importlib.import_module("stability.progress")

FALSE_ALARM = 1e-6
RUNS = 20_000
STEPS = 8


def _unit_rows(samples: int, dimension: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((samples, dimension))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# Unit-norm samples keep the a priori bound a = max ‖A‖ small, so the guaranteed band
# stays informative for several steps.
DATA_PROBLEM = Quadratic.from_data(_unit_rows(6, 3, seed=11))
HESSIAN_PROBLEM = Quadratic.from_hessians(
    np.array(
        [
            np.outer(x, x) + 0.3 * np.outer(y, y)
            for x, y in zip(_unit_rows(5, 3, seed=12), _unit_rows(5, 3, seed=13), strict=True)
        ]
    )
)


def _noisy(method, identity, gradient, covariance, sampler=None):
    base = method.dynamics()
    noise = AdditiveNoise(identity, gradient, covariance=covariance, sampler=sampler)
    return dataclasses.replace(base, noise=noise, name=base.name + "+noise")


def _uniform_sampler(rng, runs, dimension):
    """Bounded, non-Gaussian noise with covariance 0.05 I (uniform on [-a, a], a² / 3 = 0.05)."""
    return rng.uniform(-math.sqrt(0.15), math.sqrt(0.15), size=(runs, dimension))


NOISE_FREE = [
    GD(),
    SGD(2),
    SGD(2, replacement=True),
    SGD(4),
    HeavyBall(0.5),
    HeavyBall(0.5, batch_size=2),
    Nesterov(0.4, batch_size=2, replacement=True),
]
NOISY = [
    VariationalGD(0.2, samples=2),
    VariationalGD(0.2, samples=2, batch_size=2),
    VariationalGD([0.1, 0.2, 0.4], samples=3, batch_size=3, posterior="student-t"),
    # hand-built: noise through the identity part too, default Gaussian sampler
    _noisy(HeavyBall(0.5, batch_size=2), ((0.1,), (0,)), ((0, -1), (0,)), 0.3),
    # hand-built: a custom bounded sampler
    _noisy(SGD(2), ((0, 0.5),), ((0, -1),), 0.05, sampler=_uniform_sampler),
]


def _name(method) -> str:
    dynamics = method if not hasattr(method, "dynamics") else method.dynamics()
    return f"{dynamics.name}-{dynamics.batch.describe()}".replace(" ", "_")


def _compare(problem, method, factor, seed):
    lr = factor * critical_learning_rate(problem, method)
    result = simulate(problem, method, lr, steps=STEPS, runs=RUNS, seed=seed)
    predicted = predicted_mean_square(problem, method, lr, steps=STEPS)
    lower, upper = result.band(FALSE_ALARM)
    return result, predicted, lower, upper


@pytest.mark.parametrize("factor", [0.8, 1.25])
@pytest.mark.parametrize("method", NOISE_FREE + NOISY, ids=_name)
def test_simulated_mean_square_matches_prediction(method, factor):
    result, predicted, lower, upper = _compare(DATA_PROBLEM, method, factor, seed=7)
    outside = np.flatnonzero((predicted < lower) | (predicted > upper))
    assert outside.size == 0, (result.band_kind(), outside, predicted, result.mean_square)
    # power: the band is informative over the first steps (all of them when exact)
    informative = 2 if result.band_kind() != "exact" else STEPS
    width = (upper - lower)[1 : informative + 1] / predicted[1 : informative + 1]
    assert np.all(width < 0.7), width
    expected_kind = "normal" if method in NOISY else "bernstein"
    if method in (GD(), HeavyBall(0.5)):
        expected_kind = "exact"
    assert result.band_kind() == expected_kind


@pytest.mark.parametrize("factor", [0.8, 1.25])
@pytest.mark.parametrize("method", [SGD(2), SGD(3, replacement=True), HeavyBall(0.5, batch_size=2)])
def test_general_per_sample_hessians(method, factor):
    _, predicted, lower, upper = _compare(HESSIAN_PROBLEM, method, factor, seed=8)
    assert np.all((lower <= predicted) & (predicted <= upper))
    assert (upper - lower)[1] < 0.3 * predicted[1]


def test_a_wrong_prediction_is_caught():
    # negative control: B = 2 of n = 4 without replacement has p = 1/3; the
    # with-replacement law (p = 1/2) is a classic bug and must fall outside the band
    problem = Quadratic.from_data(_unit_rows(4, 3, seed=3))
    right, wrong = SGD(2), SGD(2, replacement=True)
    lr = 1.25 * critical_learning_rate(problem, right)
    result = simulate(problem, right, lr, steps=STEPS, runs=RUNS, seed=9)
    lower, upper = result.band(FALSE_ALARM)
    correct = predicted_mean_square(problem, right, lr, steps=STEPS)
    mistaken = predicted_mean_square(problem, wrong, lr, steps=STEPS)
    assert np.all((lower <= correct) & (correct <= upper))
    assert np.any((mistaken < lower) | (mistaken > upper))


def test_deterministic_recursions_are_exact():
    problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((5, 4)))
    for method in (GD(), HeavyBall(0.7), Nesterov(0.3)):
        lr = 1.2 * critical_learning_rate(problem, method)
        result = simulate(problem, method, lr, steps=60, runs=3, seed=0)
        predicted = predicted_mean_square(problem, method, lr, steps=60)
        assert result.deterministic and result.band_kind() == "exact"
        assert np.allclose(result.mean_square, predicted, rtol=1e-10)
        assert np.all(result.variance == 0)
        lower, upper = result.band()
        assert np.all((lower <= predicted) & (predicted <= upper))


def test_full_batch_through_rank_one_rows_when_few_samples():
    problem = Quadratic.from_data(np.random.default_rng(1).standard_normal((3, 10)))
    kernel = simulate_module._kernel(problem, GD().dynamics(), 0.1)
    assert kernel.full_through_vectors
    result = simulate(problem, GD(), 0.1, steps=20, runs=2, seed=0)
    assert np.allclose(result.mean_square, predicted_mean_square(problem, GD(), 0.1, steps=20))


def _dense_weights(batch, samples):
    """The weights ``w`` (``H_B = Σ w_i H_i``) of a drawn batch, whatever its representation."""
    if batch[0] == "dense":
        return batch[1]
    weights = np.zeros((batch[1].shape[0], samples))
    np.add.at(weights, (np.arange(batch[1].shape[0])[:, None], batch[1]), batch[2])
    return weights


@pytest.mark.parametrize("problem", [DATA_PROBLEM, HESSIAN_PROBLEM], ids=["data", "hessians"])
@pytest.mark.parametrize("batch", [(1, False), (1, True), (3, False), (3, True)])
def test_batch_hessian_application_matches_explicit_sums(problem, batch, monkeypatch):
    # tiny blocks exercise the blocked loops of both the gathered and the per-sample paths
    monkeypatch.setattr(simulate_module, "_GATHER_BUDGET", 40)
    monkeypatch.setattr(simulate_module, "_CACHE_BLOCK", 50)
    method = SGD(batch[0], replacement=batch[1])
    kernel = simulate_module._kernel(problem, method.dynamics(), 0.3)
    per_sample = np.asarray(problem.per_sample_hessians())
    vectors = np.random.default_rng(2).standard_normal((50, 2, 3))
    for gather in (True, False):
        variant = dataclasses.replace(kernel, gather=gather)
        drawn = variant.draw_batch(50, np.random.default_rng(4))
        assert drawn[0] == ("gather" if gather else "dense")
        weights = _dense_weights(drawn, problem.samples)
        assert np.allclose(weights.sum(axis=1), 1.0)
        explicit = np.einsum("rn,nij,rkj->rki", weights, per_sample, vectors)
        assert np.allclose(variant.apply_batch_hessian(vectors, drawn), explicit, rtol=1e-12)
        # the same batch in the other representation gives the same products
        dense = ("dense", weights)
        assert np.allclose(variant.apply_batch_hessian(vectors, dense), explicit, rtol=1e-12)


@pytest.mark.parametrize(
    ("samples", "size", "replacement"), [(6, 2, False), (7, 3, False), (3, 2, True), (4, 1, False)]
)
def test_index_batches_follow_the_batch_law(samples, size, replacement):
    # every multiset of indices has its exact probability under both samplers; with 200,000
    # draws each frequency is within a Hoeffding band at level 1e-6 (Bonferroni over cells)
    batch = simulate_module.BatchLaw(size, replacement)
    runs = 200_000
    indices = simulate_module.sample_indices(batch, samples, runs, np.random.default_rng(0))
    weights = batch.sample_weights(samples, runs, np.random.default_rng(1))
    ours = np.zeros((runs, samples))
    np.add.at(ours, (np.arange(runs)[:, None], indices), 1.0)
    theirs = np.rint(weights * size)
    cells = {tuple(row) for row in np.unique(theirs, axis=0)}
    assert {tuple(row) for row in np.unique(ours, axis=0)} == cells
    radius = math.sqrt(math.log(2 * len(cells) / 1e-6) / (2 * runs))
    for cell in cells:
        counts = np.array(cell)
        exact = math.factorial(size) / np.prod([math.factorial(int(c)) for c in counts])
        exact = exact / samples**size if replacement else 1 / math.comb(samples, size)
        for drawn in (ours, theirs):
            frequency = np.mean(np.all(drawn == counts, axis=1))
            assert abs(frequency - exact) <= radius


def test_large_batches_without_replacement_fall_back_to_weights():
    law = simulate_module.BatchLaw(10, False)
    assert simulate_module.sample_indices(law, 40, 5, np.random.default_rng(0)) is None
    assert simulate_module.sample_indices(law, 60, 5, np.random.default_rng(0)).shape == (5, 10)


def test_per_run_starts_are_followed_exactly_across_chunks():
    problem = Quadratic(np.diag([1.5, 0.5, 0.1]))
    starts = np.random.default_rng(3).standard_normal((2500, 3))
    result = simulate(problem, GD(), 0.5, steps=7, runs=2500, init=starts, chunk_size=1000, seed=0)
    expected = starts * (1 - 0.5 * np.diag(problem.hessian)) ** 7
    assert np.allclose(result.final_states, expected, rtol=1e-12)
    assert not result.deterministic  # per-run starts make the runs differ


def test_results_depend_on_seed_and_chunk_size_only():
    method = SGD(2)
    first = simulate(DATA_PROBLEM, method, 1.0, steps=5, runs=3000, seed=12, chunk_size=700)
    again = simulate(
        DATA_PROBLEM,
        method,
        1.0,
        steps=5,
        runs=3000,
        seed=12,
        chunk_size=700,
        progress=TextProgress(stream=io.StringIO()),
    )
    assert np.array_equal(first.final_states, again.final_states)
    assert np.array_equal(first.mean_square, again.mean_square)
    sequence = np.random.SeedSequence(12)
    sequence.spawn(3)  # spawning from the caller's sequence does not change the result
    third = simulate(DATA_PROBLEM, method, 1.0, steps=5, runs=3000, seed=sequence, chunk_size=700)
    assert np.array_equal(first.final_states, third.final_states)
    other = simulate(DATA_PROBLEM, method, 1.0, steps=5, runs=3000, seed=13, chunk_size=700)
    assert not np.array_equal(first.final_states, other.final_states)


def test_chunk_statistics_combine_to_the_pooled_ones():
    result = simulate(DATA_PROBLEM, SGD(1), 0.9, steps=4, runs=2345, seed=3, chunk_size=500)
    squares = np.einsum("ri,ri->r", result.final_states, result.final_states)
    assert result.mean_square[-1] == pytest.approx(squares.mean(), rel=1e-12)
    assert result.variance[-1] == pytest.approx(squares.var(ddof=1), rel=1e-10)
    assert result.mean_log_square[-1] == pytest.approx(np.log(squares).mean(), rel=1e-12)


def test_heavy_tails_fool_the_plain_average_but_not_the_guaranteed_band():
    # 1-D SGD, B = 1 with replacement, factors |1 − η h| ∈ {0.1, 2.2}: E(1 − ηh)² = 2.425 > 1
    # (mean-square unstable) while E log|1 − ηh| < 0 (almost every run decays)
    problem = Quadratic.from_hessians(np.array([[[0.9]], [[3.2]]]))
    steps = 30
    result = simulate(problem, SGD(1, replacement=True), 1.0, steps=steps, runs=RUNS, seed=4)
    predicted = predicted_mean_square(problem, SGD(1, replacement=True), 1.0, steps=steps)
    assert predicted[-1] == pytest.approx(2.425**steps, rel=1e-12)
    assert state_map_norm_bound(problem, SGD(1, replacement=True), 1.0) == pytest.approx(2.2)
    lower, upper = result.band(FALSE_ALARM)
    assert np.all((lower <= predicted) & (predicted <= upper))  # honest at every step
    assert result.mean_square[-1] < 1e-2 * predicted[-1]  # the plain average is far too low
    _, naive_upper = result.band(FALSE_ALARM, kind="normal")
    assert np.any(predicted > naive_upper)  # ... and so is a CLT band from the sample variance
    decayed = np.mean(np.abs(result.final_states[:, 0]) < 1.0)
    assert decayed > 0.9  # a "did it blow up" test would call this rate stable
    # typical growth: the Lyapunov exponent E log|1 − ηh| = (log 0.1 + log 2.2) / 2, with a
    # Hoeffding band for the mean of R·T bounded terms in [log 0.1, log 2.2] at level 1e-6
    exponent = 0.5 * (math.log(0.1) + math.log(2.2))
    hoeffding = math.log(22.0) * math.sqrt(math.log(2 / FALSE_ALARM) / (2 * RUNS * steps))
    assert abs(result.lyapunov_exponent - exponent) <= hoeffding
    assert exponent < 0


def test_bernstein_band_covers_at_its_stated_level():
    # 2000 replications of 50 Bernoulli(0.02) draws (a skewed law on [0, 1]), δ = 0.1:
    # misses must be at most what Bin(2000, 0.1) exceeds with probability 1e-6
    rng = np.random.default_rng(0)
    draws = (rng.random((2000, 50)) < 0.02).astype(float)
    radius = bernstein_radius(draws.var(axis=1, ddof=1), 50, 1.0, 0.1)
    misses = int(np.sum(np.abs(draws.mean(axis=1) - 0.02) > radius))
    assert misses <= 272


def test_normal_band_is_calibrated_for_gaussian_data():
    rng = np.random.default_rng(1)
    draws = rng.standard_normal((2000, 30)) + 3.0
    radius = normal_radius(draws.var(axis=1, ddof=1), 30, 0.1)
    misses = int(np.sum(np.abs(draws.mean(axis=1) - 3.0) > radius))
    # Student-t effect at n = 30 makes the true miss rate ≈ 0.11; Bin(2000, ·) ± 5.3 sd
    assert 129 <= misses <= 300


def test_norm_bound_dominates_every_batch():
    problem = Quadratic.from_data(np.random.default_rng(7).standard_normal((5, 3)))
    for method in (SGD(2), SGD(2, replacement=True), HeavyBall(0.6, batch_size=3)):
        dynamics = method.dynamics()
        lr = 0.9 * critical_learning_rate(problem, method)
        bound = state_map_norm_bound(problem, method, lr)
        weights = dynamics.batch.sample_weights(5, 2000, np.random.default_rng(0))
        per_sample = np.asarray(problem.per_sample_hessians())
        norms = [
            np.linalg.norm(dynamics.state_map(lr, np.tensordot(w, per_sample, axes=1)), 2)
            for w in weights
        ]
        assert max(norms) <= bound * (1 + 1e-12)


def test_range_bound_holds_for_every_run_of_momentum():
    problem = Quadratic.from_data(np.random.default_rng(8).standard_normal((6, 3)))
    method = HeavyBall(0.8, batch_size=2)
    lr = 1.1 * critical_learning_rate(problem, method)
    result = simulate(problem, method, lr, steps=40, runs=2000, seed=1)
    squares = np.einsum("ri,ri->r", result.final_states, result.final_states)
    assert squares.max() <= result.range_bound[-1]
    identity_only = 2 * state_map_norm_bound(problem, method, lr) ** 80  # ‖z_0‖² = 2
    assert result.range_bound[-1] < identity_only  # the fitted weighting helps


class _CountingMeter(ProgressMeter):
    def __init__(self):
        self.total, self.done, self.closed = None, 0, False

    def start(self, total, description):
        self.total = total

    def update(self, amount=1):
        self.done += amount

    def close(self):
        self.closed = True


def test_progress_meter_is_driven_to_completion():
    meter = _CountingMeter()
    simulate(DATA_PROBLEM, SGD(2), 0.5, steps=6, runs=2500, seed=0, chunk_size=1000, progress=meter)
    assert meter.total == 3 * 6 and meter.done == meter.total and meter.closed


def test_tqdm_bar_and_missing_tqdm(monkeypatch):
    stream = io.StringIO()
    simulate(
        DATA_PROBLEM, SGD(2), 0.5, steps=3, runs=10, seed=0, progress=TqdmProgress(file=stream)
    )
    assert "3/3" in stream.getvalue()

    def missing(name, *args, **kwargs):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(progress_module.importlib, "import_module", missing)
    with pytest.raises(ImportError, match=r"stability\[progress\]"):
        simulate(DATA_PROBLEM, SGD(2), 0.5, steps=3, runs=10, seed=0, progress=True)


def test_text_progress_prints_milestones():
    stream = io.StringIO()
    meter = TextProgress(stream=stream, every=25)
    simulate(DATA_PROBLEM, GD(), 0.5, steps=8, runs=4, seed=0, progress=meter)
    assert stream.getvalue().splitlines()[-1].endswith("8/8 (100%)")


def test_sweep_cells_equal_simulate_with_spawned_seeds():
    methods = [SGD(1), SGD(3)]
    grid = sweep(DATA_PROBLEM, methods, [0.5, 1.5], relative=True, steps=6, runs=1500, seed=21)
    children = np.random.SeedSequence(21).spawn(4)
    for row, method in enumerate(methods):
        threshold = critical_learning_rate(DATA_PROBLEM, method)
        for column, factor in enumerate((0.5, 1.5)):
            assert grid.learning_rates[row, column] == pytest.approx(factor * threshold)
            alone = simulate(
                DATA_PROBLEM,
                method,
                factor * threshold,
                steps=6,
                runs=1500,
                seed=children[row * 2 + column],
            )
            assert np.array_equal(grid.results[row][column].mean_square, alone.mean_square)
    assert grid.mean_square.shape == (2, 2, 7)
    assert np.all(grid.final_mean_square[:, 1] > grid.final_mean_square[:, 0])
    assert grid.names == ("SGD (B=1 without replacement)", "SGD (B=3 without replacement)")


def test_result_summary_is_json_ready():
    result = simulate(DATA_PROBLEM, SGD(2), 3.0, steps=300, runs=50, seed=0)
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["runs"] == 50 and len(payload["mean_square"]) == 301
    assert isinstance(result, SimulationResult)


def test_overflow_is_reported_as_infinity_without_warnings():
    problem = Quadratic(np.diag([10.0]))
    result = simulate(problem, GD(), 50.0, steps=300, runs=5, seed=0)
    assert np.isinf(result.mean_square[-1])
    assert np.isinf(result.band()[1][-1])


def test_bad_input_is_refused_with_named_arguments():
    problem = DATA_PROBLEM
    with pytest.raises(InvalidInputError, match="runs"):
        simulate(problem, GD(), 0.1, steps=3, runs=0)
    with pytest.raises(InvalidTypeError, match="steps"):
        simulate(problem, GD(), 0.1, steps=2.5, runs=3)
    with pytest.raises(InvalidInputError, match="chunk_size"):
        simulate(problem, GD(), 0.1, steps=3, runs=3, chunk_size=0)
    with pytest.raises(InvalidInputError, match="seed"):
        simulate(problem, GD(), 0.1, steps=3, runs=3, seed=-1)
    with pytest.raises(InvalidTypeError, match="seed"):
        simulate(problem, GD(), 0.1, steps=3, runs=3, seed=1.5)
    with pytest.raises(InvalidTypeError, match="executor"):
        simulate(problem, GD(), 0.1, steps=3, runs=3, executor=object())
    with pytest.raises(InvalidTypeError, match="progress"):
        simulate(problem, GD(), 0.1, steps=3, runs=3, progress="yes")
    with pytest.raises(DimensionError, match="runs=3 rows"):
        simulate(problem, GD(), 0.1, steps=3, runs=3, init=np.ones((4, 3)))
    with pytest.raises(DimensionError, match="init"):
        simulate(problem, GD(), 0.1, steps=3, runs=3, init=np.ones(5))
    with pytest.raises(InvalidInputError, match="batch_size"):
        simulate(problem, SGD(7), 0.1, steps=3, runs=3)
    with pytest.raises(InvalidInputError, match="lr"):
        simulate(problem, GD(), 0.0, steps=3, runs=3)
    with pytest.raises(InvalidTypeError, match="problem"):
        simulate(np.eye(3), GD(), 0.1, steps=3, runs=3)
    with pytest.raises(InvalidTypeError, match="method"):
        simulate(problem, "sgd", 0.1, steps=3, runs=3)
    with pytest.raises(InvalidTypeError, match="symbolic"):
        simulate(problem, HeavyBall(sympy.Symbol("beta")), 0.1, steps=3, runs=3)
    bad_sampler = _noisy(GD(), ((0,),), ((0, -1),), 0.1, sampler=lambda rng, r, d: np.zeros(r))
    with pytest.raises(DimensionError, match="sampler"):
        simulate(problem, bad_sampler, 0.1, steps=3, runs=3)
    result = simulate(problem, SGD(2), 0.1, steps=3, runs=3, seed=0)
    with pytest.raises(InvalidInputError, match="false_alarm"):
        result.band(1.5)
    with pytest.raises(InvalidInputError, match="times"):
        result.band(times=[0, 9])
    with pytest.raises(InvalidInputError, match="kind"):
        result.band(kind="median")
    with pytest.raises(InvalidInputError, match="learning_rates"):
        sweep(problem, [GD()], [0.1, -0.1], steps=2, runs=2)
    with pytest.raises(InvalidInputError, match="methods"):
        sweep(problem, [], [0.1], steps=2, runs=2)
    with pytest.raises(InvalidInputError, match="relative"):
        sweep(Quadratic(np.zeros((2, 2))), GD(), [0.5], relative=True, steps=2, runs=2)


def test_result_json_is_strict_for_diverging_runs():
    problem = Quadratic(np.diag([2.0, 1.0]))
    result = simulate(problem, GD(), 1e200, steps=3, runs=2, seed=0)
    text = json.dumps(result.to_dict(), allow_nan=False)  # no NaN / Infinity tokens
    payload = json.loads(text)
    assert payload["mean_square"][-1] in ("inf", "nan")
