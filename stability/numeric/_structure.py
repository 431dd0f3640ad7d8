"""Structure detection and closed-form thresholds.

Theory: ``docs/theory/threshold.md`` (commuting ``H_i``) and ``docs/theory/operator.md`` (the
second-moment operator).

**Commuting per-sample Hessians.** If every ``H_i`` is diagonal in one orthonormal basis,
``H_i = Σ_k h_ik e_k e_kᵀ``, then every method's second-moment operator leaves each
``span{e_k e_lᵀ}`` (tensored with the ``m × m`` state blocks) invariant: the batch
Hessian acts on the pair ``(k, l)`` through the scalars ``h_Bk, h_Bl`` only. The pair
``(k, k)`` is the one-dimensional problem with curvatures ``h_·k``; a pair ``(k, l)`` has
``ρ(E[A_k ⊗ A_l]) ≤ (ρ(E[A_k ⊗ A_k]) ρ(E[A_l ⊗ A_l]))^{1/2}`` (Cauchy–Schwarz on
``E‖P_k‖ ‖P_l‖`` for the ``t``-step products, then ``t → ∞``), so it never crosses one
first. Hence ``η* = min_k η*_1D(k)``, and a one-dimensional problem depends only on
``h̄_k = mean_i h_ik`` and ``E h_Bk² = h̄_k² + p Var_i h_ik``. For a gradient step
``A = 1 − g η h_B`` this is Wu, Ma & E's (2018) formula

    η* = min_k 2 h̄_k / (g (h̄_k² + p Var_i h_ik)),

and for any other method the smallest positive root of ``det(T_1D(η) − I)`` of size
``m (m + 1)/2`` (``docs/theory/operator.md``, rule 2).

**The coherence construction** (Dexter et al. 2024). ``n`` samples in ``d = n + 1 − σ``
dimensions: ``σ`` copies of ``(2n/σ) e₁e₁ᵀ`` and ``e_k e_kᵀ`` for ``k = 2, …, n − σ + 1``.
Then ``H = 2 e₁e₁ᵀ + (1/n) Σ_{k≥2} e_k e_kᵀ`` (sharpness 2), and the formula above gives

    direction 1:   h̄ = 2,    Var = 4n/σ − 4       ⇒ η*₁ = 1 / (1 + p (n/σ − 1)),
    direction k:   h̄ = 1/n,  Var = 1/n − 1/n²     ⇒ η*_k = 2n / (1 + p (n − 1)),

    η* = min(η*₁, η*_k)   (only η*₁ when σ = n).

With ``B = 1`` drawn with replacement (``p = 1``) this is ``σ/n``: the same sharpness can
be stable up to ``η = 1`` (full batch) or only up to ``σ/n``, depending on how coherent
the per-sample Hessians are.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from stability._system import bind_reduced
from stability._validation import as_finite_array, check_positive_integer
from stability.dynamics import BatchLaw, LinearDynamics
from stability.errors import InvalidInputError, SizeLimitError
from stability.numeric._operator import SecondMomentOperator
from stability.numeric._polynomial import smallest_positive_real_root
from stability.problems import Quadratic, ReducedQuadratic

__all__ = [
    "coherence_critical_learning_rate",
    "coherence_problem",
    "common_eigenbasis_curvatures",
    "commuting_critical_learning_rate",
    "commuting_threshold",
    "full_batch_critical_learning_rate",
    "one_dimensional_critical_learning_rate",
]

#: Off-diagonal entries below this (relative) count as zero when detecting commuting samples.
COMMUTING_TOLERANCE = 1e-11
#: Eigenvalues of ``H`` closer than this (relative to ``λ_max``) form one eigenspace.
DEGENERACY_TOLERANCE = 1e-10


def _degenerate_groups(eigenvalues: np.ndarray) -> list[np.ndarray]:
    """Index groups of (numerically) equal eigenvalues, each of size at least two."""
    if eigenvalues.size < 2:
        return []
    scale = float(np.max(np.abs(eigenvalues)))
    order = np.argsort(eigenvalues)
    breaks = np.flatnonzero(np.diff(eigenvalues[order]) > DEGENERACY_TOLERANCE * scale) + 1
    return [group for group in np.split(order, breaks) if group.size > 1]


def _generic_weights(samples: int) -> np.ndarray:
    """Fixed pseudo-random positive weights: a generic combination of the samples."""
    return np.random.default_rng(20240611).uniform(1.0, 2.0, size=samples)


def _eigenvectors(combination: np.ndarray) -> np.ndarray:
    return np.linalg.eigh(0.5 * (combination + combination.T))[1]


def common_eigenbasis_curvatures(reduced: ReducedQuadratic) -> np.ndarray | None:
    """The eigenvalues ``h_ik`` of the ``H_i`` in a common eigenbasis, or ``None``.

    The ``H_i`` commute with ``H`` exactly when they do with each other and are then
    block diagonal on the eigenspaces of ``H``; inside a repeated eigenvalue the basis
    is rotated to the eigenvectors of a generic combination of the blocks. The result
    is ``None`` unless every reduced ``H_i`` is then diagonal to a relative
    :data:`COMMUTING_TOLERANCE`.

    Parameters
    ----------
    reduced : ReducedQuadratic
        The problem restricted to ``range(H)`` (:meth:`Quadratic.reduced`).

    Returns
    -------
    ndarray, shape (n, r), or None
        ``h_ik``; a single-Hessian problem gives its eigenvalues as one row.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.numeric._structure import common_eigenbasis_curvatures
    >>> reduced = Quadratic.from_data([[2.0, 0.0], [0.0, 1.0], [0.0, 1.0]]).reduced()
    >>> common_eigenbasis_curvatures(reduced)
    array([[4., 0.],
           [0., 1.],
           [0., 1.]])
    >>> common_eigenbasis_curvatures(Quadratic.from_data([[1.0, 1.0], [1.0, 0.0]]).reduced())
    """
    eigenvalues = np.asarray(reduced.eigenvalues, dtype=float)
    if reduced.samples is None:
        return eigenvalues[None, :].copy()
    groups = _degenerate_groups(eigenvalues)
    if reduced.vectors is not None:
        vectors = np.array(reduced.vectors, dtype=float)
        for group in groups:
            part = vectors[:, group]
            weights = _generic_weights(len(part))
            vectors[:, group] = part @ _eigenvectors((part * weights[:, None]).T @ part)
        magnitude = np.abs(vectors)
        largest = magnitude.max(axis=1, initial=0.0)
        second = np.sort(magnitude, axis=1)[:, -2] if vectors.shape[1] > 1 else 0 * largest
        if np.any(second > COMMUTING_TOLERANCE * largest):
            return None
        return vectors**2
    try:
        hessians = np.array(reduced.per_sample_hessians(), dtype=float)
    except SizeLimitError:  # rank-k factors too large to expand: use the general route
        return None
    for group in groups:
        block = hessians[:, group[:, None], group[None, :]]
        rotation = _eigenvectors(np.tensordot(_generic_weights(len(block)), block, axes=1))
        hessians[:, :, group] = hessians[:, :, group] @ rotation
        hessians[:, group, :] = np.einsum("ji,njk->nik", rotation, hessians[:, group, :])
    diagonal = np.einsum("nii->ni", hessians)
    off = hessians - np.einsum("ni,ij->nij", diagonal, np.eye(hessians.shape[1]))
    scale = np.abs(hessians).max(axis=(1, 2), initial=0.0)
    if np.any(np.abs(off).max(axis=(1, 2), initial=0.0) > COMMUTING_TOLERANCE * scale):
        return None
    return diagonal


def commuting_critical_learning_rate(
    curvatures: np.ndarray, mixing: float, gradient_scale: float = 1.0
) -> float:
    """``min_k 2 h̄_k / (g (h̄_k² + p Var_i h_ik))``: SGD on commuting ``H_i`` (Wu, Ma & E 2018).

    Parameters
    ----------
    curvatures : array_like, shape (n, r)
        ``h_ik``, the eigenvalue of ``H_i`` along the common eigenvector ``e_k``.
    mixing : float
        The weight ``p`` of the batch law (``1/B`` with replacement).
    gradient_scale : float, default 1
        ``g`` in the state map ``I − g η H_B``.

    Returns
    -------
    float
        ``η*`` (``math.inf`` if every ``h̄_k`` is zero).

    Examples
    --------
    >>> from stability.numeric._structure import commuting_critical_learning_rate
    >>> commuting_critical_learning_rate([[1.0, 2.0], [3.0, 2.0]], mixing=1.0)  # min(0.8, 1)
    0.8
    """
    values = as_finite_array(curvatures, "curvatures", 2)
    mean = values.mean(axis=0)
    variance = np.maximum(np.mean((values - mean) ** 2, axis=0), 0.0)
    positive = mean > 0
    if not np.any(positive):
        return math.inf
    thresholds = 2.0 * mean[positive] / (mean[positive] ** 2 + float(mixing) * variance[positive])
    return float(thresholds.min()) / float(gradient_scale)


def one_dimensional_critical_learning_rate(
    dynamics: LinearDynamics, mean: float, second_moment: float
) -> float:
    """``η*`` of ``dynamics`` in one dimension with ``E h_B = mean``, ``E h_B² = second_moment``.

    The second-moment operator of a scalar curvature depends on the batch law only
    through these two moments; ``η*`` is the smallest positive root of
    ``det(T(η) − I)`` on the ``m (m + 1)/2`` symmetric state moments (exact, through the
    deflated companion pencil of :mod:`stability.numeric`).

    Parameters
    ----------
    dynamics : LinearDynamics
        The method's linear dynamics.
    mean : float
        Mean batch curvature ``E h_B``.
    second_moment : float
        Second moment of the batch curvature ``E h_B²``.

    Examples
    --------
    >>> from stability import SGD, HeavyBall
    >>> from stability.numeric._structure import one_dimensional_critical_learning_rate
    >>> round(one_dimensional_critical_learning_rate(SGD(1).dynamics(), 2.0, 5.0), 12)
    0.8
    >>> round(one_dimensional_critical_learning_rate(HeavyBall(0.5).dynamics(), 2.0, 4.0), 12)
    1.5
    """
    if mean <= 0:
        return math.inf
    scale = dynamics.gradient_step_scale()
    if scale is not None:
        return 2.0 * mean / (float(scale) * second_moment)
    # in ν = η·mean, so that the roots are of order one: a one-sample problem with h = 1
    # and E h_B² = b / mean² (mixing one, factor (b / mean²)^{1/4}), the one operator
    factor = (second_moment / mean**2) ** 0.25
    reduced = ReducedQuadratic(
        basis=np.eye(1), eigenvalues=np.ones(1), samples=1, vectors=np.array([[factor]])
    )
    operator = SecondMomentOperator(bind_reduced(reduced, dynamics.rescaled(mean), 1))
    coefficients = operator.coefficients()
    coefficients[0] -= np.eye(coefficients.shape[1])
    return smallest_positive_real_root(coefficients) / mean


def full_batch_critical_learning_rate(dynamics: LinearDynamics, eigenvalues: np.ndarray) -> float:
    """``η*`` of ``dynamics`` with ``H_B = H`` (full batch): ``min_k η*_1D(λ_k, λ_k²)``.

    When ``F`` is constant and ``G(η) = η G₁`` the one-dimensional threshold is
    ``c / λ``, so only ``λ_max`` is needed; otherwise every distinct eigenvalue is tried.

    Parameters
    ----------
    dynamics : LinearDynamics
        The method's linear dynamics.
    eigenvalues : np.ndarray
        Eigenvalues of the Hessian.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Nesterov
    >>> from stability.numeric._structure import full_batch_critical_learning_rate
    >>> eta = full_batch_critical_learning_rate(Nesterov(0.5).dynamics(), np.array([2.0, 1.0]))
    >>> round(eta, 12)  # 2 (1 + β) / (λ (1 + 2β))
    0.75
    """
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    eigenvalues = eigenvalues[eigenvalues > 0]
    if eigenvalues.size == 0:
        return math.inf
    closed = _heavy_ball_full_batch(dynamics, float(eigenvalues.max()))
    if closed is not None:
        return closed
    full = _full_batch(dynamics)
    if _homogeneous(dynamics):
        top = float(eigenvalues.max())
        return one_dimensional_critical_learning_rate(full, top, top * top)
    distinct = np.unique(eigenvalues)
    return min(one_dimensional_critical_learning_rate(full, lam, lam * lam) for lam in distinct)


def _heavy_ball_full_batch(dynamics: LinearDynamics, top: float) -> float | None:
    """``2 (1 + β) / (c λ_max)`` for heavy ball, from the exact coefficients, or ``None``.

    ``F = [[1 + β, −β], [1, 0]]`` and ``G = −c η e₁e₁ᵀ`` (recognised by
    :func:`stability.numeric._rank_one_noise.heavy_ball_shape`): the full-batch map
    ``F + λ G`` has spectral radius below one exactly when ``0 < c η λ < 2 (1 + β)``.
    ``1 + β = F₀₀`` and ``c`` are read from the exact coefficients (``Fraction``,
    ``int``) and the quotient is rounded once, so ``β`` within ``2⁻⁵³`` of one (where
    ``det(T(η) − I)`` has a root cluster at zero of width ``1 − β``) is answered exactly.
    """
    from stability.numeric._rank_one_noise import heavy_ball_shape

    identity = dynamics.identity_part.numeric_coefficients()
    hessian = dynamics.hessian_part.numeric_coefficients()
    if heavy_ball_shape(identity, hessian) is None:
        return None
    try:
        one_plus_beta = Fraction(dynamics.identity_part.coefficients[0][0][0])
        scale = -Fraction(dynamics.hessian_part.coefficients[1][0][0])
    except (TypeError, ValueError):  # pragma: no cover - numeric coefficients are rational
        return None
    quotient = 2 * one_plus_beta / scale
    try:
        return float(quotient / Fraction(top))
    except OverflowError:  # λ_max below the float range: the float quotient (inf)
        return float(quotient) / top


def _full_batch(dynamics: LinearDynamics) -> LinearDynamics:
    return LinearDynamics(
        name=dynamics.name,
        identity_part=dynamics.identity_part,
        hessian_part=dynamics.hessian_part,
        batch=BatchLaw(None),
        state=dynamics.state,
    )


def _homogeneous(dynamics: LinearDynamics) -> bool:
    """Whether ``η`` enters the state map only through ``η H_B``."""
    if dynamics.identity_part.degree != 0:
        return False
    coefficients = dynamics.hessian_part.numeric_coefficients()
    return len(coefficients) == 2 and not np.any(coefficients[0])


def commuting_threshold(dynamics: LinearDynamics, curvatures: np.ndarray, mixing: float) -> float:
    """``η* = min_k η*_1D(k)`` for any method on commuting ``H_i`` (module notes).

    Parameters
    ----------
    dynamics : LinearDynamics
        The method's linear dynamics.
    curvatures : np.ndarray
        Per-sample curvatures in the common eigenbasis, shape (n, d).
    mixing : float
        Mixing weight p of the batch law.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD
    >>> from stability.numeric._structure import commuting_threshold
    >>> curvatures = np.array([[1.0, 2.0], [3.0, 2.0]])
    >>> commuting_threshold(SGD(1, replacement=True).dynamics(), curvatures, 1.0)
    0.8
    """
    curvatures = np.asarray(curvatures, dtype=float)
    mean = curvatures.mean(axis=0)
    second = mean**2 + float(mixing) * np.maximum(np.mean((curvatures - mean) ** 2, axis=0), 0.0)
    scale = dynamics.gradient_step_scale()
    if scale is not None:
        return commuting_critical_learning_rate(curvatures, mixing, float(scale))
    pairs = {(float(a), float(b)) for a, b in zip(mean, second, strict=True) if a > 0}
    if not pairs:
        return math.inf
    return min(one_dimensional_critical_learning_rate(dynamics, a, b) for a, b in pairs)


# ------------------------------------------------------------------ coherence example
def _check_coherence(samples: int, copies: int) -> tuple[int, int]:
    samples = check_positive_integer(samples, "samples")
    copies = check_positive_integer(copies, "copies")
    if copies > samples:
        raise InvalidInputError(f"copies must be at most samples={samples} (σ ≤ n); got {copies}")
    return samples, copies


def coherence_problem(samples: int = 100, copies: int = 10) -> Quadratic:
    """The coherence construction of Dexter et al. (2024) as a data problem.

    ``copies = σ`` rows ``√(2n/σ) e₁`` and the rows ``e_k``, ``k = 2, …, n − σ + 1``, in
    ``d = n + 1 − σ`` dimensions (so ``H_i = x_i x_iᵀ`` as in the module notes).

    Parameters
    ----------
    samples : int, default 100
        ``n``.
    copies : int, default 10
        ``σ``, the number of copies of the sharp sample (``1 ≤ σ ≤ n``).

    Examples
    --------
    >>> from stability.numeric._structure import coherence_problem
    >>> problem = coherence_problem(100, 10)
    >>> problem.samples, problem.dimension, problem.sharpness
    (100, 91, 2.0)
    """
    samples, copies = _check_coherence(samples, copies)
    dimension = samples + 1 - copies
    data = np.zeros((samples, dimension))
    data[:copies, 0] = math.sqrt(2.0 * samples / copies)
    data[copies:, 1:] = np.eye(samples - copies)
    return Quadratic.from_data(data)


def coherence_critical_learning_rate(
    samples: int, copies: int, batch_size: int | None, replacement: bool = False
) -> float:
    """Closed-form SGD threshold of :func:`coherence_problem` (derivation in the module notes).

    ``η* = min(1 / (1 + p (n/σ − 1)), 2n / (1 + p (n − 1)))`` with ``p`` the mixing
    weight of the batch law (the second term only when ``σ < n``).

    Parameters
    ----------
    samples : int
        Number of samples n of the construction.
    copies : int
        Number σ of copies of the sharp sample (1 ≤ σ ≤ n).
    batch_size : int | None
        Batch size B; None is the full batch.
    replacement : bool, default False
        Whether batches are drawn with replacement.

    Examples
    --------
    >>> from stability.numeric._structure import coherence_critical_learning_rate
    >>> coherence_critical_learning_rate(100, 10, 1, replacement=True)  # σ / n
    0.1
    >>> coherence_critical_learning_rate(100, 10, None)  # GD: 2 / sharpness
    1.0
    """
    samples, copies = _check_coherence(samples, copies)
    mixing = float(BatchLaw(batch_size, replacement).mixing(samples))
    sharp = 1.0 / (1.0 + mixing * (samples / copies - 1.0))
    if copies == samples:
        return sharp
    return min(sharp, 2.0 * samples / (1.0 + mixing * (samples - 1.0)))
