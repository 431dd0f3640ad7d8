"""LaTeX for every symbolic result: operators, thresholds, derivations, conditions, sets.

Examples
--------
>>> import sympy
>>> from stability import GD, SGD
>>> from stability.symbolic import (
...     critical_learning_rate, second_moment_operator, stability_condition, to_latex,
... )
>>> lam = sympy.Symbol("lambda", positive=True)
>>> print(to_latex(critical_learning_rate([lam], GD())))
\\frac{2}{\\lambda}
>>> print(to_latex(stability_condition([lam], GD())))
0 < \\eta < \\frac{2}{\\lambda}
>>> print(to_latex(second_moment_operator([lam], GD())))
\\left[\\begin{matrix}\\eta^{2} \\lambda^{2} - 2 \\eta \\lambda + 1\\end{matrix}\\right]
"""

from __future__ import annotations

from typing import Any

import sympy

__all__ = ["to_latex"]


def _interval_condition(condition: sympy.Basic) -> str | None:
    """``lo < x < hi`` for ``(x > lo) & (x < hi)``, else None."""
    if not isinstance(condition, sympy.And) or len(condition.args) != 2:
        return None
    lower = upper = None
    for part in condition.args:
        if isinstance(part, sympy.StrictGreaterThan | sympy.GreaterThan):
            lower = part
        elif isinstance(part, sympy.StrictLessThan | sympy.LessThan):
            upper = part
    if lower is None or upper is None or lower.lhs != upper.lhs:
        return None
    left = "<" if isinstance(lower, sympy.StrictGreaterThan) else r"\leq"
    right = "<" if isinstance(upper, sympy.StrictLessThan) else r"\leq"
    return (
        f"{sympy.latex(lower.rhs)} {left} {sympy.latex(lower.lhs)} {right} {sympy.latex(upper.rhs)}"
    )


def to_latex(value: Any) -> str:
    """LaTeX for a symbolic result of :mod:`stability.symbolic`.

    Handles SymPy expressions, matrices, sets and relationals (``(η > 0) & (η < c)`` is
    written ``0 < η < c``, a union of such intervals with ``\\lor``), and objects with a
    ``latex()`` method such as :class:`ThresholdDerivation`.

    Parameters
    ----------
    value : SymPy object or ThresholdDerivation
        What to render.

    Examples
    --------
    >>> import sympy
    >>> from stability.symbolic import to_latex
    >>> x = sympy.Symbol("x")
    >>> print(to_latex(sympy.And(x > 0, x < 1)))
    0 < x < 1
    """
    method = getattr(value, "latex", None)
    if callable(method):
        return method()
    if isinstance(value, sympy.Basic):
        interval = _interval_condition(value)
        if interval is not None:
            return interval
        if isinstance(value, sympy.Or):
            return r" \lor ".join(to_latex(part) for part in value.args)
    return sympy.latex(value)
