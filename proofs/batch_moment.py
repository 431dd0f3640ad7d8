"""The fourth moment of the batch Hessian: ``E[H_B ⊗ H_B] = (1 − p) H ⊗ H + p M``."""

from __future__ import annotations

import itertools
from fractions import Fraction

import sympy

from stability.bounds import mixing_weight

from .registry import Proof, ProofResult

NAME = "batch_moment"
STATEMENT = (
    "For H_B = (1/B) Σ_{i∈B} H_i, E[H_B ⊗ H_B] = (1 − p) H ⊗ H + p M with M = (1/n) Σ H_i ⊗ H_i, "
    "p = 1/B with replacement and p = (n − B)/(B(n − 1)) without (p = 0 at B = n)."
)
CITATION = "Mulayoff & Michaeli (2023); docs/theory/threshold.md"


def _weight_moments(samples: int, batch: int, replacement: bool) -> dict[tuple[int, int], Fraction]:
    """``E[w_s w_t]`` by exact enumeration of every batch, ``H_B = Σ_s w_s H_s``."""
    moments = {(s, t): Fraction(0) for s in range(samples) for t in range(samples)}
    if replacement:
        draws = list(itertools.product(range(samples), repeat=batch))
        weight = Fraction(1, len(draws))
    else:
        draws = list(itertools.combinations(range(samples), batch))
        weight = Fraction(1, len(draws))
    for draw in draws:
        counts = [Fraction(draw.count(s), batch) for s in range(samples)]
        for s, t in moments:
            moments[s, t] += weight * counts[s] * counts[t]
    return moments


def prove() -> ProofResult:
    """Reduce to ``E[w_s w_t] = (1 − p)/n² + p δ_st/n`` and prove that in closed form.

    Examples
    --------
    >>> from stability.proofs import batch_moment
    >>> batch_moment.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    n, b = sympy.symbols("n B", positive=True, integer=True)
    # E[H_B ⊗ H_B] = Σ_{s,t} E[w_s w_t] H_s ⊗ H_t, so the claim is
    # E[w_s w_t] = (1 − p)/n² + p δ_st/n.
    p_without = (n - b) / (b * (n - 1))
    # without replacement: P(s ∈ B) = B/n, P(s, t ∈ B) = B(B − 1)/(n(n − 1)), w = 1/B on B
    proof.identity(
        "without replacement, diagonal: (B/n)/B² = (1 − p)/n² + p/n",
        (b / n) / b**2 - ((1 - p_without) / n**2 + p_without / n),
    )
    proof.identity(
        "without replacement, off-diagonal: B(B − 1)/(n(n − 1))/B² = (1 − p)/n²",
        b * (b - 1) / (n * (n - 1)) / b**2 - (1 - p_without) / n**2,
    )
    # with replacement: counts are multinomial(B, 1/n):
    # E c_s² = B/n − B/n² + B²/n², E c_s c_t = B(B − 1)/n²
    p_with = 1 / b
    proof.identity(
        "with replacement, diagonal: E c_s²/B² = (1 − p)/n² + p/n",
        (b / n - b / n**2 + b**2 / n**2) / b**2 - ((1 - p_with) / n**2 + p_with / n),
    )
    proof.identity(
        "with replacement, off-diagonal: E c_s c_t / B² = (1 − p)/n²",
        b * (b - 1) / n**2 / b**2 - (1 - p_with) / n**2,
    )
    cases = [
        (samples, batch, replacement)
        for samples in range(1, 6)
        for replacement in (False, True)
        for batch in range(1, (min(samples + 2, 5) if replacement else samples + 1))
    ]

    def matches(case) -> bool:
        samples, batch, replacement = case
        if not replacement and samples == 1:
            return mixing_weight(1, 1) == 0
        p = Fraction(mixing_weight(samples, batch, replacement=replacement))
        moments = _weight_moments(samples, batch, replacement)
        return all(
            value == (1 - p) / samples**2 + (p / samples if s == t else 0)
            for (s, t), value in moments.items()
        )

    proof.exhaustive(
        "exact enumeration of every batch (n ≤ 5, all B ≤ n without, B ≤ 4 with replacement)",
        cases,
        matches,
    )
    proof.check(
        "p = 0 at B = n without replacement (the full batch)",
        all(mixing_weight(k, k) == 0 for k in range(1, 8)),
    )
    return proof.result()
