"""Domains of the symbols and sign decisions under them.

A parametric threshold is the smallest *positive* root of ``det(T(η) − I)``: choosing it
needs the signs of candidate roots, which depend on where the symbols live. A domain maps
each symbol to a real interval; signs are decided on the interior of the domain by
rewriting every symbol through a positive variable (``(lo, hi) ∋ lo + (hi − lo) t/(1 + t)``,
``(lo, ∞) ∋ lo + t``), after which SymPy's assumption system can often settle the sign of
a rational expression.

Default domains (overridable with ``domain={symbol: Interval(...)}``):

* symbols of the Hessians: as declared (``positive=True``, ``real=True``, …); a symbol
  declared with no sign or realness is assumed positive;
* symbols of the method's coefficients (its hyper-parameters, e.g. the momentum ``β``):
  ``[0, 1)``, the range the methods accept for numbers;
* a symbolic batch weight ``p``: ``[0, 1]``.

Examples
--------
>>> import sympy
>>> from stability.symbolic import decide_positive, substitution
>>> beta, lam = sympy.symbols("beta lambda")
>>> domain = {beta: sympy.Interval.Ropen(0, 1), lam: sympy.Interval.open(0, sympy.oo)}
>>> decide_positive((beta - 1) / (beta * lam), substitution(domain))
False
>>> decide_positive(2 * (1 + beta) / lam, substitution(domain))
True
>>> decide_positive(beta - lam, substitution(domain)) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sympy

from stability.errors import InvalidInputError, InvalidTypeError

__all__ = [
    "Domain",
    "as_relationals",
    "decide_positive",
    "default_domain",
    "prune_minimum",
    "substitution",
]

Domain = dict[sympy.Symbol, sympy.Interval]

POSITIVE = sympy.Interval.open(0, sympy.oo)
NONNEGATIVE = sympy.Interval(0, sympy.oo)
HYPER_PARAMETER = sympy.Interval.Ropen(0, 1)
PROBABILITY = sympy.Interval(0, 1)


def _declared(symbol: sympy.Symbol) -> sympy.Interval:
    if symbol.is_positive:
        return POSITIVE
    if symbol.is_nonnegative:
        return NONNEGATIVE
    if symbol.is_negative:
        return sympy.Interval.open(-sympy.oo, 0)
    if symbol.is_nonpositive:
        return sympy.Interval(-sympy.oo, 0)
    if symbol.is_real:
        return sympy.Reals
    return POSITIVE


def default_domain(
    problem_symbols: Iterable[sympy.Symbol],
    hyper_symbols: Iterable[sympy.Symbol],
    mixing_symbols: Iterable[sympy.Symbol] = (),
    domain: Mapping[Any, Any] | None = None,
) -> Domain:
    """The domain of every symbol: declared or default, then the caller's ``domain``.

    Parameters
    ----------
    problem_symbols : Iterable[sympy.Symbol]
        Symbols of the problem (Hessian entries), positive unless declared otherwise.
    hyper_symbols : Iterable[sympy.Symbol]
        Symbols of the method's hyperparameters, in [0, 1) unless declared otherwise.
    mixing_symbols : Iterable[sympy.Symbol], default ()
        Symbols of the mixing weight p, in [0, 1] unless declared otherwise.
    domain : Mapping[Any, Any] | None, default None
        ``{symbol: sympy.Interval}`` overriding the defaults; None keeps them.

    Examples
    --------
    >>> import sympy
    >>> from stability.symbolic import default_domain
    >>> h, beta = sympy.Symbol("h"), sympy.Symbol("beta", positive=True)
    >>> default_domain([h], [beta])
    {h: Interval.open(0, oo), beta: Interval.open(0, 1)}
    """
    result: Domain = {}
    for symbol in problem_symbols:
        result[symbol] = _declared(symbol)
    for symbol in mixing_symbols:
        result[symbol] = PROBABILITY.intersect(_declared_or_real(symbol))
    for symbol in hyper_symbols:
        if symbol not in result:
            result[symbol] = HYPER_PARAMETER.intersect(_declared_or_real(symbol))
    if domain is not None and not isinstance(domain, Mapping):
        raise InvalidTypeError(
            "domain must be a mapping {symbol: Interval(...)}; "
            f"got {type(domain).__name__}"
        )
    for symbol, interval in (domain or {}).items():
        if not isinstance(symbol, sympy.Symbol):
            raise InvalidTypeError(f"domain keys must be SymPy symbols; got {symbol!r}")
        if not isinstance(interval, sympy.Interval):
            if interval == sympy.Reals:
                interval = sympy.Interval(-sympy.oo, sympy.oo)
            else:
                raise InvalidTypeError(
                    f"domain[{symbol}] must be a SymPy Interval; got {type(interval).__name__}"
                )
        if interval.measure == 0:
            raise InvalidInputError(f"domain[{symbol}] must be an interval of positive length")
        result[symbol] = interval
    for symbol, interval in result.items():
        if not isinstance(interval, sympy.Interval) and interval != sympy.Reals:
            raise InvalidInputError(
                f"the domain of {symbol} is {interval}, which contradicts its declared "
                "assumptions; pass domain={symbol: Interval(...)} consistent with them"
            )
    return result


def _declared_or_real(symbol: sympy.Symbol) -> sympy.Set:
    declared = _declared(symbol)
    if declared == POSITIVE and symbol.is_positive is None:
        return sympy.Reals  # no declaration at all: the default applies
    return declared


def substitution(domain: Mapping[sympy.Symbol, sympy.Set]) -> dict[sympy.Symbol, sympy.Expr]:
    """Each symbol rewritten through a positive variable that sweeps its domain's interior.

    Parameters
    ----------
    domain : Mapping[sympy.Symbol, sympy.Set]
        ``{symbol: sympy.Set}``, each symbol's domain.

    Examples
    --------
    >>> import sympy
    >>> from stability.symbolic import substitution
    >>> beta = sympy.Symbol("beta")
    >>> rewritten = substitution({beta: sympy.Interval.Ropen(0, 1)})[beta]
    >>> (t,) = rewritten.free_symbols
    >>> t.is_positive, rewritten.subs(t, 1), sympy.limit(rewritten, t, sympy.oo)
    (True, 1/2, 1)
    """
    result: dict[sympy.Symbol, sympy.Expr] = {}
    for symbol, interval in domain.items():
        if interval == sympy.Reals:
            result[symbol] = sympy.Dummy(symbol.name, real=True)
            continue
        low, high = interval.start, interval.end
        t = sympy.Dummy(symbol.name, positive=True)
        if low.is_finite and high.is_finite:
            result[symbol] = low + (high - low) * t / (1 + t)
        elif low.is_finite:
            result[symbol] = low + t
        elif high.is_finite:
            result[symbol] = high - t
        else:
            result[symbol] = sympy.Dummy(symbol.name, real=True)
    return result


#: Expressions with more operations than this are not simplified when deciding signs.
_SIMPLIFY_OPERATIONS = 200
#: Differences with more operations than this are not compared when pruning a minimum.
_COMPARE_OPERATIONS = 80


def _has_radicals(expression: sympy.Expr) -> bool:
    return any(not power.exp.is_integer for power in expression.atoms(sympy.Pow))


def decide_positive(
    expression: sympy.Expr, rewrite: Mapping[sympy.Symbol, sympy.Expr]
) -> bool | None:
    """Whether ``expression > 0`` on the interior of the domain: True, False, or None (unknown).

    ``rewrite`` is :func:`substitution` of the domain. False means ``expression ≤ 0``.

    Parameters
    ----------
    expression : sympy.Expr
        A SymPy expression.
    rewrite : Mapping[sympy.Symbol, sympy.Expr]
        The :func:`substitution` of the domain.

    Examples
    --------
    >>> import sympy
    >>> from stability.symbolic import decide_positive, substitution
    >>> p = sympy.Symbol("p")
    >>> rewrite = substitution({p: sympy.Interval(0, 1)})
    >>> decide_positive(1 - p, rewrite), decide_positive(p - 2, rewrite)
    (True, False)
    >>> print(decide_positive(2 * p - 1, rewrite))
    None
    """
    value = sympy.sympify(expression).xreplace(dict(rewrite))
    candidates = [value]
    if _has_radicals(value) and sympy.count_ops(value) > _SIMPLIFY_OPERATIONS:
        return value.is_positive or (False if value.is_nonpositive else None)
    try:
        candidates.append(sympy.factor(sympy.cancel(sympy.together(value))))
    except sympy.PolynomialError:  # pragma: no cover - non-polynomial expressions
        pass
    for candidate in candidates:
        if candidate.is_positive:
            return True
        if candidate.is_nonpositive:
            return False
    if sympy.count_ops(candidates[-1]) > _SIMPLIFY_OPERATIONS:
        return None
    simplified = sympy.simplify(candidates[-1])
    if simplified.is_positive:
        return True
    if simplified.is_nonpositive:
        return False
    return None


def prune_minimum(
    values: list[sympy.Expr], rewrite: Mapping[sympy.Symbol, sympy.Expr]
) -> sympy.Expr:
    """``Min`` of ``values`` without the ones provably not smaller than another.

    Parameters
    ----------
    values : list[sympy.Expr]
        Candidate expressions of the minimum.
    rewrite : Mapping[sympy.Symbol, sympy.Expr]
        The :func:`substitution` of the domain.

    Examples
    --------
    >>> import sympy
    >>> from stability.symbolic import prune_minimum, substitution
    >>> beta = sympy.Symbol("beta")
    >>> rewrite = substitution({beta: sympy.Interval.Ropen(0, 1)})
    >>> prune_minimum([1 + beta, 2 + 2 * beta, sympy.Integer(3)], rewrite)
    beta + 1
    """
    kept: list[sympy.Expr] = []
    for value in values:
        if value is sympy.oo:
            continue
        dominated = False
        for other in list(kept):
            difference = value - other
            if sympy.count_ops(difference) > _COMPARE_OPERATIONS:
                continue  # too large to compare cheaply: keep both in the minimum
            if sympy.cancel(sympy.together(difference)) == 0:
                dominated = True
                break
            if decide_positive(difference, rewrite) is True:
                dominated = True
                break
            if decide_positive(-difference, rewrite) is True:
                kept.remove(other)
        if not dominated:
            kept.append(value)
    if not kept:
        return sympy.oo
    return kept[0] if len(kept) == 1 else sympy.Min(*kept, evaluate=False)


def as_relationals(domain: Mapping[sympy.Symbol, sympy.Set]) -> tuple[sympy.Basic, ...]:
    """The domain as relationals, e.g. ``(beta >= 0) & (beta < 1)`` (unbounded reals omitted).

    Parameters
    ----------
    domain : Mapping[sympy.Symbol, sympy.Set]
        ``{symbol: sympy.Set}``, each symbol's domain.

    Examples
    --------
    >>> import sympy
    >>> from stability.symbolic import as_relationals
    >>> beta, h = sympy.Symbol("beta"), sympy.Symbol("h", positive=True)
    >>> as_relationals({h: sympy.Interval.open(0, sympy.oo), beta: sympy.Interval.Ropen(0, 1)})
    ((beta >= 0) & (beta < 1), h > 0)
    """
    result = []
    for symbol, interval in sorted(domain.items(), key=lambda item: item[0].name):
        if interval == sympy.Reals or (
            isinstance(interval, sympy.Interval)
            and interval.start == -sympy.oo
            and interval.end == sympy.oo
        ):
            continue
        parts = []
        if interval.start != -sympy.oo:
            relation = sympy.StrictGreaterThan if interval.left_open else sympy.GreaterThan
            parts.append(relation(symbol, interval.start, evaluate=False))
        if interval.end != sympy.oo:
            relation = sympy.StrictLessThan if interval.right_open else sympy.LessThan
            parts.append(relation(symbol, interval.end, evaluate=False))
        result.append(parts[0] if len(parts) == 1 else sympy.And(*parts, evaluate=False))
    return tuple(result)
