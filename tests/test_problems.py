"""Problems: per-sample structure, the reduction to range(H) and the Gram form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from stability import DimensionError, Quadratic
from stability.testing.strategies import data_matrices, per_sample_hessians


@settings(max_examples=40, deadline=None)
@given(data_matrices(max_samples=6, max_dimension=5))
def test_reduction_of_data_problems(data):
    problem = Quadratic.from_data(data)
    reduced = problem.reduced()
    assert reduced.rank == np.linalg.matrix_rank(data, tol=1e-10 * max(1, np.abs(data).max()))
    basis = reduced.basis
    np.testing.assert_allclose(basis.T @ basis, np.eye(reduced.rank), atol=1e-12)
    # H restricted to its range is diag(eigenvalues) in the basis
    np.testing.assert_allclose(basis.T @ problem.hessian @ basis, np.diag(reduced.eigenvalues),
                               atol=1e-12 * max(1, problem.sharpness))
    # reduced rows are the projections of the data
    np.testing.assert_allclose(reduced.vectors, data @ basis, atol=1e-12 * max(1, abs(data).max()))


@settings(max_examples=40, deadline=None)
@given(per_sample_hessians(max_samples=4, max_dimension=4))
def test_reduction_of_per_sample_hessians(hessians):
    problem = Quadratic.from_hessians(hessians)
    reduced = problem.reduced()
    basis = reduced.basis
    np.testing.assert_allclose(np.einsum("ia,nij,jb->nab", basis, hessians, basis),
                               reduced.hessians, atol=1e-10)
    # nothing of any H_i lives outside the range of H (the neutral directions are exact)
    projector = np.eye(problem.dimension) - basis @ basis.T
    assert np.abs(projector @ hessians @ projector).max() < 1e-9 * max(1, np.abs(hessians).max())


def test_sample_sandwich_matches_definition():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((6, 3))
    reduced = Quadratic.from_data(data).reduced()
    matrix = rng.standard_normal((3, 3))
    matrix = matrix + matrix.T
    hessians = reduced.per_sample_hessians()
    expected = np.mean([h @ matrix @ h for h in hessians], axis=0)
    np.testing.assert_allclose(reduced.sample_sandwich(matrix), expected, atol=1e-12)


def test_gram_problem_is_an_orthogonal_copy_of_the_data_problem():
    rng = np.random.default_rng(5)
    data = rng.standard_normal((4, 10))
    from_gram = Quadratic.from_gram(data @ data.T)
    from_data = Quadratic.from_data(data)
    assert from_gram.dimension == 4 and from_gram.samples == 4
    np.testing.assert_allclose(np.sort(from_gram.reduced().eigenvalues),
                               np.sort(from_data.reduced().eigenvalues), rtol=1e-12)
    # the reduced rows of both have the same Gram matrix
    y_gram, y_data = from_gram.reduced().vectors, from_data.reduced().vectors
    np.testing.assert_allclose(y_gram @ y_gram.T, y_data @ y_data.T, atol=1e-10)


def test_single_hessian_has_no_samples():
    problem = Quadratic(np.eye(2))
    assert problem.samples is None and problem.kind == "hessian"
    with pytest.raises(DimensionError, match="single hessian"):
        problem.per_sample_hessians()


def test_repr_and_kinds():
    assert repr(Quadratic.from_data(np.ones((3, 2)))) == (
        "Quadratic(kind='data', dimension=2, samples=3)"
    )
    assert Quadratic.from_hessians(np.ones((2, 1, 1))).kind == "hessians"


def _every_kind(rng: np.random.Generator) -> dict[str, Quadratic]:
    jacobians = rng.standard_normal((4, 2, 5))
    data = rng.standard_normal((5, 3))
    hessians = np.einsum("nki,nkj->nij", jacobians, jacobians)
    return {
        "data": Quadratic.from_data(data),
        "gram": Quadratic.from_gram(data @ data.T),
        "block gram": Quadratic.from_gram(np.einsum("nai,mbi->namb", jacobians, jacobians)),
        "hessians": Quadratic.from_hessians(hessians),
        "jacobians": Quadratic.from_jacobians(jacobians),
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_every_kind_has_per_sample_factors(seed):
    """Issue 11: every problem kind offers factors G_i with H_i = G_iᵀ G_i (rank-one k = 1)."""
    for name, problem in _every_kind(np.random.default_rng(seed)).items():
        factors = problem.factors
        assert factors.ndim == 3 and factors.shape[0] == problem.samples, name
        np.testing.assert_allclose(np.einsum("nki,nkj->nij", factors, factors),
                                   problem.per_sample_hessians(), atol=1e-12, err_msg=name)
        reduced = problem.reduced()
        np.testing.assert_allclose(
            np.einsum("nka,nkb->nab", reduced.factors, reduced.factors),
            reduced.per_sample_hessians(), atol=1e-12, err_msg=name,
        )
        if name in ("data", "gram"):
            assert factors.shape[1] == reduced.factors.shape[1] == 1
    assert Quadratic(np.eye(2)).factors is None


def test_hessians_are_factored_once():
    problem = _every_kind(np.random.default_rng(3))["hessians"]
    assert problem.factors is problem.factors
    assert problem.reduced().factors is problem.reduced().factors
