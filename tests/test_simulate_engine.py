"""The Monte Carlo engine's newer duties: reshuffled epochs, preconditioners, loss, start.

Statistical assertions use the result's own simultaneous bands at a false-alarm probability of
1e-6 (empirical Bernstein, a finite-sample guarantee for noise-free dynamics; Maurer & Pontil
2009), or a stated test at level 1e-6; with about 25 such assertions the chance that any
fails although engine and prediction are right is below 1e-4, and the seeds are fixed. Each
statistical test also shows that its band excludes a wrong prediction (so it could fail).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import GD, SGD, HeavyBall, Quadratic, critical_learning_rate
from stability._starts import default_initial_error, default_start
from stability.dynamics import (
    BatchLaw,
    EpochBatchSampler,
    Preconditioning,
    ReshuffledBatchLaw,
    sample_indices,
)
from stability.errors import InvalidInputError, InvalidTypeError
from stability.methods import Adam, AdamW, RMSProp
from stability.numeric import predicted_mean_square, second_moment_recursion
from stability.preconditioning import congruent, congruent_start
from stability.reshuffling import predicted_epoch_mean_square, simulate_epochs
from stability.simulation import simulate
from stability.testing.strategies import problems

FALSE_ALARM = 1e-6
# the engine's private kernel, whose step the property tests replay run by run
kernel_module = importlib.import_module("stability.simulation._kernel")


def _unit_rows(samples: int, dimension: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((samples, dimension))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# unit-norm rows keep ‖A‖ ≤ 1 for SGD at η ≤ 2, so the guaranteed bands stay narrow
UNIT_PROBLEM = Quadratic.from_data(_unit_rows(5, 3, seed=11))


# ------------------------------------------------------------------ the batch law's samplers
def test_iid_sampler_draws_the_same_stream_as_before():
    # gathered indices from sample_indices, else dense weights: the engine's old draw order,
    # so seeded simulations of i.i.d. laws keep their numbers
    law = BatchLaw(2)
    drawn = law.sampler(20, 7, np.random.default_rng(3)).next()
    assert drawn[0] == "gather" and np.allclose(drawn[2], 0.5)
    assert np.array_equal(drawn[1], sample_indices(law, 20, 7, np.random.default_rng(3)))
    dense = law.sampler(20, 7, np.random.default_rng(3), gather=False).next()
    again = law.sample_weights(20, 7, np.random.default_rng(3))
    assert dense[0] == "dense" and np.array_equal(dense[1], again)
    large = BatchLaw(10).sampler(40, 5, np.random.default_rng(0)).next()  # rejection too rare
    assert large[0] == "dense"
    assert BatchLaw(None).sampler(None, 3, np.random.default_rng(0)).next() is None


@pytest.mark.parametrize(
    ("samples", "size", "drop_last"), [(5, 2, False), (5, 2, True), (6, 3, False)]
)
def test_every_epoch_visits_each_sample_once(samples, size, drop_last):
    law = ReshuffledBatchLaw(size, drop_last=drop_last)
    for gather in (True, False):
        sampler = law.sampler(samples, 50, np.random.default_rng(0), gather=gather)
        assert isinstance(sampler, EpochBatchSampler)
        for _ in range(3):
            counts = np.zeros((50, samples))
            for expected in law.batch_sizes(samples):
                batch = sampler.next()
                if gather:
                    assert batch[1].shape == (50, expected)
                    assert np.allclose(batch[2], 1.0 / expected)
                    np.add.at(counts, (np.arange(50)[:, None], batch[1]), 1.0)
                else:
                    weights = batch[1]
                    assert np.allclose(weights.sum(axis=1), 1.0)
                    counts += weights > 0
            visited = counts.sum(axis=1)
            assert np.all(counts <= 1)  # no sample twice in an epoch
            assert np.all(visited == sum(law.batch_sizes(samples)))
        assert sampler.epochs == 3


def test_reshuffled_batches_are_uniform_subsets_and_pairs_never_repeat():
    # each step's batch is a uniform 2-subset of 5 (10 cells, Hoeffding at 1e-6 with
    # Bonferroni), and the two full batches of an epoch are disjoint
    runs = 60_000
    sampler = ReshuffledBatchLaw(2).sampler(5, runs, np.random.default_rng(5))
    first, second, last = sampler.next()[1], sampler.next()[1], sampler.next()[1]
    assert last.shape == (runs, 1)
    assert not np.any(first[:, :, None] == second[:, None, :])
    radius = math.sqrt(math.log(2 * 20 / FALSE_ALARM) / (2 * runs))
    for batch in (first, second):
        codes = np.sort(batch, axis=1) @ np.array([5, 1])
        for code in {a * 5 + b for a in range(5) for b in range(a + 1, 5)}:
            assert abs(np.mean(codes == code) - 0.1) <= radius


# ------------------------------------------------------------------ reshuffled epochs
@pytest.mark.parametrize(
    ("method", "iid"),
    [
        (SGD(2, shuffle=True), SGD(2)),
        (SGD(2, shuffle=True, drop_last=True), SGD(2)),
        (HeavyBall(0.3, 2, shuffle=True), HeavyBall(0.3, 2)),
    ],
    ids=["short-last-batch", "drop-last", "heavy-ball"],
)
def test_reshuffled_simulation_matches_the_exact_epoch_recursion(method, iid):
    problem, lr = UNIT_PROBLEM, 1.6
    dynamics = method.dynamics()
    per_epoch = len(dynamics.batch.batch_sizes(problem.samples))
    start = np.tile(default_start(problem), dynamics.blocks)
    exact = predicted_epoch_mean_square(problem, method, lr, epochs=3, init=start)
    result = simulate(problem, method, lr, steps=3 * per_epoch, runs=100_000, seed=1)
    assert result.mean_square[0] == pytest.approx(exact[0])
    lower, upper = result.band(FALSE_ALARM, times=np.arange(4) * per_epoch)
    assert np.all((lower <= exact) & (exact <= upper))
    # the i.i.d. law of the same batch size predicts something the band excludes
    independent = predicted_mean_square(problem, iid, lr, steps=3 * per_epoch)[::per_epoch]
    assert np.any((independent < lower) | (independent > upper))


def _naive_epochs(problem, batch, lr, epochs, runs, seed, start):
    """Reshuffled SGD one run at a time, with numpy's own permutations (a reference)."""
    rng = np.random.default_rng(seed)
    rows = np.asarray(problem.data)
    finals = np.empty(runs)
    for run in range(runs):
        delta = start.copy()
        for _ in range(epochs):
            order = rng.permutation(rows.shape[0])
            for begin in range(0, rows.shape[0], batch):
                chosen = rows[order[begin : begin + batch]]
                delta = delta - lr * chosen.T @ (chosen @ delta) / chosen.shape[0]
        finals[run] = delta @ delta
    return finals


