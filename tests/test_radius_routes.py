"""The spectral-radius routes agree with the dense eigenvalue problem, below and above η*.

``solver="matrix-free"`` takes the closed form (full batch), the structured route
``ρ = 1 − γ λ_min(2C − γD)`` by preconditioned LOBPCG (gradient steps below η*), Lanczos on
``T`` (above η*) or Arnoldi (momentum); ``solver="dense"`` assembles ``T`` on ``svec``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stability import GD, SGD, HeavyBall, Nesterov, Quadratic, critical_learning_rate
from stability.numeric import BatchSandwich, SymmetricLayout, radius_report, spectral_gap

FACTORS = (0.3, 0.9, 0.999, 1.05, 2.0)


def _problem(seed: int, samples: int, dimension: int, *, flat: bool, rank: int | None):
    rng = np.random.default_rng(seed)
    if rank is None:
        data = rng.standard_normal((samples, dimension))
        if flat:  # a near-flat direction: eigenvalues of T cluster just below one
            data[:, -1] *= 1e-4
        return Quadratic.from_data(data)
    factors = rng.standard_normal((samples, rank, dimension))
    if flat:
        factors[:, :, -1] *= 1e-4
    return Quadratic.from_hessians(np.einsum("nki,nkj->nij", factors, factors))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    samples=st.integers(6, 14),
    dimension=st.integers(5, 9),
    batch=st.integers(1, 4),
    flat=st.booleans(),
    rank=st.sampled_from([None, 1, 2, 3]),
    replacement=st.booleans(),
)
def test_gradient_step_routes_agree_with_dense(
    seed, samples, dimension, batch, flat, rank, replacement
):
    problem = _problem(seed, samples, dimension, flat=flat, rank=rank)
    method = SGD(batch, replacement=replacement)
    threshold = critical_learning_rate(problem, method)
    for factor in FACTORS:
        lr = factor * threshold
        fast = radius_report(problem, method, lr, solver="matrix-free")
        dense = radius_report(problem, method, lr, solver="dense")
        assert fast.value == pytest.approx(dense.value, rel=1e-9, abs=1e-12)
        assert (fast.value < 1.0) == (factor < 1.0)
        if fast.route == "structured":  # the gap keeps its relative accuracy
            assert fast.gap == pytest.approx(1.0 - dense.value, rel=1e-6, abs=1e-13)


@pytest.mark.parametrize("method", [HeavyBall(0.6, batch_size=2), Nesterov(0.5, batch_size=3)])
def test_momentum_routes_agree_with_dense(method):
    problem = _problem(3, 10, 5, flat=False, rank=None)
    threshold = critical_learning_rate(problem, method)
    for factor in FACTORS:
        lr = factor * threshold
        fast = radius_report(problem, method, lr, solver="matrix-free").value
        dense = radius_report(problem, method, lr, solver="dense").value
        assert fast == pytest.approx(dense, rel=1e-9)
        assert (fast < 1.0) == (factor < 1.0)


def test_full_batch_gap_is_exact_for_tiny_curvatures():
    problem = Quadratic(np.diag([3.0, 1e-13]))
    lr = 0.5
    x = lr * 1e-13
    assert spectral_gap(problem, GD(), lr) == pytest.approx(x * (2 - x), rel=1e-15)
    assert radius_report(problem, GD(), lr).route == "full-batch"


@pytest.mark.parametrize("width", [1, 2, 4])
def test_batch_sandwich_through_factors_of_any_rank(width):
    rng = np.random.default_rng(width)
    factors = rng.standard_normal((7, width, 5))
    hessians = np.einsum("nki,nkj->nij", factors, factors)
    eigenvalues = rng.random(5)
    sandwich = BatchSandwich(eigenvalues, factors, 0.4, shift=0.3)
    matrix = rng.standard_normal((5, 5))
    lam = np.diag(eigenvalues)
    # the mean part of E[(H_B + μ)X(H_B + μ)] reads H = diag(λ), the sample part the H_i:
    # (1 − p) ΛXΛ + p M(X) + μ(ΛX + XΛ) + μ²X with M(X) = mean H_i X H_i
    expected = (
        0.6 * lam @ matrix @ lam
        + 0.4 * np.mean([h @ matrix @ h for h in hessians], axis=0)
        + 0.3 * (lam @ matrix + matrix @ lam)
        + 0.09 * matrix
    )
    np.testing.assert_allclose(sandwich(matrix), expected, rtol=1e-12, atol=1e-12)
    layout = SymmetricLayout(5)
    dense = np.column_stack([layout.pack(sandwich(element)) for element in layout.basis()])
    np.testing.assert_allclose(sandwich.diagonal(layout), np.diag(dense), rtol=1e-12)


def test_radius_report_refuses_a_radius_past_the_float_range_by_name() -> None:
    # ρ = (1 − η λ)² overflows at η = 1e300: a named refusal, never a report carrying inf
    from stability.errors import OutOfRangeError

    with pytest.raises(OutOfRangeError, match="lr = 1e"):
        radius_report(Quadratic(np.diag([4.0, 1.0])), GD(), 1e300)
    assert radius_report(Quadratic(np.diag([4.0, 1.0])), GD(), 1e100).value > 1e200
