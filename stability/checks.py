"""Cross-checks of the numeric layer, the symbolic layer and Monte Carlo simulation.

Theory: ``docs/theory/operator.md`` and ``docs/monte-carlo.md``; the statistical design is in
``docs/monte-carlo.md``.
:func:`check` answers two questions at a learning rate ``η``: is the method mean-square
stable there (the exact verdict ``ρ(T(η)) < 1``), and do the three independent
descriptions of the same recursion agree?

* **numeric**: the exact threshold ``η*`` and the reduced operator of
  :mod:`stability.numeric`, cross-checked against the matrix-free
  second-moment map of :mod:`stability.numeric` (a separate code path);
* **symbolic** (small problems): :mod:`stability.symbolic`'s operator (and threshold, when
  it provides one) at the same ``η``;
* **simulation**: :func:`stability.simulation.simulate` of exactly the recursion, tested
  against the prediction by

  1. *one-step operator estimates*: starts ``z_0`` drawn so that ``E z_0 z_0ᵀ = Σ`` for a
     probe ``Σ`` (a finite mixture of eigenvectors of ``Σ``, so ``‖z_0‖² = tr Σ``), one
     noise-free step, and every entry of ``mean z_1 z_1ᵀ`` compared with ``T(Σ)``. The
     probes are the top (Krein–Rutman) mode of the predicted ``T`` and a random full-rank
     ``Σ``; a wrong operator ``T + E`` escapes a random probe only if ``E(Σ) = 0``, an
     event of probability zero. Each entry is bounded (``|z_a z_b| ≤ ‖A‖² tr Σ``), so the
     empirical Bernstein bound (Maurer & Pontil 2009) gives *guaranteed* coverage;
  2. *the simulated growth along the top mode*, ``ρ̂ = ⟨W, mean z_1z_1ᵀ⟩ / ⟨W, Σ⟩`` with
     ``Σ``, ``W`` the right and left top eigenvectors, which estimates ``ρ(T)`` without
     any long run (guaranteed band);
  3. *the noise moment* ``N = E b bᵀ`` from one step started at zero (CLT band:
     asymptotic, the noise is unbounded);
  4. *a short trajectory* ``E‖z_t‖²``, ``t ≤ horizon``, from the start, against
     ``tr S_t`` (guaranteed band without noise; exact for a deterministic recursion).
     The horizon is where the guaranteed band is informative: long runs near or past the
     threshold are heavy-tailed and no finite-sample band can be tight there, which is why
     the operator itself is tested one step at a time.

The total false-alarm probability, the chance of reporting disagreement although all
layers are right, is at most ``false_alarm`` per checked rate (default ``1e-6``): it is
split equally over the statistical comparisons and, inside each, by Bonferroni over
entries or times. This is a finite-sample guarantee for noise-free dynamics and an
asymptotic (CLT) statement for the noise comparisons. Exact comparisons (numeric against
symbolic, two numeric code paths) use a relative tolerance of ``1e-8`` and cannot
false-alarm except through floating-point rounding.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from stability._starts import initial_states
from stability._system import bind
from stability._validation import (
    as_seed_sequence,
    check_false_alarm,
    check_learning_rate,
    check_positive_integer,
)
from stability.dynamics import LinearDynamics
from stability.errors import (
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    SizeLimitError,
    StabilityError,
)
from stability.numeric import (
    DENSE_ENTRY_LIMIT,
    SecondMomentOperator,
    SecondMomentRecursion,
    critical_learning_rate,
    dense_operator,
    principal_moments,
    reduced_operator,
    second_moment_recursion,
    symmetric_basis,
)
from stability.problems import Quadratic
from stability.progress import ProgressMeter
from stability.simulation import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_FALSE_ALARM,
    SimulationResult,
    bernstein_radius,
    growth_bound,
    json_number,
    normal_radius,
    simulate,
    state_map_norm_bound,
)

__all__ = ["CheckReport", "Comparison", "RateCheck", "check"]

#: Relative tolerance of the exact (non-statistical) comparisons.
EXACT_TOLERANCE = 1e-8
#: Largest state size ``m d`` for which the symbolic operator is consulted by default.
SYMBOLIC_STATE_LIMIT = 6
#: Largest reduced state ``m · rank(H)`` for which the exact symbolic ``η*`` is computed by
#: default (an algebraic number from a polynomial determinant: seconds at 3, a minute at 4).
SYMBOLIC_THRESHOLD_LIMIT = 3
# The trajectory horizon ends where the guaranteed band's range term exceeds this
# fraction of the predicted value.
_INFORMATIVE = 0.5
_MAX_HORIZON = 30
#: Reduced operators with more ``svec`` coordinates are checked matrix-free.
_DENSE_CHECK_SIZE = 600
# Memory budget (floats) of the final states of one one-step probe.
_ONE_STEP_FLOATS = 4_000_000


@dataclass(frozen=True)
class Comparison:
    """One comparison between two layers.

    Attributes
    ----------
    name : str
        What is compared, e.g. ``"one-step E[AΣAᵀ], Σ = top mode"``.
    layers : str
        ``"numeric–symbolic"``, ``"numeric–numeric"`` or ``"prediction–simulation"``.
    passed : bool
        Whether the two agree.
    kind : str
        ``"exact"`` (relative tolerance), ``"guaranteed"`` (finite-sample band) or
        ``"asymptotic"`` (CLT band).
    false_alarm : float
        The probability allotted to a false alarm of this comparison (0 for exact ones).
    score : float
        The largest ``|difference| / allowed difference`` over its entries (``≤ 1`` passes).
    detail : str
        A one-line description of the numbers.
    """

    name: str
    layers: str
    passed: bool
    kind: str
    false_alarm: float
    score: float
    detail: str


@dataclass(frozen=True, eq=False)
class RateCheck:
    """The checks at one learning rate.

    Attributes
    ----------
    learning_rate : float
        ``η``.
    relative : float
        ``η / η*`` (``nan`` when ``η* = ∞``).
    spectral_radius : float
        ``ρ(T(η))`` of the predicted operator on the non-neutral subspace.
    stable : bool
        The verdict, ``ρ(T(η)) < 1``.
    radius_estimate, radius_lower, radius_upper : float
        The simulated one-step growth along the top mode and its guaranteed band.
    horizon : int
        The trajectory length compared.
    predicted : ndarray, shape (horizon + 1,)
        The exact ``E‖z_t‖²``.
    simulation : SimulationResult
        The simulated trajectory.
    comparisons : tuple of Comparison
        Every comparison made at this rate.
    """

    learning_rate: float
    relative: float
    spectral_radius: float
    stable: bool
    radius_estimate: float
    radius_lower: float
    radius_upper: float
    horizon: int
    predicted: np.ndarray
    simulation: SimulationResult
    comparisons: tuple[Comparison, ...]

    @property
    def agrees(self) -> bool:
        """Whether every comparison at this rate passed."""
        return all(comparison.passed for comparison in self.comparisons)

    @property
    def simulated_verdict(self) -> str:
        """The simulation's own verdict: the side of one that the band of ``ρ̂`` lies on.

        ``"stable"`` or ``"unstable"`` when the band excludes one, else ``"inconclusive"``.
        """
        if self.radius_upper < 1.0:
            return "stable"
        if self.radius_lower > 1.0:
            return "unstable"
        return "inconclusive"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "learning_rate": self.learning_rate,
            "relative": json_number(self.relative),
            "spectral_radius": json_number(self.spectral_radius),
            "stable": self.stable,
            "agrees": self.agrees,
            "simulated_radius": [
                json_number(x) for x in (self.radius_lower, self.radius_estimate, self.radius_upper)
            ],
            "simulated_verdict": self.simulated_verdict,
            "horizon": self.horizon,
            "predicted_mean_square": [json_number(x) for x in self.predicted],
            "simulated_mean_square": [
                json_number(x) for x in self.simulation.mean_square[: self.horizon + 1]
            ],
            "comparisons": [_json_comparison(c) for c in self.comparisons],
        }


@dataclass(frozen=True, eq=False)
class CheckReport:
    """The outcome of :func:`check`.

    Attributes
    ----------
    method : str
        The dynamics' name and batch law.
    dimension : int
        ``d``.
    samples : int or None
        ``n``.
    critical_learning_rate : float
        The numeric ``η*``.
    symbolic_critical_learning_rate : float or None
        The symbolic layer's ``η*`` when it was consulted and provides one.
    symbolic : str
        ``"used"`` or why the symbolic layer was not consulted.
    false_alarm : float
        The false-alarm probability per checked rate.
    rates : tuple of RateCheck
        One entry per checked learning rate.
    comparisons : tuple of Comparison
        Rate-independent comparisons (the thresholds of the layers).
    """

    method: str
    dimension: int
    samples: int | None
    critical_learning_rate: float
    symbolic_critical_learning_rate: float | None
    symbolic: str
    false_alarm: float
    rates: tuple[RateCheck, ...]
    comparisons: tuple[Comparison, ...]

    @property
    def agrees(self) -> bool:
        """Whether all layers agree at every checked rate (at the stated false-alarm rate)."""
        return all(c.passed for c in self.comparisons) and all(r.agrees for r in self.rates)

    @property
    def inconclusive(self) -> bool:
        """Whether the simulation could not tell the side of one at some checked rate."""
        return any(rate.simulated_verdict == "inconclusive" for rate in self.rates)

    @property
    def verdict(self) -> str:
        """``"layers DISAGREE"``, ``"all layers AGREE"``, or that they agree but are
        INCONCLUSIVE: the simulation cannot tell the side of one at some rate."""
        if not self.agrees:
            return "layers DISAGREE"
        if self.inconclusive:
            undecided = [
                f"{rate.learning_rate:.6g}"
                for rate in self.rates
                if rate.simulated_verdict == "inconclusive"
            ]
            return (
                "all layers AGREE, but INCONCLUSIVE: the simulated growth cannot tell the side "
                f"of one at η = {', '.join(undecided)} (more runs narrow its band)"
            )
        return "all layers AGREE"

    @property
    def stable(self) -> bool | None:
        """The verdict at ``lr`` when one rate was checked; ``None`` when ``η*`` was bracketed."""
        if len(self.rates) == 1:
            return self.rates[0].stable
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "method": self.method,
            "dimension": self.dimension,
            "samples": self.samples,
            "critical_learning_rate": _json_float(self.critical_learning_rate),
            "symbolic_critical_learning_rate": self.symbolic_critical_learning_rate,
            "symbolic": self.symbolic,
            "false_alarm": self.false_alarm,
            "agrees": self.agrees,
            "inconclusive": self.inconclusive,
            "verdict": self.verdict,
            "stable": self.stable,
            "comparisons": [_json_comparison(c) for c in self.comparisons],
            "rates": [rate.to_dict() for rate in self.rates],
        }

    def __str__(self) -> str:
        lines = [
            f"stability check: {self.method}, d={self.dimension}"
            + (f", n={self.samples}" if self.samples is not None else ""),
            f"false-alarm probability ≤ {self.false_alarm:g} per rate "
            "(guaranteed without noise, asymptotic for noise comparisons)",
            f"critical learning rate η*: numeric {self.critical_learning_rate:.10g}"
            + (
                f", symbolic {self.symbolic_critical_learning_rate:.10g}"
                if self.symbolic_critical_learning_rate is not None
                else ""
            )
            + f" (symbolic layer: {self.symbolic})",
        ]
        lines += [_format_comparison(c) for c in self.comparisons]
        for rate in self.rates:
            relative = "" if math.isnan(rate.relative) else f" = {rate.relative:.4g} η*"
            lines.append("")
            lines.append(
                f"η = {rate.learning_rate:.8g}{relative}: ρ(T) = {rate.spectral_radius:.6g} → "
                f"{'stable' if rate.stable else 'UNSTABLE'}; simulated one-step growth "
                f"ρ̂ = {rate.radius_estimate:.4g} in [{rate.radius_lower:.4g}, "
                f"{rate.radius_upper:.4g}] ({rate.simulated_verdict})"
            )
            lines += [_format_comparison(c) for c in rate.comparisons]
        lines.append("")
        lines.append("verdict: " + self.verdict)
        return "\n".join(lines)


def _json_float(value: float) -> float | str | None:
    return json_number(value)


def _json_comparison(comparison: Comparison) -> dict[str, Any]:
    fields = dataclasses.asdict(comparison)
    return {
        key: json_number(value) if isinstance(value, float) else value
        for key, value in fields.items()
    }


def _format_comparison(comparison: Comparison) -> str:
    mark = "pass" if comparison.passed else "FAIL"
    return (
        f"  [{mark}] {comparison.name} ({comparison.layers}, {comparison.kind}"
        + (f", α={comparison.false_alarm:.2g}" if comparison.false_alarm else "")
        + f"): {comparison.detail}"
    )


# ------------------------------------------------------------------------------ operators
OperatorLike = Callable[[np.ndarray], np.ndarray] | np.ndarray


def _operator_apply(
    operator: OperatorLike | None, recursion: SecondMomentRecursion
) -> Callable[[np.ndarray], np.ndarray]:
    """A function applying the operator under test to a stack ``(k, md, md)``."""
    size = recursion.state_dimension
    if operator is None:
        return recursion.apply
    if callable(operator):

        def apply(stack: np.ndarray) -> np.ndarray:
            images = [np.asarray(operator(matrix), dtype=float) for matrix in stack]
            for image in images:
                if image.shape != (size, size):
                    raise DimensionError(
                        f"operator must map md × md matrices to md × md matrices ({size} × "
                        f"{size}); it returned shape {image.shape}"
                    )
            return np.array(images).reshape(stack.shape)

        return apply
    try:
        matrix = np.asarray(operator, dtype=float)
    except (TypeError, ValueError):
        raise InvalidTypeError(
            "operator must be a function mapping an md × md matrix to T(S) or a "
            f"((md)², (md)²) array of numbers; got {type(operator).__name__} {operator!r:.40}"
        ) from None
    if matrix.shape != (size * size, size * size):
        raise DimensionError(
            f"operator given as an array must have shape ((md)², (md)²) = ({size**2}, "
            f"{size**2}) in the row-major vec basis; got {matrix.shape}"
        )

    def apply_dense(stack: np.ndarray) -> np.ndarray:
        flat = stack.reshape(-1, size * size)
        return (flat @ matrix.T).reshape(stack.shape)

    return apply_dense


def _reduced_matrix(apply: Callable[[np.ndarray], np.ndarray], lift: np.ndarray) -> np.ndarray:
    """The matrix of ``S ↦ Pᵀ T(P S Pᵀ) P`` on svec coordinates (``P = lift``, ``md × k``)."""
    size = lift.shape[1]
    basis = symmetric_basis(size)
    count = basis.shape[0]
    if count * count > DENSE_ENTRY_LIMIT:
        raise SizeLimitError(
            f"the reduced operator has dimension {count:,}; check needs it densely "
            f"(limit {DENSE_ENTRY_LIMIT:,} entries)"
        )
    elements = basis.reshape(count, size, size)
    columns = np.empty((count, count))
    block = max(1, 2_000_000 // max(lift.shape[0] ** 2, 1))
    for start in range(0, count, block):
        part = elements[start : start + block]
        images = apply(lift @ part @ lift.T)
        reduced = lift.T @ images @ lift
        columns[start : start + block] = reduced.reshape(len(part), -1) @ basis.T
    return columns.T


@dataclass(frozen=True, eq=False)
class _Spectrum:
    radius: float
    right: np.ndarray  # PSD, trace one, md × md
    left: np.ndarray  # PSD, largest eigenvalue one, md × md


def _psd_part(matrix: np.ndarray) -> np.ndarray:
    matrix = 0.5 * (matrix + matrix.T)
    if np.trace(matrix) < 0:
        matrix = -matrix
    eigenvalues, vectors = np.linalg.eigh(matrix)
    return (vectors * np.clip(eigenvalues, 0.0, None)) @ vectors.T


def _spectrum(matrix: np.ndarray, lift: np.ndarray) -> _Spectrum:
    """``ρ`` and PSD top eigenvectors (right ``Σ``, left ``W``) in the full coordinates.

    When the top eigenvalue is degenerate, the pair of right and left eigenvectors (PSD
    parts) with the largest overlap ``⟨W, Σ⟩`` is taken; if every pair is orthogonal,
    ``W`` is the projector onto the non-neutral states.
    """
    size = lift.shape[1]
    basis = symmetric_basis(size)
    scale = max(float(np.abs(matrix).max()), np.finfo(float).tiny)
    if float(np.abs(matrix - matrix.T).max()) <= 1e-10 * scale:
        values, vectors = scipy.linalg.eigh(0.5 * (matrix + matrix.T))
        radius = float(np.max(np.abs(values)))
        cluster = np.flatnonzero(np.abs(values - radius) <= 1e-9 * max(radius, 1e-300))
        if cluster.size == 0:  # only −ρ is extremal: take it (Krein–Rutman says ρ also is)
            cluster = np.array([int(np.argmax(np.abs(values)))])
        rights = lefts = vectors[:, cluster].T
    else:
        # eigenvalues from eig, eigenvectors as null vectors of M − ρ I (SVD): eig's vectors
        # can be wrong for these very non-normal matrices with large null spaces
        values = scipy.linalg.eigvals(matrix)
        radius = float(np.max(np.abs(values)))
        distance = np.abs(values - radius)
        count = max(1, int(np.sum(distance <= 1e-7 * max(radius, 1e-300))))
        left_vectors, _, right_vectors = scipy.linalg.svd(matrix - radius * np.eye(len(matrix)))
        rights = right_vectors[-count:]
        lefts = left_vectors[:, -count:].T

    def lifted(vector: np.ndarray) -> np.ndarray:
        reduced = (basis.T @ vector).reshape(size, size)
        return _psd_part(lift @ reduced @ lift.T)

    projector = lift @ lift.T
    sigmas = [lifted(vector) for vector in rights]
    weights = [lifted(vector) for vector in lefts]
    best, sigma, weight = -1.0, projector, projector
    for candidate in sigmas:
        for partner in weights:
            norm = np.linalg.norm(candidate) * np.linalg.norm(partner)
            overlap = float(np.sum(candidate * partner)) / norm if norm > 0 else 0.0
            if overlap > best:
                best, sigma, weight = overlap, candidate, partner
    if best <= 1e-9:
        nonzero = [candidate for candidate in sigmas if np.trace(candidate) > 0]
        sigma = nonzero[0] if nonzero else projector
        weight = projector
    if not np.any(sigma):
        sigma = np.eye(lift.shape[0])
    if not np.any(weight):
        weight = np.eye(lift.shape[0])
    sigma = sigma / np.trace(sigma)
    weight = weight / np.linalg.eigvalsh(weight)[-1]
    return _Spectrum(radius, sigma, weight)


def _normalised(sigma: np.ndarray, weight: np.ndarray, lift: np.ndarray) -> tuple[np.ndarray, ...]:
    projector = lift @ lift.T
    if not np.any(sigma):
        sigma = projector
    if not np.any(weight):
        weight = projector
    return sigma / np.trace(sigma), weight / np.linalg.eigvalsh(weight)[-1]


def _matrix_free_spectrum(
    system: Any,
    apply: Callable[[np.ndarray], np.ndarray],
    lift: np.ndarray,
    lr: float,
    operator: OperatorLike | None,
) -> tuple[_Spectrum, Comparison]:
    """Large problems: ``ρ`` and the top modes matrix-free, the operators compared on probes.

    The right and left Krein–Rutman eigen-moments come from
    :func:`~stability.numeric.principal_moments`; the operator under test (or
    the prediction's, in the problem's own coordinates) is compared with the numeric one
    on three probes: the two modes and a random symmetric matrix of the reduced space.
    """
    radius, right, left = principal_moments(system, lr)
    sigma, weight = _normalised(
        _psd_part(lift @ right @ lift.T), _psd_part(lift @ left @ lift.T), lift
    )
    numeric = SecondMomentOperator(system)
    rng = np.random.default_rng(0)
    size = lift.shape[1]
    random = rng.standard_normal((size, size))
    probes = np.array([right, left, random + random.T])
    predicted = lift.T @ apply(lift @ probes @ lift.T) @ lift
    layout = numeric.layout
    expected = np.array([layout.unpack(numeric.apply(layout.pack(probe), lr)) for probe in probes])
    comparison = _exact_comparison(
        "operator T(η) on three probes of svec(range H)"
        + (" (supplied)" if operator is not None else " (matrix-free)"),
        "numeric–numeric",
        predicted,
        expected,
    )
    return _Spectrum(radius, sigma, weight), comparison


# ------------------------------------------------------------------------------ symbolic
def _symbolic_layer(
    problem: Quadratic, dynamics: LinearDynamics, use: bool | None
) -> tuple[Any, Any, str]:
    """``(operator function, threshold function, status)`` of :mod:`stability.symbolic`.

    By default (``use=None``) the operator is consulted for states of size
    ``m d ≤ SYMBOLIC_STATE_LIMIT`` and the exact threshold (an algebraic number, costly)
    for reduced states ``m · rank(H) ≤ SYMBOLIC_THRESHOLD_LIMIT``; ``use=True`` forces both.
    """
    state = dynamics.blocks * problem.dimension
    reduced_state = dynamics.blocks * problem.reduced().rank
    if use is False:
        return None, None, "not requested"
    if use is None and state > SYMBOLIC_STATE_LIMIT:
        return None, None, f"skipped (state size m·d = {state} > {SYMBOLIC_STATE_LIMIT})"
    module = importlib.import_module("stability.symbolic")
    operator = getattr(module, "second_moment_operator", None)
    threshold = getattr(module, "critical_learning_rate", None)
    if operator is None and threshold is None:  # pragma: no cover - the package ships both
        return None, None, "unavailable (stability.symbolic provides neither function)"
    status = "used"
    if threshold is not None and use is None and reduced_state > SYMBOLIC_THRESHOLD_LIMIT:
        threshold = None
        status = (
            f"operator used; exact threshold skipped (reduced state m·rank = {reduced_state} "
            f"> {SYMBOLIC_THRESHOLD_LIMIT}; pass symbolic=True to force it)"
        )
    return operator, threshold, status


# What the symbolic layer may raise on a problem it cannot handle: the package's own
# errors, and SymPy's arithmetic failures (e.g. PrecisionExhausted deciding a sign).
_SYMBOLIC_FAILURES = (StabilityError, ArithmeticError)


def _describe(error: BaseException) -> str:
    message = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _sympy_to_float(value: Any) -> np.ndarray:
    if hasattr(value, "evalf"):
        value = value.evalf()
    return np.array(value, dtype=float)


# ------------------------------------------------------------------------------ statistics
def _mixture_starts(sigma: np.ndarray, runs: int, rng: np.random.Generator) -> np.ndarray:
    """``runs`` starts with ``E z zᵀ = Σ`` and ``‖z‖² = tr Σ`` (a mixture of eigenvectors)."""
    eigenvalues, vectors = np.linalg.eigh(0.5 * (sigma + sigma.T))
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    total = float(eigenvalues.sum())
    choice = rng.choice(len(eigenvalues), size=runs, p=eigenvalues / total)
    return np.sqrt(total) * vectors[:, choice].T


def _entry_statistics(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased sample variance of every entry of ``z zᵀ`` over runs."""
    runs = states.shape[0]
    mean = states.T @ states / runs
    squares = states * states
    fourth = squares.T @ squares / runs
    variance = (fourth - mean**2) * (runs / max(runs - 1, 1))
    return mean, np.maximum(variance, 0.0)


