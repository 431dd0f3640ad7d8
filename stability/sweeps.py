"""Monte Carlo sweeps over methods × learning rates, absolute or relative to the exact ``η*``.

The layer above the Monte Carlo engine (:mod:`stability.simulation`, which imports no
numeric code): it reads each method's exact critical learning rate when the rates are given
as multiples of it -- :mod:`stability.numeric` for i.i.d. batches,
:func:`stability.reshuffling.epoch_critical_learning_rate` for reshuffled epochs, on the
congruent problem (:func:`stability.preconditioning.congruent`) for a frozen preconditioner --
and hands the absolute grid to :func:`stability.simulation.simulate_grid`.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import Any

import numpy as np

from stability._validation import as_finite_array
from stability.dynamics import LinearDynamics
from stability.errors import InvalidInputError
from stability.numeric import critical_learning_rate
from stability.problems import Quadratic, as_problem
from stability.progress import ProgressMeter
from stability.simulation import DEFAULT_CHUNK_SIZE, SeedLike, SweepResult, simulate_grid

__all__ = ["sweep"]


def sweep(
    problem: Quadratic,
    methods: Any,
    learning_rates: Any,
    *,
    steps: int,
    runs: int,
    seed: SeedLike = None,
    init: Any = None,
    relative: bool = False,
    progress: bool | ProgressMeter = False,
    executor: Executor | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> SweepResult:
    """Simulate every method at every learning rate, all chunks through one executor.

    Cell ``k`` (row-major over methods × rates) uses child ``k`` of
    ``SeedSequence(seed)``, so it equals ``simulate(..., seed=SeedSequence(seed).spawn(K)[k])``
    and, like :func:`simulate`, does not depend on the executor.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    methods : Method, LinearDynamics or a sequence of them
        E.g. ``[SGD(b) for b in (1, 4, 16)]``.
    learning_rates : array_like, shape (rates,)
        Positive learning rates; with ``relative=True``, multiples of each method's exact
        critical learning rate ``η*`` (the epoch threshold for ``shuffle=True``).
    steps : int
        The horizon of every simulation.
    runs : int
        The runs of every simulation.
    seed : int or numpy.random.SeedSequence, optional
        Root of the random streams; cell ``k`` uses its child ``k``.
    init : array_like, optional
        The start, as in :func:`simulate`.
    relative : bool, default False
        Interpret ``learning_rates`` as multiples of ``η*`` (per method).
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
    >>> from stability.sweeps import sweep
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> grid = sweep(problem, [SGD(1), SGD(2)], [0.5, 2.0], relative=True,
    ...              steps=30, runs=500, seed=0)
    >>> grid.final_mean_square.shape
    (2, 2)
    >>> bool(grid.final_mean_square[0, 1] > grid.final_mean_square[0, 0])
    True
    """
    problem = as_problem(problem)
    method_list = list(methods) if isinstance(methods, list | tuple) else [methods]
    if not method_list:
        raise InvalidInputError("methods must name at least one method")
    rates = as_finite_array(learning_rates, "learning_rates", 1)
    if np.any(rates <= 0):
        raise InvalidInputError(
            f"learning_rates must be positive; the smallest is {float(rates.min()):.6g}"
        )
    grid = np.empty((len(method_list), rates.size))
    for row, method in enumerate(method_list):
        scale = 1.0
        if relative:  # preconditioned and reshuffled methods included
            scale = critical_learning_rate(problem, method)
            if not math.isfinite(scale):
                name = method.name if isinstance(method, LinearDynamics) else type(method).__name__
                raise InvalidInputError(
                    f"relative=True needs a finite critical learning rate; "
                    f"{name} is stable at every rate on this problem"
                )
        grid[row] = rates * scale
    return simulate_grid(
        problem,
        method_list,
        grid,
        steps=steps,
        runs=runs,
        seed=seed,
        init=init,
        progress=progress,
        executor=executor,
        chunk_size=chunk_size,
    )
