"""Every capability at every size: the per-sample Jacobian of a random tanh MLP.

``n = 256`` samples, ``d = 401`` parameters, rank 256 (the reduced operator of a gradient
step has 32,896 coordinates). Its Hessian has near-flat directions (``λ_min/λ_max`` about
``3e-7``), so the eigenvalues of ``T(η)`` cluster just below one: the spectral radius must
be found by a route that converges anyway. References: the dense brute-force operator of
``tests/brute_force.py`` (explicit Kronecker products, a general eigen-solver) on a
48-sample sub-problem.
"""

from __future__ import annotations

import numpy as np
import pytest

from stability import GD, SGD, Quadratic, critical_learning_rate, spectral_radius
from stability.checks import check
from stability.numeric import radius_report
from tests import brute_force

FACTORS = (0.5, 0.8, 0.99, 1.01, 1.2)


def mlp_jacobian(samples: int, *, inputs: int = 8, hidden: int = 40, seed: int = 0):
    """Per-sample gradients of the scalar output of a one-hidden-layer tanh network."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, inputs))
    weights = rng.standard_normal((hidden, inputs)) / np.sqrt(inputs)
    bias = 0.1 * rng.standard_normal(hidden)
    readout = rng.standard_normal(hidden) / np.sqrt(hidden)
    activation = np.tanh(x @ weights.T + bias)
    slope = (1.0 - activation**2) * readout  # ∂ output / ∂ pre-activation
    by_weights = (slope[:, :, None] * x[:, None, :]).reshape(samples, -1)
    return np.hstack([by_weights, slope, activation, np.ones((samples, 1))])


JACOBIAN = mlp_jacobian(256)
FULL = Quadratic.from_data(JACOBIAN)
SUB = JACOBIAN[:48]


@pytest.fixture(scope="module")
def sub_parts():
    return brute_force.gradient_step_parts(np.einsum("ni,nj->nij", SUB, SUB))


def test_the_network_has_full_rank_and_near_flat_directions():
    reduced = FULL.reduced()
    assert JACOBIAN.shape == (256, 401) and reduced.rank == 256
    assert reduced.eigenvalues[-1] / reduced.eigenvalues[0] < 1e-5


@pytest.mark.parametrize("method", [GD(), SGD(1), SGD(4)], ids=str)
def test_spectral_radius_agrees_with_the_dense_brute_force_on_48_samples(method, sub_parts):
    problem = Quadratic.from_data(SUB)
    batch = method.dynamics().batch
    mixing = brute_force.mixing_weight(48, batch.batch_size, batch.replacement)
    threshold = critical_learning_rate(problem, method)
    for factor in FACTORS:
        lr = factor * threshold
        expected = brute_force.gradient_step_radius(sub_parts, lr, mixing)
        actual = spectral_radius(problem, method, lr, solver="matrix-free")
        assert actual == pytest.approx(expected, rel=1e-10, abs=1e-12)
        assert (actual < 1.0) == (factor < 1.0)


@pytest.mark.parametrize("method", [GD(), SGD(4)], ids=str)
def test_spectral_radius_crosses_one_at_the_threshold_at_full_size(method):
    threshold = critical_learning_rate(FULL, method)
    for factor in FACTORS:
        report = radius_report(FULL, method, factor * threshold)
        if report.residual is not None:  # the iterative routes certify their accuracy
            assert report.residual <= 1e-9
        if factor < 1.0:
            assert report.value <= 1.0 and report.gap > 0
        else:
            assert report.value > 1.0 and report.gap < 0


def test_the_gap_is_accurate_where_the_radius_rounds_to_one():
    # near-flat direction λ_min: 1 − ρ = η λ_min (2 − η λ_min) for GD, far below 1e-16 · ρ
    reduced = FULL.reduced()
    lr = 0.5 * critical_learning_rate(FULL, GD())
    report = radius_report(FULL, GD(), lr)
    x = lr * reduced.eigenvalues[-1]
    assert report.gap == pytest.approx(x * (2.0 - x), rel=1e-12)


def test_check_runs_at_full_size_and_agrees():
    threshold = critical_learning_rate(FULL, SGD(4))
    report = check(FULL, SGD(4), seed=0, runs=1000)
    assert report.critical_learning_rate == threshold
    assert report.agrees
    below, above = report.rates
    assert below.stable is True and below.spectral_radius < 1.0
    assert above.stable is False and above.spectral_radius > 1.0
    assert below.spectral_radius == pytest.approx(
        spectral_radius(FULL, SGD(4), below.learning_rate), rel=1e-12
    )
    names = [comparison.name for comparison in below.comparisons]
    assert any("three probes" in name for name in names)  # the matrix-free comparison ran
