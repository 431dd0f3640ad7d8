""":func:`check`: validate the options, pick the rates, consult the layers, report."""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from stability._system import System, bind
from stability._validation import (
    as_seed_sequence,
    check_false_alarm,
    check_learning_rate,
    check_positive_integer,
)
from stability.checks._operator import OperatorLike
from stability.checks._rate import RateOptions, check_rate
from stability.checks._report import CheckReport, Comparison
from stability.checks._symbolic import symbolic_layer, threshold_comparison
from stability.errors import InvalidInputError, InvalidTypeError
from stability.numeric import critical_learning_rate
from stability.problems import Quadratic
from stability.progress import ProgressMeter
from stability.simulation import DEFAULT_CHUNK_SIZE, DEFAULT_FALSE_ALARM

if TYPE_CHECKING:
    from stability.methods import MethodLike

__all__ = ["check", "check_margin", "rates_to_check"]


def check_margin(margin: Any) -> float:
    """``margin`` as a float in ``(0, 1)``.

    Parameters
    ----------
    margin : Any
        ``check``'s ``margin`` argument.

    Raises
    ------
    InvalidTypeError
        If it is not a number.
    InvalidInputError
        If it is outside ``(0, 1)``.

    Examples
    --------
    >>> from stability.checks._check import check_margin
    >>> check_margin("0.1")
    0.1
    """
    try:
        margin = float(margin)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"margin must be a number; got {margin!r}") from None
    if not 0.0 < margin < 1.0:
        raise InvalidInputError(f"margin must lie in (0, 1); got {margin}")
    return margin


def rates_to_check(
    system: System, threshold: float, lr: Any, margin: float, operator: Any
) -> list[float]:
    """``[lr]``, or ``(1 ∓ margin) η*`` without ``lr``.

    Parameters
    ----------
    system : System
        The bound problem and method.
    threshold : float
        ``η*``.
    lr : float or None
        ``check``'s ``lr``.
    margin : float
        The relative distance from ``η*``.
    operator : Any
        ``check``'s operator under test (which needs ``lr``).

    Raises
    ------
    InvalidInputError
        If ``lr`` is missing for an operator under test or for a problem stable at every rate.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.checks._check import rates_to_check
    >>> from stability._system import bind
    >>> rates_to_check(bind(Quadratic(np.eye(1)), GD()), 2.0, None, 0.25, None)
    [1.5, 2.5]
    """
    if lr is not None:
        return [check_learning_rate(lr)]
    if operator is not None:
        raise InvalidInputError("an operator under test is given at one rate: pass lr")
    if not math.isfinite(threshold):
        raise InvalidInputError(
            f"{system.dynamics.name} is stable at every learning rate on this problem (η* = ∞); "
            "pass lr"
        )
    return [(1.0 - margin) * threshold, (1.0 + margin) * threshold]


def _options(
    runs: Any,
    horizon: Any,
    false_alarm: Any,
    init: Any,
    executor: Any,
    progress: Any,
    chunk_size: int,
) -> RateOptions:
    """``check``'s per-rate options, validated."""
    runs = check_positive_integer(runs, "runs")
    if runs < 2:
        raise InvalidInputError(f"runs must be at least 2 for a confidence band; got {runs}")
    if horizon is not None:
        horizon = check_positive_integer(horizon, "horizon")
    false_alarm = check_false_alarm(false_alarm)
    return RateOptions(runs, horizon, false_alarm, init, executor, progress, chunk_size)


