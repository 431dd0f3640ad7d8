"""Quadratic problems: a minimum described by its Hessian and per-sample structure.

Theory: ``shared/theory.md`` §1 and §2 (neutral directions) and §3 (Gram form).

A :class:`Quadratic` is immutable and validated on construction. It can hold

* one Hessian (full-batch methods only): :class:`Quadratic` ``(hessian)``;
* per-sample Hessians ``H_i`` with ``H = mean H_i``: :meth:`Quadratic.from_hessians`;
* a data (or per-sample Jacobian) matrix ``X`` with ``H_i = x_i x_iᵀ``: :meth:`Quadratic.from_data`;
* a Gram (NTK) matrix ``K = X Xᵀ`` alone: :meth:`Quadratic.from_gram`.

Every evaluator works on :meth:`Quadratic.reduced`, the problem restricted to
``range(H)`` in the eigenbasis of ``H``: the null space of ``H`` is neutral (the
dynamics never move along it) and is removed before spectra are taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import scipy.linalg

from stability.errors import DimensionError, InvalidTypeError
from stability.validation import (
    DEFAULT_TOLERANCE,
    as_finite_array,
    check_psd,
    check_symmetric,
)

__all__ = ["Quadratic", "ReducedQuadratic", "as_problem"]

Kind = Literal["hessian", "hessians", "data", "gram"]


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class ReducedQuadratic:
    """A problem restricted to ``range(H)`` and written in the eigenbasis of ``H``.

    Attributes
    ----------
    basis : ndarray, shape (d, r)
        Orthonormal eigenvectors of ``H`` with non-zero eigenvalue (columns).
    eigenvalues : ndarray, shape (r,)
        The positive eigenvalues of ``H``, descending.
    samples : int or None
        The number of samples ``n`` (``None`` for a single Hessian).
    vectors : ndarray, shape (n, r), or None
        For rank-one samples, ``y_i = basisᵀ x_i`` so that the reduced ``H_i = y_i y_iᵀ``.
    hessians : ndarray, shape (n, r, r), or None
        Otherwise the reduced per-sample Hessians ``basisᵀ H_i basis``.
    scale : float
        The reduced Hessians are ``scale`` times the stored ones (``1.0`` unless the
        problem was normalised to keep its numbers inside the floating-point range).
    """

    basis: np.ndarray
    eigenvalues: np.ndarray
    samples: int | None
    vectors: np.ndarray | None = None
    hessians: np.ndarray | None = None
    scale: float = 1.0

    @cached_property
    def factors(self) -> np.ndarray | None:
        """Per-sample factors ``G_i`` of shape ``(n, k, r)`` with reduced ``H_i = G_iᵀ G_i``.

        Rank-one samples have ``k = 1`` (``G_i = y_iᵀ``); dense per-sample Hessians are
        factored once by an eigendecomposition (``k`` is the largest per-sample rank).
        ``None`` for a single Hessian.
        """
        if self.vectors is not None:
            return _readonly(self.vectors[:, None, :])
        if self.hessians is None:
            return None
        return _readonly(_factor_hessians(self.hessians))

    @property
    def rank(self) -> int:
        """The dimension ``r`` of ``range(H)``."""
        return int(self.eigenvalues.shape[0])

    @property
    def hessian(self) -> np.ndarray:
        """The reduced Hessian, ``diag(eigenvalues)``."""
        return np.diag(self.eigenvalues)

    def per_sample_hessians(self) -> np.ndarray:
        """The reduced per-sample Hessians as an (n, r, r) array (formed on demand)."""
        if self.hessians is not None:
            return self.hessians
        if self.vectors is not None:
            return np.einsum("ni,nj->nij", self.vectors, self.vectors)
        raise DimensionError("this problem has no per-sample structure (a single Hessian)")

    def sample_sandwich(self, matrix: np.ndarray) -> np.ndarray:
        """``(1/n) Σ_i H_i X H_i`` for a reduced ``X`` (or a stack ``(..., r, r)``).

        The package's one batch sandwich
        (:class:`~stability.numeric.operator.BatchSandwich`) through :attr:`factors`.
        """
        from stability.numeric.operator import BatchSandwich

        return BatchSandwich(self.eigenvalues, self.factors, 1.0).sample(matrix)


class Quadratic:
    """A quadratic minimum: the Hessian ``H`` and, optionally, its per-sample structure.

    The loss near the minimum is ``L(θ) = (1/n) Σ_i ½ δᵀ H_i δ`` with ``δ = θ − θ*``
    (``shared/theory.md`` §1). The object is immutable and validated on construction.

    Parameters
    ----------
    hessian : array_like, shape (d, d)
        A symmetric positive semi-definite Hessian. Problems built this way carry no
        per-sample structure and support full-batch methods only; use
        :meth:`from_hessians`, :meth:`from_data` or :meth:`from_gram` for stochastic ones.
    tolerance : float, optional
        Relative tolerance of the symmetry and positive semi-definiteness checks.

    Raises
    ------
    DimensionError
        If ``hessian`` is not a square two-dimensional array.
    NotSymmetricError
        If ``hessian`` is not symmetric.
    NotPositiveSemidefiniteError
        If ``hessian`` has a negative eigenvalue (the point is not a minimum).
    InvalidInputError
        If ``hessian`` has NaN or infinite entries.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> problem = Quadratic(np.diag([4.0, 1.0, 0.0]))
    >>> problem.dimension, problem.sharpness, problem.reduced().rank
    (3, 4.0, 2)
    >>> Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).hessian
    array([[0.6667, 0.3333],
           [0.3333, 0.6667]])
    """

    __slots__ = (
        "__dict__",
        "_data",
        "_dimension",
        "_hessian",
        "_hessians",
        "_kind",
        "_tolerance",
    )

    def __init__(self, hessian: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> None:
        matrix = as_finite_array(hessian, "hessian", 2)
        matrix = check_symmetric(matrix, "hessian", tolerance)
        check_psd(matrix, "hessian", tolerance)
        self._init(kind="hessian", hessian=matrix, hessians=None, data=None, tolerance=tolerance)

    def _init(
        self,
        *,
        kind: Kind,
        hessian: np.ndarray | None,
        hessians: np.ndarray | None,
        data: np.ndarray | None,
        tolerance: float,
        reduced: ReducedQuadratic | None = None,
    ) -> None:
        # ``hessian`` may be None for data and Gram problems: it is formed on first use
        # (a d × d array is never needed by the thresholds, and d can be 10⁵).
        self._kind = kind
        self._hessian = None if hessian is None else _readonly(hessian)
        self._hessians = None if hessians is None else _readonly(hessians)
        self._data = None if data is None else _readonly(data)
        self._tolerance = tolerance
        if data is not None:
            self._dimension = int(data.shape[1])
        elif hessians is not None:
            self._dimension = int(hessians.shape[-1])
        else:
            self._dimension = int(hessian.shape[0])
        if reduced is not None:
            self.__dict__["_reduced"] = reduced

    @classmethod
    def _new(cls, **fields: Any) -> Quadratic:
        problem = cls.__new__(cls)
        problem._init(**fields)
        return problem

    @classmethod
    def from_hessians(cls, hessians: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> Quadratic:
        """Build a problem from per-sample Hessians; ``H`` is their mean.

        Parameters
        ----------
        hessians : array_like, shape (n, d, d)
            Symmetric positive semi-definite per-sample Hessians ``H_i``.
        tolerance : float, optional
            Relative tolerance of the symmetry and definiteness checks.

        Examples
        --------
        >>> from stability import Quadratic
        >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
        >>> problem.samples, problem.hessian
        (2, array([[2.]]))
        """
        stack = as_finite_array(hessians, "hessians", 3)
        stack = check_symmetric(stack, "hessians", tolerance)
        check_psd(stack, "hessians", tolerance)
        return cls._new(
            kind="hessians",
            hessian=stack.mean(axis=0),
            hessians=stack,
            data=None,
            tolerance=tolerance,
        )

    @classmethod
    def from_data(cls, data: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> Quadratic:
        """Build a problem from a data (or per-sample Jacobian) matrix.

        Row ``x_i`` of ``data`` gives the per-sample loss ``½ (x_iᵀ δ)²``, so
        ``H_i = x_i x_iᵀ`` and ``H = XᵀX / n``. This is the square loss of a linear
        model, or of any model at an interpolating minimum when the rows are the
        per-sample Jacobians (``shared/theory.md`` §1).

        Parameters
        ----------
        data : array_like, shape (n, d)
            One row per sample.
        tolerance : float, optional
            Kept for the rank decisions of the reduction.

        Examples
        --------
        >>> from stability import Quadratic
        >>> Quadratic.from_data([[2.0], [0.0]]).hessian
        array([[2.]])
        """
        matrix = as_finite_array(data, "data", 2)
        return cls._new(kind="data", hessian=None, hessians=None, data=matrix, tolerance=tolerance)

    @classmethod
    def from_gram(cls, gram: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> Quadratic:
        """Build a rank-one-sample problem from its Gram (NTK) matrix ``K = X Xᵀ`` alone.

        The residuals ``r = X δ`` of SGD evolve through ``K`` only
        (``shared/theory.md`` §3, Gram form), so the mean-square thresholds of any
        model are determined by its ``n × n`` Jacobian Gram matrix. The problem is
        written in the coordinates ``Y = V Λ^{1/2}`` (``K = V Λ Vᵀ``), an orthogonal
        change of the parameters restricted to ``range(Xᵀ)``; its dimension is ``rank K``.

        Parameters
        ----------
        gram : array_like, shape (n, n)
            A symmetric positive semi-definite Gram matrix, ``K_ij = x_iᵀ x_j``.
        tolerance : float, optional
            Relative tolerance of the symmetry and definiteness checks.

        Examples
        --------
        >>> import numpy as np
        >>> from stability import Quadratic
        >>> X = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
        >>> by_gram = Quadratic.from_gram(X @ X.T)
        >>> by_data = Quadratic.from_data(X)
        >>> bool(np.isclose(by_gram.sharpness, by_data.sharpness))
        True
        """
        matrix = as_finite_array(gram, "gram", 2)
        matrix = check_symmetric(matrix, "gram", tolerance)
        samples = matrix.shape[0]
        eigenvalues, vectors = np.linalg.eigh(matrix)
        scale = float(np.max(np.abs(eigenvalues)))
        if eigenvalues[0] < -tolerance * scale:
            check_psd(matrix, "gram", tolerance)  # raises with the standard message
        # descending order; the coordinates Y = V Λ^{1/2} have orthogonal columns, so the
        # Hessian YᵀY / n is diagonal and the reduction to range(H) is known exactly
        eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]  # eigh sorts ascending
        rank = int(np.count_nonzero(eigenvalues > _rank_cutoff(scale, samples)))
        coordinates = vectors[:, :rank] * np.sqrt(eigenvalues[:rank])
        curvatures = eigenvalues[:rank] / samples
        if rank == 0:
            coordinates = np.zeros((samples, 1))
            reduced = ReducedQuadratic(
                basis=_readonly(np.zeros((1, 0))),
                eigenvalues=_readonly(np.zeros(0)),
                samples=samples,
                vectors=_readonly(np.zeros((samples, 0))),
            )
        else:
            reduced = ReducedQuadratic(
                basis=_readonly(np.eye(rank)),
                eigenvalues=_readonly(curvatures),
                samples=samples,
                vectors=_readonly(coordinates),
            )
        hessian = np.diag(curvatures) if rank else np.zeros((1, 1))
        return cls._new(
            kind="gram",
            hessian=hessian,
            hessians=None,
            data=coordinates,
            tolerance=tolerance,
            reduced=reduced,
        )

    # ------------------------------------------------------------------ views
    @property
    def kind(self) -> Kind:
        """How the problem was given: ``"hessian"``, ``"hessians"``, ``"data"`` or ``"gram"``."""
        return self._kind

    @property
    def dimension(self) -> int:
        """The number of parameters ``d``."""
        return self._dimension

    @property
    def samples(self) -> int | None:
        """The number of samples ``n``, or ``None`` for a single Hessian."""
        if self._hessians is not None:
            return int(self._hessians.shape[0])
        if self._data is not None:
            return int(self._data.shape[0])
        return None

    @property
    def hessian(self) -> np.ndarray:
        """The mean Hessian ``H`` (read-only; for data problems formed on first access)."""
        if self._hessian is None:
            data = self._data
            self._hessian = _readonly(data.T @ data / data.shape[0])
        return self._hessian

    @property
    def data(self) -> np.ndarray | None:
        """The rows ``x_i`` for rank-one samples (``from_data``, ``from_gram``), else ``None``."""
        return self._data

    @property
    def rank_one(self) -> bool:
        """Whether every per-sample Hessian is given as ``x_i x_iᵀ``."""
        return self._data is not None

    @property
    def tolerance(self) -> float:
        """Relative tolerance used by the checks and rank decisions."""
        return self._tolerance

    def per_sample_hessians(self) -> np.ndarray:
        """The per-sample Hessians as an (n, d, d) array (formed on demand for data).

        Raises
        ------
        DimensionError
            If the problem was built from a single Hessian.
        """
        if self._hessians is not None:
            return self._hessians
        if self._data is not None:
            return np.einsum("ni,nj->nij", self._data, self._data)
        raise DimensionError(
            "this problem was built from a single hessian and has no per-sample Hessians; "
            "use Quadratic.from_hessians, from_data or from_gram"
        )

    @cached_property
    def _spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        eigenvalues, vectors = np.linalg.eigh(self.hessian)
        return eigenvalues[::-1], vectors[:, ::-1]

    @property
    def sharpness(self) -> float:
        """``λ_max(H)``, the largest Hessian eigenvalue."""
        if self._data is not None:  # from the reduction: no d × d eigenproblem
            eigenvalues = self.reduced().eigenvalues
            return float(eigenvalues[0]) if eigenvalues.size else 0.0
        return float(max(self._spectrum[0][0], 0.0))

    def reduced(self) -> ReducedQuadratic:
        """The problem restricted to ``range(H)`` in the eigenbasis of ``H`` (cached).

        Directions in ``null(H)`` are neutral: every ``H_i`` vanishes on them because
        the ``H_i`` are positive semi-definite, so no method moves along them
        (``shared/theory.md`` §2). The rank decision keeps eigenvalues above
        ``max(d, n) · 64 · eps · λ_max``.
        """
        return self._reduced

    @cached_property
    def _reduced(self) -> ReducedQuadratic:
        n = self.samples
        if self._data is not None:
            left, singular, right_t = _thin_svd(self._data)
            eigenvalues = singular**2 / self._data.shape[0]
            keep = eigenvalues > _rank_cutoff(
                float(eigenvalues.max(initial=0.0)), max(self._data.shape)
            )
            basis = right_t[keep].T
            vectors = left[:, keep] * singular[keep]
            return ReducedQuadratic(
                basis=_readonly(basis),
                eigenvalues=_readonly(eigenvalues[keep]),
                samples=n,
                vectors=_readonly(vectors),
            )
        eigenvalues, vectors = self._spectrum
        keep = eigenvalues > _rank_cutoff(
            float(max(eigenvalues[0], 0.0)), max(self.dimension, n or 1)
        )
        basis = vectors[:, keep]
        hessians = None
        if self._hessians is not None:
            hessians = np.einsum("ia,nij,jb->nab", basis, self._hessians, basis, optimize=True)
            hessians = 0.5 * (hessians + np.swapaxes(hessians, 1, 2))
        return ReducedQuadratic(
            basis=_readonly(basis),
            eigenvalues=_readonly(eigenvalues[keep]),
            samples=n,
            hessians=None if hessians is None else _readonly(hessians),
        )

    def __repr__(self) -> str:
        n = "" if self.samples is None else f", samples={self.samples}"
        return f"Quadratic(kind={self.kind!r}, dimension={self.dimension}{n})"


def _thin_svd(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``matrix = W diag(s) Vᵀ`` with ``k = min(n, d)`` columns, cheap when n ≪ d or n ≫ d.

    A very rectangular matrix is first reduced by a Householder QR of its tall
    orientation, then the small ``k × k`` triangle is decomposed (the classical
    R-bidiagonalisation route: backward stable, as accurate as a direct SVD, and
    ``O(max(n, d) k²)`` work; for n = 200, d = 100 000 it is several times faster than
    LAPACK's ``gesdd`` on the full matrix).
    """
    rows, cols = matrix.shape
    if max(rows, cols) < 2 * min(rows, cols):
        return np.linalg.svd(matrix, full_matrices=False)
    if rows >= cols:  # X = Q R, R = U S Vᵀ  ⇒  X = (Q U) S Vᵀ
        q, r = scipy.linalg.qr(matrix, mode="economic", check_finite=False)
        u, s, vt = np.linalg.svd(r)
        return q @ u, s, vt
    # Xᵀ = Q R  ⇒  X = Rᵀ Qᵀ; Rᵀ = U S Wᵀ  ⇒  X = U S (Q W)ᵀ
    q, r = scipy.linalg.qr(matrix.T, mode="economic", check_finite=False)
    u, s, wt = np.linalg.svd(r.T)
    return u, s, (q @ wt.T).T