def _matrix_comparison(
    name: str,
    estimate: np.ndarray,
    variance: np.ndarray,
    predicted: np.ndarray,
    runs: int,
    false_alarm: float,
    *,
    value_range: float | None,
) -> Comparison:
    """Entrywise comparison over the upper triangle, Bonferroni over its entries."""
    rows, columns = np.triu_indices(estimate.shape[0])
    count = rows.size
    difference = np.abs(estimate - predicted)[rows, columns]
    scale = np.abs(predicted).max()
    slack = 1e-9 * max(scale, np.abs(estimate).max())
    if value_range is None:
        radius = normal_radius(variance[rows, columns], runs, false_alarm / count) + slack
        kind = "asymptotic"
    else:
        radius = (
            bernstein_radius(variance[rows, columns], runs, value_range, false_alarm / count)
            + slack
        )
        kind = "guaranteed"
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(radius > 0, difference / radius, np.where(difference > 0, np.inf, 0.0))
    worst = int(np.argmax(ratio))
    score = float(ratio[worst])
    detail = (
        f"{count} entries, worst ({rows[worst]}, {columns[worst]}): simulated "
        f"{estimate[rows[worst], columns[worst]]:.6g} vs predicted "
        f"{predicted[rows[worst], columns[worst]]:.6g} ± {radius[worst]:.3g}"
    )
    return Comparison(name, "prediction–simulation", score <= 1.0, kind, false_alarm, score, detail)


