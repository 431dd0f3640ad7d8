"""Published thresholds and bounds for GD and SGD, as functions of a problem and a method.

Theory: ``docs/theory/threshold.md``. SGD with batch ``B`` is ``δ ← (I − η H_B) δ`` and its
second-moment operator on symmetric matrices is

    T(η) = I − 2η C + η² D,   C = ½ H ⊕ H,   D = (1 − p) H ⊗ H + p M,

with ``M = (1/n) Σ H_i ⊗ H_i`` and the mixing weight ``p`` of the batch law. ``T(η)`` is
self-adjoint for the Frobenius inner product, so

    η* = 2 min_Σ ⟨Σ, C Σ⟩ / ⟨Σ, D Σ⟩ = 2 / λ_max(C† D)          (Mulayoff & Michaeli 2023)

over symmetric ``Σ`` supported on ``range(H)``. Every fixed test matrix ``Σ`` therefore gives
a *necessary* condition (an upper bound on ``η*``): ``Σ = v vᵀ`` the rank-one test, ``Σ = I``
the identity test, and from the latter the trace and Frobenius bounds. The quantity
``E‖δ_{t+1}‖² = E δ_tᵀ E[(I − η H_B)²] δ_t`` gives the *sufficient* condition of Wu, Ma &
E (2018), a lower bound on ``η*``.

Every function here accepts a :class:`~stability.Quadratic` and a method whose state map is
a plain gradient step ``I − g η H_B`` (``GD()``, ``SGD(...)``, or a ``LinearDynamics`` of that
form) and returns a learning rate; the attribute ``side`` of each function says whether the
value is an ``"upper"`` bound on ``η*``, a ``"lower"`` bound, or ``"exact"``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.linalg

from stability._validation import (
    as_finite_array,
    check_learning_rate,
    check_positive_integer,
    check_symmetric,
    check_weight_decay,
)
from stability.bounds._common import bound, gradient_setting
from stability.dynamics import BatchLaw
from stability.errors import DimensionError, InvalidInputError, SizeLimitError
from stability.methods import GD
from stability.problems import ReducedQuadratic

__all__ = [
    "commuting_threshold",
    "equivalent_batch_size",
    "frobenius_bound",
    "frobenius_constant",
    "gradient_descent_edge",
    "identity_test_bound",
    "mixing_weight",
    "mulayoff_michaeli_threshold",
    "rank_one_test_bound",
    "rayleigh_quotient_bound",
    "trace_bound",
    "wu_ma_e_sufficient_condition",
    "wu_ma_e_sufficient_threshold",
    "wu_ma_e_threshold",
]

_MULAYOFF_CITATION = (
    "Mulayoff & Michaeli (2023), Exact mean square linear stability analysis for SGD, Thm 3; "
    "docs/theory/threshold.md"
)
_WU_MA_E_CITATION = (
    "Wu, Ma & E (2018), How SGD selects the global minima in over-parameterized learning; "
    "docs/theory/threshold.md"
)
# Relative tolerance for deciding that per-sample Hessians commute.
_COMMUTE_TOLERANCE = 1e-9
# Largest r² for the dense Kronecker route of mulayoff_michaeli_threshold.
_KRONECKER_LIMIT = 3000


def _per_sample(reduced: ReducedQuadratic) -> np.ndarray:
    return reduced.per_sample_hessians()


def _sample_frobenius_squares(reduced: ReducedQuadratic) -> np.ndarray:
    """``‖H_i‖_F²`` for every sample (reduced coordinates, same norms)."""
    if reduced.vectors is not None:
        return np.sum(reduced.vectors**2, axis=1) ** 2
    return np.sum(reduced.per_sample_hessians() ** 2, axis=(1, 2))


def _sample_ranks(reduced: ReducedQuadratic) -> np.ndarray:
    if reduced.vectors is not None:
        return (np.sum(reduced.vectors**2, axis=1) > 0).astype(int)
    hessians = reduced.per_sample_hessians()
    eigenvalues = np.linalg.eigvalsh(hessians)
    scale = max(float(reduced.eigenvalues[0]), np.finfo(float).tiny)
    cutoff = 64 * max(reduced.rank, 1) * np.finfo(float).eps * scale * max(len(hessians), 1)
    return np.sum(eigenvalues > cutoff, axis=1)


def _mean_square_batch_hessian(reduced: ReducedQuadratic, mixing: float) -> np.ndarray:
    """``E[H_B²] = (1 − p) H² + p (1/n) Σ H_i²`` on ``range(H)``."""
    result = (1.0 - mixing) * np.diag(reduced.eigenvalues**2)
    if mixing:
        if reduced.vectors is not None:
            y = reduced.vectors
            weights = np.sum(y**2, axis=1)
            result = result + mixing * (y.T * weights) @ y / y.shape[0]
        else:
            hessians = reduced.per_sample_hessians()
            result = result + mixing * np.einsum("nij,njk->ik", hessians, hessians) / len(hessians)
    return 0.5 * (result + result.T)


@bound(
    "upper",
    "Cohen et al. (2021); docs/theory/threshold.md and docs/theory/methods.md "
    "(GD is p = 0; SGD never beats GD)",
)
def gradient_descent_edge(problem: Any, method: Any = None, *, weight_decay: float = 0.0) -> float:
    """The edge of stability of gradient descent, ``η = 2 / (λ_max(H) + μ)``.

    Statement: full-batch GD ``δ ← (I − η (H + μ I)) δ`` on a quadratic is stable iff
    ``η < 2 / (λ_max(H) + μ)`` (weight decay ``μ`` shifts the sharpness edge ``2/η`` by
    ``−μ``). For SGD, ``T_SGD(Σ) ⪰ T_GD(Σ)`` on the PSD cone (``M − H ⊗ H`` is a
    covariance), so SGD is never stable where GD is not: the edge is an upper bound on
    every plain gradient method's ``η*`` and exact for GD.

    Assumptions: a quadratic minimum, ``H ⪰ 0``; a plain gradient step ``I − g η H_B``
    (the edge is divided by ``g``).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : GD, SGD or LinearDynamics, optional
        A plain gradient method (default ``GD()``).
    weight_decay : float, default 0
        ``μ ≥ 0``; the loss gets ``+ μ/2 ‖θ‖²``.

    Returns
    -------
    float
        ``2 / (g (λ_max(H) + μ))``, ``math.inf`` if ``λ_max(H) + μ = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.bounds import gradient_descent_edge
    >>> gradient_descent_edge(Quadratic(np.diag([4.0, 1.0])))
    0.5
    >>> gradient_descent_edge(Quadratic(np.diag([4.0, 1.0])), weight_decay=1.0)
    0.4
    """
    setting = gradient_setting(problem, GD() if method is None else method)
    decay = check_weight_decay(weight_decay)
    sharpness = setting.problem.sharpness + decay
    if sharpness <= 0:
        return math.inf
    return 2.0 / (setting.scale * sharpness)


def mixing_weight(samples: int, batch_size: int | None, *, replacement: bool = False) -> Fraction:
    """The weight ``p`` of ``M`` in ``E[H_B ⊗ H_B] = (1 − p) H ⊗ H + p M``.

    Statement (Mulayoff & Michaeli 2023; ``docs/theory/threshold.md``): ``p = 1/B`` with
    replacement, ``p = (n − B)/(B (n − 1))`` without (``0`` at ``B = n`` and for the full
    batch). ``p`` is non-increasing in ``B``, and ``η*`` is non-increasing in ``p`` because
    ``M − H ⊗ H = (1/n) Σ (H_i − H) ⊗ (H_i − H)`` is a covariance: so ``η*`` is
    non-decreasing in the batch size, and two batch laws with the same ``p`` have the same
    ``η*``.

    Parameters
    ----------
    samples : int
        ``n``.
    batch_size : int or None
        ``B`` (``None``: the full batch).
    replacement : bool, default False
        Sampling with replacement.

    Examples
    --------
    >>> from stability.bounds import mixing_weight
    >>> mixing_weight(6, 3), mixing_weight(6, 5, replacement=True), mixing_weight(6, 6)
    (Fraction(1, 5), Fraction(1, 5), Fraction(0, 1))
    """
    samples = check_positive_integer(samples, "samples")
    return BatchLaw(batch_size, replacement).mixing(samples)


def equivalent_batch_size(samples: int, batch_size: int, *, replacement: bool = False) -> Fraction:
    """The batch size under the other sampling scheme with the same ``p`` (hence the same ``η*``).

    Without replacement ``B`` ≡ with replacement ``B' = B (n − 1)/(n − B)`` (``B < n``);
    with replacement ``B'`` ≡ without replacement ``B = n B' / (n + B' − 1)``. The result
    may not be an integer; it is ``math.inf``-free except that ``B = n`` without
    replacement (``p = 0``) has no with-replacement equivalent, which raises.

    Parameters
    ----------
    samples : int
        Number of training samples n.
    batch_size : int
        Batch size B.
    replacement : bool, default False
        Whether batches are drawn with replacement.

    Examples
    --------
    >>> from stability.bounds import equivalent_batch_size
    >>> equivalent_batch_size(6, 3)
    Fraction(5, 1)
    >>> equivalent_batch_size(6, 5, replacement=True)
    Fraction(3, 1)
    """
    samples = check_positive_integer(samples, "samples")
    batch_size = check_positive_integer(batch_size, "batch_size")
    if replacement:
        return Fraction(samples * batch_size, samples + batch_size - 1)
    if batch_size >= samples:
        raise InvalidInputError(
            f"batch_size={batch_size} without replacement on n={samples} samples is the full "
            "batch (p = 0); no batch size with replacement has p = 0"
        )
    return Fraction(batch_size * (samples - 1), samples - batch_size)


@bound("exact", _MULAYOFF_CITATION)
def mulayoff_michaeli_threshold(problem: Any, method: Any) -> float:
    """The exact mean-square threshold ``η* = 2 / λ_max(C† D)`` (Mulayoff & Michaeli 2023, Thm 3).

    Statement: SGD ``δ ← (I − η H_B) δ`` is mean-square stable iff ``η < η*`` with
    ``C = ½ (H ⊗ I + I ⊗ H)``, ``D = (1 − p) H ⊗ H + (p/n) Σ H_i ⊗ H_i`` restricted to
    ``range(H) ⊗ range(H)``, where ``C`` is positive definite and ``C† D`` has real
    non-negative eigenvalues.

    This is a second, independent implementation: it forms ``C`` and ``D`` on the full
    ``r² × r²`` Kronecker space (``r = rank H``, in a basis of ``range(H)`` found here) and
    solves the symmetric-definite generalised eigenproblem ``D x = μ C x``; the package's
    :func:`stability.critical_learning_rate` works on the ``r (r + 1)/2`` symmetric
    coordinates instead.

    Assumptions: a plain gradient step; per-sample Hessians PSD. Dense, ``r ≤ 54``.

    Parameters
    ----------
    problem : Quadratic
        The minimum (with per-sample structure for SGD).
    method : GD, SGD or LinearDynamics
        A plain gradient method.

    Raises
    ------
    SizeLimitError
        If ``r²`` exceeds 3000.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import mulayoff_michaeli_threshold
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> round(mulayoff_michaeli_threshold(problem, SGD(1)), 10)  # 3 − √3
    1.2679491924
    """
    setting = gradient_setting(problem, method)
    hessian = setting.problem.hessian
    eigenvalues, vectors = np.linalg.eigh(hessian)
    top = max(float(eigenvalues[-1]), 0.0)
    if top == 0.0:
        return math.inf
    keep = eigenvalues > 64 * hessian.shape[0] * np.finfo(float).eps * top
    basis = vectors[:, keep]
    rank = basis.shape[1]
    if rank * rank > _KRONECKER_LIMIT:
        raise SizeLimitError(
            f"mulayoff_michaeli_threshold forms r² × r² matrices; r = rank H = {rank} is too "
            "large (use stability.critical_learning_rate)"
        )
    reduced_h = basis.T @ hessian @ basis
    identity = np.eye(rank)
    curvature = 0.5 * (np.kron(reduced_h, identity) + np.kron(identity, reduced_h))
    noise = (1.0 - setting.mixing) * np.kron(reduced_h, reduced_h)
    if setting.mixing:
        if setting.problem.data is not None:
            y = setting.problem.data @ basis
            lifted = np.einsum("ni,nj->nij", y, y).reshape(len(y), -1)
            noise = noise + setting.mixing * lifted.T @ lifted / len(y)
        else:
            stack = np.einsum("ia,nij,jb->nab", basis, setting.problem.per_sample_hessians(), basis)
            noise = noise + setting.mixing * np.einsum("nab,ncd->acbd", stack, stack).reshape(
                rank * rank, rank * rank
            ) / len(stack)
    noise = 0.5 * (noise + noise.T)
    curvature = 0.5 * (curvature + curvature.T)
    top_ratio = float(scipy.linalg.eigh(noise, curvature, eigvals_only=True)[-1])
    if top_ratio <= 0:
        return math.inf
    return 2.0 / (setting.scale * top_ratio)


def _one_dimensional_curvatures(reduced: ReducedQuadratic) -> np.ndarray:
    if reduced.rank != 1:
        raise InvalidInputError(
            f"problem must be one-dimensional (rank H = 1, every H_i a multiple of one v vᵀ); "
            f"its Hessian has rank {reduced.rank}"
        )
    if reduced.samples is None:
        return reduced.eigenvalues.copy()
    return reduced.per_sample_hessians()[:, 0, 0]


@bound("exact", _WU_MA_E_CITATION)
def wu_ma_e_threshold(problem: Any, method: Any) -> float:
    """Wu, Ma & E's one-dimensional threshold ``η* = 2a / (a² + p s²)``.

    Statement: for a one-dimensional problem with per-sample curvatures ``h_i ≥ 0``,
    ``a = mean h_i`` and ``s² = mean h_i² − a²``, SGD is mean-square stable iff
    ``E(1 − η h_B)² = 1 − 2ηa + η² (a² + p s²) < 1``, i.e. ``η < 2a / (a² + p s²)``.
    "One-dimensional" means ``rank H = 1`` (every ``H_i`` a multiple of the same ``v vᵀ``;
    other directions are neutral).

    Parameters
    ----------
    problem : Quadratic
        A problem of rank one.
    method : GD, SGD or LinearDynamics
        A plain gradient method.

    Raises
    ------
    InvalidInputError
        If ``rank H ≠ 1``.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import wu_ma_e_threshold
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])  # a = 2, s² = 1
    >>> wu_ma_e_threshold(problem, SGD(1, replacement=True))  # 4 / (4 + 1)
    0.8
    """
    setting = gradient_setting(problem, method)
    curvatures = _one_dimensional_curvatures(setting.reduced)
    mean = float(curvatures.mean())
    variance = float(np.mean(curvatures**2) - mean**2)
    variance = max(variance, 0.0)
    return 2.0 * mean / (setting.scale * (mean**2 + setting.mixing * variance))


def _simultaneous_eigenbasis(reduced: ReducedQuadratic) -> np.ndarray:
    """Per-sample curvatures ``h_ik`` in a common eigenbasis, or raise if they do not commute."""
    hessians = reduced.per_sample_hessians()
    scale = max(float(np.max(np.abs(hessians))), np.finfo(float).tiny)
    for first in range(len(hessians)):
        for second in range(first + 1, len(hessians)):
            a, b = hessians[first], hessians[second]
            commutator = float(np.max(np.abs(a @ b - b @ a)))
            if commutator > _COMMUTE_TOLERANCE * scale**2:
                raise InvalidInputError(
                    f"problem must have commuting per-sample Hessians; H_{first} and "
                    f"H_{second} have commutator of size {commutator:.3g} (scale {scale:.3g})"
                )
    weights = np.random.default_rng(0).uniform(1.0, 2.0, size=len(hessians))
    combination = np.tensordot(weights, hessians, axes=1)
    _, vectors = np.linalg.eigh(0.5 * (combination + combination.T))
    return np.einsum("ik,nij,jk->nk", vectors, hessians, vectors)


@bound("exact", _WU_MA_E_CITATION + "; Mulayoff & Michaeli (2023) for commuting H_i")
def commuting_threshold(problem: Any, method: Any) -> float:
    """The exact threshold for commuting samples, ``min_k 2 h̄_k / (h̄_k² + p Var_i h_ik)``.

    Statement: if the ``H_i`` share an eigenbasis with eigenvalues ``h_ik``, the
    second-moment operator is diagonal on ``e_k e_lᵀ`` and its top eigenvalue is reached on
    some ``e_k e_kᵀ``; the problem splits into one-dimensional problems
    (:func:`wu_ma_e_threshold`) and ``η*`` is the smallest of their thresholds.

    Parameters
    ----------
    problem : Any
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Raises
    ------
    InvalidInputError
        If some pair ``H_i, H_j`` does not commute (relative tolerance 1e-9).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import commuting_threshold
    >>> problem = Quadratic.from_hessians([np.diag([1.0, 2.0]), np.diag([3.0, 2.0])])
    >>> commuting_threshold(problem, SGD(1, replacement=True))  # min(0.8, 1.0)
    0.8
    """
    setting = gradient_setting(problem, method)
    reduced = setting.reduced
    if reduced.rank == 0:
        return math.inf
    if reduced.samples is None:
        return 2.0 / (setting.scale * float(reduced.eigenvalues[0]))
    curvatures = _simultaneous_eigenbasis(reduced)
    mean = curvatures.mean(axis=0)
    variance = np.maximum(np.mean(curvatures**2, axis=0) - mean**2, 0.0)
    positive = mean > 64 * np.finfo(float).eps * float(mean.max())
    thresholds = 2.0 * mean[positive] / (mean[positive] ** 2 + setting.mixing * variance[positive])
    return float(thresholds.min()) / setting.scale


def _unit_direction(direction: Any, dimension: int) -> np.ndarray:
    vector = as_finite_array(direction, "direction", 1)
    if vector.shape[0] != dimension:
        raise DimensionError(
            f"direction must have length d={dimension} (the problem's dimension); got "
            f"{vector.shape[0]}"
        )
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        raise InvalidInputError("direction must be non-zero")
    return vector / norm


@bound("upper", _MULAYOFF_CITATION + " (test matrix Σ = v vᵀ); " + _WU_MA_E_CITATION)
def rank_one_test_bound(problem: Any, method: Any, direction: Any = None) -> float:
    """Necessary condition from the test matrix ``Σ = v vᵀ``: ``η* ≤ 2 a_v / (a_v² + p s_v²)``.

    Statement: for every unit ``v``, with ``a_v = vᵀ H v`` and
    ``s_v² = mean_i (vᵀ H_i v)² − a_v²``, mean-square stability at ``η`` requires
    ``⟨v vᵀ, T(η) v vᵀ⟩ = (1 − η a_v)² + η² p s_v² ≤ 1`` (``T`` is self-adjoint, so its
    Rayleigh quotients lie below its spectral radius). With ``v`` the top eigenvector of
    ``H`` this contains Wu, Ma & E's conditions ``λ_max(H) ≤ 2/η`` and non-uniformity
    ``s_v ≤ 1/(η √p)``. Tight in one dimension and, with the right eigenvector, for
    commuting ``H_i``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : GD, SGD or LinearDynamics
        A plain gradient method.
    direction : array_like, shape (d,), optional
        ``v`` (normalised here). By default the bound is minimised over the eigenvectors
        of ``H`` with non-zero eigenvalue.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import rank_one_test_bound
    >>> problem = Quadratic.from_hessians([np.diag([1.0, 2.0]), np.diag([3.0, 2.0])])
    >>> rank_one_test_bound(problem, SGD(1, replacement=True))
    0.8
    >>> rank_one_test_bound(problem, SGD(1, replacement=True), direction=[0.0, 1.0])
    1.0
    """
    setting = gradient_setting(problem, method)
    reduced = setting.reduced
    if direction is None:
        if reduced.rank == 0:
            return math.inf
        directions = np.eye(reduced.rank)
    else:
        unit = _unit_direction(direction, setting.problem.dimension)
        directions = (reduced.basis.T @ unit)[None, :]
    # a_v and mean (vᵀ H_i v)² for every candidate direction, in reduced coordinates
    means = np.einsum("ki,i,ki->k", directions, reduced.eigenvalues, directions)
    if setting.mixing and reduced.samples is not None:
        if reduced.vectors is not None:
            projections = (reduced.vectors @ directions.T) ** 2
        else:
            projections = np.einsum(
                "ki,nij,kj->nk", directions, reduced.per_sample_hessians(), directions
            )
        spreads = np.maximum(np.mean(projections**2, axis=0) - means**2, 0.0)
    else:
        spreads = np.zeros_like(means)
    denominators = means**2 + setting.mixing * spreads
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(denominators > 0, 2.0 * means / denominators, math.inf)
    return float(values.min()) / setting.scale


def _rayleigh_bound(setting: Any, test: np.ndarray) -> float:
    """``2 ⟨Σ, C Σ⟩ / ⟨Σ, D Σ⟩`` for a reduced symmetric test matrix ``Σ``."""
    reduced = setting.reduced
    hessian = np.diag(reduced.eigenvalues)
    curvature = float(np.trace(hessian @ test @ test))
    noise = (1.0 - setting.mixing) * float(np.sum((test @ hessian) * (hessian @ test).T))
    if setting.mixing:
        sandwich = reduced.sample_sandwich(test)
        noise += setting.mixing * float(np.sum(sandwich * test))
    if noise <= 0:
        return math.inf
    return 2.0 * curvature / (setting.scale * noise)


@bound("upper", _MULAYOFF_CITATION + " (Rayleigh quotient of T)")
def rayleigh_quotient_bound(problem: Any, method: Any, test: Any) -> float:
    """Necessary condition from any symmetric test matrix: ``η* ≤ 2 ⟨Σ, CΣ⟩ / ⟨Σ, DΣ⟩``.

    Statement: ``T(η) − I = η (η D − 2 C)`` is self-adjoint, so stability at ``η``
    (``ρ(T) ≤ 1``) forces ``⟨Σ, (T(η) − I) Σ⟩ ≤ 0`` for every symmetric ``Σ``:
    ``η ⟨Σ, D Σ⟩ ≤ 2 ⟨Σ, C Σ⟩``, where ``⟨Σ, C Σ⟩ = tr(H Σ²)`` and
    ``⟨Σ, D Σ⟩ = (1 − p) tr(Σ H Σ H) + (p/n) Σ_i tr(Σ H_i Σ H_i)``. Equality for the top
    eigenvector of ``C† D`` (Mulayoff & Michaeli 2023).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : GD, SGD or LinearDynamics
        A plain gradient method.
    test : array_like, shape (d, d)
        A symmetric test matrix ``Σ`` (only its part on ``range(H)`` matters).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.bounds import rayleigh_quotient_bound
    >>> rayleigh_quotient_bound(Quadratic(np.diag([4.0, 1.0])), GD(), np.diag([1.0, 0.0]))
    0.5
    """
    setting = gradient_setting(problem, method)
    matrix = as_finite_array(test, "test", 2)
    dimension = setting.problem.dimension
    if matrix.shape != (dimension, dimension):
        raise DimensionError(
            f"test must have shape ({dimension}, {dimension}) like the Hessian; got {matrix.shape}"
        )
    matrix = check_symmetric(matrix, "test")
    basis = setting.reduced.basis
    return _rayleigh_bound(setting, basis.T @ matrix @ basis)


@bound("upper", _MULAYOFF_CITATION + " (test matrix Σ = I)")
def identity_test_bound(problem: Any, method: Any) -> float:
    """Necessary condition from ``Σ = I``: ``η* ≤ 2 tr H / ((1 − p) ‖H‖_F² + (p/n) Σ ‖H_i‖_F²)``.

    Statement: the denominator is ``E‖H_B‖_F²``, so ``η* ≤ 2 E tr H_B / E‖H_B‖_F²``
    (:func:`rayleigh_quotient_bound` with the identity). Tight in one dimension and for
    orthogonal rank-one samples of equal norm with ``B = 1`` drawn with replacement.

    Parameters
    ----------
    problem : Any
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import identity_test_bound
    >>> identity_test_bound(Quadratic.from_data(np.eye(3)), SGD(1, replacement=True))
    2.0
    """
    setting = gradient_setting(problem, method)
    reduced = setting.reduced
    if reduced.rank == 0:
        return math.inf
    trace = float(reduced.eigenvalues.sum())
    noise = (1.0 - setting.mixing) * float(np.sum(reduced.eigenvalues**2))
    if setting.mixing:
        noise += setting.mixing * float(_sample_frobenius_squares(reduced).mean())
    return 2.0 * trace / (setting.scale * noise)


def _largest_sample_rank(setting: Any) -> int:
    if setting.reduced.samples is None:
        return setting.reduced.rank
    return max(int(_sample_ranks(setting.reduced).max()), 1)


@bound(
    "upper",
    "Wu, Wang & Su (2022), The alignment property of SGD noise; Ma & Ying (2021); from the "
    "identity test of docs/theory/threshold.md",
)
def trace_bound(problem: Any, method: Any) -> float:
    """Trace bound: ``η* ≤ 2 r / (p tr H)`` with ``r = max_i rank H_i`` (``r = 1`` from data).

    Statement: Cauchy–Schwarz on the eigenvalues gives ``‖H_i‖_F² ≥ (tr H_i)² / rank H_i``
    and Jensen gives ``mean (tr H_i)² ≥ (tr H)²``; inserted in the identity test
    (:func:`identity_test_bound`) and dropping ``(1 − p) ‖H‖_F² ≥ 0``:
    ``η p (tr H)² / r ≤ 2 tr H``. Equivalently, SGD stable at ``η`` only at minima with
    ``tr H ≤ 2 r / (p η)`` — a flatness bound independent of the model size and of ``n``
    (for square loss, ``r = 1``). ``math.inf`` for GD (``p = 0``). Tight for orthogonal
    rank-one samples of equal norm, ``B = 1`` with replacement.

    Parameters
    ----------
    problem : Any
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import trace_bound
    >>> trace_bound(Quadratic.from_data(np.eye(3)), SGD(1, replacement=True))  # tr H = 1
    2.0
    """
    setting = gradient_setting(problem, method)
    trace = float(setting.reduced.eigenvalues.sum())
    if setting.mixing == 0 or trace == 0:
        return math.inf
    return 2.0 * _largest_sample_rank(setting) / (setting.scale * setting.mixing * trace)


def frobenius_constant(rank: int, mixing: float) -> float:
    """The constant ``K(r, p)`` of :func:`frobenius_bound`, ``η* ≤ K / (g ‖H‖_F)``.

    ``K = √(r / (p (1 − p)))`` when ``p ≤ r / (1 + r)`` and ``K = 2r / (p + r (1 − p))``
    above (derivation in :func:`frobenius_bound`); ``math.inf`` when ``p = 0``.

    Parameters
    ----------
    rank : int
        ``r = max_i rank H_i`` (``1`` for per-sample Hessians from data).
    mixing : float
        The weight ``p`` of the batch law (``1/B`` with replacement).

    Examples
    --------
    >>> from stability.bounds import frobenius_constant
    >>> round(frobenius_constant(1, 0.1), 12)  # √(1 / (0.1 · 0.9)) = 10/3
    3.333333333333
    >>> frobenius_constant(1, 1.0)  # B = 1 with replacement: 2r
    2.0
    """
    rank = check_positive_integer(rank, "rank")
    mixing = float(mixing)
    if not 0.0 <= mixing <= 1.0:
        raise InvalidInputError(f"mixing must lie in [0, 1]; got {mixing}")
    if mixing == 0.0:
        return math.inf
    if mixing <= rank / (1.0 + rank):
        return math.sqrt(rank / (mixing * (1.0 - mixing)))
    return 2.0 * rank / (mixing + rank * (1.0 - mixing))


@bound(
    "upper",
    "Wu, Wang & Su (2022), The alignment property of SGD noise and how it helps select flat "
    "minima: the scaling ‖H‖_F ≤ O(√B/η) at linearly stable minima (square loss, under their "
    "alignment property) is the paper's; the exact constant K(r, p), valid for every problem "
    "and batch law, is derived here from the identity test of docs/theory/threshold.md",
)
def frobenius_bound(problem: Any, method: Any) -> float:
    """Frobenius bound in the ``√B`` form: ``η* ≤ K(r, p) / (g ‖H‖_F)``, ``r = max_i rank H_i``.

    Statement: if SGD is mean-square stable at ``η`` then
    ``‖H‖_F ≤ √(r / (p (1 − p))) / η`` when ``p ≤ r/(1 + r)`` (so ``‖H‖_F ≲ √(r B) / η``,
    the ``√B/η`` scaling of Wu, Wang & Su 2022), and ``‖H‖_F ≤ 2r / ((p + r (1 − p)) η)``
    above (``2r/η`` at ``B = 1`` with replacement). The Frobenius norm of the Hessian of a
    stable minimum is bounded independently of the model size and of ``n``.

    Derivation (here): write ``t = tr H``, ``f = ‖H‖_F``, ``x = g η``. The identity test
    (:func:`identity_test_bound`) is ``x ((1 − p) f² + p m₂) ≤ 2t`` with
    ``m₂ = mean_i ‖H_i‖_F² ≥ mean_i (tr H_i)² / r ≥ t² / r`` (Cauchy–Schwarz on the ``r``
    eigenvalues of each ``H_i``, then Jensen). So ``x (1 − p) f² ≤ 2t − x p t² / r`` for
    some ``t ≥ f`` (``tr H ≥ ‖H‖_F`` for ``H ⪰ 0``). The right side is largest at
    ``t₀ = r / (x p)``, where it equals ``r / (x p)``: if ``f ≤ t₀`` this gives
    ``x f ≤ √(r / (p (1 − p)))``; if ``f > t₀`` the best ``t`` is ``f`` and
    ``x f ≤ 2r / (p + r (1 − p))``. The first case is the binding one exactly when
    ``p ≤ r/(1 + r)``. Since ``K ≤ 2r/p``, this is never weaker than the former form
    ``2r / (p ‖H‖_F)`` obtained from the trace bound with ``‖H‖_F ≤ tr H``, and equal to
    it at ``p = 1``; for ``B ≥ 2`` it is ``√B``-times tighter in order.

    Parameters
    ----------
    problem : Any
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import frobenius_bound
    >>> round(frobenius_bound(Quadratic.from_data(np.eye(4)), SGD(1, replacement=True)), 12)
    4.0
    >>> round(frobenius_bound(Quadratic.from_data(np.eye(4)), SGD(2, replacement=True)), 12)
    4.0
    """
    setting = gradient_setting(problem, method)
    norm = float(np.linalg.norm(setting.reduced.eigenvalues))
    if setting.mixing == 0 or norm == 0:
        return math.inf
    constant = frobenius_constant(_largest_sample_rank(setting), setting.mixing)
    return constant / (setting.scale * norm)


@bound("lower", _WU_MA_E_CITATION + " (sufficient condition)")
def wu_ma_e_sufficient_threshold(problem: Any, method: Any) -> float:
    """Largest ``η`` of Wu, Ma & E's sufficient condition: ``2 / λ_max(H^{-½} E[H_B²] H^{-½})``.

    Statement: ``E‖δ_{t+1}‖² = E δ_tᵀ Q(η) δ_t`` with
    ``Q(η) = E(I − η H_B)² = (I − η H)² + η² p (mean H_i² − H²)``, so
    ``λ_max(Q(η)) ≤ 1`` on ``range(H)`` makes ``E‖δ_t‖²`` non-increasing: a sufficient
    condition, ``η*`` is at least the largest such ``η``. Since
    ``vᵀ Q(η) v ≤ 1 ⇔ η ≤ 2 vᵀHv / vᵀ E[H_B²] v``, that ``η`` is the closed form above
    (a generalised eigenvalue). Tight in one dimension and for commuting ``H_i``.

    Parameters
    ----------
    problem : Any
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import wu_ma_e_sufficient_threshold
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> round(wu_ma_e_sufficient_threshold(problem, SGD(1)), 12)  # η* = 3 − √3 ≈ 1.268
    1.2
    """
    setting = gradient_setting(problem, method)
    reduced = setting.reduced
    if reduced.rank == 0:
        return math.inf
    square = _mean_square_batch_hessian(reduced, setting.mixing)
    inverse_root = 1.0 / np.sqrt(reduced.eigenvalues)
    scaled = square * np.outer(inverse_root, inverse_root)
    top = float(np.linalg.eigvalsh(0.5 * (scaled + scaled.T))[-1])
    return 2.0 / (setting.scale * top)


def wu_ma_e_sufficient_condition(problem: Any, method: Any, lr: float) -> bool:
    """Whether Wu, Ma & E's sufficient condition ``λ_max(E(I − η H_B)²) ≤ 1`` holds on ``range(H)``.

    Statement: ``E(I − η H_B)² = (I − ηH)² + η² p (mean H_i² − H²)``; when its largest
    eigenvalue on ``range(H)`` is at most one, ``E‖δ_t‖²`` never increases, so the method is
    stable (bounded second moment) at ``lr`` (Wu, Ma & E 2018). The converse fails: the
    condition is only sufficient.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : GD, SGD or LinearDynamics
        A plain gradient method.
    lr : float
        The learning rate ``η > 0``.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import wu_ma_e_sufficient_condition
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> wu_ma_e_sufficient_condition(problem, SGD(1), 1.0)
    True
    >>> wu_ma_e_sufficient_condition(problem, SGD(1), 1.25)  # stable, yet not certified
    False
    """
    setting = gradient_setting(problem, method)
    lr = check_learning_rate(lr) * setting.scale
    reduced = setting.reduced
    if reduced.rank == 0:
        return True
    step = np.eye(reduced.rank) - lr * np.diag(reduced.eigenvalues)
    square = _mean_square_batch_hessian(reduced, setting.mixing)
    full = step @ step + lr**2 * (square - np.diag(reduced.eigenvalues**2))
    return bool(np.linalg.eigvalsh(0.5 * (full + full.T))[-1] <= 1.0 + 1e-12)
