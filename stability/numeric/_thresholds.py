"""Exact mean-square thresholds and spectral radii of second-moment operators.

Theory: ``docs/theory/operator.md`` and ``docs/theory/threshold.md``. Everything here works on the
problem reduced to ``range(H)`` (the neutral null space removed) and on symmetric second moments
(the ``svec`` basis of :func:`~stability.numeric.symmetric_basis`).

Two exact characterisations, chosen from the shape of the dynamics description, never
from a method's name:

* plain gradient steps ``A = I − g η H_B`` (GD, SGD, variational GD): the operator is
  ``T(η) = I − 2 g η C + g² η² D`` with ``C = ½ H ⊕ H`` and
  ``D = (1 − p) H ⊗ H + p M``, and ``η* = 2 / (g λ_max(C^{-1/2} D C^{-1/2}))``, a
  symmetric eigenvalue problem (Mulayoff & Michaeli 2023, Thm 3);
* any other polynomial state map (momentum): ``η*`` is the smallest positive real root
  of ``det(T(η) − I) = 0`` (docs/theory/operator.md, rule 2).

Routes (``solver=``):

* ``"dense"``: assemble the reduced operator on ``svec`` (``N = r(r + 1)/2`` coordinates
  per state block) and take a dense symmetric eigenvalue problem, or the companion
  pencil of ``det(T(η) − I)`` (:mod:`stability.numeric`);
* ``"matrix-free"``: :mod:`stability.numeric`, Lanczos on ``C^{-1/2} D C^{-1/2}``
  applied in ``O(n r²)`` (rank-one samples), or, for momentum, the first root of
  ``ρ(T(η)) = 1`` below the full-batch threshold with ``ρ`` from Arnoldi;
* ``"auto"`` (default): exact closed forms when the structure allows them (full batch;
  commuting ``H_i``, :mod:`stability.numeric`), the dense routes for small
  ``N`` and the matrix-free ones beyond (see ``docs/performance.md`` for the costs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh, lobpcg

from stability._system import System, bind
from stability._validation import check_learning_rate
from stability.dynamics import LinearDynamics
from stability.errors import (
    CertificationError,
    InvalidInputError,
    OutOfRangeError,
    SizeLimitError,
)
from stability.numeric._crossing import first_crossing, pencil_threshold
from stability.numeric._epoch import epoch_operator, reshuffled_pair
from stability.numeric._matrix_free import (
    ConvergenceError,
    perron_radius,
    perron_threshold,
    top_eigenpair,
)
from stability.numeric._operator import (
    BatchSandwich,
    GradientPencil,
    SecondMomentOperator,
    SymmetricLayout,
)
from stability.numeric._operators import DENSE_ENTRY_LIMIT
from stability.numeric._rank_one_noise import rank_one_threshold
from stability.numeric._structure import (
    common_eigenbasis_curvatures,
    common_eigenbasis_threshold,
    full_batch_critical_learning_rate,
)
from stability.problems import Quadratic, ReducedQuadratic

if TYPE_CHECKING:
    from stability.methods import MethodLike

__all__ = [
    "CertificationError",
    "RadiusReport",
    "ReducedOperator",
    "ThresholdReport",
    "critical_learning_rate",
    "is_stable",
    "principal_moments",
    "radius_report",
    "reduced_operator",
    "spectral_gap",
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
        The problem restricted to ``range(H)`` (in the units of the bound system).
    mixing : float
        The weight ``p`` of the batch law.
    gradient_scale : float or None
        ``g`` when the state map is ``I − g η (H_B + μ I)`` (then :attr:`curvature` and
        :attr:`noise_curvature` hold ``C`` and ``D``), else ``None`` (then
        :attr:`coefficients` holds the ``T_q``).
    curvature : ndarray or None
        ``C`` on ``svec``: the pairwise means ``(λ_i + λ_j)/2`` plus the shift ``μ``
        (gradient steps only, else ``None``).
    noise_curvature : ndarray or None
        ``D``, the dense batch-curvature matrix on ``svec`` (gradient steps only, else
        ``None``).
    coefficients : ndarray or None
        The matrices ``T_q`` of ``T(ν) = Σ_q ν^q T_q`` (other methods, else ``None``).
    rate_factor : float
        The operator is read at ``ν = rate_factor · η`` (see :mod:`stability._system`).
    """

    dynamics: LinearDynamics
    reduced: ReducedQuadratic
    mixing: float
    gradient_scale: float | None
    curvature: np.ndarray | None = None
    noise_curvature: np.ndarray | None = None
    coefficients: np.ndarray | None = None
    rate_factor: float = 1.0

    @property
    def size(self) -> int:
        """The dimension of the symmetric state space the operator acts on."""
        state = self.dynamics.blocks * self.reduced.rank
        return state * (state + 1) // 2

    def matrix(self, lr: float) -> np.ndarray:
        """The dense matrix of ``T(η)`` in the ``svec`` basis.

        Parameters
        ----------
        lr : float
            Learning rate η.
        """
        nu = float(lr) * self.rate_factor
        if self.gradient_scale is not None:
            g_lr = self.gradient_scale * nu
            matrix = g_lr**2 * self.noise_curvature
            matrix[np.diag_indices_from(matrix)] += 1.0 - 2.0 * g_lr * self.curvature
            return matrix
        powers = nu ** np.arange(self.coefficients.shape[0])
        return np.tensordot(powers, self.coefficients, axes=1)


def _reduced_operator(system: System) -> ReducedOperator:
    reduced = system.reduced
    size = system.size
    if size * size > DENSE_ENTRY_LIMIT:
        raise SizeLimitError(
            f"the reduced operator has dimension {size:,} (rank {reduced.rank}); too large "
            "for the dense eigenvalue route"
        )
    operator = SecondMomentOperator(system)
    dynamics = system.dynamics
    if system.gradient_scale is not None:
        left, right = operator.layout.pairwise(np.asarray(reduced.eigenvalues, dtype=float))
        curvature = 0.5 * (left + right) + system.shift
        return ReducedOperator(
            dynamics,
            reduced,
            system.mixing,
            float(system.gradient_scale),
            curvature=curvature,
            noise_curvature=operator.noise_curvature(),
            rate_factor=system.rate_factor,
        )
    coefficients = operator.coefficients()
    return ReducedOperator(
        dynamics,
        reduced,
        system.mixing,
        None,
        coefficients=coefficients,
        rate_factor=system.rate_factor,
    )


