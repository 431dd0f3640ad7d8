"""Full-batch edges of stability of momentum methods.

Theory: ``docs/theory/methods.md``. On an eigenvector of ``H`` with eigenvalue ``λ``, a
full-batch momentum method is a two-term linear recurrence whose characteristic
polynomial has both roots inside the unit disc exactly below an edge where a root
crosses ``−1``:

* heavy ball, ``z² − (1 + β − ηλ) z + β``: ``ηλ < 2 (1 + β)``;
* Nesterov, ``z² − (1 + β)(1 − ηλ) z + β (1 − ηλ)``: ``ηλ < 2 (1 + β)/(1 + 2β)``;
* EMA momentum ``m ← β m + (1 − β) g``, ``θ ← θ − η P⁻¹ m``: heavy ball with learning rate
  ``η (1 − β)``, so ``λ_max(P⁻¹ H) < (2 + 2β)/((1 − β) η)`` (``38/η`` at ``β = 0.9``,
  Cohen et al. 2022).

Weight decay ``μ`` replaces ``H`` by ``H + μ I``. With minibatches the second-moment operator
dominates the full-batch one on the PSD cone (the extra term is a covariance), so each edge
is an upper bound on the stochastic method's ``η*``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from stability._validation import (
    as_finite_array,
    check_momentum,
    check_psd,
    check_symmetric,
    check_weight_decay,
)
from stability.bounds._common import bound
from stability.dynamics import LinearDynamics
from stability.errors import DimensionError, InvalidInputError
from stability.methods import HeavyBall, Method, Nesterov
from stability.problems import as_problem

__all__ = ["ema_momentum_edge", "heavy_ball_edge", "nesterov_edge"]

_CITATION_HB = "Polyak (1964); docs/theory/methods.md"
_CITATION_NESTEROV = "Nesterov (1983); docs/theory/methods.md"
_CITATION_EMA = (
    "Cohen et al. (2022), Adaptive gradient methods at the edge of stability; "
    "docs/theory/methods.md"
)


def _momentum_of(momentum: Any, kind: type[Method]) -> float:
    """A momentum coefficient given as a number or read off a method of the right form."""
    if isinstance(momentum, Method | LinearDynamics):
        dynamics = momentum.dynamics() if isinstance(momentum, Method) else momentum
        beta = getattr(momentum, "momentum", None)
        if beta is None:
            raise InvalidInputError(
                f"momentum must be a number or a {kind.__name__} method; got {dynamics.name}, "
                "which has no momentum coefficient"
            )
        reference = kind(float(beta)).dynamics()
        if (
            dynamics.identity_part.numeric_coefficients().tolist()
            != reference.identity_part.numeric_coefficients().tolist()
            or dynamics.hessian_part.numeric_coefficients().tolist()
            != reference.hessian_part.numeric_coefficients().tolist()
        ):
            raise InvalidInputError(
                f"momentum must be a number or a {kind.__name__} method; got {dynamics.name}, "
                f"whose state map is not the {kind.__name__} one"
            )
        momentum = beta
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise InvalidInputError(f"momentum must be a real number in [0, 1); got {momentum!r}")
    return float(check_momentum(momentum))


def _shifted_sharpness(problem: Any, weight_decay: float) -> float:
    return as_problem(problem).sharpness + check_weight_decay(weight_decay)


@bound("upper", _CITATION_HB)
def heavy_ball_edge(problem: Any, momentum: Any, *, weight_decay: float = 0.0) -> float:
    """The heavy-ball edge ``η = 2 (1 + β) / (λ_max(H) + μ)``.

    Statement: full-batch heavy ball ``δ_{t+1} = δ_t − η (H + μI) δ_t + β (δ_t − δ_{t−1})``,
    ``0 ≤ β < 1``, is stable iff ``η (λ_max(H) + μ) < 2 (1 + β)``: on an eigenvector the
    characteristic polynomial ``z² − (1 + β − ηλ) z + β`` has both roots in the unit disc
    iff ``|1 + β − ηλ| < 1 + β`` (Schur–Cohn, with ``|β| < 1``), and a root crosses ``−1``
    at ``ηλ = 2 (1 + β)``. Exact for the full batch; an upper bound with minibatches.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    momentum : float or HeavyBall
        ``β ∈ [0, 1)``, or a heavy-ball method to read it from (its batch size is ignored).
    weight_decay : float, default 0
        ``μ ≥ 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.bounds import heavy_ball_edge
    >>> heavy_ball_edge(Quadratic(np.diag([2.0, 1.0])), 0.5)
    1.5
    """
    beta = _momentum_of(momentum, HeavyBall)
    sharpness = _shifted_sharpness(problem, weight_decay)
    return math.inf if sharpness <= 0 else 2.0 * (1.0 + beta) / sharpness


@bound("upper", _CITATION_NESTEROV)
def nesterov_edge(problem: Any, momentum: Any, *, weight_decay: float = 0.0) -> float:
    """The Nesterov edge ``η = 2 (1 + β) / ((1 + 2β) (λ_max(H) + μ))``.

    Statement: full-batch Nesterov momentum, ``δ_{t+1} = (I − η H)((1 + β) δ_t − β δ_{t−1})``,
    has on an eigenvector the characteristic polynomial
    ``z² − (1 + β)(1 − x) z + β (1 − x)``, ``x = ηλ``; its value at ``z = −1`` is
    ``1 + (1 + 2β)(1 − x)``, which vanishes at ``x = 2 (1 + β)/(1 + 2β)``, and the other
    Schur–Cohn conditions (``p(1) = x > 0``, ``|β (1 − x)| < 1``) hold below it. Exact for
    the full batch; an upper bound with minibatches.

    Parameters
    ----------
    problem : Any
        The quadratic problem (a :class:`~stability.Quadratic`).
    momentum : Any
        Momentum coefficient β in [0, 1).
    weight_decay : float, default 0.0
        Weight-decay coefficient λ ≥ 0.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.bounds import nesterov_edge
    >>> nesterov_edge(Quadratic(np.diag([2.0, 1.0])), 0.5)
    0.75
    """
    beta = _momentum_of(momentum, Nesterov)
    sharpness = _shifted_sharpness(problem, weight_decay)
    return math.inf if sharpness <= 0 else 2.0 * (1.0 + beta) / ((1.0 + 2.0 * beta) * sharpness)


@bound("upper", _CITATION_EMA)
def ema_momentum_edge(
    problem: Any,
    momentum: Any,
    *,
    preconditioner: Any = None,
    weight_decay: float = 0.0,
) -> float:
    """The edge of EMA momentum, frozen preconditioner: ``η = (2 + 2β) / ((1 − β) λ_max(P⁻¹ H))``.

    Statement: ``m_{t+1} = β m_t + (1 − β) (H + μI) δ_t``, ``δ_{t+1} = δ_t − η P⁻¹ m_{t+1}``
    (``P`` symmetric positive definite, as Adam's frozen ``√v + ε``) is, in the
    coordinates of ``P^{-1/2} H P^{-1/2}``, heavy ball with learning rate ``η (1 − β)`` and
    momentum ``β``; so it is stable iff ``λ_max(P⁻¹ (H + μI)) < (2 + 2β)/((1 − β) η)``:
    ``38/η`` at ``β = 0.9`` (Cohen et al. 2022).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    momentum : float
        ``β ∈ [0, 1)``.
    preconditioner : array_like, shape (d,) or (d, d), optional
        ``P``: a positive diagonal or a symmetric positive-definite matrix (default ``I``).
    weight_decay : float, default 0
        ``μ ≥ 0`` (added to the gradient before preconditioning).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.bounds import ema_momentum_edge
    >>> round(ema_momentum_edge(Quadratic(np.diag([1.0])), 0.9), 12)  # 38 / λ
    38.0
    """
    problem = as_problem(problem)
    beta = _momentum_of(momentum, HeavyBall)
    decay = check_weight_decay(weight_decay)
    dimension = problem.dimension
    shifted = problem.hessian + decay * np.eye(dimension)
    if preconditioner is None:
        scaled = shifted
    else:
        matrix = as_finite_array(preconditioner, "preconditioner", (1, 2))
        if matrix.ndim == 1:
            matrix = np.diag(matrix)
        if matrix.shape != (dimension, dimension):
            raise DimensionError(
                f"preconditioner must have shape ({dimension},) or ({dimension}, {dimension}); "
                f"got {matrix.shape}"
            )
        matrix = check_symmetric(matrix, "preconditioner")
        eigenvalues, vectors = np.linalg.eigh(matrix)
        check_psd(matrix, "preconditioner")
        if eigenvalues[0] <= 0:
            raise InvalidInputError(
                "preconditioner must be positive definite; smallest eigenvalue is "
                f"{eigenvalues[0]:.6g}"
            )
        root = vectors / np.sqrt(eigenvalues)
        scaled = root.T @ shifted @ root
    sharpness = float(np.linalg.eigvalsh(0.5 * (scaled + scaled.T))[-1])
    if sharpness <= 0:
        return math.inf
    return (2.0 + 2.0 * beta) / ((1.0 - beta) * sharpness)