def _exact_comparison(name: str, layers: str, left: Any, right: Any) -> Comparison:
    left = np.asarray(left, dtype=float)
    right = np.asarray(right, dtype=float)
    if left.shape != right.shape:
        return Comparison(
            name,
            layers,
            False,
            "exact",
            0.0,
            math.inf,
            f"shapes differ: {left.shape} vs {right.shape}",
        )
    if np.all(np.isinf(left) & np.isinf(right) & (np.sign(left) == np.sign(right))):
        return Comparison(name, layers, True, "exact", 0.0, 0.0, "both infinite")
    scale = max(float(np.max(np.abs(right), initial=0.0)), float(np.max(np.abs(left), initial=0.0)))
    difference = float(np.max(np.abs(left - right), initial=0.0))
    relative = difference / scale if scale > 0 else difference
    score = relative / EXACT_TOLERANCE
    return Comparison(
        name,
        layers,
        bool(relative <= EXACT_TOLERANCE),
        "exact",
        0.0,
        score,
        f"largest relative difference {relative:.2g} (tolerance {EXACT_TOLERANCE:g})",
    )


def _horizon(
    predicted: np.ndarray, growth: np.ndarray, runs: int, false_alarm: float, deterministic: bool
) -> int:
    """The longest ``t ≤ len − 1`` where the guaranteed band's range term is informative."""
    last = len(predicted) - 1
    if deterministic:
        return last
    log_term = math.log(4.0 * last / false_alarm)
    range_term = 7.0 * growth * log_term / (3.0 * max(runs - 1, 1))
    informative = range_term <= _INFORMATIVE * predicted
    horizon = 1
    for t in range(1, last + 1):
        if not informative[t]:
            break
        horizon = t
    return horizon


