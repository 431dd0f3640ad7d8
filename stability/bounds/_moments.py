"""Higher-moment and almost-sure stability (Ma & Ying 2021).

Theory: ``docs/theory/higher-moments.md``. A method's state obeys ``z_{t+1} = A_t z_t`` with i.i.d.
random ``A_t = F(η) ⊗ I + G(η) ⊗ H_B`` (docs/theory/operator.md).

*k-th moment stability* means ``sup_t E‖z_t‖^k < ∞`` from every start. For even ``k`` the
tensor ``E z_t^{⊗k}`` obeys ``E z_{t+1}^{⊗k} = E[A^{⊗k}] E z_t^{⊗k}`` on symmetric tensors,
and ``E‖z‖^k = ⟨E z^{⊗k}, I^{⊗k/2}⟩``; ``E[A^{⊗k}]`` preserves the proper cone of moment
tensors, so (Krein–Rutman) its spectral radius is an eigenvalue, the growth rate of
``E‖z_t‖^k``, and the threshold ``η*_k`` is the smallest positive root of
``det(E[A^{⊗k}] − I) = 0`` (the same argument as docs/theory/operator.md, rule 2). When the state is
one-dimensional (``z = δ`` and ``rank H = 1``) the moment is a scalar for every ``k``:
``E|z_{t+1}|^k = E|1 − η h_B|^k E|z_t|^k``.

For odd ``k`` and a state of dimension at least two, ``E‖z_t‖^k`` obeys no finite linear
recursion, and the signed tensor ``E z^{⊗k}`` does not control it (see the notes of
:func:`moment_threshold`); Lyapunov's inequality brackets it instead,
``η*_{k+1} ≤ η*_k ≤ η*_{k−1}`` (:func:`moment_threshold_bracket`).

``η*_k`` is non-increasing in ``k`` (Lyapunov's inequality ``(E‖z‖^j)^{1/j} ≤ (E‖z‖^k)^{1/k}``)
and tends, as ``k → ∞``, to the threshold of ``max_B ‖A_B‖ ≤ 1``
(:func:`infinite_moment_threshold`).

*Almost-sure stability* is the sign of the top Lyapunov exponent
``γ = lim (1/t) log ‖A_t ⋯ A_1‖``; in one dimension ``γ = E log|1 − η h_B|`` exactly, and by
Jensen ``γ ≤ (1/k) log E|1 − η h_B|^k``, so every moment-stable rate is almost-surely
stable. :func:`lyapunov_exponent` estimates ``γ`` by simulating the products with a
confidence interval, or computes it exactly in one dimension.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse.linalg

from stability._system import System, bind
from stability._validation import check_learning_rate, check_positive_integer
from stability.bounds._common import batch_outcomes, bound
from stability.dynamics import LinearDynamics
from stability.errors import InvalidInputError, SizeLimitError
from stability.numeric import critical_learning_rate, smallest_positive_real_root, spectral_radius
from stability.problems import Quadratic, ReducedQuadratic

__all__ = [
    "LyapunovEstimate",
    "almost_sure_threshold",
    "infinite_moment_threshold",
    "lyapunov_exponent",
    "moment_operator",
    "moment_spectral_radius",
    "moment_threshold",
    "moment_threshold_bracket",
]

_CITATION = (
    "Ma & Ying (2021), On linear stability of SGD and input-smoothness of neural networks; "
    "docs/theory/higher-moments.md"
)
#: Largest number of entries ``N^k`` of a full tensor the matrix-free operator handles.
TENSOR_ENTRY_LIMIT = 2_000_000
#: Largest ``s · degree`` (symmetric dimension times degree in η) for the exact dense route.
DENSE_PENCIL_LIMIT = 800
#: Points of the grid on which the matrix-free route looks for the first crossing.
_GRID = 32
#: Largest ``batches · N^k`` held in memory at once by one operator application.
_WORK_LIMIT = 20_000_000


# ----------------------------------------------------------------------------- setting
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
        rank = self.reduced.rank
        identity = self.system.identity_table  # validated once by bind, in η
        hessian = self.system.hessian_table
        degree = identity.shape[0] - 1
        eye = np.eye(rank)
        batches = self.curvatures.shape[0]
        result = np.empty((degree + 1, batches, self.state_dimension, self.state_dimension))
        for power in range(degree + 1):
            result[power] = np.kron(identity[power], eye)[None] + np.einsum(
                "ab,nij->naibj", hessian[power], self.curvatures
            ).reshape(batches, self.state_dimension, self.state_dimension)
        return result

    def state_maps(self, lr: float) -> np.ndarray:
        """The numeric ``A_b(η)`` for every batch, ``(batches, N, N)``."""
        coefficients = self.state_map_coefficients()
        powers = lr ** np.arange(coefficients.shape[0])
        return np.tensordot(powers, coefficients, axes=1)

    def scalar_curvatures(self) -> np.ndarray:
        """``g h_B`` for every batch (one-dimensional gradient problems): ``A_b = 1 − η g h_b``."""
        scale = float(self.dynamics.gradient_step_scale())
        return scale * self.curvatures[:, 0, 0]


def _setting(problem: Any, method: Any) -> _Setting:
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    outcomes = batch_outcomes(dynamics, problem.samples)
    reduced = system.true_reduced
    if reduced.samples is None:
        curvatures = np.diag(reduced.eigenvalues)[None]
    elif reduced.vectors is not None:
        y = reduced.vectors
        curvatures = np.einsum("bn,ni,nj->bij", outcomes.weights, y, y, optimize=True)
    else:
        curvatures = np.tensordot(outcomes.weights, reduced.per_sample_hessians(), axes=1)
    return _Setting(system, problem, dynamics, reduced, curvatures, outcomes.probabilities)


def _check_order(order: Any) -> int:
    if isinstance(order, float) and math.isinf(order) and order > 0:
        raise InvalidInputError("order=inf: use infinite_moment_threshold for the limit k → ∞")
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
    problem: Quadratic, method: Any, lr: float, order: int
) -> scipy.sparse.linalg.LinearOperator:
    """The ``k``-th moment operator ``E[A^{⊗k}]`` on symmetric tensors, matrix-free.

    The operator acts on orthonormal coordinates of the symmetric tensors of order ``k``
    over the reduced state space (dimension ``N = m · rank H``; ``m`` state blocks); it is
    applied by contracting every mode with each possible ``A_B`` (batches enumerated with
    their exact probabilities), never forming an ``N^k × N^k`` matrix.

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

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.bounds import moment_operator
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


