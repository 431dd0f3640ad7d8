"""Simulations on a grid of methods × learning rates, all chunks through one executor."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from stability._validation import as_finite_array, as_seed_sequence
from stability.errors import DimensionError, InvalidInputError
from stability.problems import Quadratic, as_problem
from stability.progress import ProgressMeter, as_progress
from stability.simulation._result import SimulationResult
from stability.simulation._runner import (
    DEFAULT_CHUNK_SIZE,
    SeedLike,
    check_executor,
    execute,
    plan,
)

__all__ = ["SweepResult", "simulate_grid"]


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

    @property
    def mean_loss(self) -> np.ndarray:
        """Mean loss estimates ``E ½ δ_tᵀ H δ_t``, shape ``(methods, rates, steps + 1)``."""
        return np.array([[result.mean_loss for result in row] for row in self.results])


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
    executor = check_executor(executor)
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
        plan(
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
    chunks = [chunk for layout in plans for chunk in layout.chunks]
    meter = as_progress(progress)
    meter.start(len(chunks) * plans[0].steps, "sweep")
    try:
        parts = execute(chunks, executor, meter)
    finally:
        meter.close()
    results = []
    offset = 0
    for layout in plans:
        results.append(layout.result(parts[offset : offset + len(layout.chunks)]))
        offset += len(layout.chunks)
    names = tuple(
        f"{plans[row * columns].dynamics.name} ({plans[row * columns].dynamics.batch.describe()})"
        for row in range(len(method_list))
    )
    table = tuple(tuple(results[row * columns : (row + 1) * columns]) for row in range(len(names)))
    return SweepResult(names, grid, table)