def reduced_operator(problem: Quadratic, method: MethodLike) -> ReducedOperator:
    """Assemble the second-moment operator of ``method`` on ``problem`` (reduced, svec basis).

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric import reduced_operator
    >>> operator = reduced_operator(Quadratic(np.diag([2.0, 0.0])), GD())
    >>> operator.size, operator.matrix(0.5)
    (1, array([[0.]]))
    """
    return _reduced_operator(bind(problem, method))


def _null_limit(system: System) -> float:
    """``2 / (g μ)`` in ``ν`` when a shifted gradient step contracts ``null(H)``, else ∞."""
    reduced = system.reduced
    if not system.shift or reduced.basis.shape[0] <= reduced.rank:
        return math.inf
    return 2.0 / (float(system.gradient_scale) * system.shift)


def _identity_limit(system: System) -> float:
    """The smallest ``η > 0`` with ``ρ(F(η)) ≥ 1``, the edge of ``H = 0`` (``∞`` if none).

    With ``H = 0`` the state evolves by ``F(η)`` alone and its second moment by ``F ⊗ F``, whose
    radius is ``ρ(F)²``. ``F(0)`` has the eigenvalue one (nothing moves at ``η = 0``); a method
    whose ``F`` depends on ``η`` (decoupled weight decay) contracts for small ``η`` and turns
    unstable where ``ρ(F(η))`` returns to one: a geometric scan from 1e-12 to 1e12 finds a rate
    above it, the shared crossing search the crossing.
    """

    def excess(lr: float) -> float:
        identity, _ = system.parts(lr)
        return float(np.max(np.abs(np.linalg.eigvals(identity)))) - 1.0

    for lr in np.logspace(-12, 12, 193):
        if excess(float(lr)) > 1e-12:
            return first_crossing(excess, float(lr), relative_tolerance=1e-15)
    return math.inf


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
    return pencil_threshold(operator.coefficients, float(operator.reduced.eigenvalues[0]))


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
        (Lanczos), ``"matrix-free-rank-one"`` (minibatch momentum,
        :mod:`stability.numeric`), ``"matrix-free-perron"`` (momentum) or
        ``"epoch"`` (reshuffled epochs, ``shuffle=True``: the epoch operator).
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


def _dense_report(system: System) -> ThresholdReport:
    operator = _reduced_operator(system)
    rank, size = system.reduced.rank, system.size
    if operator.gradient_scale is not None:
        value = min(_gradient_threshold(operator), _null_limit(system))
        return ThresholdReport(system.learning_rate(value), "dense", rank, size)
    value = _polynomial_threshold(operator)
    return ThresholdReport(system.learning_rate(value), "dense-polynomial", rank, size)


def _full_batch_rate(system: System) -> float:
    """The full-batch threshold in ``ν`` (every eigenvalue of the reduced problem)."""
    reduced = system.reduced
    if system.gradient_scale is not None:
        top = float(reduced.eigenvalues[0]) + system.shift
        return min(2.0 / (float(system.gradient_scale) * top), _null_limit(system))
    if (shifted := _shifted_plain_method(system)) is not None:
        # the plain method at λ + μ: only λ_max + μ is needed, heavy ball in closed form
        plain, shift = shifted
        return full_batch_critical_learning_rate(plain, reduced.eigenvalues + shift)
    return full_batch_critical_learning_rate(system.dynamics, reduced.eigenvalues)


def _commuting_rate(system: System) -> float | None:
    """The closed form per common eigenvector (in ``ν``), or ``None`` if the ``H_i`` do not commute.

    With weight decay it is the plain method's at the shifted curvatures ``h_ik + μ``.
    """
    curvatures = common_eigenbasis_curvatures(system.reduced)
    if curvatures is None:
        return None
    if (shifted := _shifted_plain_method(system)) is not None:
        plain, shift = shifted
        rate = common_eigenbasis_threshold(plain, curvatures + shift, system.mixing)
        return min(rate, _null_limit(system)) if system.gradient_scale is not None else rate
    if system.shift:  # a shifted gradient step whose exact coefficients were not available
        return None
    return common_eigenbasis_threshold(system.dynamics, curvatures, system.mixing)


def _shifted_plain_method(system: System) -> tuple[LinearDynamics, float] | None:
    """``(plain dynamics, μ)`` when the bound state map is a plain method on ``H_B + μ I``.

    Weight decay compiled by ``LinearDynamics.with_hessian_shift`` gives
    ``F(ν) = F₀ + μ ν G₁`` and ``G(ν) = ν G₁`` (docs/theory/weight-decay.md): the method
    whose ``F = F₀`` is constant on the shifted eigenvalues ``λ + μ`` and the shifted sample
    moment, so the routes of the plain method (the heavy-ball pencil, the homogeneous
    rescaling, the full-batch and commuting closed forms) apply. ``μ`` is read from the
    exact coefficients when they are the bound ones. ``None`` without a shift, or when
    ``F`` has any other ``η`` dependence (e.g. AdamW's decoupled decay).
    """
    import dataclasses
    from fractions import Fraction

    from stability.dynamics import MatrixPolynomial

    identity, hessian = system.identity, system.hessian
    if (
        identity.shape[0] != 2
        or np.any(hessian[0])
        or not np.any(hessian[1])
        or not np.any(identity[1])
    ):
        return None
    exact_identity, exact_hessian = _exact_coefficients(system)
    try:
        first = [Fraction(value) for row in exact_identity[1] for value in row]
        slope = [Fraction(value) for row in exact_hessian[1] for value in row]
        constant = [[Fraction(value) for value in row] for row in exact_identity[0]]
    except (TypeError, ValueError):
        return None
    pivot = max(range(len(slope)), key=lambda index: abs(slope[index]))
    shift = first[pivot] / slope[pivot]
    if shift <= 0 or any(f != shift * g for f, g in zip(first, slope, strict=True)):
        return None
    plain = dataclasses.replace(
        system.dynamics,
        identity_part=MatrixPolynomial.from_matrices([constant]),
        hessian_part=MatrixPolynomial.from_matrices(
            [[[Fraction(value) for value in row] for row in matrix] for matrix in exact_hessian]
        ),
        noise=None,
        preconditioning=None,
    )
    return plain, float(shift)


