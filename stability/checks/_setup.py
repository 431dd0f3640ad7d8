"""The setup shared by every comparison at one learning rate.

A rate's random streams are children of its seed with fixed indices (:class:`Stream`), so a
check is reproducible from its seed whatever else changes.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import Any

import numpy as np

from stability._system import System
from stability.checks._operator import OperatorLike, StackOperator, operator_apply
from stability.numeric import SecondMomentRecursion, second_moment_recursion
from stability.progress import ProgressMeter
from stability.simulation import state_map_norm_bound

__all__ = ["STREAMS", "RateOptions", "RateSetup", "Stream", "prepare"]


class Stream(IntEnum):
    """The child stream of a rate's seed used for each random draw."""

    MIXTURE = 0  # the mixture starts of both one-step probes
    TOP = 1  # the one-step runs from the top mode
    PROBE = 2  # the random probe itself
    PROBE_RUNS = 3  # the one-step runs from it
    NOISE = 4  # the one-step runs of the noise
    TRAJECTORY = 5  # the trajectory


#: Child streams spawned per rate (three spare).
STREAMS = 8


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
    >>> from stability.checks._setup import RateOptions, prepare
    >>> from stability._system import bind
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