def check(
    problem: Quadratic,
    method: MethodLike,
    lr: float | None = None,
    *,
    seed: int | np.random.SeedSequence | None = None,
    runs: int = 20_000,
    horizon: int | None = None,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    margin: float = 0.05,
    init: Any = None,
    symbolic: bool | None = None,
    operator: OperatorLike | None = None,
    executor: Executor | None = None,
    progress: bool | ProgressMeter = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> CheckReport:
    """Check the numeric layer, the symbolic layer and simulation against each other.

    At ``lr`` (or, without it, at ``(1 ∓ margin) η*``) the exact verdict
    ``ρ(T(η)) < 1`` is computed and the layers are compared: the numeric operator with an
    independent matrix-free one (and with the symbolic layer on small problems), and the
    prediction with simulation through one-step estimates of ``T(Σ)`` on probe matrices,
    of the growth along the top mode, of the noise moment, and a short trajectory of
    ``E‖z_t‖²`` (see the module documentation and ``docs/monte-carlo.md``).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float, optional
        The learning rate to check; default: both ``(1 − margin) η*`` and ``(1 + margin) η*``.
    seed : int or numpy.random.SeedSequence, optional
        Seed of every random stream (probes, simulations).
    runs : int, default 20000
        Runs of the trajectory simulation; the one-step probes use ten times as many (one
        step is cheap; at most 4,000,000 / (m d) runs).
    horizon : int, optional
        The trajectory length; default the longest ``t ≤ 30`` where the guaranteed band is
        informative (its range term at most half the predicted value).
    false_alarm : float, default 1e-6
        Probability, per checked rate, of reporting disagreement when every layer is right
        (guaranteed for noise-free dynamics; asymptotic for the noise comparisons).
    margin : float, default 0.05
        Relative distance from ``η*`` of the two rates checked when ``lr`` is not given.
    init : array_like, optional
        The trajectory's start (as in :func:`stability.simulation.simulate`).
    symbolic : bool, optional
        Consult the symbolic layer. ``None`` (default): its operator when the state size
        ``m d ≤ 6`` and its exact ``η*`` when ``m · rank(H) ≤ 3``; ``True``: both, whatever
        the size (may be slow); ``False``: never.
    operator : callable or ndarray, optional
        An operator under test replacing the numeric prediction: a function mapping an
        ``md × md`` matrix ``S`` to ``T(S)``, or a ``((md)², (md)²)`` matrix in the row-major
        ``vec`` basis (as :func:`stability.second_moment_operator`). Needs ``lr``.
    executor : concurrent.futures.Executor, optional
        Runs the simulations' chunks in parallel.
    progress : bool or ProgressMeter, default False
        Progress of the trajectory simulations.
    chunk_size : int, default 1024
        Runs per random stream of the simulations.

    Returns
    -------
    CheckReport
        ``.agrees``, ``.stable`` (at ``lr``), the numbers behind them, a readable ``str()``.

    Raises
    ------
    InvalidInputError
        If ``lr`` is missing for an operator under test or for a problem stable at every rate.
    SizeLimitError
        If the reduced operator is too large to handle densely.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic, critical_learning_rate
    >>> from stability.checks import check
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> eta = critical_learning_rate(problem, SGD(1))
    >>> report = check(problem, SGD(1), 1.25 * eta, seed=0, runs=4000)
    >>> report.agrees, report.stable
    (True, False)
    """
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    options = _options(runs, horizon, false_alarm, init, executor, progress, chunk_size)
    margin = check_margin(margin)
    if symbolic is not None and not isinstance(symbolic, bool):
        raise InvalidTypeError(f"symbolic must be True, False or None; got {symbolic!r}")
    threshold = critical_learning_rate(problem, dynamics)
    rates = rates_to_check(system, threshold, lr, margin, operator)
    symbolic_operator, symbolic_threshold_function, status = symbolic_layer(
        problem, dynamics, symbolic
    )
    comparisons: list[Comparison] = []
    symbolic_threshold = None
    if symbolic_threshold_function is not None:
        symbolic_threshold, comparison, declined = threshold_comparison(
            symbolic_threshold_function, problem, dynamics, threshold
        )
        comparisons += [] if comparison is None else [comparison]
        status = declined or status
    streams = as_seed_sequence(seed).spawn(len(rates))
    notes: list[str] = []
    checks = tuple(
        check_rate(
            system,
            rate,
            threshold,
            operator=operator,
            symbolic_operator=symbolic_operator,
            options=options,
            seed=stream,
            notes=notes,
        )
        for rate, stream in zip(rates, streams, strict=True)
    )
    if notes:
        status = "; ".join([status, *dict.fromkeys(notes)])
    return CheckReport(
        method=f"{dynamics.name} ({dynamics.batch.describe()})",
        dimension=problem.dimension,
        samples=problem.samples,
        critical_learning_rate=threshold,
        symbolic_critical_learning_rate=symbolic_threshold,
        symbolic=status,
        false_alarm=options.false_alarm,
        rates=checks,
        comparisons=tuple(comparisons),
    )
