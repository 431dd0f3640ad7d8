"""Optimisers, one small file each, each compiling to a shared LinearDynamics."""

from stability.methods.adaptive import Adam, AdamW, RMSProp
from stability.methods.base import Method
from stability.methods.gradient import GD, SGD
from stability.methods.momentum import HeavyBall, Nesterov
from stability.methods.variational import VariationalGD

__all__ = [
    "GD",
    "SGD",
    "Adam",
    "AdamW",
    "HeavyBall",
    "Method",
    "Nesterov",
    "RMSProp",
    "VariationalGD",
]
