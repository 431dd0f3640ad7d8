"""Random reshuffling: the epoch's second-moment operator, its exact threshold, Monte Carlo.

Theory: ``docs/theory/reshuffling.md``. With ``shuffle=True`` every epoch draws a uniform
permutation of the ``n`` samples and cuts it into the batches ``B_1, …, B_K`` of
:class:`~stability.dynamics.ReshuffledBatchLaw`. Within an epoch the batches are dependent
(they never share a sample), across epochs they are independent, so the state after each
epoch follows an i.i.d. random linear recursion ``z_{e+1} = P_e z_e`` with
``P = A_{B_K} ⋯ A_{B_1}``, and mean-square stability is ``ρ(𝒯) < 1`` for the epoch operator

    𝒯(S) = E_π[P S Pᵀ] = E_π[𝒯_{B_K} ∘ ⋯ ∘ 𝒯_{B_1}](S),    𝒯_B(S) = A_B S A_Bᵀ.

**Exact operator by a recursion over subsets.** Given the set ``U`` of samples already
used, the next batch is uniform among the ``C(n − |U|, B)`` subsets of the rest. So with
``V(∅) = I`` and

    V(U ∪ b) += 𝒯_b ∘ V(U) / C(n − |U|, B)        (b ⊆ complement of U, |b| = B),

``V`` summed over the sets of the last level is ``𝒯`` (the short last batch, if any, is the
complement, with probability one). This visits ``Σ_k C(n, kB) C(n − kB, B)`` transitions
instead of the ``n! / (B!^K r!)`` ordered partitions; each transition composes matrix
polynomials in ``η`` (``𝒯_b`` has degree ``2 deg A``), so the whole operator is built once as
a polynomial and ``ρ(𝒯(η))`` is then cheap at any ``η``. It is exact up to
:data:`EPOCH_TRANSITION_LIMIT` transitions: ``n ≤ 14`` for every batch size.

**Threshold.** ``η*`` is the first ``η > 0`` with ``ρ(𝒯(η)) = 1``: located on a geometric
grid (ratio :data:`SCAN_RATIO`) and refined by Brent's method to machine precision.

**Coordinates.** The operator acts on symmetric matrices of the state restricted to
``range(H)``; with weight decay (``F`` depends on ``η``) the null space of ``H`` is not
neutral and one null direction is added (all null directions evolve alike).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
import scipy.stats

from stability._validation import as_finite_array, check_learning_rate, check_positive_integer
from stability.dynamics import LinearDynamics, ReshuffledBatchLaw
from stability.errors import InvalidInputError, SizeLimitError
from stability.methods import as_dynamics
from stability.numeric import SecondMomentOperator, SymmetricLayout
from stability.problems import Quadratic, as_problem

__all__ = [
    "EPOCH_TRANSITION_LIMIT",
    "EpochOperator",
    "EpochSimulation",
    "epoch_critical_learning_rate",
    "epoch_operator",
    "epoch_spectral_radius",
    "predicted_epoch_mean_square",
    "simulate_epochs",
]

#: Largest number of (set, batch) transitions of the exact subset recursion.
EPOCH_TRANSITION_LIMIT = 400_000
#: Largest dimension ``N`` of the symmetric state space of the dense epoch operator.
EPOCH_SIZE_LIMIT = 120
#: Ratio of the geometric grid on which the first crossing of ``ρ = 1`` is located.
SCAN_RATIO = 1.01
#: The grid runs over ``ν = η λ_max`` from ``SCAN_START`` to ``SCAN_STOP``.
SCAN_START = 1e-2
SCAN_STOP = 1e3
_CHUNK_ENTRIES = 4_000_000


def _reshuffled(dynamics: LinearDynamics) -> ReshuffledBatchLaw:
    if not isinstance(dynamics.batch, ReshuffledBatchLaw):
        raise InvalidInputError(
            f"method must reshuffle its batches (shuffle=True); {dynamics.name} draws "
            f"{dynamics.batch.describe()}, whose steps are i.i.d.: use "
            "stability.critical_learning_rate for it"
        )
    return dynamics.batch


def _svec_basis(size: int) -> np.ndarray:
    """The package's ``svec`` basis (:class:`~stability.numeric.SymmetricLayout`),
    rows acting on row-major ``vec`` of symmetric ``size × size`` matrices."""
    return SymmetricLayout(size).basis().reshape(-1, size * size)


@dataclass(frozen=True, eq=False)
class EpochOperator:
    """The epoch's second-moment operator as a matrix polynomial in ``ν = η λ_max``.

    Attributes
    ----------
    coefficients : ndarray, shape (D + 1, N, N)
        ``𝒯(η) = Σ_q (η λ_max)^q T_q`` on ``svec`` of the state's second moment in
        :attr:`coordinates`.
    sharpness : float
        ``λ_max(H)``, the unit of ``ν``.
    coordinates : ndarray, shape (d, c)
        Orthonormal parameter-space directions: ``range(H)``, plus one null direction with
        weight decay or when asked for by a start.
    blocks : int
        ``m``, state blocks of the method.
    steps : int
        ``K``, steps per epoch.
    transitions : int
        Transitions visited by the subset recursion.
    """

    coefficients: np.ndarray
    sharpness: float
    coordinates: np.ndarray
    blocks: int
    steps: int
    transitions: int

    @property
    def size(self) -> int:
        """``N``, the dimension of the symmetric state space."""
        return int(self.coefficients.shape[1])

    def matrix(self, lr: float) -> np.ndarray:
        """The dense ``N × N`` matrix of ``𝒯(η)``.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        nu = float(lr) * self.sharpness
        result = np.zeros(self.coefficients.shape[1:])
        for coefficient in self.coefficients[::-1]:
            result = result * nu + coefficient
        return result

    def radius(self, lr: float) -> float:
        """``ρ(𝒯(η))``.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        if self.size == 0:
            return 0.0
        return float(np.max(np.abs(np.linalg.eigvals(self.matrix(lr)))))


def _coordinates(problem: Quadratic, dynamics: LinearDynamics, parts: np.ndarray | None):
    """``range(H)`` plus the null directions that matter, as orthonormal columns.

    ``parts`` (``m × d``, the state blocks of a start) adds an orthonormal basis of the
    null-space components of its blocks; with weight decay one null direction is added
    anyway (every null direction evolves alike, by ``F(η)``).
    """
    basis = np.asarray(problem.reduced().basis)
    if basis.shape[1] == problem.dimension:
        return basis
    columns = [basis]
    if parts is not None:
        null_parts = parts - (parts @ basis) @ basis.T
        scale = max(float(np.linalg.norm(parts)), np.finfo(float).tiny)
        _, singular, right_t = np.linalg.svd(null_parts, full_matrices=False)
        keep = singular > 1e-12 * scale
        if np.any(keep):
            columns.append(right_t[keep].T)
    if len(columns) == 1 and dynamics.identity_part.degree > 0:
        projector = np.eye(problem.dimension) - basis @ basis.T
        column = int(np.argmax(np.sum(projector**2, axis=0)))
        columns.append(projector[:, [column]] / np.linalg.norm(projector[:, column]))
    return np.column_stack(columns)


def _sample_hessians(problem: Quadratic, coordinates: np.ndarray) -> np.ndarray:
    """Per-sample Hessians in the given coordinates, ``(n, c, c)``."""
    if problem.samples is None:
        raise InvalidInputError(
            "problem must have per-sample structure (Quadratic.from_hessians, from_data or "
            "from_gram) for reshuffled batches"
        )
    reduced = problem.reduced()
    scale = float(getattr(reduced, "scale", 1.0))
    basis = np.asarray(reduced.basis)
    rank = basis.shape[1]
    inner = np.asarray(reduced.per_sample_hessians()) * scale
    count = coordinates.shape[1]
    result = np.zeros((inner.shape[0], count, count))
    # the first ``rank`` coordinates are the reduced basis; null directions carry no curvature
    result[:, :rank, :rank] = inner
    return result


def _batch_polynomials(
    dynamics: LinearDynamics, batch_hessians: np.ndarray, projector: np.ndarray
) -> np.ndarray:
    """``𝒯_b`` as polynomials in ν for every batch Hessian (already divided by λ_max).

    ``𝒯_b(S) = A_b S A_bᵀ`` is the package's one second-moment operator
    (:class:`~stability.numeric.SecondMomentOperator`) of the batch ``b`` drawn
    with probability one (mixing weight zero, mean Hessian ``H_b``): its coefficients
    ``T_q`` on ``svec`` (the basis of ``projector``). Returns shape
    ``(batches, 2 deg + 1, N, N)``.
    """
    degree = max(dynamics.identity_part.degree, dynamics.hessian_part.degree, 1)
    identity = _padded(dynamics.identity_part.numeric_coefficients(), degree)
    hessian = _padded(dynamics.hessian_part.numeric_coefficients(), degree)
    size = projector.shape[0]
    blocks, count = dynamics.blocks, batch_hessians.shape[1]
    state = blocks * count
    layout = SymmetricLayout(state)
    # the svec basis as a stack of block moments (m, m, N, c, c)
    basis = layout.basis().reshape(size, blocks, count, blocks, count).transpose(1, 3, 0, 2, 4)
    result = np.zeros((len(batch_hessians), 2 * degree + 1, size, size))
    for row, batch_hessian in enumerate(batch_hessians):
        operator = SecondMomentOperator(
            None,
            eigenvalues=batch_hessian,
            mixing=0.0,
            identity=identity,
            hessian=hessian,
            rate_factor=1.0,
        )
        for j in range(degree + 1):
            for k in range(degree + 1):
                image = operator.apply_pair(
                    basis, (identity[j], hessian[j]), (identity[k], hessian[k])
                )  # (m, m, N, c, c): columns of T_jk
                full = image.transpose(2, 0, 3, 1, 4).reshape(size, state, state)
                result[row, j + k] += layout.pack(full).T
    return result


def _padded(table: np.ndarray, degree: int) -> np.ndarray:
    """Coefficients ``(q + 1, m, m)`` padded with zeros to ``(degree + 1, m, m)``."""
    result = np.zeros((degree + 1, *table.shape[1:]))
    result[: len(table)] = table
    return result


def _masks(indices: tuple[int, ...]) -> int:
    mask = 0
    for index in indices:
        mask |= 1 << index
    return mask


def _transition_count(samples: int, batch: int, full_steps: int) -> int:
    return sum(
        math.comb(samples, k * batch) * math.comb(samples - k * batch, batch)
        for k in range(full_steps)
    )


def epoch_operator(problem: Quadratic, method: Any, *, init: Any = None) -> EpochOperator:
    """Build the exact epoch operator ``𝒯`` of a reshuffled method (module notes).

    Parameters
    ----------
    problem : Quadratic
        A problem with per-sample structure.
    method : Method or LinearDynamics
        A method with ``shuffle=True``.
    init : array_like, optional
        A start (``δ_0`` or a full state) whose null-space components should be followed
        (adds those null directions to the coordinates); used by
        :func:`predicted_epoch_mean_square`.

    Raises
    ------
    InvalidInputError
        If the method does not reshuffle or the problem has no samples.
    SizeLimitError
        If the recursion needs more than :data:`EPOCH_TRANSITION_LIMIT` transitions or the
        state space is larger than :data:`EPOCH_SIZE_LIMIT`.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.reshuffling import epoch_operator
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> operator = epoch_operator(problem, SGD(1, shuffle=True))
    >>> round(operator.radius(1.1), 12)  # ((1 − 1.1)(1 − 3.3))², whatever the order
    0.0529
    """
    problem = as_problem(problem)
    dynamics = as_dynamics(method)
    law = _reshuffled(dynamics)
    samples = problem.samples
    if samples is None:
        _sample_hessians(problem, np.zeros((problem.dimension, 0)))
    sizes = law.batch_sizes(samples)
    batch = int(law.batch_size)
    full_steps = samples // batch
    transitions = _transition_count(samples, batch, full_steps)
    if transitions > EPOCH_TRANSITION_LIMIT:
        raise SizeLimitError(
            f"the exact epoch operator for n={samples}, B={batch} visits {transitions:,} "
            f"(set, batch) transitions (limit {EPOCH_TRANSITION_LIMIT:,}); use simulate_epochs"
        )
    parts = (
        None
        if init is None
        else _start_vector(problem, dynamics.blocks, init).reshape(
            dynamics.blocks, problem.dimension
        )
    )
    coordinates = _coordinates(problem, dynamics, parts)
    state = dynamics.blocks * coordinates.shape[1]
    size = state * (state + 1) // 2
    if size > EPOCH_SIZE_LIMIT:
        raise SizeLimitError(
            f"the epoch operator acts on {size} symmetric coordinates (state dimension "
            f"{state}); limit {EPOCH_SIZE_LIMIT}"
        )
    sharpness = float(problem.sharpness)
    if sharpness <= 0:
        sharpness = 1.0
    scaled = dynamics.rescaled(sharpness)
    hessians = _sample_hessians(problem, coordinates) / sharpness
    projector = _svec_basis(state)
    combos = list(itertools.combinations(range(samples), batch))
    weights = np.zeros((len(combos), samples))
    for row, combo in enumerate(combos):
        weights[row, list(combo)] = 1.0 / batch
    batch_maps = _batch_polynomials(scaled, np.tensordot(weights, hessians, axes=1), projector)
    index_of = {_masks(combo): row for row, combo in enumerate(combos)}
    step_degree = batch_maps.shape[1] - 1
    level = {0: np.eye(size)[None]}
    for used in range(full_steps):
        remaining = samples - used * batch
        weight = 1.0 / math.comb(remaining, batch)
        masks = list(level)
        degree = level[masks[0]].shape[0] - 1
        pairs_source, pairs_batch, pairs_target = [], [], []
        for position, mask in enumerate(masks):
            free = [i for i in range(samples) if not mask >> i & 1]
            for combo in itertools.combinations(free, batch):
                bits = _masks(combo)
                pairs_source.append(position)
                pairs_batch.append(index_of[bits])
                pairs_target.append(mask | bits)
        stacked = np.array([level[mask] for mask in masks])
        targets = sorted(set(pairs_target))
        target_index = {mask: row for row, mask in enumerate(targets)}
        result = np.zeros((len(targets), degree + step_degree + 1, size, size))
        source = np.array(pairs_source)
        batch_rows = np.array(pairs_batch)
        target_rows = np.array([target_index[m] for m in pairs_target])
        chunk = max(1, _CHUNK_ENTRIES // max(1, (degree + step_degree + 1) * size * size))
        for start in range(0, len(source), chunk):
            part = slice(start, start + chunk)
            left = batch_maps[batch_rows[part]]
            right = stacked[source[part]]
            product = np.zeros((left.shape[0], degree + step_degree + 1, size, size))
            for i in range(step_degree + 1):
                product[:, i : i + degree + 1] += np.einsum(
                    "pab,pqbc->pqac", left[:, i], right, optimize=True
                )
            np.add.at(result, target_rows[part], weight * product)
        level = dict(zip(targets, result, strict=True))
    total = sum(level.values())
    if len(sizes) > full_steps:  # the short last batch: the complement, with probability one
        short = np.zeros((len(level), samples))
        for row, mask in enumerate(level):
            rest = [i for i in range(samples) if not mask >> i & 1]
            short[row, rest] = 1.0 / len(rest)
        last_maps = _batch_polynomials(scaled, np.tensordot(short, hessians, axes=1), projector)
        degree = total.shape[0] - 1
        total = np.zeros((degree + step_degree + 1, size, size))
        for row, value in enumerate(level.values()):
            for i in range(step_degree + 1):
                total[i : i + degree + 1] += np.einsum("ab,qbc->qac", last_maps[row, i], value)
    return EpochOperator(
        np.asarray(total), sharpness, coordinates, dynamics.blocks, len(sizes), transitions
    )


def epoch_spectral_radius(problem: Quadratic, method: Any, lr: float) -> float:
    """``ρ(𝒯(η))`` of the exact epoch operator; stable in mean square iff below one.

    Per step this is ``ρ^{1/K}`` with ``K`` steps per epoch.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    lr : float
        Learning rate η.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.reshuffling import epoch_spectral_radius
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> round(epoch_spectral_radius(problem, SGD(1, shuffle=True), 0.5), 12)  # (0.5 · 0.5)²
    0.0625
    """
    lr = check_learning_rate(lr)
    return epoch_operator(problem, method).radius(lr)


def epoch_critical_learning_rate(problem: Quadratic, method: Any) -> float:
    """The exact mean-square threshold ``η*`` of a reshuffled method: first ``ρ(𝒯(η)) = 1``.

    Parameters
    ----------
    problem : Quadratic
        A problem with per-sample structure, small enough for :func:`epoch_operator`.
    method : Method or LinearDynamics
        A method with ``shuffle=True``.

    Returns
    -------
    float
        ``η*``; ``math.inf`` if no crossing is found up to ``ν = η λ_max = 1000``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic, critical_learning_rate
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> round(epoch_critical_learning_rate(problem, SGD(1, shuffle=True)), 12)  # 4/3
    1.333333333333
    >>> round(critical_learning_rate(problem, SGD(1)), 12)  # i.i.d. draws: 0.8
    0.8
    """
    operator = epoch_operator(problem, method)
    if operator.size == 0:
        return math.inf
    sharpness = operator.sharpness

    def excess(nu: float) -> float:
        return operator.radius(nu / sharpness) - 1.0

    previous = SCAN_START
    if excess(previous) >= 0:
        previous = _first_stable(excess)
        if previous is None:
            return 0.0
    nu = previous
    while nu < SCAN_STOP:
        nu = previous * SCAN_RATIO
        if excess(nu) >= 0:
            root = scipy.optimize.brentq(excess, previous, nu, xtol=1e-300, rtol=1e-15)
            return float(root) / sharpness
        previous = nu
    return math.inf


def _first_stable(excess: Any) -> float | None:
    nu = SCAN_START
    for _ in range(60):
        nu /= 2
        if excess(nu) < 0:
            return nu
    return None


def _start_vector(problem: Quadratic, blocks: int, init: Any) -> np.ndarray:
    if init is None:
        basis = np.asarray(problem.reduced().basis)
        start = basis.sum(axis=1)
        start /= max(np.linalg.norm(start), np.finfo(float).tiny)
    else:
        start = as_finite_array(init, "init", 1)
    if start.shape[0] == problem.dimension:
        return np.tile(start, blocks)
    if start.shape[0] == blocks * problem.dimension:
        return start
    raise InvalidInputError(
        f"init must have d={problem.dimension} or m·d={blocks * problem.dimension} entries; "
        f"got {start.shape[0]}"
    )


def predicted_epoch_mean_square(
    problem: Quadratic, method: Any, lr: float, *, epochs: int, init: Any = None
) -> np.ndarray:
    """The exact ``E‖z‖²`` at the end of each epoch, ``e = 0..epochs``.

    ``S_{e+1} = 𝒯(S_e)`` from ``S_0 = z_0 z_0ᵀ``. ``init`` is ``δ_0`` (length ``d``; for
    momentum ``δ_{−1} = δ_0``) or a full state (length ``m d``); the default is the unit
    vector along the sum of the eigenvectors of ``H`` (a start in ``range(H)``).

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    lr : float
        Learning rate η.
    epochs : int
        Number of epochs.
    init : Any, default None
        Initial deviation from the minimum (a d-vector, or a full state); None uses the default
        start.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.reshuffling import predicted_epoch_mean_square
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> predicted_epoch_mean_square(problem, SGD(1, shuffle=True), 0.5, epochs=2)
    array([1.        , 0.0625    , 0.00390625])
    """
    lr = check_learning_rate(lr)
    epochs = check_positive_integer(epochs, "epochs")
    dynamics = as_dynamics(method)
    problem = as_problem(problem)
    start = _start_vector(problem, dynamics.blocks, init)
    dimension = problem.dimension
    operator = epoch_operator(problem, dynamics, init=start)
    coordinates = operator.coordinates
    blocks = dynamics.blocks
    parts = start.reshape(blocks, dimension)
    inside = parts @ coordinates  # (m, c)
    outside = float(np.sum(parts**2) - np.sum(inside**2))  # neutral, never moves
    state = inside.ravel()
    projector = _svec_basis(state.size)
    vector = projector @ np.outer(state, state).ravel()
    trace = projector @ np.eye(state.size).ravel()
    matrix = operator.matrix(lr)
    values = [float(trace @ vector) + outside]
    for _ in range(epochs):
        vector = matrix @ vector
        values.append(float(trace @ vector) + outside)
    return np.array(values)


@dataclass(frozen=True)
class EpochSimulation:
    """Monte Carlo of the reshuffled recursion, recorded at the end of each epoch.

    Attributes
    ----------
    mean_square : ndarray, shape (epochs + 1,)
        Sample mean of ``‖z‖²``.
    standard_error : ndarray, shape (epochs + 1,)
        Its standard error.
    mean_log_square : ndarray, shape (epochs + 1,)
        Sample mean of ``log ‖z‖²`` (the typical run).
    runs : int
        Independent runs.
    steps_per_epoch : int
        ``K``.
    seed : int or None
        The seed.
    """

    mean_square: np.ndarray
    standard_error: np.ndarray
    mean_log_square: np.ndarray
    runs: int
    steps_per_epoch: int
    seed: int | None

    def interval(self, confidence: float = 0.999) -> tuple[np.ndarray, np.ndarray]:
        """Normal confidence band for the mean square at level ``confidence``.

        Parameters
        ----------
        confidence : float, default 0.999
            Confidence level of the interval, in (0, 1).
        """
        half = float(scipy.stats.norm.ppf(0.5 + confidence / 2)) * self.standard_error
        return self.mean_square - half, self.mean_square + half


def simulate_epochs(
    problem: Quadratic,
    method: Any,
    lr: float,
    *,
    epochs: int,
    runs: int,
    seed: int | None = None,
    init: Any = None,
) -> EpochSimulation:
    """Simulate the reshuffled recursion step by step, each run drawing its own permutations.

    The state lives in ``range(H)`` plus the null component of the start (which evolves by
    ``F(η)`` alone), an exact change of coordinates of the full recursion, so the cost per
    step is ``O(runs · n · r²)`` whatever ``d``.

    Parameters
    ----------
    problem, method, lr
        As in :func:`predicted_epoch_mean_square`.
    epochs : int
        Epochs to run.
    runs : int
        Independent runs.
    seed : int, optional
        Seed of the permutations.
    init : array_like, optional
        The start (default as in :func:`predicted_epoch_mean_square`).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.reshuffling import simulate_epochs
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> result = simulate_epochs(problem, SGD(1, shuffle=True), 0.5, epochs=2, runs=10, seed=0)
    >>> result.mean_square  # one dimension: the order does not matter
    array([1.        , 0.0625    , 0.00390625])
    """
    lr = check_learning_rate(lr)
    epochs = check_positive_integer(epochs, "epochs")
    runs = check_positive_integer(runs, "runs")
    problem = as_problem(problem)
    dynamics = as_dynamics(method)
    law = _reshuffled(dynamics)
    start = _start_vector(problem, dynamics.blocks, init)
    dimension = problem.dimension
    blocks = dynamics.blocks
    parts = start.reshape(blocks, dimension)
    coordinates = _coordinates(problem, dynamics, parts)
    hessians = _sample_hessians(problem, coordinates)
    identity = dynamics.identity_part.evaluate(lr)
    hessian_part = dynamics.hessian_part.evaluate(lr)
    state = np.broadcast_to(parts @ coordinates, (runs, blocks, coordinates.shape[1])).copy()
    outside = float(np.sum(parts**2) - np.sum((parts @ coordinates) ** 2))
    rng = np.random.default_rng(seed)
    squares = [np.sum(state**2, axis=(1, 2)) + outside]
    for _ in range(epochs):
        weights = law.epoch_weights(problem.samples, runs, rng)
        for step in range(weights.shape[1]):
            batch_hessians = np.einsum("rn,nab->rab", weights[:, step], hessians)
            curved = np.einsum("rab,rjb->rja", batch_hessians, state)
            state = np.einsum("ij,rjc->ric", identity, state) + np.einsum(
                "ij,rjc->ric", hessian_part, curved
            )
        squares.append(np.sum(state**2, axis=(1, 2)) + outside)
    values = np.array(squares)
    with np.errstate(divide="ignore"):
        logs = np.log(values)
    error = values.std(axis=1, ddof=1) / math.sqrt(runs) if runs > 1 else 0 * values[:, 0]
    return EpochSimulation(
        values.mean(axis=1),
        error,
        logs.mean(axis=1),
        runs,
        len(law.batch_sizes(problem.samples)),
        seed,
    )
