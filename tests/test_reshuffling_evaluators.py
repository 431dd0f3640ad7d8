"""The ordinary evaluators on reshuffled batches (shuffle=True) against brute force.

References: every permutation of n ≤ 6 samples enumerated, the state maps of each prefix of
the epoch multiplied out and averaged as dense Kronecker products E[Π ⊗ Π] in the whole
parameter space (nothing shared with the package beyond ``LinearDynamics.state_map``);
bisection on the brute-force radius for thresholds; one-dimensional closed forms.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability
from stability import SGD, HeavyBall, Nesterov, Quadratic
from stability.errors import InvalidInputError, SizeLimitError
from stability.methods import Adam, RMSProp
from stability.numeric import epoch_operator, radius_report, threshold_report
from stability.preconditioning import congruent, congruent_problem
from stability.reshuffling import (
    epoch_critical_learning_rate,
    epoch_spectral_radius,
    predicted_epoch_mean_square,
)
from stability.testing.strategies import per_sample_hessians


def _prefix_kronecker(stack: np.ndarray, dynamics, lr: float) -> list[np.ndarray]:
    """E_π[Π_k ⊗ Π_k] for every prefix k = 0..K of the epoch, in the whole space."""
    law = dynamics.batch
    samples, dimension = stack.shape[0], stack.shape[1]
    sizes = law.batch_sizes(samples)
    state = dynamics.blocks * dimension
    totals = [np.zeros((state * state, state * state)) for _ in range(len(sizes) + 1)]
    permutations = list(itertools.permutations(range(samples)))
    for order in permutations:
        product = np.eye(state)
        totals[0] += np.kron(product, product)
        start = 0
        for step, size in enumerate(sizes):
            batch = stack[list(order[start : start + size])].mean(axis=0)
            product = dynamics.state_map(lr, batch) @ product
            totals[step + 1] += np.kron(product, product)
            start += size
    return [total / len(permutations) for total in totals]


def _brute_radius(stack, dynamics, lr) -> float:
    """ρ(E_π[P ⊗ P]) for the whole epoch's product P, every permutation enumerated."""
    law = dynamics.batch
    samples = stack.shape[0]
    sizes = law.batch_sizes(samples)
    state = dynamics.blocks * stack.shape[1]
    maps = {}
    total = np.zeros((state * state, state * state))
    permutations = list(itertools.permutations(range(samples)))
    for order in permutations:
        product = np.eye(state)
        start = 0
        for size in sizes:
            batch = tuple(sorted(order[start : start + size]))
            if batch not in maps:
                maps[batch] = dynamics.state_map(lr, stack[list(batch)].mean(axis=0))
            product = maps[batch] @ product
            start += size
        total += np.kron(product, product)
    return float(np.max(np.abs(np.linalg.eigvals(total / len(permutations)))))


def _range_stack(problem: Quadratic) -> np.ndarray:
    """The per-sample Hessians on an orthonormal basis of range(H) (from eigh, not the package)."""
    stack = np.asarray(problem.per_sample_hessians())
    values, vectors = np.linalg.eigh(stack.mean(axis=0))
    basis = vectors[:, values > 1e-10 * values[-1]]
    return np.einsum("ia,nij,jb->nab", basis, stack, basis)


def _assert_first_crossing(problem: Quadratic, dynamics, threshold: float) -> None:
    """The brute-force radius is one at ``threshold`` and below one on a grid before it."""
    reduced = _range_stack(problem)
    assert _brute_radius(reduced, dynamics, threshold) == pytest.approx(1.0, abs=1e-9)
    for fraction in np.linspace(0.05, 0.995, 8):
        assert _brute_radius(reduced, dynamics, fraction * threshold) < 1.0


def _six_samples(seed: int, dimension: int = 2) -> Quadratic:
    return Quadratic.from_data(np.random.default_rng(seed).standard_normal((6, dimension)))


SIX = [
    SGD(1, shuffle=True),
    SGD(2, shuffle=True),
    SGD(4, shuffle=True),  # B does not divide n: a short last batch of 2
    SGD(4, shuffle=True, drop_last=True),  # ... or two samples skipped each epoch
    SGD(5, shuffle=True),
    SGD(6, shuffle=True),  # one batch per epoch: gradient descent
    HeavyBall(0.6, 2, shuffle=True),
    HeavyBall(0.3, 4, shuffle=True),
    Nesterov(0.5, 3, shuffle=True),
]


