"""Higher-moment and almost-sure stability as statements (Ma & Ying 2021).

Theory: ``docs/theory/higher-moments.md``. A method's state obeys ``z_{t+1} = A_t z_t`` with
i.i.d. random ``A_t = F(η) ⊗ I + G(η) ⊗ H_B`` (docs/theory/operator.md).

*k-th moment stability* means ``sup_t E‖z_t‖^k < ∞`` from every start. For even ``k``, the
threshold ``η*_k`` is the smallest positive root of ``det(E[A^{⊗k}] − I) = 0``
(:func:`moment_threshold`); for odd ``k`` Lyapunov's inequality brackets it,
``η*_{k+1} ≤ η*_k ≤ η*_{k−1}`` (:func:`moment_threshold_bracket`); as ``k → ∞`` it tends to the
threshold of ``max_B ‖A_B‖ ≤ 1`` (:func:`infinite_moment_threshold`). *Almost-sure stability*
is the sign of the top Lyapunov exponent; in one dimension its threshold is exact and at
least every moment threshold (:func:`almost_sure_threshold`).

These are the statements; the operator ``E[A^{⊗k}]`` and the evaluators that compute them
(:func:`stability.numeric.moment_operator`, :func:`stability.numeric.moment_spectral_radius`,
:func:`stability.numeric.moment_critical_learning_rate`,
:func:`stability.numeric.lyapunov_exponent`, …) are in the numeric layer, beside the other
evaluators.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from stability._system import bind
from stability._validation import check_positive_integer
from stability.bounds._common import bound
from stability.dynamics import BatchLaw
from stability.numeric import (
    almost_sure_critical_learning_rate,
    critical_learning_rate,
    infinite_moment_critical_learning_rate,
    moment_critical_learning_rate,
)
from stability.problems import Quadratic

if TYPE_CHECKING:
    from stability.methods import MethodLike

__all__ = [
    "almost_sure_threshold",
    "infinite_moment_threshold",
    "moment_threshold",
    "moment_threshold_bracket",
]

_CITATION = (
    "Ma & Ying (2021), On linear stability of SGD and input-smoothness of neural networks; "
    "docs/theory/higher-moments.md"
)


@bound("exact", _CITATION)
def moment_threshold(problem: Quadratic, method: MethodLike, order: int) -> float:
    """The ``k``-th moment threshold ``η*_k``: the supremum of ``η`` with ``sup_t E‖z_t‖^k < ∞``.

    Statement (Ma & Ying 2021; ``docs/theory/higher-moments.md``): for even ``k``, ``E‖z_t‖^k``
    grows like ``ρ(E[A^{⊗k}])^t`` on symmetric tensors, and ``η*_k`` is the smallest positive root
    of ``det(E[A^{⊗k}](η) − I) = 0`` (the crossing is at ``+1`` by Krein–Rutman on the cone
    of moment tensors). In one dimension it solves ``E|1 − η h_B|^k = 1`` for every ``k``.
    ``η*_2`` is the mean-square threshold; ``η*_k`` is non-increasing in ``k``. Computed by
    :func:`stability.numeric.moment_critical_learning_rate` (see there for the routes).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser (batches are enumerated: at most 200 000 of them).
    order : int
        ``k ≥ 1``; odd ``k`` only for one-dimensional states.

    Notes
    -----
    For odd ``k`` the *signed* tensor operator ``E[A^{⊗k}]`` is not the right object:
    with ``h_B ∈ {0, 2}`` equally likely, ``E(1 − η h_B)^3`` stays above ``−1`` up to
    ``η = (1 + 3^{1/3})/2 ≈ 1.221``, beyond the mean-square threshold ``1``; the absolute
    moment ``E|1 − η h_B|^3 = (1 + |1 − 2η|^3)/2`` is at most one only up to ``η = 1``.

    Raises
    ------
    InvalidInputError
        For odd ``k`` on a state of dimension at least two.
    SizeLimitError
        If the tensors or the batch enumeration are too large.

    Examples
    --------
    >>> from stability import SGD, Quadratic, critical_learning_rate
    >>> from stability.bounds import moment_threshold
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> method = SGD(1, replacement=True)
    >>> round(moment_threshold(problem, method, 2), 12), critical_learning_rate(problem, method)
    (0.8, 0.8)
    >>> round(moment_threshold(problem, method, 4), 6)
    0.72947
    """
    return moment_critical_learning_rate(problem, method, order)


def moment_threshold_bracket(
    problem: Quadratic, method: MethodLike, order: int,
) -> tuple[float, float]:
    """Bounds ``(lower, upper)`` on the ``k``-th moment threshold for every ``k ≥ 1``.

    Statement: equal (the exact :func:`moment_threshold`) for even ``k`` and for
    one-dimensional states. For odd ``k`` otherwise, Lyapunov's inequality
    ``(E‖z‖^j)^{1/j} ≤ (E‖z‖^k)^{1/k}`` (``j ≤ k``) gives ``η*_{k+1} ≤ η*_k ≤ η*_{k−1}``; for
    ``k = 1`` the upper end is the threshold of the mean dynamics ``E z_{t+1} = E[A] E z_t``
    (bounded ``E‖z‖`` forces a bounded mean), i.e. the full-batch edge.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    order : int
        Order k of the moment (k = 2 is the mean square).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import moment_threshold_bracket
    >>> problem = Quadratic.from_hessians([np.diag([1.0, 2.0]), np.diag([3.0, 2.0])])
    >>> low, high = moment_threshold_bracket(problem, SGD(1), 3)
    >>> bool(low < high)
    True
    """
    system = bind(problem, method)
    order = check_positive_integer(order, "order")
    rank = system.true_reduced.rank
    scalar = (
        system.dynamics.blocks * rank == 1 and system.dynamics.gradient_step_scale() is not None
    )
    if scalar or order % 2 == 0 or rank == 0:
        value = moment_threshold(problem, method, order)
        return value, value
    lower = moment_threshold(problem, method, order + 1)
    if order == 1:
        full_batch = replace(system.dynamics, batch=BatchLaw(None), noise=None)
        mean = Quadratic(system.problem.hessian, tolerance=system.problem.tolerance)
        upper = critical_learning_rate(mean, full_batch)
    else:
        upper = moment_threshold(problem, method, order - 1)
    return lower, upper


@bound("lower", _CITATION + " (k → ∞: every batch contracts)")
def infinite_moment_threshold(problem: Quadratic, method: MethodLike) -> float:
    """The limit ``η*_∞ = lim_k η*_k``: the largest ``η`` with ``max_B ‖I − η H_B‖ ≤ 1``.

    Statement: for a plain gradient step ``A_B = I − η H_B`` is symmetric, so
    ``‖A_{B_t} ⋯ A_{B_1}‖ ≤ max_B ‖A_B‖^t`` and every moment stays bounded when every
    batch contracts, ``η ≤ 2 / max_B λ_max(H_B)``; conversely, beyond it one batch
    expands and repeats with probability ``π_B^t``, so ``E‖δ_t‖^k ≥ (π_B ‖A_B‖^k)^t → ∞``
    for ``k`` large. ``η*_∞`` is a lower bound on every ``η*_k`` (hence an upper bound
    only in the limit); in one dimension, ``max_B |1 − η h_B| ≤ 1``. Computed by
    :func:`stability.numeric.infinite_moment_critical_learning_rate`.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import infinite_moment_threshold
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> infinite_moment_threshold(problem, SGD(1))  # 2 / max h
    0.6666666666666666
    """
    return infinite_moment_critical_learning_rate(problem, method)


def almost_sure_threshold(problem: Quadratic, method: MethodLike) -> float:
    """The first learning rate at which a one-dimensional problem is no longer almost-surely stable.

    Statement: in one dimension ``γ(η) = E log|1 − η h_B|``; between consecutive
    singular points ``1/h_B`` it is a sum of concave functions, so its sign changes at
    most twice there, and the unstable set ``{γ ≥ 0}`` is computed exactly. The returned
    value is ``inf {η > 0 : γ(η) ≥ 0}``. It is at least every moment threshold ``η*_k``
    (Jensen: ``γ ≤ (1/k) log E|1 − η h_B|^k``), and the stable set need not be an interval
    (it always contains a neighbourhood of each ``1/h_B``). Computed by
    :func:`stability.numeric.almost_sure_critical_learning_rate`.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Raises
    ------
    InvalidInputError
        If the problem is not one-dimensional with a plain gradient step (use
        :func:`stability.numeric.lyapunov_exponent` there).

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import almost_sure_threshold, moment_threshold
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> round(almost_sure_threshold(problem, SGD(1)), 6)  # (η − 1)(3η − 1) = 1 at η = 4/3
    1.333333
    >>> moment_threshold(problem, SGD(1), 2)
    0.8
    """
    return almost_sure_critical_learning_rate(problem, method)
