"""Exact minibatch thresholds of methods whose noise enters through a rank-one ``G(η)``.

Theory: ``docs/theory/momentum-threshold.md``. For a state map
``A = F(η) ⊗ I + G(η) ⊗ H_B`` with ``G(η) = g hᵀ`` of rank one (heavy ball, Nesterov
and every two-step method whose gradient enters one state block), the condition
``1 ∈ spec T(η)`` on the ``m r × m r`` second moment reduces exactly to
``1 ∈ spec(W(η) ∘ M)`` on symmetric ``r × r`` matrices, where ``M X = (1/n) Σ H_s X H_s``
(the per-sample sandwich, a positive semi-definite operator) and ``W(η)`` is an
elementwise (Schur) multiplier in the eigenbasis of ``H``:

    w_ij = p r_ij / (1 + p λ_i λ_j r_ij),
    r_ij = tr[(I − F_i ⊗ F_j)^{-1} (G ⊗ G)],   F_i = F + λ_i G.

When every ``w_ij > 0`` the operator ``√W ∘ M(√W ∘ ·)`` is symmetric positive
semi-definite, so its top eigenvalue ``μ(η)`` is found by Lanczos at the cost of one
application of ``M`` per step (the cost of SGD's threshold), and ``η*`` is the first root
of ``μ(η) = 1`` below the full-batch threshold.

Heavy ball (``F = [[1 + β, −β], [1, 0]]``, ``G = −c η e₁e₁ᵀ``) has the closed form
``1 / (p r_ij) = (c₂ + c₁ / (c η)) / (p (1 − β²))`` with positive ``c₁``, which turns the
root into one symmetric eigenvalue problem, ``1 / (c η*) = λ_max(Γ ∘ (p M + δ ∘) Γ ∘)``
(:func:`heavy_ball_threshold`), computed from ``β`` and ``1 − β`` without cancellation.
Other rank-one dynamics take a safeguarded Newton iteration on ``1/μ`` as a function of
``1/η`` with the derivative ``μ' = μ Σ (w'_ij / w_ij) v_ij²`` from the unit eigenvector
``v`` (:func:`rank_one_threshold`), each Lanczos run warm-started from the previous
vector.

Callers ask :func:`not_applicable_reason` first (or catch an
:class:`~stability.errors.InvalidInputError` whose message starts with
:data:`NOT_APPLICABLE`) and fall back to the general routes; a message starting with
``"momentum too close to one"`` is a refusal, not a fallback. Passing the exact
coefficients (``dynamics.identity_part.coefficients``) rather than their floats gives heavy
ball ``1 − β`` to full relative accuracy, which ``η*`` is proportional to as ``β → 1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.linalg

from stability.errors import ConvergenceError, InvalidInputError
from stability.numeric._operator import SymmetricLayout

__all__ = [
    "NOT_APPLICABLE",
    "RankOneThreshold",
    "heavy_ball_shape",
    "heavy_ball_threshold",
    "not_applicable_reason",
    "pair_weights",
    "rank_one_threshold",
]

#: Prefix of the message of the :class:`~stability.errors.InvalidInputError` raised when
#: the structure does not apply (callers fall back to another route).
NOT_APPLICABLE = "the rank-one noise route does not apply"
#: Relative Lanczos residual at which an eigenpair is accepted.
RESIDUAL_TARGET = 1e-12
#: Relative residual above which the result is refused (ConvergenceError).
ACCEPT_RESIDUAL = 1e-8
#: The heavy-ball pencil's eigenpair is used directly below this residual, else refined.
PENCIL_RESIDUAL = 1e-11
#: Lanczos residual of the Newton steps far from the root (``|μ − 1| > ROUGH_DISTANCE``).
ROUGH_RESIDUAL = 1e-7
ROUGH_DISTANCE = 1e-3
#: ``|μ − 1|`` (with a tight eigenpair) at which the Newton iteration stops.
ROOT_DISTANCE = 1e-14
#: Relative step of the Newton iteration at which it stops.
STEP_TOLERANCE = 1e-14
#: Relative width of a bracket ``μ(unstable) ≥ 1 > μ(stable)`` at which it stops.
BRACKET_TOLERANCE = 1e-13
#: The general route refuses when ``1 − β`` (``β`` the second eigenvalue of ``F(0)``) is below this.
MINIMUM_GAP = 1e-4
#: Heavy-ball shape: ``F₀₀`` may differ from ``1 + β`` by this many units in the last place.
ROUNDING_ULPS = 4

SampleMoment = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class RankOneThreshold:
    """The threshold of a rank-one noise method and the numbers that certify it.

    Attributes
    ----------
    threshold : float
        ``η*``.
    residual : float
        Relative residual ``‖S v − θ v‖ / |θ|`` of the verified unit eigenpair ``(θ, v)`` of
        the symmetric operator ``S`` whose top eigenvalue fixes ``η*``; ``η*`` is accurate
        to about this relative amount (to its square over the relative gap in practice).
        ``0.0`` when ``η*`` is the full-batch threshold with no sampling noise.
    applications : int
        Applications of ``sample_moment`` (one per operator application).
    route : str
        ``"heavy-ball pencil"``, ``"rank-one newton"`` or ``"noise-free"``.
    iterations : int
        Eigenvalue problems solved (one for the heavy-ball pencil).
    vector : ndarray, shape (r, r)
        The eigenvector (symmetric), for warm starts.
    """

    threshold: float
    residual: float
    applications: int
    route: str
    iterations: int
    vector: np.ndarray


# ------------------------------------------------------------------------ structure
def _evaluate(coefficients: np.ndarray, lr: float) -> np.ndarray:
    return np.tensordot(float(lr) ** np.arange(len(coefficients)), coefficients, axes=1)


def _derivative(coefficients: np.ndarray, lr: float) -> np.ndarray:
    if len(coefficients) == 1:
        return np.zeros_like(coefficients[0])
    powers = np.arange(1, len(coefficients))
    return np.tensordot(powers * float(lr) ** (powers - 1), coefficients[1:], axes=1)


def not_applicable_reason(
    identity_coefficients: np.ndarray, hessian_coefficients: np.ndarray
) -> str | None:
    """Why the rank-one route cannot take these dynamics, or ``None`` if it can.

    The route needs ``G(η) = Σ_k η^k G_k`` of rank at most one for every ``η`` through a
    common column or a common row (``G(η) = g h(η)ᵀ`` or ``g(η) hᵀ``) and ``F`` and ``G``
    of matching square shape.

    Parameters
    ----------
    identity_coefficients : np.ndarray
        Polynomial coefficients (in η) of the identity part of the update, lowest degree first.
    hessian_coefficients : np.ndarray
        Polynomial coefficients (in η) of the Hessian part of the update, lowest degree first.

    Examples
    --------
    >>> from stability import HeavyBall, SGD
    >>> from stability.numeric._rank_one_noise import not_applicable_reason
    >>> dynamics = HeavyBall(0.9).dynamics()
    >>> identity = dynamics.identity_part.numeric_coefficients()
    >>> hessian = dynamics.hessian_part.numeric_coefficients()
    >>> not_applicable_reason(identity, hessian) is None
    True
    >>> import numpy as np
    >>> not_applicable_reason(identity, np.array([np.zeros((2, 2)), -np.eye(2)]))
    'G(η) has rank 2 (the noise enters more than one state block independently)'
    """
    identity = np.asarray(identity_coefficients, dtype=float)
    hessian = np.asarray(hessian_coefficients, dtype=float)
    if identity.ndim != 3 or hessian.ndim != 3 or identity.shape[1:] != hessian.shape[1:]:
        return "F(η) and G(η) must be given as (degree + 1, m, m) arrays of the same m"
    if identity.shape[1] != identity.shape[2]:
        return "F(η) and G(η) must be square"
    if not (np.all(np.isfinite(identity)) and np.all(np.isfinite(hessian))):
        return "F(η) and G(η) must have finite coefficients"
    columns = np.concatenate(list(hessian), axis=1)
    rows = np.concatenate(list(hessian), axis=0)
    scale = max(float(np.abs(hessian).max()), np.finfo(float).tiny)
    tolerance = 1e-13 * scale * hessian.shape[1]

    def rank(matrix: np.ndarray) -> int:
        return int(np.sum(np.linalg.svd(matrix, compute_uv=False) > tolerance))

    if rank(columns) == 0:
        return "G(η) vanishes: the batch does not enter the dynamics"
    if min(rank(columns), rank(rows)) > 1:
        largest = max(rank(hessian_matrix) for hessian_matrix in hessian)
        return (
            f"G(η) has rank {max(2, largest)} (the noise enters more than one state block "
            "independently)"
        )
    return None


def heavy_ball_shape(
    identity_coefficients: np.ndarray, hessian_coefficients: np.ndarray
) -> tuple[float, float] | None:
    """``(β, c)`` if ``F = [[1 + β, −β], [1, 0]]`` and ``G(η) = −c η e₁e₁ᵀ``, else ``None``.

    ``β`` is read from ``F₀₁ = −β`` (exact), and ``F₀₀`` is accepted within a few units
    in the last place of ``1 + β``: ``1 + β`` is not representable for ``β`` within
    ``2⁻⁵³`` of one, and the closed form never forms it.

    Parameters
    ----------
    identity_coefficients : np.ndarray
        Polynomial coefficients (in η) of the identity part of the update, lowest degree first.
    hessian_coefficients : np.ndarray
        Polynomial coefficients (in η) of the Hessian part of the update, lowest degree first.

    Examples
    --------
    >>> from stability import HeavyBall, Nesterov
    >>> from stability.numeric._rank_one_noise import heavy_ball_shape
    >>> def shape(method):
    ...     dynamics = method.dynamics()
    ...     return heavy_ball_shape(dynamics.identity_part.numeric_coefficients(),
    ...                             dynamics.hessian_part.numeric_coefficients())
    >>> shape(HeavyBall(0.5)), shape(Nesterov(0.5))
    ((0.5, 1.0), None)
    """
    identity = np.asarray(identity_coefficients, dtype=float)
    hessian = np.asarray(hessian_coefficients, dtype=float)
    if identity.shape != (1, 2, 2) or hessian.shape != (2, 2, 2) or np.any(hessian[0]):
        return None
    beta = -float(identity[0, 0, 1])
    if not 0.0 <= beta < 1.0:
        return None
    expected = 1.0 + beta
    if abs(identity[0, 0, 0] - expected) > ROUNDING_ULPS * np.spacing(expected):
        return None
    if identity[0, 1, 0] != 1.0 or identity[0, 1, 1] != 0.0:
        return None
    scale = -float(hessian[1, 0, 0])
    if not scale > 0 or np.any(hessian[1].ravel()[1:]):
        return None
    return beta, scale


def _exact_gap(identity_coefficients: Any) -> float:
    """``1 − β = 1 + F₀₁`` from the coefficients as given, exactly, then rounded once.

    With exact coefficients (``Fraction``, ``int``: ``LinearDynamics.identity_part.coefficients``)
    this is ``1 − β`` of the method's own ``β`` to full relative accuracy; with floats it is
    ``1 − β`` of the float ``β``, which differs from the method's by up to half a unit in
    the last place of ``β`` (a relative error up to ``5.6e-17 / (1 − β)``).
    """
    entry = identity_coefficients[0][0][1]
    try:
        return float(1 + Fraction(entry))
    except (TypeError, ValueError):  # pragma: no cover - non-numeric entries are refused earlier
        return 1.0 + float(entry)


# ----------------------------------------------------------------------- symmetric layout
# The svec coordinates are the package's one layout,
# :class:`stability.numeric.SymmetricLayout` (numpy.triu_indices order,
# off-diagonal entries times √2).


class _Counter:
    """``sample_moment`` on ``svec`` coordinates, counting applications."""

    def __init__(self, sample_moment: SampleMoment, layout: SymmetricLayout) -> None:
        self.sample_moment = sample_moment
        self.layout = layout
        self.applications = 0

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        self.applications += 1
        image = np.asarray(self.sample_moment(self.layout.unpack(vector)), dtype=float)
        return self.layout.pack(0.5 * (image + image.T))


# -------------------------------------------------------------------------------- Lanczos
def _lanczos_top(
    operator: Callable[[np.ndarray], np.ndarray], start: np.ndarray, tolerance: float
) -> tuple[float, np.ndarray]:
    """Top Ritz pair of a symmetric operator (Lanczos, full reorthogonalisation, restarts)."""
    size = start.shape[0]
    steps = int(min(size, 60))
    vector = start / np.linalg.norm(start)
    theta = 0.0
    for _ in range(max(4, size // max(steps, 1) + 4)):
        basis = np.empty((steps + 1, size))
        basis[0] = vector
        alphas: list[float] = []
        betas: list[float] = []
        converged = False
        coefficients = np.ones(1)
        for j in range(steps):
            image = operator(basis[j])
            alphas.append(float(basis[j] @ image))
            active = basis[: j + 1]
            for _ in range(2):
                image = image - active.T @ (active @ image)
            beta = float(np.linalg.norm(image))
            if j == 0:
                values, vectors = np.array(alphas), np.ones((1, 1))
            else:
                values, vectors = scipy.linalg.eigh_tridiagonal(
                    np.array(alphas), np.array(betas)
                )
            theta, coefficients = float(values[-1]), vectors[:, -1]
            scale = max(abs(theta), abs(float(values[0])), np.finfo(float).tiny)
            if beta * abs(coefficients[-1]) <= tolerance * scale or beta <= 1e-15 * scale:
                converged = True
                break
            betas.append(beta)
            basis[j + 1] = image / beta
        vector = coefficients @ basis[: len(coefficients)]
        vector /= np.linalg.norm(vector)
        if converged:
            break
    return theta, vector


def _verified_top(
    operator: Callable[[np.ndarray], np.ndarray], start: np.ndarray, tolerance: float
) -> tuple[float, np.ndarray, float]:
    """Top eigenpair with an explicit residual ``‖S v − θ v‖ / |θ|`` (one more application)."""
    _, vector = _lanczos_top(operator, start, tolerance)
    image = operator(vector)
    theta = float(vector @ image)
    residual = float(np.linalg.norm(image - theta * vector)) / max(abs(theta), 1e-300)
    return theta, vector, residual


def _start(
    layout: SymmetricLayout, eigenvalues: np.ndarray, previous: np.ndarray | None
) -> np.ndarray:
    """A positive-definite start (it overlaps every PSD eigenvector), plus a warm start."""
    base = layout.pack(np.diag(np.sqrt(eigenvalues / eigenvalues[0])))
    base /= np.linalg.norm(base)
    if previous is None:
        return base
    return previous / np.linalg.norm(previous) + 1e-3 * base


# ---------------------------------------------------------------------------- heavy ball
def heavy_ball_threshold(
    eigenvalues: np.ndarray,
    sample_moment: SampleMoment,
    beta: float,
    mixing: float,
    upper: float,
    *,
    gradient_scale: float = 1.0,
    start: np.ndarray | None = None,
    gap: float | None = None,
) -> RankOneThreshold:
    """Exact minibatch heavy-ball threshold from one symmetric eigenvalue problem.

    With ``a = c η``, ``η*`` solves ``1 / a = κ``, ``κ = λ_max(S)``,

        S Y = Γ ∘ (p M(Γ ∘ Y)) + (δ / k) ∘ Y,   k_ij = (1 − β)(λ_i + λ_j),  Γ = k^{-1/2},
        δ_ij = λ_i λ_j ((1 − β)/(1 + β) − p) − β (λ_i − λ_j)² / (1 − β²),

    (``docs/theory/momentum-threshold.md``); ``β = 0`` is SGD's
    ``η* = 2 / λ_max(C^{-1/2} D C^{-1/2})``.

    Parameters
    ----------
    eigenvalues : ndarray, shape (r,)
        The positive eigenvalues ``λ`` of ``H`` (the problem is in ``H``'s eigenbasis).
    sample_moment : callable
        ``X ↦ (1/n) Σ_s H_s X H_s`` for symmetric ``r × r`` ``X``.
    beta : float
        The momentum ``β`` in ``[0, 1)``.
    mixing : float
        ``p`` in ``E[H_B ⊗ H_B] = (1 − p) H ⊗ H + p M``.
    upper : float
        An upper bound of ``η*`` (``math.inf`` if unknown); the full-batch threshold
        ``2 (1 + β) / (c λ_max)`` is used when it is smaller.
    gradient_scale : float, default 1.0
        ``c`` in ``G = −c η e₁e₁ᵀ``.
    start : ndarray, optional
        A guess of the eigenvector (symmetric ``r × r``).
    gap : float, optional
        ``1 − β`` if known more accurately than ``1.0 − beta`` (``β`` given exactly as a
        decimal and rounded to a float loses up to ``5.6e-17`` of it; ``η*`` is
        proportional to ``1 − β`` when ``β`` is close to one).

    Notes
    -----
    When ``β`` is close to one the pencil is badly scaled (``δ_ij`` of order
    ``1/(1 − β)`` off the diagonal) and Lanczos cannot reach a small residual relative
    to ``κ``; the pencil's pair then starts a Newton iteration on ``1/μ(s)``,
    ``μ(s) = λ_max(√W ∘ M(√W ∘ ·))`` with ``w_ij = p / (k_ij s − δ_ij)`` (concave in
    ``s = 1/(c η)``, so the steps converge monotonically).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import HeavyBall, Quadratic, critical_learning_rate
    >>> from stability.numeric._rank_one_noise import heavy_ball_threshold
    >>> problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((8, 3)))
    >>> reduced = problem.reduced()
    >>> factors = reduced.factors  # (n, k, r), H_s = G_sᵀ G_s
    >>> hessians = np.einsum("ski,skj->sij", factors, factors)
    >>> moment = lambda X: np.einsum("sij,jk,skl->il", hessians, X, hessians) / len(hessians)
    >>> lam = reduced.eigenvalues
    >>> result = heavy_ball_threshold(lam, moment, 0.9, 1 / 2 * 6 / 7, 3.8 / lam[0])
    >>> dense = critical_learning_rate(problem, HeavyBall(0.9, batch_size=2), solver="dense")
    >>> bool(abs(result.threshold - dense) < 1e-10 * dense), result.residual < 1e-10
    (True, True)
    """
    lam = np.asarray(eigenvalues, dtype=float)
    mixing = float(mixing)
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise InvalidInputError(f"beta must lie in [0, 1); got {beta}")
    layout = SymmetricLayout(lam.size)
    if lam.size == 0:
        return RankOneThreshold(math.inf, 0.0, 0, "noise-free", 0, np.zeros((0, 0)))
    full_batch = 2.0 * (1.0 + beta) / (float(gradient_scale) * float(lam.max()))
    upper = min(float(upper), full_batch)
    if mixing == 0.0:
        return RankOneThreshold(upper, 0.0, 0, "noise-free", 0, np.zeros((lam.size,) * 2))
    left, right = layout.pairwise(lam)
    if gap is None:
        gap = 1.0 - beta  # exact for β ≥ 1/2 (Sterbenz), relative rounding otherwise
    gap = float(gap)
    curvature = gap * (left + right)
    shift = left * right * (gap / (1.0 + beta) - mixing) - beta * (left - right) ** 2 / (
        gap * (1.0 + beta)
    )
    scale = 1.0 / np.sqrt(curvature)
    diagonal = shift / curvature
    counter = _Counter(sample_moment, layout)

    def operator(vector: np.ndarray) -> np.ndarray:
        return scale * (mixing * counter(scale * vector)) + diagonal * vector

    initial = _start(layout, lam, None if start is None else layout.pack(start))
    kappa, vector, residual = _verified_top(operator, initial, RESIDUAL_TARGET)
    lowest = 1.0 / (float(gradient_scale) * upper)
    if residual <= PENCIL_RESIDUAL:
        threshold = upper if kappa <= lowest else 1.0 / (float(gradient_scale) * kappa)
        return RankOneThreshold(
            threshold, residual, counter.applications, "heavy-ball pencil", 1,
            layout.unpack(vector),
        )

    # a badly scaled pencil (β near 1: δ_ij ~ −1/(1 − β)² off the diagonal): Newton on
    # 1/μ(s), concave in s, with the closed-form weights w_ij = p / (k_ij s − δ_ij)
    def weights(s: float) -> tuple[np.ndarray, np.ndarray]:
        denominator = curvature * s - shift
        return mixing / denominator, -curvature / denominator

    result = _newton(
        lam, counter, weights, lowest, max(kappa, 2.0 * lowest), vector, "heavy-ball newton"
    )
    return RankOneThreshold(
        result.threshold / float(gradient_scale),
        result.residual,
        result.applications,
        result.route,
        result.iterations + 1,
        result.vector,
    )


# ------------------------------------------------------------------------- general rank one
def pair_weights(
    eigenvalues: np.ndarray,
    identity_coefficients: np.ndarray,
    hessian_coefficients: np.ndarray,
    lr: float,
    *,
    derivative: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``r_ij(η) = tr[(I − F_i ⊗ F_j)^{-1} (G ⊗ G)]`` for every pair ``i ≤ j`` (and ``dr/dη``).

    Returned in ``svec`` order (:class:`~stability.numeric.SymmetricLayout`).
    ``I − F_i ⊗ F_j`` is formed as ``−[(F_i − I) ⊗ F_j + I ⊗ (F_j − I)]`` so that it
    carries no cancellation when ``F`` is close to ``I``.

    Parameters
    ----------
    eigenvalues : np.ndarray
        Eigenvalues of the Hessian.
    identity_coefficients : np.ndarray
        Polynomial coefficients (in η) of the identity part of the update, lowest degree first.
    hessian_coefficients : np.ndarray
        Polynomial coefficients (in η) of the Hessian part of the update, lowest degree first.
    lr : float
        Learning rate η.
    derivative : bool, default False
        Whether to return the derivative ``dr/dη`` as well (else None in its place).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD
    >>> from stability.numeric._rank_one_noise import pair_weights
    >>> dynamics = SGD(1).dynamics()   # r_ij = η² / (1 − (1 − ηλ_i)(1 − ηλ_j))
    >>> identity = dynamics.identity_part.numeric_coefficients()
    >>> hessian = dynamics.hessian_part.numeric_coefficients()
    >>> values, _ = pair_weights(np.array([2.0, 1.0]), identity, hessian, 0.25)
    >>> bool(np.allclose(values, [0.25**2 / (1 - 0.25), 0.25**2 / (1 - 0.5 * 0.75),
    ...                           0.25**2 / (1 - 0.75**2)]))
    True
    """
    lam = np.asarray(eigenvalues, dtype=float)
    identity = np.asarray(identity_coefficients, dtype=float)
    hessian = np.asarray(hessian_coefficients, dtype=float)
    size = identity.shape[1]
    layout = SymmetricLayout(lam.size)
    rows, cols = layout.rows, layout.cols
    f = _evaluate(identity, lr)
    g = _evaluate(hessian, lr)
    eye = np.eye(size)
    shifted = (f - eye)[None] + lam[:, None, None] * g[None]  # F_i − I
    full = shifted + eye  # F_i
    square = size * size
    system = -(
        np.einsum("pab,pcd->pacbd", shifted[rows], full[cols]).reshape(-1, square, square)
        + np.einsum("ab,pcd->pacbd", eye, shifted[cols]).reshape(-1, square, square)
    )
    noise = np.kron(g, g)
    solved = np.linalg.solve(system, np.broadcast_to(noise, system.shape))
    values = np.trace(solved, axis1=1, axis2=2)
    if not derivative:
        return values, None
    df = _derivative(identity, lr)
    dg = _derivative(hessian, lr)
    dfull = df[None] + lam[:, None, None] * dg[None]
    dsystem = np.einsum("pab,pcd->pacbd", dfull[rows], full[cols]).reshape(
        -1, square, square
    ) + np.einsum("pab,pcd->pacbd", full[rows], dfull[cols]).reshape(-1, square, square)
    right = dsystem @ solved + (np.kron(dg, g) + np.kron(g, dg))[None]
    slopes = np.trace(np.linalg.solve(system, right), axis1=1, axis2=2)
    return values, slopes


