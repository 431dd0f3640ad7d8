"""Matrix-free second-moment operators and exact thresholds for large problems.

Theory: ``shared/theory.md`` §2–§3. Everything acts on the problem reduced to
``range(H)`` and written in the eigenbasis of ``H`` (:meth:`Quadratic.reduced`), on
symmetric matrices stored in the orthonormal ``svec`` coordinates of
:func:`~stability.numeric.operators.symmetric_basis` (upper triangle in
:func:`numpy.triu_indices` order, off-diagonal entries times ``√2``). No ``r² × r²``
matrix is ever formed.

In that basis ``H = Λ = diag(λ)`` and, for a gradient step ``A = I − g η H_B``,

* ``C = ½ H ⊕ H`` is the Schur multiplier ``X ↦ c ∘ X`` with ``c_ab = (λ_a + λ_b)/2``,
  so ``C^{-1/2}`` is the Schur multiplier by ``c^{-1/2}``;
* ``D X = (1 − p) Λ X Λ + p (1/n) Σ_i H_i X H_i``; for rank-one samples
  ``H_i = y_i y_iᵀ`` the second term is ``Yᵀ diag(w) Y / n`` with
  ``w_i = y_iᵀ X y_i``, which costs ``O(n r²)``: ``w`` comes from one triangular
  product ``Y triu(X)`` (BLAS ``trmm``) and ``Yᵀ diag(w) Y`` from two rank-``k``
  updates (``syrk``) of the rows with positive and negative ``w``.

The exact SGD threshold is ``η* = 2 / (g μ)``, ``μ = λ_max(K)`` for the symmetric
positive semi-definite operator ``K = C^{-1/2} D C^{-1/2}`` (Mulayoff & Michaeli 2023,
Thm 3). ``K`` maps the PSD cone into itself (``c^{-1/2}`` is a positive-definite
kernel, ``1/√(x + y)`` being a Laplace transform, so by the Schur product theorem the
multiplier preserves the cone; ``D`` does too), hence (Krein–Rutman) ``μ`` has a PSD
eigenvector. The Lanczos start ``svec(diag(√λ))`` is positive definite, so its inner
product with every non-zero PSD matrix is positive: the start always sees the top
eigenvector. :func:`top_eigenpair` runs ARPACK's implicitly restarted Lanczos on ``K``
(for large problems first in single precision, then refined in double precision from
that vector) and verifies the returned pair by an explicit residual.

For other dynamics (momentum) :class:`SecondMomentMap` applies ``T(η) S = E[A S Aᵀ]``
on the ``(m r) × (m r)`` second moment and :func:`perron_radius` returns ``ρ(T)``, the
Perron root (real, and the eigenvalue of largest real part, because ``T`` preserves the
PSD cone). :func:`perron_threshold` finds the first ``η`` with ``ρ(T(η)) = 1``: the
full-batch threshold is an upper bound (``T`` dominates the full-batch operator in the
cone order, so its spectral radius is at least as large), and the crossing below it is
located by Brent's method.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from scipy.linalg import blas
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs, eigsh

from stability.dynamics import LinearDynamics
from stability.errors import ConvergenceError
from stability.problems import ReducedQuadratic

__all__ = [
    "ConvergenceError",
    "EigenResult",
    "GradientPencil",
    "SampleSandwich",
    "SecondMomentMap",
    "SymmetricLayout",
    "lanczos_top",
    "perron_radius",
    "perron_threshold",
    "top_eigenpair",
]

#: Work ``n r²`` per operator application above which the Lanczos run starts in single precision.
MIXED_PRECISION_WORK = 1.5e8
#: A Ritz pair is accepted when ``‖K v − θ v‖ ≤ ACCEPT_RESIDUAL · θ`` (``‖v‖ = 1``).
ACCEPT_RESIDUAL = 1e-9
#: Bytes the Lanczos basis may occupy (longer runs fall back to restarted Lanczos).
LANCZOS_MEMORY = 4.0e8
#: Operators with at most this many svec coordinates are assembled column by column.
ASSEMBLE_SIZE = 12


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

    Examples
    --------
    >>> import numpy as np
    >>> from stability.numeric.matrix_free import SymmetricLayout
    >>> layout = SymmetricLayout(2)
    >>> x = layout.pack(np.array([[1.0, 2.0], [2.0, 3.0]]))
    >>> x.round(4), layout.unpack(x)
    (array([1.    , 2.8284, 3.    ]), array([[1., 2.],
           [2., 3.]]))
    """

    def __init__(self, size: int) -> None:
        self.size_of_matrix = int(size)
        rows, cols = np.triu_indices(self.size_of_matrix)
        index = np.int32 if self.size_of_matrix**2 < 2**31 else np.int64
        self.diagonal = rows == cols
        self.weights = np.where(self.diagonal, 1.0, math.sqrt(2.0))
        # positions in a column-major (Fortran) r × r array
        self.upper = (rows + cols * self.size_of_matrix).astype(index)

    @property
    def rows(self) -> np.ndarray:
        """Row of each coordinate."""
        return self.upper % self.size_of_matrix

    @property
    def cols(self) -> np.ndarray:
        """Column of each coordinate."""
        return self.upper // self.size_of_matrix

    @property
    def dimension(self) -> int:
        """``r (r + 1) / 2``."""
        return int(self.upper.size)

    def pack(self, matrix: np.ndarray) -> np.ndarray:
        """``svec`` of a symmetric matrix (only its upper triangle is read)."""
        return matrix.reshape(-1, order="F")[self.upper] * self.weights

    def unpack(self, vector: np.ndarray) -> np.ndarray:
        """The symmetric matrix with ``svec`` coordinates ``vector``."""
        r = self.size_of_matrix
        flat = np.zeros(r * r, dtype=np.result_type(vector, np.float32))
        flat[self.upper] = vector / self.weights
        matrix = flat.reshape((r, r), order="F")
        return matrix + np.triu(matrix, 1).T

    def pairwise(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(values[rows], values[cols])`` for a length-``r`` vector."""
        return values[self.rows], values[self.cols]


# ------------------------------------------------------------------ per-sample term
class SampleSandwich:
    """``M(X) = (1/n) Σ_i H_i X H_i`` on ``svec`` coordinates of a reduced problem.

    Rank-one samples cost ``n r²`` multiply-adds per application (one ``trmm`` and two
    ``syrk`` calls); general per-sample Hessians cost ``2 n r³``.

    Parameters
    ----------
    reduced : ReducedQuadratic
        The problem restricted to ``range(H)`` (with per-sample structure).
    dtype : numpy dtype, default float64
        ``float32`` gives a fast approximate operator (used to find a start vector).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.numeric.matrix_free import SampleSandwich, SymmetricLayout
    >>> reduced = Quadratic.from_data([[1.0, 0.0], [1.0, 1.0]]).reduced()
    >>> sandwich, layout = SampleSandwich(reduced), SymmetricLayout(2)
    >>> X = np.array([[1.0, 0.5], [0.5, 2.0]])
    >>> expected = np.mean([h @ X @ h for h in reduced.per_sample_hessians()], axis=0)
    >>> bool(np.allclose(layout.unpack(sandwich(layout.pack(X))), expected))
    True
    """

    def __init__(
        self,
        reduced: ReducedQuadratic,
        dtype: Any = np.float64,
        layout: SymmetricLayout | None = None,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.layout = SymmetricLayout(reduced.rank) if layout is None else layout
        self.samples = int(reduced.samples or 1)
        self._vectors = None
        self._hessians = None
        if reduced.vectors is not None:
            self._vectors = np.asfortranarray(reduced.vectors, dtype=self.dtype)
            half = np.where(self.layout.diagonal, 0.5, math.sqrt(0.5))
            self._scale_in = half.astype(self.dtype)
            self._scale_out = (self.layout.weights / self.samples).astype(self.dtype)
            self._triangle = np.zeros((reduced.rank,) * 2, dtype=self.dtype, order="F")
            self._buffer = np.empty(self.layout.dimension, dtype=self.dtype)
            double = self.dtype == np.float64
            self._trmm = blas.dtrmm if double else blas.strmm
            self._syrk = blas.dsyrk if double else blas.ssyrk
        else:
            self._hessians = np.asarray(reduced.per_sample_hessians(), dtype=self.dtype)

    @property
    def applications(self) -> float:
        """Multiply-adds per application (for reports)."""
        r = self.layout.size_of_matrix
        if self._vectors is not None:
            return float(self.samples) * r * r
        return 2.0 * self.samples * r**3

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        """``svec(M(X))`` for ``vector = svec(X)``."""
        return self.scaled()(vector)

    def scaled(
        self, scale_in: np.ndarray | None = None, scale_out: np.ndarray | None = None
    ) -> Callable[[np.ndarray], np.ndarray]:
        """``x ↦ scale_out ∘ svec(M(unsvec(scale_in ∘ x)))`` with the scalings folded in once."""
        if self._vectors is None:

            def general(vector: np.ndarray) -> np.ndarray:
                if scale_in is not None:
                    vector = scale_in * vector
                result = self.layout.pack(self.full(self.layout.unpack(vector)))
                return result if scale_out is None else scale_out * result

            return general
        factor_in = self._scale_in if scale_in is None else self._scale_in * scale_in
        factor_out = self._scale_out if scale_out is None else self._scale_out * scale_out
        factor_in, factor_out = factor_in.astype(self.dtype), factor_out.astype(self.dtype)
        return lambda vector: self._rank_one(vector, factor_in, factor_out)

    def _rank_one(
        self, vector: np.ndarray, factor_in: np.ndarray, factor_out: np.ndarray
    ) -> np.ndarray:
        y = self._vectors
        flat = self._triangle.reshape(-1, order="F")
        # triu(X) with a halved diagonal: X = U + Uᵀ, so yᵀ X y = 2 yᵀ U y
        np.multiply(vector, factor_in, out=self._buffer)
        flat[self.layout.upper] = self._buffer
        product = self._trmm(1.0, self._triangle, y, side=1, lower=0)
        weights = 2.0 * np.einsum("ij,ij->i", product, y)
        result = self._weighted_gram(weights).reshape(-1, order="F")[self.layout.upper]
        result *= factor_out
        return result

    def _weighted_gram(self, weights: np.ndarray) -> np.ndarray:
        """Upper triangle of ``Yᵀ diag(weights) Y`` by two ``syrk`` updates."""
        y = self._vectors
        r = y.shape[1]
        result = np.zeros((r, r), dtype=self.dtype, order="F")
        for sign in (1.0, -1.0):
            chosen = sign * weights > 0
            if not chosen.any():
                continue
            rows = y[chosen] * np.sqrt(sign * weights[chosen])[:, None].astype(self.dtype)
            # rows is C-ordered (k × r): its transpose is a Fortran (r × k) array, no copy
            result = self._syrk(
                sign, np.asarray(rows).T, beta=1.0, c=result, trans=0, lower=0, overwrite_c=1
            )
        return result

    def full(self, matrix: np.ndarray) -> np.ndarray:
        """``M(X) = (1/n) Σ_i H_i X H_i`` for any square ``X`` (symmetric or not)."""
        if self._vectors is not None:
            y = self._vectors
            weights = np.einsum("ij,ij->i", y @ matrix.astype(self.dtype), y)
            return (y * weights[:, None]).T @ y / self.samples
        hessians = self._hessians
        result = np.zeros(matrix.shape, dtype=self.dtype)
        chunk = max(1, 4_000_000 // max(1, matrix.size))
        for start in range(0, len(hessians), chunk):
            part = hessians[start : start + chunk]
            result += np.einsum("nij,jk,nkl->il", part, matrix, part, optimize=True)
        return result / len(hessians)


# ---------------------------------------------------------------- gradient pencil
class GradientPencil:
    """``K = C^{-1/2} D C^{-1/2}`` of a gradient step on ``svec(range H)``, matrix-free.

    ``η* = 2 / (g λ_max(K))`` (``shared/theory.md`` §3; Mulayoff & Michaeli 2023).

    Parameters
    ----------
    reduced : ReducedQuadratic
        The problem restricted to ``range(H)``.
    mixing : float
        The weight ``p`` of the per-sample term.
    dtype : numpy dtype, default float64
        Arithmetic precision of the applications.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.numeric.matrix_free import GradientPencil, top_eigenpair
    >>> reduced = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).reduced()
    >>> pencil = GradientPencil(reduced, mixing=1.0)   # SGD, B = 1 (n = 3)
    >>> round(2 / top_eigenpair(reduced, 1.0).value, 10)  # 3 − √3
    1.2679491924
    >>> pencil.matrix().shape
    (3, 3)
    """

    def __init__(
        self,
        reduced: ReducedQuadratic,
        mixing: float,
        dtype: Any = np.float64,
        layout: SymmetricLayout | None = None,
    ) -> None:
        self.reduced = reduced
        self.mixing = float(mixing)
        self.dtype = np.dtype(dtype)
        self.layout = SymmetricLayout(reduced.rank) if layout is None else layout
        left, right = self.layout.pairwise(np.asarray(reduced.eigenvalues, dtype=float))
        curvature = 0.5 * (left + right)
        self.curvature = curvature
        self._inverse_root = (1.0 / np.sqrt(curvature)).astype(self.dtype)
        self._diagonal = ((1.0 - self.mixing) * left * right / curvature).astype(self.dtype)
        self._sample_term = None
        if self.mixing:
            sandwich = SampleSandwich(reduced, self.dtype, self.layout)
            self._sample_term = sandwich.scaled(
                self._inverse_root, self.mixing * self._inverse_root
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
        """``svec(C^{1/2} I) = svec(diag(√λ))``: positive definite, so it overlaps the top mode."""
        return np.where(self.layout.diagonal, np.sqrt(self.curvature), 0.0)

    def linear_operator(self) -> LinearOperator:
        """``K`` as a :class:`scipy.sparse.linalg.LinearOperator`."""
        return LinearOperator((self.size, self.size), matvec=self, dtype=self.dtype)


@dataclass(frozen=True)
class EigenResult:
    """A verified top eigenpair of a symmetric operator.

    Attributes
    ----------
    value : float
        The Ritz value ``θ = vᵀ K v`` (``‖v‖ = 1``), computed in double precision.
    vector : ndarray
        The unit Ritz vector ``v`` (``svec`` coordinates).
    residual : float
        ``‖K v − θ v‖ / θ``. Some eigenvalue of ``K`` lies within ``residual · θ`` of ``θ``
        (Weyl); with a spectral gap ``γ`` the error is at most ``(residual · θ)² / γ``.
    applications : int
        Double-precision applications of ``K`` (``single`` counts the float32 ones).
    single : int
        Single-precision applications of ``K`` spent on the start vector.
    method : str
        ``"assembled"``, ``"lanczos"`` or ``"mixed-lanczos"``.
    """

    value: float
    vector: np.ndarray
    residual: float
    applications: int
    single: int
    method: str


def _verify(pencil: GradientPencil, vector: np.ndarray) -> tuple[float, np.ndarray, float]:
    vector = np.asarray(vector, dtype=float).reshape(-1)
    vector = vector / np.linalg.norm(vector)
    image = pencil(vector)
    value = float(vector @ image)
    residual = float(np.linalg.norm(image - value * vector))
    return value, vector, residual / value if value > 0 else math.inf


def top_eigenpair(
    reduced: ReducedQuadratic,
    mixing: float,
    *,
    precision: str = "auto",
    tolerance: float = 1e-11,
) -> EigenResult:
    """The verified top eigenpair of ``K = C^{-1/2} D C^{-1/2}`` (:class:`GradientPencil`).

    Parameters
    ----------
    reduced : ReducedQuadratic
        The problem restricted to ``range(H)``.
    mixing : float
        The weight ``p`` of the per-sample term.
    precision : {"auto", "double", "mixed"}
        ``"mixed"`` runs Lanczos first with single-precision applications (half the
        cost) to a relative residual of ``1e-5`` and refines that vector in double
        precision; ``"auto"`` does so when ``n r² ≥`` :data:`MIXED_PRECISION_WORK`.
    tolerance : float, default 1e-11
        Relative residual target of the double-precision Lanczos run
        (:func:`lanczos_top`). The eigenvalue error is of the order of the squared
        residual over the relative spectral gap, so ``1e-11`` gives ``μ`` to about
        machine precision unless the top of the spectrum is nearly degenerate.

    Raises
    ------
    ConvergenceError
        If no Ritz pair with relative residual below :data:`ACCEPT_RESIDUAL` is found.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.numeric.matrix_free import top_eigenpair
    >>> data = np.random.default_rng(0).standard_normal((30, 20))
    >>> result = top_eigenpair(Quadratic.from_data(data).reduced(), mixing=0.5)
    >>> result.method, result.residual < 1e-9
    ('lanczos', True)
    """
    pencil = GradientPencil(reduced, mixing)
    size = pencil.size
    layout = pencil.layout
    if size <= ASSEMBLE_SIZE:
        matrix = pencil.matrix()
        vectors = scipy.linalg.eigh(matrix)[1]
        value, vector, residual = _verify(pencil, vectors[:, -1])
        return EigenResult(value, vector, residual, pencil.applications, 0, "assembled")
    start = pencil.start_vector()
    work = float(reduced.samples or 1) * reduced.rank**2
    mixed = precision == "mixed" or (precision == "auto" and work >= MIXED_PRECISION_WORK)
    single = 0
    method = "lanczos"
    if mixed:
        rough = GradientPencil(reduced, mixing, np.float32, layout)
        _, guess, _ = lanczos_top(rough, start, 1e-5, dtype=np.float32)
        single = rough.applications
        # keep a component along the positive-definite start (see module notes)
        start = guess + 1e-3 * start / np.linalg.norm(start)
        method = "mixed-lanczos"
    vector = lanczos_top(pencil, start, tolerance)[1]
    best = _verify(pencil, vector)
    if not best[2] <= ACCEPT_RESIDUAL:  # restarted Lanczos (ARPACK) from the best vector
        try:
            _, vectors = eigsh(
                pencil.linear_operator(),
                k=1,
                which="LA",
                v0=best[1],
                tol=0.0,
                ncv=min(size - 1, 40),
                maxiter=max(300, size),
            )
            candidate = _verify(pencil, vectors[:, 0])
            best = candidate if candidate[2] < best[2] else best
        except ArpackNoConvergence:  # pragma: no cover - reported below
            pass
    if not best[2] <= ACCEPT_RESIDUAL:
        raise ConvergenceError(
            f"Lanczos did not converge on the {size:,}-dimensional operator (relative "
            f"residual {best[2]:.2e}); try solver='dense' on a smaller problem"
        )
    value, vector, residual = best
    return EigenResult(value, vector, residual, pencil.applications, single, method)


def lanczos_top(
    operator: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    tolerance: float,
    *,
    dtype: Any = np.float64,
    memory: float = LANCZOS_MEMORY,
) -> tuple[float, np.ndarray, float]:
    """Top Ritz pair of a symmetric operator by Lanczos with full reorthogonalisation.

    No restarts: the Krylov basis is kept (within ``memory`` bytes) and the run stops
    when the Lanczos residual estimate ``β_j |s_j|`` of the top Ritz pair falls below
    ``tolerance · θ``, or an invariant subspace is found. Returns ``(θ, v, estimate)``
    with ``v`` a unit double-precision vector and ``estimate`` the relative residual
    estimate (callers verify it by an explicit application).

    Examples
    --------
    >>> import numpy as np
    >>> from stability.numeric.matrix_free import lanczos_top
    >>> matrix = np.diag([3.0, 2.0, 1.0, 0.5])
    >>> theta, vector, estimate = lanczos_top(lambda x: matrix @ x, np.ones(4), 1e-12)
    >>> round(theta, 12), round(float(abs(vector[0])), 12)
    (3.0, 1.0)
    """
    dtype = np.dtype(dtype)
    size = start.shape[0]
    steps = int(min(size, 80, max(8, memory // (size * dtype.itemsize) - 1)))
    basis = np.empty((steps + 1, size), dtype=dtype)
    basis[0] = start / np.linalg.norm(start)
    alphas: list[float] = []
    betas: list[float] = []
    theta, coefficients, estimate = 0.0, np.ones(1), math.inf
    for j in range(steps):
        image = np.asarray(operator(basis[j]), dtype=dtype)
        alphas.append(float(basis[j] @ image))
        active = basis[: j + 1]
        for _ in range(2):  # classical Gram–Schmidt, twice
            image -= active.T @ (active @ image)
        beta = float(np.linalg.norm(image))
        if j == 0:
            values, vectors = np.array(alphas), np.ones((1, 1))
        else:
            values, vectors = scipy.linalg.eigh_tridiagonal(np.array(alphas), np.array(betas))
        theta, coefficients = float(values[-1]), vectors[:, -1]
        estimate = beta * abs(coefficients[-1]) / abs(theta) if theta else math.inf
        if estimate <= tolerance or beta <= np.finfo(dtype).eps * abs(theta):
            break
        betas.append(beta)
        basis[j + 1] = image / beta
    vector = coefficients.astype(float) @ basis[: len(coefficients)].astype(float)
    return theta, vector / np.linalg.norm(vector), estimate


# ------------------------------------------------------------------ general dynamics
class SecondMomentMap:
    """``T(η) S = E[A S Aᵀ]`` for any :class:`LinearDynamics` on a reduced problem, matrix-free.

    ``A = F(η) ⊗ I + G(η) ⊗ H_B`` acts on the state ``(m r)``-vector; ``S`` is stored as
    ``svec`` of the ``(m r) × (m r)`` symmetric second moment (state block ``k``,
    coordinate ``a`` at index ``k r + a``). With ``Z = (G ⊗ I) S (G ⊗ I)ᵀ``:

        T(S) = (F⊗I) S (F⊗I)ᵀ + (F⊗I) S (G⊗Λ)ᵀ + (G⊗Λ) S (F⊗I)ᵀ
               + (1 − p) (I⊗Λ) Z (I⊗Λ) + p (1/n) Σ_i (I⊗H_i) Z (I⊗H_i),

    and only the blocks of ``Z`` on non-zero rows of ``G`` need the per-sample term (one
    block for heavy ball and Nesterov).

    Parameters
    ----------
    reduced : ReducedQuadratic
        The problem restricted to ``range(H)``.
    dynamics : LinearDynamics
        The method.
    mixing : float
        The weight ``p`` of the per-sample term.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import HeavyBall, Quadratic
    >>> from stability.numeric.matrix_free import SecondMomentMap, perron_radius
    >>> problem = Quadratic(np.diag([2.0, 1.0]))
    >>> operator = SecondMomentMap(problem.reduced(), HeavyBall(0.5).dynamics(), 0.0)
    >>> round(perron_radius(operator, 0.5)[0], 12)  # ρ(A)², A from λ = 2 at η = 0.5
    0.5
    """

    def __init__(self, reduced: ReducedQuadratic, dynamics: LinearDynamics, mixing: float) -> None:
        self.reduced = reduced
        self.dynamics = dynamics
        self.mixing = float(mixing)
        self.blocks = dynamics.blocks
        self.rank = reduced.rank
        self.layout = SymmetricLayout(self.blocks * self.rank)
        self._eigenvalues = np.asarray(reduced.eigenvalues, dtype=float)
        self._identity = dynamics.identity_part.numeric_coefficients()
        self._hessian = dynamics.hessian_part.numeric_coefficients()
        self._sandwich = (
            SampleSandwich(reduced, layout=SymmetricLayout(self.rank)) if self.mixing else None
        )
        self.applications = 0

    @property
    def size(self) -> int:
        """The number of ``svec`` coordinates of the state's second moment."""
        return self.layout.dimension

    def _parts(self, lr: float) -> tuple[np.ndarray, np.ndarray]:
        def evaluate(table: np.ndarray) -> np.ndarray:
            return np.tensordot(float(lr) ** np.arange(len(table)), table, axes=1)

        return evaluate(self._identity), evaluate(self._hessian)

    def apply_blocks(self, moment: np.ndarray, lr: float) -> np.ndarray:
        """``T(η)`` on a moment given as blocks, shape ``(m, m, r, r)``, ``[k, l] = S_kl``."""
        f, g = self._parts(lr)
        lam = self._eigenvalues
        result = _congruence(f, moment, f)
        cross = _congruence(f, moment, g) * lam
        result += cross + cross.transpose(1, 0, 3, 2)
        active = np.flatnonzero(np.any(g != 0, axis=1))
        if active.size:
            inner = _congruence(g, moment, g)
            result += (1.0 - self.mixing) * inner * np.multiply.outer(lam, lam)
            if self._sandwich is not None:
                for i in active:
                    for j in active[active >= i]:
                        term = self.mixing * self._sandwich.full(inner[i, j])
                        result[i, j] += term
                        if j != i:
                            result[j, i] += term.T
        return result

    def apply(self, vector: np.ndarray, lr: float) -> np.ndarray:
        """``svec(T(η) S)`` for ``vector = svec(S)``."""
        self.applications += 1
        m, r = self.blocks, self.rank
        full = self.layout.unpack(np.asarray(vector, dtype=float).reshape(-1))
        moment = full.reshape(m, r, m, r).transpose(0, 2, 1, 3)
        image = self.apply_blocks(moment, lr)
        return self.layout.pack(image.transpose(0, 2, 1, 3).reshape(m * r, m * r))

    def linear_operator(self, lr: float) -> LinearOperator:
        """``T(η)`` as a :class:`scipy.sparse.linalg.LinearOperator` on ``svec``."""
        return LinearOperator(
            (self.size, self.size), matvec=lambda x: self.apply(x, lr), dtype=float
        )

    def matrix(self, lr: float) -> np.ndarray:
        """The dense matrix of ``T(η)``, assembled column by column (small problems, tests)."""
        eye = np.eye(self.size)
        return np.column_stack([self.apply(eye[:, k], lr) for k in range(self.size)])

    def start_vector(self) -> np.ndarray:
        """``svec(I)``: positive definite, so it overlaps the Perron vector."""
        return np.where(self.layout.diagonal, 1.0, 0.0)