def _factor_hessians(hessians: np.ndarray) -> np.ndarray:
    """Factors ``G_i`` (``(n, k, r)``, ``H_i = G_iᵀ G_i``) of symmetric PSD ``H_i``.

    ``k`` is the largest numerical rank over the samples; rows of a sample of smaller
    rank are zero. Negative rounding-level eigenvalues are dropped.
    """
    samples, size = hessians.shape[0], hessians.shape[-1]
    if samples == 0 or size == 0:
        return np.zeros((samples, 0, size))
    eigenvalues, vectors = np.linalg.eigh(hessians)
    top = np.max(np.abs(eigenvalues), axis=1, keepdims=True)
    keep = eigenvalues > _rank_cutoff(1.0, size) * top
    rank = max(int(keep.sum(axis=1).max()), 1)
    order = np.argsort(-eigenvalues, axis=1)[:, :rank]
    values = np.take_along_axis(np.where(keep, eigenvalues, 0.0), order, axis=1)
    columns = np.take_along_axis(vectors, order[:, None, :], axis=2)
    return np.sqrt(values)[:, :, None] * np.swapaxes(columns, 1, 2)


def _rank_cutoff(scale: float, size: int) -> float:
    return 64.0 * max(size, 1) * np.finfo(float).eps * scale


def as_problem(problem: Any) -> Quadratic:
    """Check that ``problem`` is a :class:`Quadratic` (else :class:`InvalidTypeError`)."""
    if not isinstance(problem, Quadratic):
        raise InvalidTypeError(
            f"problem must be a stability.Quadratic; got {type(problem).__name__}"
        )
    return problem