def test_simulate_epochs_agrees_in_distribution_with_a_naive_loop():
    # two-sample Kolmogorov–Smirnov test of ‖δ‖² after two epochs, level 1e-6
    problem, lr, start = UNIT_PROBLEM, 1.6, default_start(UNIT_PROBLEM)
    method = SGD(2, shuffle=True)
    engine = simulate(problem, method, lr, steps=6, runs=3000, seed=2, init=start)
    ours = np.einsum("ri,ri->r", engine.final_states, engine.final_states)
    theirs = _naive_epochs(problem, 2, lr, 2, 3000, 3, start)
    assert scipy.stats.ks_2samp(ours, theirs).pvalue > FALSE_ALARM
    wrong = _naive_epochs(problem, 2, 1.2, 2, 3000, 3, start)  # another rate is told apart
    assert scipy.stats.ks_2samp(ours, wrong).pvalue < FALSE_ALARM
    epochs = simulate_epochs(problem, method, lr, epochs=2, runs=3000, seed=2, init=start)
    assert epochs.steps_per_epoch == 3
    assert np.allclose(epochs.mean_square, engine.mean_square[::3], rtol=1e-12)


# ------------------------------------------------------------------ preconditioners
def _congruent_prediction(problem, dynamics, lr, steps, start):
    """``E‖y_t‖² = tr((I ⊗ P⁻¹) S_t)`` from the exact recursion of the congruent pair."""
    plain_problem, plain = congruent(problem, dynamics)
    preconditioner = np.asarray(dynamics.preconditioning.dense(problem.dimension))
    blocks = plain.blocks
    recursion = second_moment_recursion(plain_problem, plain, lr)
    moment = recursion.initial_moment(congruent_start(start, preconditioner, blocks=blocks))
    weight = np.kron(np.eye(blocks), np.linalg.inv(preconditioner))
    values = []
    for _ in range(steps + 1):
        values.append(float(np.trace(weight @ moment)))
        moment = recursion.apply(moment)
    return np.array(values), critical_learning_rate(plain_problem, plain)


