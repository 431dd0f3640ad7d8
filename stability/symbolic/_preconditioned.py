"""Frozen preconditioners in the symbolic layer: the recursion in the original coordinates.

Theory: ``docs/theory/adaptive.md``. A method with a frozen preconditioner ``P`` and coupled
weight decay ``μ`` steps along ``−η P⁻¹ (H_B + μ I) δ``: in the original coordinates its state
map is ``F ⊗ I + G ⊗ K_B`` with ``K_i = P⁻¹ (H_i + μ I)``. The numeric layer uses the
congruence ``P^{−1/2} (H_i + μ I) P^{−1/2}``, whose square roots are irrational for most
rational ``P``; here the symbolic layer reads the *similar* matrices ``K_i`` instead
(``K_i = P^{−1/2} H̃_i P^{1/2}``), which are exact for every rational ``P``, diagonal or dense.
The operators, characteristic polynomials and thresholds derived from them are those of the
recursion in ``δ`` itself; ``K_i`` is not symmetric, which the exact route's range reduction
(a similarity ``V⁺ K_i V``) already allows. A diagonal ``P`` on diagonal Hessians keeps every
``K_i`` diagonal, so the closed-form routes for symbolic entries apply.

The symbolic entry points import this module when they run (it reads the package's public
names, so it is loaded after the package).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy

from stability.dynamics import LinearDynamics
from stability.errors import InvalidInputError
from stability.symbolic import SymbolicQuadratic, as_symbolic_problem, exact  # loaded lazily

if TYPE_CHECKING:
    from stability.methods import MethodLike

__all__ = ["PreconditionedQuadratic", "preconditioned_pair"]


@dataclass(frozen=True)
class PreconditionedQuadratic(SymbolicQuadratic):
    """The matrices ``K_i = P⁻¹ (H_i + μ I)`` of a preconditioned recursion (not symmetric).

    Read by the symbolic evaluators in place of a :class:`SymbolicQuadratic`; the symmetry
    and semi-definiteness checks do not apply (``K_i`` is similar to the PSD
    ``P^{−1/2} (H_i + μ I) P^{−1/2}``).
    """

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "hessians", tuple(sympy.ImmutableMatrix(h) for h in self.hessians)
        )


def _description(method: MethodLike) -> LinearDynamics | None:
    if isinstance(method, LinearDynamics):
        return method
    from stability.methods import Method

    if isinstance(method, Method):
        return method.dynamics()
    return None  # read_dynamics raises the usual type error


def preconditioned_pair(
    hessians: Any, method: MethodLike, name: str = "hessians",
) -> tuple[Any, Any]:
    """``(problem, method)`` for the symbolic evaluators, a frozen preconditioner applied.

    Without a preconditioner: ``(as_symbolic_problem(hessians), method)``. With one: the
    matrices ``K_i = P⁻¹ (H_i + μ I)`` (:class:`PreconditionedQuadratic`, or a plain
    :class:`SymbolicQuadratic` when they are diagonal) and the method's plain description.

    Parameters
    ----------
    hessians : Any
        The per-sample Hessians in any form :func:`as_symbolic_problem` accepts.
    method : Method or LinearDynamics
        The optimiser.
    name : str, default 'hessians'
        Name of the argument, for error messages.

    Raises
    ------
    InvalidInputError
        If ``P`` does not match the dimension, or the description also has additive noise
        (its noise is written in the congruent coordinates).

    Examples
    --------
    >>> from stability.methods import RMSProp
    >>> from stability.symbolic._preconditioned import preconditioned_pair
    >>> problem, plain = preconditioned_pair([[[2, 1], [1, 2]]], RMSProp([[2, 0], [0, 4]]))
    >>> problem.hessians[0], plain.preconditioning
    (Matrix([
    [  1, 1/2],
    [1/4, 1/2]]), None)
    """
    problem = as_symbolic_problem(hessians, name)
    dynamics = _description(method)
    if dynamics is None or dynamics.preconditioning is None:
        return problem, method
    preconditioning = dynamics.preconditioning
    size = problem.dimension
    if len(preconditioning.matrix) != size:
        raise InvalidInputError(
            f"preconditioner has dimension {len(preconditioning.matrix)} but the Hessians are "
            f"{size} × {size}"
        )
    if dynamics.noise is not None:
        raise InvalidInputError(
            f"{dynamics.name}: the symbolic layer does not take a preconditioner together with "
            "additive noise; use the numeric layer"
        )
    if preconditioning.diagonal:
        inverse = sympy.diag(*[1 / exact(x, "preconditioner") for x in preconditioning.matrix])
    else:
        inverse = sympy.Matrix(
            [[exact(x, "preconditioner") for x in row] for row in preconditioning.matrix]
        ).inv()
    shift = exact(preconditioning.shift, "weight_decay")
    eye = sympy.eye(size)
    matrices = tuple(
        sympy.ImmutableMatrix((inverse * (sympy.Matrix(h) + shift * eye)).applyfunc(sympy.expand))
        for h in problem.hessians
    )
    plain = dataclasses.replace(dynamics, preconditioning=None)
    if all(m.is_diagonal() for m in matrices):
        return SymbolicQuadratic(matrices), plain
    return PreconditionedQuadratic(matrices), plain
