"""Random reshuffling: the epoch's second-moment operator, its exact threshold, Monte Carlo.

Theory: ``docs/theory/reshuffling.md``. With ``shuffle=True`` every epoch draws a uniform
permutation of the ``n`` samples and cuts it into the batches ``B_1, …, B_K`` of
:class:`~stability.dynamics.ReshuffledBatchLaw`. Within an epoch the batches are dependent
(they never share a sample), across epochs they are independent, so mean-square stability is
``ρ(𝒯) < 1`` for the epoch operator ``𝒯(S) = E_π[P S Pᵀ]``, ``P = A_{B_K} ⋯ A_{B_1}``.

The ordinary evaluators read the batch law and take the epoch route themselves:
``stability.critical_learning_rate(problem, SGD(B, shuffle=True))`` is the exact epoch threshold,
``stability.spectral_radius`` the growth per step ``ρ(𝒯)^{1/K}``, and
``stability.predicted_mean_square`` the exact mean square at every step. This module holds what
is specific to epochs: the operator itself (:func:`epoch_operator`, built by the numeric layer's
recursion over the samples used, exact up to ``n = 16``), its radius per epoch, the mean square
at epoch ends, and :func:`simulate_epochs`, a Monte Carlo of the real epoch law that needs no
exact operator and works at any ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.stats

from stability._validation import check_learning_rate, check_positive_integer
from stability.dynamics import LinearDynamics, ReshuffledBatchLaw
from stability.errors import InvalidInputError
from stability.methods import Method
from stability.numeric import (
    EPOCH_TRANSITION_LIMIT,
    EpochOperator,
    epoch_operator,
    predicted_mean_square,
)
from stability.preconditioning import congruent
from stability.problems import Quadratic, as_problem
from stability.simulation import simulate

if TYPE_CHECKING:
    from stability.methods import MethodLike
    from stability.problems import ProblemLike

__all__ = [
    "EPOCH_TRANSITION_LIMIT",
    "EpochOperator",
    "EpochSimulation",
    "epoch_critical_learning_rate",
    "epoch_operator",
    "epoch_spectral_radius",
    "predicted_epoch_mean_square",
    "simulate_epochs",
]


def _reshuffled_pair(problem: ProblemLike, method: MethodLike) -> tuple[Quadratic, LinearDynamics]:
    if isinstance(method, Method | LinearDynamics):
        problem, dynamics = congruent(problem, method)
    else:
        raise InvalidInputError(
            "method must be a stability method or LinearDynamics with shuffle=True; got "
            f"{type(method).__name__}"
        )
    if not isinstance(dynamics.batch, ReshuffledBatchLaw):
        raise InvalidInputError(
            f"method must reshuffle its batches (shuffle=True); {dynamics.name} draws "
            f"{dynamics.batch.describe()}, whose steps are i.i.d.: use "
            "stability.critical_learning_rate for it"
        )
    return problem, dynamics


def epoch_spectral_radius(problem: Quadratic, method: MethodLike, lr: float) -> float:
    """``ρ(𝒯(η))`` of the exact epoch operator, the growth of ``E‖z‖²`` per epoch.

    :func:`stability.spectral_radius` gives the growth per step, ``ρ(𝒯)^{1/K}``.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser, with ``shuffle=True``.
    lr : float
        Learning rate η.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.reshuffling import epoch_spectral_radius
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> round(epoch_spectral_radius(problem, SGD(1, shuffle=True), 0.5), 12)  # (0.5 · 0.5)²
    0.0625
    """
    lr = check_learning_rate(lr)
    _reshuffled_pair(problem, method)
    return epoch_operator(problem, method).radius(lr)


def epoch_critical_learning_rate(problem: Quadratic, method: MethodLike) -> float:
    """The exact mean-square threshold ``η*`` of a reshuffled method: first ``ρ(𝒯(η)) = 1``.

    The same number as :func:`stability.critical_learning_rate` gives for a method with
    ``shuffle=True``; this name refuses i.i.d. methods.

    Parameters
    ----------
    problem : Quadratic
        A problem with per-sample structure, ``n ≤ 16`` samples.
    method : Method or LinearDynamics
        A method with ``shuffle=True``.

    Returns
    -------
    float
        ``η*``; ``math.inf`` if no crossing is found up to ``η λ_max = 1000``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic, critical_learning_rate
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> round(epoch_critical_learning_rate(problem, SGD(1, shuffle=True)), 12)  # 4/3
    1.333333333333
    >>> round(critical_learning_rate(problem, SGD(1)), 12)  # i.i.d. draws: 0.8
    0.8
    """
    _reshuffled_pair(problem, method)
    return epoch_operator(problem, method).threshold()


def predicted_epoch_mean_square(
    problem: Quadratic, method: MethodLike, lr: float, *, epochs: int, init: Any = None
) -> np.ndarray:
    """The exact ``E‖z‖²`` at the end of each epoch, ``e = 0..epochs``.

    Every ``K``-th value of :func:`stability.predicted_mean_square`; ``init`` as there
    (``δ_0``, a full state, or one start per row; default
    :func:`stability._starts.default_initial_error`).

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser, with ``shuffle=True``.
    lr : float
        Learning rate η.
    epochs : int
        Number of epochs.
    init : Any, default None
        The start.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.reshuffling import predicted_epoch_mean_square
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> predicted_epoch_mean_square(problem, SGD(1, shuffle=True), 0.5, epochs=2)
    array([1.        , 0.0625    , 0.00390625])
    """
    lr = check_learning_rate(lr)
    epochs = check_positive_integer(epochs, "epochs")
    congruent_problem, dynamics = _reshuffled_pair(problem, method)
    steps = len(dynamics.batch.batch_sizes(congruent_problem.samples))
    # E‖δ‖² in the original coordinates (the per-step prediction maps a preconditioner back)
    values = predicted_mean_square(problem, method, lr, steps=epochs * steps, init=init)
    return values[::steps]


@dataclass(frozen=True)
class EpochSimulation:
    """Monte Carlo of the reshuffled recursion, recorded at the end of each epoch.

    Attributes
    ----------
    mean_square : ndarray, shape (epochs + 1,)
        Sample mean of ``‖z‖²``.
    standard_error : ndarray, shape (epochs + 1,)
        Its standard error.
    mean_log_square : ndarray, shape (epochs + 1,)
        Sample mean of ``log ‖z‖²`` (the typical run).
    runs : int
        Independent runs.
    steps_per_epoch : int
        ``K``.
    seed : int or None
        The seed.
    """

    mean_square: np.ndarray
    standard_error: np.ndarray
    mean_log_square: np.ndarray
    runs: int
    steps_per_epoch: int
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


def simulate_epochs(
    problem: Quadratic,
    method: MethodLike,
    lr: float,
    *,
    epochs: int,
    runs: int,
    seed: int | None = None,
    init: Any = None,
) -> EpochSimulation:
    """Simulate the reshuffled recursion step by step, each run drawing its own permutations.

    A call of :func:`stability.simulation.simulate`, whose batch law draws each run's fresh
    permutation per epoch (:meth:`ReshuffledBatchLaw.sampler
    <stability.dynamics.ReshuffledBatchLaw.sampler>`), read at the end of every epoch.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (with per-sample structure).
    method : Method or LinearDynamics
        The optimiser, with ``shuffle=True``.
    lr : float
        Learning rate η.
    epochs : int
        Epochs to run.
    runs : int
        Independent runs.
    seed : int, optional
        Seed of the permutations.
    init : array_like, optional
        The start, as in :func:`stability.predicted_mean_square` (one start for every run).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.reshuffling import simulate_epochs
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> result = simulate_epochs(problem, SGD(1, shuffle=True), 0.5, epochs=2, runs=10, seed=0)
    >>> result.mean_square  # one dimension: the order does not matter
    array([1.        , 0.0625    , 0.00390625])
    """
    lr = check_learning_rate(lr)
    epochs = check_positive_integer(epochs, "epochs")
    runs = check_positive_integer(runs, "runs")
    problem = as_problem(problem)
    _reshuffled_pair(problem, method)  # validates the method: reshuffled batches
    dynamics = method if isinstance(method, LinearDynamics) else method.dynamics()
    if problem.samples is None:
        raise InvalidInputError(
            "problem must have per-sample structure (Quadratic.from_hessians, from_data or "
            "from_gram) for reshuffled batches"
        )
    per_epoch = len(dynamics.batch.batch_sizes(problem.samples))
    result = simulate(
        problem, dynamics, lr, steps=epochs * per_epoch, runs=runs, seed=seed, init=init
    )
    return EpochSimulation(
        result.mean_square[::per_epoch],
        result.standard_error[::per_epoch],
        result.mean_log_square[::per_epoch],
        runs,
        per_epoch,
        seed,
    )
