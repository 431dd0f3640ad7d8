"""Stationary second moments and expected loss changes (docs/theory/operator.md rule 3,
docs/theory/methods.md).

References are independent of the package's evaluators: batches are enumerated with their
exact probabilities (``tests/brute_force.py``), the state maps come from the definition
``LinearDynamics.state_map``, the range of ``H`` from ``scipy.linalg.orth``, and the
stationary equation is solved densely (or by ``scipy.linalg.solve_discrete_lyapunov``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.linalg
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import GD, SGD, HeavyBall, Nesterov, Quadratic, critical_learning_rate
from stability._examples import regression_example
from stability.dynamics import AdditiveNoise, BatchLaw, LinearDynamics, MatrixPolynomial
from stability.errors import (
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    UnstableError,
)
from stability.methods import VariationalGD
from stability.numeric import _moments as moments
from stability.numeric import edge_parameter, expected_loss_change, stationary_second_moment
from stability.testing.strategies import problems, psd_matrices
from tests import brute_force

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- brute-force references


def _batches(problem: Quadratic, dynamics: LinearDynamics):
    """Every batch Hessian (original coordinates) with its probability."""
    dimension = problem.dimension
    if problem.samples is None:
        return [(problem.hessian, 1.0)]
    per_sample = np.asarray(problem.per_sample_hessians()).reshape(-1, dimension, dimension)
    law = dynamics.batch
    return [
        (np.tensordot(weights, per_sample, axes=1), probability)
        for weights, probability in brute_force.batch_distribution(
            problem.samples, law.batch_size, law.replacement
        )
    ]


def _noise_map(dynamics: LinearDynamics, lr: float, batch_hessian: np.ndarray) -> np.ndarray:
    """``u ⊗ I + w ⊗ H_B`` as an ``(m d) × d`` matrix."""
    u, w = dynamics.noise.evaluate(lr)
    size = batch_hessian.shape[0]
    return np.kron(u[:, None], np.eye(size)) + np.kron(w[:, None], batch_hessian)


def brute_stationary(problem: Quadratic, dynamics: LinearDynamics, lr: float, *, keep=None):
    """Solve ``S = E[A S Aᵀ] + E[b bᵀ]`` densely on ``range(H)`` (or on ``keep`` columns)."""
    dimension, blocks = problem.dimension, dynamics.blocks
    basis = scipy.linalg.orth(problem.hessian, rcond=1e-10) if keep is None else keep
    covariance = dynamics.noise.covariance_matrix(dimension)
    lifted = np.kron(np.eye(blocks), basis)  # state coordinates → original
    operator = 0.0
    noise = 0.0
    for batch_hessian, probability in _batches(problem, dynamics):
        state_map = lifted.T @ dynamics.state_map(lr, batch_hessian) @ lifted
        operator = operator + probability * np.kron(state_map, state_map)
        b = lifted.T @ _noise_map(dynamics, lr, batch_hessian)
        noise = noise + probability * b @ covariance @ b.T
    size = lifted.shape[1]
    solution = np.linalg.solve(np.eye(size * size) - operator, np.ravel(noise))
    moment = solution.reshape(size, size)
    return lifted @ moment @ lifted.T


def _relative_error(got: np.ndarray, reference: np.ndarray) -> float:
    scale = max(float(np.abs(reference).max()), 1e-300)
    return float(np.abs(got - reference).max()) / scale


# ---------------------------------------------------------------- strategies


@st.composite
def covariances(draw, dimension: int):
    kind = draw(st.sampled_from(["scalar", "vector", "matrix"]))
    if kind == "scalar":
        return draw(st.floats(0.01, 10.0))
    if kind == "vector":
        return np.array(draw(st.lists(st.floats(0.0, 5.0), min_size=dimension, max_size=dimension)))
    seed = draw(st.integers(0, 2**32 - 1))
    factor = np.random.default_rng(seed).standard_normal((dimension, dimension))
    return factor @ factor.T / dimension


@st.composite
def variational_cases(draw):
    problem = draw(problems(max_samples=4, max_dimension=3))
    covariance = draw(covariances(problem.dimension))
    samples = draw(st.integers(1, 5))
    sampling = draw(st.sampled_from(["full", "without", "with"]))
    batch_size = None
    replacement = sampling == "with"
    if sampling != "full":
        batch_size = draw(st.integers(1, problem.samples * (2 if replacement else 1)))
    method = VariationalGD(
        covariance, samples=samples, batch_size=batch_size, replacement=replacement
    )
    fraction = draw(st.floats(0.05, 0.9))
    threshold = critical_learning_rate(problem, method)
    return problem, method, fraction * threshold


# ---------------------------------------------------------------- stationary moment


@PROPERTY
@given(variational_cases(), st.sampled_from(["auto", "direct", "krylov"]))
def test_stationary_moment_matches_brute_force(case, solver):
    problem, method, lr = case
    got = stationary_second_moment(problem, method, lr, solver=solver)
    reference = brute_stationary(problem, method.dynamics(), lr)
    assert got.shape == (problem.dimension, problem.dimension)
    assert _relative_error(got, reference) < 1e-9
    assert np.allclose(got, got.T)
    assert np.linalg.eigvalsh(got)[0] >= -1e-12 * max(np.abs(got).max(), 1e-300)


@pytest.mark.parametrize("samples", [1, 3])
def test_full_batch_agrees_with_scipy_discrete_lyapunov(samples):
    rng = np.random.default_rng(7)
    factor = rng.standard_normal((4, 4))
    hessian = factor @ factor.T + 0.1 * np.eye(4)
    covariance = np.cov(rng.standard_normal((4, 9)))
    problem = Quadratic(hessian)
    lr = 1.5 / np.linalg.eigvalsh(hessian)[-1]
    got = stationary_second_moment(problem, VariationalGD(covariance, samples=samples), lr)
    transition = np.eye(4) - lr * hessian
    noise = lr**2 * hessian @ covariance @ hessian / samples
    reference = scipy.linalg.solve_discrete_lyapunov(transition, noise)
    assert _relative_error(got, reference) < 1e-11


@PROPERTY
@given(psd_matrices(max_dimension=5), st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_full_batch_closed_form_per_eigendirection(hessian, seed, samples):
    # E (v_kᵀ δ)² = η λ_k σ_k² / (S (2 − η λ_k)),  σ_k² = v_kᵀ Σ_q v_k  (any Σ_q)
    problem = Quadratic(hessian)
    if problem.sharpness == 0:
        return
    dimension = problem.dimension
    factor = np.random.default_rng(seed).standard_normal((dimension, dimension))
    covariance = factor @ factor.T
    lr = 1.9 / problem.sharpness
    moment = stationary_second_moment(problem, VariationalGD(covariance, samples=samples), lr)
    reduced = problem.reduced()
    for lam, vector in zip(reduced.eigenvalues, reduced.basis.T, strict=True):
        sigma2 = vector @ covariance @ vector
        expected = lr * lam * sigma2 / (samples * (2 - lr * lam))
        assert vector @ moment @ vector == pytest.approx(expected, rel=1e-10, abs=1e-14)
    null = scipy.linalg.null_space(hessian, rcond=1e-10)
    assert np.allclose(null.T @ moment, 0.0, atol=1e-12 * max(1.0, np.abs(moment).max()))


def test_edge_identity_at_the_stationary_moment():
    # At stationarity z_k = S E c_k / σ_k² = η λ_k³ / (2 − η λ_k) and the edge equals λ_k.
    from stability.numeric import variational_edge

    problem = regression_example()
    rng = np.random.default_rng(3)
    factor = rng.standard_normal((8, 8))
    covariance = factor @ factor.T / 8
    samples = 4
    lr = 0.7 * critical_learning_rate(problem, GD())
    moment = stationary_second_moment(problem, VariationalGD(covariance, samples=samples), lr)
    reduced = problem.reduced()
    basis, lam = reduced.basis, reduced.eigenvalues
    expected_c = lam**2 * np.einsum("ik,ij,jk->k", basis, moment, basis)
    sigma2 = np.einsum("ik,ij,jk->k", basis, covariance, basis)
    z = samples * expected_c / sigma2
    np.testing.assert_allclose(z, lr * lam**3 / (2 - lr * lam), rtol=1e-11)
    np.testing.assert_allclose(variational_edge(lr, z), lam, rtol=1e-11)


@pytest.mark.parametrize(
    "method",
    [VariationalGD(0.5), VariationalGD([1.0, 2.0, 0.5], batch_size=2), VariationalGD(1.0, 2, 1)],
)
def test_refuses_at_and_beyond_the_threshold(method):
    problem = Quadratic.from_data([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0], [1.0, 1.0, 0.0]])
    threshold = critical_learning_rate(problem, method)
    stationary_second_moment(problem, method, threshold * (1 - 1e-6))
    for lr in (threshold, threshold * (1 + 1e-6), 10 * threshold):
        with pytest.raises(UnstableError, match="not mean-square stable"):
            stationary_second_moment(problem, method, lr)


def test_no_noise_gives_zero_and_still_checks_stability():
    problem = Quadratic.from_data([[1.0, 0.0], [1.0, 1.0]])
    assert not np.any(stationary_second_moment(problem, SGD(1), 0.3))
    assert stationary_second_moment(problem, HeavyBall(0.5), 0.3).shape == (4, 4)
    with pytest.raises(UnstableError):
        stationary_second_moment(problem, SGD(1), 2.0)


def test_rank_zero_problem():
    problem = Quadratic(np.zeros((2, 2)))
    assert not np.any(stationary_second_moment(problem, VariationalGD(1.0), 0.5))


# ---------------------------------------------------------------- generic dynamics


def _with_noise(dynamics: LinearDynamics, identity, hessian, covariance) -> LinearDynamics:
    return dataclasses.replace(
        dynamics, noise=AdditiveNoise(identity, hessian, covariance), name="noisy"
    )


@pytest.mark.parametrize("solver", ["direct", "krylov"])
@pytest.mark.parametrize("kind", [HeavyBall, Nesterov])
@pytest.mark.parametrize("batch_size", [None, 2])
def test_momentum_with_general_noise_matches_brute_force(solver, kind, batch_size):
    # two state blocks, noise with u ≠ 0 and w ≠ 0 in both blocks, full-rank H
    rng = np.random.default_rng(11)
    problem = Quadratic.from_data(rng.standard_normal((5, 3)))
    dynamics = _with_noise(
        kind(0.6, batch_size=batch_size).dynamics(),
        ((0.5, 1.0), (0.2,)),
        ((0, -1), (0, 0.3)),
        np.diag([1.0, 2.0, 0.5]),
    )
    lr = 0.8 * critical_learning_rate(problem, dynamics)
    got = stationary_second_moment(problem, dynamics, lr, solver=solver)
    reference = brute_stationary(problem, dynamics, lr)
    assert got.shape == (6, 6)
    assert _relative_error(got, reference) < 1e-9


def test_noise_reaching_a_neutral_null_space_is_refused():
    problem = Quadratic.from_data([[1.0, 0.0], [2.0, 0.0]])  # null(H) = span(e_2)
    dynamics = _with_noise(GD().dynamics(), ((1,),), ((0,),), 1.0)
    with pytest.raises(UnstableError, match="null"):
        stationary_second_moment(problem, dynamics, 0.1)
    # noise that stays in range(H) is fine even with u ≠ 0
    inside = _with_noise(GD().dynamics(), ((1,),), ((0,),), np.diag([1.0, 0.0]))
    moment = stationary_second_moment(problem, inside, 0.1)
    assert moment[1, 1] == 0.0 and moment[0, 0] > 0


@pytest.mark.parametrize("batch_size", [None, 1])
def test_contracting_null_space_is_kept(batch_size):
    # F = 1 − 0.3 η (a weight-decay-like contraction) makes null(H) stable; noise u ≠ 0
    # reaches it, so the moment there is u² σ² / (1 − F²) and couples to range(H).
    problem = Quadratic.from_data([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    dynamics = LinearDynamics(
        name="decayed",
        identity_part=MatrixPolynomial.from_matrices([[[1]], [[-0.3]]]),
        hessian_part=MatrixPolynomial.from_matrices([[[0]], [[-1]]]),
        batch=BatchLaw(batch_size),
        noise=AdditiveNoise(
            ((0.5,),), ((0, -1),), np.array([[1.0, 0.2, 0.3], [0.2, 1.0, 0.1], [0.3, 0.1, 2.0]])
        ),
    )
    lr = 0.5
    got = stationary_second_moment(problem, dynamics, lr)
    reference = brute_stationary(problem, dynamics, lr, keep=np.eye(3))
    assert _relative_error(got, reference) < 1e-10
    contraction = 1 - 0.3 * lr
    assert got[2, 2] == pytest.approx(0.25 * 2.0 / (1 - contraction**2), rel=1e-12)


@pytest.mark.parametrize(
    "method", [VariationalGD(0.7, samples=2, batch_size=2), HeavyBall(0.5, batch_size=1)]
)
def test_matrix_free_paths_agree(monkeypatch, method):
    # Force the Krylov eigenvalue check and the Krylov solve on a small problem.
    rng = np.random.default_rng(5)
    problem = Quadratic.from_data(rng.standard_normal((6, 3)))
    dynamics = method.dynamics()
    if dynamics.noise is None:
        dynamics = _with_noise(dynamics, ((0,), (0,)), ((0, -1), (0, 0)), 1.0)
    threshold = critical_learning_rate(problem, dynamics)
    expected = stationary_second_moment(problem, dynamics, 0.9 * threshold, solver="direct")
    monkeypatch.setattr(moments, "_EXACT_CHECK_GRADIENT", 0)
    monkeypatch.setattr(moments, "_EXACT_CHECK_POLYNOMIAL", 0)
    monkeypatch.setattr(moments, "_DIRECT_STATE", 0)
    got = stationary_second_moment(problem, dynamics, 0.9 * threshold)
    assert _relative_error(got, expected) < 1e-9
    with pytest.raises(UnstableError, match="Krylov estimate"):
        stationary_second_moment(problem, dynamics, 1.01 * threshold)


def test_krylov_solver_on_a_larger_problem_matches_direct():
    problem = regression_example(samples=40, dimension=26, seed=2)
    method = VariationalGD(np.linspace(0.1, 1.0, 26), samples=3, batch_size=5)
    lr = 0.95 * critical_learning_rate(problem, method)
    krylov = stationary_second_moment(problem, method, lr, solver="krylov")
    direct = stationary_second_moment(problem, method, lr, solver="direct")
    assert _relative_error(krylov, direct) < 1e-9


# ---------------------------------------------------------------- validation


def test_bad_arguments_raise_package_errors():
    problem = Quadratic(np.eye(2))
    with pytest.raises(DimensionError, match="posterior_cov"):
        stationary_second_moment(problem, VariationalGD([1.0, 2.0, 3.0]), 0.5)
    with pytest.raises(InvalidTypeError, match="symbolic"):
        stationary_second_moment(problem, VariationalGD(sympy.Symbol("s")), 0.5)
    with pytest.raises(InvalidInputError, match="solver"):
        stationary_second_moment(problem, VariationalGD(1.0), 0.5, solver="lu")
    with pytest.raises(InvalidInputError, match="rtol"):
        stationary_second_moment(problem, VariationalGD(1.0), 0.5, rtol=0.0)
    with pytest.raises(InvalidInputError, match="lr"):
        stationary_second_moment(problem, VariationalGD(1.0), -0.5)
    with pytest.raises(InvalidTypeError, match="problem"):
        stationary_second_moment(np.eye(2), VariationalGD(1.0), 0.5)
    with pytest.raises(DimensionError, match="mean"):
        expected_loss_change(problem, VariationalGD(1.0), 0.5, [1.0, 2.0, 3.0])
    with pytest.raises(DimensionError, match="mean"):
        expected_loss_change(problem, HeavyBall(0.5), 0.5, [1.0, 2.0])


# ---------------------------------------------------------------- expected loss change


def brute_loss_change(problem, dynamics, lr, state):
    """``½ tr(H E[δ' δ'ᵀ]) − ½ δᵀ H δ`` by enumerating batches (original coordinates)."""
    dimension = problem.dimension
    hessian = problem.hessian
    second = np.zeros((dimension, dimension))
    first = np.zeros(dimension * dynamics.blocks)
    first[:] = np.ravel(state)
    for batch_hessian, probability in _batches(problem, dynamics):
        after = (dynamics.state_map(lr, batch_hessian) @ first)[:dimension]
        second += probability * np.outer(after, after)
        if dynamics.noise is not None:
            b = _noise_map(dynamics, lr, batch_hessian)[:dimension]
            second += probability * b @ dynamics.noise.covariance_matrix(dimension) @ b.T
    delta = first[:dimension]
    return 0.5 * float(np.trace(hessian @ second)) - 0.5 * float(delta @ hessian @ delta)


@PROPERTY
@given(variational_cases(), st.integers(0, 2**32 - 1))
def test_expected_loss_change_matches_enumeration(case, seed):
    problem, method, lr = case
    mean = np.random.default_rng(seed).standard_normal(problem.dimension)
    got = expected_loss_change(problem, method, lr, mean)
    reference = brute_loss_change(problem, method.dynamics(), lr, mean)
    assert got == pytest.approx(reference, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("kind", [HeavyBall, Nesterov])
def test_expected_loss_change_of_momentum_with_noise(kind):
    rng = np.random.default_rng(2)
    problem = Quadratic.from_data(rng.standard_normal((4, 3)))
    dynamics = _with_noise(
        kind(0.4, batch_size=2).dynamics(), ((0.5, 1.0), (0.2,)), ((0, -1), (0, 0.3)), 0.7
    )
    state = rng.standard_normal((2, 3))
    got = expected_loss_change(problem, dynamics, 0.3, state)
    assert got == pytest.approx(brute_loss_change(problem, dynamics, 0.3, state), rel=1e-11)
    assert got == expected_loss_change(problem, dynamics, 0.3, state.ravel())


@PROPERTY
@given(psd_matrices(max_dimension=4), st.integers(0, 2**32 - 1), st.integers(1, 5))
def test_full_batch_loss_change_is_a_sum_of_per_direction_cubics(hessian, seed, samples):
    # Ghosh et al. (2025), Thm 3.1: Σ_k (η² σ_k² / (2S)) (λ_k³ + z_k λ_k − 2 z_k / η)
    problem = Quadratic(hessian)
    if problem.sharpness == 0:
        return
    rng = np.random.default_rng(seed)
    dimension = problem.dimension
    factor = rng.standard_normal((dimension, dimension))
    covariance = factor @ factor.T + 0.1 * np.eye(dimension)
    mean = rng.standard_normal(dimension)
    lr = rng.uniform(0.1, 3.0) / problem.sharpness
    reduced = problem.reduced()
    lam, basis = reduced.eigenvalues, reduced.basis
    z = edge_parameter(hessian @ mean, basis, covariance, samples)
    sigma2 = np.einsum("ik,ij,jk->k", basis, covariance, basis)
    cubic = lam**3 + z * lam - 2 * z / lr
    expected = float(np.sum(lr**2 * sigma2 / (2 * samples) * cubic))
    got = expected_loss_change(problem, VariationalGD(covariance, samples=samples), lr, mean)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12 * np.abs(cubic).max())


def test_student_t_posterior_gives_the_same_expected_loss_change_by_monte_carlo():
    # The exact change depends only on Cov ε̄ = Σ_q / S; check it against seeded draws of the
    # Student-t sampler (mean of S draws). Tolerance: 6 standard errors of the sample mean
    # (estimated from the draws), a two-sided false-failure rate below 2e-9 by the CLT.
    problem = regression_example()
    covariance = np.diag(np.linspace(0.2, 2.0, 8))
    method = VariationalGD(covariance, samples=3, posterior="student-t", degrees_of_freedom=9)
    lr = 0.5 * critical_learning_rate(problem, GD())
    mean = np.random.default_rng(0).standard_normal(8)
    exact = expected_loss_change(problem, method, lr, mean)
    noise = method.dynamics().noise
    draws = noise.sampler(np.random.default_rng(1), 400_000, 8)
    hessian = problem.hessian
    after = mean - lr * hessian @ mean - lr * draws @ hessian
    change = 0.5 * np.einsum("ri,ij,rj->r", after, hessian, after) - 0.5 * mean @ hessian @ mean
    error = change.std(ddof=1) / np.sqrt(change.size)
    assert abs(change.mean() - exact) < 6 * error
    gaussian = VariationalGD(covariance, samples=3)
    assert expected_loss_change(problem, gaussian, lr, mean) == pytest.approx(exact, rel=1e-14)


@pytest.mark.parametrize("scale", [3.61e-211, 1e-100, 1e100])
def test_krylov_stationary_moment_is_linear_in_a_tiny_or_huge_covariance(scale):
    """The moment is linear in Cov(ε): the Krylov solve must not lose it to underflow
    (a posterior variance of 3.6e-211 gave a relative error of 0.25 before the solve was
    scaled)."""
    problem = Quadratic.from_data(np.random.default_rng(3).standard_normal((6, 3)))
    unit = VariationalGD((1.0, 2.0, 0.5), batch_size=1, replacement=True)
    scaled = VariationalGD((scale, 2.0 * scale, 0.5 * scale), batch_size=1, replacement=True)
    lr = 0.5 * critical_learning_rate(problem, unit)
    reference = stationary_second_moment(problem, unit, lr, solver="direct")
    got = stationary_second_moment(problem, scaled, lr, solver="krylov")
    assert _relative_error(got / scale, reference) < 1e-9
