"""From a derived expression to a fast numeric function (a thin layer over ``sympy.lambdify``).

Examples
--------
>>> import numpy as np
>>> from stability import SGD
>>> from stability.symbolic import critical_learning_rate, lambdify, symbols_problem
>>> threshold = lambdify(critical_learning_rate(symbols_problem(1, 2), SGD(1, replacement=True)))
>>> threshold.arguments
(h_1, h_2)
>>> threshold(1.0, 3.0)  # 2 · 4 / (1 + 9)
0.8
>>> threshold(np.array([1.0, 2.0]), 3.0)
array([0.8       , 0.76923077])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from stability.errors import InvalidInputError, InvalidTypeError

__all__ = ["NumericFunction", "lambdify"]


@dataclass(frozen=True, eq=False)
class NumericFunction:
    """A compiled numeric version of a symbolic expression (scalar or matrix).

    Call it with the values of :attr:`arguments` in order, or by name
    (``f(h_1=1.0, h_2=3.0)``); arrays broadcast. A scalar expression returns a float for
    scalar input and an array otherwise; a matrix returns an array.

    Attributes
    ----------
    expression : sympy.Basic
        The expression it computes.
    arguments : tuple of sympy.Symbol
        The symbols, in the order of the positional arguments.
    function : callable
        The compiled function of the positional arguments (from :func:`sympy.lambdify`).
    """

    expression: Any
    arguments: tuple[sympy.Symbol, ...]
    function: Callable[..., Any]

    def __call__(self, *values: Any, **named: Any) -> Any:
        """Evaluate at the given values."""
        if named:
            names = {symbol.name: index for index, symbol in enumerate(self.arguments)}
            ordered: list[Any] = list(values) + [None] * (len(self.arguments) - len(values))
            for name, value in named.items():
                if name not in names:
                    raise InvalidInputError(
                        f"unknown argument {name!r}; the arguments are "
                        f"{', '.join(s.name for s in self.arguments)}"
                    )
                ordered[names[name]] = value
            values = tuple(ordered)
        if len(values) != len(self.arguments) or any(v is None for v in values):
            raise InvalidInputError(
                f"expected values for {len(self.arguments)} arguments "
                f"({', '.join(s.name for s in self.arguments)}); got {len(values)}"
            )
        arrays = np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in values])
        with np.errstate(divide="ignore", invalid="ignore"):
            result = self.function(*arrays)
        result = np.asarray(result, dtype=float)
        if isinstance(self.expression, sympy.MatrixBase):
            return result
        if result.ndim == 0:
            return float(result)
        return np.broadcast_to(result, arrays[0].shape if arrays else result.shape).copy()


def _numeric_roots(expression: Any) -> Any:
    """Replace exact algebraic roots (``CRootOf``) by 30-digit floats, which lambdify can print."""
    return expression.replace(
        lambda e: isinstance(e, sympy.CRootOf), lambda e: sympy.Float(e.evalf(30), 30)
    )


def lambdify(
    expression: Any, arguments: Sequence[sympy.Symbol] | None = None, *, modules: Any = "numpy"
) -> NumericFunction:
    """Turn a derived expression (threshold, operator, moment, …) into a numeric function.

    Parameters
    ----------
    expression : SymPy expression or matrix
        For instance :func:`critical_learning_rate` or :func:`second_moment_operator` output.
    arguments : sequence of sympy.Symbol, optional
        The argument order; default: the free symbols sorted by name.
    modules : str or list, default "numpy"
        Passed to :func:`sympy.lambdify`.

    Examples
    --------
    >>> import sympy
    >>> from stability import GD
    >>> from stability.symbolic import lambdify, second_moment_operator
    >>> lam, eta = sympy.Symbol("lambda", positive=True), sympy.Symbol("eta", positive=True)
    >>> operator = lambdify(second_moment_operator([lam], GD()), [eta, lam])
    >>> operator(0.5, 2.0)
    array([[0.]])
    """
    if not isinstance(expression, sympy.Basic):
        try:
            expression = sympy.sympify(expression)
        except sympy.SympifyError:
            raise InvalidTypeError(
                f"expression must be a SymPy expression or matrix; got {type(expression).__name__}"
            ) from None
    expression = _numeric_roots(expression)
    symbols = expression.free_symbols
    if arguments is None:
        ordered = tuple(sorted(symbols, key=lambda s: s.name))
    else:
        ordered = tuple(arguments)
        missing = symbols - set(ordered)
        if missing:
            raise InvalidInputError(
                "arguments must include every free symbol of the expression; missing "
                f"{', '.join(sorted(s.name for s in missing))}"
            )
    function = sympy.lambdify(ordered, expression, modules=modules, dummify=True)
    return NumericFunction(expression, ordered, function)
