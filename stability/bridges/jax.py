"""JAX bridge: per-sample Jacobians, minimum checks, polish and problems of an apply function.

Install with ``pip install 'optimizer-stability[jax]'`` (JAX is imported when a function is called).
Theory: ``docs/theory/losses.md``.

The model is an apply function ``apply(params, inputs)`` mapping a params pytree and a
*batch* of inputs to a batch of outputs (Flax's ``model.apply`` and plain functions alike).
It is evaluated one sample at a time, ``x ↦ apply(params, x[None])[0]`` flattened to ``k``
outputs, with float64 copies of the params under ``jax.enable_x64``; Jacobians come from
``jax.vmap(jax.jacrev(...))`` over chunks of samples (jit-compiled).

**Flattening order.** The leaves of the params pytree in ``jax.tree_util`` order (the
order of ``jax.flatten_util.ravel_pytree``; dict keys sorted), each leaf in C (row-major)
order; block names are the key paths (``jax.tree_util.keystr``). Thresholds do not depend
on this order.

Examples
--------
>>> import numpy as np
>>> from stability.bridges import jax as bridge
>>> def apply(params, inputs):
...     return inputs @ params["weight"].T + params["bias"]
>>> params = {"weight": np.ones((2, 3)), "bias": np.zeros(2)}
>>> inputs = np.arange(15.0).reshape(5, 3)
>>> computed = bridge.jacobians(apply, params, inputs)
>>> computed.jacobians.shape, [block.name for block in computed.blocks]
((5, 2, 8), ["['bias']", "['weight']"])
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import numpy as np

from stability.bridges import MinimumReport, ModelJacobians, PolishReport, _core
from stability.bridges._core import DEFAULT_RESIDUAL_TOLERANCE
from stability.errors import InvalidTypeError
from stability.problems import Quadratic

__all__ = ["build_problem", "check_minimum", "jacobians", "polish"]

_INSTALL = "or pip install jax, which brings jaxlib for the CPU"


def _jax() -> Any:
    return _core.require("jax", "jax", _INSTALL)


def _x64(jax: Any) -> Any:
    """A context in which JAX computes in float64."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    experimental = getattr(jax, "experimental", None)
    if experimental is not None and hasattr(experimental, "enable_x64"):  # older JAX
        return experimental.enable_x64()
    return contextlib.nullcontext()  # pragma: no cover - x64 set globally by the user


@functools.lru_cache(maxsize=16)
def _compiled(apply: Any) -> tuple[Any, Any]:
    """Jit-compiled per-sample outputs and Jacobians of ``apply`` (cached per function, so
    repeated calls with the same apply function and shapes compile once)."""
    jax = _jax()

    def single(tree: Any, sample: Any) -> Any:
        return apply(tree, sample[None]).reshape(-1)

    per_sample_jacobian = jax.jacrev(_core.with_output(single), has_aux=True)
    batched = jax.jit(jax.vmap(single, in_axes=(None, 0)))
    jacobian = jax.jit(jax.vmap(per_sample_jacobian, in_axes=(None, 0)))
    return batched, jacobian


