"""Chunks of runs, their seeds, the executor that runs them, and :func:`simulate` itself.

Runs are split into chunks of ``chunk_size`` runs; chunk ``k`` draws from its own stream,
child ``k`` of ``numpy.random.SeedSequence(seed)`` (``SeedSequence.spawn``), so the result
depends on ``seed`` and ``chunk_size`` only, never on the executor that runs the chunks
(serially, a process pool, or a ``dask.distributed`` client's executor). In a chunk the batch
law's sampler and the additive noise share the chunk's stream, batches drawn first.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stability._starts import initial_states
from stability._validation import (
    as_seed_sequence,
    check_learning_rate,
    check_positive_integer,
)
from stability.dynamics import LinearDynamics
from stability.errors import DimensionError, InvalidTypeError
from stability.problems import Quadratic
from stability.progress import ProgressMeter, as_progress
from stability.simulation._growth import growth_bound, validated
from stability.simulation._kernel import Kernel, build_kernel
from stability.simulation._result import SimulationResult

if TYPE_CHECKING:
    from stability.methods import MethodLike
    from stability.problems import ProblemLike

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Chunk",
    "ChunkStatistics",
    "Plan",
    "SeedLike",
    "check_executor",
    "combine",
    "execute",
    "plan",
    "run_chunk",
    "simulate",
]

#: Runs per chunk; each chunk has its own random stream (part of what fixes a result).
DEFAULT_CHUNK_SIZE = 1024

SeedLike = int | np.random.SeedSequence | None


@dataclass(frozen=True, eq=False)
class Chunk:
    """A block of runs with its own stream (picklable).

    Parameters
    ----------
    kernel : Kernel
        The step.
    steps : int
        The horizon.
    runs : int
        The runs of the chunk.
    start : ndarray, shape (md,) or (runs, md)
        The start(s).
    seed : numpy.random.SeedSequence
        The chunk's stream.
    """

    kernel: Kernel
    steps: int
    runs: int
    start: np.ndarray
    seed: np.random.SeedSequence


@dataclass(frozen=True, eq=False)
class ChunkStatistics:
    """Per-time statistics of one chunk's per-run values (columns: ``‖z‖²``, loss, …).

    Parameters
    ----------
    runs : int
        The runs of the chunk.
    mean : ndarray, shape (steps + 1, k)
        Means over runs.
    sum_squares : ndarray, shape (steps + 1, k)
        ``Σ (x − mean)²`` over runs.
    mean_log : ndarray, shape (steps + 1,)
        Mean of ``log ‖z‖²``.
    final : ndarray, shape (runs, m d)
        The final states.
    """

    runs: int
    mean: np.ndarray
    sum_squares: np.ndarray
    mean_log: np.ndarray
    final: np.ndarray


def run_chunk(chunk: Chunk, meter: ProgressMeter | None = None) -> ChunkStatistics:
    """Run one chunk and summarise it.

    Parameters
    ----------
    chunk : Chunk
        The chunk.
    meter : ProgressMeter, optional
        Updated once per step.
    """
    kernel = chunk.kernel
    m, d = kernel.blocks, kernel.dimension
    rng = np.random.Generator(np.random.PCG64(chunk.seed))
    sampler = kernel.sampler(chunk.runs, rng)
    state = np.array(np.broadcast_to(chunk.start, (chunk.runs, m * d)), dtype=float)
    state = state.reshape(chunk.runs, m, d)
    columns = kernel.observables
    mean = np.empty((chunk.steps + 1, columns))
    sum_squares = np.empty((chunk.steps + 1, columns))
    mean_log = np.empty(chunk.steps + 1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for t in range(chunk.steps + 1):
            if t:
                state = kernel.step(state, rng, sampler)
                if meter is not None:
                    meter.update(1)
            values = kernel.measure(state)
            mean[t] = values.mean(axis=1)  # contiguous rows: pairwise sums, as 1-D means
            sum_squares[t] = np.square(values - mean[t][:, None]).sum(axis=1)
            mean_log[t] = np.log(values[0]).mean()
    return ChunkStatistics(chunk.runs, mean, sum_squares, mean_log, state.reshape(chunk.runs, -1))


def combine(parts: Sequence[ChunkStatistics]) -> tuple[np.ndarray, ...]:
    """Merge chunk statistics in chunk order (Chan, Golub & LeVeque's pairwise update).

    Parameters
    ----------
    parts : sequence of ChunkStatistics
        The chunks, in order.

    Returns
    -------
    mean, variance, mean_log, final : ndarray
        Pooled means and unbiased variances (per time and column), the pooled mean of
        ``log ‖z‖²`` and the stacked final states.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        count = parts[0].runs
        mean = parts[0].mean.copy()
        sum_squares = parts[0].sum_squares.copy()
        mean_log = parts[0].mean_log * parts[0].runs
        for part in parts[1:]:
            total = count + part.runs
            delta = part.mean - mean
            mean = mean + delta * (part.runs / total)
            sum_squares = sum_squares + part.sum_squares + delta**2 * (count * part.runs / total)
            mean_log = mean_log + part.mean_log * part.runs
            count = total
        variance = sum_squares / (count - 1) if count > 1 else np.zeros_like(sum_squares)
    bad = ~np.isfinite(mean)
    mean[bad] = np.inf
    variance[bad | ~np.isfinite(variance)] = np.inf
    final = np.concatenate([part.final for part in parts], axis=0)
    return mean, variance, mean_log / count, final


def check_executor(executor: Any) -> Executor | None:
    """``executor`` if it can ``submit`` (or ``None``); otherwise a named type error.

    Parameters
    ----------
    executor : concurrent.futures.Executor or None
        The executor.
    """
    if executor is None:
        return None
    if not callable(getattr(executor, "submit", None)):
        raise InvalidTypeError(
            "executor must be a concurrent.futures.Executor (e.g. ProcessPoolExecutor() or a "
            f"dask.distributed Client's get_executor()); got {type(executor).__name__}"
        )
    return executor


def _sample_scales(problem: Quadratic) -> np.ndarray:
    """``λ_max(H_i)/2`` for every sample."""
    if problem.data is not None:
        return 0.5 * np.einsum("nd,nd->n", problem.data, problem.data)
    return 0.5 * np.clip(np.linalg.eigvalsh(problem.per_sample_hessians())[:, -1], 0.0, None)


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything needed to run one simulation's chunks and assemble its result.

    Parameters
    ----------
    dynamics : LinearDynamics
        The recursion.
    learning_rate : float
        ``η``.
    steps, runs, chunk_size : int
        Horizon, runs, runs per stream.
    seed : numpy.random.SeedSequence
        The root stream.
    chunks : tuple of Chunk
        The chunks.
    range_bound : ndarray
        The a priori bound on ``‖z_t‖²``.
    deterministic : bool
        Whether every run is the same trajectory.
    loss_scale : float or None
        ``λ_max(H)/2`` when the loss is recorded.
    sample_loss_scales : ndarray or None
        ``λ_max(H_i)/2`` when per-sample losses are recorded.
    """

    dynamics: LinearDynamics
    learning_rate: float
    steps: int
    runs: int
    chunk_size: int
    seed: np.random.SeedSequence
    chunks: tuple[Chunk, ...]
    range_bound: np.ndarray
    deterministic: bool
    loss_scale: float | None
    sample_loss_scales: np.ndarray | None

    def result(self, parts: Sequence[ChunkStatistics]) -> SimulationResult:
        """Assemble the result from the chunks' statistics, in chunk order.

        Parameters
        ----------
        parts : sequence of ChunkStatistics
            One per chunk.
        """
        mean, variance, mean_log, final = combine(parts)
        if self.deterministic:
            variance = np.zeros_like(variance)
        loss = self.loss_scale is not None
        first = 2 if loss else 1
        tracked = self.sample_loss_scales is not None
        return SimulationResult(
            name=self.dynamics.name,
            state=self.dynamics.state,
            learning_rate=self.learning_rate,
            steps=self.steps,
            runs=self.runs,
            chunk_size=self.chunk_size,
            seed=self.seed,
            mean_square=mean[:, 0].copy(),
            variance=variance[:, 0].copy(),
            mean_log_square=mean_log,
            range_bound=self.range_bound,
            deterministic=self.deterministic,
            final_states=final,
            mean_loss=mean[:, 1].copy() if loss else None,
            loss_variance=variance[:, 1].copy() if loss else None,
            loss_scale=self.loss_scale if self.loss_scale is not None else np.inf,
            sample_loss=mean[:, first:].copy() if tracked else None,
            sample_loss_variance=variance[:, first:].copy() if tracked else None,
            sample_loss_scales=self.sample_loss_scales,
        )


def plan(
    problem: ProblemLike,
    method: MethodLike,
    lr: Any,
    *,
    steps: Any,
    runs: Any,
    seed: SeedLike,
    init: Any,
    chunk_size: Any,
    loss: bool = True,
    sample_losses: bool = False,
) -> Plan:
    """Validate a simulation's inputs and cut it into chunks.

    Parameters
    ----------
    problem, method, lr, steps, runs, seed, init, chunk_size, loss, sample_losses
        As in :func:`simulate`.
    """
    problem, dynamics = validated(problem, method)
    lr = check_learning_rate(lr)
    steps = check_positive_integer(steps, "steps")
    runs = check_positive_integer(runs, "runs")
    chunk_size = check_positive_integer(chunk_size, "chunk_size")
    for name, flag in (("loss", loss), ("sample_losses", sample_losses)):
        if not isinstance(flag, bool | np.bool_):
            raise InvalidTypeError(f"{name} must be True or False; got {flag!r}")
    kernel = build_kernel(problem, dynamics, lr, loss=bool(loss), sample_losses=bool(sample_losses))
    starts = initial_states(
        init,
        problem.dimension,
        dynamics.blocks,
        problem=problem,
        preconditioning=dynamics.preconditioning,
    )
    if starts.ndim == 2 and starts.shape[0] != runs:
        raise DimensionError(
            f"init with one start per run must have runs={runs} rows; got {starts.shape[0]}"
        )
    root = as_seed_sequence(seed)
    count = -(-runs // chunk_size)
    children = root.spawn(count)
    chunks = []
    for index, child in enumerate(children):
        begin, end = index * chunk_size, min(runs, (index + 1) * chunk_size)
        start = starts if starts.ndim == 1 else starts[begin:end]
        chunks.append(Chunk(kernel, steps, end - begin, start, child))
    start_norm = float(np.max(np.sum(np.atleast_2d(starts) ** 2, axis=1)))
    with np.errstate(over="ignore", invalid="ignore"):
        range_bound = start_norm * growth_bound(problem, dynamics, lr, steps)
    range_bound[np.isnan(range_bound)] = np.inf
    if dynamics.noise is not None:
        range_bound = np.full(steps + 1, np.inf)
    deterministic = dynamics.batch.full and dynamics.noise is None and starts.ndim == 1
    loss_scale = None
    if kernel.loss:
        loss_scale = 0.5 * float(np.max(np.sum(kernel.loss_factor**2, axis=0), initial=0.0))
    return Plan(
        dynamics,
        lr,
        steps,
        runs,
        chunk_size,
        root,
        tuple(chunks),
        range_bound,
        deterministic,
        loss_scale,
        _sample_scales(problem) if kernel.sample_losses else None,
    )


def execute(
    chunks: Sequence[Chunk], executor: Executor | None, meter: ProgressMeter
) -> list[ChunkStatistics]:
    """Run chunks (serially, or through ``executor``) and return them in order.

    Parameters
    ----------
    chunks : sequence of Chunk
        The chunks.
    executor : concurrent.futures.Executor or None
        Where to run them.
    meter : ProgressMeter
        Progress, one unit per step of a chunk.
    """
    if executor is None:
        return [run_chunk(chunk, meter) for chunk in chunks]
    futures = {executor.submit(run_chunk, chunk): index for index, chunk in enumerate(chunks)}
    results: list[ChunkStatistics | None] = [None] * len(chunks)
    try:
        for future in as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            meter.update(chunks[index].steps)
    finally:
        for future in futures:
            future.cancel()
    return [part for part in results if part is not None]


def simulate(
    problem: Quadratic,
    method: MethodLike,
    lr: float,
    *,
    steps: int,
    runs: int,
    seed: SeedLike = None,
    init: Any = None,
    progress: bool | ProgressMeter = False,
    executor: Executor | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    loss: bool = True,
    sample_losses: bool = False,
) -> SimulationResult:
    """Simulate ``runs`` independent trajectories of a method's linear recursion.

    Exactly the recursion of ``docs/theory/operator.md`` that the exact layers analyse,
    read from the method's :class:`~stability.dynamics.LinearDynamics`, vectorised over
    runs (see ``docs/monte-carlo.md`` for the batch, noise and cost details). Batches come
    from the batch law's own sampler (:meth:`BatchLaw.sampler
    <stability.dynamics.BatchLaw.sampler>`): i.i.d. draws, or each run's fresh permutation
    per epoch for reshuffled methods (``shuffle=True``), whose real epoch law is simulated
    exactly. A frozen preconditioner ``P`` (Adam, RMSProp, ``SGD(preconditioner=P)``) is
    applied as ``P⁻¹ (H_B + μ I)`` in the problem's own coordinates, without the
    congruence the exact layers use: the state's first block is ``δ`` itself.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.
    steps : int
        The horizon ``T``; statistics are kept for ``t = 0..T``.
    runs : int
        The number of independent runs ``R``.
    seed : int or numpy.random.SeedSequence, optional
        Root of the random streams; ``None`` draws fresh entropy (kept in ``result.seed``).
    init : array_like, optional
        The start: ``δ_0`` of length ``d`` (for momentum ``δ_{-1} = δ_0``), a full state of
        length ``m d``, or an array with one such start per run (``runs`` rows). Default:
        the unit vector along the projection of ``(1, …, 1)`` on ``range(H)``
        (:func:`stability._starts.default_start`): no component along the directions no
        step ever moves.
    progress : bool or ProgressMeter, default False
        ``True`` shows a tqdm bar (the ``progress`` extra); or pass a
        :class:`~stability.progress.ProgressMeter`.
    executor : concurrent.futures.Executor, optional
        Runs the chunks in parallel (a process pool, a ``dask.distributed`` client's
        ``get_executor()``, …). With processes, a custom noise sampler must be picklable.
    chunk_size : int, default 1024
        Runs per chunk; each chunk draws from its own stream
        (``SeedSequence(seed).spawn``). The result depends on ``seed`` and ``chunk_size``,
        not on ``executor``.
    loss : bool, default True
        Record the mean loss ``E ½ δ_tᵀ H δ_t`` (``O(r d)`` per run and step, ``r = rank H``;
        ``False`` saves that work).
    sample_losses : bool, default False
        Also record every sample's mean loss ``E ½ δ_tᵀ H_i δ_t`` (``O(n d)`` more work per
        run and step for data, ``O(n d²)`` for general per-sample Hessians).

    Returns
    -------
    SimulationResult
        ``mean_square`` (``E‖z_t‖²`` estimates), ``mean_loss`` (``E ½ δ_tᵀ H δ_t``), their
        confidence bands (:meth:`SimulationResult.band`, :meth:`SimulationResult.loss_band`,
        guaranteed coverage without noise), the per-run final states and more.

    Raises
    ------
    InvalidInputError
        For a batch size that does not fit the problem, bad counts or seeds.
    DimensionError
        If ``init`` or the noise sampler's draws have the wrong shape.
    InvalidTypeError
        If the dynamics has symbolic coefficients.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric import predicted_mean_square
    >>> from stability.simulation import simulate
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> result = simulate(problem, SGD(1), 0.8, steps=10, runs=20_000, seed=1)
    >>> exact = predicted_mean_square(problem, SGD(1), 0.8, steps=10)
    >>> lower, upper = result.band()
    >>> bool(np.all((lower <= exact) & (exact <= upper)))
    True
    """
    executor = check_executor(executor)
    layout = plan(
        problem,
        method,
        lr,
        steps=steps,
        runs=runs,
        seed=seed,
        init=init,
        chunk_size=chunk_size,
        loss=loss,
        sample_losses=sample_losses,
    )
    meter = as_progress(progress)
    meter.start(len(layout.chunks) * layout.steps, f"simulate {layout.dynamics.name}")
    try:
        parts = execute(layout.chunks, executor, meter)
    finally:
        meter.close()
    return layout.result(parts)