def _swapped(dynamics):
    """The same method with ``P`` and ``P⁻¹`` swapped (a plausible bug)."""
    preconditioning = dynamics.preconditioning
    inverse = np.linalg.inv(preconditioning.dense(len(preconditioning.matrix)))
    swapped = Preconditioning(tuple(map(tuple, inverse)), preconditioning.shift)
    return dataclasses.replace(dynamics, preconditioning=swapped)


SPD = np.array([[1.5, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.8]])


@pytest.mark.parametrize(
    "method",
    [
        SGD(2, preconditioner=[1.6, 0.8, 1.0]),
        SGD(2, preconditioner=SPD, weight_decay=0.1),
        RMSProp([1.6, 0.8, 1.0], batch_size=2, momentum=0.5, weight_decay=0.1),
        Adam(0.5, preconditioner=SPD, batch_size=2),
        AdamW(0.5, preconditioner=[1.6, 0.8, 1.0], batch_size=1, weight_decay=0.2),
    ],
    ids=["sgd-diagonal", "sgd-spd-decay", "rmsprop-momentum", "adam-spd", "adamw"],
)
def test_preconditioned_simulation_matches_the_congruent_prediction(method):
    problem, dynamics = UNIT_PROBLEM, method.dynamics()
    start = default_initial_error(3)
    _, threshold = _congruent_prediction(problem, dynamics, 0.1, 0, start)
    lr = 0.7 * threshold
    exact, _ = _congruent_prediction(problem, dynamics, lr, 6, start)
    result = simulate(problem, method, lr, steps=6, runs=40_000, seed=7, init=start)
    lower, upper = result.band(FALSE_ALARM)
    assert np.all((lower <= exact) & (exact <= upper))
    # the band tells P⁻¹ from P: the prediction with the two swapped is excluded
    wrong, _ = _congruent_prediction(problem, _swapped(dynamics), lr, 6, start)
    assert np.any((wrong < lower) | (wrong > upper))


def test_full_batch_preconditioned_steps_are_exact_in_the_original_coordinates():
    hessian = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    problem = Quadratic(hessian)
    start = np.array([1.0, -2.0, 0.5])
    for preconditioner in ([2.0, 1.0, 0.5], SPD):
        method = RMSProp(preconditioner, weight_decay=0.05)
        matrix = method.dynamics().preconditioning.dense(3)
        step = np.eye(3) - 0.3 * np.linalg.solve(matrix, hessian + 0.05 * np.eye(3))
        result = simulate(problem, method, 0.3, steps=12, runs=2, seed=0, init=start)
        expected = np.linalg.matrix_power(step, 12) @ start
        assert np.allclose(result.final_states, expected, rtol=1e-12, atol=1e-14)
        assert result.deterministic
        exact, _ = _congruent_prediction(problem, method.dynamics(), 0.3, 12, start)
        assert np.allclose(result.mean_square, exact, rtol=1e-10)


