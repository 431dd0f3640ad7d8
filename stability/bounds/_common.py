"""Shared pieces of :mod:`stability.bounds`: bound metadata and the batch-law helpers.

Every function of :mod:`stability.bounds` that returns a bound on a critical learning rate
carries two attributes, set by :func:`bound`:

* ``side``: ``"upper"`` (a necessary condition: ``η* ≤ value``), ``"lower"`` (a
  sufficient condition: ``η* ≥ value``) or ``"exact"``;
* ``citation``: where the result comes from.

:func:`stability.testing.assert_bound_holds` reads ``side`` so that a user's test can
check a bound against the exact threshold without restating which side it is on.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from stability.dynamics import LinearDynamics
from stability.errors import InvalidInputError, InvalidTypeError, SizeLimitError
from stability.methods import as_dynamics
from stability.problems import Quadratic, ReducedQuadratic, as_problem

__all__ = [
    "BATCH_ENUMERATION_LIMIT",
    "BatchOutcomes",
    "Side",
    "batch_outcomes",
    "bound",
    "gradient_setting",
]

Side = Literal["upper", "lower", "exact"]
F = TypeVar("F", bound=Callable[..., Any])

#: Largest number of distinct batches that exact enumeration will visit.
BATCH_ENUMERATION_LIMIT = 200_000


def bound(side: Side, citation: str) -> Callable[[F], F]:
    """Mark a function as a bound on the critical learning rate (sets ``side`` and ``citation``)."""
    if side not in ("upper", "lower", "exact"):  # pragma: no cover - internal misuse
        raise ValueError(side)

    def mark(function: F) -> F:
        function.side = side  # type: ignore[attr-defined]
        function.citation = citation  # type: ignore[attr-defined]
        return function

    return mark


@dataclass(frozen=True)
class GradientSetting:
    """A problem reduced to ``range(H)`` with the mixing weight of a plain gradient method."""

    problem: Quadratic
    dynamics: LinearDynamics
    reduced: ReducedQuadratic
    mixing: float
    scale: float


def gradient_setting(problem: Any, method: Any) -> GradientSetting:
    """Check that ``method`` is a plain gradient step ``I − g η H_B`` and reduce ``problem``.

    A gradient step with weight decay, ``I − g η (H_B + μ I)``, is the plain step on the
    shifted problem ``H_i + μ I``, which is what the setting then holds.

    Raises
    ------
    InvalidTypeError
        If ``problem`` or ``method`` has the wrong type.
    InvalidInputError
        If the method is not a plain gradient step (momentum has its own bounds) or its
        batch size does not fit the problem.
    """
    problem = as_problem(problem)
    dynamics = as_dynamics(method)
    step = dynamics.gradient_step()
    if step is None:
        raise InvalidInputError(
            f"method must be a plain gradient step (GD, SGD: δ ← (I − η H_B) δ); got "
            f"{dynamics.name}, whose state map is not of that form (momentum has its own "
            "edges: heavy_ball_edge, nesterov_edge)"
        )
    try:
        scale, shift = float(step[0]), float(step[1])
    except TypeError:
        raise InvalidTypeError(
            f"the bounds are numeric; {dynamics.name} has symbolic coefficients"
        ) from None
    mixing = float(dynamics.batch.mixing(problem.samples))
    if shift:
        # weight decay μ: the plain step on H_i + μ I (docs/theory/weight-decay.md)
        problem = _shifted(problem, shift)
        dynamics = dynamics.with_hessian_shift(-shift)
    return GradientSetting(problem, dynamics, problem.reduced(), mixing, scale)


def _shifted(problem: Quadratic, shift: float) -> Quadratic:
    """The problem with every ``H_i`` replaced by ``H_i + shift · I``."""
    eye = np.eye(problem.dimension)
    if problem.samples is None:
        return Quadratic(np.asarray(problem.hessian) + shift * eye)
    return Quadratic.from_hessians(np.asarray(problem.per_sample_hessians()) + shift * eye)


@dataclass(frozen=True)
class BatchOutcomes:
    """Every batch a law can draw, as weights ``w`` (``H_B = Σ_i w_i H_i``) and probabilities."""

    weights: np.ndarray
    probabilities: np.ndarray

    @property
    def count(self) -> int:
        """The number of distinct outcomes."""
        return int(self.probabilities.shape[0])


def batch_outcomes(dynamics: LinearDynamics, samples: int | None) -> BatchOutcomes:
    """Enumerate the batches of ``dynamics.batch`` with their exact probabilities.

    Full batch: one outcome ``w = 1/n``. Without replacement: the ``C(n, B)`` subsets,
    equally likely. With replacement: the multisets of size ``B`` (``C(n + B − 1, B)`` of
    them) with multinomial probabilities.

    Raises
    ------
    SizeLimitError
        If there are more than :data:`BATCH_ENUMERATION_LIMIT` outcomes.
    """
    law = dynamics.batch
    law.validate(samples)
    if law.batch_size is None:
        n = samples or 1
        return BatchOutcomes(np.full((1, n), 1.0 / n), np.ones(1))
    assert samples is not None
    batch = law.batch_size
    if law.replacement:
        count = math.comb(samples + batch - 1, batch)
    else:
        count = math.comb(samples, batch)
    if count > BATCH_ENUMERATION_LIMIT:
        raise SizeLimitError(
            f"the batch law {law.describe()} on n={samples} samples has {count:,} distinct "
            f"batches (limit {BATCH_ENUMERATION_LIMIT:,}); exact enumeration is refused"
        )
    weights = np.zeros((count, samples))
    probabilities = np.empty(count)
    if law.replacement:
        log_total = batch * math.log(samples)
        for row, combo in enumerate(itertools.combinations_with_replacement(range(samples), batch)):
            counts = np.bincount(combo, minlength=samples)
            weights[row] = counts / batch
            log_ways = math.lgamma(batch + 1) - sum(math.lgamma(c + 1) for c in counts)
            probabilities[row] = math.exp(log_ways - log_total)
    else:
        for row, combo in enumerate(itertools.combinations(range(samples), batch)):
            weights[row, list(combo)] = 1.0 / batch
        probabilities[:] = 1.0 / count
    return BatchOutcomes(weights, probabilities)
