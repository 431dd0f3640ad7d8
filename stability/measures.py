"""What people measure during training, computed exactly on a quadratic minimum.

Three quantities from the literature, each next to the exact mean-square theory of
``docs/theory/threshold.md``:

* **Non-uniformity** (Wu, Ma & E 2018): ``s = λ_max(Σ)^{1/2}`` with
  ``Σ = (1/n) Σ_i H_i² − H²``, the spread of the per-sample Hessians. Their analysis puts
  the sharpness ``a = λ_max(H)`` against ``2/η`` and ``s`` against ``1/(η √p)``
  (``p`` the mixing weight of the batch law, ``1/B`` with replacement). In one
  dimension ``T(η) = (1 − η a)² + η² p s²``, so ``η s √p < 1`` is necessary there; in
  higher dimensions it is not a theorem (random problems reach ``η* s √p ≈ 1.09``) and
  :func:`non_uniformity_report` only reports it beside the exact ``η*``.
* **Batch sharpness** (Andreyev & Beneventano 2024): at a point ``δ`` the minibatch
  gradient on a quadratic is ``g_B = H_B δ``, and the batch sharpness is
  ``E_B[g_Bᵀ H_B g_B / ‖g_B‖²]`` over the batches with ``g_B ≠ 0`` (a batch with
  ``g_B = 0`` makes no step and has no direction; its probability is reported). Their
  observation is that it hovers at ``2/η`` in training (the "edge of stochastic
  stability"). :func:`batch_sharpness` computes it exactly by enumerating batches for small
  ``n`` and by Monte Carlo with a confidence interval otherwise.
* **Steps to escape** from an unstable minimum: above ``η*`` the mean square grows like
  ``ρ(T(η))^t`` (``T`` the second-moment operator), so it gains a factor ``G`` in about
  ``log G / log ρ`` steps. :func:`escape_steps` gives that estimate and the exact first
  step at which the predicted mean square ``E‖δ_t‖²`` (:func:`stability.predicted_mean_square`)
  reaches ``G`` times its start.

Everything here uses the public API (:func:`stability.spectral_radius`,
:func:`stability.predicted_mean_square`, :class:`stability.Quadratic`).

Examples
--------
>>> import numpy as np
>>> from stability import SGD, Quadratic
>>> from stability.measures import non_uniformity
>>> round(non_uniformity(Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))), 12)
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from stability._validation import as_finite_array, check_learning_rate, check_positive_integer
from stability.errors import DimensionError, InvalidInputError
from stability.methods import as_dynamics
from stability.problems import Quadratic, as_problem

__all__ = [
    "BatchSharpness",
    "EscapeEstimate",
    "NonUniformityReport",
    "batch_sharpness",
    "escape_steps",
    "non_uniformity",
    "non_uniformity_report",
]

#: Default Monte Carlo draws of :func:`batch_sharpness` when enumeration is too large.
DEFAULT_RUNS = 20_000
#: Largest number of distinct batches :func:`batch_sharpness` enumerates exactly.
BATCH_ENUMERATION_LIMIT = 200_000


def _public() -> Any:
    """The package's public API, imported when first needed (it re-exports this module)."""
    import stability

    return stability


