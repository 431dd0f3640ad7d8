"""The checks at one learning rate: exact comparisons, one-step probes and a short trajectory.

Theory: ``docs/monte-carlo.md``. In order: the operator under test against the numeric
layer (and the symbolic one), the verdict against ``η*``; then, with the false-alarm
budget split equally over them, one noise-free step from the top mode (every entry, and
the growth along it), one from a random full-rank probe, one step of the noise from zero,
and the trajectory ``E‖z_t‖²`` up to the horizon where its guaranteed band is informative.

Every random stream is a child of the rate's seed with a fixed index, so a check is
reproducible from its seed whatever else changes.
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from stability.checks._comparisons import (
    growth_comparison,
    matrix_comparison,
    trajectory_comparison,
    verdict_comparison,
)
from stability.checks._operator import OperatorLike, StackOperator, operator_apply
from stability.checks._report import Comparison, RateCheck
from stability.checks._spectrum import Spectrum, predicted_spectrum
from stability.checks._statistics import (
    MAX_HORIZON,
    entry_statistics,
    informative,
    mixture_starts,
    one_step_runs,
    random_probe,
)
from stability.checks._symbolic import operator_comparison
from stability.numeric import dense_operator
from stability.numeric.prediction import SecondMomentRecursion, second_moment_recursion
from stability.progress import ProgressMeter
from stability.simulation import growth_bound, simulate, state_map_norm_bound
from stability.starts import initial_states
from stability.system import System

__all__ = [
    "RateOptions",
    "RateSetup",
    "check_rate",
    "exact_comparisons",
    "noise_comparison",
    "predicted_traces",
    "probe_comparison",
    "quiet_horizon",
    "top_mode_comparisons",
    "trajectory_check",
]

# Child streams of a rate's seed, by use (their indices fix every random number drawn).
_MIXTURE, _TOP, _PROBE, _PROBE_RUNS, _NOISE, _TRAJECTORY, _STREAMS = 0, 1, 2, 3, 4, 5, 8


@dataclass(frozen=True)
class RateOptions:
    """``check``'s options that every rate reads.

    Attributes
    ----------
    runs : int
        Runs of the trajectory simulation.
    horizon : int or None
        The trajectory length (``None``: the longest informative one).
    false_alarm : float
        The false-alarm probability per rate.
    init : Any
        The trajectory's start.
    executor : Executor or None
        Runs the simulations' chunks.
    progress : bool or ProgressMeter
        Progress of the trajectory simulations.
    chunk_size : int
        Runs per random stream.
    """

    runs: int
    horizon: int | None
    false_alarm: float
    init: Any
    executor: Executor | None
    progress: bool | ProgressMeter
    chunk_size: int


@dataclass(frozen=True, eq=False)
class RateSetup:
    """What the comparisons at one rate read: the system, the rate and the operator under test.

    Attributes
    ----------
    system : System
        The bound problem and method.
    lr : float
        ``η``.
    recursion : SecondMomentRecursion
        The prediction's affine map ``S ↦ T(S) + N`` in the problem's coordinates.
    apply : callable
        The operator under test on stacks ``(k, md, md)``.
    supplied : bool
        Whether the operator under test is the user's.
    lift : ndarray, shape (md, m r)
        The reduced coordinates' orthonormal basis in the full ones.
    options : RateOptions
        ``check``'s options.
    """

    system: System
    lr: float
    recursion: SecondMomentRecursion
    apply: StackOperator
    supplied: bool
    lift: np.ndarray
    options: RateOptions

    @property
    def state(self) -> int:
        """``m d``."""
        return self.lift.shape[0]

    @cached_property
    def quiet_norm(self) -> float:
        """``a ≥ ‖A‖₂`` for every batch of the noise-free recursion (the simulator's bound)."""
        quiet = dataclasses.replace(self.system.dynamics, noise=None)
        return state_map_norm_bound(self.system.problem, quiet, self.lr)

    def image(self, moment: np.ndarray) -> np.ndarray:
        """``T(S)`` of one moment under the operator under test.

        Parameters
        ----------
        moment : ndarray, shape (md, md)
            The moment ``S``.
        """
        return self.apply(moment[None])[0]


def prepare(
    system: System, lr: float, operator: OperatorLike | None, options: RateOptions
) -> RateSetup:
    """The setup at one rate: the prediction, the operator under test and the lift.

    Parameters
    ----------
    system : System
        The bound problem and method.
    lr : float
        ``η``.
    operator : callable or ndarray or None
        The user's operator under test.
    options : RateOptions
        ``check``'s options.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.checks._rate import RateOptions, prepare
    >>> from stability.system import bind
    >>> options = RateOptions(100, None, 1e-6, None, None, False, 1024)
    >>> setup = prepare(bind(Quadratic.from_data(np.eye(2)), SGD(1)), 0.5, None, options)
    >>> setup.state, setup.image(np.eye(2))  # E[(I − η x xᵀ)²] = I − 0.75 · (1/2) I
    (2, array([[0.625, 0.   ],
           [0.   , 0.625]]))
    """
    problem, dynamics = system.problem, system.dynamics
    recursion = second_moment_recursion(problem, dynamics, lr)
    apply = operator_apply(operator, recursion.apply, recursion.state_dimension)
    lift = np.kron(np.eye(dynamics.blocks), problem.reduced().basis)
    return RateSetup(system, lr, recursion, apply, operator is not None, lift, options)


def exact_comparisons(
    setup: RateSetup, threshold: float, symbolic_operator: Any, notes: list[str]
) -> tuple[Spectrum, list[Comparison]]:
    """``ρ`` and the top modes, with the exact comparisons of the operator and the verdict.

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    threshold : float
        The numeric ``η*``.
    symbolic_operator : callable or None
        The symbolic layer's operator function, when consulted.
    notes : list of str
        Why the symbolic layer declined, appended to.
    """
    system = setup.system
    spectrum, comparison = predicted_spectrum(
        system, setup.apply, setup.lift, setup.lr, setup.supplied
    )
    comparisons = [] if comparison is None else [comparison]
    if symbolic_operator is not None:
        symbolic, note = operator_comparison(
            symbolic_operator, system.problem, system.dynamics, setup.lr, dense_operator
        )
        comparisons += [] if symbolic is None else [symbolic]
        notes += [] if note is None else [note]
    verdict = verdict_comparison(spectrum.radius, setup.lr, threshold)
    return spectrum, comparisons + ([] if verdict is None else [verdict])


def _one_step(
    setup: RateSetup, sigma: np.ndarray, runs: int, rng: np.random.Generator, stream: Any
) -> np.ndarray:
    """Final states of one noise-free step from ``runs`` mixture starts of ``Σ``."""
    system = setup.system
    quiet = dataclasses.replace(system.dynamics, noise=None)
    starts = mixture_starts(sigma, runs, rng)
    options = setup.options
    result = simulate(
        system.problem, quiet, setup.lr, steps=1, runs=runs, seed=stream, init=starts,
        executor=options.executor, chunk_size=options.chunk_size, progress=False,
    )  # fmt: skip
    return result.final_states


def top_mode_comparisons(
    setup: RateSetup,
    spectrum: Spectrum,
    rng: np.random.Generator,
    streams: list[Any],
    share: float,
) -> tuple[list[Comparison], tuple[float, float, float]]:
    """One step from the top mode ``Σ``: every entry of ``E[AΣAᵀ]``, and the growth along it.

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    spectrum : Spectrum
        ``ρ``, ``Σ`` and ``W``.
    rng : numpy.random.Generator
        The mixture starts' stream.
    streams : list of SeedSequence
        The rate's child streams.
    share : float
        The false-alarm probability of each of the two comparisons.
    """
    top, weight = spectrum.right, spectrum.left
    runs = one_step_runs(setup.options.runs, setup.state)
    states = _one_step(setup, top, runs, rng, streams[_TOP])
    image = setup.image(top)
    value_range = setup.quiet_norm**2 * float(np.trace(top))
    mean, variance = entry_statistics(states)
    name = "one-step E[AΣAᵀ] vs T(Σ), Σ = top mode"
    entries = matrix_comparison(name, mean, variance, image, runs, share, value_range=value_range)
    growth = np.sum((states @ weight) * states, axis=1)
    growth_range = value_range * float(np.linalg.eigvalsh(weight)[-1])
    overlap = float(np.sum(weight * top))
    predicted = float(np.sum(weight * image))
    along, band = growth_comparison(growth, predicted, overlap, growth_range, share)
    return [entries, along], band


def probe_comparison(
    setup: RateSetup, rng: np.random.Generator, streams: list[Any], share: float
) -> Comparison:
    """One step from a random full-rank probe ``Σ``: every entry of ``E[AΣAᵀ]``.

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    rng : numpy.random.Generator
        The mixture starts' stream.
    streams : list of SeedSequence
        The rate's child streams.
    share : float
        The false-alarm probability of the comparison.
    """
    probe = random_probe(setup.state, np.random.Generator(np.random.PCG64(streams[_PROBE])))
    runs = one_step_runs(setup.options.runs, setup.state)
    states = _one_step(setup, probe, runs, rng, streams[_PROBE_RUNS])
    mean, variance = entry_statistics(states)
    value_range = setup.quiet_norm**2
    return matrix_comparison(
        "one-step E[AΣAᵀ] vs T(Σ), Σ = random",
        mean, variance, setup.image(probe), runs, share, value_range=value_range,
    )  # fmt: skip


def noise_comparison(setup: RateSetup, streams: list[Any], share: float) -> Comparison:
    """One step of the noisy recursion from zero: every entry of ``E[b bᵀ]`` against ``N``.

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    streams : list of SeedSequence
        The rate's child streams.
    share : float
        The false-alarm probability of the comparison (asymptotic: the noise is unbounded).
    """
    system, options = setup.system, setup.options
    runs = one_step_runs(options.runs, setup.state)
    result = simulate(
        system.problem, system.dynamics, setup.lr, steps=1, runs=runs, seed=streams[_NOISE],
        init=np.zeros(setup.state), executor=options.executor, chunk_size=options.chunk_size,
        progress=False,
    )  # fmt: skip
    mean, variance = entry_statistics(result.final_states)
    return matrix_comparison(
        "one-step noise E[bbᵀ] vs N",
        mean, variance, setup.recursion.noise(), runs, share, value_range=None,
    )  # fmt: skip


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
    >>> from stability.checks._rate import predicted_traces
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
    >>> from stability.checks._rate import quiet_horizon
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


def _horizon_and_prediction(setup: RateSetup, share: float) -> tuple[int, np.ndarray]:
    """The trajectory length and the predicted ``E‖z_t‖²`` up to it."""
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
    horizon, predicted = _horizon_and_prediction(setup, share)
    system, options = setup.system, setup.options
    trajectory = simulate(
        system.problem, system.dynamics, setup.lr, steps=horizon, runs=options.runs,
        seed=streams[_TRAJECTORY], init=options.init, executor=options.executor,
        chunk_size=options.chunk_size, progress=options.progress,
    )  # fmt: skip
    return predicted, trajectory, trajectory_comparison(trajectory, predicted, share)


def check_rate(
    system: System,
    lr: float,
    threshold: float,
    *,
    operator: OperatorLike | None,
    symbolic_operator: Any,
    options: RateOptions,
    seed: np.random.SeedSequence,
    notes: list[str],
) -> RateCheck:
    """Every comparison at one learning rate (see the module documentation).

    Parameters
    ----------
    system : System
        The bound problem and method.
    lr : float
        ``η``.
    threshold : float
        The numeric ``η*``.
    operator : callable or ndarray or None
        The user's operator under test.
    symbolic_operator : callable or None
        The symbolic layer's operator function, when consulted.
    options : RateOptions
        ``check``'s options.
    seed : numpy.random.SeedSequence
        The rate's seed.
    notes : list of str
        Notes on the symbolic layer, appended to.
    """
    setup = prepare(system, lr, operator, options)
    spectrum, comparisons = exact_comparisons(setup, threshold, symbolic_operator, notes)
    noisy = system.dynamics.noise is not None
    share = options.false_alarm / (3 + (1 if noisy else 0) + 1)  # equal shares
    streams = seed.spawn(_STREAMS)
    mixing = np.random.Generator(np.random.PCG64(streams[_MIXTURE]))
    top, band = top_mode_comparisons(setup, spectrum, mixing, streams, share)
    comparisons += top
    comparisons.append(probe_comparison(setup, mixing, streams, share))
    if noisy:
        comparisons.append(noise_comparison(setup, streams, share))
    predicted, trajectory, comparison = trajectory_check(setup, streams, share)
    comparisons.append(comparison)
    return RateCheck(
        learning_rate=lr,
        relative=lr / threshold if math.isfinite(threshold) else math.nan,
        spectral_radius=spectrum.radius,
        stable=spectrum.radius < 1.0,
        radius_estimate=band[0],
        radius_lower=band[1],
        radius_upper=band[2],
        horizon=trajectory.steps,
        predicted=predicted,
        simulation=trajectory,
        comparisons=tuple(comparisons),
    )
