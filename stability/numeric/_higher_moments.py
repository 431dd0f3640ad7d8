"""The ``k``-th moment operator and its evaluators: moment thresholds, radii, Lyapunov exponents.

Theory: ``docs/theory/higher-moments.md`` (Ma & Ying 2021). A method's state obeys
``z_{t+1} = A_t z_t`` with i.i.d. random ``A_t = F(η) ⊗ I + G(η) ⊗ H_B``
(``docs/theory/operator.md``), the batches drawn by the method's
:class:`~stability.dynamics.BatchLaw`.

* For even ``k`` the tensor ``E z_t^{⊗k}`` obeys ``E z_{t+1}^{⊗k} = E[A^{⊗k}] E z_t^{⊗k}`` on
  symmetric tensors (:func:`moment_operator`, matrix-free: every mode is contracted with each
  ``A_B``, the batches enumerated with their exact probabilities by
  :meth:`BatchLaw.outcomes <stability.dynamics.BatchLaw.outcomes>`). The operator preserves the
  cone of moment tensors, so its spectral radius (:func:`moment_spectral_radius`) is the growth
  rate of ``E‖z_t‖^k`` and the threshold ``η*_k`` (:func:`moment_critical_learning_rate`) is
  the smallest positive root of ``det(E[A^{⊗k}](η) − I) = 0``, found by the searches every
  threshold of :mod:`stability.numeric` shares: the companion pencil for small tensor spaces,
  the first crossing of the matrix-free spectral radius through one beyond.
* In one dimension (``rank H = 1``, a plain gradient step) every moment is a scalar,
  ``E|z_{t+1}|^k = E|1 − η h_B|^k E|z_t|^k``, for every ``k``.
* ``η*_∞ = 2 / max_B λ_max(g H_B)`` (:func:`infinite_moment_critical_learning_rate`) is the
  limit ``k → ∞`` for a plain gradient step.
* The top Lyapunov exponent ``γ = lim (1/t) log ‖A_t ⋯ A_1‖`` decides almost-sure stability
  (:func:`lyapunov_exponent`): exact in one dimension, ``γ = E log|1 − η h_B|``, estimated
  otherwise by renormalised products of random state maps (batches drawn by
  :meth:`BatchLaw.sample_weights <stability.dynamics.BatchLaw.sample_weights>`); in one
  dimension the first unstable rate is exact (:func:`almost_sure_critical_learning_rate`).

The published statements about these quantities (the moment thresholds as theorems, the
Lyapunov bracket of odd moments, ``η*_∞`` as a lower bound) are in
:mod:`stability.bounds`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.optimize
import scipy.sparse.linalg

from stability._system import System, bind
from stability._validation import check_learning_rate, check_positive_integer
from stability.dynamics import LinearDynamics
from stability.errors import InvalidInputError, SizeLimitError
from stability.numeric._crossing import first_crossing, pencil_threshold
from stability.numeric._thresholds import critical_learning_rate, spectral_radius
from stability.problems import Quadratic, ReducedQuadratic

if TYPE_CHECKING:
    from stability.methods import MethodLike
    from stability.problems import ProblemLike

__all__ = [
    "LyapunovEstimate",
    "almost_sure_critical_learning_rate",
    "infinite_moment_critical_learning_rate",
    "lyapunov_exponent",
    "moment_critical_learning_rate",
    "moment_operator",
    "moment_spectral_radius",
]

#: Largest number of entries ``N^k`` of a full tensor the matrix-free operator handles.
TENSOR_ENTRY_LIMIT = 2_000_000
#: Largest ``s · degree`` (symmetric dimension times degree in η) for the exact dense route.
DENSE_PENCIL_LIMIT = 800
#: Largest number of distinct batches the exact enumeration visits.
BATCH_ENUMERATION_LIMIT = 200_000
#: Points of the grid on which the matrix-free route looks for the first crossing.
_GRID = 32
#: Largest ``batches · N^k`` held in memory at once by one operator application.
_WORK_LIMIT = 20_000_000


# ----------------------------------------------------------------------------- setting
def _batch_curvatures(reduced: ReducedQuadratic, weights: np.ndarray) -> np.ndarray:
    """The reduced batch Hessians ``H_B = Σ_i w_i H_i`` for rows of weights: ``(rows, r, r)``."""
    if reduced.vectors is not None:
        y = reduced.vectors
        return np.einsum("bn,ni,nj->bij", weights, y, y, optimize=True)
    return np.tensordot(weights, reduced.per_sample_hessians(), axes=1)


def _state_maps(identity: np.ndarray, hessian: np.ndarray, curvatures: np.ndarray) -> np.ndarray:
    """``F ⊗ I + G ⊗ H_B`` for every ``H_B`` of ``curvatures`` ``(batches, r, r)``.

    ``identity`` and ``hessian`` are ``m × m`` (one power of η, or their values at a rate);
    the result has shape ``(batches, m r, m r)``.
    """
    batches, rank = curvatures.shape[0], curvatures.shape[-1]
    size = identity.shape[0] * rank
    return np.kron(identity, np.eye(rank))[None] + np.einsum(
        "ab,nij->naibj", hessian, curvatures
    ).reshape(batches, size, size)


@dataclass(frozen=True, eq=False)
class _Setting:
    system: System
    problem: Quadratic
    dynamics: LinearDynamics
    reduced: ReducedQuadratic
    curvatures: np.ndarray  # (batches, r, r): every batch Hessian, reduced
    probabilities: np.ndarray  # (batches,)

    @property
    def state_dimension(self) -> int:
        return self.dynamics.blocks * self.reduced.rank

    @property
    def scalar(self) -> bool:
        """A one-dimensional state with a plain gradient step: moments are scalars for every k."""
        return self.state_dimension == 1 and self.dynamics.gradient_step_scale() is not None

    def state_map_coefficients(self) -> np.ndarray:
        """``A(η) = Σ_j η^j A_j``: array ``(degree + 1, batches, N, N)``."""
        identity = self.system.identity_table  # validated once by bind, in η
        hessian = self.system.hessian_table
        return np.stack(
            [
                _state_maps(identity[power], hessian[power], self.curvatures)
                for power in range(identity.shape[0])
            ]
        )

    def state_maps(self, lr: float) -> np.ndarray:
        """The numeric ``A_b(η)`` for every batch, ``(batches, N, N)``."""
        coefficients = self.state_map_coefficients()
        powers = lr ** np.arange(coefficients.shape[0])
        return np.tensordot(powers, coefficients, axes=1)

    def scalar_curvatures(self) -> np.ndarray:
        """``g h_B`` for every batch (one-dimensional gradient problems): ``A_b = 1 − η g h_b``."""
        scale = float(self.dynamics.gradient_step_scale())
        return scale * self.curvatures[:, 0, 0]


def _setting(problem: ProblemLike, method: MethodLike) -> _Setting:
    """Bind ``method`` to ``problem`` and enumerate its batches with their probabilities."""
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    reduced = system.true_reduced
    law, samples = dynamics.batch, problem.samples
    if samples is None:  # a single Hessian: the full batch (bind checked the law)
        return _Setting(
            system, problem, dynamics, reduced, np.diag(reduced.eigenvalues)[None], np.ones(1)
        )
    count = law.count(samples)
    if count > BATCH_ENUMERATION_LIMIT:
        raise SizeLimitError(
            f"the batch law {law.describe()} on n={samples} samples has {count:,} distinct "
            f"batches (limit {BATCH_ENUMERATION_LIMIT:,}); exact enumeration is refused"
        )
    weights, probabilities = law.outcomes(samples)
    curvatures = _batch_curvatures(reduced, weights)
    return _Setting(system, problem, dynamics, reduced, curvatures, probabilities)


def _check_order(order: Any) -> int:
    if isinstance(order, float) and math.isinf(order) and order > 0:
        raise InvalidInputError(
            "order=inf: use infinite_moment_critical_learning_rate (or "
            "stability.bounds.infinite_moment_threshold) for the limit k → ∞"
        )
    return check_positive_integer(order, "order")


# ------------------------------------------------------------------ symmetric tensors
class _SymmetricTensors:
    """Orthonormal coordinates of symmetric tensors of order ``k`` on ``R^N``.

    Class ``c`` (a sorted multi-index) has basis element ``E_c = Σ_{idx ∈ c} e_idx / √m_c``.
    :meth:`pack` also projects a non-symmetric tensor onto the symmetric ones.
    """

    def __init__(self, dimension: int, order: int) -> None:
        entries = dimension**order
        if entries > TENSOR_ENTRY_LIMIT:
            raise SizeLimitError(
                f"a tensor of order {order} on a state of dimension {dimension} has "
                f"{entries:,} entries (limit {TENSOR_ENTRY_LIMIT:,})"
            )
        self.dimension = dimension
        self.order = order
        shape = (dimension,) * order
        representatives = np.array(
            list(itertools.combinations_with_replacement(range(dimension), order)), dtype=np.intp
        ).reshape(-1, order)
        full = np.indices(shape).reshape(order, -1)
        keys = np.ravel_multi_index(np.sort(full, axis=0), shape)
        lookup = np.full(entries, -1, dtype=np.intp)
        lookup[np.ravel_multi_index(representatives.T, shape)] = np.arange(len(representatives))
        self.class_of = lookup[keys]
        self.size = len(representatives)
        self.scale = np.sqrt(np.bincount(self.class_of, minlength=self.size).astype(float))
        self.shape = shape
        self.entries = entries

    def unpack(self, coordinates: np.ndarray) -> np.ndarray:
        return (coordinates / self.scale)[self.class_of].reshape(self.shape)

    def pack(self, tensor: np.ndarray) -> np.ndarray:
        return np.bincount(self.class_of, weights=tensor.ravel(), minlength=self.size) / self.scale


def _apply_polynomial(
    coefficients: np.ndarray, probabilities: np.ndarray, tensors: np.ndarray
) -> np.ndarray:
    """Coefficients (by power of η) of ``Σ_b π_b A_b(η)^{⊗k} X`` for a stack of tensors ``X``.

    ``A(η) = Σ_j η^j A_j`` with ``coefficients[j] = A_j`` of shape ``(batches, N, N)``;
    ``tensors`` has shape ``(c, N, …, N)``; the result has shape
    ``(k · degree + 1, c, N, …, N)``.

    Each step contracts the leading tensor mode with ``A_j`` (one matrix product over all
    columns and powers) and moves the new mode to the end, so after ``k`` steps every mode
    has been mapped and the original order is restored.
    """
    columns = tensors.shape[0]
    order = tensors.ndim - 1
    dimension = coefficients.shape[-1]
    degree = coefficients.shape[0] - 1
    powers = order * degree + 1
    entries = dimension**order
    used = [j for j in range(degree + 1) if np.any(coefficients[j])]
    eye = np.eye(dimension)
    identity = {j: bool(np.all(coefficients[j] == eye)) for j in used}
    start = np.zeros((entries, powers, columns))
    start[:, 0, :] = tensors.reshape(columns, entries).T
    result = np.zeros((powers, columns, entries))
    for batch, probability in enumerate(probabilities):
        if probability == 0:
            continue
        work = start
        highest = 0
        for step in range(order):
            flat = work.reshape(dimension, -1)
            updated = np.zeros_like(flat)
            view = updated.reshape(dimension, dimension ** (order - 1 - step), powers, -1)
            for j in used:
                term = flat if identity[j] else coefficients[j, batch] @ flat
                term = term.reshape(view.shape)
                view[:, :, j : highest + j + 1] += term[:, :, : highest + 1]
            highest += degree
            work = np.ascontiguousarray(updated.T)
        result += probability * work.reshape(powers, columns, entries)
    return result.reshape(powers, columns, *tensors.shape[1:])


def _apply_modes(maps: np.ndarray, probabilities: np.ndarray, tensor: np.ndarray) -> np.ndarray:
    """``Σ_b π_b A_b^{⊗k} X`` for one full tensor ``X``."""
    return _apply_polynomial(maps[None], probabilities, tensor[None])[0, 0]


def moment_operator(
    problem: Quadratic, method: MethodLike, lr: float, order: int
) -> scipy.sparse.linalg.LinearOperator:
    """The ``k``-th moment operator ``E[A^{⊗k}]`` on symmetric tensors, matrix-free.

    The operator acts on orthonormal coordinates of the symmetric tensors of order ``k``
    over the reduced state space (dimension ``N = m · rank H``; ``m`` state blocks); it is
    applied by contracting every mode with each possible ``A_B`` (batches enumerated with
    their exact probabilities by the method's batch law), never forming an ``N^k × N^k``
    matrix. ``k = 2`` is the second-moment operator
    (:func:`stability.numeric.reduced_operator`) in other coordinates.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.
    order : int
        ``k ≥ 1``.

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Of shape ``(s, s)``, ``s = C(N + k − 1, k)``.

    Raises
    ------
    SizeLimitError
        If the tensors or the batch enumeration are too large.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric import moment_operator
    >>> operator = moment_operator(Quadratic(np.diag([1.0, 0.5])), GD(), 0.5, 4)
    >>> operator.shape  # C(2 + 4 − 1, 4) symmetric coordinates
    (5, 5)
    >>> float(np.round(operator.matvec(np.eye(5)[0])[0], 12))  # (1 − 0.5)^4
    0.0625
    """
    setting = _setting(problem, method)
    lr = check_learning_rate(lr)
    order = _check_order(order)
    tensors = _SymmetricTensors(setting.state_dimension, order)
    maps = setting.state_maps(lr)
    probabilities = setting.probabilities

    def matvec(vector: np.ndarray) -> np.ndarray:
        vector = np.asarray(vector, dtype=float).reshape(-1)
        return tensors.pack(_apply_modes(maps, probabilities, tensors.unpack(vector)))

    def matmat(matrix: np.ndarray) -> np.ndarray:
        matrix = np.asarray(matrix, dtype=float)
        stack = np.stack([tensors.unpack(column) for column in matrix.T])
        images = _apply_polynomial(maps[None], probabilities, stack)[0]
        return np.stack([tensors.pack(image) for image in images], axis=1)

    return scipy.sparse.linalg.LinearOperator(
        (tensors.size, tensors.size), matvec=matvec, matmat=matmat, dtype=float
    )


def _dense_coefficients(setting: _Setting, order: int) -> np.ndarray:
    """``T(η) = Σ_q η^q T_q`` on symmetric coordinates: array ``(k · degree + 1, s, s)``."""
    tensors = _SymmetricTensors(setting.state_dimension, order)
    coefficients = setting.state_map_coefficients()
    degree = coefficients.shape[0] - 1
    result = np.zeros((order * degree + 1, tensors.size, tensors.size))
    block = max(1, _WORK_LIMIT // max(tensors.entries * (order * degree + 1), 1))
    for start in range(0, tensors.size, block):  # columns in blocks that fit in memory
        columns = range(start, min(start + block, tensors.size))
        units = np.stack([tensors.unpack(np.eye(1, tensors.size, c)[0]) for c in columns])
        images = _apply_polynomial(coefficients, setting.probabilities, units)
        for power in range(images.shape[0]):
            for offset, column in enumerate(columns):
                result[power, :, column] = tensors.pack(images[power, offset])
    return result


def _scalar_moment(setting: _Setting, lr: float, order: int) -> float:
    """``E|1 − η g h_B|^k`` (one-dimensional gradient problems)."""
    values = np.abs(1.0 - lr * setting.scalar_curvatures()) ** order
    return float(np.dot(setting.probabilities, values))


def moment_spectral_radius(problem: Quadratic, method: MethodLike, lr: float, order: int) -> float:
    """The growth rate per step of ``E‖z_t‖^k``: the spectral radius of ``E[A^{⊗k}]``.

    Defined for even ``k`` on any problem, and for every ``k`` when the state is
    one-dimensional (``rank H = 1``, a plain gradient step), where it is
    ``E|1 − η h_B|^k`` exactly. ``k = 2`` is :func:`stability.spectral_radius`.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    lr : float
        Learning rate η.
    order : int
        Order k of the moment (k = 2 is the mean square).

    Raises
    ------
    InvalidInputError
        For odd ``k`` on a state of dimension at least two.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric import moment_spectral_radius
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> moment_spectral_radius(problem, SGD(1), 0.5, 3)  # ½ (0.5³ + 0.5³)
    0.125
    """
    setting = _setting(problem, method)
    lr = check_learning_rate(lr)
    order = _check_order(order)
    if setting.reduced.rank == 0:
        return 0.0
    if setting.scalar:
        return _scalar_moment(setting, lr, order)
    _require_even(order, setting)
    if order == 2:  # the second-moment operator, at every size
        return spectral_radius(setting.problem, setting.dynamics, lr)
    return _operator_radius(moment_operator(problem, method, lr, order))


def _operator_radius(operator: scipy.sparse.linalg.LinearOperator) -> float:
    size = operator.shape[0]
    if size <= 400:
        dense = operator.matmat(np.eye(size))
        return float(np.max(np.abs(np.linalg.eigvals(dense))))
    values = scipy.sparse.linalg.eigs(
        operator, k=1, which="LM", return_eigenvectors=False, tol=1e-12
    )
    return float(np.max(np.abs(values)))


def _require_even(order: int, setting: _Setting) -> None:
    if order % 2:
        raise InvalidInputError(
            f"order must be even when the state has dimension {setting.state_dimension} ≥ 2: "
            f"E‖z‖^{order} obeys no finite linear recursion for odd order (the signed tensor "
            f"E z^⊗{order} can stay bounded while E‖z‖^{order} grows); use "
            "stability.bounds.moment_threshold_bracket, which gives η*_{k+1} ≤ η*_k ≤ η*_{k−1}"
        )


def _log_scalar_moment(setting: _Setting, lr: float, order: int) -> float:
    """``log E|1 − η g h_B|^k``, without overflow for large ``k``."""
    magnitudes = np.abs(1.0 - lr * setting.scalar_curvatures())
    keep = (setting.probabilities > 0) & (magnitudes > 0)
    if not np.any(keep):
        return -math.inf
    logs = order * np.log(magnitudes[keep]) + np.log(setting.probabilities[keep])
    top = float(logs.max())
    return top + math.log(float(np.sum(np.exp(logs - top))))


def _scalar_threshold(setting: _Setting, order: int) -> float:
    """The positive root of ``E|1 − η c_B|^k = 1`` (one-dimensional gradient problems).

    ``η ↦ E|1 − ηc|^k`` is convex, equals one at ``η = 0`` with slope ``−k E c < 0``, and is
    at least ``|1 − η E c|^k`` (Jensen), which is one at ``2/E c``: so it crosses one exactly
    once in ``(0, 2/E c]``, and Brent's method on its logarithm finds the crossing.
    """
    curvatures = setting.scalar_curvatures()
    mean = float(np.dot(setting.probabilities, curvatures))
    if mean <= 0:
        return math.inf
    upper = 2.0 / mean

    def excess(lr: float) -> float:
        return _log_scalar_moment(setting, lr, order)

    if excess(upper) <= 0:
        return upper
    left = upper * 1e-8
    while excess(left) >= 0 and left > upper * 1e-300:  # pragma: no cover - defensive
        left *= 1e-4
    return float(scipy.optimize.brentq(excess, left, upper, xtol=1e-15 * upper, rtol=1e-15))


def moment_critical_learning_rate(problem: Quadratic, method: MethodLike, order: int) -> float:
    """The ``k``-th moment threshold ``η*_k``: the supremum of ``η`` with ``sup_t E‖z_t‖^k < ∞``.

    For even ``k``, the smallest positive root of ``det(E[A^{⊗k}](η) − I) = 0``; in one
    dimension, the root of ``E|1 − η h_B|^k = 1`` for every ``k``; ``k = 2`` is
    :func:`stability.critical_learning_rate` (``docs/theory/higher-moments.md``; the theorem is
    :func:`stability.bounds.moment_threshold`).

    Computed exactly: by the companion pencil of the matrix polynomial
    ``E[A^{⊗k}](η) − I`` (its coefficients assembled from the matrix-free operator) when
    ``s · k · degree ≤ 800`` (``s = C(N + k − 1, k)``); in one dimension by Brent's method
    on the convex ``log E|1 − η h_B|^k`` (it crosses zero once); otherwise by locating the
    first crossing of the matrix-free spectral radius (ARPACK) through one on a 32-point
    grid of ``(0, η*_2]``, refined by the Illinois variant of regula falsi (the searches of
    every threshold of :mod:`stability.numeric`).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser (batches are enumerated: at most 200 000 of them).
    order : int
        ``k ≥ 1``; odd ``k`` only for one-dimensional states.

    Raises
    ------
    InvalidInputError
        For odd ``k`` on a state of dimension at least two.
    SizeLimitError
        If the tensors or the batch enumeration are too large.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric import moment_critical_learning_rate
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> round(moment_critical_learning_rate(problem, SGD(1, replacement=True), 4), 6)
    0.72947
    """
    setting = _setting(problem, method)
    order = _check_order(order)
    if setting.reduced.rank == 0:
        return math.inf
    if setting.scalar:
        return _scalar_threshold(setting, order)
    _require_even(order, setting)
    if order == 2:
        return critical_learning_rate(setting.problem, setting.dynamics)
    tensors_size = math.comb(setting.state_dimension + order - 1, order)
    if tensors_size * order * setting.dynamics.degree <= DENSE_PENCIL_LIMIT:
        coefficients = _dense_coefficients(setting, order)
        return pencil_threshold(coefficients, float(setting.reduced.eigenvalues[0]))
    return _matrix_free_threshold(setting, order)


def _matrix_free_threshold(setting: _Setting, order: int) -> float:
    upper = critical_learning_rate(setting.problem, setting.dynamics)
    if not math.isfinite(upper):  # pragma: no cover - rank > 0 gives a finite threshold
        return upper

    def excess(lr: float) -> float:
        operator = moment_operator(setting.problem, setting.dynamics, lr, order)
        return _operator_radius(operator) - 1.0

    return first_crossing(excess, upper, grid=_GRID)


def infinite_moment_critical_learning_rate(problem: Quadratic, method: MethodLike) -> float:
    """``η*_∞ = 2 / (g max_B λ_max(H_B))``: the largest ``η`` at which every batch contracts.

    For a plain gradient step ``A_B = I − g η H_B``, the limit of the moment thresholds
    ``η*_k`` as ``k → ∞`` (the statement is :func:`stability.bounds.infinite_moment_threshold`);
    the batches are enumerated by the method's batch law.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a plain gradient step (``GD``, ``SGD``) or its ``LinearDynamics``.

    Raises
    ------
    InvalidInputError
        If the method is not a plain gradient step.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric import infinite_moment_critical_learning_rate
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> infinite_moment_critical_learning_rate(problem, SGD(1))  # 2 / max h
    0.6666666666666666
    """
    setting = _setting(problem, method)
    scale = setting.dynamics.gradient_step_scale()
    if scale is None:
        raise InvalidInputError(
            "method must be a plain gradient step for the limit k → ∞ of the moment "
            f"thresholds (infinite_moment_threshold); got {setting.dynamics.name}"
        )
    top = float(np.max(np.linalg.eigvalsh(setting.curvatures)[:, -1], initial=0.0))
    return math.inf if top <= 0 else 2.0 / (float(scale) * top)


# --------------------------------------------------------------------- almost sure
@dataclass(frozen=True)
class LyapunovEstimate:
    """An estimate of the top Lyapunov exponent ``γ`` with a confidence interval.

    Attributes
    ----------
    exponent : float
        The estimate (exact when :attr:`exact`).
    lower, upper : float
        The confidence interval (both equal to :attr:`exponent` when exact).
    confidence : float
        The nominal coverage of the interval.
    exact : bool
        Whether the value is exact (one-dimensional state, ``E log|1 − η h_B|``).
    runs, steps : int
        The simulation size (0 when exact).
    """

    exponent: float
    lower: float
    upper: float
    confidence: float
    exact: bool
    runs: int = 0
    steps: int = 0

    @property
    def stable(self) -> bool | None:
        """``True`` if the interval lies below zero, ``False`` above, ``None`` if undecided."""
        if self.upper < 0:
            return True
        if self.lower > 0:
            return False
        return None


def _scalar_exponent(setting: _Setting, lr: float) -> float:
    factors = np.abs(1.0 - lr * setting.scalar_curvatures())
    if np.any((factors == 0) & (setting.probabilities > 0)):
        return -math.inf
    return float(np.dot(setting.probabilities, np.log(factors)))


def lyapunov_exponent(
    problem: Quadratic,
    method: MethodLike,
    lr: float,
    *,
    steps: int = 2000,
    runs: int = 32,
    burn_in: int = 200,
    confidence: float = 0.99,
    seed: int | None = 0,
) -> LyapunovEstimate:
    """The top Lyapunov exponent ``γ = lim (1/t) log ‖z_t‖`` of the method's random products.

    The method converges almost surely iff ``γ < 0`` (it diverges almost surely if
    ``γ > 0``; ``docs/theory/higher-moments.md``). In one dimension ``γ = E log|1 − η h_B|``,
    computed exactly here over the batches enumerated by the batch law. Otherwise ``runs``
    independent products are simulated (batches drawn by the method's batch law,
    :meth:`~stability.dynamics.BatchLaw.sample_weights`, the state renormalised every step);
    each run gives ``(1/steps) Σ log(‖A_t u_t‖)`` after ``burn_in`` steps and the interval is
    the Student-t interval over the runs, at the nominal ``confidence``. The finite-``steps``
    bias is ``O(1/steps)``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        ``η > 0``.
    steps, runs, burn_in : int
        Simulation size.
    confidence : float, default 0.99
        Coverage of the interval, in ``(0, 1)``.
    seed : int or None, default 0
        Seed of the generator.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric import lyapunov_exponent
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> estimate = lyapunov_exponent(problem, SGD(1), 0.9)  # ½ log(0.1 · 1.7)
    >>> estimate.exact, round(estimate.exponent, 6), estimate.stable
    (True, -0.885978, True)
    >>> problem = Quadratic.from_hessians([np.diag([1.0, 0.5]), np.diag([3.0, 1.5])])
    >>> simulated = lyapunov_exponent(problem, SGD(1), 0.9, steps=500, runs=8)
    >>> exact = max(np.mean(np.log(np.abs(1 - 0.9 * np.array(h)))) for h in ([1, 3], [0.5, 1.5]))
    >>> simulated.exact, bool(simulated.lower < exact < simulated.upper)  # diagonal: max_k
    (False, True)
    """
    system = bind(problem, method)
    dynamics = system.dynamics
    lr = check_learning_rate(lr)
    steps = check_positive_integer(steps, "steps")
    runs = check_positive_integer(runs, "runs")
    if runs < 2:
        raise InvalidInputError(f"runs must be at least 2 for a confidence interval; got {runs}")
    if isinstance(burn_in, bool) or not isinstance(burn_in, int) or burn_in < 0:
        raise InvalidInputError(f"burn_in must be a non-negative integer; got {burn_in!r}")
    if not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise InvalidInputError(f"confidence must lie in (0, 1); got {confidence!r}")
    reduced = system.true_reduced
    if reduced.rank == 0:
        return LyapunovEstimate(-math.inf, -math.inf, -math.inf, confidence, True)
    scalar = dynamics.blocks == 1 and reduced.rank == 1 and dynamics.gradient_step_scale()
    if scalar:
        try:
            setting = _setting(system.problem, dynamics)
        except SizeLimitError:
            setting = None
        if setting is not None:
            value = _scalar_exponent(setting, lr)
            return LyapunovEstimate(value, value, value, confidence, True)
    per_run = _simulate_exponents(system, lr, steps, runs, burn_in, seed)
    mean = float(per_run.mean())
    if not math.isfinite(mean):
        return LyapunovEstimate(mean, mean, mean, confidence, False, runs, steps)
    spread = float(per_run.std(ddof=1)) / math.sqrt(runs)
    import scipy.stats  # deferred: importing scipy.stats costs about a second

    quantile = float(scipy.stats.t.ppf(0.5 + confidence / 2, runs - 1))
    return LyapunovEstimate(
        mean, mean - quantile * spread, mean + quantile * spread, confidence, False, runs, steps
    )


def _simulate_exponents(
    system: System, lr: float, steps: int, runs: int, burn_in: int, seed: int | None
) -> np.ndarray:
    """Per-run ``(1/steps) Σ log ‖A_t u_t‖`` of renormalised products of random state maps.

    Each step draws one batch per run from the method's batch law
    (:meth:`~stability.dynamics.BatchLaw.sample_weights`) and applies its state map
    ``F(η) ⊗ I + G(η) ⊗ H_B`` to the reduced state without forming ``H_B`` for rank-one
    samples (``H_B u = Σ_i w_i y_i (y_iᵀ u)``, ``O(n r)`` per run and block).
    """
    rng = np.random.default_rng(seed)
    reduced = system.true_reduced
    law = system.dynamics.batch
    identity, hessian_part = system.parts(lr)
    blocks, rank, samples = identity.shape[0], reduced.rank, reduced.samples
    vectors = reduced.vectors
    hessians = None if vectors is not None or samples is None else reduced.per_sample_hessians()
    state = rng.standard_normal((runs, blocks, rank))
    state /= np.linalg.norm(state.reshape(runs, -1), axis=1)[:, None, None]
    totals = np.zeros(runs)
    for step in range(burn_in + steps):
        if samples is None or law.full:
            curved = state * reduced.eigenvalues
        else:
            weights = law.sample_weights(samples, runs, rng)
            if vectors is not None:
                projections = np.einsum("rbi,ni->rbn", state, vectors)
                curved = np.einsum("rbn,rn,ni->rbi", projections, weights, vectors)
            else:
                batch = np.einsum("rn,nij->rij", weights, hessians)
                curved = np.einsum("rij,rbj->rbi", batch, state)
        state = np.einsum("ab,rbi->rai", identity, state) + np.einsum(
            "ab,rbi->rai", hessian_part, curved
        )
        norms = np.linalg.norm(state.reshape(runs, -1), axis=1)
        with np.errstate(divide="ignore"):
            logs = np.log(norms)
        if step >= burn_in:
            totals += logs
        safe = np.where(norms > 0, norms, 1.0)
        state = state / safe[:, None, None]
    return totals / steps


def almost_sure_critical_learning_rate(problem: Quadratic, method: MethodLike) -> float:
    """The first learning rate at which a one-dimensional problem is no longer almost-surely stable.

    In one dimension ``γ(η) = E log|1 − η h_B|``; between consecutive singular points
    ``1/h_B`` it is a sum of concave functions, so its sign changes at most twice there, and
    the unstable set ``{γ ≥ 0}`` is computed exactly (``docs/theory/higher-moments.md``; the
    statement is :func:`stability.bounds.almost_sure_threshold`). The returned value is
    ``inf {η > 0 : γ(η) ≥ 0}``.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Raises
    ------
    InvalidInputError
        If the problem is not one-dimensional with a plain gradient step (use
        :func:`lyapunov_exponent` there).

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric import almost_sure_critical_learning_rate
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> round(almost_sure_critical_learning_rate(problem, SGD(1)), 6)  # (η − 1)(3η − 1) = 1
    1.333333
    """
    setting = _setting(problem, method)
    if setting.reduced.rank == 0:
        return math.inf
    if not setting.scalar:
        raise InvalidInputError(
            "the almost-sure threshold is exact only for a one-dimensional state (rank H = 1, "
            "a plain gradient step); use lyapunov_exponent to estimate γ at a learning rate"
        )
    curvatures = setting.scalar_curvatures()
    probabilities = setting.probabilities
    support = curvatures[(probabilities > 0) & (curvatures > 0)]
    breaks = np.unique(1.0 / support)

    def exponent(lr: float) -> float:
        return _scalar_exponent(setting, lr)

    # (0, first break): γ(0) = 0, γ'(0) < 0, concave: negative throughout.
    for low, high in itertools.pairwise(breaks):
        left, right = _inner(low, high, exponent)
        peak = scipy.optimize.minimize_scalar(
            lambda lr: -exponent(lr),
            bounds=(left, right),
            method="bounded",
            options={"xatol": 1e-14 * high},
        )
        if -peak.fun >= 0:
            return float(
                scipy.optimize.brentq(exponent, left, peak.x, xtol=1e-15 * high)
                if exponent(left) < 0 < exponent(peak.x)
                else peak.x
            )
    last = float(breaks[-1])
    left = _inner(last, 2 * last, exponent)[0]
    right = 2.0 * last
    while exponent(right) < 0:
        right *= 2.0
    return float(scipy.optimize.brentq(exponent, left, right, xtol=1e-15 * right))


def _inner(low: float, high: float, function: Any) -> tuple[float, float]:
    """Points just inside ``(low, high)`` where ``function`` (→ −∞ at the ends) is negative."""
    width = high - low
    offset = 1e-3 * width
    left, right = low + offset, high - offset
    while function(left) >= 0 and offset > 1e-15 * high:
        offset /= 10
        left = low + offset
    offset = 1e-3 * width
    while function(right) >= 0 and offset > 1e-15 * high:
        offset /= 10
        right = high - offset
    return left, right
