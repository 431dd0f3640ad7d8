"""Exact finite-time second moments of a method's linear recursion, matrix-free.

Theory: ``docs/theory/operator.md`` and ``docs/monte-carlo.md``. A method compiles to

    z_{t+1} = A_t z_t + b_t,   A_t = F(η) ⊗ I + G(η) ⊗ H_B,   b_t = (u(η) ⊗ I + w(η) ⊗ H_B) ε_t,

and the second moment ``S_t = E z_t z_tᵀ`` obeys ``S_{t+1} = T(S_t) + N`` with
``T(S) = E[A S Aᵀ]`` and ``N = E[b bᵀ]``. This module applies ``T`` to ``md × md``
matrices directly (never forming the ``(md)² × (md)²`` matrix), in the problem's
*original* coordinates, so that its predictions are those of exactly the recursion the
Monte Carlo layer (:mod:`stability.simulation`) runs. With ``S`` split into ``m × m``
blocks of size ``d``,

    T(S)_{ik} = Σ_{jl} F_ij F_kl S_jl + F_ij G_kl S_jl H + G_ij F_kl H S_jl
                + G_ij G_kl ((1 − p) H S_jl H + p (1/n) Σ_s H_s S_jl H_s),

using ``E H_B = H`` and ``E[H_B X H_B] = (1 − p) H X H + p (1/n) Σ_s H_s X H_s``
(``docs/theory/threshold.md``). For rank-one samples ``H_s = x_s x_sᵀ`` the per-sample
sandwich costs ``O(n d²)`` per block; with general per-sample Hessians ``O(n d³)``.
Null-space directions of ``H`` are *kept* (they carry the start's component there,
unchanged by the dynamics), since ``E‖z_t‖²`` includes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stability._starts import initial_states
from stability._system import System, bind
from stability._validation import check_learning_rate, check_positive_integer
from stability.dynamics import LinearDynamics
from stability.errors import DimensionError, InvalidTypeError
from stability.numeric._operator import SecondMomentOperator
from stability.problems import Quadratic

__all__ = [
    "SecondMomentRecursion",
    "apply_second_moment_operator",
    "noise_second_moment",
    "predicted_mean_square",
    "second_moment_recursion",
]


@dataclass(frozen=True, eq=False)
class SecondMomentRecursion:
    """The affine map ``S ↦ T(S) + N`` of one method on one problem at one learning rate.

    Build it with :func:`second_moment_recursion`. Moments are ``md × md`` arrays in the
    original coordinates, the state stacking the ``m`` blocks of
    :attr:`LinearDynamics.state` (block-major: ``z = (z_1, …, z_m)``). ``T`` is the one
    second-moment operator (:class:`~stability.numeric.SecondMomentOperator`)
    written in the problem's own coordinates: mean Hessian ``H`` as a matrix, per-sample
    factors ``G_i`` with ``H_i = G_iᵀ G_i``.

    Attributes
    ----------
    dynamics : LinearDynamics
        The method's description.
    learning_rate : float
        ``η``.
    identity : ndarray, shape (m, m)
        ``F(η)``.
    gradient : ndarray, shape (m, m)
        ``G(η)``.
    mixing : float
        ``p`` of the batch law.
    hessian : ndarray, shape (d, d)
        ``H``.
    operator : SecondMomentOperator
        ``T`` in the original coordinates.
    noise_identity, noise_gradient : ndarray or None
        ``u(η)`` and ``w(η)`` when the dynamics has additive noise.
    noise_covariance : ndarray or None
        ``Cov ε`` (``d × d``).
    """

    dynamics: LinearDynamics
    learning_rate: float
    identity: np.ndarray
    gradient: np.ndarray
    mixing: float
    hessian: np.ndarray
    operator: SecondMomentOperator
    noise_identity: np.ndarray | None
    noise_gradient: np.ndarray | None
    noise_covariance: np.ndarray | None

    @property
    def blocks(self) -> int:
        """``m``, the number of state blocks."""
        return int(self.identity.shape[0])

    @property
    def dimension(self) -> int:
        """``d``, the number of parameters."""
        return int(self.hessian.shape[0])

    @property
    def state_dimension(self) -> int:
        """``m d``."""
        return self.blocks * self.dimension

    def _blocks_of(self, moment: Any) -> np.ndarray:
        """``(..., md, md)`` → ``(..., m, m, d, d)`` (block ``(i, k)`` is ``S_ik``)."""
        array = np.asarray(moment, dtype=float)
        size = self.state_dimension
        if array.ndim < 2 or array.shape[-2:] != (size, size):
            raise DimensionError(
                f"moment must be an md × md = {size} × {size} matrix (or a stack of them); "
                f"got shape {array.shape}"
            )
        m, d = self.blocks, self.dimension
        lead = array.shape[:-2]
        return np.swapaxes(array.reshape(*lead, m, d, m, d), -3, -2)

    def _matrix_of(self, blocks: np.ndarray) -> np.ndarray:
        m, d = self.blocks, self.dimension
        lead = blocks.shape[:-4]
        return np.swapaxes(blocks, -3, -2).reshape(*lead, m * d, m * d)

    def apply(self, moment: Any) -> np.ndarray:
        """``T(S) = E[A S Aᵀ]`` for an ``md × md`` matrix ``S`` or a stack ``(..., md, md)``.

        Parameters
        ----------
        moment : Any
            Second moment Σ (a symmetric matrix, or a stack of them).

        Examples
        --------
        >>> import numpy as np
        >>> from stability import SGD, Quadratic
        >>> from stability.numeric import second_moment_recursion
        >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
        >>> second_moment_recursion(problem, SGD(1, replacement=True), 0.5).apply([[1.0]])
        array([[0.25]])
        """
        s = self._blocks_of(moment)
        parts = (self.identity, self.gradient)
        m, d = self.blocks, self.dimension
        flat = s.reshape(-1, m, m, d, d)
        images = np.empty(flat.shape)
        for index, blocks in enumerate(flat):
            images[index] = self.operator.apply_pair(blocks, parts, parts)
        return self._matrix_of(images.reshape(s.shape))

    def noise(self) -> np.ndarray:
        """``N = E[b bᵀ]`` (``md × md``; zero without noise).

        ``b = (u ⊗ I + w ⊗ H_B) ε`` with ``ε`` independent of the batch, so
        ``N_ik = u_i u_k C + u_i w_k C H + w_i u_k H C + w_i w_k E[H_B C H_B]``, ``C = Cov ε``.
        """
        m, d = self.blocks, self.dimension
        if self.noise_covariance is None:
            return np.zeros((m * d, m * d))
        u, w, c = self.noise_identity, self.noise_gradient, self.noise_covariance
        sandwich = self.operator.sandwich
        ch = sandwich.right(c)
        blocks = (
            np.einsum("i,k,ab->ikab", u, u, c)
            + np.einsum("i,k,ab->ikab", u, w, ch)
            + np.einsum("i,k,ab->ikab", w, u, ch.T)
            + np.einsum("i,k,ab->ikab", w, w, sandwich(c))
        )
        return self._matrix_of(blocks)

    def initial_moment(self, init: Any = None) -> np.ndarray:
        """``S_0 = E z_0 z_0ᵀ`` for a start as accepted by :func:`stability._starts.initial_states`.

        A 2-D ``init`` (one start per run) gives the mean of the outer products.

        Parameters
        ----------
        init : Any, default None
            Initial deviation from the minimum (a d-vector, or a full state); None uses the default
            start.
        """
        states = initial_states(init, self.dimension, self.blocks)
        if states.ndim == 1:
            return np.outer(states, states)
        return states.T @ states / states.shape[0]

    def mean_square(self, steps: int, init: Any = None) -> np.ndarray:
        """``tr S_t`` for ``t = 0..steps`` from ``S_0`` (see :meth:`initial_moment`).

        Parameters
        ----------
        steps : int
            Number of steps.
        init : Any, default None
            Initial deviation from the minimum (a d-vector, or a full state); None uses the default
            start.
        """
        steps = check_positive_integer(steps, "steps")
        moment = self.initial_moment(init)
        noise = self.noise()
        traces = np.full(steps + 1, np.inf)
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(steps + 1):
                trace = float(np.trace(moment))
                if not np.isfinite(trace):
                    break
                traces[t] = trace
                if t < steps:
                    moment = self.apply(moment) + noise
                    moment = 0.5 * (moment + moment.T)
        return traces


def original_coordinates_operator(system: System) -> SecondMomentOperator:
    """The one operator of a bound system written in the problem's own coordinates.

    The mean Hessian is ``H`` itself (a matrix) and the per-sample term reads the data rows
    (rank-one samples) or the given ``H_i``; coefficients in ``η`` act on the true Hessians.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric._prediction import original_coordinates_operator
    >>> from stability._system import bind
    >>> operator = original_coordinates_operator(bind(Quadratic(np.diag([2.0, 0.5])), GD()))
    >>> operator.matrix(0.5).round(4)  # (1 − η λ_a)(1 − η λ_b) on svec
    array([[0.    , 0.    , 0.    ],
           [0.    , 0.    , 0.    ],
           [0.    , 0.    , 0.5625]])
    """
    problem = system.problem
    factors = hessians = None
    if system.mixing:
        if problem.data is not None:
            factors = np.asarray(problem.data, dtype=float)[:, None, :]
        else:  # the given H_i themselves: exact arithmetic on exact inputs
            hessians = np.asarray(problem.per_sample_hessians(), dtype=float)
    return SecondMomentOperator(
        system,
        eigenvalues=np.asarray(problem.hessian, dtype=float),
        factors=factors,
        hessians=hessians,
        identity=system.identity_table,
        hessian=system.hessian_table,
        rate_factor=1.0,
    )


def second_moment_recursion(problem: Quadratic, method: Any, lr: float) -> SecondMomentRecursion:
    """The matrix-free affine second-moment map ``S ↦ T(S) + N`` at learning rate ``lr``.

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
    InvalidInputError
        If the batch law does not fit the problem.
    InvalidTypeError
        If the dynamics has symbolic coefficients.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric import second_moment_recursion
    >>> recursion = second_moment_recursion(Quadratic(np.diag([2.0, 0.5])), GD(), 0.5)
    >>> recursion.apply(np.eye(2))  # (I − ηH)²
    array([[0.    , 0.    ],
           [0.    , 0.5625]])
    """
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    lr = check_learning_rate(lr)
    mixing = system.mixing
    identity, gradient = system.parts(lr)
    noise = system.noise_parts(lr)
    u, w = (None, None) if noise is None else noise
    operator = original_coordinates_operator(system)
    covariance = None
    if dynamics.noise is not None:
        try:
            covariance = dynamics.noise.covariance_matrix(problem.dimension)
        except TypeError:
            raise InvalidTypeError(
                f"the noise covariance of {dynamics.name} is symbolic; the numeric layer needs "
                "numbers"
            ) from None
        if covariance.shape != (problem.dimension, problem.dimension):
            raise DimensionError(
                f"the noise covariance of {dynamics.name} has shape {covariance.shape}, but "
                f"the problem has d={problem.dimension} parameters"
            )
        covariance = 0.5 * (covariance + covariance.T)
    return SecondMomentRecursion(
        dynamics=dynamics,
        learning_rate=lr,
        identity=identity,
        gradient=gradient,
        mixing=mixing,
        hessian=np.asarray(problem.hessian, dtype=float),
        operator=operator,
        noise_identity=u,
        noise_gradient=w,
        noise_covariance=covariance,
    )


def apply_second_moment_operator(
    problem: Quadratic, method: Any, lr: float, moment: Any
) -> np.ndarray:
    """``T(S) = E[A S Aᵀ]`` for one ``md × md`` matrix ``S``, without forming ``T``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.
    moment : array_like, shape (m d, m d)
        ``S``, in the original coordinates (state blocks stacked block-major).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric import apply_second_moment_operator
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> apply_second_moment_operator(problem, SGD(1, replacement=True), 0.5, [[2.0]])
    array([[0.5]])
    """
    return second_moment_recursion(problem, method, lr).apply(moment)


def noise_second_moment(problem: Quadratic, method: Any, lr: float) -> np.ndarray:
    """``N = E[b bᵀ]``, the second moment of the additive noise (zeros without noise).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser; its :class:`~stability.dynamics.AdditiveNoise`, if any, gives ``N``.
    lr : float
        The learning rate ``η > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> import dataclasses
    >>> from stability import AdditiveNoise, GD, Quadratic
    >>> from stability.numeric import noise_second_moment
    >>> noisy = dataclasses.replace(
    ...     GD().dynamics(),
    ...     noise=AdditiveNoise(((0,),), ((0, -1),), covariance=0.5),
    ... )
    >>> noise_second_moment(Quadratic(np.diag([2.0, 1.0])), noisy, 0.1)  # η² H C H
    array([[0.02 , 0.   ],
           [0.   , 0.005]])
    """
    return second_moment_recursion(problem, method, lr).noise()


def predicted_mean_square(
    problem: Quadratic, method: Any, lr: float, *, steps: int, init: Any = None
) -> np.ndarray:
    """The exact ``E‖z_t‖² = tr S_t`` for ``t = 0..steps`` (``docs/monte-carlo.md``).

    ``S_{t+1} = T(S_t) + N`` is iterated with ``T`` applied matrix-free to ``md × md``
    matrices (cost ``O(m² d³ + m² n d²)`` per step for rank-one samples), so large ``d``
    is fine. Values that overflow are ``inf``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.
    steps : int
        The horizon; the result has ``steps + 1`` entries.
    init : array_like, optional
        The start: ``δ_0`` (length ``d``; for momentum ``δ_{-1} = δ_0``), a full state
        (length ``m d``), or one start per row (then ``S_0`` is their mean outer product).
        Default :func:`stability._starts.default_initial_error`.

    Returns
    -------
    ndarray, shape (steps + 1,)
        ``E‖z_t‖²``; for momentum ``‖z_t‖² = ‖δ_t‖² + ‖δ_{t−1}‖²``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric import predicted_mean_square
    >>> predicted_mean_square(Quadratic(np.diag([3.0])), GD(), 1.0, steps=3, init=[1.0])
    array([ 1.,  4., 16., 64.])
    """
    recursion = second_moment_recursion(problem, method, lr)
    return recursion.mean_square(steps, init)
