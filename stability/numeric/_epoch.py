"""The epoch operator of random reshuffling, exactly, by recursions over the samples used.

Theory: ``docs/theory/reshuffling.md``. With ``shuffle=True`` each epoch visits a uniform random
permutation of the ``n`` samples in consecutive batches (:class:`~stability.dynamics.
ReshuffledBatchLaw`). Epochs are independent, so the state at epoch boundaries follows an i.i.d.
linear recursion ``z_{e+1} = P_e z_e``, ``P = A_{B_K} ⋯ A_{B_1}``, and mean-square stability is
``ρ(𝒯) < 1`` for the epoch operator ``𝒯(S) = E_π[P S Pᵀ]``; the operator after the first ``k``
batches of an epoch, ``𝒯_k = E_π[𝒯_{B_k} ∘ ⋯ ∘ 𝒯_{B_1}]``, gives the moments inside an epoch.

**Over samples.** A uniform permutation is drawn one sample at a time, each new sample uniform
among the unused ones. The state of the recursion is the set ``W`` of samples used so far with,
inside a batch, three matrices linear in the moment ``X`` at the start of the batch:
``X`` itself, ``P = Σ_{i∈b} M_i X`` and ``Q = Σ_{i,j∈b} M_i X M_jᵀ`` over the part ``b`` of the
batch drawn so far, ``M_i = G(η) ⊗ H_i``. Adding sample ``k``:

    P ← P + M_k X,        Q ← Q + M_k Pᵀ + P M_kᵀ + M_k X M_kᵀ        (old ``P`` on the right),

with weight ``1/(n − |W|)``; a batch of ``c`` samples is closed by

    X ← (F ⊗ I) X (F ⊗ I)ᵀ + ((F ⊗ I) Pᵀ + P (F ⊗ I)ᵀ)/c + Q/c² = E[A_b X A_bᵀ | b],

the second-moment operator of :class:`~stability.numeric.SecondMomentOperator` for
the batch ``b`` drawn with probability one (the tests compare the two). Every update is linear in
``(X, P, Q)`` and its validity depends only on ``W``, so the states of all the histories with the
same ``W`` are summed. The recursion visits ``n 2^{n−1}`` transitions for every batch size, each
one product of width ``2N + (m d)²`` per column of the operator.

**Over whole batches.** Given the set ``U`` used, the next batch is uniform among the
``C(n − |U|, B)`` others: ``V(U ∪ b) += 𝒯_b ∘ V(U) / C(n − |U|, B)``, and the short last batch
is the complement. It visits ``Σ_k C(n, kB) C(n − kB, B)`` transitions of width ``N``, far fewer
for large batches (``25,740`` instead of ``524,288`` at ``n = 16, B = 8``) and possible beyond
``n = 16`` (``B ≥ 10`` at ``n = 20``). :func:`epoch_operator` takes the recursion with less work
within its limit.

Both run at a fixed ``η``: an expansion in powers of ``η`` cancels catastrophically (the monomial
coefficients of a degree-``2K`` product; ``4·10⁻⁴`` relative error at ``n = 14``).

**Threshold.** ``η*`` is the first ``η`` with ``ρ(𝒯(η)) = 1``: a geometric scan (steps of
:data:`SCAN_RATIO` to :data:`SCAN_LEAP`, :meth:`EpochOperator.threshold`) from a rate proven
stable brackets it and Brent's method refines it to a relative ``1e-13``.

**Coordinates.** ``range(H)``; with weight decay (``F`` depends on ``η``) one null direction
of ``H`` is added (all of them evolve alike, by ``F(η)``), and a start's null components when a
prediction follows it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.optimize

from stability.dynamics import LinearDynamics, ReshuffledBatchLaw
from stability.errors import InvalidInputError, SizeLimitError
from stability.methods import Method
from stability.numeric._operator import SymmetricLayout
from stability.problems import Quadratic, as_problem

if TYPE_CHECKING:
    from stability.methods import MethodLike
    from stability.problems import ProblemLike

__all__ = [
    "EPOCH_BATCH_LIMIT",
    "EPOCH_MEMORY_LIMIT",
    "EPOCH_TRANSITION_LIMIT",
    "EpochOperator",
    "epoch_operator",
    "reshuffled_mean_square",
    "reshuffled_pair",
]

#: Largest number ``n 2^{n−1}`` of transitions of the recursion: ``n ≤ 16``.
EPOCH_TRANSITION_LIMIT = 524_288
#: Largest number of transitions of the recursion over whole batches (large batches, n > 16).
EPOCH_BATCH_LIMIT = 2_000_000
#: Largest memory (bytes) of the recursion's widest levels; the operator's columns are chunked.
EPOCH_MEMORY_LIMIT = 400_000_000
#: Ratio of the geometric grid in ``ν = η λ_max`` that brackets the first crossing of ``ρ = 1``.
SCAN_RATIO = 1.05
#: The longest step of the scan, taken while ``ρ`` falls or is far from one.
SCAN_LEAP = 1.2
#: The grid starts at ``ν = SCAN_START`` (or a proven stable rate) and stops at ``SCAN_STOP``.
SCAN_START = 0.02
SCAN_STOP = 1e3
#: Relative accuracy of Brent's method on the bracket.
THRESHOLD_TOLERANCE = 1e-13


def _dynamics_of(method: MethodLike) -> LinearDynamics | None:
    if isinstance(method, LinearDynamics):
        return method
    if isinstance(method, Method):
        return method.dynamics()
    return None


def reshuffled_pair(
    problem: ProblemLike, method: MethodLike,
) -> tuple[Quadratic, LinearDynamics] | None:
    """``(problem, dynamics)`` ready for the epoch operator when ``method`` reshuffles, else None.

    A frozen preconditioner is taken into the problem by the congruence of
    :func:`stability.preconditioning.congruent` (so Adam, AdamW and RMSProp with
    ``shuffle=True`` are read directly).

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem.
    method : Method or LinearDynamics
        The optimiser.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric._epoch import reshuffled_pair
    >>> problem = Quadratic.from_data(np.eye(2))
    >>> reshuffled_pair(problem, SGD(1)) is None
    True
    >>> reshuffled_pair(problem, SGD(1, shuffle=True))[1].batch.describe()
    'B=1 reshuffled every epoch (short last batch)'
    """
    dynamics = _dynamics_of(method)
    if dynamics is None or not isinstance(dynamics.batch, ReshuffledBatchLaw):
        return None
    if dynamics.preconditioning is not None:
        from stability.preconditioning import congruent

        return congruent(problem, dynamics)
    return as_problem(problem), dynamics


def _coordinates(problem: Quadratic, dynamics: LinearDynamics, parts: np.ndarray | None):
    """``range(H)`` plus the null directions that matter, as orthonormal columns ``(d, c)``."""
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
    """Per-sample Hessians in the given coordinates (range first, then null), ``(n, c, c)``."""
    reduced = problem.reduced()
    scale = float(getattr(reduced, "scale", 1.0))
    rank = np.asarray(reduced.basis).shape[1]
    inner = np.asarray(reduced.per_sample_hessians()) * scale
    count = coordinates.shape[1]
    result = np.zeros((inner.shape[0], count, count))
    result[:, :rank, :rank] = inner
    return result


def _table(polynomial: Any) -> np.ndarray:
    return np.asarray(polynomial.numeric_coefficients(), dtype=float)


def _evaluate(table: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """``Σ_q ν^q table[q]`` for every rate: ``(E, m, m)``."""
    powers = rates[:, None] ** np.arange(table.shape[0])[None, :]
    return np.tensordot(powers, table, axes=1)


@dataclass(frozen=True, eq=False)
class EpochOperator:
    """The epoch operator of one reshuffled method on one problem, evaluated exactly at any ``η``.

    Build it with :func:`epoch_operator`. Moments are symmetric matrices of the state
    restricted to :attr:`coordinates` (``m`` blocks), in the ``svec`` coordinates of
    :class:`~stability.numeric.SymmetricLayout`.

    Attributes
    ----------
    hessians : ndarray, shape (n, c, c)
        Per-sample Hessians in :attr:`coordinates`, divided by :attr:`sharpness`.
    identity, hessian : ndarray, shape (q + 1, m, m)
        Coefficients of ``F`` and ``G`` in ``ν = η λ_max`` (for the scaled Hessians).
    batch_sizes : tuple of int
        The sizes of an epoch's batches, in order.
    sharpness : float
        ``λ_max(H)``, the unit of ``ν``.
    coordinates : ndarray, shape (d, c)
        Orthonormal parameter-space directions.
    route : {"samples", "batches"}
        The recursion over used samples (``n 2^{n−1}`` transitions) or over whole batches
        (``Σ_k C(n, kB) C(n − kB, B)``, cheaper for large batches).
    """

    hessians: np.ndarray
    identity: np.ndarray
    hessian: np.ndarray
    batch_sizes: tuple[int, ...]
    sharpness: float
    coordinates: np.ndarray
    route: str = "samples"

    @property
    def samples(self) -> int:
        """``n``."""
        return int(self.hessians.shape[0])

    @property
    def blocks(self) -> int:
        """``m``, state blocks of the method."""
        return int(self.identity.shape[1])

    @property
    def steps(self) -> int:
        """``K``, steps per epoch."""
        return len(self.batch_sizes)

    @property
    def state(self) -> int:
        """``m c``, the dimension of the state."""
        return self.blocks * int(self.hessians.shape[1])

    @property
    def size(self) -> int:
        """``N = m c (m c + 1)/2``, the dimension of the symmetric state space."""
        return self.state * (self.state + 1) // 2

    @property
    def transitions(self) -> int:
        """Transitions of the recursion of :attr:`route`."""
        if self.route == "batches":
            return _batch_transitions(self.samples, self.batch_sizes)
        return _sample_transitions(self.samples, self.batch_sizes)

    # ------------------------------------------------------------------ the recursion
    def _maps(self, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``F ⊗ I`` ``(E, s, s)`` and ``M_i = G ⊗ H_i`` ``(E, n, s, s)`` at the rates ``ν``."""
        identity = _evaluate(self.identity, rates)
        hessian = _evaluate(self.hessian, rates)
        count = self.hessians.shape[1]
        lifted = np.einsum("eab,ij->eaibj", identity, np.eye(count)).reshape(
            len(rates), self.state, self.state
        )
        sample = np.einsum("eab,nij->enaibj", hessian, self.hessians).reshape(
            len(rates), self.samples, self.state, self.state
        )
        return lifted, sample

    @cached_property
    def _moves(self) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """For each level ``j`` and sample ``k``: the sets without ``k`` and their ranks with it."""
        n = self.samples
        masks = np.arange(1 << n, dtype=np.int64)
        counts = np.zeros(1 << n, dtype=np.int64)
        for bit in range(n):
            counts += (masks >> bit) & 1
        rank = np.zeros(1 << n, dtype=np.int64)
        levels = []
        for j in range(n + 1):
            members = masks[counts == j]
            rank[members] = np.arange(len(members))
            levels.append(members)
        moves = []
        for j in range(sum(self.batch_sizes)):
            members = levels[j]
            row = []
            for k in range(n):
                source = np.flatnonzero(((members >> k) & 1) == 0)
                row.append((source, rank[members[source] | (1 << k)]))
            moves.append(row)
        return moves

    def _transitions(self, rate: float) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """The recursion's linear maps at ``ν = rate``, on row vectors ``(svec X, vec P, svec Q)``.

        Returns, per sample ``k``, the map that opens a batch with ``k`` (``X ↦ (X, M_k X,
        M_k X M_kᵀ)``) and the map that adds ``k`` to an open batch, and the matrix
        ``F ⊗ I`` that closes a batch.
        """
        s = self.state
        layout = SymmetricLayout(s)
        symmetric = layout.basis()  # (N, s, s)
        size = layout.dimension
        lifted, sample = self._maps(np.array([rate]))
        lifted, sample = lifted[0], sample[0]
        full = np.eye(s * s).reshape(s * s, s, s)
        opens, adds = [], []
        for matrix in sample:
            product = matrix @ symmetric  # M X
            square = product @ matrix.T
            # inputs X (N), P (s²), Q (N): outputs X, P + M X, Q + M Pᵀ + P Mᵀ + M X Mᵀ
            rows_x = np.hstack([np.eye(size), product.reshape(size, -1), layout.pack(square)])
            opens.append(rows_x)  # an empty batch has P = Q = 0
            cross = matrix @ np.swapaxes(full, -1, -2)
            rows_p = np.hstack(
                [
                    np.zeros((s * s, size)),
                    np.eye(s * s),
                    layout.pack(cross + np.swapaxes(cross, -1, -2)),
                ]
            )
            rows_q = np.hstack([np.zeros((size, size)), np.zeros((size, s * s)), np.eye(size)])
            adds.append(np.vstack([rows_x, rows_p, rows_q]))
        return opens, adds, lifted

    @staticmethod
    def _closing(lifted: np.ndarray, batch: int) -> np.ndarray:
        """The map ``(X, P, Q) ↦ (F⊗I) X (F⊗I)ᵀ + ((F⊗I) Pᵀ + P (F⊗I)ᵀ)/c + Q/c²``."""
        s = lifted.shape[0]
        layout = SymmetricLayout(s)
        symmetric = layout.basis()
        size = layout.dimension
        full = np.eye(s * s).reshape(s * s, s, s)
        cross = full @ lifted.T
        return np.vstack(
            [
                layout.pack(lifted @ symmetric @ lifted.T),
                layout.pack(cross + np.swapaxes(cross, -1, -2)) / batch,
                np.eye(size) / batch**2,
            ]
        )

    def _run(self, rate: float, start: np.ndarray) -> np.ndarray:
        """``𝒯_k(η)`` applied to ``svec`` start moments (rows of ``start``), ``k = 0..K``.

        ``rate`` is ``ν = η λ_max``; returns ``(K + 1, C, N)``.
        """
        n = self.samples
        opens, adds, lifted = self._transitions(rate)
        ends = np.cumsum(self.batch_sizes)
        closes = {int(end): size_b for end, size_b in zip(ends, self.batch_sizes, strict=True)}
        begins = {0} | {int(end) for end in ends}
        start = np.asarray(start, dtype=float)
        columns = start.shape[0]
        vector = start[None].copy()  # (sets, C, width)
        prefixes = [vector.sum(axis=0)]
        moves = self._moves
        with np.errstate(over="ignore", invalid="ignore"):
            for j in range(int(ends[-1])):
                opening = j in begins
                closing = closes.get(j + 1)
                maps = opens if opening else adds
                if closing is not None:
                    closer = self._closing(lifted, closing)
                    maps = [matrix @ closer for matrix in maps]
                width = maps[0].shape[1]
                following = np.zeros((math.comb(n, j + 1), columns, width))
                for k, (source, target) in enumerate(moves[j]):
                    following[target] += vector[source] @ maps[k]
                vector = following * (1.0 / (n - j))
                if closing is not None:
                    prefixes.append(vector.sum(axis=0))
        return np.array(prefixes)

    @cached_property
    def _batch_moves(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per full batch ``k``: the pairs (set used, next batch) as source rows, batch rows
        and target rows sorted by target, with the next level's set masks."""
        n, size = self.samples, self.batch_sizes[0]
        combos = np.array(list(itertools.combinations(range(n), size)), dtype=np.int64)
        batch_masks = np.sum(np.int64(1) << combos, axis=1)
        order = np.argsort(batch_masks)
        batch_masks, combos = batch_masks[order], combos[order]
        full = sum(1 for value in self.batch_sizes if value == size)
        masks = np.zeros(1, dtype=np.int64)
        moves = []
        for k in range(full):
            left = n - k * size
            bits = (masks[:, None] >> np.arange(n)[None, :]) & 1
            complement = np.argsort(bits, axis=1, kind="stable")[:, :left]  # unused samples
            patterns = np.array(list(itertools.combinations(range(left), size)), dtype=np.int64)
            chosen = complement[:, patterns]  # (sets, patterns, B)
            new = np.sum(np.int64(1) << chosen, axis=2)  # batch masks
            sources = np.repeat(np.arange(len(masks)), len(patterns))
            batches = np.searchsorted(batch_masks, new.ravel())
            targets_masks = masks[sources] | new.ravel()
            following, targets = np.unique(targets_masks, return_inverse=True)
            order = np.argsort(targets, kind="stable")
            moves.append((sources[order], batches[order], targets[order], following))
            masks = following
        return moves

    def _batch_maps(self, rate: float, batches: np.ndarray) -> np.ndarray:
        """``T_b`` in row form on ``svec`` for each batch (rows of sample indices or weights)."""
        lifted, sample = self._maps(np.array([rate]))
        layout = SymmetricLayout(self.state)
        basis = layout.basis()
        state_maps = lifted[0][None] + np.tensordot(batches, sample[0], axes=1)
        images = state_maps[:, None] @ basis[None] @ np.swapaxes(state_maps, -1, -2)[:, None]
        return layout.pack(images)  # (batches, N_in, N_out): row j is svec T_b(E_j)

    def _run_batches(self, rate: float, start: np.ndarray) -> np.ndarray:
        """The recursion over whole batches (module notes): ``(K + 1, C, N)``."""
        n, size = self.samples, self.batch_sizes[0]
        combos = np.array(list(itertools.combinations(range(n), size)), dtype=np.int64)
        combos = combos[np.argsort(np.sum(np.int64(1) << combos, axis=1))]
        weights = np.zeros((len(combos), n))
        np.put_along_axis(weights, combos, 1.0 / size, axis=1)
        maps = self._batch_maps(rate, weights)
        vector = np.asarray(start, dtype=float)[None].copy()
        prefixes = [vector.sum(axis=0)]
        width = self.size
        chunk = max(1, 4_000_000 // max(width * width, 1))
        masks = np.zeros(1, dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            for k, (sources, batches, targets, following) in enumerate(self._batch_moves):
                result = np.zeros((len(following), *vector.shape[1:]))
                for begin in range(0, len(sources), chunk):
                    part = slice(begin, begin + chunk)
                    products = vector[sources[part]] @ maps[batches[part]]
                    rows = targets[part]
                    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
                    result[rows[starts]] += np.add.reduceat(products, starts, axis=0)
                vector = result / math.comb(n - k * size, size)
                masks = following
                prefixes.append(vector.sum(axis=0))
            if len(self.batch_sizes) > len(self._batch_moves):  # the short last batch
                rest = ((~masks[:, None] >> np.arange(n)[None, :]) & 1).astype(float)
                rest /= rest.sum(axis=1, keepdims=True)
                last = self._batch_maps(rate, rest)
                vector = vector @ last
                prefixes.append(vector.sum(axis=0))
        return np.array(prefixes)

    @property
    def memory(self) -> int:
        """Bytes of the widest levels of the recursion for one column of the operator."""
        if self.route == "batches":
            return _batch_memory(self.samples, self.batch_sizes, self.size)
        widest = math.comb(self.samples, self.samples // 2)
        return 3 * 8 * widest * (2 * self.size + self.state**2)

    def _columns(self, rate: float) -> np.ndarray:
        """``𝒯_k`` on ``svec`` at ``ν = rate``, ``(K + 1, N, N)``, in chunks of columns that fit
        in :data:`EPOCH_MEMORY_LIMIT` (the columns are independent runs of the recursion)."""
        chunk = max(1, EPOCH_MEMORY_LIMIT // max(self.memory, 1))
        eye = np.eye(self.size)
        run = self._run_batches if self.route == "batches" else self._run
        parts = [run(rate, eye[begin : begin + chunk]) for begin in range(0, self.size, chunk)]
        return np.swapaxes(np.concatenate(parts, axis=1), -1, -2)

    def prefix_matrices(self, lr: float) -> np.ndarray:
        """``𝒯_k(η)`` on ``svec`` for ``k = 0..K`` (``𝒯_K`` is the epoch operator), ``(K+1, N, N)``.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        return self._columns(float(lr) * self.sharpness)

    def matrices(self, lrs: Any) -> np.ndarray:
        """The epoch operator ``𝒯(η)`` on ``svec`` at each learning rate, ``(E, N, N)``.

        Parameters
        ----------
        lrs : array_like
            Learning rates η.
        """
        rates = np.atleast_1d(np.asarray(lrs, dtype=float)) * self.sharpness
        result = np.zeros((len(rates), self.size, self.size))
        for index, rate in enumerate(rates):
            result[index] = self._columns(float(rate))[-1]
        return result

    def matrix(self, lr: float) -> np.ndarray:
        """The dense ``N × N`` matrix of the epoch operator ``𝒯(η)``.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        return self.matrices([lr])[0]

    def radii(self, lrs: Any) -> np.ndarray:
        """``ρ(𝒯(η))`` per epoch at each learning rate.

        Parameters
        ----------
        lrs : array_like
            Learning rates η.
        """
        if self.size == 0:
            return np.zeros(np.size(lrs))
        with np.errstate(all="ignore"):
            matrices = self.matrices(lrs)
            if not np.all(np.isfinite(matrices)):
                values = np.full(len(matrices), np.inf)
                for index, matrix in enumerate(matrices):
                    if np.all(np.isfinite(matrix)):
                        values[index] = np.max(np.abs(np.linalg.eigvals(matrix)))
                return values
            return np.max(np.abs(np.linalg.eigvals(matrices)), axis=-1)

    def radius(self, lr: float) -> float:
        """``ρ(𝒯(η))``, the growth of the second moment per epoch.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        return float(self.radii([lr])[0])

    def stable_start(self) -> float:
        """A rate ``ν`` up to which ``ρ(𝒯) ≤ 1`` is proven, or :data:`SCAN_START`.

        ``ρ(𝒯) ≤ E‖P‖² ≤ max_π Π_k ‖A_{B_k}‖²``. For a gradient step the batch map
        ``A_b = (1 − g μ ν) I − g ν H_b`` is symmetric, with norm at most one while
        ``g ν (λ_max(H_b) + μ) ≤ 2``: the scan starts at the smallest such bound over every
        batch an epoch can draw (at most ``C(n, B)`` of them, plus the short last batches).
        """
        identity, hessian = self.identity, self.hessian
        if identity.shape[1] != 1 or hessian.shape[0] < 2 or np.any(hessian[2:]):
            return SCAN_START
        if np.any(identity[2:]) or identity[0, 0, 0] != 1.0 or hessian[0, 0, 0] != 0.0:
            return SCAN_START
        scale = -float(hessian[1, 0, 0])
        if scale <= 0:
            return SCAN_START
        decay = -float(identity[1, 0, 0]) / scale if identity.shape[0] > 1 else 0.0
        if decay < 0:
            return SCAN_START
        top = 0.0
        for size in set(self.batch_sizes):
            if math.comb(self.samples, size) > 20_000:
                top = max(top, float(np.max(np.linalg.eigvalsh(self.hessians)[:, -1])))
                continue
            subsets = np.array(list(itertools.combinations(range(self.samples), size)))
            batches = self.hessians[subsets].mean(axis=1)
            top = max(top, float(np.max(np.linalg.eigvalsh(batches)[:, -1])))
        return max(SCAN_START, 2.0 / (scale * (top + decay)))

    def threshold(self) -> float:
        """The first ``η > 0`` with ``ρ(𝒯(η)) = 1`` (``math.inf`` if none below ``ν = 1000``).

        The scan walks up a geometric grid from :meth:`stable_start`: steps of
        :data:`SCAN_RATIO` while ``ρ`` rises towards one, up to :data:`SCAN_LEAP` while it falls
        or while the line through the last two points of ``log ρ`` against ``log ν`` meets
        zero more than two steps ahead; Brent's method refines the first bracket.
        """
        if self.size == 0:
            return math.inf
        sharpness = self.sharpness

        def log_radius(nu: float) -> float:
            radius = self.radius(nu / sharpness)
            return math.log(radius) if radius > 0 else -math.inf

        nu = (1.0 - 1e-9) * self.stable_start()  # ρ ≤ 1 up to the start, equality possible at it
        for _ in range(60):  # a start inside the stable interval
            current = log_radius(nu)
            if current < 0:
                break
            nu /= 2
        else:
            return 0.0
        previous = None
        while nu < SCAN_STOP:
            ratio = SCAN_LEAP
            if previous is not None and math.isfinite(current) and math.isfinite(previous[1]):
                slope = (current - previous[1]) / math.log(nu / previous[0])
                if slope > 0:
                    ahead = min(-current / slope / 2, math.log(SCAN_LEAP))
                    ratio = max(SCAN_RATIO, math.exp(ahead))
            following = nu * ratio
            value = log_radius(following)
            if value >= 0:
                root = scipy.optimize.brentq(
                    lambda x: self.radius(x / sharpness) - 1.0,
                    nu,
                    following,
                    xtol=1e-300,
                    rtol=THRESHOLD_TOLERANCE,
                )
                return float(root) / sharpness
            previous, nu, current = (nu, current), following, value
        return math.inf


def _sample_transitions(samples: int, sizes: tuple[int, ...]) -> int:
    return sum(math.comb(samples, j) * (samples - j) for j in range(sum(sizes)))


def _batch_transitions(samples: int, sizes: tuple[int, ...]) -> int:
    size = sizes[0]
    full = sum(1 for value in sizes if value == size)
    count = sum(
        math.comb(samples, k * size) * math.comb(samples - k * size, size) for k in range(full)
    )
    return count + (math.comb(samples, full * size) if len(sizes) > full else 0)


def _batch_memory(samples: int, sizes: tuple[int, ...], size: int) -> int:
    """Bytes of the batch maps (``C(n, B)`` of ``N × N``) and of the widest level, one column."""
    widest = max(
        math.comb(samples, k * sizes[0]) for k in range(len(sizes) + 1) if k * sizes[0] <= samples
    )
    return 8 * math.comb(samples, sizes[0]) * size * size + 3 * 8 * widest * size


def _start_parts(problem: Quadratic, blocks: int, init: Any) -> np.ndarray | None:
    if init is None:
        return None
    from stability._starts import initial_states

    states = initial_states(init, problem.dimension, blocks)
    states = np.atleast_2d(states)
    return states.reshape(-1, blocks, problem.dimension).reshape(-1, problem.dimension)


def epoch_operator(
    problem: Quadratic, method: MethodLike, *, init: Any = None, route: str | None = None
) -> EpochOperator:
    """The exact epoch operator of a reshuffled method (module notes).

    Parameters
    ----------
    problem : Quadratic
        A problem with per-sample structure.
    method : Method or LinearDynamics
        A method with ``shuffle=True`` (a frozen preconditioner is taken into the problem).
    init : array_like, optional
        A start (``δ_0``, a full state, or one per row) whose null-space components should be
        followed (adds those directions to the coordinates).
    route : {"samples", "batches"}, optional
        Force one recursion (default: the one with less work within its limit).

    Raises
    ------
    InvalidInputError
        If the method does not reshuffle or the problem has no samples.
    SizeLimitError
        If neither recursion is within its limit (:data:`EPOCH_TRANSITION_LIMIT` over samples:
        ``n ≤ 16``; :data:`EPOCH_BATCH_LIMIT` over batches) or one column of the operator
        needs more memory than :data:`EPOCH_MEMORY_LIMIT`.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric._epoch import epoch_operator
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> operator = epoch_operator(problem, SGD(1, shuffle=True))
    >>> round(operator.radius(1.1), 12)  # ((1 − 1.1)(1 − 3.3))², whatever the order
    0.0529
    """
    pair = reshuffled_pair(problem, method)
    if pair is None:
        dynamics = _dynamics_of(method)
        described = (
            "" if dynamics is None else f"{dynamics.name} draws {dynamics.batch.describe()}; "
        )
        raise InvalidInputError(
            f"method must reshuffle its batches (shuffle=True); {described}its steps are "
            "i.i.d.: use stability.critical_learning_rate for it"
        )
    problem, dynamics = pair
    law = dynamics.batch
    samples = problem.samples
    if samples is None:
        raise InvalidInputError(
            "problem must have per-sample structure (Quadratic.from_hessians, from_data or "
            "from_gram) for reshuffled batches"
        )
    sizes = law.batch_sizes(samples)
    parts = _start_parts(problem, dynamics.blocks, init)
    coordinates = _coordinates(problem, dynamics, parts)
    state = dynamics.blocks * coordinates.shape[1]
    size = state * (state + 1) // 2
    by_samples = _sample_transitions(samples, sizes)
    by_batches = _batch_transitions(samples, sizes)
    batch_memory = _batch_memory(samples, sizes, size)
    # work per transition and column: a (2N + s²)-wide product for samples; for batches an
    # N-wide one with the gather of its N × N map, measured ten times slower per entry
    cheaper = 10 * by_batches * size**2 < by_samples * (2 * size + state**2) ** 2
    if route is None:
        allowed_batches = (
            by_batches <= EPOCH_BATCH_LIMIT
            and batch_memory <= EPOCH_MEMORY_LIMIT
            and samples < 63  # sets are bit masks of one int64
        )
        if allowed_batches and (cheaper or by_samples > EPOCH_TRANSITION_LIMIT):
            route = "batches"
        else:
            route = "samples"
    if route == "samples":
        over = by_samples > EPOCH_TRANSITION_LIMIT
    else:
        over = by_batches > EPOCH_BATCH_LIMIT or samples >= 63  # sets are int64 bit masks
    if over:
        raise SizeLimitError(
            f"the exact epoch operator for n={samples} samples (B={law.batch_size}) needs "
            f"{by_samples:,} transitions of the recursion over used samples (limit "
            f"{EPOCH_TRANSITION_LIMIT:,}, n ≤ 16) or {by_batches:,} over whole batches (limit "
            f"{EPOCH_BATCH_LIMIT:,}, n ≤ 62); use Monte Carlo of the epoch law "
            "(stability.reshuffling.simulate_epochs)"
        )
    sharpness = float(problem.sharpness) if problem.reduced().rank else 1.0
    scaled = dynamics.rescaled(sharpness)
    operator = EpochOperator(
        _sample_hessians(problem, coordinates) / sharpness,
        _table(scaled.identity_part),
        _table(scaled.hessian_part),
        sizes,
        sharpness,
        coordinates,
        route,
    )
    if operator.memory > EPOCH_MEMORY_LIMIT:
        raise SizeLimitError(
            f"the exact epoch operator for n={samples} samples on a state of dimension "
            f"{operator.state} needs {operator.memory / 1e6:,.0f} MB per column (limit "
            f"{EPOCH_MEMORY_LIMIT / 1e6:,.0f} MB); use Monte Carlo of the epoch law "
            "(stability.reshuffling.simulate_epochs)"
        )
    return operator


def reshuffled_mean_square(
    problem: Quadratic, method: MethodLike, lr: float, *, steps: int, init: Any = None
) -> np.ndarray:
    """The exact ``E‖z_t‖²`` of a reshuffled method at every step ``t = 0..steps``.

    Step ``t = eK + k`` (``k`` batches into epoch ``e``) has ``S_t = 𝒯_k(𝒯^e(S_0))``: epochs are
    independent and the first ``k`` batches of an epoch are a uniform sequence of disjoint
    batches, whose operator ``𝒯_k`` the recursion gives on the way to ``𝒯 = 𝒯_K``. Starts are
    those of :func:`stability._starts.initial_states` (one ``δ_0``, a full state, or one per row).

    Parameters
    ----------
    problem : Quadratic
        The minimum (with per-sample structure).
    method : Method or LinearDynamics
        A method with ``shuffle=True``.
    lr : float
        Learning rate η.
    steps : int
        The horizon.
    init : array_like, optional
        The start (default :func:`stability._starts.default_initial_error`).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric._epoch import reshuffled_mean_square
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> # one step: (0.75² + 0.25²)/2; one epoch: (0.75 · 0.25)², whatever the order
    >>> reshuffled_mean_square(problem, SGD(1, shuffle=True), 0.25, steps=4, init=[1.0])
    array([1.        , 0.3125    , 0.03515625, 0.01098633, 0.00123596])
    """
    from stability._starts import initial_states

    original = as_problem(problem)
    pair = reshuffled_pair(original, method)
    if pair is None:
        raise InvalidInputError("method must reshuffle its batches (shuffle=True)")
    problem, dynamics = pair
    preconditioning = _dynamics_of(method).preconditioning  # type: ignore[union-attr]
    blocks, dimension = dynamics.blocks, problem.dimension
    if preconditioning is None:
        states = np.atleast_2d(initial_states(init, dimension, blocks, problem=original))
    else:  # starts are δ; the epoch operator acts on u = P^{1/2} δ (per block)
        starts = initial_states(
            init, dimension, blocks, problem=original, preconditioning=preconditioning
        )
        root = preconditioning.square_root(dimension)
        states = np.atleast_2d(starts).reshape(-1, blocks, dimension) @ root
        states = states.reshape(-1, blocks * dimension)
    operator = epoch_operator(problem, dynamics, init=states)
    coordinates = operator.coordinates
    parts = states.reshape(len(states), blocks, dimension)
    inside = (parts @ coordinates).reshape(len(states), -1)  # block-major state coordinates
    outside = float(np.mean(np.sum(states**2, axis=1) - np.sum(inside**2, axis=1)))
    layout = SymmetricLayout(operator.state)
    moment = layout.pack(np.einsum("ra,rb->ab", inside, inside) / len(states))
    if preconditioning is None:
        trace = layout.pack(np.eye(operator.state))
    else:  # E‖δ‖² = E uᵀ (I_m ⊗ P⁻¹) u, read on range coordinates
        if outside > 1e-10 * max(float(np.mean(np.sum(states**2, axis=1))), 1e-300):
            raise InvalidInputError(
                "init has a component along the directions a preconditioned step never moves "
                "(outside P⁻¹ range(H)); the per-step prediction of a reshuffled, "
                "preconditioned method needs a start inside (the default start is)"
            )
        outside = 0.0
        inverse = np.linalg.inv(preconditioning.dense(dimension))
        weight = np.kron(np.eye(blocks), coordinates.T @ inverse @ coordinates)
        trace = layout.pack(weight)
    prefixes = operator.prefix_matrices(lr)
    epoch = prefixes[-1]
    values = np.full(steps + 1, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            within = t % operator.steps
            if within == 0 and t:
                moment = epoch @ moment
            value = float(trace @ (prefixes[within] @ moment)) + outside
            if not np.isfinite(value):
                break
            values[t] = value
    return values