def rank_one_threshold(
    eigenvalues: np.ndarray,
    sample_moment: SampleMoment,
    identity_coefficients: np.ndarray,
    hessian_coefficients: np.ndarray,
    mixing: float,
    upper: float,
    *,
    start: np.ndarray | None = None,
) -> RankOneThreshold:
    """Exact minibatch threshold of a method with rank-one ``G(η)`` (heavy ball, Nesterov, …).

    The entry point for the ``"auto"`` route: heavy ball (recognised from the shape of
    ``F`` and ``G``) goes to :func:`heavy_ball_threshold`; other rank-one dynamics solve
    ``μ(η) = λ_max(√W ∘ M(√W ∘ ·)) = 1`` by safeguarded Newton steps in ``s = 1/η`` on
    ``1/μ``, with ``μ' = μ Σ (w'_ij / w_ij) v_ij²``, each Lanczos run warm-started.

    Parameters
    ----------
    eigenvalues : ndarray, shape (r,)
        The positive eigenvalues ``λ`` of ``H``, largest first (the problem is in ``H``'s
        eigenbasis).
    sample_moment : callable
        ``X ↦ (1/n) Σ_s H_s X H_s`` for symmetric ``r × r`` ``X`` in that basis.
    identity_coefficients, hessian_coefficients : ndarray, shape (degree + 1, m, m)
        The coefficients of ``F(η)`` and ``G(η)`` (lowest power first): floats, or exact
        numbers (``LinearDynamics.identity_part.coefficients``), from which heavy ball
        takes ``1 − β`` to full relative accuracy (``η*`` is proportional to it when ``β``
        is close to one).
    mixing : float
        ``p`` in ``E[H_B ⊗ H_B] = (1 − p) H ⊗ H + p M``.
    upper : float
        The full-batch threshold (an upper bound of ``η*``).
    start : ndarray, optional
        A guess of the eigenvector (symmetric ``r × r``), e.g. from a previous call.

    Returns
    -------
    RankOneThreshold
        ``η*``, the verified residual, the applications of ``sample_moment`` and the route.

    Raises
    ------
    InvalidInputError
        If the structure does not apply (message starting with :data:`NOT_APPLICABLE`:
        ``G`` not of rank one, or a pair weight ``w_ij`` not positive on the way); the
        caller then takes another route.
    ConvergenceError
        If no eigenpair reaches a relative residual of :data:`ACCEPT_RESIDUAL`.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Nesterov, Quadratic, critical_learning_rate
    >>> from stability.numeric._rank_one_noise import rank_one_threshold
    >>> from stability.numeric._structure import full_batch_critical_learning_rate
    >>> problem = Quadratic.from_data(np.random.default_rng(1).standard_normal((8, 3)))
    >>> reduced = problem.reduced()
    >>> hessians = np.einsum("ski,skj->sij", reduced.factors, reduced.factors)
    >>> moment = lambda X: np.einsum("sij,jk,skl->il", hessians, X, hessians) / len(hessians)
    >>> method = Nesterov(0.5, batch_size=2)
    >>> dynamics = method.dynamics()
    >>> upper = full_batch_critical_learning_rate(dynamics, reduced.eigenvalues)
    >>> result = rank_one_threshold(
    ...     reduced.eigenvalues, moment, dynamics.identity_part.numeric_coefficients(),
    ...     dynamics.hessian_part.numeric_coefficients(), float(dynamics.batch.mixing(8)), upper)
    >>> dense = critical_learning_rate(problem, method, solver="dense")
    >>> result.route, bool(abs(result.threshold - dense) < 1e-10 * dense)
    ('rank-one newton', True)
    """
    identity = np.asarray(identity_coefficients, dtype=float)
    hessian = np.asarray(hessian_coefficients, dtype=float)
    reason = not_applicable_reason(identity, hessian)
    if reason is not None:
        raise InvalidInputError(f"{NOT_APPLICABLE}: {reason}")
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or not np.all(lam > 0):
        raise InvalidInputError("eigenvalues must be a vector of positive numbers")
    upper = float(upper)
    mixing = float(mixing)
    if not (upper > 0):
        raise InvalidInputError(f"upper must be a positive number; got {upper}")
    homogeneous = identity.shape[0] == 1 and hessian.shape[0] == 2 and not np.any(hessian[0])
    if homogeneous and lam.size and float(lam.max()) != 1.0:
        # η enters only through η H: solve for the problem scaled to λ_max = 1 (η* ∝ 1/λ_max),
        # so that no intermediate (λ², (λ_i − λ_j)² / (1 − β²), …) leaves the float range
        top = float(lam.max())

        def scaled_moment(matrix: np.ndarray) -> np.ndarray:
            return np.asarray(sample_moment(matrix), dtype=float) / top / top

        result = rank_one_threshold(
            lam / top,
            scaled_moment,
            identity_coefficients,
            hessian_coefficients,
            mixing,
            upper * top,
            start=start,
        )
        return RankOneThreshold(
            result.threshold / top,
            result.residual,
            result.applications,
            result.route,
            result.iterations,
            result.vector,
        )
    shape = heavy_ball_shape(identity, hessian)
    if shape is not None:
        return heavy_ball_threshold(
            lam,
            sample_moment,
            shape[0],
            mixing,
            upper,
            gradient_scale=shape[1],
            start=start,
            gap=_exact_gap(identity_coefficients),
        )
    if mixing == 0.0 or lam.size == 0:
        return RankOneThreshold(upper, 0.0, 0, "noise-free", 0, np.zeros((lam.size,) * 2))
    if math.isinf(upper):
        raise InvalidInputError(
            "upper must be finite (the full-batch threshold) for dynamics other than heavy ball"
        )
    gap = _subdominant_gap(identity)
    if gap < MINIMUM_GAP * (1.0 - 1e-6):  # 1 − 0.9999 rounds below 1e-4
        raise InvalidInputError(
            f"momentum too close to one for the rank-one route: F(0) has an eigenvalue of "
            f"modulus 1 − {gap:.1e} besides its unit one (the momentum β), and the pair "
            f"weights lose about eps/(1 − β)² of their accuracy; need 1 − β ≥ {MINIMUM_GAP:g} "
            "(use precision= on small problems)"
        )
    layout = SymmetricLayout(lam.size)
    counter = _Counter(sample_moment, layout)
    left, right = layout.pairwise(lam)
    products = left * right

    def weights(s: float) -> tuple[np.ndarray, np.ndarray]:
        lr = 1.0 / s
        values, slopes = pair_weights(lam, identity, hessian, lr, derivative=True)
        denominator = 1.0 + mixing * products * values
        # d log w / ds = −η² (d log w / dη), d log w / dη = r' / (r (1 + p λλ r))
        return mixing * values / denominator, -lr * lr * slopes / (values * denominator)

    return _newton(
        lam,
        counter,
        weights,
        1.0 / upper,
        2.0 / upper,
        None if start is None else layout.pack(start),
        "rank-one newton",
    )


