"""Optimisers, one small file each, each compiling to a shared LinearDynamics."""

from stability.methods.base import Method
from stability.methods.gradient import GD, SGD
from stability.methods.momentum import HeavyBall, Nesterov
from stability.methods.variational import VariationalGD

__all__ = [
    "GD",
    "SGD",
    "HeavyBall",
    "Method",
    "Nesterov",
    "VariationalGD",
]