def _exact_coefficients(system: System) -> tuple[Any, Any]:
    """The method's exact coefficients of ``F`` and ``G`` when they are the bound ones.

    The rank-one route reads ``1 − β`` from exact coefficients (``Fraction``), which
    floats lose as ``β → 1``; when the binding changed the coefficients (or they are not
    exact numbers of the same shape) the bound float arrays are used.
    """
    bound = (system.identity, system.hessian)
    tables = (system.dynamics.identity_part.coefficients, system.dynamics.hessian_part.coefficients)
    # compare with the lower-degree table padded by zero powers to the bound shape
    padded = tuple(
        tuple(table) + ((((0,) * len(table[0]),) * len(table[0])),) * (len(values) - len(table))
        for table, values in zip(tables, bound, strict=True)
    )
    try:
        if all(
            np.array_equal(np.asarray(table, dtype=float), values)
            for table, values in zip(padded, bound, strict=True)
        ):
            return tables
    except (TypeError, ValueError):
        pass
    return system.identity, system.hessian


def _rank_one_report(system: System) -> ThresholdReport | None:
    """Minibatch momentum (rank-one ``G``) by :mod:`stability.numeric`.

    ``None`` when the structure does not apply or the route declines (the caller falls
    back to the dense companion pencil or the Perron crossing).
    """
    reduced = system.reduced
    upper = _full_batch_rate(system)
    if not math.isfinite(upper):
        return None
    sandwich = BatchSandwich(reduced.eigenvalues, reduced.factors, 1.0)
    identity, hessian = _exact_coefficients(system)
    eigenvalues, sample_moment = reduced.eigenvalues, sandwich.sample
    if (shifted := _shifted_plain_method(system)) is not None:
        # weight decay: the plain method on H_i + μ I, whose per-sample moment is
        # M X + μ (Λ X + X Λ) + μ² X in the eigenbasis of H (docs/theory/weight-decay.md)
        plain, shift = shifted
        identity, hessian = plain.identity_part.coefficients, plain.hessian_part.coefficients
        eigenvalues = reduced.eigenvalues + shift

        def sample_moment(matrix: np.ndarray) -> np.ndarray:
            return sandwich.sample(matrix) + shift * (
                sandwich.left(matrix) + sandwich.right(matrix) + shift * matrix
            )

    try:
        result = rank_one_threshold(
            eigenvalues,
            sample_moment,
            identity,
            hessian,
            system.mixing,
            upper,
        )
    except (InvalidInputError, ConvergenceError):
        return None
    return ThresholdReport(
        system.learning_rate(result.threshold),
        "matrix-free-rank-one",
        reduced.rank,
        system.size,
        residual=result.residual,
        applications=result.applications,
    )


def _matrix_free_report(system: System) -> ThresholdReport:
    reduced = system.reduced
    rank, size = reduced.rank, system.size
    if system.gradient_scale is not None:
        result = top_eigenpair(reduced, system.mixing, shift=system.shift)
        value = math.inf if result.value <= 0 else 2.0 / (system.gradient_scale * result.value)
        value = min(value, _null_limit(system))
        return ThresholdReport(
            system.learning_rate(value),
            "matrix-free",
            rank,
            size,
            residual=result.residual,
            applications=result.applications,
            single_applications=result.single,
        )
    upper = system.learning_rate(_full_batch_rate(system))
    operator = SecondMomentOperator(system)
    value = upper if not math.isfinite(upper) else perron_threshold(operator, upper)
    return ThresholdReport(
        value, "matrix-free-perron", rank, size, applications=operator.applications
    )


def _certify(report: ThresholdReport, problem: Quadratic, dynamics: LinearDynamics) -> float:
    from stability.numeric._precision import high_precision_critical_learning_rate

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
    problem: Quadratic, method: MethodLike, *, solver: str = "auto", certify: bool = False
) -> ThresholdReport:
    """The exact threshold ``η*`` with the route taken and its accuracy certificate.

    Same arguments as :func:`critical_learning_rate` (without ``precision``); see the
    module notes for the routes.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    solver : str, default 'auto'
        Eigenvalue route: ``'auto'``, ``'dense'`` or ``'matrix-free'`` (``'auto'`` picks by size).
    certify : bool, default False
        Whether to recompute the threshold with mpmath at high precision and report it.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric import threshold_report
    >>> data = np.random.default_rng(0).standard_normal((60, 40))
    >>> report = threshold_report(Quadratic.from_data(data), SGD(4), solver="matrix-free")
    >>> report.route, report.size, report.residual < 1e-9
    ('matrix-free', 820, True)
    >>> dense = threshold_report(Quadratic.from_data(data), SGD(4), solver="dense")
    >>> bool(abs(dense.value - report.value) < 1e-12 * dense.value)
    True
    """
    solver = _check_solver(solver)
    if reshuffled_pair(problem, method) is not None:  # the batch law draws whole epochs
        return _epoch_threshold_report(problem, method, certify)
    system = bind(problem, method)
    return _threshold_report(system, solver, certify)