def _subdominant_gap(identity: np.ndarray) -> float:
    """``1 − max |z|`` over the eigenvalues ``z`` of ``F(0)`` other than the one closest to 1."""
    values = np.linalg.eigvals(identity[0])
    if values.size < 2:
        return 1.0
    rest = np.delete(values, int(np.argmin(np.abs(values - 1.0))))
    return float(1.0 - np.max(np.abs(rest)))


def _newton(
    lam: np.ndarray,
    counter: _Counter,
    weights: Callable[[float], tuple[np.ndarray, np.ndarray]],
    lowest: float,
    guess: float,
    start: np.ndarray | None,
    route: str,
) -> RankOneThreshold:
    """Solve ``μ(s) = 1`` with ``s = 1/η`` (``s ≥ lowest`` stable side) by safeguarded Newton.

    ``weights(s)`` returns ``w_ij`` (positive, ``svec`` order) and ``∂ log w_ij / ∂s``;
    ``μ(s) = λ_max(√W ∘ M(√W ∘ ·))`` and ``μ'(s) = μ Σ (∂ log w_ij/∂s) v_ij²``. On
    ``1/μ`` the steps are monotone once on the unstable side when ``1/μ`` is concave in
    ``s`` (heavy ball); a bracket keeps them safe otherwise.
    """
    layout = counter.layout
    previous = start

    def evaluate(s: float, tolerance: float) -> tuple[float, float, np.ndarray, float]:
        nonlocal previous
        values, logarithmic = weights(s)
        if not (np.all(np.isfinite(values)) and np.all(values > 0)):
            raise InvalidInputError(
                f"{NOT_APPLICABLE}: a pair weight w_ij is not positive at η = {1.0 / s!r}"
            )
        root = np.sqrt(values)

        def operator(vector: np.ndarray) -> np.ndarray:
            return root * counter(root * vector)

        value, vector, residual = _verified_top(operator, _start(layout, lam, previous), tolerance)
        previous = vector
        return value, value * float(np.sum(logarithmic * vector**2)), vector, residual

    unstable, stable = lowest, math.inf  # μ(unstable) ≥ 1 > μ(stable)
    s = max(guess, lowest * (1.0 + 1e-6))
    best: tuple[float, np.ndarray, float] | None = None
    iterations = 0
    tolerance = ROUGH_RESIDUAL
    for iterations in range(1, 60):  # noqa: B007 - reported
        value, slope, vector, residual = evaluate(s, tolerance)
        tight = tolerance == RESIDUAL_TARGET
        best = (s, vector, residual)
        if abs(value - 1.0) <= ROOT_DISTANCE and tight:
            break  # the next Newton step would be below roundoff
        # close to the root the next pair must be tight (it may be the last one)
        tolerance = RESIDUAL_TARGET if abs(value - 1.0) <= ROUGH_DISTANCE else ROUGH_RESIDUAL
        if value < 1.0:
            stable = s
        else:
            unstable = s
        # Newton on g(s) = 1/μ(s): g' = −μ'/μ²
        derivative = -slope / (value * value)
        candidate = s + (1.0 - 1.0 / value) / derivative if derivative > 0 else math.nan
        if not unstable <= candidate <= stable:
            candidate = 2.0 * unstable if math.isinf(stable) else 0.5 * (unstable + stable)
        step = abs(candidate - s)
        s = candidate
        if math.isfinite(stable) and (stable - unstable) <= BRACKET_TOLERANCE * stable:
            s = 0.5 * (stable + unstable)  # μ − 1 is at roundoff level on the whole bracket
            break
        if step <= STEP_TOLERANCE * s and tight:
            break
    else:  # pragma: no cover - Newton converges in a handful of steps
        raise ConvergenceError("the rank-one Newton iteration did not converge")
    assert best is not None
    if not best[2] <= ACCEPT_RESIDUAL:
        raise ConvergenceError(
            f"Lanczos did not converge on the rank-one pencil (relative residual {best[2]:.2e})"
        )
    return RankOneThreshold(
        1.0 / s, best[2], counter.applications, route, iterations, layout.unpack(best[1])
    )
