"""PyTorch bridge: per-sample Jacobians, minimum checks, polish and problems of an ``nn.Module``.

Install with ``pip install 'optimizer-stability[torch]'`` (PyTorch is imported when a function is
called). Theory: ``docs/theory/losses.md``.

The model is evaluated through ``torch.func.functional_call`` with float64 copies of its
parameters and buffers (the module itself is not changed), one sample at a time: the
per-sample function is ``x ↦ model(x[None])[0]``, flattened to ``k`` outputs, and its
Jacobians come from ``torch.func.vmap(torch.func.jacrev(...))`` over chunks of samples.
Put the model in ``eval()`` mode (batch statistics do not exist for one sample).

**Flattening order.** Parameters are flattened block after block in the order of
``parameters`` (by default ``model.named_parameters()``, the order an optimiser sees),
each block in C (row-major) order; :attr:`~stability.bridges.ModelJacobians.blocks` says
which columns hold which parameter. Thresholds do not depend on this order.

Examples
--------
>>> import torch
>>> from stability.bridges import torch as bridge
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(3, 2).double()
>>> inputs = torch.randn(5, 3, dtype=torch.float64)
>>> computed = bridge.jacobians(model, inputs)
>>> computed.jacobians.shape, [block.name for block in computed.blocks]
((5, 2, 8), ['weight', 'bias'])
>>> targets = model(inputs).detach()                # an interpolating minimum
>>> problem = bridge.build_problem(model, inputs, targets, "torch.nn.MSELoss")
>>> problem.samples, problem.dimension
(5, 8)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stability.bridges import MinimumReport, ModelJacobians, PolishReport, _core
from stability.bridges._core import DEFAULT_RESIDUAL_TOLERANCE
from stability.errors import InvalidTypeError
from stability.problems import Quadratic

__all__ = ["build_problem", "check_minimum", "jacobians", "polish"]

_INSTALL = "or pip install torch==2.13.0, a CPU build"


def _torch() -> Any:
    return _core.require("torch", "torch", _INSTALL)


class _TorchFunctions(_core.ModelFunctions):
    """The model as functions of a flat float64 parameter vector."""

    def __init__(self, model: Any, inputs: Any, parameters: Mapping[str, Any] | None) -> None:
        torch = _torch()
        from torch.func import functional_call, jacrev, vmap

        if not isinstance(model, torch.nn.Module):
            raise InvalidTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if parameters is None:
            chosen = {name: p for name, p in model.named_parameters() if p.requires_grad}
        elif isinstance(parameters, Mapping):
            chosen = dict(parameters)
        else:
            raise InvalidTypeError(
                "parameters must be a mapping from parameter names to tensors (like "
                f"dict(model.named_parameters())) or None; got {type(parameters).__name__}"
            )
        self._torch = torch
        self._names = list(chosen)
        values = [torch.as_tensor(value).detach().to(torch.float64) for value in chosen.values()]
        fixed: dict[str, Any] = {}
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if name in chosen:
                continue
            tensor = tensor.detach()
            fixed[name] = tensor.to(torch.float64) if tensor.is_floating_point() else tensor
        data = torch.as_tensor(inputs)
        self._inputs = data.to(torch.float64) if data.is_floating_point() else data
        self.samples = int(self._inputs.shape[0])
        self.set_parameters(self._names, [value.numpy() for value in values])

        def single(params: dict[str, Any], sample: Any) -> Any:
            output = functional_call(model, (params, fixed), (sample.unsqueeze(0),))
            return output.reshape(-1)

        self._batched = vmap(single, in_dims=(None, 0))
        self._jacobian = vmap(jacrev(_core.with_output(single), has_aux=True), in_dims=(None, 0))

    def _parameters(self, parameters: np.ndarray) -> dict[str, Any]:
        torch = self._torch
        return {
            name: torch.from_numpy(np.ascontiguousarray(array))
            for name, array in zip(self._names, self.unflatten(parameters), strict=True)
        }

    def outputs(self, parameters: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            result = self._batched(self._parameters(parameters), self._inputs)
        return result.reshape(self.samples, -1).numpy()

    def jacobian_blocks(
        self, parameters: np.ndarray, rows: slice
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        blocks, outputs = self._jacobian(self._parameters(parameters), self._inputs[rows])
        return outputs.detach().numpy(), [blocks[name].detach().numpy() for name in self._names]

    def as_targets(self, targets: Any) -> np.ndarray:
        """Targets (a tensor, possibly on a device or requiring grad) as a NumPy array."""
        if isinstance(targets, self._torch.Tensor):
            values = targets.detach().cpu()
            if values.is_floating_point():
                values = values.to(self._torch.float64)
            return values.numpy()
        return np.asarray(targets)

    def as_tensors(self, parameters: np.ndarray) -> dict[str, Any]:
        """The flat vector as a dict of float64 tensors with the parameters' names."""
        return {name: tensor.clone() for name, tensor in self._parameters(parameters).items()}


def jacobians(
    model: Any,
    inputs: Any,
    *,
    parameters: Mapping[str, Any] | None = None,
    chunk_size: int | None = None,
    progress: Any = False,
) -> ModelJacobians:
    """Outputs and per-sample Jacobians of ``model`` on ``inputs``, in float64.

    Parameters
    ----------
    model : torch.nn.Module
        The model; ``model(x)`` maps a batch of inputs to a batch of outputs.
    inputs : tensor or array_like, shape (n, ...)
        One sample per row.
    parameters : mapping of str to tensor, optional
        The parameters to differentiate, by name, in the order to flatten them (default:
        ``model.named_parameters()`` that require gradients). Others stay fixed.
    chunk_size, progress
        Shared by both bridges (:mod:`stability.bridges`).

    Returns
    -------
    ModelJacobians
        ``outputs`` ``(n, k)``, ``jacobians`` ``(n, k, d)`` and the flattening ``blocks``.

    Examples
    --------
    >>> import torch
    >>> from stability.bridges import torch as bridge
    >>> model = torch.nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    >>> bridge.jacobians(model, [[3.0, 4.0], [5.0, 6.0]]).jacobians   # ∂(w·x)/∂w = x
    array([[[3., 4.]],
    <BLANKLINE>
           [[5., 6.]]])
    """
    functions = _TorchFunctions(model, inputs, parameters)
    return functions.jacobians(functions.start, chunk_size, progress)


