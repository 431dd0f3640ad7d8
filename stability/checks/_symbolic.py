"""The symbolic layer's side of :func:`stability.checks.check`: when to consult it, how to read it.

:mod:`stability.symbolic` is imported lazily (SymPy is slow to load) and only for small
problems by default; whatever it refuses or fails on is reported, never raised.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from stability.checks._comparisons import exact_comparison
from stability.checks._report import Comparison
from stability.dynamics import LinearDynamics
from stability.errors import StabilityError
from stability.problems import Quadratic

__all__ = [
    "SYMBOLIC_FAILURES",
    "SYMBOLIC_STATE_LIMIT",
    "SYMBOLIC_THRESHOLD_LIMIT",
    "describe",
    "operator_comparison",
    "symbolic_layer",
    "threshold_comparison",
    "to_float",
]

#: Largest state size ``m d`` for which the symbolic operator is consulted by default.
SYMBOLIC_STATE_LIMIT = 6
#: Largest reduced state ``m · rank(H)`` for which the exact symbolic ``η*`` is computed by
#: default (an algebraic number from a polynomial determinant: seconds at 3, a minute at 4).
SYMBOLIC_THRESHOLD_LIMIT = 3
#: What the symbolic layer may raise on a problem it cannot handle: the package's own
#: errors, and SymPy's arithmetic failures (e.g. PrecisionExhausted deciding a sign).
SYMBOLIC_FAILURES = (StabilityError, ArithmeticError)


def symbolic_layer(
    problem: Quadratic, dynamics: LinearDynamics, use: bool | None
) -> tuple[Any, Any, str]:
    """``(operator function, threshold function, status)`` of :mod:`stability.symbolic`.

    By default (``use=None``) the operator is consulted for states of size
    ``m d ≤ SYMBOLIC_STATE_LIMIT`` and the exact threshold (an algebraic number, costly)
    for reduced states ``m · rank(H) ≤ SYMBOLIC_THRESHOLD_LIMIT``; ``use=True`` forces both.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    dynamics : LinearDynamics
        The method's recursion.
    use : bool or None
        ``check``'s ``symbolic`` argument.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.checks._symbolic import symbolic_layer
    >>> symbolic_layer(Quadratic(np.eye(7)), GD().dynamics(), None)[2]
    'skipped (state size m·d = 7 > 6)'
    >>> symbolic_layer(Quadratic(np.eye(2)), GD().dynamics(), False)
    (None, None, 'not requested')
    """
    state = dynamics.blocks * problem.dimension
    reduced_state = dynamics.blocks * problem.reduced().rank
    if use is False:
        return None, None, "not requested"
    if use is None and state > SYMBOLIC_STATE_LIMIT:
        return None, None, f"skipped (state size m·d = {state} > {SYMBOLIC_STATE_LIMIT})"
    module = importlib.import_module("stability.symbolic")
    operator = getattr(module, "second_moment_operator", None)
    threshold = getattr(module, "critical_learning_rate", None)
    if operator is None and threshold is None:  # pragma: no cover - the package ships both
        return None, None, "unavailable (stability.symbolic provides neither function)"
    status = "used"
    if threshold is not None and use is None and reduced_state > SYMBOLIC_THRESHOLD_LIMIT:
        threshold = None
        status = (
            f"operator used; exact threshold skipped (reduced state m·rank = {reduced_state} "
            f"> {SYMBOLIC_THRESHOLD_LIMIT}; pass symbolic=True to force it)"
        )
    return operator, threshold, status


def describe(error: BaseException) -> str:
    """``"TypeName: first line of the message"`` (the type alone without a message).

    Parameters
    ----------
    error : BaseException
        What the symbolic layer raised.

    Examples
    --------
    >>> from stability.checks._symbolic import describe
    >>> describe(ValueError("too large\\nmore")), describe(ArithmeticError())
    ('ValueError: too large', 'ArithmeticError')
    """
    message = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def to_float(value: Any) -> np.ndarray:
    """A SymPy number or matrix (or a plain one) as floats.

    Parameters
    ----------
    value : Any
        What the symbolic layer returned.

    Examples
    --------
    >>> import sympy
    >>> from stability.checks._symbolic import to_float
    >>> to_float(sympy.Matrix([[sympy.Rational(1, 4), sympy.sqrt(2)]]))
    array([[0.25      , 1.41421356]])
    """
    if hasattr(value, "evalf"):
        value = value.evalf()
    return np.array(value, dtype=float)


def threshold_comparison(
    function: Any, problem: Quadratic, dynamics: LinearDynamics, threshold: float
) -> tuple[float | None, Comparison | None, str | None]:
    """The symbolic ``η*`` against the numeric one: ``(value, comparison, why declined)``.

    Parameters
    ----------
    function : callable
        :func:`stability.symbolic.critical_learning_rate`.
    problem : Quadratic
        The minimum.
    dynamics : LinearDynamics
        The method's recursion.
    threshold : float
        The numeric ``η*``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.checks._symbolic import threshold_comparison
    >>> value, comparison, declined = threshold_comparison(
    ...     lambda problem, dynamics: 1.0, Quadratic(np.eye(1) * 2), GD().dynamics(), 1.0
    ... )
    >>> value, comparison.passed, declined
    (1.0, True, None)
    """
    try:
        value = float(to_float(function(problem, dynamics)))
    except SYMBOLIC_FAILURES as error:  # too large, no closed form, or input refused
        return None, None, f"operator used; threshold declined ({describe(error)})"
    comparison = exact_comparison("critical learning rate η*", "numeric–symbolic", threshold, value)
    return value, comparison, None


def operator_comparison(
    function: Any, problem: Quadratic, dynamics: LinearDynamics, lr: float, numeric: Any
) -> tuple[Comparison | None, str | None]:
    """The symbolic operator at ``lr`` against the numeric one: ``(comparison, note)``.

    Parameters
    ----------
    function : callable
        :func:`stability.symbolic.second_moment_operator`.
    problem : Quadratic
        The minimum.
    dynamics : LinearDynamics
        The method's recursion.
    lr : float
        ``η``.
    numeric : callable
        ``numeric(problem, dynamics, lr)``: the numeric operator in ``vec`` coordinates
        (:func:`stability.numeric.dense_operator`); called only when the symbolic one
        answers.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.checks._symbolic import operator_comparison
    >>> def refuse(problem, dynamics, lr):
    ...     raise ArithmeticError("no")
    >>> operator_comparison(refuse, Quadratic(np.eye(1)), GD().dynamics(), 0.5, None)
    (None, 'symbolic operator declined (ArithmeticError: no)')
    """
    try:
        symbolic = to_float(function(problem, dynamics, lr=lr))
    except SYMBOLIC_FAILURES as error:  # the symbolic layer declined this problem
        return None, f"symbolic operator declined ({describe(error)})"
    tested = numeric(problem, dynamics, lr)
    name = "operator T(η) in vec coordinates"
    return exact_comparison(name, "numeric–symbolic", tested, symbolic), None
