"""Dense second-moment operators read off a :class:`~stability.dynamics.LinearDynamics`.

Theory: ``shared/theory.md`` §2. For ``A = F(η) ⊗ I + G(η) ⊗ H_B`` the operator
``T(S) = E[A S Aᵀ]`` has the matrix ``E[A ⊗ A]`` in the row-major (equivalently, for
the symmetric second moments it acts on, column-major) ``vec`` basis; expanding
``A ⊗ A`` needs the fourth moment of the batch Hessian,

    E[(H_B)_ij (H_B)_kl] = (1 − p) H_ij H_kl + p (1/n) Σ_s (H_s)_ij (H_s)_kl,

with the mixing weight ``p`` of the batch law (§3). These dense forms cost
``(m d)^4`` memory and serve small problems and brute-force references; the
threshold routines work on the reduced problem restricted to symmetric matrices
(the ``svec`` basis, :func:`symmetric_basis`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stability.dynamics import LinearDynamics
from stability.errors import SizeLimitError
from stability.methods.base import as_dynamics
from stability.problems import Quadratic, ReducedQuadratic, as_problem
from stability.validation import check_learning_rate

__all__ = [
    "DENSE_ENTRY_LIMIT",
    "dense_operator",
    "hessian_moment_tensor",
    "operator_coefficients",
    "second_moment_operator",
    "symmetric_basis",
]

#: Largest number of entries a dense operator may have before it is refused.
DENSE_ENTRY_LIMIT = 60_000_000


def symmetric_basis(size: int) -> np.ndarray:
    """The orthonormal ``svec`` basis of symmetric ``size × size`` matrices.

    Returns ``Q`` of shape ``(size (size + 1) / 2, size²)``: row ``(a, b)``, ``a ≤ b``, is
    ``vec(E_aa)`` on the diagonal and ``vec(E_ab + E_ba)/√2`` off it, in the order of
    :func:`numpy.triu_indices`. For symmetric ``S``, ``Q vec(S)`` are its coordinates and
    ``Q T Qᵀ`` is the matrix of ``T`` restricted to symmetric matrices.

    Examples
    --------
    >>> from stability.numeric.operators import symmetric_basis
    >>> symmetric_basis(2).round(4)
    array([[1.    , 0.    , 0.    , 0.    ],
           [0.    , 0.7071, 0.7071, 0.    ],
           [0.    , 0.    , 0.    , 1.    ]])
    """
    rows, cols = np.triu_indices(size)
    basis = np.zeros((rows.size, size * size))
    index = np.arange(rows.size)
    diagonal = rows == cols
    basis[index[diagonal], rows[diagonal] * size + cols[diagonal]] = 1.0
    off = ~diagonal
    basis[index[off], rows[off] * size + cols[off]] = np.sqrt(0.5)
    basis[index[off], cols[off] * size + rows[off]] = np.sqrt(0.5)
    return basis


def hessian_moment_tensor(
    hessian: np.ndarray,
    mixing: float,
    *,
    vectors: np.ndarray | None = None,
    hessians: np.ndarray | None = None,
) -> np.ndarray:
    """``E[(H_B)_ij (H_B)_kl]`` as an array of shape ``(k, k, k, k)``.

    Parameters
    ----------
    hessian : ndarray, shape (k, k)
        The mean Hessian ``H``.
    mixing : float
        The weight ``p`` of the per-sample term.
    vectors, hessians : ndarray, optional
        Per-sample structure: rank-one rows ``x_s`` (``H_s = x_s x_sᵀ``) or full ``H_s``.
        Needed only when ``mixing > 0``.
    """
    moment = (1.0 - mixing) * np.einsum("ij,kl->ijkl", hessian, hessian)
    if mixing:
        if vectors is not None:
            per_sample = (
                np.einsum("si,sj,sk,sl->ijkl", vectors, vectors, vectors, vectors, optimize=True)
                / vectors.shape[0]
            )
        elif hessians is not None:
            per_sample = np.einsum("sij,skl->ijkl", hessians, hessians, optimize=True) / len(
                hessians
            )
        else:  # pragma: no cover - guarded by BatchLaw.validate
            raise ValueError("a stochastic batch law needs per-sample structure")
        moment = moment + mixing * per_sample
    return moment


def _check_size(entries: int, what: str) -> None:
    if entries > DENSE_ENTRY_LIMIT:
        raise SizeLimitError(
            f"the dense {what} would have {entries:,} entries (limit {DENSE_ENTRY_LIMIT:,}); "
            "use the threshold and spectral-radius functions, which work matrix-free on the "
            "reduced problem"
        )


def operator_coefficients(
    dynamics: LinearDynamics, hessian: np.ndarray, moment: np.ndarray
) -> np.ndarray:
    """The coefficients ``T_q`` of ``E[A ⊗ A] = Σ_q η^q T_q`` in the row-major ``vec`` basis.

    Returns an array of shape ``(2 · degree + 1, (m k)², (m k)²)`` for ``k × k`` Hessians.
    """
    size = hessian.shape[0]
    blocks = dynamics.blocks
    state = blocks * size
    _check_size(state**4 * (2 * dynamics.degree + 1), "second-moment operator")
    degree = dynamics.degree
    identity_terms = np.zeros((degree + 1, blocks, blocks))
    hessian_terms = np.zeros((degree + 1, blocks, blocks))
    identity_numeric = dynamics.identity_part.numeric_coefficients()
    hessian_numeric = dynamics.hessian_part.numeric_coefficients()
    identity_terms[: len(identity_numeric)] = identity_numeric
    hessian_terms[: len(hessian_numeric)] = hessian_numeric
    eye = np.eye(size)
    result = np.zeros((2 * degree + 1, state * state, state * state))
    for j in range(degree + 1):
        for k in range(degree + 1):
            f_j, g_j, f_k, g_k = (
                identity_terms[j],
                hessian_terms[j],
                identity_terms[k],
                hessian_terms[k],
            )
            # axes: a i c k ; b j d l  with row (a,i),(c,k) and column (b,j),(d,l)
            term = np.einsum("ab,ij,cd,kl->aickbjdl", f_j, eye, f_k, eye)
            term += np.einsum("ab,ij,cd,kl->aickbjdl", f_j, eye, g_k, hessian)
            term += np.einsum("ab,ij,cd,kl->aickbjdl", g_j, hessian, f_k, eye)
            term += np.einsum("ab,cd,ijkl->aickbjdl", g_j, g_k, moment)
            result[j + k] += term.reshape(state * state, state * state)
    return result


def reduced_moment_tensor(reduced: ReducedQuadratic, mixing: float) -> np.ndarray:
    """:func:`hessian_moment_tensor` for a reduced problem."""
    return hessian_moment_tensor(
        reduced.hessian,
        mixing,
        vectors=reduced.vectors,
        hessians=reduced.hessians,
    )


def dense_operator(problem: Quadratic, dynamics: LinearDynamics, lr: float) -> np.ndarray:
    """``E[A ⊗ A]`` at learning rate ``lr`` in the original coordinates (``(m d)² × (m d)²``)."""
    mixing = float(dynamics.batch.mixing(problem.samples))
    state = dynamics.blocks * problem.dimension
    _check_size(state**4, "second-moment operator")
    vectors = problem.data
    hessians = problem.per_sample_hessians() if mixing and vectors is None else None
    moment = hessian_moment_tensor(problem.hessian, mixing, vectors=vectors, hessians=hessians)
    coefficients = operator_coefficients(dynamics, problem.hessian, moment)
    powers = float(lr) ** np.arange(coefficients.shape[0])
    return np.tensordot(powers, coefficients, axes=1)


def second_moment_operator(problem: Quadratic, method: Any, lr: float) -> np.ndarray:
    """The second-moment operator ``T = E[A ⊗ A]`` of ``method`` at ``lr`` as a dense array.

    Basis: ``vec`` of the state's second moment ``S = E z zᵀ`` (``z`` stacks the ``m``
    state blocks of :attr:`LinearDynamics.state`, each of size ``d``), in the problem's
    original coordinates, so ``vec(T(S)) = T @ vec(S)`` with ``S`` flattened in either
    row- or column-major order (they agree on symmetric ``S``). The array has shape
    ``((m d)², (m d)²)`` and includes the neutral directions of ``null(H)`` (eigenvalue
    one); :func:`~stability.spectral_radius` removes them. Meant for small ``d``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.

    Raises
    ------
    SizeLimitError
        If the dense array would be too large.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic, second_moment_operator
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> second_moment_operator(problem, SGD(1, replacement=True), 0.5)  # E (1 − η h)²
    array([[0.25]])
    """
    problem = as_problem(problem)
    lr = check_learning_rate(lr)
    return dense_operator(problem, as_dynamics(method), lr)