def _epoch_threshold_report(
    problem: Quadratic, method: MethodLike, certify: bool,
) -> ThresholdReport:
    """Reshuffled epochs: the first root of ``ρ(𝒯_epoch(η)) = 1`` (docs/theory/reshuffling.md)."""
    if certify:
        raise InvalidInputError(
            "certify=True recomputes the i.i.d. operator with mpmath; reshuffled epochs "
            "(shuffle=True) have no such route (their threshold is exact to a relative 1e-13)"
        )
    operator = epoch_operator(problem, method)
    rank = operator.coordinates.shape[1]
    return ThresholdReport(operator.threshold(), "epoch", rank, operator.size)


def _threshold_report(system: System, solver: str, certify: bool) -> ThresholdReport:
    problem, dynamics = system.problem, system.dynamics
    reduced = system.reduced
    mixing = system.mixing
    size = system.size
    gradient = system.gradient_scale is not None
    if reduced.rank == 0:
        value = system.learning_rate(_null_limit(system)) if gradient else _identity_limit(system)
        report = ThresholdReport(value, "zero-hessian", 0, 0)
    elif solver == "dense":
        report = _dense_report(system)
    elif solver == "matrix-free":
        report = _matrix_free_report(system)
    elif mixing == 0:
        value = system.learning_rate(_full_batch_rate(system))
        report = ThresholdReport(value, "full-batch", reduced.rank, size)
    elif (commuting := _commuting_rate(system)) is not None:
        report = ThresholdReport(system.learning_rate(commuting), "commuting", reduced.rank, size)
    elif not gradient and (rank_one := _rank_one_report(system)) is not None:
        # minibatch momentum at every size: the rank-one noise pencil keeps 1 − β exact,
        # where the companion pencil of det(T(η) − I) loses it as β → 1
        report = rank_one
    elif size <= (DENSE_GRADIENT_SIZE if gradient else DENSE_POLYNOMIAL_SIZE):
        report = _dense_report(system)
    else:
        report = _matrix_free_report(system)
    if certify:
        report = ThresholdReport(
            **{**report.__dict__, "certified": _certify(report, problem, dynamics)}
        )
    return report


def critical_learning_rate(
    problem: Quadratic,
    method: MethodLike,
    *,
    precision: int | None = None,
    solver: str = "auto",
    certify: bool = False,
) -> float:
    """The exact mean-square critical learning rate ``η*`` of ``method`` on ``problem``.

    ``η*`` is the supremum of the learning rates at which ``sup_t E‖δ_t‖² < ∞`` from every
    start (``docs/theory/operator.md`` and ``docs/theory/threshold.md``). For gradient steps it is
    one symmetric eigenvalue problem, ``2 / λ_max(C^{-1/2} D C^{-1/2})`` (Mulayoff & Michaeli 2023,
    Thm 3); for momentum the smallest positive real root of ``det(T(η) − I)``, from a companion
    pencil (small problems), the rank-one noise pencil (minibatch heavy ball and Nesterov), or, as
    ``solver="matrix-free"``, a bracketed root search (Illinois regula falsi) on the Perron
    root of ``T(η)``. Neutral directions (the null space of ``H``) are removed first.

    Reshuffled batches (``shuffle=True``, the :class:`~stability.dynamics.ReshuffledBatchLaw`)
    are not i.i.d. steps: ``η*`` is then the first root of ``ρ(𝒯_epoch(η)) = 1`` for the exact
    epoch operator (``docs/theory/reshuffling.md``), computable up to ``n = 16`` samples
    (:class:`SizeLimitError` beyond: use Monte Carlo of the epoch law).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser, e.g. ``SGD(batch_size=4)``.
    precision : int, optional
        Decimal digits (at most 1000) for an mpmath computation of the same eigenvalue
        problem (small problems only); the result is then an ``mpmath.mpf``.
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
    if precision is not None and reshuffled_pair(problem, method) is not None:
        raise InvalidInputError(
            "precision= is not available for reshuffled epochs (shuffle=True); their exact "
            "threshold is computed in double precision to a relative 1e-13"
        )
    if precision is not None:
        from stability.numeric._precision import high_precision_critical_learning_rate

        return high_precision_critical_learning_rate(problem, method, precision=precision)
    return threshold_report(problem, method, solver=solver, certify=certify).value


@dataclass(frozen=True)
class RadiusReport:
    """``ρ(T(η))`` with the gap ``1 − ρ``, the route taken and the accuracy reached.

    Attributes
    ----------
    value : float
        ``ρ(T(η))`` on the non-neutral subspace.
    gap : float
        ``1 − ρ``, computed without cancellation where the route allows it (full batch:
        ``min_k x_k (2 − x_k)`` with ``x_k = g η (λ_k + μ)``; gradient steps:
        ``g η λ_min(2C − g η D)``), so it keeps its relative accuracy when ``ρ ≈ 1``.
    route : str
        ``"empty"``, ``"full-batch"`` (closed form per eigenvalue), ``"dense"``,
        ``"structured"`` (preconditioned LOBPCG on ``2C − g η D``), ``"lanczos"``,
        ``"arnoldi"`` or ``"epoch"`` (reshuffled epochs: ``ρ(𝒯_epoch)^{1/K}`` per step).
    residual : float or None
        Iterative routes: the absolute residual ``‖T v − ρ v‖`` of the returned unit vector,
        a bound on the error of ``ρ`` for symmetric ``T`` (Weyl).
    applications : int or None
        Operator applications of the iterative routes.
    """

    value: float
    gap: float
    route: str
    residual: float | None = None
    applications: int | None = None


def _with_null_space(system: System, lr: float, report: RadiusReport) -> RadiusReport:
    """Include the contraction ``(1 − g μ ν)²`` of ``null(H)`` under a shifted gradient step,
    or ``ρ(F(η))²`` when weight decay makes ``F`` depend on ``η`` (momentum, AdamW)."""
    reduced = system.reduced
    if reduced.basis.shape[0] <= reduced.rank:
        return report
    if not system.shift:
        if not system.decaying:
            return report
        value = system.null_space_factor(lr)
        if value > report.value:
            return RadiusReport(value, 1.0 - value, report.route, report.residual,
                                report.applications)
        return report
    x = float(system.gradient_scale) * system.rate(lr) * system.shift
    value, gap = (1.0 - x) ** 2, x * (2.0 - x)
    if value > report.value:
        return RadiusReport(value, gap, report.route, report.residual, report.applications)
    return report


def _full_batch_radius(system: System, lr: float) -> RadiusReport:
    """Closed form: ``T`` is block-diagonal over pairs of eigenvalues, ``ρ = max_k ρ(A_k)²``."""
    eigenvalues = np.asarray(system.reduced.eigenvalues, dtype=float)
    if system.gradient_scale is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            x = float(system.gradient_scale) * system.rate(lr) * (eigenvalues + system.shift)
            values = (1.0 - x) ** 2
            gaps = x * (2.0 - x)
        index = int(np.argmax(values))
        return RadiusReport(float(values[index]), float(gaps[index]), "full-batch")
    identity, hessian = system.reduced_parts(lr)
    maps = identity[None] + eigenvalues[:, None, None] * hessian[None]
    if not np.all(np.isfinite(maps)):
        return RadiusReport(math.inf, -math.inf, "full-batch")
    radius = float(np.max(np.abs(np.linalg.eigvals(maps)))) ** 2
    return RadiusReport(radius, 1.0 - radius, "full-batch")


def _dense_radius(system: System, lr: float) -> RadiusReport:
    operator = _reduced_operator(system)
    matrix = operator.matrix(lr)
    if operator.gradient_scale is not None:
        eigenvalues = scipy.linalg.eigvalsh(matrix)
    else:
        eigenvalues = scipy.linalg.eigvals(matrix)
    radius = float(np.max(np.abs(eigenvalues)))
    return RadiusReport(radius, 1.0 - radius, "dense")


def _lobpcg(*arguments: Any, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`scipy.sparse.linalg.lobpcg`; a breakdown raises :class:`ConvergenceError`."""
    try:
        return lobpcg(*arguments, **options)
    except (ValueError, np.linalg.LinAlgError) as error:
        raise ConvergenceError(f"LOBPCG broke down ({error})") from error


