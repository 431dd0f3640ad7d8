"""Monte Carlo of the very recursion a method compiles to, vectorised over runs.

Theory: ``docs/theory/operator.md`` and ``docs/monte-carlo.md``. :func:`simulate` runs ``R``
independent trajectories of

    z_{t+1} = (F(η) ⊗ I + G(η) ⊗ H_B) z_t + (u(η) ⊗ I + w(η) ⊗ H_B) ε_t

reading only the :class:`~stability.dynamics.LinearDynamics` (never a method's name):
batches follow :meth:`BatchLaw.sample_weights <stability.dynamics.BatchLaw.sample_weights>`
(the same law, with or without replacement, that the exact layers use; small batches are
drawn as ``B`` indices with that law by :func:`stability.dynamics.sample_indices`), the additive
noise ``ε_t`` from :attr:`AdditiveNoise.sampler <stability.dynamics.AdditiveNoise.sampler>`
(a Gaussian with :attr:`AdditiveNoise.covariance` when no sampler is given), and each
step costs ``O(m B d)`` per run for rank-one samples (rows of ``problem.data``: the ``B``
sampled rows are gathered, ``H_B v = (1/B) Σ x_i (x_iᵀ v)``), ``O(B d²)`` per run for
general per-sample Hessians and ``O(d²)`` (or ``O(n d)``) full batch.

Runs are split into chunks of ``chunk_size`` runs; chunk ``k`` draws from its own
stream, child ``k`` of ``numpy.random.SeedSequence(seed)`` (``SeedSequence.spawn``), so
the result depends on ``seed`` and ``chunk_size`` only, never on the executor that runs
the chunks (serially, a process pool, or a ``dask.distributed`` client's executor).

Statistics (the design is explained in ``docs/monte-carlo.md``). The per-run
``‖z_t‖²`` are i.i.d. over runs but heavy-tailed near and past the threshold (products of
random matrices): the sample mean at long horizons is dominated by rare runs and a plain
average underestimates ``E‖z_t‖²`` by orders of magnitude while the sample variance
underestimates its own error. :class:`SimulationResult` therefore carries, besides the
mean and the sample variance, an *a priori* bound on every run, ``‖z_t‖² ≤ a^{2t} ‖z_0‖²``
with ``a ≥ ‖A_t‖`` for every batch (:func:`state_map_norm_bound`), and its default band is

* ``"exact"`` for a deterministic recursion (full batch, no noise, one start): no
  sampling error, only a rounding allowance;
* ``"bernstein"`` (noise-free dynamics): the empirical Bernstein bound of Maurer &
  Pontil (2009, Thm 4) for variables in ``[0, a^{2t}‖z_0‖²]``, a finite-sample guarantee:
  the probability that the true ``E‖z_t‖²`` leaves the band at *any* reported time is at
  most ``false_alarm`` (Bonferroni over the times), whatever the distribution. Its width
  grows like ``a^{2t}/R``: at long horizons it honestly says that ``R`` runs cannot pin
  the mean down;
* ``"normal"`` (additive noise, unbounded): a CLT band with the sample variance,
  Bonferroni over the times; its coverage is asymptotic and needs a finite fourth moment
  of the noise. Use it at short horizons.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from stability._starts import initial_states
from stability._system import bind
from stability._validation import (
    as_finite_array,
    as_seed_sequence,
    check_false_alarm,
    check_learning_rate,
    check_positive_integer,
)
from stability.dynamics import BatchLaw, LinearDynamics, sample_indices
from stability.errors import DimensionError, InvalidInputError, InvalidTypeError
from stability.methods import as_dynamics
from stability.problems import Quadratic, as_problem
from stability.progress import ProgressMeter, as_progress

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_FALSE_ALARM",
    "SimulationResult",
    "SweepResult",
    "bernstein_radius",
    "growth_bound",
    "json_number",
    "normal_radius",
    "simulate",
    "simulate_grid",
    "state_map_norm_bound",
]

#: Runs per chunk; each chunk has its own random stream (part of what fixes a result).
DEFAULT_CHUNK_SIZE = 1024
#: Default probability that a reported band misses the true mean at any of its times.
DEFAULT_FALSE_ALARM = 1e-6
# Relative rounding allowance per step between two exact computations of the same moment.
_ROUNDING = 1e-9
# Largest number of floats a gathered per-run Hessian block may hold at once.
_GATHER_BUDGET = 1 << 22
# Floats of gathered sample rows processed at once (256 kB, to stay in cache).
_CACHE_BLOCK = 1 << 15

BandKind = Literal["auto", "exact", "bernstein", "normal"]
SeedLike = int | np.random.SeedSequence | None


# ------------------------------------------------------------------------------ statistics
def bernstein_radius(variance: Any, runs: int, value_range: Any, false_alarm: float) -> np.ndarray:
    """Half-width of the two-sided empirical Bernstein band (Maurer & Pontil 2009, Thm 4).

    For ``R`` i.i.d. variables in an interval of width ``b`` with unbiased sample variance
    ``V``, the true mean lies within

        sqrt(2 V log(4/δ) / R) + 7 b log(4/δ) / (3 (R − 1))

    of the sample mean with probability at least ``1 − δ`` (``δ = false_alarm``; each
    side at ``δ/2``). This holds for every ``R ≥ 2`` and every distribution on the interval.

    Parameters
    ----------
    variance : float or array_like
        The unbiased sample variance ``V`` (elementwise for arrays).
    runs : int
        The sample size ``R``; below 2 the radius is infinite.
    value_range : float or array_like
        The width ``b`` of an interval known to contain every value.
    false_alarm : float
        ``δ``, the probability that the true mean lies outside.

    Returns
    -------
    ndarray
        The half-widths (``inf`` where an input is infinite or undefined).

    Examples
    --------
    >>> from stability.simulation import bernstein_radius
    >>> round(float(bernstein_radius(0.0, 1001, 1.0, 1e-6)), 6)  # 7 log(4e6) / 3000
    0.035471
    """
    variance = np.asarray(variance, dtype=float)
    value_range = np.asarray(value_range, dtype=float)
    if runs < 2:
        return np.full(np.broadcast(variance, value_range).shape, np.inf)
    log_term = math.log(4.0 / false_alarm)
    with np.errstate(invalid="ignore", over="ignore"):
        radius = np.sqrt(2.0 * np.maximum(variance, 0.0) * log_term / runs) + (
            7.0 * value_range * log_term / (3.0 * (runs - 1))
        )
    return np.where(np.isnan(radius), np.inf, radius)


def normal_radius(variance: Any, runs: int, false_alarm: float) -> np.ndarray:
    """Half-width ``z_{1−δ/2} sqrt(V / R)`` of the two-sided CLT band (asymptotic coverage).

    Parameters
    ----------
    variance : float or array_like
        The sample variance ``V``.
    runs : int
        The sample size ``R``.
    false_alarm : float
        ``δ``, the nominal probability that the true mean lies outside.

    Examples
    --------
    >>> from stability.simulation import normal_radius
    >>> round(float(normal_radius(4.0, 100, 0.05)), 4)  # 1.96 · 2 / 10
    0.392
    """
    quantile = statistics.NormalDist().inv_cdf(1.0 - false_alarm / 2.0)
    variance = np.asarray(variance, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        radius = quantile * np.sqrt(np.maximum(variance, 0.0) / runs)
    return np.where(np.isnan(radius), np.inf, radius)


# ------------------------------------------------------------------------------ the kernel
def _numeric(dynamics: LinearDynamics, lr: float) -> tuple[Any, ...]:
    try:
        identity = dynamics.identity_part.evaluate(lr)
        gradient = dynamics.hessian_part.evaluate(lr)
        u, w = dynamics.noise.evaluate(lr) if dynamics.noise is not None else (None, None)
    except TypeError:
        raise InvalidTypeError(
            f"{dynamics.name} has symbolic coefficients; simulation needs numbers (substitute "
            "values for the symbols first)"
        ) from None
    return identity, gradient, u, w


def _batch_eigenvalue_bound(problem: Quadratic, batch: BatchLaw) -> np.ndarray:
    """Eigenvalues (or an interval's end points) that ``H_B`` can reach."""
    if batch.full:
        eigenvalues = np.linalg.eigvalsh(problem.hessian)
        return np.concatenate([[0.0], np.clip(eigenvalues, 0.0, None)])
    if problem.data is not None:
        tops = np.einsum("nd,nd->n", problem.data, problem.data)
    else:
        tops = np.linalg.eigvalsh(problem.per_sample_hessians())[:, -1]
    tops = np.sort(np.clip(tops, 0.0, None))[::-1]
    size = batch.batch_size
    assert size is not None
    # Weyl: λ_max(Σ w_i H_i) ≤ Σ w_i λ_max(H_i); the largest such sum over the law's batches
    top = float(tops[0]) if batch.replacement else float(tops[:size].mean())
    return np.array([0.0, top])


def state_map_norm_bound(problem: Quadratic, method: Any, lr: float) -> float:
    """An a priori ``a`` with ``‖A‖₂ ≤ a`` for every batch the law can draw.

    ``A = F ⊗ I + G ⊗ H_B`` is orthogonally similar to the block diagonal of
    ``F + λ G`` over the eigenvalues ``λ`` of ``H_B``, so ``‖A‖₂ = max_λ ‖F + λ G‖₂``.
    The eigenvalues lie in ``[0, L]`` with ``L`` the largest mean of ``B`` per-sample
    sharpnesses the law allows (Weyl's inequality: ``λ_max(H_B) ≤ Σ w_i λ_max(H_i)``);
    ``‖F + λ G‖₂`` is convex in ``λ``, hence maximal at an end point. Full batch, the exact
    eigenvalues of ``H`` are used. Without noise every run obeys ``‖z_t‖ ≤ a^t ‖z_0‖``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, SGD, Quadratic
    >>> from stability.simulation import state_map_norm_bound
    >>> state_map_norm_bound(Quadratic(np.diag([4.0, 1.0])), GD(), 0.75)  # |1 − 0.75·4|
    2.0
    >>> problem = Quadratic.from_data([[2.0, 0.0], [0.0, 1.0]])
    >>> state_map_norm_bound(problem, SGD(1), 0.75)  # max(1, |1 − 0.75·‖x‖²|), ‖x‖² ≤ 4
    2.0
    """
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    lr = check_learning_rate(lr)
    dynamics.batch.validate(problem.samples)
    identity, gradient, _, _ = _numeric(dynamics, lr)
    points = _batch_eigenvalue_bound(problem, dynamics.batch)
    return float(max(np.linalg.norm(identity + point * gradient, 2) for point in points))


def _weighted_norm(
    identity: np.ndarray, gradient: np.ndarray, points: np.ndarray, factor: Any
) -> float:
    """``max_λ ‖Lᵀ (F + λ G) L^{-ᵀ}‖₂`` over the end points ``λ`` (``P = L Lᵀ``)."""
    left = factor.T
    right = np.linalg.inv(left)
    return float(max(np.linalg.norm(left @ (identity + p * gradient) @ right, 2) for p in points))


def growth_bound(problem: Quadratic, dynamics: LinearDynamics, lr: float, steps: int) -> np.ndarray:
    """``c_t`` with ``‖z_t‖² ≤ c_t ‖z_0‖²`` for every run of the noise-free recursion.

    With ``P = L Lᵀ`` (``m × m``, positive definite) and ``‖z‖_P² = zᵀ (P ⊗ I) z``, the map
    ``A`` is again of the form ``F' ⊗ I + G' ⊗ H_B`` in the coordinates ``(Lᵀ ⊗ I) z``, so
    ``‖A‖_P = max_λ ‖Lᵀ (F + λ G) L^{-ᵀ}‖₂`` and ``‖z_t‖² ≤ κ(P) ‖A‖_P^{2t} ‖z_0‖²``.
    ``P = I`` gives :func:`state_map_norm_bound`; for momentum (``m > 1``) a ``P`` fitted
    by Nelder–Mead is usually much better (``F`` is not normal). Any ``P`` gives a valid
    bound, so the elementwise minimum over the candidates is one too.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    dynamics : LinearDynamics
        The optimiser's recursion, bound to ``problem``.
    lr : float
        The learning rate ``η > 0``.
    steps : int
        The last time ``t``.

    Returns
    -------
    ndarray, shape (steps + 1,)
        ``c_0, …, c_steps``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.simulation import growth_bound
    >>> from stability._system import bind
    >>> system = bind(Quadratic(np.diag([4.0, 1.0])), GD())
    >>> growth_bound(system.problem, system.dynamics, 0.75, 3)  # ‖A‖₂ = |1 − 0.75·4| = 2
    array([ 1.,  4., 16., 64.])
    """
    import scipy.optimize

    identity, gradient, _, _ = _numeric(dynamics, lr)
    points = _batch_eigenvalue_bound(problem, dynamics.batch)
    times = np.arange(steps + 1, dtype=float)
    blocks = identity.shape[0]
    with np.errstate(over="ignore"):
        best = _weighted_norm(identity, gradient, points, np.eye(blocks)) ** (2.0 * times)
        if blocks == 1:
            return best
        lower = np.tril_indices(blocks, -1)

        def factor_of(parameters: np.ndarray) -> np.ndarray:
            factor = np.diag(np.exp(np.concatenate([[0.0], parameters[: blocks - 1]])))
            factor[lower] = parameters[blocks - 1 :]
            return factor

        for horizon in sorted({min(steps, 4), min(steps, 32)}):

            def objective(parameters: np.ndarray, horizon: int = horizon) -> float:
                factor = factor_of(parameters)
                spread = 2.0 * math.log(np.linalg.cond(factor))
                norm = _weighted_norm(identity, gradient, points, factor)
                return spread + 2.0 * horizon * math.log(max(norm, 1e-300))

            size = blocks - 1 + len(lower[0])
            fitted = scipy.optimize.minimize(
                objective, np.zeros(size), method="Nelder-Mead", options={"maxiter": 400}
            )
            factor = factor_of(fitted.x)
            spread = np.linalg.cond(factor) ** 2
            norm = _weighted_norm(identity, gradient, points, factor)
            best = np.minimum(best, spread * norm ** (2.0 * times))
    return best


@dataclass(frozen=True, eq=False)
class _Kernel:
    """One step of the recursion for a block of runs (picklable, for executors)."""

    identity: np.ndarray
    gradient: np.ndarray
    noise_identity: np.ndarray | None
    noise_gradient: np.ndarray | None
    noise_sampler: Callable[[np.random.Generator, int, int], np.ndarray] | None
    noise_factor: np.ndarray | None
    hessian: np.ndarray
    vectors: np.ndarray | None
    hessians: np.ndarray | None
    batch: BatchLaw
    samples: int | None
    gather: bool
    full_through_vectors: bool
    rows: tuple[int, ...] = field(default=())

    @property
    def blocks(self) -> int:
        return int(self.identity.shape[0])

    @property
    def dimension(self) -> int:
        return int(self.hessian.shape[0])

    @property
    def noisy(self) -> bool:
        return self.noise_gradient is not None

    def draw_batch(self, runs: int, rng: np.random.Generator) -> tuple[Any, ...] | None:
        """The batch of each run: ``None`` (full), dense weights, or gathered indices."""
        if self.batch.full:
            return None
        samples = self.samples
        assert samples is not None
        if self.gather:
            indices = sample_indices(self.batch, samples, runs, rng)
            if indices is not None:
                size = indices.shape[1]
                return ("gather", indices, np.full((runs, size), 1.0 / size))
        return ("dense", self.batch.sample_weights(samples, runs, rng))

    def draw_noise(self, runs: int, rng: np.random.Generator) -> np.ndarray:
        """``runs`` draws of ``ε`` (shape ``(runs, d)``)."""
        d = self.dimension
        if self.noise_sampler is not None:
            draws = np.asarray(self.noise_sampler(rng, runs, d), dtype=float)
            if draws.shape != (runs, d):
                raise DimensionError(
                    f"the noise sampler must return an array of shape (runs, d) = ({runs}, {d}); "
                    f"got {draws.shape}"
                )
            return draws
        assert self.noise_factor is not None
        return rng.standard_normal((runs, d)) @ self.noise_factor.T

    def apply_batch_hessian(self, vectors: np.ndarray, batch: tuple[Any, ...] | None) -> np.ndarray:
        """``H_B v`` for every run's own batch; ``vectors`` has shape ``(runs, k, d)``."""
        runs, count, d = vectors.shape
        if batch is None:
            flat = vectors.reshape(runs * count, d)
            if self.full_through_vectors:
                x = self.vectors
                assert x is not None
                out = (flat @ x.T) @ x / x.shape[0]
            else:
                out = flat @ self.hessian
            return out.reshape(runs, count, d)
        if self.vectors is not None:
            x = self.vectors
            if batch[0] == "dense":
                coefficients = (vectors.reshape(runs * count, d) @ x.T).reshape(runs, count, -1)
                coefficients *= batch[1][:, None, :]
                return (coefficients.reshape(runs * count, -1) @ x).reshape(runs, count, d)
            indices, weights = batch[1], batch[2]
            out = np.empty_like(vectors)
            # slices of runs small enough for the gathered rows to stay in cache
            block = max(1, _CACHE_BLOCK // (indices.shape[1] * d))
            for start in range(0, runs, block):
                part = slice(start, start + block)
                rows = x[indices[part]]  # (block, B, d)
                coefficients = np.matmul(vectors[part], rows.transpose(0, 2, 1))
                coefficients *= weights[part, None, :]
                out[part] = np.matmul(coefficients, rows)
            return out
        # general per-sample Hessians: form each run's H_B in blocks of runs
        assert self.hessians is not None
        out = np.empty_like(vectors)
        block = max(1, _GATHER_BUDGET // (d * d))
        for start in range(0, runs, block):
            part = slice(start, min(runs, start + block))
            if batch[0] == "dense":
                batch_hessians = np.tensordot(batch[1][part], self.hessians, axes=1)
            else:
                indices, weights = batch[1][part], batch[2][part]
                batch_hessians = weights[:, 0, None, None] * self.hessians[indices[:, 0]]
                for column in range(1, indices.shape[1]):
                    batch_hessians += (
                        weights[:, column, None, None] * self.hessians[indices[:, column]]
                    )
            out[part] = np.matmul(vectors[part], batch_hessians)
        return out

    def step(self, state: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``z ← A z + b`` for every run; ``state`` has shape ``(runs, m, d)``."""
        runs = state.shape[0]
        batch = self.draw_batch(runs, rng)
        noise = self.draw_noise(runs, rng) if self.noisy else None
        if self.blocks == 1:
            new = self.identity[0, 0] * state
        else:
            new = np.einsum("ij,rjd->rid", self.identity, state)
        if self.rows:
            rows = list(self.rows)
            if self.blocks == 1:
                vectors = self.gradient[0, 0] * state
            else:
                vectors = np.einsum("ij,rjd->rid", self.gradient[rows], state)
            if noise is not None:
                assert self.noise_gradient is not None
                vectors = vectors + self.noise_gradient[rows][None, :, None] * noise[:, None, :]
            products = self.apply_batch_hessian(vectors, batch)
            if rows == list(range(len(rows))):
                new[:, : len(rows)] += products  # a view: updated in place
            else:
                new[:, rows] += products
        if noise is not None and self.noise_identity is not None and np.any(self.noise_identity):
            new += self.noise_identity[None, :, None] * noise[:, None, :]
        return new


def _kernel(problem: Quadratic, dynamics: LinearDynamics, lr: float) -> _Kernel:
    dynamics.batch.validate(problem.samples)
    identity, gradient, u, w = _numeric(dynamics, lr)
    d = problem.dimension
    factor = None
    sampler = None
    if dynamics.noise is not None:
        sampler = dynamics.noise.sampler
        if sampler is None:
            try:
                covariance = dynamics.noise.covariance_matrix(d)
            except TypeError:
                raise InvalidTypeError(
                    f"the noise covariance of {dynamics.name} is symbolic; simulation needs numbers"
                ) from None
            if covariance.shape != (d, d):
                raise DimensionError(
                    f"the noise covariance of {dynamics.name} has shape {covariance.shape}, but "
                    f"the problem has d={d} parameters"
                )
            eigenvalues, vectors = np.linalg.eigh(0.5 * (covariance + covariance.T))
            factor = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    rows = tuple(
        i for i in range(dynamics.blocks) if np.any(gradient[i]) or (w is not None and w[i] != 0)
    )
    batch = dynamics.batch
    samples = problem.samples
    vectors = problem.data
    hessians = None
    if not batch.full and vectors is None:
        hessians = np.asarray(problem.per_sample_hessians(), dtype=float)
    gather = bool(not batch.full and samples is not None and 4 * (batch.batch_size or 0) <= samples)
    full_through = bool(batch.full and vectors is not None and 2 * vectors.shape[0] < d)
    return _Kernel(
        identity=identity,
        gradient=gradient,
        noise_identity=u,
        noise_gradient=w,
        noise_sampler=sampler,
        noise_factor=factor,
        hessian=np.asarray(problem.hessian, dtype=float),
        vectors=None if vectors is None else np.asarray(vectors, dtype=float),
        hessians=hessians,
        batch=batch,
        samples=samples,
        gather=gather,
        full_through_vectors=full_through,
        rows=rows,
    )


# ------------------------------------------------------------------------------ chunks
@dataclass(frozen=True, eq=False)
class _Chunk:
    kernel: _Kernel
    steps: int
    runs: int
    start: np.ndarray  # (md,) or (runs, md)
    seed: np.random.SeedSequence


@dataclass(frozen=True, eq=False)
class _ChunkStatistics:
    runs: int
    mean: np.ndarray
    sum_squares: np.ndarray  # Σ (x − mean)² per time
    mean_log: np.ndarray
    final: np.ndarray


def _run_chunk(chunk: _Chunk, meter: ProgressMeter | None = None) -> _ChunkStatistics:
    kernel = chunk.kernel
    m, d = kernel.blocks, kernel.dimension
    rng = np.random.Generator(np.random.PCG64(chunk.seed))
    state = np.array(np.broadcast_to(chunk.start, (chunk.runs, m * d)), dtype=float)
    state = state.reshape(chunk.runs, m, d)
    mean = np.empty(chunk.steps + 1)
    sum_squares = np.empty(chunk.steps + 1)
    mean_log = np.empty(chunk.steps + 1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for t in range(chunk.steps + 1):
            if t:
                state = kernel.step(state, rng)
                if meter is not None:
                    meter.update(1)
            squares = np.einsum("rmd,rmd->r", state, state)
            mean[t] = squares.mean()
            sum_squares[t] = np.square(squares - mean[t]).sum()
            mean_log[t] = np.log(squares).mean()
    return _ChunkStatistics(chunk.runs, mean, sum_squares, mean_log, state.reshape(chunk.runs, -1))


def _combine(parts: Sequence[_ChunkStatistics]) -> tuple[np.ndarray, ...]:
    """Merge chunk statistics in chunk order (Chan, Golub & LeVeque's pairwise update)."""
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


def _check_executor(executor: Any) -> Executor | None:
    if executor is None:
        return None
    if not callable(getattr(executor, "submit", None)):
        raise InvalidTypeError(
            "executor must be a concurrent.futures.Executor (e.g. ProcessPoolExecutor() or a "
            f"dask.distributed Client's get_executor()); got {type(executor).__name__}"
        )
    return executor


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class SimulationResult:
    """The outcome of :func:`simulate`: ``E‖z_t‖²`` estimated from ``runs`` trajectories.

    Attributes
    ----------
    name : str
        The dynamics' name (e.g. ``"SGD"``).
    state : tuple of str
        The state blocks (``("δ_t",)`` or ``("δ_t", "δ_{t-1}")``).
    learning_rate : float
        ``η``.
    steps, runs, chunk_size : int
        The horizon, the number of runs, and the runs per random stream.
    seed : numpy.random.SeedSequence
        The root of the random streams (its ``entropy`` reproduces a ``seed=None`` run).
    mean_square : ndarray, shape (steps + 1,)
        The sample mean of ``‖z_t‖²`` over runs, ``t = 0..steps`` (``inf`` after overflow).
    variance : ndarray, shape (steps + 1,)
        The unbiased sample variance of ``‖z_t‖²`` over runs.
    mean_log_square : ndarray, shape (steps + 1,)
        The mean over runs of ``log ‖z_t‖²`` (a typical run; its slope is twice the top
        Lyapunov exponent).
    range_bound : ndarray, shape (steps + 1,)
        An a priori bound every run obeys, ``‖z_t‖² ≤ κ(P) a_P^{2t} max ‖z_0‖²`` with
        ``a_P ≥ ‖A‖_P`` for every batch in a weighted norm ``‖z‖_P² = zᵀ (P ⊗ I) z``
        (``P = I``: :func:`state_map_norm_bound`; for momentum a fitted ``P``);
        ``inf`` with additive noise.
    deterministic : bool
        Whether every run is the same trajectory (full batch, no noise, one start).
    final_states : ndarray, shape (runs, m d)
        Every run's final state (blocks stacked: ``(δ_T, δ_{T−1})`` for momentum).
    """

    name: str
    state: tuple[str, ...]
    learning_rate: float
    steps: int
    runs: int
    chunk_size: int
    seed: np.random.SeedSequence
    mean_square: np.ndarray
    variance: np.ndarray
    mean_log_square: np.ndarray
    range_bound: np.ndarray
    deterministic: bool
    final_states: np.ndarray

    @property
    def times(self) -> np.ndarray:
        """``0, 1, …, steps``."""
        return np.arange(self.steps + 1)

    @property
    def standard_error(self) -> np.ndarray:
        """``sqrt(variance / runs)`` (meaningful only where the tails are light)."""
        return np.sqrt(self.variance / self.runs)

    @property
    def lyapunov_exponent(self) -> float:
        """The growth rate of a typical run, ``(E log‖z_T‖ − E log‖z_0‖) / T``.

        Negative while almost every run decays, even when ``E‖z_t‖²`` grows.
        """
        return float((self.mean_log_square[-1] - self.mean_log_square[0]) / (2 * self.steps))

    def band_kind(self) -> str:
        """The band :meth:`band` uses by default: ``"exact"``, ``"bernstein"`` or ``"normal"``."""
        if self.deterministic:
            return "exact"
        if np.all(np.isfinite(self.range_bound)):
            return "bernstein"
        return "normal"

    def band(
        self,
        false_alarm: float = DEFAULT_FALSE_ALARM,
        *,
        kind: BandKind = "auto",
        times: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A simultaneous confidence band for ``E‖z_t‖²`` at ``times`` (default all).

        Parameters
        ----------
        false_alarm : float, default 1e-6
            The probability that the true ``E‖z_t‖²`` leaves the band at any of the
            ``times`` (Bonferroni: each time gets ``false_alarm / len(times)``). A
            guarantee for ``"exact"`` and ``"bernstein"``; asymptotic for ``"normal"``.
        kind : {"auto", "exact", "bernstein", "normal"}
            ``"auto"`` is :meth:`band_kind`.
        times : array_like of int, optional
            The time points (default ``0..steps``).

        Returns
        -------
        lower, upper : ndarray
            Band ends at ``times`` (``lower ≥ 0``; ``upper ≤ range_bound`` for Bernstein).

        Examples
        --------
        >>> import numpy as np
        >>> from stability import SGD, Quadratic
        >>> from stability.simulation import simulate
        >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> result = simulate(problem, SGD(1), 0.5, steps=5, runs=4000, seed=0)
        >>> lower, upper = result.band(1e-6)
        >>> bool(np.all(lower <= result.mean_square) and np.all(result.mean_square <= upper))
        True
        """
        false_alarm = check_false_alarm(false_alarm)
        selected = self.times if times is None else np.asarray(times, dtype=int)
        if (
            selected.ndim != 1
            or selected.size == 0
            or np.any(selected < 0)
            or np.any(selected > self.steps)
        ):
            raise InvalidInputError(f"times must be a non-empty list of steps in 0..{self.steps}")
        kind = self.band_kind() if kind == "auto" else kind
        mean = self.mean_square[selected]
        per_time = false_alarm / selected.size
        slack = _ROUNDING * (selected + 1) * np.abs(mean)
        with np.errstate(invalid="ignore", over="ignore"):
            if kind == "exact":
                radius = slack
            elif kind == "bernstein":
                radius = (
                    bernstein_radius(
                        self.variance[selected], self.runs, self.range_bound[selected], per_time
                    )
                    + slack
                )
            elif kind == "normal":
                radius = normal_radius(self.variance[selected], self.runs, per_time) + slack
            else:
                raise InvalidInputError(
                    f"kind must be 'auto', 'exact', 'bernstein' or 'normal'; got {kind!r}"
                )
            lower = np.maximum(mean - radius, 0.0)
            upper = mean + radius
            if kind == "bernstein":
                upper = np.minimum(upper, self.range_bound[selected] * (1 + _ROUNDING))
        lower = np.where(np.isfinite(mean), lower, 0.0)
        upper = np.where(np.isfinite(mean), upper, np.inf)
        return lower, upper

    @property
    def lower(self) -> np.ndarray:
        """Lower end of the default band (:meth:`band` with ``false_alarm=1e-6``)."""
        return self.band()[0]

    @property
    def upper(self) -> np.ndarray:
        """Upper end of the default band (:meth:`band` with ``false_alarm=1e-6``)."""
        return self.band()[1]

    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON summary (no per-run states).

        Non-finite numbers are never written as ``NaN``/``Infinity`` tokens: in the lists
        they are the strings ``"inf"``, ``"-inf"`` and ``"nan"``; the Lyapunov exponent is
        ``"inf"``, ``"-inf"`` or ``null`` (see :func:`json_number`).
        """
        lower, upper = self.band()
        return {
            "method": self.name,
            "learning_rate": self.learning_rate,
            "steps": self.steps,
            "runs": self.runs,
            "seed": int(self.seed.entropy) if isinstance(self.seed.entropy, int) else None,
            "spawn_key": [int(k) for k in self.seed.spawn_key],
            "band": self.band_kind(),
            "false_alarm": DEFAULT_FALSE_ALARM,
            "mean_square": _finite_list(self.mean_square),
            "lower": _finite_list(lower),
            "upper": _finite_list(upper),
            "lyapunov_exponent": json_number(self.lyapunov_exponent),
        }


def json_number(value: Any) -> float | str | None:
    """A number for strict JSON: finite floats as they are, ``"inf"``/``"-inf"``, NaN as ``None``.

    Parameters
    ----------
    value : float
        Any real number (converted with ``float``).

    Examples
    --------
    >>> from stability.simulation import json_number
    >>> [json_number(x) for x in (0.5, float("inf"), float("-inf"), float("nan"))]
    [0.5, 'inf', '-inf', None]
    """
    value = float(value)
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return None
    return "inf" if value > 0 else "-inf"


def _finite_list(values: np.ndarray) -> list[float | str]:
    """Strict-JSON list: finite floats, ``"inf"``, ``"-inf"`` or ``"nan"`` (documented strings)."""
    return [
        float(v) if np.isfinite(v) else ("nan" if np.isnan(v) else ("inf" if v > 0 else "-inf"))
        for v in values
    ]


# ------------------------------------------------------------------------------ simulate
@dataclass(frozen=True, eq=False)
class _Plan:
    """Everything needed to run one simulation's chunks and assemble its result."""

    dynamics: LinearDynamics
    learning_rate: float
    steps: int
    runs: int
    chunk_size: int
    seed: np.random.SeedSequence
    chunks: tuple[_Chunk, ...]
    range_bound: np.ndarray
    deterministic: bool

    def result(self, parts: Sequence[_ChunkStatistics]) -> SimulationResult:
        mean, variance, mean_log, final = _combine(parts)
        if self.deterministic:
            variance = np.zeros_like(variance)
        return SimulationResult(
            name=self.dynamics.name,
            state=self.dynamics.state,
            learning_rate=self.learning_rate,
            steps=self.steps,
            runs=self.runs,
            chunk_size=self.chunk_size,
            seed=self.seed,
            mean_square=mean,
            variance=variance,
            mean_log_square=mean_log,
            range_bound=self.range_bound,
            deterministic=self.deterministic,
            final_states=final,
        )


def _plan(
    problem: Any,
    method: Any,
    lr: Any,
    *,
    steps: Any,
    runs: Any,
    seed: SeedLike,
    init: Any,
    chunk_size: Any,
) -> _Plan:
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    lr = check_learning_rate(lr)
    steps = check_positive_integer(steps, "steps")
    runs = check_positive_integer(runs, "runs")
    chunk_size = check_positive_integer(chunk_size, "chunk_size")
    kernel = _kernel(problem, dynamics, lr)
    starts = initial_states(init, problem.dimension, dynamics.blocks)
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
        chunks.append(_Chunk(kernel, steps, end - begin, start, child))
    start_norm = float(np.max(np.sum(np.atleast_2d(starts) ** 2, axis=1)))
    with np.errstate(over="ignore", invalid="ignore"):
        range_bound = start_norm * growth_bound(problem, dynamics, lr, steps)
    range_bound[np.isnan(range_bound)] = np.inf
    if dynamics.noise is not None:
        range_bound = np.full(steps + 1, np.inf)
    deterministic = dynamics.batch.full and dynamics.noise is None and starts.ndim == 1
    return _Plan(
        dynamics, lr, steps, runs, chunk_size, root, tuple(chunks), range_bound, deterministic
    )


def _execute(
    chunks: Sequence[_Chunk], executor: Executor | None, meter: ProgressMeter
) -> list[_ChunkStatistics]:
    """Run chunks (serially, or through ``executor``) and return them in order."""
    if executor is None:
        return [_run_chunk(chunk, meter) for chunk in chunks]
    futures = {executor.submit(_run_chunk, chunk): index for index, chunk in enumerate(chunks)}
    results: list[_ChunkStatistics | None] = [None] * len(chunks)
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
    method: Any,
    lr: float,
    *,
    steps: int,
    runs: int,
    seed: SeedLike = None,
    init: Any = None,
    progress: bool | ProgressMeter = False,
    executor: Executor | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> SimulationResult:
    """Simulate ``runs`` independent trajectories of a method's linear recursion.

    Exactly the recursion of ``docs/theory/operator.md`` that the exact layers analyse,
    read from the method's :class:`~stability.dynamics.LinearDynamics`, vectorised over
    runs (see the module documentation for the batch, noise and cost details).

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
        length ``m d``, or an array with one such start per run (``runs`` rows). Default
        ``(1, …, 1)/√d`` (:func:`stability._starts.default_initial_error`).
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

    Returns
    -------
    SimulationResult
        ``mean_square`` (``E‖z_t‖²`` estimates), its confidence band
        (:meth:`SimulationResult.band`, guaranteed coverage without noise), the per-run
        final states and more.

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
    executor = _check_executor(executor)
    plan = _plan(
        problem, method, lr, steps=steps, runs=runs, seed=seed, init=init, chunk_size=chunk_size
    )
    meter = as_progress(progress)
    meter.start(len(plan.chunks) * plan.steps, f"simulate {plan.dynamics.name}")
    try:
        parts = _execute(plan.chunks, executor, meter)
    finally:
        meter.close()
    return plan.result(parts)


# ------------------------------------------------------------------------------ sweep
@dataclass(frozen=True, eq=False)
class SweepResult:
    """Simulations on a grid of methods (e.g. batch sizes) × learning rates.

    Attributes
    ----------
    names : tuple of str
        One label per method (the dynamics' name and batch law).
    learning_rates : ndarray, shape (methods, rates)
        The absolute learning rates simulated.
    results : tuple of tuples of SimulationResult
        ``results[i][j]`` for method ``i`` at rate ``learning_rates[i, j]``.
    """

    names: tuple[str, ...]
    learning_rates: np.ndarray
    results: tuple[tuple[SimulationResult, ...], ...]

    @property
    def mean_square(self) -> np.ndarray:
        """``E‖z_t‖²`` estimates, shape ``(methods, rates, steps + 1)``."""
        return np.array([[result.mean_square for result in row] for row in self.results])

    @property
    def final_mean_square(self) -> np.ndarray:
        """The estimates at the last step, shape ``(methods, rates)``."""
        return self.mean_square[..., -1]


def simulate_grid(
    problem: Quadratic,
    methods: Any,
    learning_rates: Any,
    *,
    steps: int,
    runs: int,
    seed: SeedLike = None,
    init: Any = None,
    progress: bool | ProgressMeter = False,
    executor: Executor | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> SweepResult:
    """Simulate every method at its learning rates, all chunks through one executor.

    The engine of :func:`stability.sweep` (which also offers rates relative to each method's
    exact ``η*``). Cell ``k`` (row-major over methods × rates) uses child ``k`` of
    ``SeedSequence(seed)``, so it equals
    ``simulate(..., seed=SeedSequence(seed).spawn(K)[k])`` and, like :func:`simulate`, does
    not depend on the executor.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    methods : Method, LinearDynamics or a sequence of them
        E.g. ``[SGD(b) for b in (1, 4, 16)]``.
    learning_rates : array_like, shape (rates,) or (methods, rates)
        Positive learning rates: the same for every method, or one row per method.
    steps : int
        The horizon of every simulation.
    runs : int
        The runs of every simulation.
    seed : int or numpy.random.SeedSequence, optional
        Root of the random streams; cell ``k`` uses its child ``k``.
    init : array_like, optional
        The start, as in :func:`simulate`.
    progress : bool or ProgressMeter, default False
        One progress bar over all cells.
    executor : concurrent.futures.Executor, optional
        Runs the chunks of all cells in parallel.
    chunk_size : int, default 1024
        Runs per random stream.

    Returns
    -------
    SweepResult
        The grid of :class:`SimulationResult`.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.simulation import simulate_grid
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> grid = simulate_grid(problem, [SGD(1), SGD(2)], [0.2, 1.5], steps=30, runs=500, seed=0)
    >>> grid.final_mean_square.shape
    (2, 2)
    >>> bool(grid.final_mean_square[0, 1] > grid.final_mean_square[0, 0])
    True
    """
    executor = _check_executor(executor)
    problem = as_problem(problem)
    method_list = list(methods) if isinstance(methods, list | tuple) else [methods]
    if not method_list:
        raise InvalidInputError("methods must name at least one method")
    rates = as_finite_array(learning_rates, "learning_rates", (1, 2))
    if rates.ndim == 2 and rates.shape[0] != len(method_list):
        raise DimensionError(
            f"learning_rates must have one row per method ({len(method_list)}); got shape "
            f"{rates.shape}"
        )
    if np.any(rates <= 0):
        raise InvalidInputError(
            f"learning_rates must be positive; the smallest is {float(rates.min()):.6g}"
        )
    grid = np.array(np.broadcast_to(rates, (len(method_list), rates.shape[-1])), dtype=float)
    columns = grid.shape[1]
    cells = as_seed_sequence(seed).spawn(grid.size)
    plans = [
        _plan(
            problem,
            method_list[row],
            grid[row, column],
            steps=steps,
            runs=runs,
            seed=cells[row * columns + column],
            init=init,
            chunk_size=chunk_size,
        )
        for row in range(len(method_list))
        for column in range(columns)
    ]
    chunks = [chunk for plan in plans for chunk in plan.chunks]
    meter = as_progress(progress)
    meter.start(len(chunks) * plans[0].steps, "sweep")
    try:
        parts = _execute(chunks, executor, meter)
    finally:
        meter.close()
    results = []
    offset = 0
    for plan in plans:
        results.append(plan.result(parts[offset : offset + len(plan.chunks)]))
        offset += len(plan.chunks)
    names = tuple(f"{as_dynamics(m).name} ({as_dynamics(m).batch.describe()})" for m in method_list)
    table = tuple(tuple(results[row * columns : (row + 1) * columns]) for row in range(len(names)))
    return SweepResult(names, grid, table)
