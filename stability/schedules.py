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

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stability._starts import initial_states
from stability._validation import as_finite_array, check_positive_integer
from stability.dynamics import LinearDynamics
from stability.errors import DimensionError, InvalidInputError
from stability.methods import Method, MethodLike, as_dynamics
from stability.numeric import SecondMomentRecursion, second_moment_recursion
from stability.problems import ProblemLike, Quadratic, as_problem
from stability.simulation import normal_radius

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


def _recursion_at(first: SecondMomentRecursion, lr: float) -> SecondMomentRecursion:
    """``first`` at another learning rate: the same bound system and operator, the
    coefficients ``F(η), G(η)`` and ``u(η), w(η)`` evaluated at ``lr`` (no rebinding)."""
    system = first.operator.system
    identity, gradient = system.parts(lr)
    noise_identity, noise_gradient = system.noise_parts(lr) or (None, None)
    return dataclasses.replace(
        first,
        learning_rate=lr,
        identity=identity,
        gradient=gradient,
        noise_identity=noise_identity,
        noise_gradient=noise_gradient,
    )


def _mean_square_under(
    problem: Quadratic, method: MethodLike, schedule: np.ndarray, init: Any
) -> np.ndarray:
    """``tr S_t``, ``t = 0..T``, from ``S_{t+1} = 𝒯(η_t)(S_t) + N(η_t)``.

    Each step is the package's one affine second-moment map at ``η_t``
    (:func:`stability.numeric.second_moment_recursion`: the operator applied
    matrix-free on ``md × md`` matrices in the original coordinates, null space of ``H``
    included); the loop over the steps is the schedule's.
    """
    first = second_moment_recursion(problem, method, float(schedule[0]))
    moment = first.initial_moment(init)
    values = np.full(schedule.size + 1, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(schedule.size + 1):
            trace = float(np.trace(moment))
            if not np.isfinite(trace):
                break
            values[t] = trace
            if t < schedule.size:
                recursion = first if t == 0 else _recursion_at(first, float(schedule[t]))
                moment = recursion.apply(moment)
                if recursion.noise_covariance is not None:
                    moment = moment + recursion.noise()
                moment = 0.5 * (moment + moment.T)
    return values


def predicted_schedule_mean_square(
    problem: ProblemLike, method: MethodLike, schedule: Any, *, init: Any = None
) -> np.ndarray:
    """The exact ``E‖z_t‖²`` for ``t = 0..T`` under the learning rates ``η_0, …, η_{T−1}``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser (i.i.d. batches, a frozen preconditioner allowed: ``E‖δ_t‖²`` in the
        original coordinates; reshuffled epochs are in :mod:`stability.reshuffling`).
    schedule : array_like
        ``η_t`` for every step (e.g. :func:`warmup_cosine`).
    init : array_like, optional
        ``δ_0`` (length ``d``; for momentum ``δ_{−1} = δ_0``), a full state (length
        ``m d``), or one start per row (then ``S_0`` is their mean outer product). Default:
        the default start of :func:`stability.predicted_mean_square` and of the simulator.

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
    return _mean_square_under(as_problem(problem), method, as_schedule(schedule), init)


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
    problem: ProblemLike, method: MethodLike, schedule: Any, *, init: Any = None
) -> ScheduleReport:
    """The steps at which ``η_t > η*`` and the exact mean square under the schedule.

    Parameters
    ----------
    problem, method, schedule, init
        As in :func:`predicted_schedule_mean_square`.

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
        half = normal_radius(self.standard_error**2, 1, 1.0 - confidence)
        return self.mean_square - half, self.mean_square + half


def simulate_schedule(
    problem: ProblemLike,
    method: MethodLike,
    schedule: Any,
    *,
    runs: int,
    seed: int | None = None,
    init: Any = None,
) -> ScheduleSimulation:
    """Simulate ``runs`` trajectories under the learning rates ``η_t``, batches drawn i.i.d.

    A frozen preconditioner is applied as the optimiser applies it, ``P⁻¹ (H_B + μ I)`` on
    ``δ`` (an independent check of the congruence the prediction uses); the default start is
    that of the prediction.

    Parameters
    ----------
    problem, method, schedule
        As in :func:`predicted_schedule_mean_square`.
    runs : int
        Number of independent Monte Carlo runs.
    seed : int | None, default None
        Seed of the random generator (reproducible runs).
    init : array_like, optional
        As in :func:`predicted_schedule_mean_square`; a 2-D ``init`` gives one start per
        run (``runs`` rows).

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
    if isinstance(method, Method):  # a frozen preconditioner is applied in δ, as simulate does
        dynamics = method.dynamics()
    else:
        dynamics = as_dynamics(method)
    blocks, dimension = dynamics.blocks, problem.dimension
    preconditioning = dynamics.preconditioning
    if preconditioning is not None and dynamics.noise is not None:
        raise InvalidInputError(
            "method must not combine a frozen preconditioner with additive noise in "
            "simulate_schedule"
        )
    starts = initial_states(
        init, dimension, blocks, problem=problem, preconditioning=preconditioning
    )
    if starts.ndim == 2 and starts.shape[0] != runs:
        raise DimensionError(
            f"init must hold one start per run ({runs} rows) when it is 2-D; got {starts.shape[0]}"
        )
    state = np.broadcast_to(starts.reshape(-1, blocks, dimension), (runs, blocks, dimension))
    state = state.copy()
    rng = np.random.default_rng(seed)
    law = dynamics.batch
    samples = problem.samples
    law.validate(samples)
    data = problem.data if samples is not None else None
    stack = (
        None if data is not None or samples is None else np.asarray(problem.per_sample_hessians())
    )
    hessian = np.asarray(problem.hessian, dtype=float)
    draw_noise = None if dynamics.noise is None else _noise_sampler(dynamics, dimension)
    inverse = None if preconditioning is None else preconditioning.inverse_factor(dimension)
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
        if preconditioning is not None:  # P⁻¹ (H_B + μ I) in the original coordinates
            curved = _preconditioned(curved + float(preconditioning.shift) * state, inverse)
        new = np.einsum("ij,rja->ria", identity, state) + np.einsum("ij,rja->ria", gradient, curved)
        if draw_noise is not None:
            u, w = dynamics.noise.evaluate(lr)
            draws = draw_noise(rng, runs)
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


def _preconditioned(vectors: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """``P⁻¹ v`` for every row of ``vectors`` (``inverse``: the diagonal or the matrix)."""
    return vectors * inverse if inverse.ndim == 1 else vectors @ inverse


def _noise_sampler(dynamics: LinearDynamics, dimension: int) -> Any:
    """``(rng, runs) ↦`` draws of ``ε`` ``(runs, d)``: the noise's own sampler, or Gaussian
    draws with its covariance (``Cov ε = C``, through a square root of ``C``)."""
    noise = dynamics.noise
    if noise.sampler is not None:
        return lambda rng, runs: np.asarray(noise.sampler(rng, runs, dimension), dtype=float)
    covariance = noise.covariance_matrix(dimension)
    eigenvalues, vectors = np.linalg.eigh(0.5 * (covariance + covariance.T))
    factor = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    return lambda rng, runs: rng.standard_normal((runs, dimension)) @ factor.T


def _batch_times(
    weights: np.ndarray, state: np.ndarray, data: np.ndarray | None, stack: np.ndarray | None
) -> np.ndarray:
    """``H_B z_k`` for every run and block: ``state`` ``(R, m, d)``, ``weights`` ``(R, n)``."""
    if data is not None:
        x = np.asarray(data)
        projections = np.einsum("rka,na->rkn", state, x) * weights[:, None, :]
        return np.einsum("rkn,na->rka", projections, x)
    return np.einsum("rn,nab,rkb->rka", weights, stack, state, optimize=True)
