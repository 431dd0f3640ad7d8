"""One problem bound to one method: the numbers every numeric evaluator reads.

Theory: ``docs/theory/operator.md``. A method's :class:`~stability.dynamics.LinearDynamics`
describes the recursion ``z_{t+1} = (F(η) ⊗ I + G(η) ⊗ H_B) z_t + b_t`` with polynomial
coefficients that may be numbers or SymPy expressions. :func:`bind` turns a
(problem, method) pair into a :class:`System` once: the batch law is checked against the
problem, the mixing weight ``p`` is computed, and every coefficient of ``F``, ``G`` and of
the additive noise is converted to a float, so that a symbolic or malformed coefficient
raises one :class:`~stability.errors.InvalidTypeError`, with one message, whichever public
function was called. The evaluators (thresholds, spectral radii, moments, predictions,
simulation, checks, the moment bounds) then read the system and never the raw description.

Scale. A :class:`~stability.problems.ReducedQuadratic` may store its Hessians divided by
a factor ``s`` (``scale``) to keep them inside the floating-point range. The system folds
``s`` into the coefficients: ``F(η) ⊗ I + G(η) ⊗ (s H_stored)`` is the state map, so the
evaluators apply the stored Hessians with ``s G``. When ``F`` is constant and ``G`` is
homogeneous of degree one in ``η`` (every plain method), ``s G(η) = G(s η)``: the operator
at ``η`` is the unit-scale operator at ``s η`` and thresholds are computed in the rescaled
rate ``ν = s η`` (:attr:`System.rate_factor`), which never overflows.

Gradient steps with a Hessian shift. ``A = (1 − g μ η) I − g η H_B`` (weight decay ``μ``)
is the plain gradient step on the shifted Hessians ``H_i + μ I``; :attr:`System.gradient_scale`
and :attr:`System.shift` record ``g`` and ``μ`` (in stored units) so that the evaluators keep
the symmetric routes for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np

from stability.dynamics import LinearDynamics
from stability.errors import InvalidTypeError
from stability.methods import as_dynamics
from stability.problems import Quadratic, ReducedQuadratic, as_problem

__all__ = ["System", "bind", "bind_reduced", "numeric_coefficient"]


def _coefficient_error(name: str, value: Any) -> InvalidTypeError:
    return InvalidTypeError(
        f"{name} has a symbolic or non-numeric coefficient ({value!s}); the numeric layer "
        "needs numbers (substitute values for the symbols first)"
    )


def numeric_coefficient(value: Any, name: str) -> float:
    """One coefficient of a dynamics description as a finite float.

    Parameters
    ----------
    value : number or SymPy expression
        The coefficient.
    name : str
        The method's name, for the error message.

    Raises
    ------
    InvalidTypeError
        If ``value`` is symbolic, not a real number, or not finite.

    Examples
    --------
    >>> from fractions import Fraction
    >>> from stability._system import numeric_coefficient
    >>> numeric_coefficient(Fraction(1, 4), "SGD")
    0.25
    """
    if isinstance(value, bool | np.bool_):
        raise _coefficient_error(name, value)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError, AttributeError):
        raise _coefficient_error(name, value) from None
    if not math.isfinite(number):
        raise _coefficient_error(name, value)
    return number


def _table(polynomial: Any, name: str, degree: int) -> np.ndarray:
    """``(degree + 1, m, m)`` float coefficients of a :class:`MatrixPolynomial`."""
    coefficients = polynomial.coefficients
    size = polynomial.size
    table = np.zeros((degree + 1, size, size))
    for power, matrix in enumerate(coefficients):
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                table[power, i, j] = numeric_coefficient(value, name)
    return table


def _vector_table(rows: Any, name: str) -> np.ndarray:
    """``(m, q + 1)`` float coefficients of the noise vectors ``u`` or ``w``."""
    length = max((len(row) for row in rows), default=1)
    table = np.zeros((len(rows), max(length, 1)))
    for i, row in enumerate(rows):
        for k, value in enumerate(row):
            table[i, k] = numeric_coefficient(value, name)
    return table


def _polynomial_value(table: np.ndarray, lr: float) -> np.ndarray:
    """``Σ_k lr^k table[k]`` without overflow warnings (powers of a huge rate give inf)."""
    with np.errstate(over="ignore", invalid="ignore"):
        powers = float(lr) ** np.arange(table.shape[0], dtype=float)
        return np.tensordot(powers, table, axes=1)


def _scaled_reduced(reduced: ReducedQuadratic) -> ReducedQuadratic:
    """The same problem with the stored Hessians multiplied back by ``scale``."""
    s = float(reduced.scale)
    return ReducedQuadratic(
        basis=reduced.basis,
        eigenvalues=reduced.eigenvalues * s,
        samples=reduced.samples,
        vectors=None if reduced.vectors is None else reduced.vectors * math.sqrt(s),
        hessians=None if reduced.hessians is None else reduced.hessians * s,
    )


@dataclass(frozen=True, eq=False)
class System:
    """A problem bound to a method: validated numeric coefficients, evaluated on demand.

    Build it with :func:`bind`. Two views of the same recursion:

    * in the problem's own coordinates (simulation, moments in ``d`` dimensions):
      :meth:`parts` gives ``F(η)`` and ``G(η)`` acting on the true Hessians;
    * on the reduced problem (:attr:`reduced`, in stored units): :meth:`reduced_parts`
      gives ``F(η)`` and ``s G(η)``, and the thresholds read the tables :attr:`identity`,
      :attr:`hessian` in the rescaled rate ``ν = rate_factor · η``.

    Attributes
    ----------
    problem : Quadratic
        The problem.
    dynamics : LinearDynamics
        The method's description.
    mixing : float
        The weight ``p`` of the per-sample term in ``E[H_B ⊗ H_B]``.
    mixing_fraction : fractions.Fraction
        ``p`` exactly.
    identity_table, hessian_table : ndarray, shape (q + 1, m, m)
        Coefficients of ``F`` and ``G`` in ``η`` (``q ≥ 1``), as floats.
    noise_identity, noise_hessian : ndarray, shape (m, k), or None
        Coefficients of the noise vectors ``u(η)`` and ``w(η)`` in ``η``, or ``None``
        without additive noise.
    """

    problem: Quadratic | None
    dynamics: LinearDynamics
    mixing: float
    mixing_fraction: Fraction
    identity_table: np.ndarray
    hessian_table: np.ndarray
    noise_identity: np.ndarray | None
    noise_hessian: np.ndarray | None

    # ------------------------------------------------------------ description
    @property
    def name(self) -> str:
        """The method's name."""
        return self.dynamics.name

    @property
    def blocks(self) -> int:
        """``m``, the number of state blocks."""
        return int(self.identity_table.shape[1])

    @property
    def degree(self) -> int:
        """Degree in ``η`` of the state map (at least one)."""
        return int(self.identity_table.shape[0]) - 1

    @property
    def full_batch(self) -> bool:
        """Whether ``p = 0`` (no sampling noise in ``H_B``)."""
        return self.mixing == 0.0

    @property
    def homogeneous(self) -> bool:
        """Whether ``F`` is constant and ``G`` is homogeneous of degree one in ``η``."""
        return (
            not np.any(self.identity_table[1:])
            and not np.any(self.hessian_table[0])
            and not np.any(self.hessian_table[2:])
        )

    # ------------------------------------------------------------ the problem's coordinates
    def parts(self, lr: float) -> tuple[np.ndarray, np.ndarray]:
        """``(F(η), G(η))`` acting on the problem's true Hessians.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        return _polynomial_value(self.identity_table, lr), _polynomial_value(
            self.hessian_table, lr
        )

    def noise_parts(self, lr: float) -> tuple[np.ndarray, np.ndarray] | None:
        """``(u(η), w(η))`` acting on the true Hessians, or ``None`` without noise.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        if self.noise_identity is None or self.noise_hessian is None:
            return None
        return (
            _polynomial_value(self.noise_identity.T, lr),
            _polynomial_value(self.noise_hessian.T, lr),
        )

    # ------------------------------------------------------------ the reduced problem
    @cached_property
    def _stored(self) -> ReducedQuadratic:
        return self.problem.reduced()

    @cached_property
    def scale(self) -> float:
        """``s``: the true reduced Hessians are ``s`` times the stored ones."""
        return float(self._stored.scale)

    @cached_property
    def rate_factor(self) -> float:
        """``ν = rate_factor · η``: ``s`` for homogeneous methods, else one."""
        return self.scale if self.homogeneous else 1.0

    @cached_property
    def reduced(self) -> ReducedQuadratic:
        """The problem restricted to ``range(H)``, in the units of :attr:`hessian`."""
        reduced = self._stored
        if self.rate_factor == 1.0 and self.scale != 1.0:
            return _scaled_reduced(reduced)
        return reduced

    @cached_property
    def true_reduced(self) -> ReducedQuadratic:
        """The reduced problem with its true Hessians (stored ones times ``scale``)."""
        if self.scale == 1.0:
            return self._stored
        return _scaled_reduced(self._stored)

    @cached_property
    def identity(self) -> np.ndarray:
        """Coefficients of ``F`` in the rescaled rate ``ν`` (``F`` is constant if rescaled)."""
        return self.identity_table

    @cached_property
    def hessian(self) -> np.ndarray:
        """Coefficients of ``G`` in ``ν``, acting on the Hessians of :attr:`reduced`."""
        return self.hessian_table

    def rate(self, lr: float) -> float:
        """The rescaled rate ``ν = rate_factor · lr`` at which the reduced operator is read.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        with np.errstate(over="ignore"):
            return float(np.float64(lr) * self.rate_factor)

    def learning_rate(self, rate: float) -> float:
        """The learning rate ``η`` of a rescaled rate ``ν`` (inverse of :meth:`rate`).

        Parameters
        ----------
        rate : float
            The scaled rate (learning rate times the system's curvature scale).
        """
        return float(rate) / self.rate_factor

    def reduced_parts(self, lr: float) -> tuple[np.ndarray, np.ndarray]:
        """``(F, G)`` at ``lr`` acting on the Hessians of :attr:`reduced`.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        nu = self.rate(lr)
        return _polynomial_value(self.identity, nu), _polynomial_value(self.hessian, nu)

    def reduced_noise_parts(self, lr: float) -> tuple[np.ndarray, np.ndarray] | None:
        """``(u, w)`` at ``lr`` with ``w`` acting on the Hessians of :attr:`reduced`.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        parts = self.noise_parts(lr)
        if parts is None or self.rate_factor == 1.0:
            return parts
        return parts[0], parts[1] * self.rate_factor

    @cached_property
    def _gradient_form(self) -> tuple[float | None, float]:
        return _gradient_form(self.identity, self.hessian)

    @property
    def gradient_scale(self) -> float | None:
        """``g`` when the reduced state map is ``(1 − g μ ν) I − g ν H_B``, else ``None``.

        That is a plain gradient step on the shifted Hessians ``H_B + μ I`` (weight decay
        ``μ``); the evaluators take the symmetric routes for it.
        """
        return self._gradient_form[0]

    @property
    def shift(self) -> float:
        """``μ`` of that gradient step in the units of :attr:`reduced` (zero without decay)."""
        return self._gradient_form[1]

    @property
    def gradient_step(self) -> bool:
        """Whether the state map is a (possibly shifted) plain gradient step."""
        return self.gradient_scale is not None

    @property
    def size(self) -> int:
        """Coordinates of the symmetric reduced state moment, ``m r (m r + 1) / 2``."""
        state = self.blocks * self.reduced.rank
        return state * (state + 1) // 2

    def null_space_factor(self, lr: float) -> float:
        """``ρ(F(η))²``, the growth of the second moment on ``null(H)`` (one when neutral).

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        if not self.shift:
            return 1.0
        identity = self.reduced_parts(lr)[0]
        return float(np.max(np.abs(np.linalg.eigvals(identity)))) ** 2


def _gradient_form(identity: np.ndarray, hessian: np.ndarray) -> tuple[float | None, float]:
    """``(g, μ)`` when ``F = 1 − g μ ν`` and ``G = −g ν`` (one block), else ``(None, 0)``."""
    if identity.shape[1] != 1 or identity.shape[0] != 2:
        return None, 0.0
    f0, f1 = float(identity[0, 0, 0]), float(identity[1, 0, 0])
    g0, g1 = float(hessian[0, 0, 0]), float(hessian[1, 0, 0])
    if f0 != 1.0 or g0 != 0.0 or g1 >= 0.0:
        return None, 0.0
    scale = -g1
    shift = -f1 / scale
    if shift < 0:
        return None, 0.0
    return scale, shift


def bind(problem: Any, method: Any) -> System:
    """Bind a method to a problem once: validated numeric coefficients and mixing weight.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.

    Returns
    -------
    System
        The bound system.

    Raises
    ------
    InvalidTypeError
        If ``problem`` or ``method`` has the wrong type, or a coefficient of the method
        is symbolic or not a finite real number (the same message from every entry point).
    InvalidInputError
        If the batch law does not fit the problem.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic, SGD
    >>> from stability._system import bind
    >>> system = bind(Quadratic.from_data(np.eye(3)), SGD(1))
    >>> system.mixing, system.gradient_scale, system.blocks
    (1.0, 1.0, 1)
    >>> system.parts(0.5)
    (array([[1.]]), array([[-0.5]]))
    """
    problem = as_problem(problem)
    dynamics = as_dynamics(method)
    return _system(problem, dynamics, dynamics.batch.mixing(problem.samples))


def bind_reduced(reduced: ReducedQuadratic, method: Any, mixing: Any) -> System:
    """Bind a method to an already reduced problem with a given mixing weight ``p``.

    For building blocks that work on a :class:`~stability.problems.ReducedQuadratic`
    directly; :func:`bind` is the entry point of every public function.

    Parameters
    ----------
    reduced : ReducedQuadratic
        The problem, already reduced to the range of its Hessians.
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    mixing : Any
        Mixing weight p of the batch law.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability._system import bind_reduced
    >>> system = bind_reduced(Quadratic(np.diag([2.0, 1.0])).reduced(), GD(), 0)
    >>> system.reduced.rank, system.mixing
    (2, 0.0)
    """
    dynamics = as_dynamics(method)
    exact = mixing if isinstance(mixing, Fraction) else Fraction(float(mixing))
    system = _system(None, dynamics, exact)
    system.__dict__["scale"] = float(reduced.scale)
    system.__dict__["_stored"] = reduced
    return system


def _system(problem: Any, dynamics: LinearDynamics, mixing_fraction: Fraction) -> System:
    name = dynamics.name
    degree = max(dynamics.identity_part.degree, dynamics.hessian_part.degree, 1)
    identity = _table(dynamics.identity_part, name, degree)
    hessian = _table(dynamics.hessian_part, name, degree)
    noise_identity = noise_hessian = None
    if dynamics.noise is not None:
        noise_identity = _vector_table(dynamics.noise.identity_coefficients, name)
        noise_hessian = _vector_table(dynamics.noise.hessian_coefficients, name)
    return System(
        problem=problem,
        dynamics=dynamics,
        mixing=float(mixing_fraction),
        mixing_fraction=mixing_fraction,
        identity_table=identity,
        hessian_table=hessian,
        noise_identity=noise_identity,
        noise_hessian=noise_hessian,
    )
