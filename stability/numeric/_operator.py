"""The second-moment operator ``T(S) = E[A S Aᵀ]`` on the reduced problem: the one implementation.

Theory: ``docs/theory/operator.md``. A bound system (:func:`stability._system.bind`) holds a
problem reduced to ``range(H)`` in the eigenbasis of ``H`` (``H = Λ = diag(λ)``), with
per-sample factors ``G_i`` (``H_i = G_iᵀ G_i``, shape ``(n, k, r)``), the mixing weight ``p``
of the batch law and the numeric coefficients of ``F(η)`` and ``G(η)``. With the state map
``A = F ⊗ I + G ⊗ H_B`` acting on ``m`` blocks of size ``r``,

    T(S) = (F⊗I) S (F⊗I)ᵀ + [(F⊗I) S (G⊗I)ᵀ](I⊗Λ) + (I⊗Λ)[(G⊗I) S (F⊗I)ᵀ]
           + E_B[(I⊗H_B) Z (I⊗H_B)],          Z = (G⊗I) S (G⊗I)ᵀ,

and the batch sandwich ``E[H_B X H_B] = (1 − p) Λ X Λ + p (1/n) Σ_i H_i X H_i``
(:class:`BatchSandwich`) costs ``O(n k r²)`` per ``r × r`` block through the factors.

Everything that needs ``T`` reads it from here:

* :class:`SymmetricLayout`: the one ``svec`` layout (orthonormal coordinates of symmetric
  matrices, :func:`numpy.triu_indices` order, off-diagonal entries times ``√2``);
* :class:`BatchSandwich`: the one batch sandwich, with a fast rank-one kernel (one ``trmm``
  and two ``syrk`` calls) on ``svec`` vectors, and an optional Hessian shift ``μ``
  (``E[(H_B + μ) X (H_B + μ)]``, the gradient step with weight decay);
* :class:`SecondMomentOperator`: application of ``T(η)`` (and of its adjoint) on block
  moments or ``svec`` vectors, its dense matrix, the coefficients ``T_q`` of
  ``T(η) = Σ_q η^q T_q``, and for gradient steps the symmetric pencil
  ``K = C^{-1/2} D C^{-1/2}`` (:class:`GradientPencil`) and ``2C − g η D``.

The general (non-BLAS) code paths use only ``+``, ``*`` and ``@``, so the same operator
runs on arrays of :mod:`mpmath` numbers (``dtype=object``) for the high-precision route.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.linalg import blas
from scipy.sparse.linalg import LinearOperator

__all__ = [
    "BatchSandwich",
    "GradientPencil",
    "SecondMomentOperator",
    "SymmetricLayout",
    "second_moment_operator_of",
]


def _root_two(dtype: Any) -> Any:
    if np.dtype(dtype) == np.dtype(object):
        import mpmath

        return mpmath.sqrt(2)
    return math.sqrt(2.0)


# ----------------------------------------------------------------------------- layout
class SymmetricLayout:
    """The ``svec`` coordinates of symmetric ``r × r`` matrices.

    Coordinate ``k`` is entry ``(rows[k], cols[k])``, ``rows ≤ cols`` in
    :func:`numpy.triu_indices` order, times ``weights[k]`` (``1`` on the diagonal,
    ``√2`` off it), so that ``svec(A) · svec(B) = tr(A B)``.

    Parameters
    ----------
    size : int
        ``r``.
    dtype : numpy dtype, default float64
        ``object`` for :mod:`mpmath` numbers (exact ``√2``).

    Examples
    --------
    >>> import numpy as np
    >>> from stability.numeric import SymmetricLayout
    >>> layout = SymmetricLayout(2)
    >>> x = layout.pack(np.array([[1.0, 2.0], [2.0, 3.0]]))
    >>> x.round(4), layout.unpack(x)
    (array([1.    , 2.8284, 3.    ]), array([[1., 2.],
           [2., 3.]]))
    """

    def __init__(self, size: int, dtype: Any = np.float64) -> None:
        self.size_of_matrix = int(size)
        rows, cols = np.triu_indices(self.size_of_matrix)
        index = np.int32 if self.size_of_matrix**2 < 2**31 else np.int64
        self.diagonal = rows == cols
        self._rows, self._cols = rows.astype(index), cols.astype(index)
        if np.dtype(dtype) == np.dtype(object):
            root = _root_two(object)
            self.weights = np.array([1 if d else root for d in self.diagonal], dtype=object)
        else:
            self.weights = np.where(self.diagonal, 1.0, math.sqrt(2.0))
        # positions in a column-major (Fortran) r × r array
        self.upper = (rows + cols * self.size_of_matrix).astype(index)

    @property
    def rows(self) -> np.ndarray:
        """Row of each coordinate."""
        return self._rows

    @property
    def cols(self) -> np.ndarray:
        """Column of each coordinate."""
        return self._cols

    @property
    def dimension(self) -> int:
        """``r (r + 1) / 2``."""
        return int(self.upper.size)

    def pack(self, matrix: np.ndarray) -> np.ndarray:
        """``svec`` of a symmetric matrix or a stack ``(..., r, r)`` (upper triangle read).

        Parameters
        ----------
        matrix : np.ndarray
            The matrix X acted on (or a stack of them on the last two axes).
        """
        return matrix[..., self._rows, self._cols] * self.weights

    def unpack(self, vector: np.ndarray) -> np.ndarray:
        """The symmetric matrix (or stack) with ``svec`` coordinates ``vector`` (``(..., N)``).

        Parameters
        ----------
        vector : np.ndarray
            A vector in the operator's (packed) coordinates.
        """
        r = self.size_of_matrix
        vector = np.asarray(vector)
        dtype = object if vector.dtype == object else np.result_type(vector, np.float32)
        matrix = np.zeros((*vector.shape[:-1], r, r), dtype=dtype)
        values = vector / self.weights
        matrix[..., self._rows, self._cols] = values
        matrix[..., self._cols, self._rows] = values
        return matrix

    def pairwise(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(values[rows], values[cols])`` for a length-``r`` vector.

        Parameters
        ----------
        values : np.ndarray
            A length-r vector.
        """
        return values[self._rows], values[self._cols]

    def basis(self) -> np.ndarray:
        """The orthonormal basis as a stack of ``N`` symmetric matrices ``(N, r, r)``."""
        dtype = object if self.weights.dtype == object else float
        eye = np.eye(self.dimension, dtype=float).astype(dtype)
        return self.unpack(eye)


