"""Learning-rate schedules: the mean square under ``η_t`` and the steps spent above ``η*``.

With a schedule the recursion is ``z_{t+1} = A_t(η_t) z_t + b_t``: still linear, with a
different second-moment map at every step, so the exact second moment is carried forward by

    S_{t+1} = 𝒯(η_t)(S_t) + N(η_t),        E‖z_t‖² = tr S_t,

where ``𝒯(η)(S) = E[A S Aᵀ]`` is the operator of ``docs/theory/operator.md`` and ``N`` the
second moment of the additive noise (zero except for variational GD). Each step is applied
matrix-free on ``md × md`` matrices from the per-sample Hessians and the batch law's mixing
weight ``p`` (``E[H_B X H_B] = (1 − p) H X H + p (1/n) Σ_i H_i X H_i``), so the cost is
``O(m² n d²)`` per step for data problems and ``O(m² n d³)`` otherwise. A step whose
learning rate is above the constant-rate threshold ``η*`` is not by itself a divergence: what
counts is the product of the maps, which :func:`predicted_schedule_mean_square` computes
exactly and :func:`simulate_schedule` checks by Monte Carlo.

Examples
--------
>>> import numpy as np
>>> from stability import GD, Quadratic
>>> from stability.schedules import schedule_report, warmup_cosine
>>> schedule = warmup_cosine(1.2, steps=20, warmup=5)
>>> report = schedule_report(Quadratic(np.diag([2.0, 1.0])), GD(), schedule)
>>> report.critical_learning_rate, report.above.tolist()  # η* = 1: steps with η_t > 1
(1.0, [4, 5, 6, 7, 8, 9])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from stability._system import bind
from stability._validation import as_finite_array, check_positive_integer
from stability.errors import InvalidInputError
from stability.methods import as_dynamics
from stability.numeric import SecondMomentOperator
from stability.problems import Quadratic, as_problem

__all__ = [
    "ScheduleReport",
    "ScheduleSimulation",
    "as_schedule",
    "constant",
    "predicted_schedule_mean_square",
    "schedule_report",
    "simulate_schedule",
    "step_decay",
    "warmup_cosine",
]


def as_schedule(learning_rates: Any) -> np.ndarray:
    """Check a sequence of learning rates ``η_0, …, η_{T−1}`` (finite, positive).

    Parameters
    ----------
    learning_rates : Any
        Learning rates, one per step.

    Examples
    --------
    >>> from stability.schedules import as_schedule
    >>> as_schedule([0.1, 0.2])
    array([0.1, 0.2])
    """
    schedule = as_finite_array(learning_rates, "schedule", 1)
    if np.any(schedule <= 0):
        raise InvalidInputError(
            f"schedule must hold positive learning rates; step {int(np.argmin(schedule))} is "
            f"{float(schedule.min())}"
        )
    return schedule


def constant(lr: float, steps: int) -> np.ndarray:
    """``η_t = lr`` for ``steps`` steps.

    Parameters
    ----------
    lr : float
        Learning rate η.
    steps : int
        Number of steps.

    Examples
    --------
    >>> from stability.schedules import constant
    >>> constant(0.5, 3)
    array([0.5, 0.5, 0.5])
    """
    steps = check_positive_integer(steps, "steps")
    return as_schedule(np.full(steps, float(lr)))


def warmup_cosine(
    peak: float, steps: int, *, warmup: int = 0, final: float = 0.0, initial: float = 0.0
) -> np.ndarray:
    """Linear warm-up from ``initial`` to ``peak`` over ``warmup`` steps, then cosine to ``final``.

    ``η_t = initial + (peak − initial)(t + 1)/warmup`` for ``t < warmup`` (the last warm-up
    step reaches the peak), then ``final + ½ (peak − final)(1 + cos(π s / S))`` with
    ``s = t − warmup`` and ``S = steps − warmup``. A rate of exactly zero is replaced by
    ``1e-12 · peak`` so that every step has a positive learning rate.

    Parameters
    ----------
    peak : float
        The largest learning rate.
    steps : int
        ``T``, the length of the schedule.
    warmup : int, default 0
        Warm-up steps.
    final : float, default 0
        The learning rate approached at the end of the cosine.
    initial : float, default 0
        The learning rate the warm-up starts from.

    Examples
    --------
    >>> from stability.schedules import warmup_cosine
    >>> warmup_cosine(1.0, 6, warmup=2).round(3)
    array([0.5 , 1.  , 1.  , 0.854, 0.5 , 0.146])
    """
    steps = check_positive_integer(steps, "steps")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup <= steps:
        raise InvalidInputError(f"warmup must be an integer in [0, steps={steps}]; got {warmup!r}")
    peak = float(peak)
    t = np.arange(steps, dtype=float)
    rates = np.empty(steps)
    if warmup:
        rates[:warmup] = initial + (peak - initial) * (t[:warmup] + 1) / warmup
    decay = steps - warmup
    if decay:
        s = t[warmup:] - warmup
        rates[warmup:] = final + 0.5 * (peak - final) * (1 + np.cos(np.pi * s / decay))
    return as_schedule(np.maximum(rates, 1e-12 * peak))


def step_decay(initial: float, steps: int, *, every: int, factor: float = 0.1) -> np.ndarray:
    """``η_t = initial · factor^{⌊t / every⌋}`` (step decay, e.g. ``StepLR``).

    Parameters
    ----------
    initial : float
        Learning rate of the first ``every`` steps.
    steps : int
        Number of steps.
    every : int
        Number of steps between two decays.
    factor : float, default 0.1
        Factor multiplying the learning rate at each decay.

    Examples
    --------
    >>> from stability.schedules import step_decay
    >>> step_decay(1.0, 5, every=2, factor=0.5)
    array([1.  , 1.  , 0.5 , 0.5 , 0.25])
    """
    steps = check_positive_integer(steps, "steps")
    every = check_positive_integer(every, "every")
    return as_schedule(float(initial) * float(factor) ** (np.arange(steps) // every))


class _Step:
    """The affine second-moment map of one step, matrix-free, in the original coordinates.

    ``𝒯(η)`` is the package's one operator
    (:class:`~stability.numeric.SecondMomentOperator`) acting on the full ``m d``
    state (the mean Hessian ``H`` as a matrix, so the null space of ``H`` is followed too),
    and ``E[H_B X H_B]`` its batch sandwich (:class:`~stability.numeric.BatchSandwich`).
    """

    def __init__(self, problem: Quadratic, method: Any) -> None:
        self.dynamics = as_dynamics(method)
        self.blocks = self.dynamics.blocks
        self.dimension = problem.dimension
        self.mixing = float(self.dynamics.batch.mixing(problem.samples))
        self.hessian = np.asarray(problem.hessian, dtype=float)
        factors = stack = None
        if self.mixing and problem.samples is not None and problem.data is not None:
            factors = np.asarray(problem.data, dtype=float)[:, None, :]  # H_i = x_i x_iᵀ
        elif self.mixing:
            stack = np.asarray(problem.per_sample_hessians(), dtype=float)
        self.operator = SecondMomentOperator(
            bind(problem, self.dynamics),
            eigenvalues=self.hessian,
            factors=factors,
            hessians=stack,
            mixing=self.mixing,
            identity=self.dynamics.identity_part.numeric_coefficients(),
            hessian=self.dynamics.hessian_part.numeric_coefficients(),
            rate_factor=1.0,
        )
        self.sandwich = self.operator.sandwich
        noise = self.dynamics.noise
        self.covariance = None if noise is None else noise.covariance_matrix(self.dimension)

    def apply(self, moment: np.ndarray, lr: float) -> np.ndarray:
        """``𝒯(η)(S) + N(η)`` for ``S`` of shape ``(m, d, m, d)``."""
        hessian = self.hessian
        blocks = np.transpose(moment, (0, 2, 1, 3))  # (m, m, d, d)
        result = np.transpose(self.operator.apply_blocks(blocks, lr), (0, 2, 1, 3))
        if self.covariance is not None:
            u, w = self.dynamics.noise.evaluate(lr)
            cov = self.covariance
            result = result + (
                np.einsum("i,j,ab->iajb", u, u, cov)
                + np.einsum("i,j,ab->iajb", u, w, cov @ hessian)
                + np.einsum("i,j,ab->iajb", w, u, hessian @ cov)
                + np.einsum("i,j,ab->iajb", w, w, self.sandwich(cov))
            )
        return 0.5 * (result + np.transpose(result, (2, 3, 0, 1)))


def _start(problem: Quadratic, blocks: int, init: Any) -> np.ndarray:
    dimension = problem.dimension
    if init is None:
        return np.tile(np.full(dimension, 1.0 / math.sqrt(dimension)), blocks)
    start = as_finite_array(init, "init", 1)
    if start.shape[0] == dimension:
        return np.tile(start, blocks)
    if start.shape[0] == blocks * dimension:
        return start
    raise InvalidInputError(
        f"init must have d={dimension} or m·d={blocks * dimension} entries; got {start.shape[0]}"
    )


def predicted_schedule_mean_square(
    problem: Quadratic, method: Any, schedule: Any, *, init: Any = None
) -> np.ndarray:
    """The exact ``E‖z_t‖²`` for ``t = 0..T`` under the learning rates ``η_0, …, η_{T−1}``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser (i.i.d. batches; reshuffled epochs are in :mod:`stability.reshuffling`).
    schedule : array_like
        ``η_t`` for every step (e.g. :func:`warmup_cosine`).
    init : array_like, optional
        ``δ_0`` (length ``d``; for momentum ``δ_{−1} = δ_0``) or a full state (length
        ``m d``). Default ``(1, …, 1)/√d``, as :func:`stability.predicted_mean_square`.

    Returns
    -------
    ndarray, shape (T + 1,)
        ``E‖z_t‖²``; values that overflow are ``inf``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.schedules import predicted_schedule_mean_square
    >>> predicted_schedule_mean_square(Quadratic(np.array([[2.0]])), GD(), [0.25, 1.5], init=[1.0])
    array([1.  , 0.25, 1.  ])
    """
    problem = as_problem(problem)
    schedule = as_schedule(schedule)
    step = _Step(problem, method)
    start = _start(problem, step.blocks, init).reshape(step.blocks, problem.dimension)
    moment = np.einsum("ia,jb->iajb", start, start)
    values = np.full(schedule.size + 1, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(schedule.size + 1):
            trace = float(np.einsum("iaia->", moment))
            if not np.isfinite(trace):
                break
            values[t] = trace
            if t < schedule.size:
                moment = step.apply(moment, float(schedule[t]))
    return values


@dataclass(frozen=True)
class ScheduleReport:
    """A schedule against the constant-rate threshold, with the predicted mean square.

    Attributes
    ----------
    learning_rates : ndarray
        ``η_t``.
    critical_learning_rate : float
        ``η*`` of the method at a constant learning rate.
    above : ndarray of int
        The steps ``t`` with ``η_t > η*``.
    mean_square : ndarray
        ``E‖z_t‖²``, ``t = 0..T`` (:func:`predicted_schedule_mean_square`).
    """

    learning_rates: np.ndarray
    critical_learning_rate: float
    above: np.ndarray
    mean_square: np.ndarray

    @property
    def peak_growth(self) -> float:
        """``max_t E‖z_t‖² / E‖z_0‖²``: how far the schedule lifts the mean square."""
        return float(np.max(self.mean_square) / self.mean_square[0])


def schedule_report(
    problem: Quadratic, method: Any, schedule: Any, *, init: Any = None
) -> ScheduleReport:
    """The steps at which ``η_t > η*`` and the exact mean square under the schedule.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    schedule : Any
        Learning-rate schedule: one learning rate per step.
    init : Any, default None
        Initial deviation from the minimum (a d-vector, or a full state); None uses the default
        start.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.schedules import schedule_report, step_decay
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> report = schedule_report(problem, SGD(1), step_decay(2.0, 6, every=2, factor=0.5))
    >>> round(report.critical_learning_rate, 6), report.above.tolist()  # η* = 3 − √3
    (1.267949, [0, 1])
    """
    problem = as_problem(problem)
    schedule = as_schedule(schedule)
    import stability  # the public API, which re-exports this module

    threshold = stability.critical_learning_rate(problem, method)
    return ScheduleReport(
        learning_rates=schedule,
        critical_learning_rate=float(threshold),
        above=np.flatnonzero(schedule > threshold),
        mean_square=predicted_schedule_mean_square(problem, method, schedule, init=init),
    )


@dataclass(frozen=True)
class ScheduleSimulation:
    """Monte Carlo of the recursion under a schedule.

    Attributes
    ----------
    mean_square : ndarray, shape (T + 1,)
        Sample mean of ``‖z_t‖²``.
    standard_error : ndarray, shape (T + 1,)
        Its standard error.
    runs : int
        Independent runs.
    seed : int or None
        The seed.
    """

    mean_square: np.ndarray
    standard_error: np.ndarray
    runs: int
    seed: int | None

    def interval(self, confidence: float = 0.999) -> tuple[np.ndarray, np.ndarray]:
        """Normal confidence band for the mean square at level ``confidence``.

        Parameters
        ----------
        confidence : float, default 0.999
            Confidence level of the interval, in (0, 1).
        """
        half = float(scipy.stats.norm.ppf(0.5 + confidence / 2)) * self.standard_error
        return self.mean_square - half, self.mean_square + half


def simulate_schedule(
    problem: Quadratic,
    method: Any,
    schedule: Any,
    *,
    runs: int,
    seed: int | None = None,
    init: Any = None,
) -> ScheduleSimulation:
    """Simulate ``runs`` trajectories under the learning rates ``η_t``, batches drawn i.i.d.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    schedule : Any
        Learning-rate schedule: one learning rate per step.
    runs : int
        Number of independent Monte Carlo runs.
    seed : int | None, default None
        Seed of the random generator (reproducible runs).
    init : Any, default None
        Initial deviation from the minimum (a d-vector, or a full state); None uses the default
        start.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.schedules import simulate_schedule
    >>> result = simulate_schedule(Quadratic(np.array([[2.0]])), GD(), [0.25, 1.5], runs=2,
    ...                            init=[1.0])
    >>> result.mean_square
    array([1.  , 0.25, 1.  ])
    """
    problem = as_problem(problem)
    schedule = as_schedule(schedule)
    runs = check_positive_integer(runs, "runs")
    dynamics = as_dynamics(method)
    blocks, dimension = dynamics.blocks, problem.dimension
    start = _start(problem, blocks, init).reshape(blocks, dimension)
    state = np.broadcast_to(start, (runs, blocks, dimension)).copy()
    rng = np.random.default_rng(seed)
    law = dynamics.batch
    samples = problem.samples
    law.validate(samples)
    data = problem.data if samples is not None else None
    stack = (
        None if data is not None or samples is None else np.asarray(problem.per_sample_hessians())
    )
    hessian = np.asarray(problem.hessian, dtype=float)
    squares = [np.sum(state**2, axis=(1, 2))]
    for lr in schedule:
        identity = dynamics.identity_part.evaluate(lr)
        gradient = dynamics.hessian_part.evaluate(lr)
        if law.full:
            curved = np.einsum("ab,rkb->rka", hessian, state)
            weights = None
        else:
            weights = law.sample_weights(samples, runs, rng)
            curved = _batch_times(weights, state, data, stack)
        new = np.einsum("ij,rja->ria", identity, state) + np.einsum("ij,rja->ria", gradient, curved)
        if dynamics.noise is not None:
            u, w = dynamics.noise.evaluate(lr)
            draws = dynamics.noise.sampler(rng, runs, dimension)
            if weights is None:
                pushed = draws @ hessian
            else:
                pushed = _batch_times(weights, draws[:, None, :], data, stack)[:, 0]
            new = new + u[None, :, None] * draws[:, None, :] + w[None, :, None] * pushed[:, None]
        state = new
        squares.append(np.sum(state**2, axis=(1, 2)))
    values = np.array(squares)
    error = values.std(axis=1, ddof=1) / math.sqrt(runs) if runs > 1 else 0 * values[:, 0]
    return ScheduleSimulation(values.mean(axis=1), error, runs, seed)


def _batch_times(
    weights: np.ndarray, state: np.ndarray, data: np.ndarray | None, stack: np.ndarray | None
) -> np.ndarray:
    """``H_B z_k`` for every run and block: ``state`` ``(R, m, d)``, ``weights`` ``(R, n)``."""
    if data is not None:
        x = np.asarray(data)
        projections = np.einsum("rka,na->rkn", state, x) * weights[:, None, :]
        return np.einsum("rkn,na->rka", projections, x)
    return np.einsum("rn,nab,rkb->rka", weights, stack, state, optimize=True)
