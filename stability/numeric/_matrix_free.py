"""Matrix-free second-moment operators and exact thresholds for large problems.

Theory: ``docs/theory/operator.md`` and ``docs/theory/threshold.md``. Everything acts on the problem
reduced to ``range(H)`` and written in the eigenbasis of ``H`` (:meth:`Quadratic.reduced`), on
symmetric matrices stored in the orthonormal ``svec`` coordinates of
:func:`~stability.numeric.symmetric_basis` (upper triangle in
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
located by the Illinois variant of regula falsi (a bracketed root search).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackNoConvergence, eigs, eigsh

from stability._system import bind_reduced
from stability.dynamics import LinearDynamics
from stability.errors import ConvergenceError
from stability.numeric._crossing import first_crossing
from stability.numeric._operator import (
    BatchSandwich,
    GradientPencil,
    SecondMomentOperator,
    SymmetricLayout,
)
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
#: :func:`perron_radius` assembles operators up to this many coordinates: there ``size``
#: applications cost less than Arnoldi, which restarts thousands of times when eigenvalues
#: cluster below the Perron root (momentum close to one: 7 s for a 21-coordinate operator).
PERRON_ASSEMBLE_SIZE = 200
#: When Arnoldi fails, operators up to this many coordinates are assembled instead.
DENSE_FALLBACK_SIZE = 600


# ------------------------------------------------------------------ per-sample term
class SampleSandwich:
    """``M(X) = (1/n) Σ_i H_i X H_i`` on ``svec`` coordinates of a reduced problem.

    A view of the one batch sandwich (:class:`~stability.numeric.BatchSandwich`)
    with ``p = 1``: rank-one samples cost ``n r²`` multiply-adds per application (one
    ``trmm`` and two ``syrk`` calls); factors of rank ``k`` cost ``O(n k r²)``.

    Parameters
    ----------
    reduced : ReducedQuadratic
        The problem restricted to ``range(H)`` (with per-sample structure).
    dtype : numpy dtype, default float64
        ``float32`` gives a fast approximate operator (used to find a start vector).
    layout : SymmetricLayout, optional
        A layout to share.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.numeric import SampleSandwich, SymmetricLayout
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
        self.sandwich = BatchSandwich(reduced.eigenvalues, reduced.factors, 1.0, dtype=self.dtype)
        self.samples = self.sandwich.samples
        self._kernel = self.sandwich.svec_kernel(self.layout)

    @property
    def applications(self) -> float:
        """Multiply-adds per application (for reports)."""
        return self.sandwich.work / 2.0

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        """``svec(M(X))`` for ``vector = svec(X)``."""
        return self._kernel(np.asarray(vector, dtype=self.dtype))

    def full(self, matrix: np.ndarray) -> np.ndarray:
        """``M(X) = (1/n) Σ_i H_i X H_i`` for any square ``X`` (symmetric or not).

        Parameters
        ----------
        matrix : np.ndarray
            The matrix X acted on (or a stack of them on the last two axes).
        """
        return self.sandwich.sample(matrix)


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
    shift: float = 0.0,
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
    shift : float, default 0
        A Hessian shift ``μ`` (gradient step with weight decay: ``H_i + μ I``).
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
    >>> from stability.numeric import top_eigenpair
    >>> data = np.random.default_rng(0).standard_normal((30, 20))
    >>> result = top_eigenpair(Quadratic.from_data(data).reduced(), mixing=0.5)
    >>> result.method, result.residual < 1e-9
    ('lanczos', True)
    """
    pencil = GradientPencil(reduced, mixing, shift=shift)
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
        rough = GradientPencil(reduced, mixing, np.float32, layout, shift=shift)
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

    Parameters
    ----------
    operator : Callable[[np.ndarray], np.ndarray]
        The symmetric operator, as a function from vectors to vectors.
    start : np.ndarray
        Starting vector.
    tolerance : float
        Relative tolerance.
    dtype : Any, default numpy.float64
        Floating-point type of the result.
    memory : float, default 400000000.0
        Bytes the stored Krylov basis may use; the run stops before exceeding it.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.numeric import lanczos_top
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
class SecondMomentMap(SecondMomentOperator):
    """``T(η) S = E[A S Aᵀ]`` for any :class:`LinearDynamics` on a reduced problem, matrix-free.

    The one operator (:class:`~stability.numeric.SecondMomentOperator`) bound to a
    reduced problem and a mixing weight directly.

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
    >>> from stability.numeric import SecondMomentMap, perron_radius
    >>> problem = Quadratic(np.diag([2.0, 1.0]))
    >>> operator = SecondMomentMap(problem.reduced(), HeavyBall(0.5).dynamics(), 0.0)
    >>> round(perron_radius(operator, 0.5)[0], 12)  # ρ(A)², A from λ = 2 at η = 0.5
    0.5
    """

    def __init__(self, reduced: ReducedQuadratic, dynamics: LinearDynamics, mixing: float) -> None:
        super().__init__(bind_reduced(reduced, dynamics, mixing))
        self.reduced = reduced
        self.dynamics = dynamics


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
    >>> from stability.numeric import SecondMomentMap, perron_radius
    >>> reduced = Quadratic.from_hessians([[[1.0]], [[3.0]]]).reduced()
    >>> operator = SecondMomentMap(reduced, SGD(1, replacement=True).dynamics(), 1.0)
    >>> round(perron_radius(operator, 0.5)[0], 12)  # E (1 − η h)² = (0.25 + 0.25) / 2
    0.25
    """
    size = operator.size
    if size == 0:
        return 0.0, np.zeros(0)
    if size <= PERRON_ASSEMBLE_SIZE:
        values, vectors = scipy.linalg.eig(operator.matrix(lr))
        index = int(np.argmax(values.real))
        return float(values[index].real), np.real(vectors[:, index])
    base = operator.start_vector()
    v0 = (
        base
        if start is None
        else start / np.linalg.norm(start) + 1e-3 * base / np.linalg.norm(base)
    )
    values = vectors = None
    for ncv, tolerance in ((24, 0.0), (60, 1e-13)):  # a wider Krylov space on failure
        try:
            values, vectors = eigs(
                operator.linear_operator(lr),
                k=1,
                which="LR",
                v0=v0,
                tol=tolerance,
                ncv=min(size - 1, ncv),
                maxiter=max(1000, size),
            )
            break
        except ArpackNoConvergence as error:
            if len(error.eigenvalues):
                v0 = np.real(error.eigenvectors[:, 0]) + 1e-3 * base / np.linalg.norm(base)
    if values is None:
        if size <= DENSE_FALLBACK_SIZE:
            values, vectors = scipy.linalg.eig(operator.matrix(lr))
            index = int(np.argmax(values.real))
            return float(values[index].real), np.real(vectors[:, index])
        raise ConvergenceError(
            f"Arnoldi did not converge on the {size:,}-dimensional second-moment operator"
        )
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
    >>> from stability.numeric import SecondMomentMap, perron_threshold
    >>> from stability.numeric._structure import full_batch_critical_learning_rate
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

    return first_crossing(excess, upper, relative_tolerance=relative_tolerance)
