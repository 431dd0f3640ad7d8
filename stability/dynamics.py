"""The one description of an optimiser's linear dynamics near a quadratic minimum.

Theory: ``docs/theory/operator.md``. Every method compiles to a :class:`LinearDynamics`:

    z_{t+1} = A_t z_t + b_t,     A_t = F(η) ⊗ I_d + G(η) ⊗ H_B,

where the state ``z`` stacks ``m`` blocks of size ``d`` (``m = 1`` for GD/SGD, ``m = 2``
for momentum: ``(δ_t, δ_{t−1})``), ``F(η)`` and ``G(η)`` are ``m × m`` matrices whose
entries are polynomials in the learning rate ``η``, ``H_B`` is the sampled batch Hessian
whose law is a :class:`BatchLaw`, and ``b_t`` is optional additive noise
(:class:`AdditiveNoise`). Block ``(i, j)`` of ``A_t`` is ``F_ij(η) I + G_ij(η) H_B``.

The numeric, symbolic and Monte Carlo evaluators read only this description; none
of them knows a method by name. Coefficients are plain numbers (``int``, ``float``,
:class:`fractions.Fraction`) or SymPy expressions, so the symbolic layer can keep
them exact.

Examples
--------
>>> from stability import SGD
>>> dynamics = SGD(batch_size=2).dynamics()
>>> dynamics.blocks, dynamics.identity_part.coefficients, dynamics.hessian_part.coefficients
(1, (((1,),),), (((0,),), ((-1,),)))
>>> dynamics.batch.mixing(4)
Fraction(1, 3)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from stability._validation import check_batch_size
from stability.errors import InvalidInputError

__all__ = [
    "AdditiveNoise",
    "BatchLaw",
    "BatchSampler",
    "EpochBatchSampler",
    "LinearDynamics",
    "MatrixPolynomial",
    "Preconditioning",
    "ReshuffledBatchLaw",
    "sample_indices",
]

Coefficient = Any  # a real number or a SymPy expression


def _is_zero(value: Coefficient) -> bool:
    try:
        return bool(value == 0)
    except TypeError:  # pragma: no cover - exotic types
        return False


@dataclass(frozen=True)
class MatrixPolynomial:
    """An ``m × m`` matrix polynomial in the learning rate, ``Σ_k η^k P_k``.

    Attributes
    ----------
    coefficients : tuple of nested tuples
        ``coefficients[k][i][j]`` is entry ``(i, j)`` of ``P_k``.

    Examples
    --------
    >>> from stability.dynamics import MatrixPolynomial
    >>> polynomial = MatrixPolynomial.from_matrices([[[1, 0], [1, 0]], [[-2, 0], [0, 0]]])
    >>> polynomial.degree, polynomial.size
    (1, 2)
    >>> polynomial.evaluate(0.5)
    array([[0., 0.],
           [1., 0.]])
    """

    coefficients: tuple[tuple[tuple[Coefficient, ...], ...], ...]

    @classmethod
    def from_matrices(cls, matrices: Sequence[Sequence[Sequence[Coefficient]]]) -> MatrixPolynomial:
        """Build from a list of ``m × m`` nested sequences, lowest power first.

        Parameters
        ----------
        matrices : Sequence[Sequence[Sequence[Coefficient]]]
            The m × m coefficient matrices (nested sequences), lowest power of η first.
        """
        coefficients = tuple(tuple(tuple(row) for row in matrix) for matrix in matrices)
        size = len(coefficients[0])
        for matrix in coefficients:
            if len(matrix) != size or any(len(row) != size for row in matrix):
                raise InvalidInputError("every coefficient of a MatrixPolynomial must be m × m")
        # drop trailing zero powers so that the degree is honest
        while len(coefficients) > 1 and all(_is_zero(x) for row in coefficients[-1] for x in row):
            coefficients = coefficients[:-1]
        return cls(coefficients)

    @property
    def degree(self) -> int:
        """The highest power of the learning rate with a non-zero coefficient."""
        return len(self.coefficients) - 1

    @property
    def size(self) -> int:
        """``m``, the number of state blocks."""
        return len(self.coefficients[0])

    def plus(self, other: MatrixPolynomial, factor: Coefficient = 1) -> MatrixPolynomial:
        """The polynomial ``self + factor · other`` (exact when the coefficients are).

        Parameters
        ----------
        other : MatrixPolynomial
            The polynomial added, of the same size m.
        factor : Coefficient, default 1
            Factor multiplying ``other``.

        Examples
        --------
        >>> from fractions import Fraction
        >>> from stability.dynamics import MatrixPolynomial
        >>> one = MatrixPolynomial.from_matrices([[[1]]])
        >>> step = MatrixPolynomial.from_matrices([[[0]], [[-1]]])
        >>> one.plus(step, Fraction(1, 2)).coefficients  # 1 − η/2
        (((1,),), ((Fraction(-1, 2),),))
        """
        if other.size != self.size:
            raise InvalidInputError(
                f"cannot add matrix polynomials of sizes {self.size} and {other.size}"
            )
        size = self.size
        zero = tuple(tuple(0 for _ in range(size)) for _ in range(size))
        length = max(len(self.coefficients), len(other.coefficients))
        mine = self.coefficients + (zero,) * (length - len(self.coefficients))
        theirs = other.coefficients + (zero,) * (length - len(other.coefficients))
        return MatrixPolynomial.from_matrices(
            [
                [
                    [
                        a if _is_zero(b) else a + factor * b
                        for a, b in zip(row_a, row_b, strict=True)
                    ]
                    for row_a, row_b in zip(matrix_a, matrix_b, strict=True)
                ]
                for matrix_a, matrix_b in zip(mine, theirs, strict=True)
            ]
        )

    def numeric_coefficients(self) -> np.ndarray:
        """The coefficients as a float array of shape ``(degree + 1, m, m)``."""
        return np.array(
            [[[float(x) for x in row] for row in matrix] for matrix in self.coefficients],
            dtype=float,
        )

    def evaluate(self, lr: float) -> np.ndarray:
        """The numeric ``m × m`` matrix at learning rate ``lr``.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        powers = float(lr) ** np.arange(self.degree + 1)
        return np.tensordot(powers, self.numeric_coefficients(), axes=1)


