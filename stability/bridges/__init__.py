"""Bridges from PyTorch and JAX models to :class:`~stability.Quadratic` problems.

Theory: ``docs/theory/losses.md`` (loss conventions, the Gauss–Newton form and when it is
the Hessian).

* :mod:`stability.bridges.torch`: an ``nn.Module`` and its parameters (through
  ``torch.func.functional_call``); install with ``pip install 'optimizer-stability[torch]'``.
* :mod:`stability.bridges.jax`: an apply function and a params pytree; install with
  ``pip install 'optimizer-stability[jax]'``.

Both offer the same four functions: ``jacobians`` (per-sample Jacobians of the outputs,
computed in chunks of samples), ``check_minimum`` (gradient norm and residuals: is the
Gauss–Newton form the Hessian here?), ``polish`` (Levenberg–Marquardt to a nearby
interpolating minimum) and ``build_problem`` (the :class:`~stability.Quadratic` for a named
loss convention of :mod:`stability.losses`). Everything is computed in float64. The
framework is imported when a function is called; without it the call raises
:class:`OptionalDependencyError`, naming the extra to install. Each framework module only
turns its model into outputs and per-sample Jacobians; the checks, the polish and the
problem are computed by the same code for both.

**Parameters shared by both bridges** (after the framework's own model arguments):

* ``targets``: one entry or row per sample; for square losses the shape of the outputs,
  for cross-entropy class indices ``(n,)`` or probabilities ``(n, k)``. Tensors and
  arrays are accepted.
* ``loss``: a :class:`~stability.losses.LossConvention` or one of its names or aliases
  (default ``"half_squared_error"``).
* ``chunk_size``: samples per ``vmap(jacrev)`` call (default: all at once); bounds the
  memory of the autodiff intermediates.
* ``progress``: ``True`` or a :class:`~stability.progress.ProgressMeter` reports progress
  over the chunks.
* ``tolerance``: ``check_minimum`` and ``build_problem`` accept a point whose largest
  residual is at most this (default ``1e-6``); ``polish`` stops there (default ``1e-12``).
* ``warn`` (``check_minimum``) and ``check`` (``build_problem``): issue a
  :class:`GaussNewtonWarning` when the point is not a minimum where the Gauss–Newton form
  is the Hessian.
* ``steps`` (``polish``): largest number of trial steps.
* ``batch_size`` (``build_problem``): for a loss summed over the samples
  (``reduction='sum'``), the number of samples summed per step (default all ``n``); it must
  match the method's batch size.
* ``form`` (``build_problem``): ``"jacobians"`` keeps the ``(n, k, d)`` Jacobians;
  ``"ntk"`` forms only the ``(n, k, n, k)`` block NTK of ``Λ_i^{1/2} J_i``, chunk pair by
  chunk pair, so that at most two chunks of Jacobians are held at once.

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