def test_full_batch_adam_diverges_exactly_past_its_edge():
    # λ_max(P⁻¹H) = 4: the edge is (2 + 2β₁)/((1 − β₁) 4) = 9.5 at β₁ = 0.9
    problem = Quadratic(np.diag([4.0, 1.0]))
    method = Adam(0.9, preconditioner=[1.0, 4.0])
    below = simulate(problem, method, 0.95 * 9.5, steps=3000, runs=1, seed=0)
    above = simulate(problem, method, 1.05 * 9.5, steps=3000, runs=1, seed=0)
    assert below.mean_square[-1] < below.mean_square[0] * 1e-3
    assert above.mean_square[-1] > above.mean_square[0] * 1e3


def test_preconditioned_range_bound_holds_for_every_run():
    method = RMSProp(SPD, batch_size=1, momentum=0.6)
    result = simulate(UNIT_PROBLEM, method, 1.5, steps=30, runs=3000, seed=4)
    squares = np.einsum("ri,ri->r", result.final_states, result.final_states)
    assert squares.max() <= result.range_bound[-1]


# ------------------------------------------------------------------ loss
def test_loss_matches_its_prediction_and_the_samples_average_to_it():
    problem = UNIT_PROBLEM
    method = SGD(2)
    lr = 1.2
    result = simulate(problem, method, lr, steps=8, runs=40_000, seed=5, sample_losses=True)
    recursion = second_moment_recursion(problem, method, lr)
    moment = recursion.initial_moment()
    hessians = np.asarray(problem.per_sample_hessians())
    loss, per_sample = [], []
    for _ in range(9):
        loss.append(0.5 * np.trace(problem.hessian @ moment))
        per_sample.append(0.5 * np.einsum("nij,ji->n", hessians, moment))
        moment = recursion.apply(moment)
    loss, per_sample = np.array(loss), np.array(per_sample)
    lower, upper = result.loss_band(FALSE_ALARM)
    assert np.all((lower <= loss) & (loss <= upper))
    assert np.any((0.8 * loss < lower) | (0.8 * loss > upper))  # a 20% error is caught
    lower, upper = result.sample_loss_band(FALSE_ALARM)
    assert lower.shape == (9, 5)
    assert np.all((lower <= per_sample) & (per_sample <= upper))
    # ½ δᵀHδ is the mean of ½ δᵀH_iδ run by run, hence in the means
    assert np.allclose(result.sample_loss.mean(axis=1), result.mean_loss, rtol=1e-10)
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert len(payload["loss"]) == 9 and len(payload["sample_loss"][0]) == 5
    assert payload["loss_lower"][3] <= payload["loss"][3] <= payload["loss_upper"][3]


def test_loss_of_general_hessians_and_of_momentum_states():
    rng = np.random.default_rng(6)
    factors = rng.standard_normal((4, 3, 3)) / 3
    problem = Quadratic.from_hessians(factors @ np.swapaxes(factors, 1, 2))
    method = HeavyBall(0.4, batch_size=2)
    start = np.array([0.3, -0.4, 0.8])
    result = simulate(
        problem, method, 0.5, steps=5, runs=30, seed=0, init=start, sample_losses=True
    )
    hessians = np.asarray(problem.per_sample_hessians())
    delta = result.final_states[:, :3]  # the first block is δ_T
    assert result.mean_loss[-1] == pytest.approx(
        0.5 * np.mean(np.einsum("ri,ij,rj->r", delta, problem.hessian, delta)), rel=1e-10
    )
    assert np.allclose(
        result.sample_loss[-1],
        0.5 * np.einsum("ri,nij,rj->n", delta, hessians, delta) / 30,
        rtol=1e-10,
    )
    assert result.mean_loss[0] == pytest.approx(0.5 * start @ problem.hessian @ start, rel=1e-12)