class _JaxFunctions(_core.ModelFunctions):
    """The apply function as functions of a flat float64 parameter vector."""

    def __init__(self, apply: Any, params: Any, inputs: Any) -> None:
        jax = _jax()
        if not callable(apply):
            raise InvalidTypeError(
                f"apply must be a function apply(params, inputs); got {type(apply).__name__}"
            )
        self._jax = jax
        self._context = _x64(jax)
        leaves_with_paths, self._treedef = jax.tree_util.tree_flatten_with_path(params)
        self._inputs = np.asarray(inputs)
        if np.issubdtype(self._inputs.dtype, np.floating):
            self._inputs = self._inputs.astype(np.float64)
        self.samples = int(self._inputs.shape[0])
        self.set_parameters(
            [jax.tree_util.keystr(path) for path, _ in leaves_with_paths],
            [np.asarray(leaf, dtype=np.float64) for _, leaf in leaves_with_paths],
        )
        try:
            self._batched, self._jacobian = _compiled(apply)
        except TypeError:  # an unhashable callable: compile for this call only
            self._batched, self._jacobian = _compiled.__wrapped__(apply)

    def tree(self, parameters: np.ndarray) -> Any:
        """The flat vector as a params pytree of float64 NumPy arrays."""
        return self._treedef.unflatten([np.array(array) for array in self.unflatten(parameters)])

    def outputs(self, parameters: np.ndarray) -> np.ndarray:
        with self._context:
            result = self._batched(self.tree(parameters), self._inputs)
            return np.asarray(result, dtype=np.float64).reshape(self.samples, -1)

    def jacobian_blocks(
        self, parameters: np.ndarray, rows: slice
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        with self._context:
            blocks, outputs = self._jacobian(self.tree(parameters), self._inputs[rows])
            leaves = self._jax.tree_util.tree_leaves(blocks)
            return np.asarray(outputs, dtype=np.float64), [
                np.asarray(leaf, dtype=np.float64) for leaf in leaves
            ]


def jacobians(
    apply: Any,
    params: Any,
    inputs: Any,
    *,
    chunk_size: int | None = None,
    progress: Any = False,
) -> ModelJacobians:
    """Outputs and per-sample Jacobians of ``apply(params, ·)`` on ``inputs``, in float64.

    Parameters
    ----------
    apply : callable
        ``apply(params, inputs)`` for a batch of inputs.
    params : pytree
        The parameters (dicts, lists, tuples of arrays; Flax variable dicts).
    inputs : array_like, shape (n, ...)
        One sample per row.
    chunk_size, progress
        Shared by both bridges (:mod:`stability.bridges`).

    Returns
    -------
    ModelJacobians
        ``outputs`` ``(n, k)``, ``jacobians`` ``(n, k, d)`` and the flattening ``blocks``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bridges import jax as bridge
    >>> def apply(params, inputs):
    ...     return inputs @ params
    >>> inputs = np.array([[3.0, 4.0], [5.0, 6.0]])
    >>> bridge.jacobians(apply, np.array([1.0, 2.0]), inputs).jacobians[:, 0, :]
    array([[3., 4.],
           [5., 6.]])
    """
    functions = _JaxFunctions(apply, params, inputs)
    return functions.jacobians(functions.start, chunk_size, progress)


def check_minimum(
    apply: Any,
    params: Any,
    inputs: Any,
    targets: Any,
    loss: Any = "half_squared_error",
    *,
    chunk_size: int | None = None,
    tolerance: float = DEFAULT_RESIDUAL_TOLERANCE,
    warn: bool = True,
) -> MinimumReport:
    """Loss, gradient norm and largest residual: is the Gauss–Newton form the Hessian here?

    Issues a :class:`~stability.bridges.GaussNewtonWarning` when a residual exceeds
    ``tolerance`` (and ``warn`` is true).

    Parameters
    ----------
    apply, params, inputs
        As in :func:`jacobians`.
    targets, loss, chunk_size, tolerance, warn
        Shared by both bridges (:mod:`stability.bridges`).

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bridges import jax as bridge
    >>> def apply(params, inputs):
    ...     return inputs @ params
    >>> inputs = np.eye(2)
    >>> report = bridge.check_minimum(apply, np.ones(2), inputs, np.ones(2), "mse")
    >>> report.gauss_newton_is_hessian, report.loss
    (True, 0.0)
    """
    return _core.run_check(
        _JaxFunctions(apply, params, inputs), targets, loss,
        chunk_size=chunk_size, tolerance=tolerance, warn=warn,
    )


def polish(
    apply: Any,
    params: Any,
    inputs: Any,
    targets: Any,
    loss: Any = "half_squared_error",
    *,
    steps: int = 50,
    tolerance: float = 1e-12,
    chunk_size: int | None = None,
) -> tuple[Any, PolishReport]:
    """Levenberg–Marquardt from ``params`` to a nearby interpolating minimum.

    The same algorithm as :func:`stability.bridges.torch.polish`: minimum-norm damped
    Gauss–Newton steps on the residuals ``f(x_i) − y_i`` (square losses) or on the logits
    minus ``log y_i`` up to a shift (cross-entropy with soft targets).

    Parameters
    ----------
    apply, params, inputs
        As in :func:`jacobians`.
    targets, loss, steps, tolerance, chunk_size
        Shared by both bridges (:mod:`stability.bridges`).

    Returns
    -------
    params : pytree
        The polished parameters, a pytree of the same structure with float64 NumPy leaves
        (evaluate it under ``jax.enable_x64`` to keep the precision).
    report : PolishReport
        Loss, gradient norm and largest residual before and after.

    Examples
    --------
    >>> import numpy as np
    >>> import jax.numpy as jnp
    >>> from stability.bridges import jax as bridge
    >>> def apply(params, inputs):
    ...     return jnp.tanh(inputs @ params["first"]) @ params["second"]
    >>> rng = np.random.default_rng(0)
    >>> params = {"first": rng.standard_normal((2, 8)), "second": rng.standard_normal(8)}
    >>> inputs, targets = rng.standard_normal((4, 2)), rng.standard_normal(4)
    >>> polished, report = bridge.polish(apply, params, inputs, targets)
    >>> report.converged, sorted(polished)
    (True, ['first', 'second'])
    """
    functions = _JaxFunctions(apply, params, inputs)
    flat, report = _core.run_polish(
        functions, targets, loss, steps=steps, tolerance=tolerance, chunk_size=chunk_size
    )
    return functions.tree(flat), report


def build_problem(
    apply: Any,
    params: Any,
    inputs: Any,
    targets: Any,
    loss: Any = "half_squared_error",
    *,
    batch_size: int | None = None,
    form: str = "jacobians",
    chunk_size: int | None = None,
    check: bool = True,
    tolerance: float = DEFAULT_RESIDUAL_TOLERANCE,
    progress: Any = False,
) -> Quadratic:
    """The :class:`~stability.Quadratic` of ``apply(params, ·)`` for a loss convention.

    ``H_i = J_iᵀ Λ_i J_i`` with ``Λ_i`` from :mod:`stability.losses`, so that
    ``(1/n) Σ_i H_i`` is the (Gauss–Newton) Hessian of the loss as optax or the user's
    code computes it.

    Parameters
    ----------
    apply, params, inputs
        As in :func:`jacobians`.
    targets, loss, batch_size, form, chunk_size, check, tolerance, progress
        Shared by both bridges (:mod:`stability.bridges`).

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bridges import jax as bridge
    >>> def apply(params, inputs):
    ...     return inputs @ params
    >>> inputs = np.array([[1.0], [3.0]])
    >>> bridge.build_problem(apply, np.array([0.5]), inputs, inputs @ [0.5], "mse").hessian
    array([[10.]])
    """
    return _core.run_build(
        _JaxFunctions(apply, params, inputs), targets, loss,
        batch_size=batch_size, form=form, chunk_size=chunk_size, check=check,
        tolerance=tolerance, progress=progress,
    )
