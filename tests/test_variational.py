"""Variational GD: the method, its threshold, its sampler and its edge (docs/theory/methods.md)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.stats
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import GD, SGD, Quadratic, critical_learning_rate, spectral_radius
from stability._examples import regression_example
from stability.errors import (
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    NotPositiveSemidefiniteError,
    NotSymmetricError,
)
from stability.methods import PosteriorMeanSampler, VariationalGD
from stability.numeric import (
    edge_parameter,
    variational_edge,
    variational_edges,
    variational_factor,
)
from stability.testing.strategies import problems

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- the method


def test_compiles_to_the_gradient_step_plus_posterior_noise():
    method = VariationalGD(np.diag([1.0, 2.0]), samples=4, batch_size=3, replacement=True)
    dynamics = method.dynamics()
    reference = SGD(3, replacement=True).dynamics()
    assert dynamics.identity_part == reference.identity_part
    assert dynamics.hessian_part == reference.hessian_part
    assert dynamics.batch == reference.batch
    assert dynamics.gradient_step_scale() == 1
    noise = dynamics.noise
    u, w = noise.evaluate(0.3)
    assert u.tolist() == [0.0] and w.tolist() == [-0.3]
    np.testing.assert_array_equal(noise.covariance_matrix(2), np.diag([0.25, 0.5]))
    assert VariationalGD(2.0, samples=4).dynamics().noise.covariance == 0.5
    assert VariationalGD([1.0, 3.0], samples=2).dynamics().noise.covariance_matrix(2).tolist() == [
        [0.5, 0.0],
        [0.0, 1.5],
    ]
    assert GD().dynamics().name != dynamics.name


def test_methods_are_values():
    first = VariationalGD(np.eye(2), samples=2)
    second = VariationalGD([[1.0, 0.0], [0.0, 1.0]], samples=2)
    assert first == second and hash(first) == hash(second)
    assert first.dynamics() == second.dynamics()
    assert first != VariationalGD(np.eye(2), samples=3)
    assert VariationalGD(1).posterior_cov == 1.0


def test_symbolic_variance_is_kept_exact():
    sigma2 = sympy.Symbol("sigma2", positive=True)
    noise = VariationalGD(sigma2, samples=3).dynamics().noise
    assert sympy.simplify(noise.covariance - sigma2 / 3) == 0
    with pytest.raises(InvalidTypeError, match="symbolic"):
        noise.sampler(np.random.default_rng(0), 2, 2)


@pytest.mark.parametrize(
    ("arguments", "error", "name"),
    [
        ((-1.0,), InvalidInputError, "posterior_cov"),
        (([1.0, -0.5],), InvalidInputError, "posterior_cov"),
        (([[1.0, 2.0], [0.0, 1.0]],), NotSymmetricError, "posterior_cov"),
        (([[1.0, 2.0], [2.0, 1.0]],), NotPositiveSemidefiniteError, "posterior_cov"),
        ((np.ones((2, 2, 2)),), DimensionError, "posterior_cov"),
        ((float("nan"),), InvalidInputError, "posterior_cov"),
        (("wide",), InvalidTypeError, "posterior_cov"),
        ((1.0, 0), InvalidInputError, "samples"),
        ((1.0, 2.5), InvalidTypeError, "samples"),
        ((1.0, True), InvalidTypeError, "samples"),
        ((1.0, 1, 0), InvalidInputError, "batch_size"),
        ((1.0, 1, None, "yes"), InvalidInputError, "replacement"),
        ((1.0, 1, None, False, "laplace"), InvalidInputError, "posterior"),
        ((1.0, 1, None, False, "student-t", 2.0), InvalidInputError, "degrees_of_freedom"),
        ((1.0, 1, None, False, "student-t", "5"), InvalidTypeError, "degrees_of_freedom"),
    ],
)
def test_bad_arguments_name_themselves(arguments, error, name):
    with pytest.raises(error, match=name):
        VariationalGD(*arguments)


def test_batch_size_is_checked_against_the_problem():
    problem = Quadratic.from_data(np.eye(3))
    with pytest.raises(InvalidInputError, match="batch_size"):
        critical_learning_rate(problem, VariationalGD(1.0, batch_size=4))
    with pytest.raises(InvalidInputError, match="batch_size"):
        critical_learning_rate(Quadratic(np.eye(2)), VariationalGD(1.0, batch_size=1))


# ---------------------------------------------------------------- the threshold


@st.composite
def problem_and_covariance(draw):
    problem = draw(problems(max_samples=4, max_dimension=3))
    seed = draw(st.integers(0, 2**32 - 1))
    factor = np.random.default_rng(seed).standard_normal((problem.dimension,) * 2)
    return problem, draw(st.sampled_from([0.0, 0.3, 50.0])) * factor @ factor.T


@PROPERTY
@given(problem_and_covariance(), st.integers(1, 8), st.integers(1, 8), st.booleans())
def test_threshold_and_radius_are_those_of_gd_or_sgd(case, samples, batch_size, replacement):
    # Posterior noise is additive: η* and ρ(T) do not depend on Σ_q or S (docs/theory/methods.md).
    problem, covariance = case
    gd = critical_learning_rate(problem, GD())
    assert critical_learning_rate(problem, VariationalGD(covariance, samples=samples)) == gd
    if not replacement:
        batch_size = min(batch_size, problem.samples)
    sgd = SGD(batch_size, replacement=replacement)
    vsgd = VariationalGD(covariance, samples, batch_size, replacement)
    assert critical_learning_rate(problem, vsgd) == critical_learning_rate(problem, sgd)
    lr = 0.7 * gd
    assert spectral_radius(problem, vsgd, lr) == spectral_radius(problem, sgd, lr)


# ---------------------------------------------------------------- the sampler


@pytest.mark.parametrize("posterior", ["gaussian", "student-t"])
@pytest.mark.parametrize(
    "covariance", [0.7, [0.5, 2.0, 0.0], [[2.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 0.5]]]
)
def test_sampler_draws_the_mean_of_samples_with_covariance_over_samples(posterior, covariance):
    # Each entry of the sample covariance is within 6 of its own estimated standard errors
    # of Σ_q / S (CLT; per-entry two-sided false-failure rate below 2e-9, 9 entries).
    samples = 3
    method = VariationalGD(covariance, samples=samples, posterior=posterior, degrees_of_freedom=9)
    draws = method.dynamics().noise.sampler(np.random.default_rng(42), 200_000, 3)
    assert draws.shape == (200_000, 3)
    target = method.posterior_covariance_matrix(3) / samples
    products = draws[:, :, None] * draws[:, None, :]
    estimate = products.mean(axis=0)
    error = products.std(axis=0, ddof=1) / np.sqrt(len(draws))
    assert np.all(np.abs(estimate - target) <= 6 * error + 1e-15)
    mean_error = draws.std(axis=0, ddof=1) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0)) <= 6 * mean_error + 1e-15)


def test_student_t_sampler_has_the_student_t_law():
    # S = 1: each coordinate is σ √((ν − 2)/ν) t_ν. Kolmogorov–Smirnov, reject at p < 1e-6.
    nu, sigma2 = 5.0, 2.0
    sampler = PosteriorMeanSampler(sigma2, 1, "student-t", nu)
    draws = sampler(np.random.default_rng(3), 50_000, 2)
    scale = math.sqrt(sigma2 * (nu - 2) / nu)
    for column in draws.T:
        assert scipy.stats.kstest(column / scale, scipy.stats.t(nu).cdf).pvalue > 1e-6
        # and it is not Gaussian with the same variance (the test has power)
        gaussian = scipy.stats.norm(scale=math.sqrt(sigma2)).cdf
        assert scipy.stats.kstest(column, gaussian).pvalue < 1e-6


def test_sampler_checks_the_dimension():
    sampler = VariationalGD([1.0, 2.0]).dynamics().noise.sampler
    with pytest.raises(DimensionError, match="posterior_cov"):
        sampler(np.random.default_rng(0), 3, 4)


# ---------------------------------------------------------------- the edge, numerically


def _mp_edge(lr: float, z: float) -> mpmath.mpf:
    """The real root of λ³ + z λ − 2z/η at 60 digits (no closed form used)."""
    with mpmath.workdps(60):
        lr_mp, z_mp = mpmath.mpf(lr), mpmath.mpf(z)
        roots = mpmath.polyroots([1, 0, z_mp, -2 * z_mp / lr_mp], maxsteps=400, extraprec=300)
        real = min(roots, key=lambda root: abs(mpmath.im(root)))
        assert abs(mpmath.im(real)) < mpmath.mpf(10) ** -40 * abs(real)
        return mpmath.re(real)


@pytest.mark.parametrize("lr", [1e-3, 0.05, 1.0, 7.0, 300.0])
def test_edge_is_exact_to_1e_12_over_sixteen_decades(lr):
    z = np.logspace(-8, 8, 97)
    edges = variational_edge(lr, z)
    worst = max(
        abs(mpmath.mpf(float(edge)) / _mp_edge(lr, value) - 1)
        for edge, value in zip(edges, z, strict=True)
    )
    assert worst < 1e-12


def test_edge_broadcasts_and_returns_floats_for_scalars():
    assert isinstance(variational_edge(0.1, 3.0), float)
    grid = variational_edge(np.array([[0.1], [0.2]]), np.array([1.0, 10.0, 100.0]))
    assert grid.shape == (2, 3)
    assert grid[1, 2] == variational_edge(0.2, 100.0)
    assert variational_edge(0.5, 0.0) == 0.0
    assert variational_edge(0.5, math.inf) == 4.0
    np.testing.assert_array_equal(variational_factor(0.3, [0.0, math.inf]), [0.0, 1.0])


@pytest.mark.parametrize(
    ("lr", "z", "error", "name"),
    [
        (0.0, 1.0, InvalidInputError, "lr"),
        (-1.0, 1.0, InvalidInputError, "lr"),
        ([0.1, -0.1], 1.0, InvalidInputError, "lr"),
        (math.inf, 1.0, InvalidInputError, "lr"),
        (0.1, -1.0, InvalidInputError, "z"),
        (0.1, [1.0, math.nan], InvalidInputError, "z"),
        (0.1, "big", InvalidTypeError, "z"),
        ([0.1, 0.2], [1.0, 2.0, 3.0], DimensionError, "broadcast"),
    ],
)
def test_edge_refuses_bad_input(lr, z, error, name):
    with pytest.raises(error, match=name):
        variational_edge(lr, z)


def test_factor_depends_on_eta_squared_z_only_and_is_half_at_one():
    z = np.logspace(-6, 6, 25)
    np.testing.assert_allclose(
        variational_factor(0.2, z), variational_factor(0.4, z / 4), rtol=1e-15
    )
    for lr in (0.01, 0.3, 5.0):
        assert variational_factor(lr, 1 / lr**2) == pytest.approx(0.5, rel=1e-15)
    u = 0.25 * 0.3**2 * z
    v = variational_factor(0.3, z)
    np.testing.assert_allclose(v**3 + u * v, u, rtol=1e-14)  # v³ + u v − u = 0


def test_edge_limits():
    lr = 0.2
    # z → ∞: the GD edge 2/η; 1 − VF ~ 1/(u + 3) (from v = 1 − ε in v³ + u v − u = 0)
    for z in (1e6, 1e9, 1e12):
        u = 0.25 * lr * lr * z
        gap = 1 - variational_factor(lr, z)
        assert gap == pytest.approx(1 / (u + 3), rel=10 / u)
    # z → 0: λ_edge ~ (2z/η)^{1/3}, relative correction of order (z η²)^{1/3}
    for z in (1e-6, 1e-9, 1e-12):
        assert variational_edge(lr, z) == pytest.approx((2 * z / lr) ** (1 / 3), rel=1e-3)


@PROPERTY
@given(st.floats(1e-4, 1e3), st.floats(1e-8, 1e8), st.floats(1.0001, 100.0))
def test_edge_is_below_gd_and_increasing_in_z(lr, z, factor):
    edge = variational_edge(lr, z)
    assert 0 < edge < 2 / lr
    larger = variational_edge(lr, z * factor)
    assert larger >= edge
    # strictly, wherever the change (≈ (1 − VF)(1 − 1/factor) relative) exceeds rounding
    if 0.25 * lr * lr * z < 1e6:
        assert larger > edge


# ---------------------------------------------------------------- z from a state


def test_edge_parameter_per_direction():
    rng = np.random.default_rng(0)
    vectors = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    gradient = rng.standard_normal(3)
    covariance = np.cov(rng.standard_normal((3, 10)))
    z = edge_parameter(gradient, vectors, covariance, samples=5)
    for k in range(3):
        v = vectors[:, k]
        assert z[k] == pytest.approx(5 * (v @ gradient) ** 2 / (v @ covariance @ v), rel=1e-13)
    # scale-invariant in the eigenvectors; a single vector is accepted
    np.testing.assert_allclose(edge_parameter(gradient, 3 * vectors, covariance, 5), z, rtol=1e-13)
    assert edge_parameter(gradient, vectors[:, 0], covariance, 5) == pytest.approx(z[:1])
    # no posterior variance along a direction: GD there (z = ∞)
    assert edge_parameter([1.0, 1.0], np.eye(2), [0.0, 1.0]).tolist() == [math.inf, 1.0]


def test_edge_parameter_checks_shapes():
    with pytest.raises(DimensionError, match="eigenvectors"):
        edge_parameter([1.0, 2.0], np.eye(3), 1.0)
    with pytest.raises(DimensionError, match="posterior_cov"):
        edge_parameter([1.0, 2.0], np.eye(2), [1.0, 2.0, 3.0])
    with pytest.raises(InvalidInputError, match="samples"):
        edge_parameter([1.0, 2.0], np.eye(2), 1.0, samples=0)


def test_variational_edges_reads_the_method_and_checks_it():
    problem = Quadratic(np.diag([3.0, 1.0, 0.0]))
    result = variational_edges(problem, VariationalGD([0.5, 2.0, 1.0], samples=2), 0.4, [1, 1, 1])
    np.testing.assert_array_equal(result.eigenvalues, [3.0, 1.0])
    np.testing.assert_allclose(result.parameters, [2 * 9 / 0.5, 2 * 1 / 2.0], rtol=1e-14)
    np.testing.assert_allclose(result.edges, variational_edge(0.4, result.parameters), rtol=0)
    assert result.gd_edge == 5.0
    for bad in (GD(), VariationalGD(1.0, batch_size=1)):
        with pytest.raises(InvalidInputError, match="full-batch variational GD"):
            variational_edges(Quadratic.from_data(np.eye(3)), bad, 0.4, [1, 1, 1])
    with pytest.raises(DimensionError, match="mean"):
        variational_edges(problem, VariationalGD(1.0), 0.4, [1.0, 1.0])


# ---------------------------------------------------------------- the paper's claims, computed


def _edges(sigma2: float, samples: int) -> np.ndarray:
    problem = regression_example()
    lr = 0.5 * critical_learning_rate(problem, GD())
    mean = np.random.default_rng(0).standard_normal(problem.dimension)
    method = VariationalGD(sigma2, samples=samples)
    return variational_edges(problem, method, lr, mean).edges, 2 / lr


def test_the_edge_is_flatter_than_gd():
    for sigma2 in (1e-4, 1e-2, 1.0):
        for samples in (1, 10, 1000):
            edges, gd_edge = _edges(sigma2, samples)
            assert np.all(edges < gd_edge)


def test_the_edge_decreases_as_the_posterior_variance_grows():
    variances = np.logspace(-4, 2, 13)
    table = np.array([_edges(sigma2, 4)[0] for sigma2 in variances])
    assert np.all(np.diff(table, axis=0) < 0)


def test_the_edge_increases_with_samples_and_tends_to_gd():
    counts = [1, 2, 4, 16, 64, 1024, 10**6, 10**9, 10**12, 10**13]
    table = np.array([_edges(0.5, samples)[0] for samples in counts])
    gd_edge = _edges(0.5, 1)[1]
    assert np.all(np.diff(table, axis=0) > 0)
    gaps = gd_edge - table
    # the gap to 2/η closes like 1/S once u = η² z / 4 ≫ 1 (1 − VF ~ 1/(u + 3), z ∝ S)
    ratio = gaps[-1] * counts[-1] / (gaps[-2] * counts[-2])
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-3)
    assert np.all(gaps[-1] < 1e-5 * gd_edge)
