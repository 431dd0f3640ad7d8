"""Start states of the recursion: the default error ``δ_0`` and the accepted forms of ``init``.

Shared by the exact prediction (:mod:`stability.numeric`) and the Monte Carlo
engine (:mod:`stability.simulation`), which must start from the same state.

**The default start lies in range(H).** Every per-sample Hessian ``H_i`` is positive
semi-definite, so ``null(H)`` is the common null space of all of them: no step of any method
moves a component there (without weight decay). A start with such a component keeps it for
ever, and ``E‖δ_t‖²`` then decays to that constant instead of to zero, hiding how fast the
moving part contracts. The default is therefore the unit vector along the orthogonal
projection of ``(1, …, 1)`` on ``range(H)`` (:func:`default_start`); when ``H`` has full
rank this is ``(1, …, 1)/√d`` (:func:`default_initial_error`), the default of problems
without a known Hessian.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from stability._validation import as_finite_array, check_positive_integer
from stability.errors import DimensionError, StabilityError

if TYPE_CHECKING:
    from stability.problems import ProblemLike

__all__ = ["default_initial_error", "default_start", "initial_states"]


def default_initial_error(dimension: int) -> np.ndarray:
    """The start ``δ_0 = (1, …, 1)/√d``, a unit vector with equal weight on every axis.

    The default start of a problem whose Hessian has full rank (:func:`default_start`
    projects it on ``range(H)`` otherwise); for momentum ``δ_{-1} = δ_0``. A start orthogonal
    to the unstable directions would hide an instability from any trajectory, so pass
    ``init`` when the all-ones direction is special for your problem.

    Parameters
    ----------
    dimension : int
        ``d``.

    Examples
    --------
    >>> from stability._starts import default_initial_error
    >>> default_initial_error(4)
    array([0.5, 0.5, 0.5, 0.5])
    """
    dimension = check_positive_integer(dimension, "dimension")
    return np.full(dimension, 1.0 / np.sqrt(dimension))


def default_start(problem: ProblemLike, preconditioning: Any = None) -> np.ndarray:
    """The default ``δ_0``: the unit vector along the projection of ``(1, …, 1)`` on ``range(H)``.

    It has no component along ``null(H)``, the directions that no step ever moves; for a
    full-rank ``H`` it is :func:`default_initial_error`. If ``(1, …, 1)`` is orthogonal to
    ``range(H)`` the sum of the orthonormal basis of ``range(H)`` that
    :meth:`Quadratic.reduced <stability.problems.Quadratic.reduced>` gives is used instead;
    for ``H = 0`` (nothing moves) :func:`default_initial_error`.

    With a frozen preconditioner ``P`` the directions that move are ``P⁻¹ range(H)`` (the
    step ``P⁻¹ (H_B + μ I) δ`` has its range there and ``null(H)`` is still fixed), so the
    start is ``P⁻¹ r / ‖P⁻¹ r‖`` for ``r`` the start above: in the congruent coordinates
    ``u = P^{1/2} δ`` of the exact layers it lies in ``range(P^{−1/2} H P^{−1/2})``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    preconditioning : Preconditioning, optional
        A frozen preconditioner (:class:`~stability.dynamics.Preconditioning`).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability._starts import default_start
    >>> default_start(Quadratic(np.diag([2.0, 0.0])))  # null(H) is the second axis
    array([1., 0.])
    >>> default_start(Quadratic(np.diag([2.0, 1.0]))).round(4)  # full rank: (1, 1)/√2
    array([0.7071, 0.7071])
    """
    dimension = problem.dimension
    ones = default_initial_error(dimension)
    try:
        basis = np.asarray(problem.reduced().basis, dtype=float)
    except StabilityError:
        basis = np.eye(dimension)
    if 0 < basis.shape[1] < dimension:
        start = basis @ (basis.T @ ones)
        if np.linalg.norm(start) < 1e-8:
            start = basis.sum(axis=1)
        start = start / np.linalg.norm(start)
    else:
        start = ones
    if preconditioning is not None:
        matrix = preconditioning.dense(dimension)
        start = start / np.diag(matrix) if preconditioning.diagonal else np.linalg.solve(
            matrix, start
        )
        start = start / np.linalg.norm(start)
    return start


def initial_states(
    init: Any,
    dimension: int,
    blocks: int,
    *,
    problem: ProblemLike = None,
    preconditioning: Any = None,
) -> np.ndarray:
    """Normalise ``init`` to start states: shape ``(md,)`` or ``(runs, md)``.

    ``init`` may be ``None`` (the default start: :func:`default_start` of ``problem``, or
    :func:`default_initial_error` when no problem is given), an error vector ``δ_0`` of
    length ``d`` (every state block starts at ``δ_0``: for momentum ``δ_{-1} = δ_0``), a
    full state of length ``m d``, or a 2-D array with one such row per run.

    Parameters
    ----------
    init : array_like or None
        The start.
    dimension : int
        ``d``.
    blocks : int
        ``m``, the number of state blocks.
    problem : Quadratic, optional
        The minimum, for the default start in ``range(H)``.
    preconditioning : Preconditioning, optional
        A frozen preconditioner, for the default start (:func:`default_start`).

    Raises
    ------
    DimensionError
        If the length is neither ``d`` nor ``m d``.

    Examples
    --------
    >>> from stability._starts import initial_states
    >>> initial_states([1.0, 2.0], dimension=2, blocks=2)
    array([1., 2., 1., 2.])
    """
    if init is None:
        if problem is None:
            return np.tile(default_initial_error(dimension), blocks)
        return np.tile(default_start(problem, preconditioning), blocks)
    array = as_finite_array(init, "init", (1, 2))
    length = array.shape[-1]
    if length == dimension:
        return np.tile(array, blocks) if array.ndim == 1 else np.tile(array, (1, blocks))
    if length == dimension * blocks:
        return array.copy()
    wanted = f"d={dimension}" + (f" or m·d={dimension * blocks}" if blocks > 1 else "")
    raise DimensionError(
        f"init must have {wanted} entries per start (the error δ_0"
        + (" or the full state)" if blocks > 1 else ")")
        + f"; got shape {array.shape}"
    )
