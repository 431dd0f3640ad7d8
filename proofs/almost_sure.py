"""Almost-sure stability: the sign of ``E log|1 − η h_B|`` in 1-D; moment-stable ⇒ a.s. stable."""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import SGD, Quadratic
from stability.bounds import almost_sure_threshold, moment_threshold
from stability.numeric import lyapunov_exponent

from ._cases import curvature_lists
from .registry import Proof, ProofResult

NAME = "almost_sure"
STATEMENT = (
    "In 1-D, δ_t = Π_s (1 − η h_{B_s}) δ_0 converges almost surely iff γ = E log|1 − η h_B| < 0 "
    "(strong law of large numbers on log|δ_t|). By Jensen γ ≤ (1/k) log E|1 − ηh_B|^k, so every "
    "k-th-moment-stable rate is a.s. stable (η_as ≥ η*_k). The stable set need not be an "
    "interval: h ∈ {1, 10} is unstable at η = 1/4 and stable around η = 1."
)
CITATION = "Ma & Ying (2021); docs/theory/higher-moments.md"


def prove() -> ProofResult:
    """Exact thresholds in closed form, Jensen's inequality, and a simulation cross-check.

    Examples
    --------
    >>> from stability.proofs import almost_sure
    >>> almost_sure.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta = sympy.Symbol("eta", positive=True)
    # h ∈ {1, 3}, B = 1: γ = ½ log|(1 − η)(1 − 3η)| = 0 where (η − 1)(3η − 1) = 1 beyond 1
    roots = sympy.solve(sympy.Eq((eta - 1) * (3 * eta - 1), 1), eta)
    problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    proof.check(
        "h ∈ {1, 3}: (η − 1)(3η − 1) = 1 at η = 4/3, the a.s. threshold",
        roots == [sympy.Rational(4, 3)]
        and np.isclose(almost_sure_threshold(problem, SGD(1)), 4 / 3, rtol=1e-12),
        str(roots),
    )
    proof.check(
        "between the singular points 1/3 and 1, |(1 − η)(1 − 3η)| ≤ 1/3 < 1 (max at η = 2/3)",
        sympy.maximum((1 - eta) * (3 * eta - 1), eta, sympy.Interval(sympy.Rational(1, 3), 1))
        == sympy.Rational(1, 3),
    )
    x = sympy.Symbol("x", positive=True)
    proof.check(
        "log is concave: log x ≤ x − 1 (tangent at 1), the step behind Jensen's inequality",
        sympy.diff(sympy.log(x), x, 2) == -1 / x**2,
    )
    ten = Quadratic.from_hessians([[[1.0]], [[10.0]]])
    proof.check(
        "h ∈ {1, 10}: unstable at η = 1/4 (|0.75 · 1.5| > 1), stable at η = 1 and 1.05",
        lyapunov_exponent(ten, SGD(1), 0.25).exponent > 0
        and lyapunov_exponent(ten, SGD(1), 1.05).exponent < 0
        and lyapunov_exponent(ten, SGD(1), 1.0).exponent == -np.inf,
    )

    def ordered(curvatures) -> bool:
        problem = Quadratic.from_hessians([[[float(h)]] for h in curvatures])
        method = SGD(1, replacement=True)
        threshold = almost_sure_threshold(problem, method)
        below = lyapunov_exponent(problem, method, threshold * (1 - 1e-7)).exponent
        above = lyapunov_exponent(problem, method, threshold * (1 + 1e-7)).exponent
        return (
            all(threshold >= moment_threshold(problem, method, k) * (1 - 1e-12) for k in (1, 2, 4))
            and below < 0 <= above
        )

    proof.exhaustive(
        "1-D rational curvatures: η_as ≥ η*_1, η*_2, η*_4 and γ changes sign at η_as",
        [c for c in curvature_lists(3) if len(set(c) - {0}) >= 1][::4],
        ordered,
    )

    @st.composite
    def diagonal_cases(draw):
        samples = draw(st.integers(2, 3))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        curvatures = rng.uniform(0.2, 2.0, size=(samples, 2))
        lr = draw(st.floats(0.2, 1.5))
        return curvatures, lr

    def simulation_covers(case) -> bool:
        from hypothesis import assume

        curvatures, lr = case
        problem = Quadratic.from_hessians([np.diag(row) for row in curvatures])
        exponents = [np.mean(np.log(np.abs(1 - lr * curvatures[:, k]))) for k in range(2)]
        # a clear gap: after the burn-in the top direction carries the state, up to a factor
        # exp(−400 · 0.05) = 2e-9, and the per-step log-growth is then i.i.d., so the
        # Student-t interval over independent runs has its nominal coverage.
        assume(abs(exponents[0] - exponents[1]) > 0.05)
        estimate = lyapunov_exponent(
            problem,
            SGD(1, replacement=True),
            lr,
            steps=1000,
            runs=16,
            burn_in=400,
            confidence=1 - 1e-6,
            seed=1,
        )
        return bool(estimate.lower - 1e-8 <= max(exponents) <= estimate.upper + 1e-8)

    proof.hypothesis(
        "simulated top Lyapunov exponent: its 1 − 1e-6 interval covers max_k E log|1 − ηh_k|",
        diagonal_cases(),
        simulation_covers,
        max_examples=10,
    )
    return proof.result()