def test_per_sample_losses_are_off_unless_asked_for():
    result = simulate(UNIT_PROBLEM, SGD(2), 0.5, steps=3, runs=20, seed=0)
    assert result.sample_loss is None and "sample_loss" not in result.to_dict()
    with pytest.raises(InvalidInputError, match="sample_losses=True"):
        result.sample_loss_band()
    with pytest.raises(InvalidTypeError, match="sample_losses"):
        simulate(UNIT_PROBLEM, SGD(2), 0.5, steps=3, runs=20, sample_losses="yes")
    # loss=False saves the loss's work; the per-sample losses do not depend on it
    quiet = simulate(UNIT_PROBLEM, SGD(2), 0.5, steps=3, runs=20, seed=0, loss=False)
    assert quiet.mean_loss is None and "loss" not in quiet.to_dict()
    assert np.array_equal(quiet.mean_square, result.mean_square)
    with pytest.raises(InvalidInputError, match="loss=True"):
        quiet.loss_band()
    both = simulate(UNIT_PROBLEM, SGD(2), 0.5, steps=3, runs=20, seed=0, sample_losses=True)
    only = simulate(
        UNIT_PROBLEM, SGD(2), 0.5, steps=3, runs=20, seed=0, loss=False, sample_losses=True
    )
    assert np.array_equal(both.sample_loss, only.sample_loss)
    assert np.allclose(only.sample_loss.mean(axis=1), result.mean_loss, rtol=1e-10)


# ------------------------------------------------------------------ the default start
def test_default_start_lies_in_the_range_of_the_hessian():
    rows = np.random.default_rng(9).standard_normal((2, 5))  # rank 2 in five dimensions
    problem = Quadratic.from_data(rows)
    start = default_start(problem)
    null = scipy.linalg.null_space(problem.hessian)
    assert null.shape[1] == 3
    assert np.linalg.norm(null.T @ start) < 1e-12 and np.linalg.norm(start) == pytest.approx(1)
    ones = default_initial_error(5)
    assert np.linalg.norm(null.T @ ones) > 0.1  # the old default had a part that never moves
    # full batch below the edge: the default start decays to zero, the old one to its null part
    lr = 0.9 * 2 / problem.sharpness
    result = simulate(problem, GD(), lr, steps=300, runs=1, seed=0)
    assert result.mean_square[-1] < 1e-12
    old = simulate(problem, GD(), lr, steps=300, runs=1, seed=0, init=ones)
    assert old.mean_square[-1] == pytest.approx(np.sum((null.T @ ones) ** 2), rel=1e-9)
    # the exact prediction starts from the same default
    assert np.allclose(
        result.mean_square,
        predicted_mean_square(problem, GD(), lr, steps=300),
        rtol=1e-9,
        atol=1e-15,
    )
    # full rank: the default is (1, …, 1)/√d, as before
    assert np.array_equal(default_start(Quadratic(np.diag([1.0, 2.0]))), default_initial_error(2))


def test_default_start_with_a_preconditioner_lies_in_the_moving_directions():
    rows = np.random.default_rng(10).standard_normal((2, 4))
    problem = Quadratic.from_data(rows)
    preconditioner = [2.0, 0.5, 1.0, 3.0]
    method = RMSProp(preconditioner)
    lr = 0.9 * critical_learning_rate(*congruent(problem, method))
    result = simulate(problem, method, lr, steps=400, runs=1, seed=0)
    assert result.mean_square[0] == pytest.approx(1.0)
    assert result.mean_square[-1] < 1e-12  # no component is left behind in null(H)
    # a zero Hessian moves nothing: the default is (1, …, 1)/√d
    assert np.array_equal(default_start(Quadratic(np.zeros((2, 2)))), default_initial_error(2))


# ------------------------------------------------------------------ properties
PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _preconditioned_case(draw):
    problem = draw(problems(max_samples=5, max_dimension=4))
    dimension = problem.dimension
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        preconditioner = np.exp(rng.uniform(-1.0, 1.0, dimension))
    else:
        factor = rng.standard_normal((dimension, dimension))
        preconditioner = factor @ factor.T / dimension + 0.5 * np.eye(dimension)
    shift = draw(st.sampled_from([0.0, 0.3]))
    batch = draw(st.sampled_from([None, *range(1, problem.samples + 1)]))
    replacement = draw(st.booleans()) and batch is not None
    shuffle = draw(st.booleans()) and batch is not None and not replacement
    method = RMSProp(
        preconditioner,
        batch_size=batch,
        replacement=replacement,
        shuffle=shuffle,
        weight_decay=shift,
    )
    return problem, method, seed


