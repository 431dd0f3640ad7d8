"""Optimisers, one small file each, each compiling to a shared LinearDynamics."""

from stability.methods._adaptive import Adam, AdamW, RMSProp
from stability.methods._base import Method, as_dynamics, batch_law, check_weight_decay
from stability.methods._gradient import GD, SGD, gradient_step_dynamics
from stability.methods._momentum import HeavyBall, Nesterov
from stability.methods._variational import (
    PosteriorMeanSampler,
    VariationalGD,
    posterior_covariance_matrix,
)

__all__ = [
    "GD",
    "SGD",
    "Adam",
    "AdamW",
    "HeavyBall",
    "Method",
    "Nesterov",
    "PosteriorMeanSampler",
    "RMSProp",
    "VariationalGD",
    "as_dynamics",
    "batch_law",
    "check_weight_decay",
    "gradient_step_dynamics",
    "posterior_covariance_matrix",
]
