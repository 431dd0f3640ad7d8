"""Dense second-moment operators in the problem's own coordinates (small problems).

Theory: ``docs/theory/operator.md``. For ``A = F(η) ⊗ I + G(η) ⊗ H_B`` the operator
``T(S) = E[A S Aᵀ]`` has the matrix ``E[A ⊗ A]`` in the row-major (equivalently, for the
symmetric second moments it acts on, column-major) ``vec`` basis. It is assembled here
column by column from the package's one operator
(:class:`~stability.numeric.SecondMomentOperator`, written in the original
coordinates by :func:`~stability.numeric._prediction.original_coordinates_operator`), at a
cost of ``(m d)^4`` memory: for small problems and cross-checks. The threshold routines
work on the reduced problem restricted to symmetric matrices instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stability._system import bind
from stability._validation import check_learning_rate
from stability.dynamics import LinearDynamics
from stability.errors import SizeLimitError
from stability.numeric._operator import SymmetricLayout
from stability.problems import Quadratic

__all__ = [
    "DENSE_ENTRY_LIMIT",
    "dense_operator",
    "second_moment_operator",
    "symmetric_basis",
]

#: Largest number of entries a dense operator may have before it is refused.
DENSE_ENTRY_LIMIT = 60_000_000


def symmetric_basis(size: int) -> np.ndarray:
    """The orthonormal ``svec`` basis of symmetric ``size × size`` matrices.

    Returns ``Q`` of shape ``(size (size + 1) / 2, size²)``: row ``(a, b)``, ``a ≤ b``, is
    ``vec(E_aa)`` on the diagonal and ``vec(E_ab + E_ba)/√2`` off it, in the order of
    :func:`numpy.triu_indices`. For symmetric ``S``, ``Q vec(S)`` are its coordinates and
    ``Q T Qᵀ`` is the matrix of ``T`` restricted to symmetric matrices.

    Parameters
    ----------
    size : int
        Size d of the symmetric matrices.

    Examples
    --------
    >>> from stability.numeric import symmetric_basis
    >>> symmetric_basis(2).round(4)
    array([[1.    , 0.    , 0.    , 0.    ],
           [0.    , 0.7071, 0.7071, 0.    ],
           [0.    , 0.    , 0.    , 1.    ]])
    """
    layout = SymmetricLayout(size)
    return layout.basis().reshape(layout.dimension, size * size)


def _check_size(entries: int, what: str) -> None:
    if entries > DENSE_ENTRY_LIMIT:
        raise SizeLimitError(
            f"the dense {what} would have {entries:,} entries (limit {DENSE_ENTRY_LIMIT:,}); "
            "use the threshold and spectral-radius functions, which work matrix-free on the "
            "reduced problem"
        )


def dense_operator(problem: Quadratic, dynamics: LinearDynamics, lr: float) -> np.ndarray:
    """``E[A ⊗ A]`` at learning rate ``lr`` in the original coordinates (``(m d)² × (m d)²``).

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    dynamics : LinearDynamics
        The method's linear dynamics.
    lr : float
        Learning rate η.
    """
    from stability.numeric._prediction import original_coordinates_operator

    system = bind(problem, dynamics)
    blocks, dimension = system.blocks, problem.dimension
    state = blocks * dimension
    _check_size(state**4, "second-moment operator")
    operator = original_coordinates_operator(system)
    parts = system.parts(lr)
    columns = np.empty((state * state, state * state))
    for index in range(state * state):
        unit = np.zeros(state * state)
        unit[index] = 1.0
        moment = unit.reshape(blocks, dimension, blocks, dimension).transpose(0, 2, 1, 3)
        image = operator.apply_pair(moment, parts, parts)
        columns[:, index] = image.transpose(0, 2, 1, 3).reshape(-1)
    return columns


def second_moment_operator(problem: Quadratic, method: Any, lr: float) -> np.ndarray:
    """The second-moment operator ``T = E[A ⊗ A]`` of ``method`` at ``lr`` as a dense array.

    Basis: ``vec`` of the state's second moment ``S = E z zᵀ`` (``z`` stacks the ``m``
    state blocks of :attr:`LinearDynamics.state`, each of size ``d``), in the problem's
    original coordinates, so ``vec(T(S)) = T @ vec(S)`` with ``S`` flattened in either
    row- or column-major order (they agree on symmetric ``S``). The array has shape
    ``((m d)², (m d)²)`` and includes the neutral directions of ``null(H)`` (eigenvalue
    one); :func:`~stability.spectral_radius` removes them. Meant for small ``d``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.

    Raises
    ------
    SizeLimitError
        If the dense array would be too large.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic, second_moment_operator
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> second_moment_operator(problem, SGD(1, replacement=True), 0.5)  # E (1 − η h)²
    array([[0.25]])
    """
    lr = check_learning_rate(lr)
    system = bind(problem, method)
    return dense_operator(system.problem, system.dynamics, lr)
