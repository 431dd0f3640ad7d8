"""The report types of :func:`stability.checks.check`: one comparison, one rate, the whole check."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stability.simulation import SimulationResult, json_number

__all__ = ["CheckReport", "Comparison", "RateCheck", "format_comparison", "json_comparison"]


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


def json_comparison(comparison: Comparison) -> dict[str, Any]:
    """A comparison as strict-JSON fields (non-finite floats as strings).

    Parameters
    ----------
    comparison : Comparison
        The comparison to write.

    Examples
    --------
    >>> from stability.checks import Comparison
    >>> from stability.checks._report import json_comparison
    >>> json_comparison(Comparison("η*", "numeric–numeric", False, "exact", 0.0, float("inf"), ""))[
    ...     "score"
    ... ]
    'inf'
    """
    fields = dataclasses.asdict(comparison)
    return {
        key: json_number(value) if isinstance(value, float) else value
        for key, value in fields.items()
    }


def format_comparison(comparison: Comparison) -> str:
    """One indented line: pass or FAIL, the name, the layers, the kind and the numbers.

    Parameters
    ----------
    comparison : Comparison
        The comparison to write.

    Examples
    --------
    >>> from stability.checks import Comparison
    >>> from stability.checks._report import format_comparison
    >>> format_comparison(Comparison("η*", "numeric–symbolic", True, "exact", 0.0, 0.1, "1e-9"))
    '  [pass] η* (numeric–symbolic, exact): 1e-9'
    """
    mark = "pass" if comparison.passed else "FAIL"
    return (
        f"  [{mark}] {comparison.name} ({comparison.layers}, {comparison.kind}"
        + (f", α={comparison.false_alarm:.2g}" if comparison.false_alarm else "")
        + f"): {comparison.detail}"
    )


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
            "comparisons": [json_comparison(c) for c in self.comparisons],
        }

    def _lines(self) -> list[str]:
        """The readable lines of this rate in :class:`CheckReport`'s ``str()``."""
        relative = "" if math.isnan(self.relative) else f" = {self.relative:.4g} η*"
        head = (
            f"η = {self.learning_rate:.8g}{relative}: ρ(T) = {self.spectral_radius:.6g} → "
            f"{'stable' if self.stable else 'UNSTABLE'}; simulated one-step growth "
            f"ρ̂ = {self.radius_estimate:.4g} in [{self.radius_lower:.4g}, "
            f"{self.radius_upper:.4g}] ({self.simulated_verdict})"
        )
        return [head, *(format_comparison(c) for c in self.comparisons)]


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
            "critical_learning_rate": json_number(self.critical_learning_rate),
            "symbolic_critical_learning_rate": self.symbolic_critical_learning_rate,
            "symbolic": self.symbolic,
            "false_alarm": self.false_alarm,
            "agrees": self.agrees,
            "inconclusive": self.inconclusive,
            "verdict": self.verdict,
            "stable": self.stable,
            "comparisons": [json_comparison(c) for c in self.comparisons],
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
        lines += [format_comparison(c) for c in self.comparisons]
        for rate in self.rates:
            lines.append("")
            lines += rate._lines()
        lines.append("")
        lines.append("verdict: " + self.verdict)
        return "\n".join(lines)