def _per_sample(problem: Quadratic) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(basis, vectors, hessians)`` of the reduced problem, scaled to the true Hessians."""
    reduced = problem.reduced()
    if reduced.samples is None:
        raise InvalidInputError(
            "problem must have per-sample structure (Quadratic.from_hessians, from_data or "
            "from_gram); a single Hessian has no batches"
        )
    scale = float(getattr(reduced, "scale", 1.0))
    if reduced.vectors is not None:
        return reduced.basis, np.asarray(reduced.vectors) * math.sqrt(scale), None
    return reduced.basis, None, np.asarray(reduced.per_sample_hessians()) * scale


def _spread(problem: Quadratic) -> np.ndarray:
    """``Σ = (1/n) Σ_i (H_i − H)² = (1/n) Σ_i H_i² − H²`` on ``range(H)`` (centred first)."""
    _, vectors, hessians = _per_sample(problem)
    if vectors is not None:
        hessians = np.einsum("ni,nj->nij", vectors, vectors)
    centred = hessians - hessians.mean(axis=0)
    spread = np.einsum("nij,njk->ik", centred, centred) / len(centred)
    return 0.5 * (spread + spread.T)


def non_uniformity(problem: Quadratic) -> float:
    """Wu, Ma & E's (2018) non-uniformity ``s = λ_max((1/n) Σ_i H_i² − H²)^{1/2}``.

    Parameters
    ----------
    problem : Quadratic
        A problem with per-sample structure.

    Returns
    -------
    float
        ``s ≥ 0``; zero exactly when every ``H_i`` equals ``H`` on ``range(H)``.

    Raises
    ------
    InvalidInputError
        If the problem is a single Hessian.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.measures import non_uniformity
    >>> round(non_uniformity(Quadratic.from_data(np.eye(2))), 12)  # H_i² − H² = diag(1/4, 1/4)
    0.5
    """
    problem = as_problem(problem)
    spread = _spread(problem)
    if spread.size == 0:
        return 0.0
    return math.sqrt(max(float(np.linalg.eigvalsh(spread)[-1]), 0.0))


@dataclass(frozen=True)
class NonUniformityReport:
    """Sharpness and non-uniformity against Wu, Ma & E's limits and the exact ``η*``.

    Attributes
    ----------
    sharpness : float
        ``a = λ_max(H)``.
    non_uniformity : float
        ``s`` (:func:`non_uniformity`).
    mixing : float
        ``p`` of the method's batch law.
    sharpness_limit : float
        ``2/η``.
    non_uniformity_limit : float
        ``1/(η √p)`` (``inf`` for the full batch).
    critical_learning_rate : float
        The exact ``η*`` of the method.
    stable : bool
        ``η < η*``.
    """

    sharpness: float
    non_uniformity: float
    mixing: float
    sharpness_limit: float
    non_uniformity_limit: float
    critical_learning_rate: float
    stable: bool

    @property
    def within_limits(self) -> bool:
        """Whether ``a ≤ 2/η`` and ``s ≤ 1/(η √p)`` (Wu, Ma & E's conditions)."""
        return (
            self.sharpness <= self.sharpness_limit
            and self.non_uniformity <= self.non_uniformity_limit
        )


def non_uniformity_report(problem: Quadratic, method: Any, lr: float) -> NonUniformityReport:
    """Wu, Ma & E's sharpness and non-uniformity conditions beside the exact threshold.

    Parameters
    ----------
    problem : Quadratic
        A problem with per-sample structure.
    method : Method or LinearDynamics
        Its batch law gives ``p``; its exact threshold is reported.
    lr : float
        The learning rate ``η``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.measures import non_uniformity_report
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> report = non_uniformity_report(problem, SGD(1, replacement=True), 0.5)
    >>> report.sharpness, report.non_uniformity, report.non_uniformity_limit, report.stable
    (2.0, 1.0, 2.0, True)
    """
    problem = as_problem(problem)
    lr = check_learning_rate(lr)
    dynamics = as_dynamics(method)
    mixing = float(dynamics.batch.mixing(problem.samples))
    spread = non_uniformity(problem)
    exact = _public().critical_learning_rate(problem, dynamics)
    return NonUniformityReport(
        sharpness=float(problem.sharpness),
        non_uniformity=spread,
        mixing=mixing,
        sharpness_limit=2.0 / lr,
        non_uniformity_limit=math.inf if mixing == 0 else 1.0 / (lr * math.sqrt(mixing)),
        critical_learning_rate=exact,
        stable=lr < exact,
    )


@dataclass(frozen=True)
class BatchSharpness:
    """The batch sharpness ``E_B[g_Bᵀ H_B g_B / ‖g_B‖²]`` at one point or a set of points.

    Attributes
    ----------
    value : float
        The expectation over batches with ``g_B ≠ 0`` (and over the given points, equally
        weighted).
    exact : bool
        Whether every batch was enumerated (then the interval is the point ``value``).
    lower, upper : float
        A confidence interval at level :attr:`confidence` (Monte Carlo: normal interval
        from the standard error of the draws).
    standard_error : float
        Standard error of the Monte Carlo mean (``0`` when exact).
    confidence : float
        The level of the interval.
    zero_gradient_probability : float
        The probability of a batch with ``g_B = 0`` (left out of the mean).
    edge : float or None
        ``2/η`` when a learning rate was given.
    """

    value: float
    exact: bool
    lower: float
    upper: float
    standard_error: float
    confidence: float
    zero_gradient_probability: float
    edge: float | None = None

    @property
    def ratio(self) -> float | None:
        """``value / (2/η)``: one at the edge of stochastic stability."""
        return None if self.edge is None else self.value / self.edge


def _quotients(
    weights: np.ndarray,
    points: np.ndarray,
    vectors: np.ndarray | None,
    hessians: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """For every batch (row of ``weights``) and point: ``gᵀ H_B g / ‖g‖²`` and ``g ≠ 0``."""
    if vectors is not None:
        projections = points @ vectors.T  # (P, n): y_iᵀ δ
        gradients = np.einsum("kn,pn,nr->kpr", weights, projections, vectors, optimize=True)
        along = np.einsum("kpr,nr->kpn", gradients, vectors, optimize=True)  # y_iᵀ g
        curvature = np.einsum("kn,kpn->kp", weights, along**2, optimize=True)
    else:
        batch = np.einsum("kn,nij->kij", weights, hessians, optimize=True)
        gradients = np.einsum("kij,pj->kpi", batch, points, optimize=True)
        curvature = np.einsum("kpi,kij,kpj->kp", gradients, batch, gradients, optimize=True)
    norms = np.sum(gradients**2, axis=2)
    scale = max(float(norms.max(initial=0.0)), np.finfo(float).tiny)
    moving = norms > 1e-24 * scale
    quotients = np.where(moving, curvature / np.where(moving, norms, 1.0), 0.0)
    return quotients, moving


def batch_sharpness(
    problem: Quadratic,
    method: Any,
    point: Any,
    *,
    lr: float | None = None,
    runs: int | None = None,
    seed: int | None = None,
    confidence: float = 0.99,
) -> BatchSharpness:
    """Andreyev & Beneventano's batch sharpness at ``δ``: ``E_B[g_Bᵀ H_B g_B / ‖g_B‖²]``.

    On a quadratic minimum the minibatch gradient at ``θ* + δ`` is ``g_B = H_B δ``; the
    expectation is over the method's batch law, conditioned on ``g_B ≠ 0``. Compare it with
    ``2/η``: Andreyev & Beneventano (2024) observe that SGD trains at batch sharpness
    ``≈ 2/η``. It depends on ``δ`` (unlike ``λ_max(H)``) and lies between the smallest and
    the largest eigenvalue of the batch Hessians; in one dimension each quotient is ``h_B``
    itself, so it is the mean curvature over the batches with ``h_B ≠ 0``.

    Parameters
    ----------
    problem : Quadratic
        A problem with per-sample structure.
    method : Method or LinearDynamics
        Only its batch law is used (weight decay is not added: pass ``H_i + μ I``).
    point : array_like, shape (d,) or (P, d)
        ``δ``, or ``P`` points averaged with equal weights (e.g. the final states of a
        simulation, :attr:`stability.SimulationResult.final_states`).
    lr : float, optional
        The learning rate; sets :attr:`BatchSharpness.edge` to ``2/η``.
    runs : int, optional
        Monte Carlo batches per point. Default: exact enumeration when the law has at most
        ``BATCH_ENUMERATION_LIMIT`` batches, else ``DEFAULT_RUNS`` draws.
    seed : int, optional
        Seed of the Monte Carlo draws.
    confidence : float, default 0.99
        Level of the Monte Carlo interval.

    Raises
    ------
    InvalidInputError
        If the problem has no per-sample structure, the batch size does not fit, or every
        batch has ``g_B = 0`` at ``δ``.
    DimensionError
        If ``point`` does not have ``d`` entries.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.measures import batch_sharpness
    >>> problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    >>> result = batch_sharpness(problem, SGD(1), [1.0], lr=0.5)
    >>> result.value, result.exact, result.ratio  # (1 + 3) / 2, against 2/η = 4
    (2.0, True, 0.5)
    """
    problem = as_problem(problem)
    dynamics = as_dynamics(method)
    basis, vectors, hessians = _per_sample(problem)
    points = as_finite_array(point, "point", (1, 2))
    if points.ndim == 1:
        points = points[None, :]
    if points.shape[1] != problem.dimension:
        raise DimensionError(
            f"point must have d={problem.dimension} entries per row; got {points.shape[1]}"
        )
    if not 0 < confidence < 1:
        raise InvalidInputError(f"confidence must lie in (0, 1); got {confidence}")
    edge = None if lr is None else 2.0 / check_learning_rate(lr)
    reduced_points = points @ basis
    samples = int(problem.samples)
    dynamics.batch.validate(samples)
    law = dynamics.batch
    if runs is None and law.count(samples) <= BATCH_ENUMERATION_LIMIT:
        weights, probabilities = law.outcomes(samples)
        quotients, moving = _quotients(weights, reduced_points, vectors, hessians)
        mass = probabilities[:, None] * moving
        total = mass.sum(axis=0)
        if np.any(total <= 0):
            raise InvalidInputError("every batch has g_B = 0 at point; batch sharpness undefined")
        values = (mass * quotients).sum(axis=0) / total
        value = float(values.mean())
        return BatchSharpness(
            value, True, value, value, 0.0, confidence, float(1 - total.mean()), edge
        )
    draws = DEFAULT_RUNS if runs is None else check_positive_integer(runs, "runs")
    rng = np.random.default_rng(seed)
    weights = law.sample_weights(samples, draws, rng)
    quotients, moving = _quotients(weights, reduced_points, vectors, hessians)
    kept = quotients[moving]
    if kept.size < 2:
        raise InvalidInputError("fewer than two draws have g_B ≠ 0 at point; cannot estimate")
    value = float(kept.mean())
    error = float(kept.std(ddof=1) / math.sqrt(kept.size))
    half = float(scipy.stats.norm.ppf(0.5 + confidence / 2)) * error
    return BatchSharpness(
        value,
        False,
        value - half,
        value + half,
        error,
        confidence,
        float(1 - moving.mean()),
        edge,
    )


@dataclass(frozen=True)
class EscapeEstimate:
    """How long the mean square takes to grow by a factor ``G`` above ``η*``.

    Attributes
    ----------
    radius : float
        ``ρ = ρ(T(η))``.
    growth : float
        ``G``.
    asymptotic : float
        ``log G / log ρ`` (``inf`` when ``ρ ≤ 1``): the steps to gain ``G`` once the mean
        square grows at its asymptotic rate ``ρ`` per step.
    predicted : int or None
        The first ``t`` with ``E‖δ_t‖² ≥ G E‖δ_0‖²`` from the exact prediction, if reached
        within the horizon searched (``None`` otherwise or when not computed).
    """

    radius: float
    growth: float
    asymptotic: float
    predicted: int | None


def escape_steps(
    problem: Quadratic,
    method: Any,
    lr: float,
    *,
    growth: float = 1000.0,
    init: Any = None,
    horizon: int | None = None,
) -> EscapeEstimate:
    """Steps for the mean square to grow by ``growth`` at an unstable learning rate.

    Above ``η*`` the mean square ``E‖δ_t‖²`` grows like ``c ρ^t`` with ``ρ = ρ(T(η)) > 1``
    (the Perron root of the second-moment operator), so it gains a factor ``G`` in about
    ``log G / log ρ`` steps; ``c`` depends on the start (its overlap with the growing mode)
    and shifts the exact crossing by a bounded number of steps. This is a statement about
    the *mean*: single runs escape at their own (random) times, and because the
    distribution of ``‖δ_t‖²`` is skewed the median run is not the mean.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η``.
    growth : float, default 1000
        ``G > 1``.
    init : array_like, optional
        The start (as in :func:`stability.predicted_mean_square`) for the exact crossing.
    horizon : int, optional
        Steps to search for the exact crossing; default ``2 ⌈log G / log ρ⌉ + 50`` when
        ``ρ > 1``. ``0`` skips it.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.measures import escape_steps
    >>> estimate = escape_steps(Quadratic(np.array([[1.0]])), GD(), 2.5, growth=100.0)
    >>> estimate.radius, round(estimate.asymptotic, 6), estimate.predicted  # ρ = 1.5²
    (2.25, 5.678874, 6)
    """
    problem = as_problem(problem)
    lr = check_learning_rate(lr)
    growth = float(growth)
    if not math.isfinite(growth) or growth <= 1:
        raise InvalidInputError(f"growth must be a finite number above 1; got {growth}")
    radius = float(_public().spectral_radius(problem, method, lr))
    asymptotic = math.log(growth) / math.log(radius) if radius > 1 else math.inf
    if horizon is None:
        horizon = 2 * math.ceil(asymptotic) + 50 if math.isfinite(asymptotic) else 0
    horizon = int(horizon)
    if horizon < 0:
        raise InvalidInputError(f"horizon must be non-negative; got {horizon}")
    predicted = None
    if horizon > 0:
        values = _public().predicted_mean_square(problem, method, lr, steps=horizon, init=init)
        above = np.flatnonzero(values >= growth * values[0])
        predicted = int(above[0]) if above.size else None
    return EscapeEstimate(radius, growth, asymptotic, predicted)