@PROPERTY
@given(_preconditioned_case())
def test_one_step_of_every_run_is_the_explicit_preconditioned_map(case):
    # the kernel's step, run by run, equals δ − η P⁻¹ (H_B + μ I) δ with H_B formed densely
    problem, method, seed = case
    dynamics = method.dynamics()
    preconditioning = dynamics.preconditioning
    dimension = problem.dimension
    matrix = preconditioning.dense(dimension)
    shift = float(preconditioning.shift)
    kernel = kernel_module.build_kernel(problem, dynamics, 0.4)
    runs = 7
    state = np.random.default_rng(seed).standard_normal((runs, 1, dimension))
    batches = kernel.sampler(runs, np.random.default_rng(seed + 1))
    replay = kernel.sampler(runs, np.random.default_rng(seed + 1))
    stepped = kernel.step(state, np.random.default_rng(0), batches)
    drawn = replay.next()
    per_sample = np.asarray(problem.per_sample_hessians()) if problem.samples else None
    for run in range(runs):
        if drawn is None:
            batch_hessian = np.asarray(problem.hessian)
        else:
            weights = np.zeros(problem.samples)
            if drawn[0] == "dense":
                weights = drawn[1][run]
            else:
                np.add.at(weights, drawn[1][run], drawn[2][run])
            assert weights.sum() == pytest.approx(1.0)
            batch_hessian = np.tensordot(weights, per_sample, axes=1)
        step = np.eye(dimension) - 0.4 * np.linalg.solve(
            matrix, batch_hessian + shift * np.eye(dimension)
        )
        expected = step @ state[run, 0]
        scale = 1.0 + np.abs(expected).max()
        assert np.allclose(stepped[run, 0], expected, rtol=1e-10, atol=1e-10 * scale)


@PROPERTY
@given(st.integers(1, 9), st.integers(1, 9), st.booleans(), st.integers(0, 2**32 - 1))
def test_every_reshuffled_epoch_is_a_permutation_cut_in_order(samples, size, drop_last, seed):
    if size > samples:
        size = samples
    law = ReshuffledBatchLaw(size, drop_last=drop_last)
    sampler = law.sampler(samples, 4, np.random.default_rng(seed))
    for _ in range(2):
        taken = np.concatenate([sampler.next()[1] for _ in law.batch_sizes(samples)], axis=1)
        assert taken.shape == (4, sum(law.batch_sizes(samples)))
        for row in taken:
            assert len(set(row.tolist())) == row.size  # no sample twice in an epoch
        assert sampler.order is not None
        assert np.array_equal(taken, sampler.order[:, : taken.shape[1]])


def test_sweep_relative_to_the_threshold_of_reshuffled_and_preconditioned_methods():
    from stability.reshuffling import epoch_critical_learning_rate
    from stability.sweeps import sweep

    methods = [SGD(2, shuffle=True), RMSProp([1.6, 0.8, 1.0], batch_size=2)]
    grid = sweep(UNIT_PROBLEM, methods, [0.5, 1.5], relative=True, steps=3, runs=50, seed=0)
    epoch = epoch_critical_learning_rate(UNIT_PROBLEM, methods[0])
    preconditioned = critical_learning_rate(*congruent(UNIT_PROBLEM, methods[1]))
    assert np.allclose(
        grid.learning_rates,
        [[0.5 * epoch, 1.5 * epoch], [0.5 * preconditioned, 1.5 * preconditioned]],
    )
    assert grid.names == (
        "SGD (B=2 reshuffled every epoch (short last batch))",
        "RMSProp (B=2 without replacement)",
    )
    assert grid.mean_loss.shape == (2, 2, 4)
