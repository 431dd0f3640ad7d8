"""Optimisers, one small file each, every one compiling to :class:`~stability.dynamics.LinearDynamics`."""

from stability.methods.base import Method
from stability.methods.gradient import GD, SGD
from stability.methods.momentum import HeavyBall, Nesterov

__all__ = [
    "GD",
    "SGD",
    "HeavyBall",
    "Method",
    "Nesterov",
]
