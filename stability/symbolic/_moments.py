"""The stationary second moment ``S_∞ = (I − T)^{-1} N`` of noisy dynamics, symbolically.

Theory: ``docs/theory/operator.md`` (rule 3) and ``docs/theory/methods.md``. ``N`` comes from the
dynamics' additive noise (:func:`~stability.symbolic.noise_matrix`), read generically: variational
GD needs no special case. Neutral directions: the projection ``Π(S) = Q̃ S Q̃`` onto the
``null(H)`` block (``Q̃ = I_m ⊗ Q``, ``Q`` the orthogonal projector onto ``null(H)``)
commutes with ``T`` because ``H_B Q = 0``; when the noise does not reach that block, the
stationary moment is the solution of ``(I − T + Π) S = N``, zero on the neutral block —
the moment from a start in ``range(H)``, as in
:func:`stability.numeric.stationary_second_moment`.

Examples
--------
>>> import sympy
>>> from stability.methods import VariationalGD
>>> from stability.symbolic import stationary_moment
>>> lam, sigma2 = sympy.symbols("lambda sigma2", positive=True)
>>> stationary_moment([lam], VariationalGD(sigma2, samples=2))  # η λ σ² / (S (2 − η λ))
Matrix([[-eta*lambda*sigma2/(2*(eta*lambda - 2))]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy

from stability.errors import SizeLimitError, UnstableError
from stability.symbolic._operators import (
    exact_learning_rate,
    noise_matrix,
    read_dynamics,
    restrict_symmetric,
    second_moment_operator,
    symmetric_indices,
)
from stability.symbolic._problems import LEARNING_RATE, as_symbolic_problem
from stability.symbolic._thresholds import critical_learning_rate

__all__ = ["MAX_EXACT_MOMENT_SIZE", "MAX_SYMBOLIC_MOMENT_SIZE", "stationary_moment"]

#: Largest symmetric state dimension ``md(md + 1)/2`` for numbers.
MAX_EXACT_MOMENT_SIZE = 36
#: Largest symmetric state dimension ``md(md + 1)/2`` with symbols.
MAX_SYMBOLIC_MOMENT_SIZE = 10


def _null_projector(hessian: sympy.Matrix) -> sympy.Matrix:
    """The orthogonal projector onto ``null(H)`` (exact, for a matrix of numbers)."""
    columns = hessian.columnspace()
    size = hessian.shape[0]
    if len(columns) == size:
        return sympy.zeros(size, size)
    if not columns:
        return sympy.eye(size)
    basis = sympy.Matrix.hstack(*columns)
    return sympy.eye(size) - basis * (basis.T * basis).inv() * basis.T


def stationary_moment(
    hessians: Any, method: Any, lr: Any = LEARNING_RATE, *, mixing: Any = None
) -> sympy.Matrix:
    """The stationary second moment ``S_∞ = lim E[z_t z_tᵀ]`` of a noisy method.

    Theory: ``docs/theory/operator.md`` (rule 3) and ``docs/theory/methods.md``. ``S_∞`` solves
    ``S = T(S) + N``; it exists only where the method is mean-square stable. For numbers (Hessians,
    method and ``lr``) that is checked against the exact threshold; for symbols the result is the
    rational function of ``η`` valid on the stability region
    (:func:`stability_condition`).

    Parameters
    ----------
    hessians : SymbolicQuadratic or per-sample Hessians
        Any form :func:`as_symbolic_problem` accepts; symbolic Hessians are taken generic
        (``H`` nonsingular).
    method : Method or LinearDynamics
        The optimiser; its :attr:`~stability.dynamics.LinearDynamics.noise` gives ``N``
        (zero without noise).
    lr : number or SymPy expression, default ``eta``
        The learning rate.
    mixing : number or SymPy expression, optional
        Override the batch law's ``p``.

    Returns
    -------
    sympy.Matrix
        ``m d × m d``: block ``(a, c)`` is ``E[z_a z_cᵀ]``. Neutral directions of
        ``null(H)`` that the noise does not reach are zero.

    Raises
    ------
    UnstableError
        If ``lr`` is a number at or above the exact threshold, or the noise drives the
        neutral directions of ``null(H)`` (which then never settle).
    SizeLimitError
        If the linear system is too large for symbolic work.

    Examples
    --------
    >>> import sympy
    >>> from stability.methods import VariationalGD
    >>> from stability.symbolic import stationary_moment
    >>> stationary_moment([[[2, 0], [0, 0]]], VariationalGD(sympy.Rational(3, 10), 2), 0.5)
    Matrix([
    [3/20, 0],
    [   0, 0]])
    """
    problem = as_symbolic_problem(hessians)
    dynamics = read_dynamics(method, problem.samples, mixing=mixing)
    lr = exact_learning_rate(lr)
    blocks, dimension = dynamics.blocks, problem.dimension
    state = blocks * dimension
    size = state * (state + 1) // 2
    parametric = problem.is_parametric or bool(dynamics.free_symbols) or bool(lr.free_symbols)
    limit = MAX_SYMBOLIC_MOMENT_SIZE if parametric else MAX_EXACT_MOMENT_SIZE
    if size > limit:
        raise SizeLimitError(
            f"the stationary moment needs a {size}×{size} symbolic solve (state m·d = {state}; "
            f"limit {limit}); use stability.numeric._moments.stationary_second_moment"
        )
    noise = noise_matrix(problem, method, lr, mixing=mixing)
    if not lr.free_symbols and not problem.is_parametric and not dynamics.free_symbols:
        threshold = critical_learning_rate(problem, method, mixing=mixing)
        if not bool(lr < threshold):
            raise UnstableError(
                f"lr={lr} is not mean-square stable for {dynamics.dynamics.name} "
                f"(η* = {threshold}): there is no stationary second moment"
            )
    if noise.is_zero_matrix:
        return sympy.zeros(state, state)
    operator = second_moment_operator(problem, method, lr, mixing=mixing, symmetric=True)
    projection = sympy.zeros(size, size)
    if not problem.is_parametric:
        null = _null_projector(sympy.Matrix(problem.hessian))
        if not null.is_zero_matrix:
            lifted = sympy.kronecker_product(sympy.eye(blocks), null)
            if not (lifted * noise * lifted).applyfunc(sympy.simplify).is_zero_matrix:
                raise UnstableError(
                    "the noise reaches the neutral directions null(H), where the dynamics do not "
                    "contract: the second moment grows without bound and has no stationary value"
                )
            tensor = np.array(sympy.kronecker_product(lifted, lifted).tolist(), dtype=object)
            projection = sympy.Matrix(restrict_symmetric(tensor, state))
    pairs = symmetric_indices(state)
    right = sympy.Matrix([noise[a, b] for a, b in pairs])
    system = sympy.eye(size) - operator + projection
    solution = system.LUsolve(right).applyfunc(sympy.factor)
    moment = sympy.zeros(state, state)
    for (a, b), value in zip(pairs, solution, strict=True):
        moment[a, b] = moment[b, a] = value
    return moment