# ------------------------------------------------------------------ n = 6, every permutation
@pytest.mark.parametrize("method", SIX, ids=lambda m: repr(m))
def test_six_samples_radius_per_epoch_and_per_step_equal_enumeration(method):
    problem = _six_samples(0)
    stack = np.asarray(problem.per_sample_hessians())
    dynamics = method.dynamics()
    steps = len(dynamics.batch.batch_sizes(6))
    lr = 0.9 / problem.sharpness
    expected = _brute_radius(stack, dynamics, lr)
    assert epoch_spectral_radius(problem, method, lr) == pytest.approx(expected, rel=1e-10)
    per_step = stability.spectral_radius(problem, method, lr)
    assert per_step**steps == pytest.approx(expected, rel=1e-10)
    report = radius_report(problem, method, lr)
    assert report.route == "epoch"
    assert report.gap == pytest.approx(1 - per_step, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("method", SIX, ids=lambda m: repr(m))
def test_six_samples_threshold_is_the_first_crossing_of_the_enumerated_operator(method):
    problem = _six_samples(1)
    value = stability.critical_learning_rate(problem, method)
    _assert_first_crossing(problem, method.dynamics(), value)
    assert threshold_report(problem, method).route == "epoch"
    assert stability.is_stable(problem, method, 0.999 * value)
    assert not stability.is_stable(problem, method, 1.001 * value)


@pytest.mark.parametrize("method", [SGD(4, shuffle=True), HeavyBall(0.5, 2, shuffle=True)])
def test_predicted_mean_square_at_every_step_equals_enumeration_of_prefixes(method):
    # steps inside an epoch use the operator of the epoch's first k batches
    problem = Quadratic.from_data(np.random.default_rng(2).standard_normal((5, 2)))
    stack = np.asarray(problem.per_sample_hessians())
    dynamics = method.dynamics()
    lr = 0.7 / problem.sharpness
    prefixes = _prefix_kronecker(stack, dynamics, lr)
    steps = len(prefixes) - 1
    start = np.array([0.3, -1.0] * dynamics.blocks)
    moment = np.outer(start, start).ravel()
    expected = []
    for _ in range(3):
        expected.extend(
            np.trace((prefix @ moment).reshape(start.size, start.size)) for prefix in prefixes[:-1]
        )
        moment = prefixes[-1] @ moment
    expected.append(np.trace(moment.reshape(start.size, start.size)))
    values = stability.predicted_mean_square(problem, method, lr, steps=3 * steps, init=start)
    np.testing.assert_allclose(values, expected, rtol=1e-10)
    epochs = predicted_epoch_mean_square(problem, method, lr, epochs=3, init=start)
    np.testing.assert_allclose(epochs, values[::steps], rtol=1e-13)


# ------------------------------------------------------------------ property over random PSD H_i
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    per_sample_hessians(min_samples=2, max_samples=5, max_dimension=2),
    st.data(),
    st.floats(0.1, 2.5),
)
def test_spectral_radius_per_step_equals_enumeration(stack, data, fraction):
    problem = Quadratic.from_hessians(stack)
    samples = problem.samples
    batch = data.draw(st.integers(1, samples))
    drop_last = data.draw(st.booleans()) and samples % batch != 0
    beta = data.draw(st.sampled_from([None, 0.0, 0.5]))
    if beta is None:
        method = SGD(batch, shuffle=True, drop_last=drop_last)
    else:
        method = HeavyBall(beta, batch, shuffle=True, drop_last=drop_last)
    dynamics = method.dynamics()
    lr = fraction / problem.sharpness
    expected = _brute_radius(_range_stack(problem), dynamics, lr)
    steps = len(dynamics.batch.batch_sizes(samples))
    assert stability.spectral_radius(problem, method, lr) ** steps == pytest.approx(
        expected, rel=1e-9, abs=1e-13
    )
    assert epoch_spectral_radius(problem, method, lr) == pytest.approx(
        expected, rel=1e-9, abs=1e-13
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(per_sample_hessians(min_samples=2, max_samples=6, max_dimension=3), st.data())
def test_scan_starts_where_gradient_steps_are_proven_stable(stack, data):
    # every batch map has norm ≤ 1 below the start, so ρ(epoch) ≤ 1 there (no crossing missed)
    problem = Quadratic.from_hessians(stack)
    batch = data.draw(st.integers(1, problem.samples))
    method = SGD(batch, shuffle=True)
    operator = epoch_operator(problem, method)
    start = operator.stable_start() / operator.sharpness
    assert operator.radius(start) <= 1 + 1e-12
    assert operator.radius(0.5 * start) <= 1 + 1e-12


# ------------------------------------------------------------------ preconditioned methods
def test_adam_and_rmsprop_with_shuffle_are_read_by_the_ordinary_evaluators():
    rng = np.random.default_rng(5)
    problem = Quadratic.from_data(rng.standard_normal((5, 2)))
    preconditioner = [2.0, 0.5]
    for method in (
        Adam(0.8, preconditioner, batch_size=2, shuffle=True),
        RMSProp(preconditioner, batch_size=3, momentum=0.5, shuffle=True),
        RMSProp(preconditioner, batch_size=1, shuffle=True, weight_decay=0.2),
    ):
        plain_problem, plain = congruent(problem, method)
        stack = np.asarray(plain_problem.per_sample_hessians())
        lr = 0.5 / plain_problem.sharpness
        steps = len(plain.batch.batch_sizes(5))
        expected = _brute_radius(stack, plain, lr)
        assert stability.spectral_radius(problem, method, lr) ** steps == pytest.approx(
            expected, rel=1e-9
        )
    # Adam is heavy ball at the rate η (1 − β₁) on P^{-1/2} H P^{-1/2}, run by run
    adam = stability.critical_learning_rate(
        problem, Adam(0.8, preconditioner, batch_size=2, shuffle=True)
    )
    heavy = stability.critical_learning_rate(
        congruent_problem(problem, preconditioner), HeavyBall(0.8, 2, shuffle=True)
    )
    assert adam * (1 - 0.8) == pytest.approx(heavy, rel=1e-9)


# ------------------------------------------------------------------ closed forms, larger n
@pytest.mark.parametrize("samples", [12, 14])
def test_one_dimensional_single_sample_batches_at_larger_n(samples):
    # B = 1 in 1-D: every order gives Π (1 − η h_i)²; the threshold solves Π |1 − η h_i| = 1.
    # (An expansion of the epoch operator in powers of η lost 4e-4 of it at n = 14.)
    curvatures = np.random.default_rng(samples).uniform(0.1, 3.0, samples)
    problem = Quadratic.from_hessians(curvatures[:, None, None])
    method = SGD(1, shuffle=True)
    threshold = stability.critical_learning_rate(problem, method)
    assert float(np.prod(np.abs(1 - threshold * curvatures))) == pytest.approx(1.0, abs=1e-11)
    lr = 0.3 / curvatures.max()
    assert epoch_spectral_radius(problem, method, lr) == pytest.approx(
        float(np.prod((1 - lr * curvatures) ** 2)), rel=1e-11
    )


def test_one_dimensional_pairs_closed_form():
    # 1-D, n = 4, B = 2: three pairings, each epoch multiplies by (1 − η h̄_a)(1 − η h̄_b)
    curvatures = np.array([0.5, 1.0, 2.0, 4.0])
    problem = Quadratic.from_hessians(curvatures[:, None, None])
    pairings = [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]

    def closed(lr):
        return np.mean(
            [
                np.prod([(1 - lr * curvatures[list(pair)].mean()) ** 2 for pair in pairing])
                for pairing in pairings
            ]
        )

    for lr in (0.2, 0.6, 0.9):
        assert epoch_spectral_radius(problem, SGD(2, shuffle=True), lr) == pytest.approx(
            closed(lr), rel=1e-12
        )


# ------------------------------------------------------------------ limits and refusals
def test_beyond_sixteen_samples_is_refused_with_a_pointer_to_monte_carlo():
    problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((17, 2)))
    for call in (
        lambda: stability.critical_learning_rate(problem, SGD(4, shuffle=True)),
        lambda: stability.spectral_radius(problem, SGD(4, shuffle=True), 0.1),
        lambda: stability.predicted_mean_square(problem, SGD(4, shuffle=True), 0.1, steps=3),
    ):
        with pytest.raises(SizeLimitError, match=r"n=17.*simulate_epochs"):
            call()
    assert math.isfinite(
        stability.critical_learning_rate(
            problem.__class__.from_data(problem.data[:8]), SGD(4, shuffle=True)
        )
    )