# ------------------------------------------------------------------ batch sandwich
class BatchSandwich:
    """``E[(H_B + μ I) X (H_B + μ I)]`` for the reduced problem, through per-sample factors.

    ``E[H_B X H_B] = (1 − p) Λ X Λ + p M(X)`` with ``M(X) = (1/n) Σ_i G_iᵀ (G_i X G_iᵀ) G_i``
    (``O(n k r²)`` per matrix), plus ``μ (Λ X + X Λ) + μ² X`` for a shift ``μ``.

    Parameters
    ----------
    eigenvalues : ndarray, shape (r,) or (r, r)
        ``λ``, the diagonal of the reduced ``H`` (eigen-coordinates), or the mean Hessian
        ``H`` itself as a matrix (any orthonormal coordinates, e.g. the problem's own).
    factors : ndarray, shape (n, k, r), or None
        Per-sample factors (``None``: no per-sample term, ``p`` must be zero).
    mixing : float
        ``p``.
    shift : float, default 0
        ``μ``.
    dtype : numpy dtype, default float64
        ``float32`` for a fast approximate operator; ``object`` for mpmath numbers.
    hessians : ndarray, shape (n, r, r), or None
        The per-sample Hessians given whole instead of through ``factors`` (the mpmath
        route); ``None`` uses the factors.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.numeric import BatchSandwich
    >>> reduced = Quadratic.from_data([[1.0, 0.0], [1.0, 1.0]]).reduced()
    >>> sandwich = BatchSandwich(reduced.eigenvalues, reduced.factors, mixing=1.0)
    >>> X = np.array([[1.0, 0.5], [0.5, 2.0]])
    >>> expected = np.mean([h @ X @ h for h in reduced.per_sample_hessians()], axis=0)
    >>> bool(np.allclose(sandwich(X), expected))
    True
    """

    def __init__(
        self,
        eigenvalues: np.ndarray,
        factors: np.ndarray | None,
        mixing: Any,
        *,
        shift: Any = 0.0,
        dtype: Any = np.float64,
        hessians: np.ndarray | None = None,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.hessians = None if hessians is None else np.asarray(hessians, dtype=self.dtype)
        self.eigenvalues = np.asarray(eigenvalues, dtype=self.dtype)
        self.diagonal_mean = self.eigenvalues.ndim == 1
        self.mixing = mixing
        self.shift = shift
        self.rank = int(self.eigenvalues.shape[0])
        self.factors = None if factors is None else np.asarray(factors, dtype=self.dtype)
        if self.hessians is not None:  # per-sample Hessians given whole (mpmath route)
            self.samples = max(int(self.hessians.shape[0]), 1)
            self.width = self.rank
        else:
            self.samples = 1 if self.factors is None else max(int(self.factors.shape[0]), 1)
            self.width = 0 if self.factors is None else int(self.factors.shape[1])
        if self.mixing and self.factors is None and self.hessians is None:
            raise ValueError("a stochastic batch law needs per-sample factors")
        if self.diagonal_mean:
            self._outer = np.multiply.outer(self.eigenvalues, self.eigenvalues)

    def left(self, matrix: np.ndarray) -> np.ndarray:
        """``H X`` for ``X`` of shape ``(..., r, r)``.

        Parameters
        ----------
        matrix : np.ndarray
            The matrix X acted on (or a stack of them on the last two axes).
        """
        if self.diagonal_mean:
            return self.eigenvalues[:, None] * matrix
        return self.eigenvalues @ matrix

    def right(self, matrix: np.ndarray) -> np.ndarray:
        """``X H`` for ``X`` of shape ``(..., r, r)``.

        Parameters
        ----------
        matrix : np.ndarray
            The matrix X acted on (or a stack of them on the last two axes).
        """
        if self.diagonal_mean:
            return matrix * self.eigenvalues
        return matrix @ self.eigenvalues

    def mean(self, matrix: np.ndarray) -> np.ndarray:
        """``H X H``.

        Parameters
        ----------
        matrix : np.ndarray
            The matrix X acted on (or a stack of them on the last two axes).
        """
        if self.diagonal_mean:
            return matrix * self._outer
        return self.eigenvalues @ matrix @ self.eigenvalues

    @property
    def work(self) -> float:
        """Multiply-adds of one application of the per-sample term (``≈ 2 n k r²``)."""
        return 2.0 * self.samples * max(self.width, 1) * self.rank**2

    def sample(self, matrix: np.ndarray) -> np.ndarray:
        """``M(X) = (1/n) Σ_i H_i X H_i`` for ``X`` of shape ``(..., r, r)`` (any ``X``).

        Parameters
        ----------
        matrix : np.ndarray
            The matrix X acted on (or a stack of them on the last two axes).
        """
        factors = self.factors
        matrix = np.asarray(matrix)
        if factors is None and self.hessians is not None and matrix.ndim == 2:
            total = self.hessians[0] @ matrix @ self.hessians[0]
            for hessian in self.hessians[1:]:
                total = total + hessian @ matrix @ hessian
            return total / self.samples
        if matrix.ndim > 2:
            lead = matrix.shape[:-2]
            flat = matrix.reshape(-1, self.rank, self.rank)
            result = [self.sample(item) for item in flat]
            if not result:
                return np.zeros(matrix.shape, dtype=self.dtype)
            return np.array(result).reshape(*lead, self.rank, self.rank)
        n, k, r = factors.shape
        if self.dtype != np.dtype(object) and matrix.dtype != self.dtype:
            matrix = matrix.astype(self.dtype)
        if k == 1:
            y = factors[:, 0, :]
            weights = np.sum((y @ matrix) * y, axis=1)
            return (y.T * weights) @ y / n
        product = factors @ matrix  # (n, k, r): G_i X
        inner = product @ np.swapaxes(factors, 1, 2)  # (n, k, k): G_i X G_iᵀ
        outer = np.swapaxes(factors, 1, 2) @ inner  # (n, r, k): G_iᵀ W_i
        return outer.transpose(1, 0, 2).reshape(r, n * k) @ factors.reshape(n * k, r) / n

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        """``E[(H_B + μ) X (H_B + μ)]`` for ``X`` of shape ``(..., r, r)``."""
        matrix = np.asarray(matrix)
        if self.mixing == 1:
            result = self.sample(matrix)
        else:
            result = (1 - self.mixing) * self.mean(matrix)
            if self.mixing:
                result = result + self.mixing * self.sample(matrix)
        if self.shift:
            result = result + self.shift * (self.left(matrix) + self.right(matrix))
            result = result + self.shift**2 * matrix
        return result

    def with_shift(self, shift: Any) -> BatchSandwich:
        """The same sandwich with the Hessian shift ``μ``.

        Parameters
        ----------
        shift : Any
            Shift added to the Hessian.
        """
        return BatchSandwich(
            self.eigenvalues,
            self.factors,
            self.mixing,
            shift=shift,
            dtype=self.dtype,
            hessians=self.hessians,
        )

    def diagonal(self, layout: SymmetricLayout) -> np.ndarray:
        """The diagonal of the sandwich in ``svec`` coordinates (``O(n k² r²)``).

        Parameters
        ----------
        layout : SymmetricLayout
            Packing of symmetric matrices into vectors.
        """
        left, right = layout.pairwise(self.eigenvalues)
        result = (1 - self.mixing) * left * right
        if self.mixing:
            # ⟨E_ab, H E_ab H⟩ = H_aa² on the diagonal, H_ab² + H_aa H_bb off it; with
            # P_i[(k, l), a] = G_ka G_la, Σ_i H_ab² = (Pᵀ P)_ab and Σ_i H_aa H_bb = (Δᵀ Δ)_ab
            factors = self.factors
            n, k, r = factors.shape
            pairs = (factors[:, :, None, :] * factors[:, None, :, :]).reshape(n * k * k, r)
            squares = pairs.T @ pairs
            diagonals = np.einsum("nka,nka->na", factors, factors)
            products = diagonals.T @ diagonals
            rows, cols = layout.rows, layout.cols
            total = np.where(
                layout.diagonal, squares[rows, cols], squares[rows, cols] + products[rows, cols]
            )
            result = result + self.mixing * total / self.samples
        if self.shift:
            result = result + self.shift * (left + right) + self.shift**2
        return result

    def svec_kernel(
        self,
        layout: SymmetricLayout,
        scale_in: np.ndarray | None = None,
        scale_out: np.ndarray | None = None,
    ) -> Callable[[np.ndarray], np.ndarray]:
        """``x ↦ scale_out ∘ svec(M(unsvec(scale_in ∘ x)))``, the per-sample term on ``svec``.

        Rank-one factors (``k = 1``) in float arithmetic use the BLAS-3 kernel: ``w_i =
        y_iᵀ X y_i`` from one triangular product (``trmm``) and ``Yᵀ diag(w) Y`` from two
        rank-``n`` updates (``syrk``) of the rows with positive and negative ``w``.

        Parameters
        ----------
        layout : SymmetricLayout
            Packing of symmetric matrices into vectors.
        scale_in : np.ndarray | None, default None
            Entry-wise scale applied to the input vector first; None for none.
        scale_out : np.ndarray | None, default None
            Entry-wise scale applied to the result; None for none.
        """
        if self.width != 1 or self.dtype not in (np.dtype(np.float64), np.dtype(np.float32)):

            def general(vector: np.ndarray) -> np.ndarray:
                if scale_in is not None:
                    vector = scale_in * vector
                result = layout.pack(self.sample(layout.unpack(vector)))
                return result if scale_out is None else scale_out * result

            return general
        return _RankOneKernel(self, layout, scale_in, scale_out)


class _RankOneKernel:
    """The BLAS-3 kernel of :meth:`BatchSandwich.svec_kernel` for rank-one samples."""

    def __init__(
        self,
        sandwich: BatchSandwich,
        layout: SymmetricLayout,
        scale_in: np.ndarray | None,
        scale_out: np.ndarray | None,
    ) -> None:
        dtype = sandwich.dtype
        self.dtype = dtype
        self.layout = layout
        self.vectors = np.asfortranarray(sandwich.factors[:, 0, :], dtype=dtype)
        half = np.where(layout.diagonal, 0.5, math.sqrt(0.5))
        factor_in = half if scale_in is None else half * scale_in
        factor_out = layout.weights / sandwich.samples
        factor_out = factor_out if scale_out is None else factor_out * scale_out
        self.factor_in = np.asarray(factor_in).astype(dtype)
        self.factor_out = np.asarray(factor_out).astype(dtype)
        rank = sandwich.rank
        self.triangle = np.zeros((rank, rank), dtype=dtype, order="F")
        self.buffer = np.empty(layout.dimension, dtype=dtype)
        double = dtype == np.float64
        self.trmm = blas.dtrmm if double else blas.strmm
        self.syrk = blas.dsyrk if double else blas.ssyrk

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        y = self.vectors
        flat = self.triangle.reshape(-1, order="F")
        # triu(X) with a halved diagonal: X = U + Uᵀ, so yᵀ X y = 2 yᵀ U y
        np.multiply(vector, self.factor_in, out=self.buffer)
        flat[self.layout.upper] = self.buffer
        product = self.trmm(1.0, self.triangle, y, side=1, lower=0)
        weights = 2.0 * np.einsum("ij,ij->i", product, y)
        result = self._weighted_gram(weights).reshape(-1, order="F")[self.layout.upper]
        result *= self.factor_out
        return result

    def _weighted_gram(self, weights: np.ndarray) -> np.ndarray:
        """Upper triangle of ``Yᵀ diag(weights) Y`` by two ``syrk`` updates."""
        y = self.vectors
        r = y.shape[1]
        result = np.zeros((r, r), dtype=self.dtype, order="F")
        for sign in (1.0, -1.0):
            chosen = sign * weights > 0
            if not chosen.any():
                continue
            rows = y[chosen] * np.sqrt(sign * weights[chosen])[:, None].astype(self.dtype)
            # rows is C-ordered (k × r): its transpose is a Fortran (r × k) array, no copy
            result = self.syrk(
                sign, np.asarray(rows).T, beta=1.0, c=result, trans=0, lower=0, overwrite_c=1
            )
        return result


# ---------------------------------------------------------------- gradient pencil
class GradientPencil:
    """``K = C^{-1/2} D C^{-1/2}`` of a gradient step on ``svec(range H)``, matrix-free.

    For ``A = I − g η (H_B + μ I)``, ``T(η) = I − 2 g η C + g² η² D`` with
    ``C = ½ (H + μ) ⊕ (H + μ)`` (the Schur multiplier by ``c_ab = (λ_a + λ_b)/2 + μ``) and
    ``D X = E[(H_B + μ) X (H_B + μ)]``; ``η* = 2 / (g λ_max(K))`` on ``range(H)``
    (Mulayoff & Michaeli 2023).

    Parameters
    ----------
    reduced : ReducedQuadratic
        The problem restricted to ``range(H)``.
    mixing : float
        The weight ``p`` of the per-sample term.
    dtype : numpy dtype, default float64
        Arithmetic precision of the applications.
    layout : SymmetricLayout, optional
        A layout to share.
    shift : float, default 0
        ``μ``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.numeric import GradientPencil
    >>> reduced = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).reduced()
    >>> pencil = GradientPencil(reduced, mixing=1.0)   # SGD, B = 1 (n = 3)
    >>> round(float(2 / np.linalg.eigvalsh(pencil.matrix())[-1]), 10)  # 3 − √3
    1.2679491924
    """

    def __init__(
        self,
        reduced: Any,
        mixing: float,
        dtype: Any = np.float64,
        layout: SymmetricLayout | None = None,
        *,
        shift: float = 0.0,
    ) -> None:
        self.reduced = reduced
        self.mixing = float(mixing)
        self.shift = float(shift)
        self.dtype = np.dtype(dtype)
        self.layout = SymmetricLayout(reduced.rank) if layout is None else layout
        eigenvalues = np.asarray(reduced.eigenvalues, dtype=float)
        left, right = self.layout.pairwise(eigenvalues)
        curvature = 0.5 * (left + right) + self.shift
        self.curvature = curvature
        self._inverse_root = (1.0 / np.sqrt(curvature)).astype(self.dtype)
        diagonal = (1.0 - self.mixing) * left * right
        if self.shift:
            diagonal = diagonal + self.shift * (left + right) + self.shift**2
        self._diagonal = (diagonal / curvature).astype(self.dtype)
        self._sample_term = None
        if self.mixing:
            sandwich = BatchSandwich(eigenvalues, reduced.factors, 1.0, dtype=self.dtype)
            self._sample_term = sandwich.svec_kernel(
                self.layout, self._inverse_root, self.mixing * self._inverse_root
            )
        self.applications = 0

    @property
    def size(self) -> int:
        """The number of ``svec`` coordinates, ``r (r + 1) / 2``."""
        return self.layout.dimension

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        """``K x``."""
        self.applications += 1
        vector = np.asarray(vector, dtype=self.dtype).reshape(-1)
        result = self._diagonal * vector
        if self._sample_term is not None:
            result += self._sample_term(vector)
        return result

    def matrix(self) -> np.ndarray:
        """The dense matrix of ``K``, assembled column by column (small problems, tests)."""
        eye = np.eye(self.size, dtype=self.dtype)
        columns = np.column_stack([self(eye[:, k]) for k in range(self.size)])
        return 0.5 * (columns + columns.T)

    def start_vector(self) -> np.ndarray:
        """``svec(C^{1/2} I)``: positive definite, so it overlaps the top mode."""
        return np.where(self.layout.diagonal, np.sqrt(self.curvature), 0.0)

    def linear_operator(self) -> LinearOperator:
        """``K`` as a :class:`scipy.sparse.linalg.LinearOperator`."""
        return LinearOperator((self.size, self.size), matvec=self, dtype=self.dtype)

    def growth(self, scaled_rate: float) -> Callable[[np.ndarray], np.ndarray]:
        """``x ↦ (2C − γ D) x`` with ``γ = g η`` (so ``T = I − γ (2C − γ D)``), on ``svec``.

        Applied as ``C^{1/2} (2 I − γ K) C^{1/2}``; its smallest eigenvalue ``μ`` gives
        ``ρ(T) = 1 − γ μ`` without cancellation when ``ρ`` is close to one.

        Parameters
        ----------
        scaled_rate : float
            The scaled rate γ = g η.
        """
        root = np.sqrt(self.curvature)
        gamma = float(scaled_rate)

        def apply(vector: np.ndarray) -> np.ndarray:
            vector = np.asarray(vector, dtype=float)
            if vector.ndim == 2:
                return np.column_stack([apply(column) for column in vector.T])
            inner = root * vector
            return root * (2.0 * inner - gamma * self(inner))

        return apply


# ------------------------------------------------------------------ the operator
def _congruence(left: np.ndarray, moment: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Blocks ``Σ_kl left_ik S_kl right_jl`` of ``(left ⊗ I) S (right ⊗ I)ᵀ``, ``(m, m, …, r, r)``.

    Trailing axes after the two block axes are carried along (a stack of moments).
    """
    partial = np.tensordot(left, moment, axes=(1, 0))
    return np.swapaxes(np.tensordot(right, partial, axes=(1, 1)), 0, 1)


class SecondMomentOperator:
    """``T(η) S = E[A S Aᵀ]`` of a bound system on its reduced problem, matrix-free.

    ``S`` is the ``(m r) × (m r)`` second moment of the reduced state (block ``k``,
    coordinate ``a`` at index ``k r + a``), given as blocks ``(m, m, r, r)`` or as ``svec``
    coordinates. Learning rates are the system's (``η``); the scale of the stored problem
    is folded in by the system.

    Parameters
    ----------
    system : System
        From :func:`stability._system.bind`.
    dtype : numpy dtype, default float64
        ``object`` runs the same operator on mpmath numbers (then ``eigenvalues`` and
        ``factors`` must be given in that arithmetic).
    hessians : ndarray, optional
        Per-sample Hessians ``(n, r, r)`` instead of factors (the mpmath route).
    eigenvalues, factors : ndarray, optional
        Override the reduced problem's (e.g. in mpmath numbers, or other coordinates:
        ``eigenvalues`` may be the mean Hessian as a matrix, ``factors`` the per-sample
        factors in the same coordinates).
    mixing, identity, hessian, rate_factor : optional
        Override the system's ``p``, coefficient tables (same arithmetic) and rate factor
        (``1`` with the tables in ``η`` acting on true Hessians).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import HeavyBall, Quadratic
    >>> from stability.numeric import SecondMomentOperator
    >>> from stability._system import bind
    >>> operator = SecondMomentOperator(bind(Quadratic(np.diag([2.0, 1.0])), HeavyBall(0.5)))
    >>> round(float(max(abs(np.linalg.eigvals(operator.matrix(0.5))))), 12)  # ρ(A)², λ = 2
    0.5
    """

    def __init__(
        self,
        system: Any,
        *,
        dtype: Any = np.float64,
        eigenvalues: np.ndarray | None = None,
        factors: np.ndarray | None = None,
        mixing: Any = None,
        identity: np.ndarray | None = None,
        hessian: np.ndarray | None = None,
        rate_factor: float | None = None,
        hessians: np.ndarray | None = None,
    ) -> None:
        self.system = system
        self.rate_factor = system.rate_factor if rate_factor is None else rate_factor
        self.dtype = np.dtype(dtype)
        if eigenvalues is None:
            eigenvalues = system.reduced.eigenvalues
        self.eigenvalues = np.asarray(eigenvalues, dtype=self.dtype)
        self.rank = int(self.eigenvalues.shape[0])
        self.mixing = system.mixing if mixing is None else mixing
        self.identity = system.identity if identity is None else identity
        self.hessian = system.hessian if hessian is None else hessian
        self.blocks = int(self.identity.shape[1])
        if self.mixing and factors is None and hessians is None:
            factors = system.reduced.factors
        self.sandwich = BatchSandwich(
            self.eigenvalues,
            factors if self.mixing else None,
            self.mixing,
            dtype=self.dtype,
            hessians=hessians if self.mixing else None,
        )
        self.layout = SymmetricLayout(self.blocks * self.rank, dtype=self.dtype)
        self.applications = 0

    # ------------------------------------------------------------------ sizes
    @property
    def size(self) -> int:
        """The number of ``svec`` coordinates of the state's second moment."""
        return self.layout.dimension

    def parts(self, lr: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(F, G)`` at the learning rate ``lr`` (in the operator's arithmetic).

        Parameters
        ----------
        lr : Any
            Learning rate η.
        """
        nu = lr * self.rate_factor if self.dtype != np.dtype(object) else lr

        def evaluate(table: np.ndarray) -> np.ndarray:
            result = table[0] * 1
            power = 1
            for coefficient in table[1:]:
                power = power * nu
                result = result + coefficient * power
            return result

        with np.errstate(over="ignore", invalid="ignore"):
            return evaluate(self.identity), evaluate(self.hessian)

    # ------------------------------------------------------------- application
    def apply_pair(
        self,
        moment: np.ndarray,
        left: tuple[np.ndarray, np.ndarray],
        right: tuple[np.ndarray, np.ndarray],
    ) -> np.ndarray:
        """``E[(F_l ⊗ I + G_l ⊗ H_B) S (F_r ⊗ I + G_r ⊗ H_B)ᵀ]`` on blocks ``(m, m, r, r)``.

        A stack of moments ``(m, m, s, r, r)`` is mapped as a whole (each ``s`` slice).

        Parameters
        ----------
        moment : np.ndarray
            Second moment Σ (a symmetric matrix, or a stack of them).
        left : tuple[np.ndarray, np.ndarray]
            The pair ``(F_l, G_l)`` of the left factor.
        right : tuple[np.ndarray, np.ndarray]
            The pair ``(F_r, G_r)`` of the right factor.
        """
        f_left, g_left = left
        f_right, g_right = right
        sandwich = self.sandwich
        result = _congruence(f_left, moment, f_right)
        if np.any(g_right):
            result = result + sandwich.right(_congruence(f_left, moment, g_right))
        if np.any(g_left):
            result = result + sandwich.left(_congruence(g_left, moment, f_right))
        rows_left = np.flatnonzero(np.any(g_left != 0, axis=1))
        rows_right = np.flatnonzero(np.any(g_right != 0, axis=1))
        if rows_left.size and rows_right.size:
            inner = _congruence(g_left, moment, g_right)
            for i in rows_left:
                for j in rows_right:
                    result[i, j] = result[i, j] + self.sandwich(inner[i, j])
        return result

    def apply_blocks(self, moment: np.ndarray, lr: Any, *, adjoint: bool = False) -> np.ndarray:
        """``T(η)`` (or its adjoint ``W ↦ E[Aᵀ W A]``) on blocks ``(m, m, r, r)``.

        Parameters
        ----------
        moment : np.ndarray
            Second moment Σ (a symmetric matrix, or a stack of them).
        lr : Any
            Learning rate η.
        adjoint : bool, default False
            Whether to apply the adjoint operator instead.
        """
        f, g = self.parts(lr)
        if adjoint:
            f, g = f.T, g.T
        return self.apply_pair(moment, (f, g), (f, g))

    def to_blocks(self, vector: np.ndarray) -> np.ndarray:
        """``svec`` coordinates → blocks ``(m, m, r, r)``.

        Parameters
        ----------
        vector : np.ndarray
            A vector in the operator's (packed) coordinates.
        """
        m, r = self.blocks, self.rank
        full = self.layout.unpack(np.asarray(vector).reshape(-1))
        return full.reshape(m, r, m, r).transpose(0, 2, 1, 3)

    def from_blocks(self, blocks: np.ndarray) -> np.ndarray:
        """Blocks ``(m, m, r, r)`` → ``svec`` coordinates.

        Parameters
        ----------
        blocks : np.ndarray
            Blocks of shape ``(m, m, r, r)``.
        """
        m, r = self.blocks, self.rank
        return self.layout.pack(blocks.transpose(0, 2, 1, 3).reshape(m * r, m * r))

    def apply(self, vector: np.ndarray, lr: Any, *, adjoint: bool = False) -> np.ndarray:
        """``svec(T(η) S)`` for ``vector = svec(S)``.

        Parameters
        ----------
        vector : np.ndarray
            A vector in the operator's (packed) coordinates.
        lr : Any
            Learning rate η.
        adjoint : bool, default False
            Whether to apply the adjoint operator instead.
        """
        self.applications += 1
        image = self.apply_blocks(self.to_blocks(vector), lr, adjoint=adjoint)
        return self.from_blocks(image)

    def linear_operator(self, lr: float, *, adjoint: bool = False) -> LinearOperator:
        """``T(η)`` as a :class:`scipy.sparse.linalg.LinearOperator` on ``svec``.

        Parameters
        ----------
        lr : float
            Learning rate η.
        adjoint : bool, default False
            Whether to apply the adjoint operator instead.
        """
        return LinearOperator(
            (self.size, self.size),
            matvec=lambda x: self.apply(x, lr, adjoint=adjoint),
            dtype=float,
        )

    def start_vector(self) -> np.ndarray:
        """``svec(I)``: positive definite, so it overlaps the Perron vector."""
        return np.where(self.layout.diagonal, 1.0, 0.0)

    # ------------------------------------------------------------ dense forms
    def _columns(self, left: tuple, right: tuple) -> np.ndarray:
        basis = self.layout.basis()
        m, r = self.blocks, self.rank
        columns = []
        for element in basis:
            blocks = element.reshape(m, r, m, r).transpose(0, 2, 1, 3)
            columns.append(self.from_blocks(self.apply_pair(blocks, left, right)))
        if not columns:
            return np.zeros((0, 0), dtype=self.dtype)
        return np.column_stack(columns)

    def matrix(self, lr: Any) -> np.ndarray:
        """The dense matrix of ``T(η)`` on ``svec`` (small problems).

        Parameters
        ----------
        lr : Any
            Learning rate η.
        """
        f, g = self.parts(lr)
        return self._columns((f, g), (f, g))

    def coefficients(self) -> np.ndarray:
        """Dense ``T_q`` with ``T(η) = Σ_q ν^q T_q`` on ``svec`` (``ν = rate_factor · η``).

        Shape ``(2 q + 1, N, N)``.
        """
        degree = self.identity.shape[0] - 1
        size = self.size
        result = np.zeros((2 * degree + 1, size, size), dtype=self.dtype)
        if self.dtype == np.dtype(object):
            result[...] = 0
        for j in range(degree + 1):
            for k in range(degree + 1):
                left = (self.identity[j], self.hessian[j])
                right = (self.identity[k], self.hessian[k])
                if not (np.any(left[0]) or np.any(left[1])) or not (
                    np.any(right[0]) or np.any(right[1])
                ):
                    continue
                result[j + k] = result[j + k] + self._columns(left, right)
        return result

    def pencil(self, dtype: Any = np.float64) -> GradientPencil:
        """The gradient-step pencil ``K = C^{-1/2} D C^{-1/2}`` (gradient steps only).

        Parameters
        ----------
        dtype : Any, default numpy.float64
            Floating-point type of the result.
        """
        if self.system.gradient_scale is None:
            raise ValueError("the pencil exists for plain gradient steps only")
        return GradientPencil(
            self.system.reduced, float(self.mixing), dtype, shift=self.system.shift
        )

    def noise_curvature(self, shift: Any = None) -> np.ndarray:
        """Dense ``D`` on ``svec(range H)`` for a gradient step (``r (r + 1)/2`` square).

        Parameters
        ----------
        shift : Any, default None
            Shift added to the Hessian.
        """
        layout = SymmetricLayout(self.rank, dtype=self.dtype)
        shift = self.system.shift if shift is None else shift
        sandwich = self.sandwich.with_shift(shift)
        basis = layout.basis()
        if not len(basis):
            return np.zeros((0, 0), dtype=self.dtype)
        if sandwich.width == 1 and sandwich.factors is not None and self.mixing:
            # M = Lᵀ L / n with rows L_i = svec(y_i y_iᵀ): one matrix product
            y = sandwich.factors[:, 0, :]
            left, right = layout.pairwise(np.arange(self.rank))
            lifted = y[:, left] * y[:, right] * layout.weights
            matrix = self.mixing * (lifted.T @ lifted) / sandwich.samples
            lam_left, lam_right = layout.pairwise(self.eigenvalues)
            diagonal = (1 - self.mixing) * lam_left * lam_right
            if shift:
                diagonal = diagonal + shift * (lam_left + lam_right) + shift**2
            matrix[np.diag_indices_from(matrix)] += diagonal
            return matrix
        return np.column_stack([layout.pack(sandwich(element)) for element in basis])


def second_moment_operator_of(system: Any) -> SecondMomentOperator:
    """The :class:`SecondMomentOperator` of a bound system (float arithmetic).

    Parameters
    ----------
    system : Any
        The bound problem-and-method ``System``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric._operator import second_moment_operator_of
    >>> from stability._system import bind
    >>> operator = second_moment_operator_of(bind(Quadratic.from_hessians([[[1.0]], [[3.0]]]),
    ...                                            SGD(1, replacement=True)))
    >>> operator.matrix(0.5)  # E (1 − η h)² = (0.25 + 0.25) / 2
    array([[0.25]])
    """
    return SecondMomentOperator(system)
