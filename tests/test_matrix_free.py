"""Matrix-free operators and thresholds (stability.numeric._matrix_free; docs/theory/operator.md and
docs/theory/threshold.md).

Every matrix-free quantity is compared with an independent computation: batch enumeration
of ``E[A S Aᵀ]`` with the method's own state map (tests/brute_force.py), the dense ``svec``
assembly of :mod:`stability.numeric`, a dense ``d² × d²`` Kronecker construction,
or mpmath at 50 digits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability.numeric._matrix_free as matrix_free
from stability import SGD, HeavyBall, LinearDynamics, Nesterov, Quadratic
from stability.dynamics import BatchLaw, MatrixPolynomial
from stability.numeric import (
    critical_learning_rate,
    reduced_operator,
    spectral_radius,
    threshold_report,
)
from stability.numeric._matrix_free import (
    ConvergenceError,
    GradientPencil,
    SampleSandwich,
    SecondMomentMap,
    SymmetricLayout,
    perron_radius,
    top_eigenpair,
)
from stability.testing.strategies import data_matrices, methods, per_sample_hessians
from tests import brute_force

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _random_symmetric(rng: np.random.Generator, size: int) -> np.ndarray:
    matrix = rng.standard_normal((size, size))
    return matrix + matrix.T


def _problem(draw, *, max_samples=6, max_dimension=5):
    if draw(st.booleans()):
        data = draw(data_matrices(max_samples=max_samples, max_dimension=max_dimension))
        return Quadratic.from_data(data)
    return Quadratic.from_hessians(
        draw(per_sample_hessians(max_samples=max_samples - 1, max_dimension=max_dimension - 1))
    )


@st.composite
def problems_and_methods(draw, *, momentum=True):
    problem = _problem(draw)
    return problem, draw(methods(problem.samples, momentum=momentum, max_momentum=0.9))


# ------------------------------------------------------------------------- layout
@PROPERTY
@given(st.integers(1, 7), st.integers(0, 2**32 - 1))
def test_layout_is_an_isometry_onto_symmetric_matrices(size, seed):
    rng = np.random.default_rng(seed)
    layout = SymmetricLayout(size)
    first, second = _random_symmetric(rng, size), _random_symmetric(rng, size)
    np.testing.assert_allclose(layout.unpack(layout.pack(first)), first, rtol=1e-15, atol=0)
    assert layout.pack(first) @ layout.pack(second) == pytest.approx(
        np.trace(first @ second), rel=1e-12, abs=1e-12
    )
    assert layout.dimension == size * (size + 1) // 2


# ----------------------------------------------------------------------- sandwich
@PROPERTY
@given(st.data(), st.integers(0, 2**32 - 1))
def test_sample_sandwich_matches_its_definition(data, seed):
    problem = _problem(data.draw)
    reduced = problem.reduced()
    if reduced.rank == 0:
        return
    rng = np.random.default_rng(seed)
    matrix = _random_symmetric(rng, reduced.rank)
    hessians = reduced.per_sample_hessians()
    expected = np.mean([h @ matrix @ h for h in hessians], axis=0)
    sandwich = SampleSandwich(reduced)
    layout = SymmetricLayout(reduced.rank)
    scale = max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(
        layout.unpack(sandwich(layout.pack(matrix))), expected, rtol=0, atol=1e-12 * scale
    )
    np.testing.assert_allclose(sandwich.full(matrix), expected, rtol=0, atol=1e-12 * scale)
    # off-diagonal blocks of momentum moments are not symmetric
    skewed = matrix + np.triu(rng.standard_normal(matrix.shape), 1)
    expected = np.mean([h @ skewed @ h for h in hessians], axis=0)
    np.testing.assert_allclose(
        sandwich.full(skewed), expected, rtol=0, atol=1e-12 * max(1.0, np.abs(expected).max())
    )


def test_single_precision_sandwich_is_close():
    rng = np.random.default_rng(0)
    reduced = Quadratic.from_data(rng.standard_normal((50, 20))).reduced()
    layout = SymmetricLayout(reduced.rank)
    vector = layout.pack(_random_symmetric(rng, reduced.rank))
    exact = SampleSandwich(reduced)(vector)
    rough = SampleSandwich(reduced, np.float32)(vector)
    assert rough.dtype == np.float32
    assert np.abs(rough - exact).max() <= 1e-5 * np.abs(exact).max()


# ------------------------------------------------------------- operators vs enumeration
def _enumerated_map(problem: Quadratic, dynamics: LinearDynamics, lr: float, moment):
    """E[A S Aᵀ] by enumerating batches, in the reduced coordinates of the problem."""
    reduced = problem.reduced()
    hessians = reduced.per_sample_hessians() if problem.samples else reduced.hessian[None]
    total = np.zeros_like(moment)
    for weights, probability in brute_force.batch_distribution(
        len(hessians), dynamics.batch.batch_size, dynamics.batch.replacement
    ):
        state_map = dynamics.state_map(lr, np.tensordot(weights, hessians, axes=1))
        total += probability * state_map @ moment @ state_map.T
    return total


@PROPERTY
@given(problems_and_methods(), st.floats(0.05, 2.0), st.integers(0, 2**32 - 1))
def test_second_moment_map_matches_batch_enumeration(case, lr, seed):
    problem, method = case
    dynamics = method.dynamics()
    reduced = problem.reduced()
    if reduced.rank == 0:
        return
    lr = lr / problem.sharpness
    mixing = float(dynamics.batch.mixing(problem.samples))
    operator = SecondMomentMap(reduced, dynamics, mixing)
    state = dynamics.blocks * reduced.rank
    moment = _random_symmetric(np.random.default_rng(seed), state)
    expected = _enumerated_map(problem, dynamics, lr, moment)
    actual = operator.layout.unpack(operator.apply(operator.layout.pack(moment), lr))
    # the entries of A are at most 1 + β + η λ_max ≤ 4: rounding is relative to that scale
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12 * 16 * np.abs(moment).max())


@PROPERTY
@given(problems_and_methods(), st.floats(0.05, 2.0))
def test_second_moment_map_matrix_equals_the_dense_reduced_operator(case, lr):
    problem, method = case
    reduced = problem.reduced()
    if reduced.rank == 0:
        return
    lr = lr / problem.sharpness
    dynamics = method.dynamics()
    mixing = float(dynamics.batch.mixing(problem.samples))
    matrix = SecondMomentMap(reduced, dynamics, mixing).matrix(lr)
    dense = reduced_operator(problem, dynamics).matrix(lr)
    np.testing.assert_allclose(matrix, dense, rtol=0, atol=1e-12 * max(1, np.abs(dense).max()))


def _kronecker_pencil(data: np.ndarray, mixing: float) -> float:
    """λ_max(C^{+1/2} D C^{+1/2}) from dense d² × d² Kronecker products (no reduction)."""
    n, d = data.shape
    hessian = data.T @ data / n
    lifted = np.einsum("ni,nj->nij", data, data).reshape(n, d * d)
    moment = (1 - mixing) * np.kron(hessian, hessian) + mixing * lifted.T @ lifted / n
    eye = np.eye(d)
    values, vectors = np.linalg.eigh(0.5 * (np.kron(hessian, eye) + np.kron(eye, hessian)))
    keep = values > 1e-10 * values.max()
    root = vectors[:, keep] / np.sqrt(values[keep])
    return float(np.linalg.eigvalsh(root.T @ moment @ root)[-1])


@pytest.mark.parametrize(
    ("samples", "dimension", "mixing"), [(12, 6, 1.0), (5, 8, 0.4), (9, 9, 0.0)]
)
def test_pencil_top_eigenvalue_matches_the_kronecker_construction(samples, dimension, mixing):
    data = np.random.default_rng(samples).standard_normal((samples, dimension))
    reduced = Quadratic.from_data(data).reduced()
    expected = _kronecker_pencil(data, mixing)
    pencil = GradientPencil(reduced, mixing)
    assert np.linalg.eigvalsh(pencil.matrix())[-1] == pytest.approx(expected, rel=1e-12)
    assert top_eigenpair(reduced, mixing).value == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------ top eigenpair
@pytest.mark.parametrize("precision", ["double", "mixed"])
@pytest.mark.parametrize(("samples", "dimension", "mixing"), [(40, 12, 1.0), (30, 30, 0.25)])
def test_top_eigenpair_is_verified_and_exact(samples, dimension, mixing, precision):
    rng = np.random.default_rng(7)
    reduced = Quadratic.from_data(rng.standard_normal((samples, dimension))).reduced()
    pencil = GradientPencil(reduced, mixing)
    dense = np.linalg.eigvalsh(pencil.matrix())
    result = top_eigenpair(reduced, mixing, precision=precision)
    assert result.value == pytest.approx(dense[-1], rel=1e-12)
    assert result.residual <= 1e-9
    assert result.method == ("mixed-lanczos" if precision == "mixed" else "lanczos")
    assert (result.single > 0) == (precision == "mixed")
    # the residual reported is the true one
    image = pencil(result.vector)
    assert np.linalg.norm(image - result.value * result.vector) / result.value == pytest.approx(
        result.residual, rel=1e-6, abs=1e-15
    )
    # Krein–Rutman: the top eigenvector is a PSD matrix (up to its sign)
    matrix = pencil.layout.unpack(result.vector)
    matrix *= np.sign(np.trace(matrix))
    eigenvalues = np.linalg.eigvalsh(matrix)
    assert eigenvalues[0] >= -1e-7 * eigenvalues[-1]


def test_top_eigenpair_of_general_per_sample_hessians():
    rng = np.random.default_rng(8)
    factors = rng.standard_normal((7, 6, 2))
    problem = Quadratic.from_hessians(factors @ np.swapaxes(factors, 1, 2))
    reduced = problem.reduced()
    for mixing in (1.0, 0.3):
        expected = np.linalg.eigvalsh(GradientPencil(reduced, mixing).matrix())[-1]
        assert top_eigenpair(reduced, mixing).value == pytest.approx(expected, rel=1e-12)


def test_unconverged_lanczos_raises_convergence_error(monkeypatch):
    """A Ritz vector that is not an eigenvector is caught by the residual check."""
    reduced = Quadratic.from_data(np.random.default_rng(9).standard_normal((20, 8))).reduced()

    def wrong(operator, k, **options):
        vector = np.ones((operator.shape[0], 1))
        return np.array([1.0]), vector

    def wrong_lanczos(operator, start, tolerance, **options):
        return 1.0, np.ones_like(start), 0.0

    monkeypatch.setattr(matrix_free, "eigsh", wrong)
    monkeypatch.setattr(matrix_free, "lanczos_top", wrong_lanczos)
    with pytest.raises(ConvergenceError, match="did not converge"):
        top_eigenpair(reduced, 1.0)


# -------------------------------------------------------------- thresholds, radii
@PROPERTY
@given(problems_and_methods())
def test_matrix_free_threshold_matches_the_dense_route(case):
    problem, method = case
    dense = critical_learning_rate(problem, method, solver="dense")
    free = critical_learning_rate(problem, method, solver="matrix-free")
    if math.isinf(dense):
        assert math.isinf(free)
    else:
        assert free == pytest.approx(dense, rel=1e-9)


@pytest.mark.parametrize(
    "method",
    [SGD(1), SGD(3, replacement=True), HeavyBall(0.8, batch_size=1), Nesterov(0.5, batch_size=2)],
)
def test_matrix_free_threshold_matches_brute_force_bisection(method):
    rng = np.random.default_rng(10)
    data = rng.standard_normal((5, 4))
    problem = Quadratic.from_data(data)
    reference = brute_force.threshold(np.asarray(problem.per_sample_hessians()), method.dynamics())
    report = threshold_report(problem, method, solver="matrix-free")
    assert report.route in ("matrix-free", "matrix-free-perron")
    assert report.value == pytest.approx(reference, rel=1e-9)


def test_matrix_free_momentum_on_a_larger_problem_matches_the_dense_pencil():
    """Size 300 (r = 12, two state blocks): dense QZ and the Perron route agree."""
    data = np.random.default_rng(11).standard_normal((40, 12))
    problem = Quadratic.from_data(data)
    for method in (HeavyBall(0.9, batch_size=1), Nesterov(0.6, batch_size=4, replacement=True)):
        dense = threshold_report(problem, method, solver="dense")
        free = threshold_report(problem, method, solver="matrix-free")
        assert free.size == 300
        assert free.value == pytest.approx(dense.value, rel=1e-10)
        # the Perron root crosses one there
        below = spectral_radius(problem, method, free.value * (1 - 1e-7), solver="matrix-free")
        above = spectral_radius(problem, method, free.value * (1 + 1e-7), solver="matrix-free")
        assert below < 1 < above


def test_non_homogeneous_dynamics_use_every_eigenvalue():
    """Weight decay μ: A = (1 − ημ) I − η H_B; the edge moves to 2/η − μ.

    Theory: docs/theory/methods.md.
    """
    decay = 0.3
    dynamics = LinearDynamics(
        name="decayed",
        identity_part=MatrixPolynomial.from_matrices([[[1.0]], [[-decay]]]),
        hessian_part=MatrixPolynomial.from_matrices([[[0.0]], [[-1.0]]]),
        batch=BatchLaw(2),
    )
    data = np.random.default_rng(12).standard_normal((6, 3))
    problem = Quadratic.from_data(data)
    reference = brute_force.threshold(np.asarray(problem.per_sample_hessians()), dynamics)
    for solver in ("auto", "dense", "matrix-free"):
        assert critical_learning_rate(problem, dynamics, solver=solver) == pytest.approx(
            reference, rel=1e-9
        )


@PROPERTY
@given(problems_and_methods(), st.floats(0.1, 2.0))
def test_matrix_free_spectral_radius_matches_brute_force(case, fraction):
    problem, method = case
    lr = fraction * critical_learning_rate(problem, method)
    reference = brute_force.spectral_radius(
        np.asarray(problem.per_sample_hessians()), method.dynamics(), lr
    )
    actual = spectral_radius(problem, method, lr, solver="matrix-free")
    assert actual == pytest.approx(reference, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("method", [SGD(2), HeavyBall(0.5, batch_size=3)])
def test_matrix_free_spectral_radius_above_the_assembly_size(method):
    """Sizes 45 and 78: Lanczos (gradient step) and Arnoldi (momentum) really run."""
    data = np.random.default_rng(13).standard_normal(
        (10, 9 if method.dynamics().blocks == 1 else 6)
    )
    problem = Quadratic.from_data(data)
    lr = 0.8 * critical_learning_rate(problem, method)
    dense = spectral_radius(problem, method, lr, solver="dense")
    assert spectral_radius(problem, method, lr, solver="matrix-free") == pytest.approx(
        dense, rel=1e-10
    )


@pytest.mark.parametrize("assemble", [True, False], ids=["assembled", "arnoldi"])
def test_perron_radius_is_the_largest_eigenvalue_in_modulus(assemble, monkeypatch):
    # 55 coordinates: assembled by default; Arnoldi when the assembly limit is lowered
    if not assemble:
        monkeypatch.setattr(matrix_free, "PERRON_ASSEMBLE_SIZE", 0)
    problem = Quadratic.from_data(np.random.default_rng(14).standard_normal((8, 5)))
    dynamics = HeavyBall(0.95, batch_size=2).dynamics()
    operator = SecondMomentMap(problem.reduced(), dynamics, float(dynamics.batch.mixing(8)))
    lr = 0.5 * critical_learning_rate(problem, dynamics)
    radius, vector = perron_radius(operator, lr)
    eigenvalues = np.linalg.eigvals(operator.matrix(lr))
    assert radius == pytest.approx(np.abs(eigenvalues).max(), rel=1e-10)
    moment = operator.layout.unpack(vector)
    moment *= np.sign(np.trace(moment))
    values = np.linalg.eigvalsh(moment)
    assert values[0] >= -1e-7 * values[-1]  # Krein–Rutman: a PSD Perron vector


def test_certify_confirms_with_mpmath():
    problem = Quadratic.from_data(np.random.default_rng(15).standard_normal((6, 3)))
    for method in (SGD(2), HeavyBall(0.5, batch_size=2)):
        report = threshold_report(problem, method, solver="matrix-free", certify=True)
        assert report.certified == pytest.approx(report.value, rel=1e-9)


# -------------------------------------------------------------------------- routes
def test_certification_error_when_mpmath_disagrees(monkeypatch):
    import stability.numeric._precision as precision
    from stability.numeric._thresholds import CertificationError

    problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    exact = 3 - math.sqrt(3)

    def shifted(problem, method, precision):
        return exact * (1 + 1e-6)

    monkeypatch.setattr(precision, "high_precision_critical_learning_rate", shifted)
    with pytest.raises(CertificationError, match="mpmath at 50 digits gives"):
        critical_learning_rate(problem, SGD(1), certify=True)


def test_certify_refuses_problems_too_large_for_mpmath():
    from stability import SizeLimitError

    problem = Quadratic.from_data(np.random.default_rng(16).standard_normal((30, 20)))
    with pytest.raises(SizeLimitError, match="certify=True recomputes the threshold"):
        critical_learning_rate(problem, SGD(2), certify=True)


def test_unknown_solver_is_refused():
    from stability import InvalidInputError

    problem = Quadratic(np.eye(2))
    with pytest.raises(InvalidInputError, match="solver must be one of 'auto'"):
        critical_learning_rate(problem, HeavyBall(0.5), solver="fast")
    with pytest.raises(InvalidInputError, match="solver must be one of"):
        spectral_radius(problem, HeavyBall(0.5), 0.1, solver="lanczos")


def test_auto_routes_by_structure_and_size():
    rng = np.random.default_rng(17)
    small = Quadratic.from_data(rng.standard_normal((6, 3)))
    large = Quadratic.from_data(rng.standard_normal((40, 20)))
    diagonal = Quadratic.from_hessians(np.einsum("nk,kl->nkl", rng.random((5, 4)), np.eye(4)))
    assert threshold_report(large, SGD(40)).route == "full-batch"  # p = 0 without replacement
    assert threshold_report(diagonal, SGD(1)).route == "commuting"
    assert threshold_report(small, SGD(1)).route == "dense"
    # minibatch momentum takes the rank-one noise pencil at every size (exact in 1 − β)
    assert threshold_report(small, HeavyBall(0.5, batch_size=1)).route == "matrix-free-rank-one"
    assert threshold_report(small, HeavyBall(0.5, batch_size=1), solver="dense").route == (
        "dense-polynomial"
    )
    report = threshold_report(large, SGD(1))
    assert report.route == "matrix-free" and report.size == 210
    assert report.value == pytest.approx(
        critical_learning_rate(large, SGD(1), solver="dense"), rel=1e-12
    )
    assert threshold_report(Quadratic.from_data(np.zeros((3, 2))), SGD(1)).route == "zero-hessian"