@dataclass(frozen=True)
class BatchLaw:
    """The law of the sampled batch Hessian ``H_B = (1/B) Σ_{i∈B} H_i``.

    Parameters
    ----------
    batch_size : int or None
        ``B``; ``None`` means the full batch (``H_B = H`` deterministically).
    replacement : bool
        Whether the ``B`` indices are drawn with replacement (i.i.d. uniform) or are
        ``B`` distinct indices (uniform without replacement).

    Notes
    -----
    ``E[H_B ⊗ H_B] = (1 − p) H ⊗ H + p M`` with ``M = (1/n) Σ H_i ⊗ H_i`` and mixing
    weight ``p = 1/B`` with replacement, ``p = (n − B)/(B (n − 1))`` without
    (``docs/theory/threshold.md``; Mulayoff & Michaeli 2023).

    Examples
    --------
    >>> from stability.dynamics import BatchLaw
    >>> BatchLaw(3).mixing(6), BatchLaw(5, replacement=True).mixing(6)
    (Fraction(1, 5), Fraction(1, 5))
    >>> BatchLaw(None).mixing(6)
    Fraction(0, 1)
    """

    batch_size: int | None = None
    replacement: bool = False

    def __post_init__(self) -> None:
        check_batch_size(self.batch_size)
        if not isinstance(self.replacement, bool | np.bool_):
            raise InvalidInputError(f"replacement must be True or False; got {self.replacement!r}")

    @property
    def full(self) -> bool:
        """Whether this is the full batch (no sampling noise)."""
        return self.batch_size is None

    def validate(self, samples: int | None) -> None:
        """Check that the batch size fits a problem with ``samples`` samples.

        Parameters
        ----------
        samples : int | None
            Number of training samples n.
        """
        if self.batch_size is None:
            return
        if samples is None:
            raise InvalidInputError(
                f"batch_size={self.batch_size} needs per-sample structure, but the problem is a "
                "single hessian; build it with Quadratic.from_hessians, from_data or from_gram, "
                "or use batch_size=None"
            )
        if not self.replacement and self.batch_size > samples:
            raise InvalidInputError(
                f"batch_size must be at most the number of samples n={samples} when drawing "
                f"without replacement; got {self.batch_size}"
            )

    def mixing(self, samples: int | None) -> Fraction:
        """The weight ``p`` of ``M`` in ``E[H_B ⊗ H_B]`` for a problem with ``samples`` samples.

        Parameters
        ----------
        samples : int | None
            Number of training samples n.
        """
        self.validate(samples)
        if self.batch_size is None:
            return Fraction(0)
        if self.replacement:
            return Fraction(1, self.batch_size)
        assert samples is not None
        if samples == 1:
            return Fraction(0)
        return Fraction(samples - self.batch_size, self.batch_size * (samples - 1))

    def sample_weights(self, samples: int, runs: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``runs`` batches as weights ``w``, ``H_B = Σ_i w_i H_i`` (shape ``(runs, n)``).

        Parameters
        ----------
        samples : int
            Number of training samples n.
        runs : int
            Number of independent Monte Carlo runs.
        rng : np.random.Generator
            Random generator the draws are taken from.
        """
        self.validate(samples)
        if self.batch_size is None:
            return np.full((runs, samples), 1.0 / samples)
        batch = self.batch_size
        if self.replacement:
            indices = rng.integers(0, samples, size=(runs, batch))
        else:
            # the first B entries of a uniform random permutation, one per run
            keys = rng.random((runs, samples))
            indices = (
                np.argpartition(keys, batch - 1, axis=1)[:, :batch]
                if batch < samples
                else (np.broadcast_to(np.arange(samples), (runs, samples)))
            )
        weights = np.zeros((runs, samples))
        np.add.at(weights, (np.arange(runs)[:, None], indices), 1.0 / batch)
        return weights

    def sampler(
        self, samples: int | None, runs: int, rng: np.random.Generator, *, gather: bool = True
    ) -> BatchSampler:
        """A stateful sampler of the batches of ``runs`` independent runs, step after step.

        Every call of :meth:`BatchSampler.next` draws the batches of one step, each run its
        own, independent of the other steps (the i.i.d. law of this class;
        :class:`ReshuffledBatchLaw` returns an :class:`EpochBatchSampler` instead).

        Parameters
        ----------
        samples : int or None
            Number of training samples n (``None`` only for the full batch).
        runs : int
            Number of independent runs.
        rng : np.random.Generator
            Random generator the draws are taken from.
        gather : bool, default True
            Draw small batches as index arrays (:func:`sample_indices`) when the law allows
            it; otherwise as dense weights (:meth:`sample_weights`).

        Examples
        --------
        >>> import numpy as np
        >>> from stability.dynamics import BatchLaw
        >>> batch = BatchLaw(2).sampler(10, 3, np.random.default_rng(0)).next()
        >>> batch[0], batch[1].shape, batch[2].tolist()
        ('gather', (3, 2), [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
        """
        self.validate(samples)
        return BatchSampler(self, samples, runs, rng, gather)

    def count(self, samples: int) -> int:
        """The number of distinct batches: ``1``, ``C(n, B)`` or ``C(n + B − 1, B)``.

        Parameters
        ----------
        samples : int
            Number of training samples n.
        """
        self.validate(samples)
        if self.batch_size is None:
            return 1
        if self.replacement:
            return math.comb(samples + self.batch_size - 1, self.batch_size)
        return math.comb(samples, self.batch_size)

    def outcomes(self, samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Every batch as weights ``w`` (rows, ``H_B = Σ_i w_i H_i``) with its probability.

        Full batch: one outcome ``w = 1/n``; without replacement the ``C(n, B)`` subsets,
        equally likely; with replacement the multisets of size ``B`` with multinomial
        probabilities. Check :meth:`count` first: there may be very many.

        Parameters
        ----------
        samples : int
            Number of training samples n.

        Examples
        --------
        >>> from stability.dynamics import BatchLaw
        >>> weights, probabilities = BatchLaw(1, replacement=True).outcomes(2)
        >>> weights.tolist(), probabilities.tolist()
        ([[1.0, 0.0], [0.0, 1.0]], [0.5, 0.5])
        """
        count = self.count(samples)
        if self.batch_size is None:
            return np.full((1, samples), 1.0 / samples), np.ones(1)
        batch = self.batch_size
        weights = np.zeros((count, samples))
        probabilities = np.empty(count)
        if self.replacement:
            log_total = batch * math.log(samples)
            pool = itertools.combinations_with_replacement(range(samples), batch)
            for row, combo in enumerate(pool):
                counts = np.bincount(combo, minlength=samples)
                weights[row] = counts / batch
                log_ways = math.lgamma(batch + 1) - sum(math.lgamma(c + 1) for c in counts)
                probabilities[row] = math.exp(log_ways - log_total)
        else:
            for row, combo in enumerate(itertools.combinations(range(samples), batch)):
                weights[row, list(combo)] = 1.0 / batch
            probabilities[:] = 1.0 / count
        return weights, probabilities

    def describe(self) -> str:
        """A short human-readable description, e.g. ``"B=4 without replacement"``."""
        if self.batch_size is None:
            return "full batch"
        how = "with" if self.replacement else "without"
        return f"B={self.batch_size} {how} replacement"


@dataclass(frozen=True)
class ReshuffledBatchLaw(BatchLaw):
    """Random reshuffling: each epoch a fresh uniform permutation cut into consecutive batches.

    This is ``torch.utils.data.DataLoader(shuffle=True, batch_size=B)``: every epoch draws
    a new random order of the ``n`` samples and visits them in ``⌈n/B⌉`` batches of ``B``.
    When ``B`` does not divide ``n`` the last batch of every epoch is short, with the
    ``n mod B`` remaining samples, and its loss is the mean over those (the DataLoader
    default ``drop_last=False``); with ``drop_last=True`` those samples are skipped and an
    epoch has ``⌊n/B⌋`` steps. Batches within an epoch are dependent (they never share a
    sample), so steps are *not* i.i.d.: mean-square stability is decided by the epoch's
    second-moment operator (:mod:`stability.reshuffling`, ``docs/theory/reshuffling.md``).

    No single mixing weight describes these steps: :meth:`mixing` and :meth:`sample_weights`
    raise :class:`~stability.errors.InvalidInputError`. The evaluators dispatch on this law
    instead: :func:`stability.critical_learning_rate`, :func:`stability.spectral_radius`,
    :func:`stability.is_stable` and :func:`stability.predicted_mean_square` use the exact epoch
    operator (``docs/theory/reshuffling.md``), and the Monte Carlo engine draws the real epoch
    law through :meth:`sampler`, so :func:`stability.simulation.simulate` accepts reshuffled
    methods.

    Parameters
    ----------
    batch_size : int
        ``B``.
    replacement : bool, default False
        Must be False (a permutation has no repeats).
    drop_last : bool, default False
        Skip the short last batch of each epoch.

    Examples
    --------
    >>> from stability.dynamics import ReshuffledBatchLaw
    >>> law = ReshuffledBatchLaw(4)
    >>> law.batch_sizes(10), ReshuffledBatchLaw(4, drop_last=True).batch_sizes(10)
    ((4, 4, 2), (4, 4))
    >>> law.describe()
    'B=4 reshuffled every epoch (short last batch)'
    """

    drop_last: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size is None:
            raise InvalidInputError("batch_size must be an integer for reshuffled batches")
        if self.replacement:
            raise InvalidInputError(
                "replacement must be False for reshuffled batches (a permutation has no repeats)"
            )
        if not isinstance(self.drop_last, bool | np.bool_):
            raise InvalidInputError(f"drop_last must be True or False; got {self.drop_last!r}")

    def batch_sizes(self, samples: int) -> tuple[int, ...]:
        """The sizes of the batches of one epoch on ``samples`` samples, in order.

        Parameters
        ----------
        samples : int
            Number of training samples n.
        """
        self.validate(samples)
        assert self.batch_size is not None
        full, remainder = divmod(samples, self.batch_size)
        sizes = (self.batch_size,) * full
        if remainder and not self.drop_last:
            sizes += (remainder,)
        return sizes

    def epoch_weights(self, samples: int, runs: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``runs`` epochs as weights ``(runs, steps, n)``: ``H_{B_k} = Σ_i w_ki H_i``.

        Each run draws its own uniform permutation (``argsort`` of uniform keys).

        Parameters
        ----------
        samples : int
            Number of training samples n.
        runs : int
            Number of independent Monte Carlo runs.
        rng : np.random.Generator
            Random generator the draws are taken from.
        """
        sizes = self.batch_sizes(samples)
        order = np.argsort(rng.random((runs, samples)), axis=1)
        weights = np.zeros((runs, len(sizes), samples))
        start = 0
        rows = np.arange(runs)[:, None]
        for step, size in enumerate(sizes):
            weights[rows, step, order[:, start : start + size]] = 1.0 / size
            start += size
        return weights

    def mixing(self, samples: int | None) -> Fraction:
        """Refused: reshuffled steps are not i.i.d., so no single mixing weight describes them.

        Parameters
        ----------
        samples : int | None
            Number of training samples n.
        """
        raise InvalidInputError(
            "reshuffled batches (shuffle=True) are dependent within an epoch, so the per-step "
            "i.i.d. mixing weight does not apply; critical_learning_rate, spectral_radius, "
            "is_stable and predicted_mean_square use the exact epoch operator for this law "
            "(stability.reshuffling has the epoch-level functions)"
        )

    def outcomes(self, samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Refused: a reshuffled step has no law of its own apart from its epoch.

        Parameters
        ----------
        samples : int
            Number of training samples n.
        """
        raise InvalidInputError(
            "reshuffled batches are dependent within an epoch; enumerate epochs with "
            "stability.reshuffling instead of single batches"
        )

    def sample_weights(self, samples: int, runs: int, rng: np.random.Generator) -> np.ndarray:
        """Refused: draw whole epochs with :meth:`epoch_weights` instead.

        Parameters
        ----------
        samples : int
            Number of training samples n.
        runs : int
            Number of independent Monte Carlo runs.
        rng : np.random.Generator
            Random generator the draws are taken from.
        """
        raise InvalidInputError(
            "reshuffled batches are drawn a whole epoch at a time (epoch_weights); the "
            "per-step i.i.d. sampler does not apply"
        )

    def sampler(
        self, samples: int | None, runs: int, rng: np.random.Generator, *, gather: bool = True
    ) -> EpochBatchSampler:
        """A stateful sampler that walks each run's own permutation in consecutive batches.

        At the first step of every epoch each run draws a fresh uniform permutation of the
        ``n`` samples (``argsort`` of uniform keys, as :meth:`epoch_weights`); the steps of
        the epoch take its consecutive slices of sizes :meth:`batch_sizes` (a short last
        batch, or none with ``drop_last=True``). This is the exact law of the epoch, so a
        simulation driven by it needs no i.i.d. assumption.

        Parameters
        ----------
        samples : int or None
            Number of training samples n.
        runs : int
            Number of independent runs.
        rng : np.random.Generator
            Random generator the permutations are drawn from.
        gather : bool, default True
            Return index arrays (else dense weights).

        Examples
        --------
        >>> import numpy as np
        >>> from stability.dynamics import ReshuffledBatchLaw
        >>> sampler = ReshuffledBatchLaw(2).sampler(5, 1, np.random.default_rng(0))
        >>> epoch = [sampler.next()[1][0] for _ in range(3)]  # sizes 2, 2, 1
        >>> sorted(int(i) for batch in epoch for i in batch)  # every sample once
        [0, 1, 2, 3, 4]
        """
        self.validate(samples)
        if samples is None:  # pragma: no cover - validate refuses it
            raise InvalidInputError("reshuffled batches need a problem with samples")
        return EpochBatchSampler(self, samples, runs, rng, gather)

    def describe(self) -> str:
        """A short description, e.g. ``"B=4 reshuffled every epoch (short last batch)"``."""
        last = "last batch dropped" if self.drop_last else "short last batch"
        return f"B={self.batch_size} reshuffled every epoch ({last})"


def sample_indices(
    batch: BatchLaw, samples: int, runs: int, rng: np.random.Generator
) -> np.ndarray | None:
    """Draw ``runs`` batches as index arrays ``(runs, B)``, ``H_B = (1/B) Σ_b H_{i_b}``.

    The law is that of :meth:`BatchLaw.sample_weights`, in ``O(B)`` instead of ``O(n)`` per run:
    with replacement, ``B`` i.i.d. uniform indices; without, a uniform ``B``-subset, drawn
    as ``B`` i.i.d. uniform indices with every run whose indices collide redrawn (rejection
    sampling: conditioned on being distinct, i.i.d. uniform draws are uniform over ordered
    distinct tuples, hence over subsets). Rejection is used only while a row is accepted
    with probability about ``exp(−B(B − 1)/(2n)) ≥ 1/e``; otherwise ``None`` is returned
    and the caller falls back to :meth:`~stability.dynamics.BatchLaw.sample_weights`.

    Parameters
    ----------
    batch : BatchLaw
        The batch law (``None`` is returned for the full batch).
    samples : int
        ``n``.
    runs : int
        The number of batches to draw.
    rng : numpy.random.Generator
        The random stream.

    Returns
    -------
    ndarray of int, shape (runs, B), or None
        Row ``r`` lists the ``B`` sample indices of run ``r`` (with repetitions when drawn
        with replacement); ``None`` when the caller should use ``sample_weights``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.dynamics import BatchLaw
    >>> from stability.dynamics import sample_indices
    >>> drawn = sample_indices(BatchLaw(3), 50, 1000, np.random.default_rng(0))
    >>> drawn.shape, bool(np.all(np.diff(np.sort(drawn, axis=1), axis=1) > 0))
    ((1000, 3), True)
    """
    batch.validate(samples)
    size = batch.batch_size
    if size is None:
        return None
    if batch.replacement:
        return rng.integers(0, samples, size=(runs, size))
    if size * (size - 1) > 2 * samples:
        return None
    indices = rng.integers(0, samples, size=(runs, size))
    pending = np.arange(runs)
    while True:
        ordered = np.sort(indices[pending], axis=1)
        collided = pending[np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)]
        if collided.size == 0:
            return indices
        indices[collided] = rng.integers(0, samples, size=(collided.size, size))
        pending = collided


class BatchSampler:
    """Draws the batches of ``runs`` independent runs, one step per :meth:`next` (i.i.d. steps).

    Build it with :meth:`BatchLaw.sampler`. A step's batches come in one of three forms,
    read by the Monte Carlo kernel (``H_B`` of run ``r``):

    * ``None``: the full batch, ``H_B = H``;
    * ``("gather", indices, weights)``: ``indices`` and ``weights`` of shape ``(runs, b)``,
      ``H_B = Σ_k weights[r, k] H_{indices[r, k]}``;
    * ``("dense", weights)``: ``weights`` of shape ``(runs, n)``, ``H_B = Σ_i w_ri H_i``.

    Parameters
    ----------
    law : BatchLaw
        The batch law.
    samples : int or None
        Number of training samples n.
    runs : int
        Number of independent runs.
    rng : np.random.Generator
        Random generator the draws are taken from.
    gather : bool
        Prefer index arrays when the law allows them.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.dynamics import BatchLaw, BatchSampler
    >>> sampler = BatchSampler(BatchLaw(3, replacement=True), 4, 2, np.random.default_rng(0), False)
    >>> sampler.next()[1].sum(axis=1).tolist()
    [1.0, 1.0]
    """

    def __init__(
        self,
        law: BatchLaw,
        samples: int | None,
        runs: int,
        rng: np.random.Generator,
        gather: bool,
    ) -> None:
        self.law = law
        self.samples = samples
        self.runs = runs
        self.rng = rng
        self.gather = bool(gather)

    def next(self) -> tuple[Any, ...] | None:
        """The batches of the next step (``None``, gathered indices or dense weights)."""
        law = self.law
        if law.full:
            return None
        samples = self.samples
        assert samples is not None
        if self.gather:
            indices = sample_indices(law, samples, self.runs, self.rng)
            if indices is not None:
                size = indices.shape[1]
                return ("gather", indices, np.full((self.runs, size), 1.0 / size))
        return ("dense", law.sample_weights(samples, self.runs, self.rng))


class EpochBatchSampler(BatchSampler):
    """Random reshuffling: each run walks its own fresh permutation, epoch after epoch.

    Build it with :meth:`ReshuffledBatchLaw.sampler`; the batches come in the forms of
    :class:`BatchSampler`. All runs are at the same step of their epoch, so a step's batches
    have one size ``b`` (``B``, or the short last one). The sampler keeps every run's current
    permutation, ``runs × n`` indices (the engine's ``chunk_size`` bounds ``runs``).

    Parameters
    ----------
    law : ReshuffledBatchLaw
        The reshuffled law.
    samples : int
        Number of training samples n.
    runs : int
        Number of independent runs.
    rng : np.random.Generator
        Random generator the permutations are drawn from.
    gather : bool
        Return index arrays (else dense weights).

    Examples
    --------
    >>> import numpy as np
    >>> from stability.dynamics import EpochBatchSampler, ReshuffledBatchLaw
    >>> law = ReshuffledBatchLaw(2, drop_last=True)
    >>> sampler = EpochBatchSampler(law, 5, 4, np.random.default_rng(1), True)
    >>> [sampler.next()[1].shape for _ in range(3)]  # two steps per epoch, then a new one
    [(4, 2), (4, 2), (4, 2)]
    >>> sampler.epochs
    2
    """

    def __init__(
        self,
        law: ReshuffledBatchLaw,
        samples: int,
        runs: int,
        rng: np.random.Generator,
        gather: bool,
    ) -> None:
        super().__init__(law, samples, runs, rng, gather)
        self.sizes = law.batch_sizes(samples)
        self.order: np.ndarray | None = None
        self.position = len(self.sizes)
        self.offset = 0
        self.epochs = 0

    def next(self) -> tuple[Any, ...]:
        """The batches of the next step: consecutive slices of each run's permutation."""
        samples = self.samples
        assert samples is not None
        if self.position == len(self.sizes):
            self.order = np.argsort(self.rng.random((self.runs, samples)), axis=1)
            self.position, self.offset = 0, 0
            self.epochs += 1
        assert self.order is not None
        size = self.sizes[self.position]
        indices = np.ascontiguousarray(self.order[:, self.offset : self.offset + size])
        self.position += 1
        self.offset += size
        if self.gather:
            return ("gather", indices, np.full((self.runs, size), 1.0 / size))
        weights = np.zeros((self.runs, samples))
        weights[np.arange(self.runs)[:, None], indices] = 1.0 / size
        return ("dense", weights)


@dataclass(frozen=True)
class AdditiveNoise:
    """Additive noise ``b_t = (u(η) ⊗ I + w(η) ⊗ H_B) ε_t`` entering the state.

    ``u`` and ``w`` are length-``m`` vectors of polynomials in ``η`` (one per state
    block); ``ε_t`` is a zero-mean random vector in parameter space, independent of the
    state and of the batch draw, with covariance :attr:`covariance`. Variational GD
    (``docs/theory/methods.md``) has ``u = 0``, ``w = −η`` and ``ε`` the mean of ``S``
    posterior draws.

    Attributes
    ----------
    identity_coefficients : tuple of tuples
        ``identity_coefficients[i][k]``: coefficient of ``η^k`` in ``u_i``.
    hessian_coefficients : tuple of tuples
        ``hessian_coefficients[i][k]``: coefficient of ``η^k`` in ``w_i``.
    covariance : float, ndarray or SymPy matrix
        ``Cov(ε)``: a scalar (times the identity), a vector (diagonal) or a matrix.
    sampler : callable, optional
        ``sampler(rng, runs, dimension) -> (runs, dimension)`` array of draws of ``ε``,
        used by the Monte Carlo layer.
    """

    identity_coefficients: tuple[tuple[Coefficient, ...], ...]
    hessian_coefficients: tuple[tuple[Coefficient, ...], ...]
    covariance: Any
    sampler: Callable[[np.random.Generator, int, int], np.ndarray] | None = field(
        default=None, compare=False
    )

    def covariance_matrix(self, dimension: int) -> np.ndarray:
        """``Cov(ε)`` as a dense float ``d × d`` matrix.

        Parameters
        ----------
        dimension : int
            Dimension d of the parameter space.
        """
        covariance = np.asarray(self.covariance, dtype=float)
        if covariance.ndim == 0:
            return float(covariance) * np.eye(dimension)
        if covariance.ndim == 1:
            return np.diag(covariance)
        return covariance

    def evaluate(self, lr: float) -> tuple[np.ndarray, np.ndarray]:
        """The numeric vectors ``u(η)`` and ``w(η)``.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """

        def values(table: tuple[tuple[Coefficient, ...], ...]) -> np.ndarray:
            return np.array(
                [sum(float(c) * float(lr) ** k for k, c in enumerate(row)) for row in table]
            )

        return values(self.identity_coefficients), values(self.hessian_coefficients)

    def shifted(self, shift: Coefficient) -> AdditiveNoise:
        """The noise with ``H_B`` replaced by ``H_B + shift · I``: ``u ← u + shift · w``.

        Parameters
        ----------
        shift : Coefficient
            Shift added to the Hessian.

        Examples
        --------
        >>> from stability.dynamics import AdditiveNoise
        >>> noise = AdditiveNoise(((0,),), ((0, -1),), 1.0)
        >>> noise.shifted(2).identity_coefficients
        ((0, -2),)
        """
        rows = []
        for identity_row, hessian_row in zip(
            self.identity_coefficients, self.hessian_coefficients, strict=True
        ):
            length = max(len(identity_row), len(hessian_row))
            padded_identity = tuple(identity_row) + (0,) * (length - len(identity_row))
            padded_hessian = tuple(hessian_row) + (0,) * (length - len(hessian_row))
            rows.append(
                tuple(
                    a if _is_zero(b) else a + shift * b
                    for a, b in zip(padded_identity, padded_hessian, strict=True)
                )
            )
        return AdditiveNoise(tuple(rows), self.hessian_coefficients, self.covariance, self.sampler)


def _canonical_preconditioner(value: Any) -> tuple[Any, ...]:
    """A positive vector (diagonal ``P``) or an SPD matrix, as a hashable tuple."""
    array = np.array(value, dtype=float)
    if array.ndim not in (1, 2) or array.size == 0:
        raise InvalidInputError(
            "preconditioner must be a positive vector (a diagonal P) or a symmetric positive "
            f"definite matrix; got an array of shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInputError("preconditioner must be finite")
    if array.ndim == 1:
        if np.any(array <= 0):
            raise InvalidInputError(
                "preconditioner given as a vector is the diagonal of P and must be positive; "
                f"its smallest entry is {float(array.min()):.6g}"
            )
        return tuple(float(x) for x in array)
    if array.shape[0] != array.shape[1]:
        raise InvalidInputError(f"preconditioner must be square; got shape {array.shape}")
    if np.max(np.abs(array - array.T)) > 1e-12 * np.max(np.abs(array)):
        raise InvalidInputError("preconditioner must be symmetric")
    if float(np.linalg.eigvalsh(0.5 * (array + array.T))[0]) <= 0:
        raise InvalidInputError("preconditioner must be positive definite")
    return tuple(tuple(float(x) for x in row) for row in 0.5 * (array + array.T))


@dataclass(frozen=True)
class Preconditioning:
    """A frozen preconditioner ``P`` (step ``−η P⁻¹ g``) and a coupled weight decay ``μ``.

    A preconditioned method sees the gradient ``(H_B + μ I) δ`` through ``P⁻¹``. With
    ``u = P^{1/2} δ`` it becomes the plain method on the congruent Hessians
    ``H̃_i = P^{−1/2} (H_i + μ I) P^{−1/2}`` (:mod:`stability.preconditioning`), which is how
    every evaluator analyses it.

    Attributes
    ----------
    matrix : tuple
        ``P``: a tuple of positive floats (a diagonal) or a tuple of rows (SPD).
    shift : float
        ``μ``, the coupled weight decay added to every ``H_i`` before preconditioning.

    Examples
    --------
    >>> from stability.dynamics import Preconditioning
    >>> Preconditioning((4.0, 1.0)).inverse_square_root(2)
    array([[0.5, 0. ],
           [0. , 1. ]])
    """

    matrix: tuple[Any, ...]
    shift: Coefficient = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", _canonical_preconditioner(self.matrix))

    @property
    def diagonal(self) -> bool:
        """Whether ``P`` was given as a diagonal."""
        return not isinstance(self.matrix[0], tuple)

    def dense(self, dimension: int) -> np.ndarray:
        """``P`` as a dense ``d × d`` matrix.

        Parameters
        ----------
        dimension : int
            Dimension d of the parameter space.
        """
        array = np.array(self.matrix, dtype=float)
        size = array.shape[0]
        if size != dimension:
            raise InvalidInputError(
                f"preconditioner has dimension {size} but the problem has d={dimension}"
            )
        return np.diag(array) if array.ndim == 1 else array

    def _power(self, dimension: int, exponent: float) -> np.ndarray:
        matrix = self.dense(dimension)
        if self.diagonal:
            return np.diag(np.diag(matrix) ** exponent)
        values, vectors = np.linalg.eigh(matrix)
        return (vectors * values**exponent) @ vectors.T

    def inverse_factor(self, dimension: int) -> np.ndarray:
        """``P⁻¹`` as applied to row vectors: its diagonal (shape ``(d,)``) for a diagonal
        ``P``, else the symmetric matrix (``v ↦ v * P⁻¹`` or ``v @ P⁻¹``).

        Parameters
        ----------
        dimension : int
            Dimension d of the parameter space.

        Examples
        --------
        >>> from stability.dynamics import Preconditioning
        >>> Preconditioning((4.0, 0.5)).inverse_factor(2)
        array([0.25, 2.  ])
        """
        matrix = self.dense(dimension)
        if self.diagonal:
            return 1.0 / np.diag(matrix)
        inverse = np.linalg.inv(matrix)
        return 0.5 * (inverse + inverse.T)

    def inverse_square_root(self, dimension: int) -> np.ndarray:
        """``P^{−1/2}``.

        Parameters
        ----------
        dimension : int
            Dimension d of the parameter space.
        """
        return self._power(dimension, -0.5)

    def square_root(self, dimension: int) -> np.ndarray:
        """``P^{1/2}``.

        Parameters
        ----------
        dimension : int
            Dimension d of the parameter space.
        """
        return self._power(dimension, 0.5)


@dataclass(frozen=True)
class LinearDynamics:
    """A method's random linear recursion ``z_{t+1} = (F(η) ⊗ I + G(η) ⊗ H_B) z_t + b_t``.

    Attributes
    ----------
    name : str
        A short label for tables and errors (e.g. ``"SGD"``).
    identity_part : MatrixPolynomial
        ``F(η)``, the coefficients of the identity in each state block.
    hessian_part : MatrixPolynomial
        ``G(η)``, the coefficients of the batch Hessian ``H_B`` in each block.
    batch : BatchLaw
        The law of ``H_B``.
    noise : AdditiveNoise or None
        Additive noise, if any.
    state : tuple of str
        Names of the state blocks, e.g. ``("δ_t", "δ_{t-1}")``; the first is the error ``δ``.
    preconditioning : Preconditioning or None
        A frozen preconditioner: then ``F``, ``G`` describe the method in the congruent
        coordinates ``u = P^{1/2} δ`` on ``H̃_i = P^{−1/2} (H_i + μ I) P^{−1/2}``; evaluators
        first apply :func:`stability.preconditioning.congruent`.

    Examples
    --------
    >>> from stability import HeavyBall
    >>> dynamics = HeavyBall(0.5).dynamics()
    >>> dynamics.state
    ('δ_t', 'δ_{t-1}')
    >>> dynamics.identity_part.evaluate(0.1), dynamics.hessian_part.evaluate(0.1)
    (array([[ 1.5, -0.5],
           [ 1. ,  0. ]]), array([[-0.1,  0. ],
           [ 0. ,  0. ]]))
    """

    name: str
    identity_part: MatrixPolynomial
    hessian_part: MatrixPolynomial
    batch: BatchLaw
    noise: AdditiveNoise | None = None
    state: tuple[str, ...] = ("δ_t",)
    preconditioning: Preconditioning | None = None

    def __post_init__(self) -> None:
        if self.identity_part.size != self.hessian_part.size:
            raise InvalidInputError("identity_part and hessian_part must have the same size m")
        if len(self.state) != self.identity_part.size:
            raise InvalidInputError("state must name one block per row of the state map")

    @property
    def blocks(self) -> int:
        """``m``, the number of parameter-sized blocks in the state."""
        return self.identity_part.size

    @property
    def degree(self) -> int:
        """Degree in ``η`` of the state map ``A(η)``."""
        return max(self.identity_part.degree, self.hessian_part.degree)

    def gradient_step_scale(self) -> Coefficient | None:
        """``g`` if the state map is ``I − g η H_B`` (plain gradient step), else ``None``.

        Evaluators use this to take the symmetric generalised eigenvalue route of
        Mulayoff & Michaeli (2023) instead of the general polynomial one. A gradient step
        with weight decay (``I − g η (H_B + μ I)``, ``μ ≠ 0``) gives ``None`` here; see
        :meth:`gradient_step`.
        """
        step = self.gradient_step()
        if step is None or not _is_zero(step[1]):
            return None
        return step[0]

    def gradient_step(self) -> tuple[Coefficient, Coefficient] | None:
        """``(g, μ)`` if the state map is ``I − g η (H_B + μ I)``, else ``None``.

        This is a plain gradient step on the shifted Hessians ``H_i + μ I`` (weight decay
        ``μ``): ``F(η) = 1 − g μ η`` and ``G(η) = −g η``. An evaluator that recognises it
        can take the symmetric route of a plain gradient step on the shifted problem. The
        shift acts on all of parameter space, including ``null(H)``, which then contracts
        by ``1 − g μ η`` per step instead of staying neutral.

        Examples
        --------
        >>> from stability import SGD
        >>> SGD(2).dynamics().gradient_step()
        (1, 0)
        >>> SGD(2, weight_decay=0.5).dynamics().gradient_step()
        (1, Fraction(1, 2))
        >>> SGD(2, weight_decay=0.5).dynamics().gradient_step_scale() is None
        True
        """
        if self.blocks != 1:
            return None
        identity = self.identity_part.coefficients
        powers = self.hessian_part.coefficients
        if len(powers) != 2 or not _is_zero(powers[0][0][0]) or _is_zero(powers[1][0][0]):
            return None
        if not (identity[0][0][0] == 1) or len(identity) > 2:
            return None
        scale = -powers[1][0][0]
        if len(identity) == 1:
            return scale, 0
        return scale, -identity[1][0][0] / scale

    def rescaled(self, curvature: float) -> LinearDynamics:
        """The dynamics in the variable ``ν = η · curvature`` for Hessians divided by ``curvature``.

        ``A = F(η) ⊗ I + G(η) ⊗ H_B`` equals ``F̂(ν) ⊗ I + Ĝ(ν) ⊗ (H_B / c)`` with
        ``F̂_k = F_k / c^k`` and ``Ĝ_k = G_k c^{1−k}``. A one-dimensional evaluator can work
        with curvature one and roots of order one, then divide the root by ``c``. When
        ``η`` enters only through ``η H_B`` (no weight decay) the description is unchanged.

        Parameters
        ----------
        curvature : float
            The curvature scale c > 0 the Hessians are divided by.

        Examples
        --------
        >>> from stability import GD
        >>> GD(weight_decay=1).dynamics().rescaled(2.0).identity_part.coefficients
        (((1.0,),), ((-0.5,),))
        """
        curvature = float(curvature)

        def scaled(polynomial: MatrixPolynomial, offset: int) -> MatrixPolynomial:
            return MatrixPolynomial.from_matrices(
                [
                    [[float(x) * curvature ** (offset - k) for x in row] for row in matrix]
                    for k, matrix in enumerate(polynomial.coefficients)
                ]
            )

        return LinearDynamics(
            name=self.name,
            identity_part=scaled(self.identity_part, 0),
            hessian_part=scaled(self.hessian_part, 1),
            batch=self.batch,
            noise=self.noise,
            state=self.state,
            preconditioning=self.preconditioning,
        )

    def with_hessian_shift(self, shift: Coefficient) -> LinearDynamics:
        """The same method on ``H_B + shift · I`` (weight decay ``μ = shift``).

        ``A = F ⊗ I + G ⊗ (H_B + μ I) = (F + μ G) ⊗ I + G ⊗ H_B``: the identity part
        becomes ``F + μ G``, the Hessian part is unchanged, and additive noise
        ``(u ⊗ I + w ⊗ H_B) ε`` becomes ``((u + μ w) ⊗ I + w ⊗ H_B) ε``. Every evaluator
        reads the result unchanged.

        Parameters
        ----------
        shift : Coefficient
            Shift added to the Hessian.

        Examples
        --------
        >>> from stability import HeavyBall
        >>> shifted = HeavyBall(0.5).dynamics().with_hessian_shift(1)
        >>> shifted.identity_part.evaluate(0.1)
        array([[ 1.4, -0.5],
               [ 1. ,  0. ]])
        """
        if _is_zero(shift):
            return self
        return LinearDynamics(
            name=self.name,
            identity_part=self.identity_part.plus(self.hessian_part, shift),
            hessian_part=self.hessian_part,
            batch=self.batch,
            noise=None if self.noise is None else self.noise.shifted(shift),
            state=self.state,
            preconditioning=self.preconditioning,
        )

    def state_map(self, lr: float, batch_hessian: np.ndarray) -> np.ndarray:
        """The numeric ``A = F(η) ⊗ I + G(η) ⊗ H_B`` for one batch Hessian (``md × md``).

        Parameters
        ----------
        lr : float
            Learning rate η.
        batch_hessian : np.ndarray
            One batch Hessian H_B, shape (d, d).
        """
        size = batch_hessian.shape[-1]
        return np.kron(self.identity_part.evaluate(lr), np.eye(size)) + np.kron(
            self.hessian_part.evaluate(lr), batch_hessian
        )
