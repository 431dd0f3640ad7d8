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
unchanged by the fixed change of coordinates; second moments are not (``‖u‖² = δᵀ P δ``).

Every evaluator that binds a problem (``bind``) applies
:func:`congruent` itself: thresholds, spectral radii and stability are computed on the
congruent pair, and second moments, mean squares and starts are read and reported in the
original coordinates (``δ = P^{−1/2} u`` block by block). :func:`congruent` returns that
pair for inspection or for code that takes plain methods only; :func:`congruent_start`
maps a start. The symbolic layer reads the similar matrices ``P⁻¹ (H_i + μ I)`` instead
(exact for any rational ``P``); :func:`symbolic_congruent` takes a diagonal ``P`` with
symbolic entries.

Examples
--------
>>> import numpy as np
>>> from stability import Quadratic, critical_learning_rate
>>> from stability.methods import Adam
>>> from stability.preconditioning import congruent
>>> problem = Quadratic(np.diag([4.0, 1.0]))
>>> method = Adam(0.9, preconditioner=[4.0, 0.25])  # P⁻¹H = diag(1, 4)
>>> float(round(critical_learning_rate(problem, method), 12))  # 38 / 4
9.5
>>> congruent(problem, method)[0].hessian
array([[1., 0.],
       [0., 4.]])
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from stability._validation import as_finite_array
from stability.dynamics import LinearDynamics, Preconditioning
from stability.errors import InvalidInputError
from stability.methods import Method
from stability.problems import Quadratic, as_problem

if TYPE_CHECKING:
    from stability.methods import MethodLike

__all__ = ["congruent", "congruent_problem", "congruent_start", "symbolic_congruent"]


def _preconditioning(value: Any) -> Preconditioning:
    if isinstance(value, Preconditioning):
        return value
    return Preconditioning(value)


def _scalar(preconditioning: Preconditioning) -> float | None:
    """``c`` when ``P = c I`` (a constant diagonal or a multiple of the identity), else ``None``."""
    array = np.asarray(preconditioning.matrix, dtype=float)
    if array.ndim == 2:
        off = array - np.diag(np.diag(array))
        if np.any(off):
            return None
        array = np.diag(array)
    return float(array[0]) if np.all(array == array[0]) else None


def _congruent_factors(factors: np.ndarray, preconditioning: Preconditioning) -> np.ndarray:
    """``G_i P^{−1/2}`` for factors ``(n, k, d)``; a diagonal ``P`` scales columns."""
    dimension = factors.shape[-1]
    if preconditioning.diagonal:
        scaling = np.asarray(preconditioning.matrix, dtype=float)
        if scaling.shape[0] != dimension:
            preconditioning.dense(dimension)  # raises the dimension error
        return factors * scaling**-0.5
    return factors @ preconditioning.inverse_square_root(dimension)


def congruent_problem(problem: Quadratic, preconditioner: Any, *, shift: float = 0.0) -> Quadratic:
    """The problem with ``H_i → P^{−1/2} (H_i + shift · I) P^{−1/2}``.

    Without a shift, data and Jacobian problems stay factored (``G_i → G_i P^{−1/2}``; a
    diagonal ``P`` only rescales columns), so the evaluators keep their matrix-free routes. A
    shift makes every ``H̃_i`` full rank; the per-sample Hessians are then formed.

    Parameters
    ----------
    problem : Quadratic
        The minimum (a single Hessian, per-sample Hessians, data or Jacobians; a Gram matrix
        alone has no parameter space to precondition).
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
            "preconditioner: a problem given by its Gram matrix alone has no parameter space "
            "to precondition; build it with Quadratic.from_data, from_jacobians or "
            "from_hessians"
        )
    dimension = problem.dimension
    tolerance = problem.tolerance
    if shift == 0 and problem.factors is not None and problem.kind in ("data", "jacobians"):
        factors = _congruent_factors(np.asarray(problem.factors, dtype=float), preconditioning)
        if problem.kind == "data" or factors.shape[1] == 1:
            return Quadratic.from_data(factors[:, 0, :], tolerance=tolerance)
        return Quadratic.from_jacobians(factors, tolerance=tolerance)
    root = preconditioning.inverse_square_root(dimension)
    if problem.samples is None:
        hessian = np.asarray(problem.hessian) + shift * np.eye(dimension)
        return Quadratic(root @ hessian @ root, tolerance=tolerance)
    stack = np.asarray(problem.per_sample_hessians()) + shift * np.eye(dimension)
    return Quadratic.from_hessians(
        np.einsum("ab,nbc,cd->nad", root, stack, root, optimize=True), tolerance=tolerance
    )


def congruent(problem: Quadratic, method: MethodLike) -> tuple[Quadratic, LinearDynamics]:
    """``(problem, dynamics)`` in the coordinates ``u = P^{1/2} δ``: the plain pair.

    Every evaluator applies this itself (when it binds the problem) and reports
    the quantities that depend on the coordinates in the original ones; call it to inspect
    the congruent problem or to hand the pair to code that expects a plain method. A method
    without a preconditioner is returned unchanged (as its dynamics). For a gradient step
    (SGD, RMSProp without momentum) with ``P = c I`` the coupled weight decay stays a Hessian
    shift ``μ / c`` of the dynamics (the problem keeps its factors); otherwise it is added to
    the congruent Hessians, which are then full rank.

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
    problem = as_problem(problem)
    plain = dataclasses.replace(dynamics, preconditioning=None)
    shift = _shift(preconditioning.shift, dynamics.name)
    scalar = _scalar(preconditioning)
    if shift and scalar is not None and plain.blocks == 1:
        # a gradient step on (H_i + μ I)/c: the evaluators' shifted-gradient routes, which also
        # account for null(H) (it contracts by (1 − η μ/c)²), keep the factors
        transformed = congruent_problem(problem, preconditioning)
        return transformed, plain.with_hessian_shift(Fraction(shift) / Fraction(scalar))
    return congruent_problem(problem, preconditioning, shift=shift), plain