def _structured_radius(
    system: System, lr: float, holder: dict[str, np.ndarray] | None = None
) -> RadiusReport:
    """Gradient steps: ``ρ(T) = 1 − γ λ_min(2C − γ D)``, ``γ = g ν``, by preconditioned LOBPCG.

    ``2C − γ D = C^{1/2} (2I − γ K) C^{1/2}``; the preconditioner ``(2C)^{-1}`` (diagonal in
    ``svec``) turns it into ``I − (γ/2) K``, whose spectrum lies in ``[1 − η/η*, 1]`` below
    the threshold: eigenvalues of ``T`` clustered just below one (near-flat directions, tiny
    ``c_ab``) do not slow it down. The Krein–Rutman eigenvector is PSD, so the start block
    holds ``svec(I)`` and the unit matrices of the smallest diagonal entries.
    """
    reduced = system.reduced
    pencil = GradientPencil(reduced, system.mixing, shift=system.shift)
    layout = pencil.layout
    gamma = float(system.gradient_scale) * system.rate(lr)
    growth = pencil.growth(gamma)
    size = pencil.size
    sandwich = BatchSandwich(
        reduced.eigenvalues, reduced.factors, system.mixing, shift=system.shift
    )
    sample_diagonal = _cached(system, "sandwich-diagonal", lambda: sandwich.diagonal(layout))
    diagonal = 2.0 * pencil.curvature - gamma * sample_diagonal
    block = int(min(size, 6))
    order = np.argsort(diagonal)[: block - 1]
    start = np.zeros((size, block))
    start[:, 0] = np.where(layout.diagonal, 1.0, 0.0)
    start[order, np.arange(1, block)] = 1.0
    previous = _cache(system).get("structured-vector")
    if previous is not None and block > 2:  # warm start from a nearby learning rate
        start[:, -1] = previous
        if np.linalg.matrix_rank(start) < block:  # already in the block: keep the unit
            start[:, -1] = 0.0
            start[order[-1], -1] = 1.0
    if size <= block:
        matrix = growth(np.eye(size))
        values, vectors = scipy.linalg.eigh(0.5 * (matrix + matrix.T))
        value, vector = float(values[0]), vectors[:, 0]
    else:
        operator = LinearOperator((size, size), matvec=growth, matmat=growth, dtype=float)
        inverse = 1.0 / (2.0 * pencil.curvature)
        preconditioner = LinearOperator(
            (size, size),
            matvec=lambda x: inverse * np.ravel(x),
            matmat=lambda x: inverse[:, None] * x,
            dtype=float,
        )
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values, vectors = _lobpcg(
                operator,
                start,
                M=preconditioner,
                largest=False,
                tol=1e-13 * float(np.max(np.abs(diagonal))),
                maxiter=max(500, 4 * int(math.sqrt(size))),
            )
        index = int(np.argmin(values))
        vector = vectors[:, index] / np.linalg.norm(vectors[:, index])
        value = float(vector @ growth(vector))
    residual = float(np.linalg.norm(growth(vector) - value * vector))
    if holder is not None:
        holder["vector"] = vector
    _cache(system)["structured-vector"] = vector
    gap = gamma * value
    return RadiusReport(1.0 - gap, gap, "structured", gamma * residual, pencil.applications)


def _cache(system: System) -> dict[str, Any]:
    """Per-problem memory of the radius routes (the reduced problem is immutable).

    Keyed by the mixing weight and the shift, it keeps the critical mode of ``K`` and the
    diagonal of ``D`` (independent of the learning rate) and the last eigenvector (a warm
    start), so that a radius curve over many learning rates pays for them once.
    """
    store = system.reduced.__dict__.setdefault("_radius_cache", {})
    return store.setdefault((system.mixing, system.shift), {})


def _cached(system: System, key: str, compute: Any) -> Any:
    cache = _cache(system)
    if key not in cache:
        cache[key] = compute()
    return cache[key]


