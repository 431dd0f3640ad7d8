"""Gradient descent and stochastic gradient descent.

Theory: ``docs/theory/threshold.md`` (Mulayoff & Michaeli 2023; Wu, Ma & E 2018; Ma & Ying 2021).
The state is ``δ`` alone and the state map is ``I − η H_B``; with weight decay ``μ`` (an
``L2`` term ``½ μ ‖θ‖²`` added to the loss) it is ``I − η (H_B + μ I)``, see
``docs/theory/weight-decay.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from stability._validation import check_positive_integer, exact_number
from stability.dynamics import BatchLaw, LinearDynamics, MatrixPolynomial, Preconditioning
from stability.methods._base import Method, batch_law, check_weight_decay

__all__ = ["GD", "SGD", "gradient_step_dynamics"]


def gradient_step_dynamics(name: str, batch: BatchLaw, weight_decay: Any = 0) -> LinearDynamics:
    """The dynamics ``δ_{t+1} = (I − η (H_B + μ I)) δ_t`` under the batch law ``batch``.

    Parameters
    ----------
    name : str
        Name of the method (e.g. ``'SGD'``), shown in reports.
    batch : BatchLaw
        The batch law of the minibatches.
    weight_decay : Any, default 0
        Coupled weight decay μ (``H_B → H_B + μ I``).

    Examples
    --------
    >>> from stability.dynamics import BatchLaw
    >>> from stability.methods import gradient_step_dynamics
    >>> gradient_step_dynamics("GD", BatchLaw(None), 2).identity_part.coefficients  # 1 − 2η
    (((1,),), ((-2,),))
    """
    return LinearDynamics(
        name=name,
        identity_part=MatrixPolynomial.from_matrices([[[1]]]),
        hessian_part=MatrixPolynomial.from_matrices([[[0]], [[-1]]]),
        batch=batch,
    ).with_hessian_shift(weight_decay)


@dataclass(frozen=True, repr=False)
class GD(Method):
    """Full-batch gradient descent, ``δ_{t+1} = (I − η (H + μ I)) δ_t``.

    Its edge of stability is ``η* = 2 / (λ_max(H) + μ)``.

    Parameters
    ----------
    weight_decay : float or SymPy expression, default 0
        ``μ ≥ 0``, the coefficient of the ``L2`` term ``½ μ ‖θ‖²`` (coupled weight decay).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic, critical_learning_rate
    >>> float(critical_learning_rate(Quadratic(np.diag([4.0, 1.0])), GD()))
    0.5
    >>> float(critical_learning_rate(Quadratic(np.diag([4.0, 1.0])), GD(weight_decay=1.0)))
    0.4
    """

    weight_decay: Any = 0

    def __post_init__(self) -> None:
        check_weight_decay(self.weight_decay)

    def dynamics(self) -> LinearDynamics:
        """Compile to the shared description: ``F = 1 − μη``, ``G = −η``, full batch."""
        return gradient_step_dynamics("GD", BatchLaw(None), exact_number(self.weight_decay))


@dataclass(frozen=True, repr=False)
class SGD(Method):
    """Minibatch stochastic gradient descent, ``δ_{t+1} = (I − η H_B) δ_t``.

    Parameters
    ----------
    batch_size : int
        The batch size ``B ≥ 1`` (at most ``n`` without replacement).
    replacement : bool, default False
        Draw the ``B`` indices with replacement (i.i.d.) instead of ``B`` distinct ones.
    weight_decay : float or SymPy expression, default 0
        ``μ ≥ 0``: the step is ``−η (g_B + μ θ)``, i.e. SGD on ``H_i + μ I``.
    shuffle : bool, default False
        Random reshuffling (``DataLoader(shuffle=True)``): each epoch a fresh permutation
        cut into batches (:class:`~stability.dynamics.ReshuffledBatchLaw`); analysed by
        :mod:`stability.reshuffling`.
    drop_last : bool, default False
        With ``shuffle``, skip the short last batch when ``B`` does not divide ``n``.
    preconditioner : array_like or None, default None
        A frozen preconditioner ``P`` (positive vector or SPD matrix): the step is
        ``−η P⁻¹ (g_B + μ θ)``. Analyse with :func:`stability.preconditioning.congruent`.

    Examples
    --------
    >>> from stability import SGD, Quadratic, critical_learning_rate
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> round(float(critical_learning_rate(problem, SGD(batch_size=1))), 12)  # 3 − √3
    1.267949192431
    """

    batch_size: int
    replacement: bool = False
    weight_decay: Any = 0
    shuffle: bool = False
    drop_last: bool = False
    preconditioner: Any = None

    def __post_init__(self) -> None:
        check_positive_integer(self.batch_size, "batch_size")
        batch_law(self.batch_size, self.replacement, self.shuffle, self.drop_last)
        check_weight_decay(self.weight_decay)
        if self.preconditioner is not None:
            object.__setattr__(self, "preconditioner", Preconditioning(self.preconditioner).matrix)

    def dynamics(self) -> LinearDynamics:
        """Compile to the shared description: ``F = 1 − μη``, ``G = −η``, batch law ``B``."""
        law = batch_law(self.batch_size, self.replacement, self.shuffle, self.drop_last)
        if self.preconditioner is None:
            return gradient_step_dynamics("SGD", law, exact_number(self.weight_decay))
        return dataclasses.replace(
            gradient_step_dynamics("SGD", law),
            preconditioning=Preconditioning(self.preconditioner, exact_number(self.weight_decay)),
        )