def _shift(value: Any, name: str) -> float:
    """The coupled weight decay as a float (a symbolic one is refused by name)."""
    from stability.errors import InvalidTypeError

    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidTypeError(
            f"{name} has a symbolic or non-numeric coefficient ({value!s}) in its weight_decay; "
            "the numeric layer needs numbers (substitute values for the symbols first)"
        ) from None
    if not np.isfinite(number) or number < 0:
        raise InvalidInputError(f"weight_decay must be finite and non-negative; got {value}")
    return number


def congruent_start(init: Any, preconditioner: Any, *, blocks: int = 1) -> np.ndarray:
    """A start in the original coordinates mapped to ``u = P^{1/2} δ``, block by block.

    ``init`` is read as :func:`stability.predicted_mean_square` reads it (``None`` for the
    default start ``(1, …, 1)/√d``, an error ``δ_0`` of length ``d`` repeated in every state
    block, a full state of length ``m d``, or one start per row); each block is multiplied
    by ``P^{1/2}``.
    For Adam the second block is the step ``η P⁻¹ m`` in ``δ`` coordinates (``s`` after the
    map); pass a full state with a zero second block to start from ``m_0 = 0``.

    Parameters
    ----------
    init : Any
        Initial state in the original coordinates (see above).
    preconditioner : Any
        The fixed preconditioner P (a positive definite matrix or its diagonal).
    blocks : int, default 1
        Number of d-sized blocks in the state (e.g. 2 for a momentum method's state).

    Examples
    --------
    >>> from stability.preconditioning import congruent_start
    >>> congruent_start([1.0, 1.0], [4.0, 1.0])
    array([2., 1.])
    >>> congruent_start([1.0, 1.0, 0.0, 0.0], [4.0, 1.0], blocks=2)
    array([2., 1., 0., 0.])
    """
    preconditioning = _preconditioning(preconditioner)
    dimension = len(preconditioning.matrix)
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
        raise InvalidInputError(f"blocks must be a positive integer; got {blocks!r}")
    if init is None:  # the default start (1, …, 1)/√d in every block
        states = np.full(dimension * blocks, dimension**-0.5)
    else:
        states = as_finite_array(init, "init", (1, 2))
        if states.shape[-1] == dimension:
            states = np.tile(states, blocks) if states.ndim == 1 else np.tile(states, (1, blocks))
        elif states.shape[-1] != dimension * blocks:
            from stability.errors import DimensionError

            raise DimensionError(
                f"init must have d={dimension} or m·d={dimension * blocks} entries per start; "
                f"got shape {states.shape}"
            )
    shaped = states.reshape(*states.shape[:-1], blocks, dimension)
    if preconditioning.diagonal:
        mapped = shaped * np.sqrt(np.asarray(preconditioning.matrix, dtype=float))
    else:
        mapped = shaped @ preconditioning.square_root(dimension)  # symmetric
    return mapped.reshape(states.shape)