def test_precision_and_certify_are_refused_for_epochs():
    problem = Quadratic.from_data(np.eye(3))
    with pytest.raises(InvalidInputError, match="precision"):
        stability.critical_learning_rate(problem, SGD(1, shuffle=True), precision=30)
    with pytest.raises(InvalidInputError, match="certify"):
        stability.critical_learning_rate(problem, SGD(1, shuffle=True), certify=True)


def test_reshuffled_threshold_is_the_epoch_threshold_and_differs_from_iid():
    problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    assert stability.critical_learning_rate(problem, SGD(1, shuffle=True)) == pytest.approx(
        4 / 3, rel=1e-12
    )
    assert epoch_critical_learning_rate(problem, SGD(1, shuffle=True)) == pytest.approx(4 / 3)
    assert stability.critical_learning_rate(problem, SGD(1)) == pytest.approx(0.8)


@pytest.mark.parametrize("route", ["samples", "batches"])
def test_operator_columns_computed_in_chunks_are_the_same(monkeypatch, route):
    from stability.numeric import _epoch

    problem = Quadratic.from_data(np.random.default_rng(7).standard_normal((7, 3)))
    method = HeavyBall(0.5, 3, shuffle=True)
    operator = epoch_operator(problem, method, route=route)
    lr = 0.4 / problem.sharpness
    whole = operator.prefix_matrices(lr)
    monkeypatch.setattr(_epoch, "EPOCH_MEMORY_LIMIT", 4 * operator.memory)  # 4 columns a run
    np.testing.assert_allclose(operator.prefix_matrices(lr), whole, rtol=0, atol=1e-14)
    monkeypatch.setattr(_epoch, "EPOCH_MEMORY_LIMIT", operator.memory - 1)
    with pytest.raises(SizeLimitError, match="per column"):
        epoch_operator(problem, method, route=route)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(per_sample_hessians(min_samples=2, max_samples=7, max_dimension=3), st.data())
