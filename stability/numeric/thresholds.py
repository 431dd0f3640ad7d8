"""Exact mean-square thresholds and spectral radii of second-moment operators.

Theory: ``shared/theory.md`` §2 and §3. Everything here works on the problem reduced
to ``range(H)`` (the neutral null space removed) and on symmetric second moments
(the ``svec`` basis of :func:`~stability.numeric.operators.symmetric_basis`).

Two exact characterisations, chosen from the shape of the dynamics description, never
from a method's name:

* plain gradient steps ``A = I − g η H_B`` (GD, SGD, variational GD): the operator is
  ``T(η) = I − 2 g η C + g² η² D`` with ``C = ½ H ⊕ H`` and
  ``D = (1 − p) H ⊗ H + p M``, and ``η* = 2 / (g λ_max(C^{-1/2} D C^{-1/2}))``, a
  symmetric eigenvalue problem (Mulayoff & Michaeli 2023, Thm 3);
* any other polynomial state map (momentum): ``η*`` is the smallest positive real root
  of ``det(T(η) − I) = 0`` (§2, rule 2).

Routes (``solver=``):

* ``"dense"``: assemble the reduced operator on ``svec`` (``N = r(r + 1)/2`` coordinates
  per state block) and take a dense symmetric eigenvalue problem, or the companion
  pencil of ``det(T(η) − I)`` (:mod:`stability.numeric.polynomial`);
* ``"matrix-free"``: :mod:`stability.numeric.matrix_free`, Lanczos on ``C^{-1/2} D C^{-1/2}``
  applied in ``O(n r²)`` (rank-one samples), or, for momentum, the first root of
  ``ρ(T(η)) = 1`` below the full-batch threshold with ``ρ`` from Arnoldi;
* ``"auto"`` (default): exact closed forms when the structure allows them (full batch;
  commuting ``H_i``, :mod:`stability.numeric.structure`), the dense routes for small
  ``N`` and the matrix-free ones beyond (see ``docs/performance.md`` for the costs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackNoConvergence, eigsh

from stability.dynamics import LinearDynamics
from stability.errors import CertificationError, InvalidInputError, SizeLimitError
from stability.numeric.matrix_free import (
    ConvergenceError,
    SecondMomentMap,
    perron_radius,
    perron_threshold,
    top_eigenpair,
)
from stability.numeric.operators import (
    DENSE_ENTRY_LIMIT,
    operator_coefficients,
    reduced_moment_tensor,
    symmetric_basis,
)
from stability.numeric.polynomial import smallest_positive_real_root
from stability.numeric.structure import (
    common_eigenbasis_curvatures,
    commuting_threshold,
    full_batch_critical_learning_rate,
)
from stability.problems import Quadratic, ReducedQuadratic
from stability.system import bind
from stability.validation import check_learning_rate

__all__ = [
    "CertificationError",
    "ReducedOperator",
    "ThresholdReport",
    "critical_learning_rate",
    "is_stable",
    "reduced_operator",
    "spectral_radius",
    "threshold_report",
]

#: The accepted values of ``solver=``.
SOLVERS = ("auto", "dense", "matrix-free")
#: ``"auto"`` uses the dense symmetric route for gradient steps up to this many svec coordinates.
DENSE_GRADIENT_SIZE = 150
#: ``"auto"`` uses the dense companion pencil for other methods up to this many coordinates.
DENSE_POLYNOMIAL_SIZE = 300
#: ``"auto"`` assembles ``T(η)`` densely for ``spectral_radius`` up to this many coordinates.
DENSE_RADIUS_SIZE = 600
#: Digits and relative tolerance of ``certify=True``.
CERTIFY_DIGITS = 50
CERTIFY_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class ReducedOperator:
    """The second-moment operator of one problem and one method, on ``svec(range H)``.

    Attributes
    ----------
    dynamics : LinearDynamics
        The method's description.
    reduced : ReducedQuadratic
        The problem restricted to ``range(H)``.
    mixing : float
        The weight ``p`` of the batch law.
    gradient_scale : float or None
        ``g`` when the state map is ``I − g η H_B`` (then :attr:`curvature` and
        :attr:`noise_curvature` hold ``C`` and ``D``), else ``None`` (then
        :attr:`coefficients` holds the ``T_q``).
    """

    dynamics: LinearDynamics
    reduced: ReducedQuadratic
    mixing: float
    gradient_scale: float | None
    curvature: np.ndarray | None = None
    noise_curvature: np.ndarray | None = None
    coefficients: np.ndarray | None = None

    @property
    def size(self) -> int:
        """The dimension of the symmetric state space the operator acts on."""
        state = self.dynamics.blocks * self.reduced.rank
        return state * (state + 1) // 2

    def matrix(self, lr: float) -> np.ndarray:
        """The dense matrix of ``T(η)`` in the ``svec`` basis."""
        if self.gradient_scale is not None:
            g_lr = self.gradient_scale * lr
            matrix = g_lr**2 * self.noise_curvature
            matrix[np.diag_indices_from(matrix)] += 1.0 - 2.0 * g_lr * self.curvature
            return matrix
        powers = float(lr) ** np.arange(self.coefficients.shape[0])
        return np.tensordot(powers, self.coefficients, axes=1)


def _svec_rank_one(vectors: np.ndarray) -> np.ndarray:
    """Rows ``svec(y_s y_sᵀ)`` for the rows ``y_s`` of ``vectors``."""
    rank = vectors.shape[1]
    rows, cols = np.triu_indices(rank)
    weight = np.where(rows == cols, 1.0, np.sqrt(2.0))
    return vectors[:, rows] * vectors[:, cols] * weight


def _sample_term(reduced: ReducedQuadratic) -> np.ndarray:
    """``M = (1/n) Σ H_s ⊗ H_s`` restricted to symmetric matrices (svec basis)."""
    if reduced.vectors is not None:
        lifted = _svec_rank_one(reduced.vectors)
        return lifted.T @ lifted / reduced.vectors.shape[0]
    hessians = reduced.per_sample_hessians()
    rank = reduced.rank
    rows, cols = np.triu_indices(rank)
    # M(E) for the svec basis element E_ab: (1/n) Σ H_s E_ab H_s, read off in svec coordinates
    # ⟨E_ab, M(E_cd)⟩ = (1/n) Σ_s w_ab w_cd (H_s[a, c] H_s[b, d] + H_s[a, d] H_s[b, c]) / 2 · 2
    weight = np.where(rows == cols, 1.0, np.sqrt(2.0))
    size = rows.size
    total = np.zeros((size, size))
    chunk = max(1, 10_000_000 // (size * size))
    for start in range(0, len(hessians), chunk):
        part = hessians[start : start + chunk]
        total += np.einsum(
            "sij,sij->ij",
            part[:, rows[:, None], rows[None, :]],
            part[:, cols[:, None], cols[None, :]],
        )
        total += np.einsum(
            "sij,sij->ij",
            part[:, rows[:, None], cols[None, :]],
            part[:, cols[:, None], rows[None, :]],
        )
    return 0.5 * total / len(hessians) * np.outer(weight, weight)


def reduced_operator(problem: Quadratic, method: Any) -> ReducedOperator:
    """Assemble the second-moment operator of ``method`` on ``problem`` (reduced, svec basis).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric.thresholds import reduced_operator
    >>> operator = reduced_operator(Quadratic(np.diag([2.0, 0.0])), GD())
    >>> operator.size, operator.matrix(0.5)
    (1, array([[0.]]))
    """
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    mixing = float(dynamics.batch.mixing(problem.samples))
    reduced = problem.reduced()
    scale = dynamics.gradient_step_scale()
    state = dynamics.blocks * reduced.rank
    size = state * (state + 1) // 2
    if scale is not None:
        if size * size > DENSE_ENTRY_LIMIT:
            raise SizeLimitError(
                f"the reduced operator has dimension {size:,} (rank {reduced.rank}); too large "
                "for the dense eigenvalue route"
            )
        rows, cols = np.triu_indices(reduced.rank)
        eigenvalues = reduced.eigenvalues
        curvature = 0.5 * (eigenvalues[rows] + eigenvalues[cols])
        noise = np.zeros((size, size))
        noise[np.diag_indices(size)] = (1.0 - mixing) * eigenvalues[rows] * eigenvalues[cols]
        if mixing:
            noise += mixing * _sample_term(reduced)
        return ReducedOperator(
            dynamics, reduced, mixing, float(scale), curvature=curvature, noise_curvature=noise
        )
    moment = reduced_moment_tensor(reduced, mixing)
    full = operator_coefficients(dynamics, reduced.hessian, moment)
    basis = symmetric_basis(state)
    coefficients = np.einsum("ia,qab,jb->qij", basis, full, basis, optimize=True)
    return ReducedOperator(dynamics, reduced, mixing, None, coefficients=coefficients)


def _gradient_threshold(operator: ReducedOperator) -> float:
    curvature = operator.curvature
    scaled = operator.noise_curvature / np.sqrt(np.outer(curvature, curvature))
    top = float(
        scipy.linalg.eigvalsh(scaled, subset_by_index=[len(scaled) - 1, len(scaled) - 1])[0]
    )
    if top <= 0:
        return math.inf
    return 2.0 / (operator.gradient_scale * top)


def _polynomial_threshold(operator: ReducedOperator) -> float:
    scale = float(operator.reduced.eigenvalues[0])
    powers = np.arange(len(operator.coefficients))[:, None, None]
    coefficients = operator.coefficients / scale**powers  # in ν = η λ_max
    coefficients[0] -= np.eye(coefficients.shape[1])
    return smallest_positive_real_root(coefficients) / scale


def _check_solver(solver: Any) -> str:
    if solver not in SOLVERS:
        raise InvalidInputError(
            f"solver must be one of {', '.join(repr(s) for s in SOLVERS)}; got {solver!r}"
        )
    return solver


@dataclass(frozen=True)
class ThresholdReport:
    """How an exact threshold was computed, with the numbers that certify it.

    Attributes
    ----------
    value : float
        ``η*`` (``math.inf`` when every learning rate is stable).
    route : str
        ``"zero-hessian"``, ``"full-batch"`` (closed form), ``"commuting"`` (closed form
        per common eigenvector), ``"dense"``, ``"dense-polynomial"``, ``"matrix-free"``
        (Lanczos) or ``"matrix-free-perron"`` (momentum).
    rank : int
        ``r = rank H``.
    size : int
        Coordinates of the symmetric state second moment, ``m r (m r + 1)/2``.
    residual : float or None
        Matrix-free Lanczos: ``‖K v − μ v‖ / μ`` of the verified Ritz pair; some
        eigenvalue lies within that relative distance of ``μ`` (so ``η*`` is accurate to
        it at first order, and to its square over the relative gap in practice).
    applications : int or None
        Operator applications in double precision (matrix-free routes).
    single_applications : int or None
        Single-precision applications spent on the Lanczos start (mixed precision).
    certified : float or None
        The mpmath value (``certify=True``), rounded to a float.
    """

    value: float
    route: str
    rank: int
    size: int
    residual: float | None = None
    applications: int | None = None
    single_applications: int | None = None
    certified: float | None = None


def _state_size(dynamics: LinearDynamics, reduced: ReducedQuadratic) -> int:
    state = dynamics.blocks * reduced.rank
    return state * (state + 1) // 2


def _dense_report(problem: Quadratic, dynamics: LinearDynamics, size: int) -> ThresholdReport:
    operator = reduced_operator(problem, dynamics)
    rank = operator.reduced.rank
    if operator.gradient_scale is not None:
        return ThresholdReport(_gradient_threshold(operator), "dense", rank, size)
    return ThresholdReport(_polynomial_threshold(operator), "dense-polynomial", rank, size)


def _matrix_free_report(
    dynamics: LinearDynamics, reduced: ReducedQuadratic, mixing: float, size: int
) -> ThresholdReport:
    scale = dynamics.gradient_step_scale()
    rank = reduced.rank
    if scale is not None:
        result = top_eigenpair(reduced, mixing)
        value = math.inf if result.value <= 0 else 2.0 / (float(scale) * result.value)
        return ThresholdReport(
            value,
            "matrix-free",
            rank,
            size,
            residual=result.residual,
            applications=result.applications,
            single_applications=result.single,
        )
    upper = full_batch_critical_learning_rate(dynamics, reduced.eigenvalues)
    operator = SecondMomentMap(reduced, dynamics, mixing)
    value = upper if not math.isfinite(upper) else perron_threshold(operator, upper)
    return ThresholdReport(
        value, "matrix-free-perron", rank, size, applications=operator.applications
    )


def _certify(report: ThresholdReport, problem: Quadratic, dynamics: LinearDynamics) -> float:
    from stability.numeric.precision import high_precision_critical_learning_rate

    try:
        exact = high_precision_critical_learning_rate(problem, dynamics, precision=CERTIFY_DIGITS)
    except SizeLimitError as error:
        raise SizeLimitError(
            f"certify=True recomputes the threshold with mpmath at {CERTIFY_DIGITS} digits, "
            f"which is limited to small reduced problems: {error}"
        ) from None
    certified = float(exact)
    both_infinite = math.isinf(certified) and math.isinf(report.value)
    if not both_infinite and not (
        abs(report.value - certified) <= CERTIFY_TOLERANCE * abs(certified)
    ):
        raise CertificationError(
            f"the {report.route} route gives η* = {report.value!r} but mpmath at "
            f"{CERTIFY_DIGITS} digits gives {certified!r} (relative tolerance "
            f"{CERTIFY_TOLERANCE:g})"
        )
    return certified


def threshold_report(
    problem: Quadratic, method: Any, *, solver: str = "auto", certify: bool = False
) -> ThresholdReport:
    """The exact threshold ``η*`` with the route taken and its accuracy certificate.

    Same arguments as :func:`critical_learning_rate` (without ``precision``); see the
    module notes for the routes.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric.thresholds import threshold_report
    >>> data = np.random.default_rng(0).standard_normal((60, 40))
    >>> report = threshold_report(Quadratic.from_data(data), SGD(4), solver="matrix-free")
    >>> report.route, report.size, report.residual < 1e-9
    ('matrix-free', 820, True)
    >>> dense = threshold_report(Quadratic.from_data(data), SGD(4), solver="dense")
    >>> bool(abs(dense.value - report.value) < 1e-12 * dense.value)
    True
    """
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    solver = _check_solver(solver)
    mixing = float(dynamics.batch.mixing(problem.samples))
    reduced = problem.reduced()
    size = _state_size(dynamics, reduced)
    scale = dynamics.gradient_step_scale()
    if reduced.rank == 0:
        report = ThresholdReport(math.inf, "zero-hessian", 0, 0)
    elif solver == "dense":
        report = _dense_report(problem, dynamics, size)
    elif solver == "matrix-free":
        report = _matrix_free_report(dynamics, reduced, mixing, size)
    elif mixing == 0:
        if scale is not None:
            value = 2.0 / (float(scale) * float(reduced.eigenvalues[0]))
        else:
            value = full_batch_critical_learning_rate(dynamics, reduced.eigenvalues)
        report = ThresholdReport(value, "full-batch", reduced.rank, size)
    elif (curvatures := common_eigenbasis_curvatures(reduced)) is not None:
        value = commuting_threshold(dynamics, curvatures, mixing)
        report = ThresholdReport(value, "commuting", reduced.rank, size)
    elif size <= (DENSE_GRADIENT_SIZE if scale is not None else DENSE_POLYNOMIAL_SIZE):
        report = _dense_report(problem, dynamics, size)
    else:
        report = _matrix_free_report(dynamics, reduced, mixing, size)
    if certify:
        report = ThresholdReport(
            **{**report.__dict__, "certified": _certify(report, problem, dynamics)}
        )
    return report


def critical_learning_rate(
    problem: Quadratic,
    method: Any,
    *,
    precision: int | None = None,
    solver: str = "auto",
    certify: bool = False,
) -> float:
    """The exact mean-square critical learning rate ``η*`` of ``method`` on ``problem``.

    ``η*`` is the supremum of the learning rates at which ``sup_t E‖δ_t‖² < ∞`` from every
    start (``shared/theory.md`` §1–§3). It is computed from an eigenvalue problem, not
    by bisection: ``2 / λ_max(C^{-1/2} D C^{-1/2})`` for gradient steps (Mulayoff &
    Michaeli 2023, Thm 3), the smallest positive real root of ``det(T(η) − I)`` for
    momentum. Neutral directions (the null space of ``H``) are removed first.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser, e.g. ``SGD(batch_size=4)``.
    precision : int, optional
        Decimal digits for an mpmath computation of the same eigenvalue problem (small
        problems only); the result is then an ``mpmath.mpf``.
    solver : {"auto", "dense", "matrix-free"}, default "auto"
        ``"dense"`` assembles the reduced operator (small problems); ``"matrix-free"``
        applies it without forming it, ``O(n r²)`` per application for rank-one samples
        (Lanczos for gradient steps; for momentum the first ``η`` with
        ``ρ(T(η)) = 1`` below the full-batch threshold); ``"auto"`` takes exact closed
        forms where the structure allows (full batch, commuting ``H_i``), the dense route
        for small and the matrix-free one for large problems.
    certify : bool, default False
        Recompute ``η*`` with mpmath at 50 digits on the reduced problem and raise
        :class:`CertificationError` unless the two agree to a relative ``1e-9`` (small
        reduced problems only: :class:`SizeLimitError` otherwise).

    Returns
    -------
    float
        ``η*``; ``math.inf`` when every learning rate is stable (``H = 0``).

    Raises
    ------
    InvalidInputError
        If the batch size does not fit the problem (``> n`` without replacement, or a
        stochastic method on a single Hessian), or ``solver`` is unknown.
    SizeLimitError
        If the problem is too large for the requested route.
    ConvergenceError
        If a matrix-free eigen-solver does not reach a verified accuracy.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, SGD, HeavyBall, Quadratic, critical_learning_rate
    >>> problem = Quadratic.from_data(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> round(critical_learning_rate(problem, GD()), 10)  # 2 / λ_max(H), λ_max(H) = 1
    2.0
    >>> round(critical_learning_rate(problem, SGD(1)), 10)  # 3 − √3
    1.2679491924
    >>> round(critical_learning_rate(problem, SGD(2, replacement=True)), 10)
    1.569499126
    >>> round(critical_learning_rate(problem, HeavyBall(0.5)), 10)  # 2 (1 + β) / λ_max
    3.0
    >>> round(critical_learning_rate(problem, SGD(1), solver="matrix-free", certify=True), 10)
    1.2679491924
    """
    if precision is not None:
        from stability.numeric.precision import high_precision_critical_learning_rate

        return high_precision_critical_learning_rate(problem, method, precision=precision)
    return threshold_report(problem, method, solver=solver, certify=certify).value


def _matrix_free_radius(
    reduced: ReducedQuadratic, dynamics: LinearDynamics, mixing: float, lr: float
) -> float:
    operator = SecondMomentMap(reduced, dynamics, mixing)
    if dynamics.gradient_step_scale() is None or operator.size <= 12:
        return abs(perron_radius(operator, lr)[0])
    # symmetric: ρ(T) is its largest eigenvalue (Krein–Rutman), found by Lanczos
    try:
        values = eigsh(
            operator.linear_operator(lr),
            k=1,
            which="LA",
            v0=operator.start_vector(),
            tol=0.0,
            ncv=min(operator.size - 1, 24),
            maxiter=max(1000, operator.size),
        )[0]
    except ArpackNoConvergence as error:  # pragma: no cover - rare
        raise ConvergenceError(
            f"Lanczos did not converge on the {operator.size:,}-dimensional operator"
        ) from error
    return float(abs(values[0]))


def spectral_radius(problem: Quadratic, method: Any, lr: float, *, solver: str = "auto") -> float:
    """``ρ(T(η))``, the spectral radius of the second-moment operator on the non-neutral subspace.

    The operator acts on symmetric second moments of the state restricted to
    ``range(H)`` (``shared/theory.md`` §2); mean-square stability is ``ρ < 1``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.
    solver : {"auto", "dense", "matrix-free"}, default "auto"
        ``"dense"`` assembles ``T(η)``; ``"matrix-free"`` applies it (Lanczos for gradient
        steps, where ``T`` is symmetric, Arnoldi for the largest real part otherwise: the
        Perron root of an operator that preserves the PSD cone); ``"auto"`` picks dense
        up to ``DENSE_RADIUS_SIZE`` coordinates.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic, spectral_radius
    >>> problem = Quadratic(np.diag([2.0, 1.0]))
    >>> round(spectral_radius(problem, GD(), 0.25), 12)  # max (1 − η λ)²
    0.5625
    >>> spectral_radius(problem, GD(), 1.5) > 1
    True
    >>> round(spectral_radius(problem, GD(), 0.25, solver="matrix-free"), 12)
    0.5625
    """
    lr = check_learning_rate(lr)
    solver = _check_solver(solver)
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    mixing = float(dynamics.batch.mixing(problem.samples))
    reduced = problem.reduced()
    size = _state_size(dynamics, reduced)
    if size == 0:
        return 0.0
    if solver == "matrix-free" or (solver == "auto" and size > DENSE_RADIUS_SIZE):
        return _matrix_free_radius(reduced, dynamics, mixing, lr)
    operator = reduced_operator(problem, dynamics)
    matrix = operator.matrix(lr)
    if operator.gradient_scale is not None:
        eigenvalues = scipy.linalg.eigvalsh(matrix)
    else:
        eigenvalues = scipy.linalg.eigvals(matrix)
    return float(np.max(np.abs(eigenvalues)))


def is_stable(problem: Quadratic, method: Any, lr: float, *, solver: str = "auto") -> bool:
    """Whether ``method`` is mean-square stable on ``problem`` at learning rate ``lr``.

    True exactly when ``lr < η*`` (equivalently ``ρ(T(lr)) < 1``); at ``lr = η*`` the
    second moment is marginal and this returns False. ``solver`` is passed to
    :func:`critical_learning_rate`.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic, is_stable
    >>> problem = Quadratic(np.diag([2.0, 1.0]))
    >>> is_stable(problem, GD(), 0.9), is_stable(problem, GD(), 1.1)
    (True, False)
    """
    lr = check_learning_rate(lr)
    return lr < critical_learning_rate(problem, method, solver=solver)
