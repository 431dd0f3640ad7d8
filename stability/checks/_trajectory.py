"""The short trajectory: predicted ``E‖z_t‖²`` to the informative horizon, simulated, compared.

Theory: ``docs/monte-carlo.md``. The horizon is the longest ``t ≤ 30`` where the guaranteed
band's range term (from the simulator's a-priori bound on ``‖z_t‖²``) is at most half the
predicted noise-free ``E‖z_t‖²``; the prediction is stepped only that far.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from stability._starts import initial_states
from stability.checks._comparisons import trajectory_comparison
from stability.checks._operator import StackOperator
from stability.checks._report import Comparison
from stability.checks._setup import RateSetup, Stream
from stability.checks._statistics import MAX_HORIZON, informative
from stability.simulation import growth_bound, simulate

__all__ = ["horizon_and_prediction", "predicted_traces", "quiet_horizon", "trajectory_check"]


def predicted_traces(
    apply: StackOperator, moment: np.ndarray, noise: np.ndarray | None, steps: int
) -> np.ndarray:
    """``tr S_t``, ``t = 0..steps``, of ``S_{t+1} = T(S_t) + N`` (``N = 0`` without noise).

    Parameters
    ----------
    apply : callable
        ``T`` on stacks ``(k, md, md)``.
    moment : ndarray, shape (md, md)
        ``S_0``.
    noise : ndarray or None
        ``N``.
    steps : int
        The last time.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._trajectory import predicted_traces
    >>> predicted_traces(lambda stack: 0.5 * stack, np.eye(2), np.eye(2), 3)
    array([2.  , 3.  , 3.5 , 3.75])
    """
    traces = np.empty(steps + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            traces[t] = np.trace(moment)
            if t < steps:
                moment = apply(moment[None])[0]
                if noise is not None:
                    moment = moment + noise
    return traces


def quiet_horizon(
    apply: StackOperator, moment: np.ndarray, range_bound: np.ndarray, runs: int, share: float
) -> tuple[int, np.ndarray]:
    """The longest informative horizon, with the noise-free ``tr S_t`` up to one past it.

    Steps the noise-free prediction only until the guaranteed band stops being
    informative (:func:`~stability.checks._statistics.informative`, Bonferroni over the
    ``len(range_bound) − 1`` times), instead of to the longest horizon.

    Parameters
    ----------
    apply : callable
        ``T`` on stacks ``(k, md, md)``.
    moment : ndarray, shape (md, md)
        ``S_0``.
    range_bound : ndarray, shape (last + 1,)
        The a-priori bound on ``‖z_t‖²`` of every run.
    runs : int
        The trajectory's runs.
    share : float
        The trajectory comparison's false-alarm probability.

    Returns
    -------
    horizon : int
        At least one.
    traces : ndarray
        ``tr S_t`` for ``t = 0 … ≥ horizon``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._trajectory import quiet_horizon
    >>> bound = np.array([1.0, 2.0, 1e9, 1e9])  # uninformative from t = 2 on
    >>> horizon, traces = quiet_horizon(lambda stack: stack, np.eye(1), bound, 10_000, 1e-6)
    >>> horizon, traces
    (1, array([1., 1., 1.]))
    """
    last = len(range_bound) - 1
    traces = [float(np.trace(moment))]
    horizon = 1
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, last + 1):
            moment = apply(moment[None])[0]
            traces.append(float(np.trace(moment)))
            if not informative(traces[t], range_bound[t], runs, share, last):
                break
            horizon = t
    return horizon, np.array(traces)


def _range_bound(setup: RateSetup, steps: int) -> np.ndarray:
    """The simulator's a-priori bound on ``‖z_t‖²``, ``t = 0..steps``, of the noise-free runs."""
    system, options = setup.system, setup.options
    starts = initial_states(options.init, system.problem.dimension, system.dynamics.blocks)
    start_norm = float(np.max(np.sum(np.atleast_2d(starts) ** 2, axis=1)))
    quiet = dataclasses.replace(system.dynamics, noise=None)
    return start_norm * growth_bound(system.problem, quiet, setup.lr, steps)


def horizon_and_prediction(setup: RateSetup, share: float) -> tuple[int, np.ndarray]:
    """The trajectory length and the predicted ``E‖z_t‖²`` up to it.

    A given ``horizon`` is taken as it is; a deterministic recursion (full batch, no noise,
    one start) is compared exactly over ``MAX_HORIZON`` steps; otherwise the longest
    informative horizon (:func:`quiet_horizon`), with the noisy prediction stepped only
    that far (the noise-free one is reused without noise).

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    share : float
        The trajectory comparison's false-alarm probability.
    """
    options, recursion = setup.options, setup.recursion
    dynamics = setup.system.dynamics
    start = recursion.initial_moment(options.init)
    noise = recursion.noise() if dynamics.noise is not None else None
    if options.horizon is not None:
        return options.horizon, predicted_traces(setup.apply, start, noise, options.horizon)
    starts = initial_states(options.init, setup.system.problem.dimension, dynamics.blocks)
    if dynamics.batch.full and noise is None and starts.ndim == 1:  # deterministic: exact band
        return MAX_HORIZON, predicted_traces(setup.apply, start, None, MAX_HORIZON)
    bound = _range_bound(setup, MAX_HORIZON)
    horizon, quiet = quiet_horizon(setup.apply, start, bound, options.runs, share)
    if noise is None:
        return horizon, quiet[: horizon + 1]
    return horizon, predicted_traces(setup.apply, start, noise, horizon)


def trajectory_check(
    setup: RateSetup, streams: list[Any], share: float
) -> tuple[np.ndarray, Any, Comparison]:
    """The predicted and simulated ``E‖z_t‖²`` up to the informative horizon, compared.

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    streams : list of SeedSequence
        The rate's child streams.
    share : float
        The comparison's false-alarm probability.

    Returns
    -------
    predicted : ndarray, shape (horizon + 1,)
        The exact ``E‖z_t‖²``.
    trajectory : SimulationResult
        The simulated trajectory.
    comparison : Comparison
        The band comparison.
    """
    horizon, predicted = horizon_and_prediction(setup, share)
    system, options = setup.system, setup.options
    trajectory = simulate(
        system.problem, system.dynamics, setup.lr, steps=horizon, runs=options.runs,
        seed=streams[Stream.TRAJECTORY], init=options.init, executor=options.executor,
        chunk_size=options.chunk_size, progress=options.progress,
    )  # fmt: skip
    return predicted, trajectory, trajectory_comparison(trajectory, predicted, share)
