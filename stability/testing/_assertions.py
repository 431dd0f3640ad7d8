"""Assertions for users' tests: is a rate stable, is a threshold as expected, does a bound hold.

Each assertion computes the exact threshold with the package (``docs/theory/threshold.md``,
``docs/theory/higher-moments.md``) and, when it fails, raises a subclass of
:class:`AssertionError` whose message shows the numbers and the margin, so that a failing CI
run says by how much. The failing numbers are also attributes of the exception. Bad
arguments (a negative tolerance, an unknown bound side, a problem of the wrong type) raise
the package's own exceptions (:mod:`stability.errors`), never an :class:`AssertionError`: a
broken test is not a failed one.

Examples
--------
>>> import numpy as np
>>> from stability import GD, Quadratic
>>> from stability.testing import assert_stable, assert_unstable
>>> problem = Quadratic(np.diag([4.0, 1.0]))  # η* = 2/4
>>> assert_stable(problem, GD(), 0.45)
0.5
>>> try:
...     assert_stable(problem, GD(), 0.55)
... except AssertionError as error:
...     print(error)
GD (full batch) is not mean-square stable at lr = 0.55 on Quadratic(kind='hessian', dimension=2):
the critical learning rate is η* = 0.5 and lr is 10% above it (lr/η* = 1.1).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from stability._validation import check_learning_rate, check_positive_integer
from stability.errors import InvalidInputError, InvalidTypeError
from stability.methods import as_dynamics
from stability.numeric import critical_learning_rate
from stability.problems import as_problem

__all__ = [
    "BoundViolatedError",
    "CriticalLearningRateMismatchError",
    "ExpectedStableError",
    "ExpectedUnstableError",
    "StabilityAssertionError",
    "assert_bound_holds",
    "assert_critical_learning_rate",
    "assert_stable",
    "assert_unstable",
]


class StabilityAssertionError(AssertionError):
    """An assertion of :mod:`stability.testing` failed.

    Parameters
    ----------
    message : str
        The failure message.
    actual : float
        The value the package computed (e.g. the exact threshold).
    expected : float
        The value the test asserted against.
    margin : float
        The signed relative gap that made the assertion fail.

    Attributes
    ----------
    actual : float
        The value the package computed (e.g. the exact threshold).
    expected : float
        The value the test asserted against (a learning rate, an expected threshold, a
        bound).
    margin : float
        The signed relative gap that made the assertion fail (see each subclass).
    """

    def __init__(self, message: str, *, actual: float, expected: float, margin: float) -> None:
        super().__init__(message)
        self.actual = actual
        self.expected = expected
        self.margin = margin


class ExpectedStableError(StabilityAssertionError):
    """:func:`assert_stable` failed: the learning rate is not (safely) below ``η*``."""


class ExpectedUnstableError(StabilityAssertionError):
    """:func:`assert_unstable` failed: the learning rate is not (safely) above ``η*``."""


class CriticalLearningRateMismatchError(StabilityAssertionError):
    """:func:`assert_critical_learning_rate` failed: ``η*`` differs from the expected value."""


class BoundViolatedError(StabilityAssertionError):
    """:func:`assert_bound_holds` failed: the bound is on the wrong side of ``η*``."""


def _describe(method: Any) -> str:
    dynamics = as_dynamics(method)
    extra = ""
    momentum = getattr(method, "momentum", None)
    if momentum is not None:
        extra = f", β = {momentum:g}" if isinstance(momentum, numbers.Real) else f", β = {momentum}"
    return f"{dynamics.name} ({dynamics.batch.describe()}{extra})"


def _check_fraction(value: Any, name: str) -> float:
    __tracebackhide__ = True
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0 <= value < 1:
        raise InvalidInputError(f"{name} must lie in [0, 1); got {value}")
    return value


def _check_tolerance(value: Any, name: str) -> float:
    __tracebackhide__ = True
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"{name} must be finite and non-negative; got {value}")
    return value


def _threshold(problem: Any, method: Any, order: Any) -> tuple[float, str]:
    __tracebackhide__ = True
    order = check_positive_integer(order, "order")
    if order == 2:
        return critical_learning_rate(problem, method), "mean-square"
    from stability.bounds import moment_threshold

    return moment_threshold(problem, method, order), f"order-{order} moment"


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.6g}"


def assert_stable(
    problem: Any, method: Any, lr: float, *, margin: float = 0.0, order: int = 2
) -> float:
    """Assert that ``method`` is stable on ``problem`` at ``lr``, with a relative safety margin.

    Passes when ``lr ≤ (1 − margin) η*`` and ``lr < η*``, where ``η*`` is the exact
    mean-square threshold (:func:`stability.critical_learning_rate`), or the ``order``-th
    moment threshold (:func:`stability.bounds.moment_threshold`) for ``order ≠ 2``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate that must be stable.
    margin : float, default 0
        Required relative distance below ``η*``, in ``[0, 1)``: ``0.1`` asks for ``lr`` at
        least 10% below the edge.
    order : int, default 2
        The moment whose boundedness is asserted (2: mean square).

    Returns
    -------
    float
        ``η*``.

    Raises
    ------
    ExpectedStableError
        If ``lr`` is not stable with the margin; the message shows ``lr``, ``η*``, the ratio
        and the required bound.
    InvalidInputError, InvalidTypeError
        On bad arguments.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.testing import assert_stable
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> round(assert_stable(problem, SGD(1), 1.0, margin=0.2), 6)  # η* = 3 − √3
    1.267949
    """
    __tracebackhide__ = True  # pytest shows the caller's line and the message
    problem = as_problem(problem)
    lr = check_learning_rate(lr)
    margin = _check_fraction(margin, "margin")
    threshold, kind = _threshold(problem, method, order)
    allowed = (1.0 - margin) * threshold
    if lr < threshold and lr <= allowed:
        return threshold
    ratio = lr / threshold
    above = (ratio - 1.0) * 100
    where = "above" if above > 0 else "below"
    message = (
        f"{_describe(method)} is not {kind} stable at lr = {lr:.6g} on {problem!r}:\n"
        f"the critical learning rate is η* = {_fmt(threshold)} and lr is "
        f"{abs(above):.3g}% {where} it (lr/η* = {ratio:.6g})."
    )
    if lr < threshold:
        message = (
            f"{_describe(method)} is {kind} stable at lr = {lr:.6g} on {problem!r}, but not "
            f"with the required margin {margin:g}:\nthe critical learning rate is η* = "
            f"{_fmt(threshold)} (lr/η* = {ratio:.6g}); lr must be at most (1 − {margin:g}) η* = "
            f"{allowed:.6g}."
        )
    raise ExpectedStableError(message, actual=threshold, expected=lr, margin=ratio - 1.0)


def assert_unstable(
    problem: Any, method: Any, lr: float, *, margin: float = 0.0, order: int = 2
) -> float:
    """Assert that ``method`` is unstable on ``problem`` at ``lr``: ``lr ≥ (1 + margin) η*``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate that must be unstable.
    margin : float, default 0
        Required relative distance above ``η*``, in ``[0, 1)``.
    order : int, default 2
        The moment (2: mean square).

    Returns
    -------
    float
        ``η*``.

    Raises
    ------
    ExpectedUnstableError
        If ``lr`` is below ``(1 + margin) η*``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import HeavyBall, Quadratic
    >>> from stability.testing import assert_unstable
    >>> round(assert_unstable(Quadratic(np.diag([2.0, 1.0])), HeavyBall(0.5), 1.6), 12)  # η* = 1.5
    1.5
    """
    __tracebackhide__ = True  # pytest shows the caller's line and the message
    problem = as_problem(problem)
    lr = check_learning_rate(lr)
    margin = _check_fraction(margin, "margin")
    threshold, kind = _threshold(problem, method, order)
    required = (1.0 + margin) * threshold
    if lr >= required:
        return threshold
    ratio = lr / threshold
    if lr < threshold:
        message = (
            f"{_describe(method)} is {kind} stable at lr = {lr:.6g} on {problem!r}, but it was "
            f"expected to be unstable:\nthe critical learning rate is η* = {_fmt(threshold)} "
            f"and lr is {(1 - ratio) * 100:.3g}% below it (lr/η* = {ratio:.6g})."
        )
    else:
        message = (
            f"{_describe(method)} is {kind} unstable at lr = {lr:.6g} on {problem!r}, but not "
            f"with the required margin {margin:g}:\nthe critical learning rate is η* = "
            f"{_fmt(threshold)} (lr/η* = {ratio:.6g}); lr must be at least (1 + {margin:g}) η* "
            f"= {required:.6g}."
        )
    raise ExpectedUnstableError(message, actual=threshold, expected=lr, margin=ratio - 1.0)


def assert_critical_learning_rate(
    problem: Any,
    method: Any,
    expected: float,
    *,
    rtol: float = 1e-7,
    atol: float = 0.0,
    order: int = 2,
) -> float:
    """Assert that the exact threshold ``η*`` equals ``expected`` within ``atol + rtol·|expected|``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    expected : float
        The expected ``η*`` (``math.inf`` allowed).
    rtol, atol : float
        Relative and absolute tolerances (non-negative).
    order : int, default 2
        The moment (2: the mean-square threshold).

    Returns
    -------
    float
        The computed ``η*``.

    Raises
    ------
    CriticalLearningRateMismatchError
        If ``|η* − expected| > atol + rtol·|expected|``; the message shows both values, the
        absolute and relative error and the tolerance.

    Examples
    --------
    >>> import math
    >>> from stability import SGD, Quadratic
    >>> from stability.testing import assert_critical_learning_rate
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> value = assert_critical_learning_rate(problem, SGD(1), 3 - math.sqrt(3), rtol=1e-12)
    """
    __tracebackhide__ = True  # pytest shows the caller's line and the message
    problem = as_problem(problem)
    if isinstance(expected, bool) or not isinstance(expected, numbers.Real):
        raise InvalidTypeError(f"expected must be a real number; got {expected!r}")
    expected = float(expected)
    if math.isnan(expected) or expected <= 0:
        raise InvalidInputError(f"expected must be a positive number or inf; got {expected}")
    rtol = _check_tolerance(rtol, "rtol")
    atol = _check_tolerance(atol, "atol")
    threshold, kind = _threshold(problem, method, order)
    if math.isinf(expected) or math.isinf(threshold):
        if threshold == expected:
            return threshold
        error = math.inf
        relative = math.inf
    else:
        error = abs(threshold - expected)
        relative = error / expected
        if error <= atol + rtol * abs(expected):
            return threshold
    raise CriticalLearningRateMismatchError(
        f"the {kind} critical learning rate of {_describe(method)} on {problem!r} is "
        f"η* = {_fmt(threshold)}, not the expected {_fmt(expected)}:\nabsolute error "
        f"{error:.3g}, relative error {relative:.3g}; tolerance atol + rtol·|expected| = "
        f"{atol:g} + {rtol:g}·{_fmt(expected)}.",
        actual=threshold,
        expected=expected,
        margin=relative if threshold >= expected else -relative,
    )


_SIDES = ("upper", "lower", "exact")


def assert_bound_holds(
    bound: float | Callable[..., float],
    problem: Any,
    method: Any,
    *,
    side: str | None = None,
    rtol: float = 1e-9,
    exact: float | Callable[..., float] | None = None,
) -> float:
    """Assert that a bound on the critical learning rate is on the side it claims.

    ``side="upper"`` (a necessary condition) asserts ``η* ≤ bound``; ``"lower"`` (a
    sufficient condition) asserts ``η* ≥ bound``; ``"exact"`` asserts equality; all within
    the relative tolerance ``rtol`` (for round-off). The functions of :mod:`stability.bounds`
    carry their side, so ``side`` can be left out for them.

    Parameters
    ----------
    bound : float or callable
        The bound's value, or a function ``bound(problem, method) -> float`` (such as
        :func:`stability.bounds.trace_bound`).
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    side : {"upper", "lower", "exact"}, optional
        Which side of ``η*`` the bound is on; read from ``bound.side`` when omitted.
    rtol : float, default 1e-9
        Relative slack allowed on the wrong side.
    exact : float or callable, optional
        The threshold the bound is about; default :func:`stability.critical_learning_rate`
        (pass e.g. ``lambda p, m: moment_threshold(p, m, 4)`` for another one).

    Returns
    -------
    float
        The bound's value.

    Raises
    ------
    BoundViolatedError
        If the bound is on the wrong side; the message shows both values and the gap.
    InvalidInputError
        If ``side`` is missing or unknown.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import identity_test_bound, wu_ma_e_sufficient_threshold
    >>> from stability.testing import assert_bound_holds
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> value = assert_bound_holds(identity_test_bound, problem, SGD(1))
    >>> value = assert_bound_holds(wu_ma_e_sufficient_threshold, problem, SGD(1))
    >>> try:
    ...     assert_bound_holds(1.0, problem, SGD(1), side="upper")
    ... except AssertionError as error:
    ...     print(error)
    upper bound 1 on the mean-square critical learning rate of SGD (B=1 without replacement) is
    violated on Quadratic(kind='data', dimension=2, samples=3): η* = 1.26795 > bound = 1
    (η* exceeds it by 26.8%; tolerance rtol = 1e-09).
    """
    __tracebackhide__ = True  # pytest shows the caller's line and the message
    problem = as_problem(problem)
    rtol = _check_tolerance(rtol, "rtol")
    name = "bound"
    if callable(bound):
        name = getattr(bound, "__name__", "bound")
        if side is None:
            side = getattr(bound, "side", None)
        value = bound(problem, method)
    elif isinstance(bound, numbers.Real) and not isinstance(bound, bool):
        value = bound
    else:
        raise InvalidTypeError(
            f"bound must be a number or a function (problem, method) -> number; got "
            f"{type(bound).__name__}"
        )
    if side not in _SIDES:
        raise InvalidInputError(
            f"side must be one of 'upper', 'lower', 'exact' (or carried by the bound function "
            f"as bound.side); got {side!r}"
        )
    value = float(value)
    if math.isnan(value):
        raise InvalidInputError(f"the bound {name} evaluated to NaN")
    if exact is None:
        threshold = critical_learning_rate(problem, method)
    elif callable(exact):
        threshold = float(exact(problem, method))
    else:
        threshold = float(exact)
    slack = rtol * max(
        abs(threshold) if math.isfinite(threshold) else 0.0,
        abs(value) if math.isfinite(value) else 0.0,
    )
    if side == "upper":
        holds = threshold <= value + slack
    elif side == "lower":
        holds = value <= threshold + slack
    else:
        holds = value == threshold or abs(value - threshold) <= slack
    if holds:
        return value
    label = f"{name} = {_fmt(value)}" if name != "bound" else f"bound = {_fmt(value)}"
    if math.isfinite(value) and math.isfinite(threshold) and value != 0:
        gap = (threshold - value) / abs(value)
    else:
        gap = math.inf
    relation = {"upper": ">", "lower": "<", "exact": "≠"}[side]
    header = f"{side} bound {name}" if name != "bound" else f"{side} bound {_fmt(value)}"
    detail = {
        "upper": f"η* exceeds it by {abs(gap) * 100:.3g}%",
        "lower": f"η* is {abs(gap) * 100:.3g}% below it",
        "exact": f"relative difference {abs(gap):.3g}",
    }[side]
    about = "the mean-square critical learning rate" if exact is None else "the threshold"
    raise BoundViolatedError(
        f"{header} on {about} of {_describe(method)} is "
        f"violated on {problem!r}: η* = {_fmt(threshold)} {relation} {label}\n"
        f"({detail}; tolerance rtol = {rtol:g}).",
        actual=threshold,
        expected=value,
        margin=gap,
    )
