"""Variational GD: its mean-square threshold and the expected-descent edge of Ghosh et al.

Theory: ``docs/theory/methods.md`` (Ghosh et al. 2025, "Variational learning finds flatter
solutions at the edge of stability"). The posterior noise of variational GD is additive, so

* its mean-square threshold is GD's (full batch) or SGD's (same batch law), whatever the
  posterior covariance ``Σ_q`` and the number of samples ``S``;
* along an eigenvector of ``H`` with eigenvalue ``λ`` the expected loss decreases in one
  step iff ``λ³ + z λ − 2z/η < 0``, ``z = S c / σ²``: below the edge
  ``λ_edge(η, z) = (2/η) VF(z) < 2/η``. The edge itself is computed by
  :func:`stability.numeric.variational_edge`, which this module calls.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from stability._validation import as_finite_array, check_learning_rate
from stability.bounds._common import bound
from stability.bounds._gradient import mulayoff_michaeli_threshold
from stability.errors import InvalidInputError
from stability.methods import as_dynamics
from stability.numeric import variational_edge

__all__ = [
    "ghosh_edge",
    "stationary_edge_parameter",
    "variational_descent_learning_rate",
    "variational_gd_threshold",
]

_CITATION = (
    "Ghosh et al. (2025), Variational learning finds flatter solutions at the edge of "
    "stability, Thm 3.1; docs/theory/methods.md"
)


def ghosh_edge(lr: Any, z: Any) -> float | np.ndarray:
    """The expected-descent edge of variational GD, ``λ_edge(η, z) = (2/η) VF(z)``.

    Statement (Ghosh et al. 2025, Thm 3.1, re-derived in ``docs/theory/methods.md``): along an
    eigenvector ``v_k`` of ``H`` with eigenvalue ``λ``, squared gradient component
    ``c = (v_kᵀ ∇L(m))²``, posterior variance ``σ² = v_kᵀ Σ_q v_k`` and ``S`` samples, one
    full-batch step of variational GD lowers the expected loss along ``v_k`` iff
    ``λ³ + z λ − 2z/η < 0`` with ``z = S c / σ²``, i.e. iff ``λ < λ_edge``, the real root of
    that cubic: ``λ_edge = (2/η) VF``, ``VF = η √(z/3) sinh((1/3) arsinh((3/η) √(3/z)))``,
    ``VF < 1`` (flatter than GD's edge ``2/η``) and ``VF → 1`` as ``z → ∞``.

    Assumptions: a quadratic loss, a Gaussian (or any) posterior with fixed covariance,
    full batch. Computed by :func:`stability.numeric.variational_edge`.

    Parameters
    ----------
    lr : float or array_like
        ``η > 0``.
    z : float or array_like
        ``z = S c / σ² ≥ 0``.

    Examples
    --------
    >>> from stability.bounds import ghosh_edge
    >>> ghosh_edge(0.5, 4.0)  # η² z = 1 gives half of GD's edge 2/η = 4
    2.0
    """
    return variational_edge(lr, z)


ghosh_edge.citation = _CITATION  # type: ignore[attr-defined]


def variational_descent_learning_rate(eigenvalue: Any, z: Any) -> float | np.ndarray:
    """The largest ``η`` at which variational GD's expected loss decreases along a direction.

    Statement: the cubic condition ``λ³ + z λ − 2z/η < 0`` of Ghosh et al. (2025, Thm 3.1)
    is linear in ``1/η``, so it holds iff ``η < 2z / (λ (λ² + z)) = (2/λ) · z/(λ² + z)``,
    which is below GD's ``2/λ`` and tends to it as ``z → ∞``. It is the inverse of the edge:
    ``ghosh_edge(variational_descent_learning_rate(λ, z), z) = λ``.

    Parameters
    ----------
    eigenvalue : float or array_like
        ``λ > 0``, an eigenvalue of ``H``.
    z : float or array_like
        ``z = S c / σ² ≥ 0`` (``inf``: no posterior noise, GD's ``2/λ``).

    Examples
    --------
    >>> from stability.bounds import ghosh_edge, variational_descent_learning_rate
    >>> lr = variational_descent_learning_rate(2.0, 4.0)  # (2/2) · 4/8
    >>> lr, ghosh_edge(lr, 4.0)
    (0.5, 2.0)
    """
    lam = as_finite_array(eigenvalue, "eigenvalue", tuple(range(33)))
    if np.any(lam <= 0):
        raise InvalidInputError(f"eigenvalue must be positive; got {eigenvalue!r}")
    try:
        parameters = np.asarray(z, dtype=float)
    except (TypeError, ValueError):
        parameters = as_finite_array(z, "z", tuple(range(33)))
    if np.any(np.isnan(parameters)) or np.any(parameters < 0):
        raise InvalidInputError(f"z must be non-negative (inf allowed); got {z!r}")
    with np.errstate(invalid="ignore"):
        fraction = np.where(np.isinf(parameters), 1.0, parameters / (lam**2 + parameters))
    value = 2.0 / lam * fraction
    return float(value) if np.ndim(value) == 0 else value


def stationary_edge_parameter(lr: float, eigenvalue: Any) -> float | np.ndarray:
    """``z`` at the stationary second moment: ``z = η λ³ / (2 − η λ)`` (edge identity).

    Statement (``docs/theory/methods.md``): full batch, ``Σ_q = σ²`` along ``v_k``, the
    stationary ``E (v_kᵀ δ)² = η λ σ² / (S (2 − η λ))``; the expected squared gradient
    component is ``λ²`` times it, so ``E z = S λ² E(v_kᵀδ)² / σ² = η λ³/(2 − ηλ)``, which
    makes the cubic ``λ³ + z λ − 2z/η`` exactly zero: at stationarity variational GD sits
    exactly at its edge, ``ghosh_edge(η, z) = λ``. Defined for ``0 < ηλ < 2``.

    Parameters
    ----------
    lr : float
        Learning rate η.
    eigenvalue : Any
        Hessian eigenvalue λ (a number or an array), with 0 < ηλ < 2.

    Examples
    --------
    >>> from stability.bounds import ghosh_edge, stationary_edge_parameter
    >>> z = stationary_edge_parameter(0.5, 3.0)  # 0.5 · 27 / 0.5
    >>> z, round(ghosh_edge(0.5, z), 12)
    (27.0, 3.0)
    """
    lr = check_learning_rate(lr)
    lam = as_finite_array(eigenvalue, "eigenvalue", tuple(range(33)))
    if np.any(lam <= 0) or np.any(lr * lam >= 2):
        raise InvalidInputError(
            f"eigenvalue must satisfy 0 < lr · eigenvalue < 2 (a stable direction); got "
            f"lr={lr}, eigenvalue={eigenvalue!r}"
        )
    value = lr * lam**3 / (2.0 - lr * lam)
    return float(value) if np.ndim(value) == 0 else value


@bound("exact", _CITATION + " (additive posterior noise leaves T unchanged)")
def variational_gd_threshold(problem: Any, method: Any) -> float:
    """The mean-square threshold of variational GD: GD's or SGD's, for every ``Σ_q`` and ``S``.

    Statement: on a quadratic, ``δ_{t+1} = (I − η H_B) δ_t − η H_B ε̄_t`` with ``ε̄``
    independent of ``δ_t``: the second moments obey ``S_{t+1} = T(S_t) + N`` with the
    GD/SGD operator ``T`` and a constant ``N``, so they stay bounded iff ``ρ(T) < 1``. The
    value is computed by :func:`mulayoff_michaeli_threshold` on the method with its noise
    removed.

    Parameters
    ----------
    problem : Any
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic, VariationalGD
    >>> from stability.bounds import variational_gd_threshold
    >>> variational_gd_threshold(Quadratic(np.diag([4.0, 1.0])), VariationalGD(0.3, samples=2))
    0.5
    """
    dynamics = as_dynamics(method)
    return mulayoff_michaeli_threshold(problem, dataclasses.replace(dynamics, noise=None))
