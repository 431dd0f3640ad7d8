"""Mean-square stability conditions as SymPy relationals or sets in the learning rate.

Theory: ``docs/theory/operator.md``. ``ρ(T(η))`` is continuous in ``η`` and equals 1 only at
roots of ``det(T(η) − I)``, so between consecutive positive roots stability does not
change. The condition is therefore a union of open intervals whose end points are roots:

* gradient steps (GD, SGD, variational GD): exactly ``0 < η < η*`` — ``T`` is
  self-adjoint and ``λ_max(T(η)) < 1 ⇔ η D < 2C`` (Mulayoff & Michaeli 2023);
* other dynamics of numbers (momentum): every gap between positive roots is tested at a
  rational point, so the returned set is the whole stable set;
* other parametric dynamics: the stable interval ``0 < η < η*`` that starts at ``η = 0``.

Examples
--------
>>> import sympy
>>> from stability import SGD
>>> from stability.symbolic import stability_condition, symbols_problem
>>> stability_condition(symbols_problem(1, 2), SGD(1, replacement=True))
(eta > 0) & (eta < 2*(h_1 + h_2)/(h_1**2 + h_2**2))
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Literal

import mpmath
import numpy as np
import sympy

from stability.errors import InvalidInputError, InvalidTypeError
from stability.symbolic._operators import read_dynamics
from stability.symbolic._problems import LEARNING_RATE, as_symbolic_problem
from stability.symbolic._thresholds import (
    ThresholdDerivation,
    exact_symmetric_terms,
    threshold_derivation,
)

__all__ = ["stability_condition", "stable_set"]

Form = Literal["relational", "set"]


def _spectral_radius(terms: list[np.ndarray], point: sympy.Rational) -> float:
    """``ρ(T(x))`` at a rational point, in floats, or at 50 digits when close to one."""
    value = sum(term * point**power for power, term in enumerate(terms))
    matrix = np.array(value.tolist(), dtype=float)
    radius = float(np.max(np.abs(np.linalg.eigvals(matrix))))
    if abs(radius - 1.0) > 1e-6:
        return radius
    with mpmath.workdps(50):
        exact_matrix = mpmath.matrix(
            [[mpmath.mpf(x.numerator) / x.denominator for x in row] for row in value.tolist()]
        )
        eigenvalues = mpmath.eig(exact_matrix, left=False, right=False)
        return float(max(abs(e) for e in eigenvalues))


def _rational_between(low: sympy.Expr, high: sympy.Expr) -> sympy.Rational:
    if high is sympy.oo:
        return sympy.Rational(sympy.ceiling(low)) + 1
    middle = (low.evalf(40) + high.evalf(40)) / 2
    return sympy.Rational(sympy.nsimplify(middle, rational=True))


def stable_set(
    hessians: Any,
    method: Any,
    *,
    mixing: Any = None,
    domain: Mapping[Any, Any] | None = None,
    derivation: ThresholdDerivation | None = None,
) -> sympy.Set:
    """The set of mean-square stable learning rates, a union of open intervals.

    Parameters are those of :func:`stability_condition`; ``derivation`` may pass an
    already computed :func:`threshold_derivation` of the same input.

    Parameters
    ----------
    hessians : SymbolicQuadratic or per-sample Hessians
        Any form :func:`as_symbolic_problem` accepts.
    method : Method or LinearDynamics
        The optimiser; momentum may be a SymPy symbol.
    mixing : number or SymPy expression, optional
        Override the batch law's ``p`` (e.g. a symbol ``p`` in ``[0, 1]``).
    domain : dict, optional
        ``{symbol: sympy.Interval}`` overriding the default domains.
    derivation : ThresholdDerivation | None, default None
        An already computed :func:`threshold_derivation` of the same input, reused; None derives
        it.

    Examples
    --------
    >>> from stability import GD, HeavyBall
    >>> from stability.symbolic import from_data, stable_set
    >>> stable_set([[[2, 0], [0, 1]]], GD())
    Interval.open(0, 1)
    >>> stable_set(from_data([[1, 0], [0, 1], [1, 1]]), HeavyBall(0.5, batch_size=1))
    Interval.open(0, 15/4 - 3*sqrt(13)/4)
    """
    problem = as_symbolic_problem(hessians)
    if derivation is None:
        derivation = threshold_derivation(problem, method, mixing=mixing, domain=domain)
    value = derivation.value
    if value is sympy.oo:
        return sympy.Interval.open(0, sympy.oo)
    dynamics = read_dynamics(method, problem.samples, mixing=mixing)
    if derivation.route != "exact" or dynamics.dynamics.gradient_step_scale() is not None:
        return sympy.Interval.open(0, value)
    terms, _ = exact_symmetric_terms(problem, dynamics)
    roots = [sympy.Integer(0), *derivation.candidates, sympy.oo]
    stable = sympy.EmptySet
    for low, high in itertools.pairwise(roots):
        if _spectral_radius(terms, _rational_between(low, high)) < 1:
            stable = sympy.Union(stable, sympy.Interval.open(low, high))
    return stable


def stability_condition(
    hessians: Any,
    method: Any,
    *,
    lr: Any = LEARNING_RATE,
    mixing: Any = None,
    domain: Mapping[Any, Any] | None = None,
    form: Form = "relational",
    derivation: ThresholdDerivation | None = None,
) -> sympy.Basic:
    """The mean-square stability condition in the learning rate (and the other symbols).

    Theory: ``docs/theory/operator.md``, ``docs/theory/threshold.md`` and
    ``docs/theory/methods.md``. Stable means ``ρ(T(η)) < 1``; the condition is ``0 < η < η*`` with
    the derived threshold (see :func:`critical_learning_rate`), or a union of such intervals when
    stability comes back between larger roots (checked exactly for numbers).

    Parameters
    ----------
    hessians : SymbolicQuadratic or per-sample Hessians
        Any form :func:`as_symbolic_problem` accepts.
    method : Method or LinearDynamics
        The optimiser.
    lr : sympy.Symbol, default ``eta``
        The learning-rate symbol of the condition.
    mixing : number or SymPy expression, optional
        Override the batch law's ``p``.
    domain : dict, optional
        ``{symbol: sympy.Interval}`` overriding the default domains of the symbols.
    form : {"relational", "set"}, default "relational"
        A SymPy boolean such as ``(eta > 0) & (eta < 2/lambda)``, or a set of ``η``.
    derivation : ThresholdDerivation, optional
        The :func:`threshold_derivation` of the same input, if already computed.

    Raises
    ------
    NoClosedFormError
        When :func:`critical_learning_rate` has no closed form for the input.

    Examples
    --------
    >>> import sympy
    >>> from stability import HeavyBall
    >>> from stability.symbolic import stability_condition
    >>> beta, lam = sympy.symbols("beta lambda", positive=True)
    >>> stability_condition([lam], HeavyBall(beta))
    (eta > 0) & (eta < 2*(beta + 1)/lambda)
    >>> stability_condition([lam], HeavyBall(beta), form="set")
    Interval.open(0, 2*(beta + 1)/lambda)
    """
    if not isinstance(lr, sympy.Symbol):
        raise InvalidTypeError(f"lr must be a SymPy symbol for a condition; got {lr!r}")
    if form not in ("relational", "set"):
        raise InvalidInputError(f"form must be 'relational' or 'set'; got {form!r}")
    region = stable_set(hessians, method, mixing=mixing, domain=domain, derivation=derivation)
    if form == "set":
        return region
    pieces = region.args if isinstance(region, sympy.Union) else (region,)
    conditions = []
    for piece in pieces:
        parts = [sympy.StrictGreaterThan(lr, piece.start, evaluate=False)]
        if piece.end is not sympy.oo:
            parts.append(sympy.StrictLessThan(lr, piece.end, evaluate=False))
        conditions.append(sympy.And(*parts, evaluate=False) if len(parts) > 1 else parts[0])
    return conditions[0] if len(conditions) == 1 else sympy.Or(*conditions, evaluate=False)
