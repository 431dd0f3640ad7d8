"""Optimisers, one small file each, each compiling to a shared LinearDynamics."""

from stability.methods._adaptive import Adam, AdamW, RMSProp
from stability.methods._base import Method
from stability.methods._gradient import GD, SGD
from stability.methods._momentum import HeavyBall, Nesterov
from stability.methods._variational import VariationalGD
from stability.methods._base import MethodLike
from stability.methods._variational import PosteriorMeanSampler
from stability.methods._base import as_dynamics
from stability.methods._base import batch_law
from stability.methods._base import check_weight_decay
from stability.methods._gradient import gradient_step_dynamics
from stability.methods._variational import posterior_covariance_matrix

__all__ = [
    "Adam",
    "AdamW",
    "as_dynamics",
    "batch_law",
    "check_weight_decay",
    "GD",
    "gradient_step_dynamics",
    "HeavyBall",
    "Method",
    "MethodLike",
    "Nesterov",
    "posterior_covariance_matrix",
    "PosteriorMeanSampler",
    "RMSProp",
    "SGD",
    "VariationalGD",
]