def _one_step_runs(runs: int, state: int) -> int:
    """Runs of each one-step probe: ten times ``runs`` (one step is cheap), memory permitting."""
    return max(runs, min(10 * runs, _ONE_STEP_FLOATS // state))


def _random_probe(dimension: int, rng: np.random.Generator) -> np.ndarray:
    """A random full-rank PSD matrix of trace one."""
    orthogonal, _ = np.linalg.qr(rng.standard_normal((dimension, dimension)))
    weights = rng.uniform(0.2, 1.0, size=dimension)
    probe = (orthogonal * weights) @ orthogonal.T
    return probe / np.trace(probe)


def _check_rate(
    problem: Quadratic,
    dynamics: LinearDynamics,
    lr: float,
    threshold: float,
    *,
    operator: OperatorLike | None,
    symbolic_operator: Any,
    runs: int,
    horizon: int | None,
    false_alarm: float,
    seed: np.random.SeedSequence,
    init: Any,
    executor: Executor | None,
    progress: bool | ProgressMeter,
    chunk_size: int,
    notes: list[str],
) -> RateCheck:
    recursion = second_moment_recursion(problem, dynamics, lr)
    apply = _operator_apply(operator, recursion)
    reduced = problem.reduced()
    blocks, dimension = dynamics.blocks, problem.dimension
    state = blocks * dimension
    lift = np.kron(np.eye(blocks), reduced.basis)
    comparisons: list[Comparison] = []

    # --- exact: the prediction's operator against the numeric layer (and the symbolic one)
    system = bind(problem, dynamics)
    if reduced.rank and system.size > _DENSE_CHECK_SIZE:
        spectrum, comparison = _matrix_free_spectrum(system, apply, lift, lr, operator)
        comparisons.append(comparison)
    elif reduced.rank:
        predicted_matrix = _reduced_matrix(apply, lift)
        spectrum = _spectrum(predicted_matrix, lift)
        numeric_matrix = reduced_operator(problem, dynamics).matrix(lr)
        comparisons.append(
            _exact_comparison(
                "operator T(η) on svec(range H)"
                + (" (supplied)" if operator is not None else " (matrix-free)"),
                "numeric–numeric",
                predicted_matrix,
                numeric_matrix,
            )
        )
    else:
        spectrum = _Spectrum(0.0, np.eye(state) / state, np.eye(state))
    if symbolic_operator is not None:
        try:
            symbolic = _sympy_to_float(symbolic_operator(problem, dynamics, lr=lr))
        except _SYMBOLIC_FAILURES as error:  # the symbolic layer declined this problem
            notes.append(f"symbolic operator declined ({_describe(error)})")
        else:
            comparisons.append(
                _exact_comparison(
                    "operator T(η) in vec coordinates",
                    "numeric–symbolic",
                    dense_operator(problem, dynamics, lr),
                    symbolic,
                )
            )
    stable = spectrum.radius < 1.0
    if math.isfinite(threshold) and abs(spectrum.radius - 1.0) > 1e-9:
        consistent = stable == (lr < threshold)
        comparisons.append(
            Comparison(
                "verdict ρ(T(η)) < 1 ⇔ η < η*",
                "numeric–numeric",
                consistent,
                "exact",
                0.0,
                0.0 if consistent else math.inf,
                f"ρ = {spectrum.radius:.10g}, η/η* = {lr / threshold:.10g}",
            )
        )

    # --- statistical comparisons; the false-alarm budget is split equally over them
    noisy = dynamics.noise is not None
    families = 3 + (1 if noisy else 0) + 1
    share = false_alarm / families
    streams = seed.spawn(8)
    mixing_rng = np.random.Generator(np.random.PCG64(streams[0]))
    quiet = dataclasses.replace(dynamics, noise=None)
    norm = state_map_norm_bound(problem, quiet, lr)
    common = {"executor": executor, "chunk_size": chunk_size, "progress": False}

    probes = _one_step_runs(runs, state)

    def one_step(sigma: np.ndarray, stream: np.random.SeedSequence) -> np.ndarray:
        starts = _mixture_starts(sigma, probes, mixing_rng)
        result = simulate(
            problem, quiet, lr, steps=1, runs=probes, seed=stream, init=starts, **common
        )
        return result.final_states

    # 1. the top mode: entries, and the growth ρ̂ along it
    top = spectrum.right
    states = one_step(top, streams[1])
    mean, variance = _entry_statistics(states)
    value_range = norm**2 * float(np.trace(top))
    comparisons.append(
        _matrix_comparison(
            "one-step E[AΣAᵀ] vs T(Σ), Σ = top mode",
            mean,
            variance,
            apply(top[None])[0],
            probes,
            share,
            value_range=value_range,
        )
    )
    weight = spectrum.left
    overlap = float(np.sum(weight * top))
    growth = np.sum((states @ weight) * states, axis=1)
    growth_range = value_range * float(np.linalg.eigvalsh(weight)[-1])
    radius = float(bernstein_radius(growth.var(ddof=1), probes, growth_range, share))
    estimate = float(growth.mean())
    predicted_growth = float(np.sum(weight * apply(top[None])[0]))
    slack = 1e-9 * max(abs(predicted_growth), abs(estimate))
    passed = abs(estimate - predicted_growth) <= radius + slack
    comparisons.append(
        Comparison(
            "one-step growth ⟨W, E[AΣAᵀ]⟩ along the top mode",
            "prediction–simulation",
            passed,
            "guaranteed",
            share,
            abs(estimate - predicted_growth) / (radius + slack) if radius + slack > 0 else 0.0,
            f"simulated {estimate / overlap:.6g} vs predicted {predicted_growth / overlap:.6g} "
            f"± {radius / overlap:.3g} (in units of ⟨W, Σ⟩)",
        )
    )
    radius_estimate = estimate / overlap
    radius_lower = max(estimate - radius, 0.0) / overlap
    radius_upper = (estimate + radius) / overlap

    # 2. a random full-rank probe
    probe = _random_probe(state, np.random.Generator(np.random.PCG64(streams[2])))
    states = one_step(probe, streams[3])
    mean, variance = _entry_statistics(states)
    comparisons.append(
        _matrix_comparison(
            "one-step E[AΣAᵀ] vs T(Σ), Σ = random",
            mean,
            variance,
            apply(probe[None])[0],
            probes,
            share,
            value_range=norm**2,
        )
    )

    # 3. the noise moment
    if noisy:
        result = simulate(
            problem,
            dynamics,
            lr,
            steps=1,
            runs=probes,
            seed=streams[4],
            init=np.zeros(state),
            **common,
        )
        mean, variance = _entry_statistics(result.final_states)
        comparisons.append(
            _matrix_comparison(
                "one-step noise E[bbᵀ] vs N",
                mean,
                variance,
                recursion.noise(),
                probes,
                share,
                value_range=None,
            )
        )

    # 4. a short trajectory, as long as the guaranteed band stays informative
    longest = horizon if horizon is not None else _MAX_HORIZON
    moment = recursion.initial_moment(init)
    noise = recursion.noise()
    predicted = np.empty(longest + 1)
    quiet_predicted = np.empty(longest + 1)
    quiet_moment = moment
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(longest + 1):
            predicted[t] = np.trace(moment)
            quiet_predicted[t] = np.trace(quiet_moment)
            if t < longest:
                moment = apply(moment[None])[0] + noise
                quiet_moment = apply(quiet_moment[None])[0]
    if horizon is None:
        starts = initial_states(init, dimension, blocks)
        start_norm = float(np.max(np.sum(np.atleast_2d(starts) ** 2, axis=1)))
        range_bound = start_norm * growth_bound(problem, quiet, lr, longest)
        deterministic = dynamics.batch.full and not noisy and starts.ndim == 1
        horizon = _horizon(quiet_predicted, range_bound, runs, share, deterministic)
    trajectory = simulate(
        problem,
        dynamics,
        lr,
        steps=horizon,
        runs=runs,
        seed=streams[5],
        init=init,
        executor=executor,
        chunk_size=chunk_size,
        progress=progress,
    )
    times = np.arange(1, horizon + 1)
    lower, upper = trajectory.band(share, times=times)
    values = predicted[times]
    inside = (lower <= values) & (values <= upper)
    width = np.maximum(upper - lower, np.finfo(float).tiny) / 2
    centre = (upper + lower) / 2
    ratio = np.abs(values - centre) / width
    worst = int(np.argmax(ratio))
    kind = {"exact": "exact", "bernstein": "guaranteed", "normal": "asymptotic"}[
        trajectory.band_kind()
    ]
    comparisons.append(
        Comparison(
            f"E‖z_t‖², t = 1..{horizon}",
            "prediction–simulation",
            bool(np.all(inside)),
            kind,
            share,
            float(ratio[worst]),
            f"worst t={times[worst]}: predicted {values[worst]:.6g}, simulated "
            f"{trajectory.mean_square[times[worst]]:.6g} in [{lower[worst]:.6g}, "
            f"{upper[worst]:.6g}]",
        )
    )
    relative = lr / threshold if math.isfinite(threshold) else math.nan
    return RateCheck(
        learning_rate=lr,
        relative=relative,
        spectral_radius=spectrum.radius,
        stable=stable,
        radius_estimate=radius_estimate,
        radius_lower=radius_lower,
        radius_upper=radius_upper,
        horizon=horizon,
        predicted=predicted[: horizon + 1],
        simulation=trajectory,
        comparisons=tuple(comparisons),
    )


def check(
    problem: Quadratic,
    method: Any,
    lr: float | None = None,
    *,
    seed: int | np.random.SeedSequence | None = None,
    runs: int = 20_000,
    horizon: int | None = None,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    margin: float = 0.05,
    init: Any = None,
    symbolic: bool | None = None,
    operator: OperatorLike | None = None,
    executor: Executor | None = None,
    progress: bool | ProgressMeter = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> CheckReport:
    """Check the numeric layer, the symbolic layer and simulation against each other.

    At ``lr`` (or, without it, at ``(1 ∓ margin) η*``) the exact verdict
    ``ρ(T(η)) < 1`` is computed and the layers are compared: the numeric operator with an
    independent matrix-free one (and with the symbolic layer on small problems), and the
    prediction with simulation through one-step estimates of ``T(Σ)`` on probe matrices,
    of the growth along the top mode, of the noise moment, and a short trajectory of
    ``E‖z_t‖²`` (see the module documentation and ``docs/monte-carlo.md``).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float, optional
        The learning rate to check; default: both ``(1 − margin) η*`` and ``(1 + margin) η*``.
    seed : int or numpy.random.SeedSequence, optional
        Seed of every random stream (probes, simulations).
    runs : int, default 20000
        Runs of the trajectory simulation; the one-step probes use ten times as many (one
        step is cheap; at most 4,000,000 / (m d) runs).
    horizon : int, optional
        The trajectory length; default the longest ``t ≤ 30`` where the guaranteed band is
        informative (its range term at most half the predicted value).
    false_alarm : float, default 1e-6
        Probability, per checked rate, of reporting disagreement when every layer is right
        (guaranteed for noise-free dynamics; asymptotic for the noise comparisons).
    margin : float, default 0.05
        Relative distance from ``η*`` of the two rates checked when ``lr`` is not given.
    init : array_like, optional
        The trajectory's start (as in :func:`stability.simulation.simulate`).
    symbolic : bool, optional
        Consult the symbolic layer. ``None`` (default): its operator when the state size
        ``m d ≤ 6`` and its exact ``η*`` when ``m · rank(H) ≤ 3``; ``True``: both, whatever
        the size (may be slow); ``False``: never.
    operator : callable or ndarray, optional
        An operator under test replacing the numeric prediction: a function mapping an
        ``md × md`` matrix ``S`` to ``T(S)``, or a ``((md)², (md)²)`` matrix in the row-major
        ``vec`` basis (as :func:`stability.second_moment_operator`). Needs ``lr``.
    executor : concurrent.futures.Executor, optional
        Runs the simulations' chunks in parallel.
    progress : bool or ProgressMeter, default False
        Progress of the trajectory simulations.
    chunk_size : int, default 1024
        Runs per random stream of the simulations.

    Returns
    -------
    CheckReport
        ``.agrees``, ``.stable`` (at ``lr``), the numbers behind them, a readable ``str()``.

    Raises
    ------
    InvalidInputError
        If ``lr`` is missing for an operator under test or for a problem stable at every rate.
    SizeLimitError
        If the reduced operator is too large to handle densely.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic, critical_learning_rate
    >>> from stability.checks import check
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> eta = critical_learning_rate(problem, SGD(1))
    >>> report = check(problem, SGD(1), 1.25 * eta, seed=0, runs=4000)
    >>> report.agrees, report.stable
    (True, False)
    """
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    runs = check_positive_integer(runs, "runs")
    if runs < 2:
        raise InvalidInputError(f"runs must be at least 2 for a confidence band; got {runs}")
    if horizon is not None:
        horizon = check_positive_integer(horizon, "horizon")
    false_alarm = check_false_alarm(false_alarm)
    try:
        margin = float(margin)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"margin must be a number; got {margin!r}") from None
    if not 0.0 < margin < 1.0:
        raise InvalidInputError(f"margin must lie in (0, 1); got {margin}")
    if symbolic is not None and not isinstance(symbolic, bool):
        raise InvalidTypeError(f"symbolic must be True, False or None; got {symbolic!r}")
    threshold = critical_learning_rate(problem, dynamics)
    if lr is None:
        if operator is not None:
            raise InvalidInputError("an operator under test is given at one rate: pass lr")
        if not math.isfinite(threshold):
            raise InvalidInputError(
                f"{dynamics.name} is stable at every learning rate on this problem (η* = ∞); "
                "pass lr"
            )
        rates = [(1.0 - margin) * threshold, (1.0 + margin) * threshold]
    else:
        rates = [check_learning_rate(lr)]
    symbolic_operator, symbolic_threshold_function, status = _symbolic_layer(
        problem, dynamics, symbolic
    )
    comparisons: list[Comparison] = []
    symbolic_threshold = None
    if symbolic_threshold_function is not None:
        try:
            symbolic_threshold = float(
                _sympy_to_float(symbolic_threshold_function(problem, dynamics))
            )
            comparisons.append(
                _exact_comparison(
                    "critical learning rate η*",
                    "numeric–symbolic",
                    threshold,
                    symbolic_threshold,
                )
            )
        except _SYMBOLIC_FAILURES as error:  # too large, no closed form, or input refused
            status = f"operator used; threshold declined ({_describe(error)})"
    root = as_seed_sequence(seed)
    streams = root.spawn(len(rates))
    notes: list[str] = []
    checks = tuple(
        _check_rate(
            problem,
            dynamics,
            rate,
            threshold,
            operator=operator,
            symbolic_operator=symbolic_operator,
            runs=runs,
            horizon=horizon,
            false_alarm=false_alarm,
            seed=stream,
            init=init,
            executor=executor,
            progress=progress,
            chunk_size=chunk_size,
            notes=notes,
        )
        for rate, stream in zip(rates, streams, strict=True)
    )
    if notes:
        status = "; ".join([status, *dict.fromkeys(notes)])
    return CheckReport(
        method=f"{dynamics.name} ({dynamics.batch.describe()})",
        dimension=problem.dimension,
        samples=problem.samples,
        critical_learning_rate=threshold,
        symbolic_critical_learning_rate=symbolic_threshold,
        symbolic=status,
        false_alarm=false_alarm,
        rates=checks,
        comparisons=tuple(comparisons),
    )