def moment_spectral_radius(problem: Quadratic, method: Any, lr: float, order: int) -> float:
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
    >>> from stability.bounds import moment_spectral_radius
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
    operator = moment_operator(problem, method, lr, order)
    return _radius(operator)


def _radius(operator: scipy.sparse.linalg.LinearOperator) -> float:
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
            "moment_threshold_bracket, which gives η*_{k+1} ≤ η*_k ≤ η*_{k−1}"
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


@bound("exact", _CITATION)
def moment_threshold(problem: Quadratic, method: Any, order: int) -> float:
    """The ``k``-th moment threshold ``η*_k``: the supremum of ``η`` with ``sup_t E‖z_t‖^k < ∞``.

    Statement (Ma & Ying 2021; ``docs/theory/higher-moments.md``): for even ``k``, ``E‖z_t‖^k``
    grows like ``ρ(E[A^{⊗k}])^t`` on symmetric tensors, and ``η*_k`` is the smallest positive root
    of ``det(E[A^{⊗k}](η) − I) = 0`` (the crossing is at ``+1`` by Krein–Rutman on the cone
    of moment tensors). In one dimension it solves ``E|1 − η h_B|^k = 1`` for every ``k``.
    ``η*_2`` is the mean-square threshold; ``η*_k`` is non-increasing in ``k``.

    Computed exactly: by the companion pencil of the matrix polynomial
    ``E[A^{⊗k}](η) − I`` (its coefficients assembled from the matrix-free operator) when
    ``s · k · degree ≤ 800`` (``s = C(N + k − 1, k)``); in one dimension by Brent's method
    on the convex ``log E|1 − η h_B|^k`` (it crosses zero once); otherwise by locating the
    first crossing of the matrix-free spectral radius (ARPACK) through one on a 32-point
    grid of ``(0, η*_2]``, refined by Brent's method.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser (batches are enumerated: at most 200 000 of them).
    order : int
        ``k ≥ 1``; odd ``k`` only for one-dimensional states.

    Notes
    -----
    For odd ``k`` the *signed* tensor operator ``E[A^{⊗k}]`` is not the right object:
    with ``h_B ∈ {0, 2}`` equally likely, ``E(1 − η h_B)^3`` stays above ``−1`` up to
    ``η = (1 + 3^{1/3})/2 ≈ 1.221``, beyond the mean-square threshold ``1``; the absolute
    moment ``E|1 − η h_B|^3 = (1 + |1 − 2η|^3)/2`` is at most one only up to ``η = 1``.

    Raises
    ------
    InvalidInputError
        For odd ``k`` on a state of dimension at least two.
    SizeLimitError
        If the tensors or the batch enumeration are too large.

    Examples
    --------
    >>> from stability import SGD, Quadratic, critical_learning_rate
    >>> from stability.bounds import moment_threshold
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> method = SGD(1, replacement=True)
    >>> round(moment_threshold(problem, method, 2), 12), critical_learning_rate(problem, method)
    (0.8, 0.8)
    >>> round(moment_threshold(problem, method, 4), 6)
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
        coefficients[0] -= np.eye(coefficients.shape[1])
        scale = float(setting.reduced.eigenvalues[0])
        powers = scale ** np.arange(coefficients.shape[0])
        return smallest_positive_real_root(coefficients / powers[:, None, None]) / scale
    return _matrix_free_threshold(setting, order)


def _matrix_free_threshold(setting: _Setting, order: int) -> float:
    upper = critical_learning_rate(setting.problem, setting.dynamics)
    if not math.isfinite(upper):  # pragma: no cover - rank > 0 gives a finite threshold
        return upper

    def excess(lr: float) -> float:
        operator = moment_operator(setting.problem, setting.dynamics, lr, order)
        return _radius(operator) - 1.0

    grid = upper * np.arange(1, _GRID + 1) / _GRID
    previous = 0.0
    for point in grid:
        if excess(point) >= 0:
            if previous == 0.0:
                previous = point / _GRID
            return float(scipy.optimize.brentq(excess, previous, point, xtol=1e-13 * upper))
        previous = point
    return upper


def moment_threshold_bracket(problem: Quadratic, method: Any, order: int) -> tuple[float, float]:
    """Bounds ``(lower, upper)`` on the ``k``-th moment threshold for every ``k ≥ 1``.

    Equal (the exact :func:`moment_threshold`) for even ``k`` and for one-dimensional states.
    For odd ``k`` otherwise, Lyapunov's inequality gives ``η*_{k+1} ≤ η*_k ≤ η*_{k−1}``; for
    ``k = 1`` the upper end is the threshold of the mean dynamics ``E z_{t+1} = E[A] E z_t``
    (bounded ``E‖z‖`` forces a bounded mean), i.e. the full-batch edge.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    order : int
        Order k of the moment (k = 2 is the mean square).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import moment_threshold_bracket
    >>> problem = Quadratic.from_hessians([np.diag([1.0, 2.0]), np.diag([3.0, 2.0])])
    >>> low, high = moment_threshold_bracket(problem, SGD(1), 3)
    >>> bool(low < high)
    True
    """
    setting = _setting(problem, method)
    order = _check_order(order)
    if setting.scalar or order % 2 == 0 or setting.reduced.rank == 0:
        value = moment_threshold(problem, method, order)
        return value, value
    lower = moment_threshold(problem, method, order + 1)
    if order == 1:
        full_batch = _full_batch_dynamics(setting.dynamics)
        upper = critical_learning_rate(_mean_problem(setting.problem), full_batch)
    else:
        upper = moment_threshold(problem, method, order - 1)
    return lower, upper


def _full_batch_dynamics(dynamics: LinearDynamics) -> LinearDynamics:
    from dataclasses import replace

    from stability.dynamics import BatchLaw

    return replace(dynamics, batch=BatchLaw(None), noise=None)


def _mean_problem(problem: Quadratic) -> Quadratic:
    return Quadratic(problem.hessian, tolerance=problem.tolerance)


@bound("lower", _CITATION + " (k → ∞: every batch contracts)")
def infinite_moment_threshold(problem: Quadratic, method: Any) -> float:
    """The limit ``η*_∞ = lim_k η*_k``: the largest ``η`` with ``max_B ‖I − η H_B‖ ≤ 1``.

    Statement: for a plain gradient step ``A_B = I − η H_B`` is symmetric, so
    ``‖A_{B_t} ⋯ A_{B_1}‖ ≤ max_B ‖A_B‖^t`` and every moment stays bounded when every
    batch contracts, ``η ≤ 2 / max_B λ_max(H_B)``; conversely, beyond it one batch
    expands and repeats with probability ``π_B^t``, so ``E‖δ_t‖^k ≥ (π_B ‖A_B‖^k)^t → ∞``
    for ``k`` large. ``η*_∞`` is a lower bound on every ``η*_k`` (hence an upper bound
    only in the limit); in one dimension, ``max_B |1 − η h_B| ≤ 1``.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.bounds import infinite_moment_threshold
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> infinite_moment_threshold(problem, SGD(1))  # 2 / max h
    0.6666666666666666
    """
    setting = _setting(problem, method)
    scale = setting.dynamics.gradient_step_scale()
    if scale is None:
        raise InvalidInputError(
            "method must be a plain gradient step for infinite_moment_threshold; got "
            f"{setting.dynamics.name}"
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
    method: Any,
    lr: float,
    *,
    steps: int = 2000,
    runs: int = 32,
    burn_in: int = 200,
    confidence: float = 0.99,
    seed: int | None = 0,
) -> LyapunovEstimate:
    """The top Lyapunov exponent ``γ = lim (1/t) log ‖z_t‖`` of the method's random products.

    Statement (``docs/theory/higher-moments.md``): the method converges almost surely iff ``γ < 0``
    (it diverges almost surely if ``γ > 0``). In one dimension ``γ = E log|1 − η h_B|``,
    computed exactly here over the enumerated batches. Otherwise ``runs`` independent
    products are simulated (batches drawn from the method's batch law, the state
    renormalised every step); each run gives ``(1/steps) Σ log(‖A_t u_t‖)`` after
    ``burn_in`` steps and the interval is the Student-t interval over the runs, at the
    nominal ``confidence``. The finite-``steps`` bias is ``O(1/steps)``.

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
    >>> from stability.bounds import lyapunov_exponent
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
    problem, dynamics = system.problem, system.dynamics
    lr = check_learning_rate(lr)
    steps = check_positive_integer(steps, "steps")
    runs = check_positive_integer(runs, "runs")
    if runs < 2:
        raise InvalidInputError(f"runs must be at least 2 for a confidence interval; got {runs}")
    if isinstance(burn_in, bool) or not isinstance(burn_in, int) or burn_in < 0:
        raise InvalidInputError(f"burn_in must be a non-negative integer; got {burn_in!r}")
    if not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise InvalidInputError(f"confidence must lie in (0, 1); got {confidence!r}")
    reduced = problem.reduced()
    if reduced.rank == 0:
        return LyapunovEstimate(-math.inf, -math.inf, -math.inf, confidence, True)
    scalar = dynamics.blocks == 1 and reduced.rank == 1 and dynamics.gradient_step_scale()
    if scalar:
        try:
            setting = _setting(problem, dynamics)
        except SizeLimitError:
            setting = None
        if setting is not None:
            value = _scalar_exponent(setting, lr)
            return LyapunovEstimate(value, value, value, confidence, True)
    per_run = _simulate_exponents(problem, dynamics, lr, steps, runs, burn_in, seed)
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
    problem: Quadratic,
    dynamics: LinearDynamics,
    lr: float,
    steps: int,
    runs: int,
    burn_in: int,
    seed: int | None,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    reduced = problem.reduced()
    rank = reduced.rank
    blocks = dynamics.blocks
    identity = dynamics.identity_part.evaluate(lr)
    hessian_part = dynamics.hessian_part.evaluate(lr)
    samples = reduced.samples
    dynamics.batch.validate(samples)
    state = rng.standard_normal((runs, blocks, rank))
    state /= np.linalg.norm(state.reshape(runs, -1), axis=1)[:, None, None]
    totals = np.zeros(runs)
    vectors = reduced.vectors
    hessians = None if vectors is not None or samples is None else reduced.per_sample_hessians()
    for step in range(burn_in + steps):
        if samples is None or dynamics.batch.full:
            curved = state * reduced.eigenvalues
        else:
            weights = dynamics.batch.sample_weights(samples, runs, rng)
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


def almost_sure_threshold(problem: Quadratic, method: Any) -> float:
    """The first learning rate at which a one-dimensional problem is no longer almost-surely stable.

    Statement: in one dimension ``γ(η) = E log|1 − η h_B|``; between consecutive
    singular points ``1/h_B`` it is a sum of concave functions, so its sign changes at
    most twice there, and the unstable set ``{γ ≥ 0}`` is computed exactly. The returned
    value is ``inf {η > 0 : γ(η) ≥ 0}``. It is at least every moment threshold ``η*_k``
    (Jensen: ``γ ≤ (1/k) log E|1 − η h_B|^k``), and the stable set need not be an interval
    (it always contains a neighbourhood of each ``1/h_B``).

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
    >>> from stability.bounds import almost_sure_threshold, moment_threshold
    >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    >>> round(almost_sure_threshold(problem, SGD(1)), 6)  # (η − 1)(3η − 1) = 1 at η = 4/3
    1.333333
    >>> moment_threshold(problem, SGD(1), 2)
    0.8
    """
    setting = _setting(problem, method)
    if setting.reduced.rank == 0:
        return math.inf
    if not setting.scalar:
        raise InvalidInputError(
            "almost_sure_threshold is exact only for a one-dimensional state (rank H = 1, "
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
