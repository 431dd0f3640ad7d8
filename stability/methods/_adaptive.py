"""Adam, AdamW and RMSProp with a frozen preconditioner.

Theory: ``docs/theory/adaptive.md``. Late in training the second-moment estimates of Adam and
RMSProp change slowly; freezing them gives a fixed diagonal (or any SPD) preconditioner ``P``
(``√v̂ + ε``), and the methods become linear:

* RMSProp: ``δ_{t+1} = δ_t − η P⁻¹ g_B`` (``momentum = 0``), or with ``torch``'s momentum
  buffer ``b ← β b + P⁻¹ g_B``, ``δ ← δ − η b``: heavy ball on ``P⁻¹ H_B``;
* Adam: ``m ← β₁ m + (1 − β₁) g_B``, ``δ ← δ − η P⁻¹ m`` (bias correction ignored: it tends
  to one), state ``(δ, m)``; AdamW adds ``− η μ δ`` (decoupled weight decay).

Here ``g_B = H_B δ`` (plus ``μ δ`` with coupled weight decay). Each compiles to a
:class:`~stability.dynamics.LinearDynamics` written in the congruent coordinates
``u = P^{1/2} δ`` with a :class:`~stability.dynamics.Preconditioning`
attached; :func:`stability.preconditioning.congruent` turns problem and method into the plain
pair every evaluator reads. Adam's second state block is the step ``s = η P^{−1/2} m`` (so that
``η`` enters only through ``η H̃_B``, as for heavy ball, and the full-batch route is the fast
one); in those coordinates

    u_{t+1} = (1 − η μ_d) u_t − β₁ s_t − η (1 − β₁) H̃_B u_t,
    s_{t+1} = β₁ s_t + η (1 − β₁) H̃_B u_t,

i.e. ``F(η) = [[1 − η μ_d, −β₁], [0, β₁]]`` and ``G(η) = [[−η (1 − β₁), 0], [η (1 − β₁), 0]]``.
Eliminating ``v`` gives heavy ball with learning rate ``η (1 − β₁)`` on ``H̃``, so full batch
the edge is ``λ_max(P⁻¹ H) = (2 + 2β₁)/((1 − β₁) η)`` (Cohen et al. 2022), ``38/η`` at
``β₁ = 0.9``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from stability._validation import check_batch_size, check_momentum, exact_number
from stability.dynamics import LinearDynamics, MatrixPolynomial, Preconditioning
from stability.methods._base import Method, batch_law, check_weight_decay
from stability.methods._gradient import gradient_step_dynamics
from stability.methods._momentum import HeavyBall

__all__ = ["Adam", "AdamW", "RMSProp"]


def _canonical(preconditioner: Any) -> Any:
    """Validate ``P`` and keep it hashable (``None`` for no preconditioner)."""
    if preconditioner is None:
        return None
    return Preconditioning(preconditioner).matrix


def _attach(dynamics: LinearDynamics, preconditioner: Any, coupled: Any) -> LinearDynamics:
    """Coupled decay as a Hessian shift, or inside the preconditioning when ``P`` is given."""
    if preconditioner is None:
        return dynamics.with_hessian_shift(coupled)
    return dataclasses.replace(dynamics, preconditioning=Preconditioning(preconditioner, coupled))


@dataclass(frozen=True, repr=False)
class RMSProp(Method):
    """RMSProp with a frozen preconditioner ``P = √v + ε``: ``δ ← δ − η P⁻¹ g_B``.

    Parameters
    ----------
    preconditioner : array_like or None
        ``P``: a positive vector (diagonal) or an SPD matrix; ``None`` for ``P = I``.
    batch_size : int or None, default None
        ``None`` for the full batch.
    replacement : bool, default False
        Draw minibatch indices with replacement.
    momentum : float, default 0
        ``torch``'s momentum buffer ``b ← β b + P⁻¹ g_B``, ``δ ← δ − η b``.
    weight_decay : float, default 0
        Coupled weight decay (``g_B ← g_B + μ θ``, as ``torch.optim.RMSprop``).
    shuffle, drop_last : bool, default False
        Reshuffled epochs (:mod:`stability.reshuffling`).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic, critical_learning_rate
    >>> from stability.methods import RMSProp
    >>> from stability.preconditioning import congruent
    >>> problem = Quadratic(np.diag([4.0, 1.0]))
    >>> float(critical_learning_rate(*congruent(problem, RMSProp([4.0, 0.25]))))  # 2/λ(P⁻¹H)
    0.5
    """

    preconditioner: Any = None
    batch_size: int | None = None
    replacement: bool = False
    momentum: Any = 0
    weight_decay: Any = 0
    shuffle: bool = False
    drop_last: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "preconditioner", _canonical(self.preconditioner))
        check_batch_size(self.batch_size)
        check_momentum(self.momentum)
        batch_law(self.batch_size, self.replacement, self.shuffle, self.drop_last)
        check_weight_decay(self.weight_decay)

    def dynamics(self) -> LinearDynamics:
        """Compile: GD/SGD, or heavy ball with ``momentum``, in ``u = P^{1/2} δ``."""
        law = batch_law(self.batch_size, self.replacement, self.shuffle, self.drop_last)
        if self.momentum == 0:
            base = gradient_step_dynamics("RMSProp", law)
        else:
            base = dataclasses.replace(
                HeavyBall(
                    self.momentum,
                    self.batch_size,
                    self.replacement,
                    shuffle=self.shuffle,
                    drop_last=self.drop_last,
                ).dynamics(),
                name="RMSProp",
            )
        return _attach(base, self.preconditioner, exact_number(self.weight_decay))


@dataclass(frozen=True, repr=False)
class Adam(Method):
    """Adam with a frozen preconditioner: ``m ← β₁ m + (1 − β₁) g_B``, ``δ ← δ − η P⁻¹ m``.

    Parameters
    ----------
    beta1 : float or SymPy expression, default 0.9
        ``β₁`` in ``[0, 1)``.
    preconditioner : array_like or None
        ``P = √v̂ + ε`` frozen: a positive vector (diagonal) or an SPD matrix; ``None`` for
        ``P = I`` (then Adam is an EMA form of heavy ball).
    batch_size : int or None, default None
        ``None`` for the full batch.
    replacement : bool, default False
        Draw minibatch indices with replacement.
    weight_decay : float, default 0
        ``μ``: coupled (``g_B ← g_B + μ θ``, ``torch.optim.Adam``) unless ``decoupled``.
    decoupled : bool, default False
        Decoupled weight decay ``δ ← δ − η μ δ`` (AdamW).
    shuffle, drop_last : bool, default False
        Reshuffled epochs (:mod:`stability.reshuffling`).

    Notes
    -----
    Full batch the edge is ``λ_max(P⁻¹ H) = (2 + 2β₁)/((1 − β₁) η)`` (Cohen et al. 2022); with
    minibatches Adam at ``η`` is heavy ball at ``η (1 − β₁)`` on ``P^{−1/2} H_i P^{−1/2}``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic, critical_learning_rate
    >>> from stability.methods import Adam
    >>> float(critical_learning_rate(Quadratic(np.diag([2.0, 1.0])), Adam(0.9)))  # 38 / 2
    19.0
    """

    beta1: Any = 0.9
    preconditioner: Any = None
    batch_size: int | None = None
    replacement: bool = False
    weight_decay: Any = 0
    decoupled: bool = False
    shuffle: bool = False
    drop_last: bool = False

    def __post_init__(self) -> None:
        check_momentum(self.beta1, "beta1")
        object.__setattr__(self, "preconditioner", _canonical(self.preconditioner))
        check_batch_size(self.batch_size)
        batch_law(self.batch_size, self.replacement, self.shuffle, self.drop_last)
        check_weight_decay(self.weight_decay)
        if not isinstance(self.decoupled, bool):
            from stability.errors import InvalidTypeError

            raise InvalidTypeError(f"decoupled must be True or False; got {self.decoupled!r}")

    def dynamics(self) -> LinearDynamics:
        """Compile to ``F = [[1 − ημ_d, −β₁], [0, β₁]]``, ``G = η (1 − β₁) [[−1, 0], [1, 0]]``.

        State ``(u, s) = (P^{1/2} δ, η P^{−1/2} m)``. The weight decay enters ``F``
        (decoupled) or the preconditioning (coupled).
        """
        beta = exact_number(self.beta1)
        decoupled = exact_number(self.weight_decay) if self.decoupled else 0
        coupled = 0 if self.decoupled else exact_number(self.weight_decay)
        base = LinearDynamics(
            name="AdamW" if self.decoupled else "Adam",
            identity_part=MatrixPolynomial.from_matrices(
                [[[1, -beta], [0, beta]], [[-decoupled, 0], [0, 0]]]
            ),
            hessian_part=MatrixPolynomial.from_matrices(
                [[[0, 0], [0, 0]], [[-(1 - beta), 0], [1 - beta, 0]]]
            ),
            batch=batch_law(self.batch_size, self.replacement, self.shuffle, self.drop_last),
            state=("u_t", "s_t"),
        )
        return _attach(base, self.preconditioner, coupled)


@dataclass(frozen=True, repr=False)
class AdamW(Adam):
    """AdamW: :class:`Adam` with decoupled weight decay (``decoupled=True`` by default).

    Parameters
    ----------
    beta1 : float or SymPy expression, default 0.9
        ``β₁`` in ``[0, 1)``.
    preconditioner : array_like or None, default None
        ``P = √v̂ + ε`` frozen: a positive vector (diagonal) or an SPD matrix; ``None`` for ``P =
        I``.
    batch_size : int | None, default None
        Batch size B; None is the full batch.
    replacement : bool, default False
        Whether batches are drawn with replacement.
    weight_decay : float, default 0
        ``μ``, applied as decoupled weight decay ``δ ← δ − η μ δ`` by default.
    decoupled : bool, default True
        Decoupled weight decay (True, AdamW); False gives Adam's coupled decay.
    shuffle : bool, default False
        Whether batches are drawn by random reshuffling (without replacement, epoch by epoch).
    drop_last : bool, default False
        With reshuffling, whether the incomplete last batch of an epoch is dropped.

    Examples
    --------
    >>> from stability.methods import AdamW
    >>> AdamW(0.9, weight_decay=0.01).dynamics().identity_part.evaluate(1.0)
    array([[ 0.99, -0.9 ],
           [ 0.  ,  0.9 ]])
    >>> AdamW(0.9, weight_decay=0.01).dynamics().identity_part.evaluate(2.0)
    array([[ 0.98, -0.9 ],
           [ 0.  ,  0.9 ]])
    """

    decoupled: bool = True