def symbolic_congruent(
    hessians: Any, method: MethodLike, *, preconditioner: Any = None
) -> tuple[list[Any], LinearDynamics]:
    """The congruence for SymPy Hessians: ``P^{−1/2} (H_i + μ I) P^{−1/2}`` and the plain method.

    The symbolic entry points (:func:`stability.symbolic.critical_learning_rate` and the
    others) take a preconditioned method directly, for any numeric ``P``; this function is
    for a diagonal ``P`` with *symbolic* entries (``preconditioner=``), or to see the
    congruent Hessians. The square root is taken entrywise, exactly.

    Parameters
    ----------
    hessians : sequence of SymPy matrices
        The per-sample Hessians ``H_i`` (or one Hessian in a list).
    method : Method or LinearDynamics
        A method, preconditioned or not.
    preconditioner : sequence, optional
        The diagonal of ``P`` as numbers or SymPy expressions (positive), replacing the
        method's own ``P``. The method must carry a preconditioner (a placeholder of the right
        dimension, e.g. ones) so that its coupled weight decay is read as such.

    Raises
    ------
    InvalidInputError
        If ``P`` is not diagonal, has the wrong dimension or a non-positive entry, or
        ``preconditioner`` is given for a method without one.

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
    >>> p = sympy.Symbol("p", positive=True)
    >>> placeholder = Adam(0, [1])
    >>> hessians, plain = symbolic_congruent([[[2]]], placeholder, preconditioner=[p])
    >>> symbolic.critical_learning_rate(hessians, plain)  # GD on 2/p
    p
    """
    import sympy

    dynamics = method if isinstance(method, LinearDynamics) else method.dynamics()
    matrices = [sympy.Matrix(h) for h in hessians]
    if dynamics.preconditioning is None:
        if preconditioner is not None:
            raise InvalidInputError(
                f"preconditioner was given but {dynamics.name} has none: build the method with a "
                "placeholder preconditioner of the right dimension (e.g. ones) so that its weight "
                "decay is read as coupled"
            )
        return matrices, dynamics
    preconditioning = dynamics.preconditioning
    if preconditioner is None:
        if not preconditioning.diagonal:
            raise InvalidInputError(
                "symbolic_congruent needs a diagonal preconditioner (its square root is taken "
                "entrywise); a dense numeric P needs no congruence: pass the method to the "
                "symbolic entry points directly (they derive the recursion in δ coordinates)"
            )
        entries = [sympy.nsimplify(x) for x in preconditioning.matrix]
    else:
        entries = _symbolic_diagonal(preconditioner)
    size = matrices[0].shape[0]
    if len(entries) != size:
        raise InvalidInputError(
            f"preconditioner has dimension {len(entries)} but the Hessians are {size} × {size}"
        )
    root = sympy.diag(*[1 / sympy.sqrt(x) for x in entries])
    shift = sympy.nsimplify(preconditioning.shift)
    eye = sympy.eye(size)
    congruent_matrices = [sympy.simplify(root * (h + shift * eye) * root) for h in matrices]
    return congruent_matrices, dataclasses.replace(dynamics, preconditioning=None)


def _symbolic_diagonal(preconditioner: Any) -> list[Any]:
    """The diagonal of a symbolic ``P`` (a flat sequence of positive entries)."""
    import sympy

    if isinstance(preconditioner, sympy.MatrixBase):
        if preconditioner.is_square and preconditioner.shape[0] > 1:
            if not preconditioner.is_diagonal():
                raise InvalidInputError(
                    "preconditioner with symbolic entries must be diagonal (give its diagonal)"
                )
            preconditioner = [preconditioner[i, i] for i in range(preconditioner.shape[0])]
        else:
            preconditioner = list(preconditioner)
    if isinstance(preconditioner, str | bytes) or not hasattr(preconditioner, "__iter__"):
        raise InvalidInputError("preconditioner must be a sequence (the diagonal of P)")
    entries = []
    for index, value in enumerate(preconditioner):
        if hasattr(value, "__iter__") and not isinstance(value, sympy.Basic):
            raise InvalidInputError(
                "preconditioner with symbolic entries must be diagonal: give the diagonal of P "
                "as a flat sequence"
            )
        entry = sympy.sympify(value)
        if entry.is_positive is False or (entry.is_number and not entry > 0):
            raise InvalidInputError(
                f"preconditioner[{index}] must be positive; got {entry}"
            )
        entries.append(entry)
    return entries