def _congruence(left: np.ndarray, moment: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Blocks ``Σ_kl left_ik S_kl right_jl`` of ``(left ⊗ I) S (right ⊗ I)ᵀ``, ``(m, m, r, r)``."""
    partial = np.tensordot(left, moment, axes=(1, 0))
    return np.tensordot(right, partial, axes=(1, 1)).transpose(1, 0, 2, 3)


def perron_radius(
    operator: SecondMomentMap, lr: float, start: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """``ρ(T(η))`` and its (Krein–Rutman) eigenvector, by Arnoldi on the matrix-free map.

    ``T`` preserves the PSD cone, so ``ρ(T)`` is an eigenvalue and no other eigenvalue
    has a larger real part: ARPACK is asked for the eigenvalue of largest real part,
    to machine precision, from the positive-definite start ``svec(I)`` (plus ``start``).

    Parameters
    ----------
    operator : SecondMomentMap
        The matrix-free second-moment map.
    lr : float
        The learning rate ``η``.
    start : ndarray, optional
        A guess of the Perron vector (``svec`` coordinates), e.g. from a nearby ``η``.

    Returns
    -------
    tuple of (float, ndarray)
        ``ρ(T(η))`` and a real eigenvector for it (``svec`` coordinates).

    Raises
    ------
    ConvergenceError
        If ARPACK does not converge.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric.matrix_free import SecondMomentMap, perron_radius
    >>> reduced = Quadratic.from_hessians([[[1.0]], [[3.0]]]).reduced()
    >>> operator = SecondMomentMap(reduced, SGD(1, replacement=True).dynamics(), 1.0)
    >>> round(perron_radius(operator, 0.5)[0], 12)  # E (1 − η h)² = (0.25 + 0.25) / 2
    0.25
    """
    size = operator.size
    if size == 0:
        return 0.0, np.zeros(0)
    if size <= ASSEMBLE_SIZE:
        values, vectors = scipy.linalg.eig(operator.matrix(lr))
        index = int(np.argmax(values.real))
        return float(values[index].real), np.real(vectors[:, index])
    base = operator.start_vector()
    v0 = (
        base
        if start is None
        else start / np.linalg.norm(start) + 1e-3 * base / np.linalg.norm(base)
    )
    try:
        values, vectors = eigs(
            operator.linear_operator(lr),
            k=1,
            which="LR",
            v0=v0,
            tol=0.0,
            ncv=min(size - 1, 24),
            maxiter=max(1000, size),
        )
    except ArpackNoConvergence as error:
        raise ConvergenceError(
            f"Arnoldi did not converge on the {size:,}-dimensional second-moment operator"
        ) from error
    return float(values[0].real), np.real(vectors[:, 0])


def perron_threshold(
    operator: SecondMomentMap, upper: float, *, relative_tolerance: float = 1e-13
) -> float:
    """The first ``η`` in ``(0, upper]`` with ``ρ(T(η)) = 1``, by a bracketing secant method.

    ``upper`` must satisfy ``ρ(T(upper)) ≥ 1`` (the full-batch threshold does, see the
    module notes). Returns ``upper`` when ``ρ(T(upper))`` is one to within ``1e-12``.
    A bracket is found by stepping down from ``upper`` by factors of four; the Illinois
    variant of regula falsi then shrinks it to a relative width of
    ``relative_tolerance``. The root is the smallest one whenever ``ρ(T(η))`` crosses
    one only once below ``upper`` (true in every case the tests compare with the dense
    polynomial route, which finds the smallest root of ``det(T(η) − I)``
    unconditionally).

    Parameters
    ----------
    operator : SecondMomentMap
        The matrix-free second-moment map.
    upper : float
        A learning rate with ``ρ(T(upper)) ≥ 1`` (the full-batch threshold).
    relative_tolerance : float, default 1e-13
        Width of the final bracket relative to its upper end.

    Returns
    -------
    float
        ``η*``.

    Raises
    ------
    ConvergenceError
        If no stable learning rate is found below ``upper``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import HeavyBall, Quadratic, critical_learning_rate
    >>> from stability.numeric.matrix_free import SecondMomentMap, perron_threshold
    >>> from stability.numeric.structure import full_batch_critical_learning_rate
    >>> problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((6, 3)))
    >>> dynamics = HeavyBall(0.5, batch_size=1).dynamics()
    >>> operator = SecondMomentMap(problem.reduced(), dynamics, dynamics.batch.mixing(6))
    >>> upper = full_batch_critical_learning_rate(dynamics, problem.reduced().eigenvalues)
    >>> eta = perron_threshold(operator, upper)
    >>> dense = critical_learning_rate(problem, dynamics, solver="dense")
    >>> bool(abs(eta - dense) < 1e-10 * dense)
    True
    """
    state: dict[str, np.ndarray | None] = {"vector": None}

    def excess(lr: float) -> float:
        radius, vector = perron_radius(operator, lr, state["vector"])
        state["vector"] = vector
        return radius - 1.0

    high, f_high = float(upper), excess(upper)
    if f_high <= 1e-12:
        return high
    low, f_low = high, f_high
    for _ in range(40):
        low = 0.25 * high
        f_low = excess(low)
        if f_low < 0:
            break
        high, f_high = low, f_low
    else:  # pragma: no cover - T(η) → F ⊗ F with ρ ≤ 1 as η → 0
        raise ConvergenceError("no stable learning rate found below the full-batch threshold")
    side = 0
    for _ in range(200):
        if high - low <= relative_tolerance * high:
            break
        point = (low * f_high - high * f_low) / (f_high - f_low)
        if not low < point < high:
            point = 0.5 * (low + high)
        value = excess(point)
        if value == 0:
            return float(point)
        if value < 0:
            low, f_low = point, value
            if side == -1:
                f_high *= 0.5
            side = -1
        else:
            high, f_high = point, value
            if side == 1:
                f_low *= 0.5
            side = 1
    return float(low - f_low * (high - low) / (f_high - f_low))