def check_minimum(
    model: Any,
    inputs: Any,
    targets: Any,
    loss: Any = "half_squared_error",
    *,
    parameters: Mapping[str, Any] | None = None,
    chunk_size: int | None = None,
    tolerance: float = DEFAULT_RESIDUAL_TOLERANCE,
    warn: bool = True,
) -> MinimumReport:
    """Loss, gradient norm and largest residual: is the Gauss–Newton form the Hessian here?

    Issues a :class:`~stability.bridges.GaussNewtonWarning` when a residual exceeds
    ``tolerance`` (and ``warn`` is true).

    Parameters
    ----------
    model, inputs, parameters
        As in :func:`jacobians`.
    targets, loss, chunk_size, tolerance, warn
        Shared by both bridges (:mod:`stability.bridges`).

    Examples
    --------
    >>> import torch
    >>> from stability.bridges import torch as bridge
    >>> model = torch.nn.Linear(2, 1).double()
    >>> inputs = torch.eye(2, dtype=torch.float64)
    >>> report = bridge.check_minimum(model, inputs, model(inputs).detach())
    >>> report.gauss_newton_is_hessian, report.gradient_norm
    (True, 0.0)
    """
    return _core.run_check(
        _TorchFunctions(model, inputs, parameters), targets, loss,
        chunk_size=chunk_size, tolerance=tolerance, warn=warn,
    )


def polish(
    model: Any,
    inputs: Any,
    targets: Any,
    loss: Any = "half_squared_error",
    *,
    parameters: Mapping[str, Any] | None = None,
    steps: int = 50,
    tolerance: float = 1e-12,
    chunk_size: int | None = None,
) -> tuple[dict[str, Any], PolishReport]:
    """Levenberg–Marquardt from the model's parameters to a nearby interpolating minimum.

    Square losses: drives the residuals ``f(x_i) − y_i`` to zero. Cross-entropy: drives
    ``softmax f(x_i)`` to the targets, which needs targets with no zero probability (soft
    targets or ``label_smoothing > 0``). Each step is ``δ = −Aᵀ (A Aᵀ + μ I)⁻¹ r`` (the
    minimum-norm Gauss–Newton step as ``μ → 0``, so the result is close to the start),
    with ``μ`` lowered after a step that reduces ``½‖r‖²`` and raised otherwise.

    Parameters
    ----------
    model, inputs, parameters
        As in :func:`jacobians`.
    targets, loss, steps, tolerance, chunk_size
        Shared by both bridges (:mod:`stability.bridges`).

    Returns
    -------
    parameters : dict of str to tensor
        The polished float64 parameters, by name (load them into a float64 model, e.g.
        ``model.double().load_state_dict(parameters, strict=False)``).
    report : PolishReport
        Loss, gradient norm and largest residual before and after.

    Examples
    --------
    >>> import torch
    >>> from stability.bridges import torch as bridge
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    >>> inputs, targets = torch.randn(4, 2), torch.randn(4, 1)
    >>> polished, report = bridge.polish(model, inputs, targets)
    >>> report.converged, report.after.largest_residual < 1e-12
    (True, True)
    """
    functions = _TorchFunctions(model, inputs, parameters)
    flat, report = _core.run_polish(
        functions, targets, loss, steps=steps, tolerance=tolerance, chunk_size=chunk_size
    )
    return functions.as_tensors(flat), report


def build_problem(
    model: Any,
    inputs: Any,
    targets: Any,
    loss: Any = "half_squared_error",
    *,
    parameters: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    form: str = "jacobians",
    chunk_size: int | None = None,
    check: bool = True,
    tolerance: float = DEFAULT_RESIDUAL_TOLERANCE,
    progress: Any = False,
) -> Quadratic:
    """The :class:`~stability.Quadratic` of ``model`` at its parameters for a loss convention.

    ``H_i = J_iᵀ Λ_i J_i`` with ``Λ_i`` from :mod:`stability.losses`, so that
    ``(1/n) Σ_i H_i`` is the (Gauss–Newton) Hessian of the loss as the framework computes
    it, and minibatch methods average over the batch as that loss does.

    Parameters
    ----------
    model, inputs, parameters
        As in :func:`jacobians`.
    targets, loss, batch_size, form, chunk_size, check, tolerance, progress
        Shared by both bridges (:mod:`stability.bridges`).

    Examples
    --------
    >>> import torch, stability
    >>> from stability.bridges import torch as bridge
    >>> model = torch.nn.Linear(1, 1, bias=False).double()
    >>> with torch.no_grad():
    ...     _ = model.weight.fill_(0.5)
    >>> inputs = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    >>> problem = bridge.build_problem(model, inputs, model(inputs).detach(), "mse")
    >>> problem.hessian                                  # (1/2)(2·1 + 2·9)
    array([[10.]])
    """
    return _core.run_build(
        _TorchFunctions(model, inputs, parameters), targets, loss,
        batch_size=batch_size, form=form, chunk_size=chunk_size, check=check,
        tolerance=tolerance, progress=progress,
    )
