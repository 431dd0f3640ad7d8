"""Exact mean-square thresholds and spectral radii of second-moment operators.

Theory: ``shared/theory.md`` §2 and §3. Everything here works on the problem reduced
to ``range(H)`` (the neutral null space removed) and on symmetric second moments
(the ``svec`` basis of :func:`~stability.numeric.operators.symmetric_basis`).

Two exact routes, chosen from the shape of the dynamics description, never from a
method's name:

* plain gradient steps ``A = I − g η H_B`` (GD, SGD, variational GD): the operator is
  ``T(η) = I − 2 g η C + g² η² D`` with ``C = ½ H ⊕ H`` and
  ``D = (1 − p) H ⊗ H + p M``, and ``η* = 2 / (g λ_max(C^{-1/2} D C^{-1/2}))``, a
  symmetric eigenvalue problem (Mulayoff & Michaeli 2023, Thm 3);
* any other polynomial state map (momentum): ``η*`` is the smallest positive real root
  of ``det(T(η) − I) = 0``, found as a generalised eigenvalue of the companion
  linearisation of the matrix polynomial (§2, rule 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from stability.dynamics import LinearDynamics
from stability.errors import SizeLimitError
from stability.methods.base import as_dynamics
from stability.numeric.operators import (
    DENSE_ENTRY_LIMIT,
    operator_coefficients,
    reduced_moment_tensor,
    symmetric_basis,
)
from stability.numeric.polynomial import smallest_positive_real_root
from stability.problems import Quadratic, ReducedQuadratic, as_problem
from stability.validation import check_learning_rate

__all__ = [
    "ReducedOperator",
    "critical_learning_rate",
    "is_stable",
    "reduced_operator",
    "spectral_radius",
]


@dataclass(frozen=True, eq=False)
class ReducedOperator:
    """The second-moment operator of one problem and one method, on ``svec(range H)``.

    Attributes
    ----------
    dynamics : LinearDynamics
        The method's description.
    reduced : ReducedQuadratic
        The problem restricted to ``range(H)``.
    mixing : float
        The weight ``p`` of the batch law.
    gradient_scale : float or None
        ``g`` when the state map is ``I − g η H_B`` (then :attr:`curvature` and
        :attr:`noise_curvature` hold ``C`` and ``D``), else ``None`` (then
        :attr:`coefficients` holds the ``T_q``).
    """

    dynamics: LinearDynamics
    reduced: ReducedQuadratic
    mixing: float
    gradient_scale: float | None
    curvature: np.ndarray | None = None
    noise_curvature: np.ndarray | None = None
    coefficients: np.ndarray | None = None

    @property
    def size(self) -> int:
        """The dimension of the symmetric state space the operator acts on."""
        state = self.dynamics.blocks * self.reduced.rank
        return state * (state + 1) // 2

    def matrix(self, lr: float) -> np.ndarray:
        """The dense matrix of ``T(η)`` in the ``svec`` basis."""
        if self.gradient_scale is not None:
            g_lr = self.gradient_scale * lr
            matrix = g_lr**2 * self.noise_curvature
            matrix[np.diag_indices_from(matrix)] += 1.0 - 2.0 * g_lr * self.curvature
            return matrix
        powers = float(lr) ** np.arange(self.coefficients.shape[0])
        return np.tensordot(powers, self.coefficients, axes=1)


def _svec_rank_one(vectors: np.ndarray) -> np.ndarray:
    """Rows ``svec(y_s y_sᵀ)`` for the rows ``y_s`` of ``vectors``."""
    rank = vectors.shape[1]
    rows, cols = np.triu_indices(rank)
    weight = np.where(rows == cols, 1.0, np.sqrt(2.0))
    return vectors[:, rows] * vectors[:, cols] * weight


def _sample_term(reduced: ReducedQuadratic) -> np.ndarray:
    """``M = (1/n) Σ H_s ⊗ H_s`` restricted to symmetric matrices (svec basis)."""
    if reduced.vectors is not None:
        lifted = _svec_rank_one(reduced.vectors)
        return lifted.T @ lifted / reduced.vectors.shape[0]
    hessians = reduced.per_sample_hessians()
    rank = reduced.rank
    rows, cols = np.triu_indices(rank)
    # M(E) for the svec basis element E_ab: (1/n) Σ H_s E_ab H_s, read off in svec coordinates
    # ⟨E_ab, M(E_cd)⟩ = (1/n) Σ_s w_ab w_cd (H_s[a, c] H_s[b, d] + H_s[a, d] H_s[b, c]) / 2 · 2
    weight = np.where(rows == cols, 1.0, np.sqrt(2.0))
    size = rows.size
    total = np.zeros((size, size))
    chunk = max(1, 10_000_000 // (size * size))
    for start in range(0, len(hessians), chunk):
        part = hessians[start : start + chunk]
        total += np.einsum(
            "sij,sij->ij",
            part[:, rows[:, None], rows[None, :]],
            part[:, cols[:, None], cols[None, :]],
        )
        total += np.einsum(
            "sij,sij->ij",
            part[:, rows[:, None], cols[None, :]],
            part[:, cols[:, None], rows[None, :]],
        )
    return 0.5 * total / len(hessians) * np.outer(weight, weight)


def reduced_operator(problem: Quadratic, method: Any) -> ReducedOperator:
    """Assemble the second-moment operator of ``method`` on ``problem`` (reduced, svec basis).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric.thresholds import reduced_operator
    >>> operator = reduced_operator(Quadratic(np.diag([2.0, 0.0])), GD())
    >>> operator.size, operator.matrix(0.5)
    (1, array([[0.]]))
    """
    problem = as_problem(problem)
    dynamics = as_dynamics(method)
    mixing = float(dynamics.batch.mixing(problem.samples))
    reduced = problem.reduced()
    scale = dynamics.gradient_step_scale()
    state = dynamics.blocks * reduced.rank
    size = state * (state + 1) // 2
    if scale is not None:
        if size * size > DENSE_ENTRY_LIMIT:
            raise SizeLimitError(
                f"the reduced operator has dimension {size:,} (rank {reduced.rank}); too large "
                "for the dense eigenvalue route"
            )
        rows, cols = np.triu_indices(reduced.rank)
        eigenvalues = reduced.eigenvalues
        curvature = 0.5 * (eigenvalues[rows] + eigenvalues[cols])
        noise = np.zeros((size, size))
        noise[np.diag_indices(size)] = (1.0 - mixing) * eigenvalues[rows] * eigenvalues[cols]
        if mixing:
            noise += mixing * _sample_term(reduced)
        return ReducedOperator(
            dynamics, reduced, mixing, float(scale), curvature=curvature, noise_curvature=noise
        )
    moment = reduced_moment_tensor(reduced, mixing)
    full = operator_coefficients(dynamics, reduced.hessian, moment)
    basis = symmetric_basis(state)
    coefficients = np.einsum("ia,qab,jb->qij", basis, full, basis, optimize=True)
    return ReducedOperator(dynamics, reduced, mixing, None, coefficients=coefficients)


def _gradient_threshold(operator: ReducedOperator) -> float:
    curvature = operator.curvature
    scaled = operator.noise_curvature / np.sqrt(np.outer(curvature, curvature))
    top = float(
        scipy.linalg.eigvalsh(scaled, subset_by_index=[len(scaled) - 1, len(scaled) - 1])[0]
    )
    if top <= 0:
        return math.inf
    return 2.0 / (operator.gradient_scale * top)


def _polynomial_threshold(operator: ReducedOperator) -> float:
    scale = float(operator.reduced.eigenvalues[0])
    powers = np.arange(len(operator.coefficients))[:, None, None]
    coefficients = operator.coefficients / scale**powers  # in ν = η λ_max
    coefficients[0] -= np.eye(coefficients.shape[1])
    return smallest_positive_real_root(coefficients) / scale


def critical_learning_rate(
    problem: Quadratic, method: Any, *, precision: int | None = None
) -> float:
    """The exact mean-square critical learning rate ``η*`` of ``method`` on ``problem``.

    ``η*`` is the supremum of the learning rates at which ``sup_t E‖δ_t‖² < ∞`` from every
    start (``shared/theory.md`` §1–§3). It is computed from an eigenvalue problem, not
    by bisection: ``2 / λ_max(C^{-1/2} D C^{-1/2})`` for gradient steps (Mulayoff &
    Michaeli 2023, Thm 3), the smallest positive real root of ``det(T(η) − I)`` for
    momentum. Neutral directions (the null space of ``H``) are removed first.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser, e.g. ``SGD(batch_size=4)``.
    precision : int, optional
        Decimal digits for an mpmath computation of the same eigenvalue problem (small
        problems only); the result is then an ``mpmath.mpf``.

    Returns
    -------
    float
        ``η*``; ``math.inf`` when every learning rate is stable (``H = 0``).

    Raises
    ------
    InvalidInputError
        If the batch size does not fit the problem (``> n`` without replacement, or a
        stochastic method on a single Hessian).
    SizeLimitError
        If the problem is too large for the requested route.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, SGD, HeavyBall, Quadratic, critical_learning_rate
    >>> problem = Quadratic.from_data(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> round(critical_learning_rate(problem, GD()), 10)  # 2 / λ_max(H), λ_max(H) = 1
    2.0
    >>> round(critical_learning_rate(problem, SGD(1)), 10)  # 3 − √3
    1.2679491924
    >>> round(critical_learning_rate(problem, SGD(2, replacement=True)), 10)
    1.569499126
    >>> round(critical_learning_rate(problem, HeavyBall(0.5)), 10)  # 2 (1 + β) / λ_max
    3.0
    """
    if precision is not None:
        from stability.numeric.precision import high_precision_critical_learning_rate

        return high_precision_critical_learning_rate(problem, method, precision=precision)
    operator = reduced_operator(problem, method)
    if operator.reduced.rank == 0:
        return math.inf
    if operator.gradient_scale is not None:
        return _gradient_threshold(operator)
    return _polynomial_threshold(operator)


def spectral_radius(problem: Quadratic, method: Any, lr: float) -> float:
    """``ρ(T(η))``, the spectral radius of the second-moment operator on the non-neutral subspace.

    The operator acts on symmetric second moments of the state restricted to
    ``range(H)`` (``shared/theory.md`` §2); mean-square stability is ``ρ < 1``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic, spectral_radius
    >>> problem = Quadratic(np.diag([2.0, 1.0]))
    >>> round(spectral_radius(problem, GD(), 0.25), 12)  # max (1 − η λ)²
    0.5625
    >>> spectral_radius(problem, GD(), 1.5) > 1
    True
    """
    lr = check_learning_rate(lr)
    operator = reduced_operator(problem, method)
    if operator.size == 0:
        return 0.0
    matrix = operator.matrix(lr)
    if operator.gradient_scale is not None:
        eigenvalues = scipy.linalg.eigvalsh(matrix)
    else:
        eigenvalues = scipy.linalg.eigvals(matrix)
    return float(np.max(np.abs(eigenvalues)))


def is_stable(problem: Quadratic, method: Any, lr: float) -> bool:
    """Whether ``method`` is mean-square stable on ``problem`` at learning rate ``lr``.

    True exactly when ``lr < η*`` (equivalently ``ρ(T(lr)) < 1``); at ``lr = η*`` the
    second moment is marginal and this returns False.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic, is_stable
    >>> problem = Quadratic(np.diag([2.0, 1.0]))
    >>> is_stable(problem, GD(), 0.9), is_stable(problem, GD(), 1.1)
    (True, False)
    """
    lr = check_learning_rate(lr)
    return lr < critical_learning_rate(problem, method)
