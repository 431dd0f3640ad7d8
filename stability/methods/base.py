"""The base class every optimiser derives from.

A method is a small frozen object holding its hyper-parameters (validated on
construction) and one job: :meth:`Method.dynamics` compiles it to the shared
:class:`~stability.dynamics.LinearDynamics`. Adding an optimiser means writing one
such class in one small file; the numeric, symbolic and Monte Carlo evaluators need
no change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from stability.dynamics import BatchLaw, LinearDynamics
from stability.errors import InvalidTypeError

__all__ = ["Method", "as_dynamics"]


@dataclass(frozen=True)
class Method(ABC):
    """An optimiser that compiles to a :class:`~stability.dynamics.LinearDynamics`."""

    @abstractmethod
    def dynamics(self) -> LinearDynamics:
        """The method's random linear recursion near a quadratic minimum."""

    @property
    def batch(self) -> BatchLaw:
        """The law of the batch draw (full batch unless the method samples)."""
        return self.dynamics().batch


def as_dynamics(method: Any) -> LinearDynamics:
    """Accept a :class:`Method` or a ready :class:`~stability.dynamics.LinearDynamics`.

    Raises
    ------
    InvalidTypeError
        If ``method`` is neither.
    """
    if isinstance(method, LinearDynamics):
        return method
    if isinstance(method, Method):
        return method.dynamics()
    raise InvalidTypeError(
        "method must be a stability method (GD(), SGD(...), HeavyBall(...), ...) or a "
        f"LinearDynamics; got {type(method).__name__}"
    )
