"""Frozen preconditioners: the congruence ``u = P^{1/2} δ`` that makes them plain methods.

Theory: ``docs/theory/adaptive.md``. A method that steps along ``−η P⁻¹ (·)`` with a fixed
SPD preconditioner ``P`` (RMSProp or Adam late in training, with their second-moment
estimate frozen) sees the batch Hessian only through ``P⁻¹ H_B``. With ``u = P^{1/2} δ``

    P^{1/2} (δ − η P⁻¹ H_B δ) = u − η H̃_B u,        H̃_i = P^{−1/2} H_i P^{−1/2},

so the method is the *plain* method on the congruent per-sample Hessians ``H̃_i`` with the
same batch law (Adam's second block is the step ``s = η P^{−1/2} m``). Coupled weight decay
(``g ← g + μ θ``, as ``torch.optim.Adam``'s ``weight_decay``) enters before ``P⁻¹``:
``H̃_i = P^{−1/2} (H_i + μ I) P^{−1/2}``; decoupled decay (AdamW) acts on ``δ`` directly and
stays ``μ u`` in the new coordinates. Mean-square stability, thresholds and spectral radii are
unchanged by the fixed change of coordinates; mean squares are those of ``u``
(``‖u‖² = δᵀ P δ``).

:func:`congruent` returns the congruent problem and the plain dynamics, which every evaluator
accepts; a preconditioned method passed directly to an evaluator is refused with a pointer
here.

Examples
--------
>>> import numpy as np
>>> from stability import Quadratic, critical_learning_rate
>>> from stability.methods import Adam
>>> from stability.preconditioning import congruent
>>> problem = Quadratic(np.diag([4.0, 1.0]))
>>> method = Adam(0.9, preconditioner=[4.0, 0.25])  # P⁻¹H = diag(1, 4)
>>> float(round(critical_learning_rate(*congruent(problem, method)), 12))  # 38 / 4
9.5
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from stability._validation import as_finite_array
from stability.dynamics import LinearDynamics, Preconditioning
from stability.errors import InvalidInputError
from stability.methods import Method
from stability.problems import Quadratic, as_problem

__all__ = ["congruent", "congruent_problem", "congruent_start", "symbolic_congruent"]


def _preconditioning(value: Any) -> Preconditioning:
    if isinstance(value, Preconditioning):
        return value
    return Preconditioning(value)


def congruent_problem(problem: Quadratic, preconditioner: Any, *, shift: float = 0.0) -> Quadratic:
    """The problem with ``H_i → P^{−1/2} (H_i + shift · I) P^{−1/2}``.

    Parameters
    ----------
    problem : Quadratic
        The minimum (a single Hessian, per-sample Hessians or data; a Gram matrix alone has
        no parameter space to precondition).
    preconditioner : array_like or Preconditioning
        ``P``: a positive vector (diagonal) or an SPD ``d × d`` matrix.
    shift : float, default 0
        Coupled weight decay ``μ`` added before preconditioning.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.preconditioning import congruent_problem
    >>> congruent_problem(Quadratic.from_data([[2.0, 1.0]]), [4.0, 1.0]).hessian
    array([[1., 1.],
           [1., 1.]])
    """
    problem = as_problem(problem)
    preconditioning = _preconditioning(preconditioner)
    shift = float(shift)
    if shift < 0 or not np.isfinite(shift):
        raise InvalidInputError(f"shift must be finite and non-negative; got {shift}")
    if problem.kind == "gram":
        raise InvalidInputError(
            "a problem given by its Gram matrix alone has no parameter space to precondition; "
            "build it with Quadratic.from_data or from_hessians"
        )
    dimension = problem.dimension
    root = preconditioning.inverse_square_root(dimension)
    if problem.samples is None:
        hessian = np.asarray(problem.hessian) + shift * np.eye(dimension)
        return Quadratic(root @ hessian @ root)
    if problem.data is not None and shift == 0:
        return Quadratic.from_data(np.asarray(problem.data) @ root)
    stack = np.asarray(problem.per_sample_hessians()) + shift * np.eye(dimension)
    return Quadratic.from_hessians(np.einsum("ab,nbc,cd->nad", root, stack, root))


def congruent(problem: Quadratic, method: Any) -> tuple[Quadratic, LinearDynamics]:
    """``(problem, dynamics)`` in the coordinates ``u = P^{1/2} δ``, ready for any evaluator.

    A method without a preconditioner is returned unchanged (as its dynamics).

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic, critical_learning_rate
    >>> from stability.preconditioning import congruent
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> same = congruent(problem, SGD(1, preconditioner=[1.0, 1.0]))
    >>> round(critical_learning_rate(*same), 12)  # P = I: 3 − √3
    1.267949192431
    """
    if isinstance(method, Method):
        dynamics = method.dynamics()
    elif isinstance(method, LinearDynamics):
        dynamics = method
    else:
        from stability.methods import as_dynamics

        dynamics = as_dynamics(method)  # raises the usual type error
    if dynamics.preconditioning is None:
        return as_problem(problem), dynamics
    preconditioning = dynamics.preconditioning
    shifted = congruent_problem(problem, preconditioning, shift=float(preconditioning.shift))
    return shifted, dataclasses.replace(dynamics, preconditioning=None)


def congruent_start(init: Any, preconditioner: Any, *, blocks: int = 1) -> np.ndarray:
    """A start ``δ_0`` in the congruent coordinates: ``u_0 = P^{1/2} δ_0``, tiled over blocks.

    For Adam the second block is the step ``s_0 = η P^{−1/2} m_0``, zero when ``m_0 = 0``;
    pass a full state ``(u_0, 0)`` to :func:`stability.predicted_mean_square` in that case.

    Parameters
    ----------
    init : Any
        Initial iterate δ₀ in the original coordinates (or a full state of ``blocks`` blocks).
    preconditioner : Any
        The fixed preconditioner P (a positive definite matrix or its diagonal).
    blocks : int, default 1
        Number of d-sized blocks in the state (e.g. 2 for a momentum method's state).

    Examples
    --------
    >>> from stability.preconditioning import congruent_start
    >>> congruent_start([1.0, 1.0], [4.0, 1.0])
    array([2., 1.])
    """
    start = as_finite_array(init, "init", 1)
    preconditioning = _preconditioning(preconditioner)
    u = preconditioning.square_root(start.shape[0]) @ start
    return np.tile(u, blocks)


def symbolic_congruent(hessians: Any, method: Any) -> tuple[list[Any], LinearDynamics]:
    """The congruence for the symbolic layer: SymPy Hessians ``P^{−1/2} (H_i + μ I) P^{−1/2}``.

    Only a diagonal ``P`` is supported here (its square root is taken entrywise, exactly);
    pass the result to :func:`stability.symbolic.critical_learning_rate`.

    Parameters
    ----------
    hessians : sequence of SymPy matrices
        The per-sample Hessians ``H_i`` (or one Hessian in a list).
    method : Method or LinearDynamics
        A method, preconditioned or not.

    Examples
    --------
    >>> import sympy
    >>> from stability import symbolic
    >>> from stability.methods import Adam
    >>> from stability.preconditioning import symbolic_congruent
    >>> hessians, plain = symbolic_congruent([sympy.Matrix([[8, 0], [0, 1]])], Adam(0.9, [4, 1]))
    >>> hessians[0], symbolic.critical_learning_rate(hessians, plain)  # (2 + 2β₁)/((1 − β₁) 2)
    (Matrix([
    [2, 0],
    [0, 1]]), 19)
    """
    import sympy

    dynamics = method if isinstance(method, LinearDynamics) else method.dynamics()
    matrices = [sympy.Matrix(h) for h in hessians]
    if dynamics.preconditioning is None:
        return matrices, dynamics
    preconditioning = dynamics.preconditioning
    if not preconditioning.diagonal:
        raise InvalidInputError(
            "symbolic_congruent needs a diagonal preconditioner (a vector); for a full SPD P "
            "use congruent with a numeric problem"
        )
    size = matrices[0].shape[0]
    if len(preconditioning.matrix) != size:
        raise InvalidInputError(
            f"preconditioner has dimension {len(preconditioning.matrix)} but the Hessians are "
            f"{size} × {size}"
        )
    root = sympy.diag(*[1 / sympy.sqrt(sympy.nsimplify(x)) for x in preconditioning.matrix])
    shift = sympy.nsimplify(preconditioning.shift)
    eye = sympy.eye(size)
    congruent_matrices = [sympy.simplify(root * (h + shift * eye) * root) for h in matrices]
    return congruent_matrices, dataclasses.replace(dynamics, preconditioning=None)