#: Accept an iterative radius when its error bound is below this (absolute, on ``ρ``).
RADIUS_ACCURACY = 1e-9


def _lanczos_radius(
    system: System,
    lr: float,
    start: np.ndarray | None = None,
    holder: dict[str, np.ndarray] | None = None,
) -> RadiusReport:
    """``λ_max(T)`` by Lanczos (gradient steps: ``T = I − γ (2C − γ D)`` by the pencil's kernel)."""
    operator = SecondMomentOperator(system)
    size = operator.size
    if system.gradient_scale is not None:
        pencil = GradientPencil(system.reduced, system.mixing, shift=system.shift)
        gamma = float(system.gradient_scale) * system.rate(lr)
        growth = pencil.growth(gamma)

        def apply(vector: np.ndarray) -> np.ndarray:
            vector = np.ravel(vector)
            return vector - gamma * growth(vector)

        def counter() -> int:
            return pencil.applications

    else:

        def apply(vector: np.ndarray) -> np.ndarray:
            return operator.apply(vector, lr)

        def counter() -> int:
            return operator.applications

    base = operator.start_vector()
    v0 = base if start is None else start / np.linalg.norm(start)
    v0 = v0 + 1e-3 * base / np.linalg.norm(base)
    try:
        _, vectors = eigsh(
            LinearOperator((size, size), matvec=apply, dtype=float),
            k=1,
            which="LA",
            v0=v0,
            tol=0.0,
            ncv=min(size - 1, 40),
            maxiter=max(3000, size),
        )
    except ArpackNoConvergence as error:
        raise ConvergenceError(
            f"Lanczos did not converge on the {size:,}-dimensional operator"
        ) from error
    vector = vectors[:, 0] / np.linalg.norm(vectors[:, 0])
    image = apply(vector)
    value = float(vector @ image)
    residual = float(np.linalg.norm(image - value * vector))
    if holder is not None:
        holder["vector"] = vector
    return RadiusReport(value, 1.0 - value, "lanczos", residual, counter())


def _iterative_radius(
    system: System, lr: float, holder: dict[str, np.ndarray] | None = None
) -> RadiusReport:
    if system.gradient_scale is not None and system.size > 12:
        # above η* the top eigenvalue of T exceeds one and stands apart from the cluster of
        # near-flat directions just below one: Lanczos on T from the critical mode converges
        # fast. Below η*, ρ(T) = 1 − γ λ_min(2C − γ D) is found by preconditioned LOBPCG.
        top = _cached(
            system,
            "critical-mode",
            lambda: top_eigenpair(system.reduced, system.mixing, shift=system.shift),
        )
        nu_star = 2.0 / (float(system.gradient_scale) * top.value) if top.value > 0 else math.inf
        if system.rate(lr) >= nu_star:
            curvature = GradientPencil(system.reduced, 0.0, shift=system.shift).curvature
            report = _lanczos_radius(system, lr, top.vector / np.sqrt(curvature), holder)
            return RadiusReport(
                report.value,
                report.gap,
                report.route,
                report.residual,
                report.applications + top.applications,
            )
        try:
            report = _structured_radius(system, lr, holder)
        except ConvergenceError:  # a breakdown of LOBPCG: Lanczos on T instead
            return _lanczos_radius(system, lr, None, holder)
        if report.residual is not None and report.residual <= RADIUS_ACCURACY:
            return report
        kept = None if holder is None else dict(holder)
        fallback = _lanczos_radius(system, lr, None, holder)
        if fallback.residual < report.residual:
            return fallback
        if holder is not None and kept is not None:
            holder.update(kept)
        return report
    operator = SecondMomentOperator(system)
    value, vector = perron_radius(operator, lr)
    if holder is not None:
        holder["vector"] = vector
    value = abs(value)
    return RadiusReport(value, 1.0 - value, "arnoldi", applications=operator.applications)


def _full_batch_log_radius(system: System, lr: float) -> float:
    """``log ρ`` of the full-batch operator, a lower bound of ``log ρ(T)``, without overflow."""
    eigenvalues = np.asarray(system.reduced.eigenvalues, dtype=float)
    if not eigenvalues.size:
        return -math.inf
    nu = abs(float(lr) * system.rate_factor)
    degree = system.degree
    size = max(nu, 1.0)
    with np.errstate(all="ignore"):
        # A(ν) / size^q = Σ_k (ν / size)^k size^(k − q) (F_k + λ G_k): no overflow
        powers = np.arange(degree + 1)
        weights = (nu / size) ** powers * size ** (powers - degree).astype(float)
        identity = np.tensordot(weights, system.identity, axes=1)
        hessian = np.tensordot(weights, system.hessian, axes=1)
        maps = identity[None] + eigenvalues[:, None, None] * hessian[None]
        radius = float(np.max(np.abs(np.linalg.eigvals(maps))))
    if not radius > 0:
        return -math.inf
    return 2.0 * (math.log(radius) + degree * math.log(size))


#: ``log`` of the largest radius computed: beyond it ``ρ(T)`` rounds to infinity.
_LOG_LARGEST = math.log(1e300)


