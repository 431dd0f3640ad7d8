"""Heavy-ball (Polyak) and Nesterov momentum.

Theory: ``docs/theory/methods.md``. The state is ``(δ_t, δ_{t−1})`` and the second-moment
operator is quadratic in ``η``; the threshold is the smallest positive root of
``det(T(η) − I) = 0`` (docs/theory/operator.md, rule 2). Both methods share the state layout
``A = [[(1 + β) I + G_11 H_B, −β I + G_12 H_B], [I, 0]]`` and differ only in where the
gradient is taken, i.e. in the first row of ``G``.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from stability._validation import check_batch_size, check_momentum, exact_number
from stability.dynamics import LinearDynamics, MatrixPolynomial
from stability.methods._base import Method, batch_law, check_weight_decay

__all__ = ["HeavyBall", "Nesterov"]


@dataclass(frozen=True, repr=False)
class _Momentum(Method):
    """Shared fields, validation and compilation of two-step momentum methods."""

    momentum: Any
    batch_size: int | None = None
    replacement: bool = False
    weight_decay: Any = 0
    shuffle: bool = False
    drop_last: bool = False

    label: ClassVar[str] = "Momentum"

    def __post_init__(self) -> None:
        check_momentum(self.momentum)
        check_batch_size(self.batch_size)
        batch_law(self.batch_size, self.replacement, self.shuffle, self.drop_last)
        check_weight_decay(self.weight_decay)

    @abstractmethod
    def _gradient_row(self, beta: Any) -> list[Any]:
        """The coefficients of ``η H_B`` acting on ``(δ_t, δ_{t−1})`` in the update."""

    def dynamics(self) -> LinearDynamics:
        """Compile to the shared description (``m = 2`` blocks, ``T`` quadratic in ``η``).

        Weight decay ``μ`` replaces ``H_B`` by ``H_B + μ I``
        (:meth:`~stability.dynamics.LinearDynamics.with_hessian_shift`).
        """
        beta = exact_number(self.momentum)
        return LinearDynamics(
            name=self.label,
            identity_part=MatrixPolynomial.from_matrices([[[1 + beta, -beta], [1, 0]]]),
            hessian_part=MatrixPolynomial.from_matrices(
                [[[0, 0], [0, 0]], [self._gradient_row(beta), [0, 0]]]
            ),
            batch=batch_law(self.batch_size, self.replacement, self.shuffle, self.drop_last),
            state=("δ_t", "δ_{t-1}"),
        ).with_hessian_shift(exact_number(self.weight_decay))


@dataclass(frozen=True, repr=False)
class HeavyBall(_Momentum):
    """Heavy-ball momentum, ``δ_{t+1} = δ_t − η H_B δ_t + β (δ_t − δ_{t−1})``.

    Compiles to ``A = [[(1 + β) I − η H_B, −β I], [I, 0]]``.

    Parameters
    ----------
    momentum : float or SymPy expression
        ``β`` in ``[0, 1)``.
    batch_size : int or None, default None
        ``None`` for the full batch, else the minibatch size ``B``.
    replacement : bool, default False
        Draw minibatch indices with replacement.
    weight_decay : float or SymPy expression, default 0
        ``μ ≥ 0``: the gradient is ``(H_B + μ I) δ`` (coupled ``L2`` weight decay).
    shuffle : bool, default False
        Random reshuffling of the minibatches every epoch (needs ``batch_size``);
        analysed by :mod:`stability.reshuffling`.
    drop_last : bool, default False
        With ``shuffle``, skip the short last batch when ``B`` does not divide ``n``.

    Notes
    -----
    Full batch, the edge of stability is ``λ_max(H) + μ = 2 (1 + β) / η``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import HeavyBall, Quadratic, critical_learning_rate
    >>> float(critical_learning_rate(Quadratic(np.diag([2.0, 1.0])), HeavyBall(0.5)))
    1.5
    """

    label: ClassVar[str] = "HeavyBall"

    def _gradient_row(self, beta: Any) -> list[Any]:
        return [-1, 0]


@dataclass(frozen=True, repr=False)
class Nesterov(_Momentum):
    """Nesterov momentum: the gradient is taken at the look-ahead ``δ_t + β (δ_t − δ_{t−1})``.

    ``δ_{t+1} = (I − η H_B) ((1 + β) δ_t − β δ_{t−1})``, which compiles to
    ``A = [[(1 + β)(I − η H_B), −β (I − η H_B)], [I, 0]]``.

    Parameters
    ----------
    momentum : float or SymPy expression
        ``β`` in ``[0, 1)``.
    batch_size : int or None, default None
        ``None`` for the full batch, else the minibatch size ``B``.
    replacement : bool, default False
        Draw minibatch indices with replacement.
    weight_decay : float or SymPy expression, default 0
        ``μ ≥ 0``: the gradient is ``(H_B + μ I)`` times the look-ahead point.
    shuffle : bool, default False
        Random reshuffling of the minibatches every epoch (needs ``batch_size``);
        analysed by :mod:`stability.reshuffling`.
    drop_last : bool, default False
        With ``shuffle``, skip the short last batch when ``B`` does not divide ``n``.

    Notes
    -----
    Full batch, the edge of stability is ``λ_max(H) + μ = 2 (1 + β) / (η (1 + 2β))``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Nesterov, Quadratic, critical_learning_rate
    >>> float(critical_learning_rate(Quadratic(np.diag([2.0, 1.0])), Nesterov(0.5)))
    0.75
    """

    label: ClassVar[str] = "Nesterov"

    def _gradient_row(self, beta: Any) -> list[Any]:
        return [-(1 + beta), beta]
