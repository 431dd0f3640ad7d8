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

The package is split by concern into private modules: the report types, the exact and
statistical comparisons, the Monte Carlo bookkeeping (starts, probes, entry statistics,
the informative horizon), the operator under test, its spectrum, the symbolic layer's
side, the checks at one rate and :func:`check` itself. Its API is what this module
exports.
"""

from stability.checks._check import check
from stability.checks._comparisons import EXACT_TOLERANCE
from stability.checks._report import (
    CheckReport,
    Comparison,
    RateCheck,
)
from stability.checks._symbolic import (
    SYMBOLIC_STATE_LIMIT,
    SYMBOLIC_THRESHOLD_LIMIT,
)

__all__ = [
    "EXACT_TOLERANCE",
    "SYMBOLIC_STATE_LIMIT",
    "SYMBOLIC_THRESHOLD_LIMIT",
    "CheckReport",
    "Comparison",
    "RateCheck",
    "check",
]