def _scaled_radius(system: System, lr: float, log_scale: float, solver: str) -> RadiusReport:
    """``ρ(T)`` far above ``η*``: the operator divided by ``e^{log_scale}`` (no overflow)."""
    scale = math.exp(log_scale)
    operator = SecondMomentOperator(system)
    size = operator.size
    if solver == "dense" or size <= DENSE_RADIUS_SIZE:
        with np.errstate(all="ignore"):
            matrix = _reduced_operator(system).matrix(lr) / scale
        radius = float(np.max(np.abs(scipy.linalg.eigvals(matrix))))
        route = "dense"
    else:

        def apply(vector: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return operator.apply(vector / scale, lr)

        values = scipy.sparse.linalg.eigs(
            LinearOperator((size, size), matvec=apply, dtype=float),
            k=1,
            which="LM",
            v0=operator.start_vector(),
            tol=1e-13,
            return_eigenvectors=False,
        )
        radius, route = float(np.max(np.abs(values))), "arnoldi"
    value = radius * scale
    return RadiusReport(value, -value if math.isinf(value) else 1.0 - value, route)


#: Beyond this ``log`` of the full-batch radius the operator is scaled before solving.
_LOG_SCALED = math.log(1e40)


def _radius_report(system: System, lr: float, solver: str) -> RadiusReport:
    log_scale = _full_batch_log_radius(system, lr) if system.size else -math.inf
    if log_scale > _LOG_LARGEST:
        # ρ(T) ≥ the full-batch radius (T dominates it in the cone order), which is beyond
        # the floating-point range: ρ(T) rounds to +inf (and lr is far above η*)
        return RadiusReport(math.inf, -math.inf, "overflow")
    if log_scale > _LOG_SCALED and not system.full_batch:
        return _with_null_space(system, lr, _scaled_radius(system, lr, log_scale, solver))
    if system.size == 0:
        report = RadiusReport(0.0, 1.0, "empty")
    elif solver == "dense" or (solver == "auto" and system.size <= DENSE_RADIUS_SIZE):
        if system.full_batch and solver == "auto":
            report = _full_batch_radius(system, lr)
        else:
            report = _dense_radius(system, lr)
    elif system.full_batch:
        report = _full_batch_radius(system, lr)
    else:
        report = _iterative_radius(system, lr)
    return _with_null_space(system, lr, report)


def principal_moments(system: System, lr: float) -> tuple[float, np.ndarray, np.ndarray]:
    """``ρ(T(η))`` with its right and left (Krein–Rutman) eigen-moments, matrix-free.

    Returns ``(ρ, Σ, W)`` with ``T(Σ) = ρ Σ`` and ``T*(W) = ρ W`` as symmetric ``(m r) × (m r)``
    matrices in the reduced coordinates of ``system`` (``T* W = E[Aᵀ W A]``; for gradient
    steps ``T`` is self-adjoint and ``W = Σ``). Used by :func:`stability.checks.check` on
    problems too large to assemble ``T``.

    Parameters
    ----------
    system : System
        The bound problem-and-method ``System``.
    lr : float
        Learning rate η.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric import principal_moments
    >>> from stability._system import bind
    >>> radius, right, left = principal_moments(bind(Quadratic(np.diag([2.0, 1.0])), GD()), 0.25)
    >>> radius, right.round(12)  # (1 − 0.25)² along the flatter eigenvector
    (0.5625, array([[0., 0.],
           [0., 1.]]))
    """
    operator = SecondMomentOperator(system)
    blocks, rank = system.blocks, system.reduced.rank
    if system.full_batch:  # the block (k, k) of the worst eigenvalue carries the top mode
        eigenvalues = np.asarray(system.reduced.eigenvalues, dtype=float)
        identity, hessian = system.reduced_parts(lr)
        maps = identity[None] + eigenvalues[:, None, None] * hessian[None]
        worst = int(np.argmax(np.max(np.abs(np.linalg.eigvals(maps)), axis=1)))
        small = SymmetricLayout(blocks)
        moments = []
        for state_map in (maps[worst], maps[worst].T):
            columns = [small.pack(state_map @ element @ state_map.T) for element in small.basis()]
            values, vectors = np.linalg.eig(np.column_stack(columns))
            index = int(np.argmax(values.real))
            inner = small.unpack(np.real(vectors[:, index]))
            full = np.zeros((blocks, blocks, rank, rank))
            full[:, :, worst, worst] = inner
            moments.append(full.transpose(0, 2, 1, 3).reshape(blocks * rank, blocks * rank))
        radius = float(np.max(np.abs(np.linalg.eigvals(maps[worst])))) ** 2
        return radius, moments[0], moments[1]
    if system.gradient_scale is not None:
        report, vector = _gradient_mode(system, lr)
        moment = operator.layout.unpack(vector)
        return report.value, moment, moment
    radius, right = perron_radius(operator, lr)
    adjoint = _Adjoint(operator)
    _, left = perron_radius(adjoint, lr)
    unpack = operator.layout.unpack
    return abs(radius), unpack(right), unpack(left)


class _Adjoint:
    """``W ↦ E[Aᵀ W A]`` with the interface :func:`perron_radius` reads."""

    def __init__(self, operator: SecondMomentOperator) -> None:
        self.operator = operator
        self.size = operator.size

    def start_vector(self) -> np.ndarray:
        return self.operator.start_vector()

    def matrix(self, lr: float) -> np.ndarray:
        return self.operator.matrix(lr).T

    def linear_operator(self, lr: float) -> LinearOperator:
        return self.operator.linear_operator(lr, adjoint=True)


def _gradient_mode(system: System, lr: float) -> tuple[RadiusReport, np.ndarray]:
    """The radius of a gradient step with its (self-adjoint) top eigenvector on ``svec``."""
    if system.size <= DENSE_RADIUS_SIZE:
        matrix = _reduced_operator(system).matrix(lr)
        values, vectors = scipy.linalg.eigh(0.5 * (matrix + matrix.T))
        return RadiusReport(float(values[-1]), 1.0 - float(values[-1]), "dense"), vectors[:, -1]
    holder: dict[str, np.ndarray] = {}
    report = _iterative_radius(system, lr, holder)
    return report, holder["vector"]


def radius_report(
    problem: Quadratic, method: MethodLike, lr: float, *, solver: str = "auto"
) -> RadiusReport:
    """``ρ(T(η))`` and ``1 − ρ`` with the route taken and its accuracy.

    Same arguments as :func:`spectral_radius`. Routes: the full batch has the closed form
    ``max_k ρ(F + λ_k G)²`` (``max_k (1 − g η λ_k)²`` for gradient steps) at every size;
    small operators are assembled (``"dense"``); larger gradient steps use the structure
    ``T = I − γ (2C − γ D)`` (preconditioned LOBPCG for ``λ_min(2C − γ D)``, accurate when
    ``ρ ≈ 1``), other methods Arnoldi on ``T`` for its Perron root.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    lr : float
        Learning rate η.
    solver : str, default 'auto'
        Eigenvalue route: ``'auto'``, ``'dense'`` or ``'matrix-free'`` (``'auto'`` picks by size).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric import radius_report
    >>> report = radius_report(Quadratic(np.diag([2.0, 1e-9])), GD(), 0.25)
    >>> report.route, report.gap  # 1 − (1 − η λ)² = η λ (2 − η λ) for λ = 1e-9
    ('full-batch', 4.999999999375e-10)

    Raises
    ------
    OutOfRangeError
        If ``ρ(T(lr))`` exceeds the largest float (``lr`` far above ``η*``): the report never
        carries ``inf``.
    """
    lr = check_learning_rate(lr)
    solver = _check_solver(solver)
    if reshuffled_pair(problem, method) is not None:  # the batch law draws whole epochs
        return _epoch_radius_report(problem, method, lr)
    system = bind(problem, method)
    report = _radius_report(system, lr, solver)
    if math.isinf(report.value):
        raise OutOfRangeError(
            f"lr = {lr!r}: the spectral radius ρ(T(lr)) exceeds the float range (above "
            f"{np.finfo(float).max:.2g}); the method is unstable at this rate (is_stable is False)"
        )
    return report


def _epoch_radius_report(problem: Quadratic, method: MethodLike, lr: float) -> RadiusReport:
    """Reshuffled epochs: ``ρ(𝒯_epoch(η))^{1/K}``, the mean growth per step of ``K``."""
    operator = epoch_operator(problem, method)
    radius = operator.radius(lr)
    if not radius > 0:
        return RadiusReport(0.0, 1.0, "epoch")
    log_step = math.log(radius) / operator.steps
    return RadiusReport(math.exp(log_step), -math.expm1(log_step), "epoch")


def spectral_radius(
    problem: Quadratic, method: MethodLike, lr: float, *, solver: str = "auto",
) -> float:
    """``ρ(T(η))``, the spectral radius of the second-moment operator on the non-neutral subspace.

    The operator acts on symmetric second moments of the state restricted to
    ``range(H)`` (``docs/theory/operator.md``); mean-square stability is ``ρ < 1``. For
    reshuffled batches (``shuffle=True``) it is the growth per step ``ρ(𝒯_epoch)^{1/K}`` of the
    epoch operator over the ``K`` steps of an epoch (``docs/theory/reshuffling.md``).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.
    solver : {"auto", "dense", "matrix-free"}, default "auto"
        ``"dense"`` assembles ``T(η)``; ``"matrix-free"`` applies it: the closed form for
        the full batch, the structure ``T = I − γ (2C − γ D)`` for gradient steps
        (preconditioned LOBPCG, robust to eigenvalues clustered just below one), Arnoldi
        for the largest real part otherwise (the Perron root of an operator that preserves
        the PSD cone); ``"auto"`` picks dense up to ``DENSE_RADIUS_SIZE`` coordinates.
        :func:`radius_report` also returns ``1 − ρ`` and the accuracy reached.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic, is_stable, spectral_radius
    >>> problem = Quadratic(np.diag([2.0, 1.0]))
    >>> round(spectral_radius(problem, GD(), 0.25), 12)  # max (1 − η λ)²
    0.5625
    >>> spectral_radius(problem, GD(), 1.5) > 1
    True
    >>> round(spectral_radius(problem, GD(), 0.25, solver="matrix-free"), 12)
    0.5625

    A radius beyond the float range is refused, never returned as ``inf``
    (:func:`is_stable` still answers False there):

    >>> spectral_radius(problem, GD(), 1e308)
    Traceback (most recent call last):
        ...
    stability.errors.OutOfRangeError: lr = 1e+308: the spectral radius ... exceeds the float ...
    >>> is_stable(problem, GD(), 1e308)
    False

    Raises
    ------
    OutOfRangeError
        If ``ρ(T(lr))`` exceeds the largest float (``lr`` far above ``η*``).
    """
    lr = check_learning_rate(lr)
    return _finite_report(problem, method, lr, solver).value


def _finite_report(problem: Quadratic, method: MethodLike, lr: float, solver: str) -> RadiusReport:
    """:func:`radius_report` (which refuses a radius beyond the float range by name)."""
    return radius_report(problem, method, lr, solver=solver)


def spectral_gap(
    problem: Quadratic, method: MethodLike, lr: float, *, solver: str = "auto",
) -> float:
    """``1 − ρ(T(η))``, accurate when ``ρ`` is close to one (for log-scale plots).

    Negative above the threshold. See :func:`radius_report` for the routes.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    lr : float
        Learning rate η.
    solver : str, default 'auto'
        Eigenvalue route: ``'auto'``, ``'dense'`` or ``'matrix-free'`` (``'auto'`` picks by size).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.numeric import spectral_gap
    >>> float(spectral_gap(Quadratic(np.diag([1e-12])), GD(), 1.0))  # 1 − (1 − 1e-12)²
    1.999999999999e-12

    Raises
    ------
    OutOfRangeError
        If ``ρ(T(lr))`` exceeds the largest float (``lr`` far above ``η*``).
    """
    lr = check_learning_rate(lr)
    return _finite_report(problem, method, lr, solver).gap


def is_stable(problem: Quadratic, method: MethodLike, lr: float, *, solver: str = "auto") -> bool:
    """Whether ``method`` is mean-square stable on ``problem`` at learning rate ``lr``.

    True exactly when ``lr < η*`` (equivalently ``ρ(T(lr)) < 1``); at ``lr = η*`` the
    second moment is marginal and this returns False. ``solver`` is passed to
    :func:`critical_learning_rate`.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem (a :class:`~stability.Quadratic`).
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
    lr : float
        Learning rate η.
    solver : str, default 'auto'
        Eigenvalue route: ``'auto'``, ``'dense'`` or ``'matrix-free'`` (``'auto'`` picks by size).

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