def test_the_two_recursions_agree(stack, data):
    # over used samples (n 2^(n-1) transitions) and over whole batches: the same operators
    problem = Quadratic.from_hessians(stack)
    batch = data.draw(st.integers(1, problem.samples))
    drop_last = data.draw(st.booleans()) and problem.samples % batch != 0
    beta = data.draw(st.sampled_from([None, 0.5]))
    method = (
        SGD(batch, shuffle=True, drop_last=drop_last)
        if beta is None
        else HeavyBall(beta, batch, shuffle=True, drop_last=drop_last)
    )
    lr = data.draw(st.floats(0.1, 2.0)) / problem.sharpness
    samples = epoch_operator(problem, method, route="samples").prefix_matrices(lr)
    batches = epoch_operator(problem, method, route="batches").prefix_matrices(lr)
    np.testing.assert_allclose(batches, samples, rtol=1e-10, atol=1e-12 * np.abs(samples).max())


def test_large_batches_beyond_sixteen_samples_equal_the_two_batch_formula():
    # n = 18, B = 12: a batch b and then its complement; E over the C(18, 12) batches of
    # (A_rest A_b) ⊗ (A_rest A_b), formed directly
    problem = Quadratic.from_data(np.random.default_rng(8).standard_normal((18, 2)))
    method = SGD(12, shuffle=True)
    stack = np.asarray(problem.per_sample_hessians())
    lr = 1.1 / problem.sharpness
    chosen = np.zeros((math.comb(18, 12), 18), dtype=bool)
    for row, combo in enumerate(itertools.combinations(range(18), 12)):
        chosen[row, list(combo)] = True
    first = np.eye(2) - lr * np.einsum("bn,nij->bij", chosen / 12, stack)
    second = np.eye(2) - lr * np.einsum("bn,nij->bij", ~chosen / 6, stack)
    products = second @ first
    total = np.einsum("bij,bkl->ikjl", products, products).reshape(4, 4) / len(chosen)
    expected = float(np.max(np.abs(np.linalg.eigvals(total))))
    assert epoch_operator(problem, method).route == "batches"
    assert epoch_spectral_radius(problem, method, lr) == pytest.approx(expected, rel=1e-10)
    threshold = stability.critical_learning_rate(problem, method)
    assert math.isfinite(threshold) and threshold > 0


@pytest.mark.parametrize("route", ["samples", "batches"])
def test_one_batch_per_epoch_is_the_second_moment_operator_of_the_full_batch(route):
    # the closing of a batch is T(S) = E[A S Aᵀ] of numeric/operator.py for that batch
    from stability._system import bind
    from stability.numeric import SecondMomentOperator

    problem = Quadratic.from_data(np.random.default_rng(9).standard_normal((5, 3)))
    for beta in (0.0, 0.7):
        epoch = epoch_operator(problem, HeavyBall(beta, 5, shuffle=True), route=route)
        full = SecondMomentOperator(bind(problem, HeavyBall(beta)))
        for lr in (0.3, 1.7):
            np.testing.assert_allclose(
                epoch.matrix(lr / problem.sharpness),
                full.matrix(lr / problem.sharpness),
                rtol=1e-12,
                atol=1e-13,
            )
