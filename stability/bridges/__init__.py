"""Bridges from PyTorch and JAX models to :class:`~stability.Quadratic` problems.

Theory: ``docs/theory/losses.md`` (loss conventions, the Gauss–Newton form and when it is
the Hessian).

* :mod:`stability.bridges.torch`: an ``nn.Module`` and its parameters (through
  ``torch.func.functional_call``); install with ``pip install 'stability[torch]'``.
* :mod:`stability.bridges.jax`: an apply function and a params pytree; install with
  ``pip install 'stability[jax]'``.

Both offer the same four functions: ``jacobians`` (per-sample Jacobians of the outputs,
computed in chunks of samples), ``check_minimum`` (gradient norm and residuals: is the
Gauss–Newton form the Hessian here?), ``polish`` (Levenberg–Marquardt to a nearby
interpolating minimum) and ``build_problem`` (the :class:`~stability.Quadratic` for a named
loss convention of :mod:`stability.losses`). Everything is computed in float64. The
framework is imported when a function is called; without it the call raises
:class:`OptionalDependencyError`, naming the extra to install.

Examples
--------
>>> from stability.bridges import GaussNewtonWarning, OptionalDependencyError
>>> issubclass(GaussNewtonWarning, UserWarning), issubclass(OptionalDependencyError, ImportError)
(True, True)
"""

from __future__ import annotations

from stability.bridges._core import (
    GaussNewtonWarning,
    MinimumReport,
    ModelJacobians,
    OptionalDependencyError,
    ParameterBlock,
    PolishReport,
)

__all__ = [
    "GaussNewtonWarning",
    "MinimumReport",
    "ModelJacobians",
    "OptionalDependencyError",
    "ParameterBlock",
    "PolishReport",
]
