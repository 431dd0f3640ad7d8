"""EMA momentum with a frozen preconditioner is heavy ball: edge ``(2 + 2β)/((1 − β) η)``."""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import (
    BatchLaw,
    HeavyBall,
    LinearDynamics,
    MatrixPolynomial,
    Quadratic,
    critical_learning_rate,
    symbolic,
)
from stability.bounds import ema_momentum_edge
from stability.testing.strategies import psd_matrices

from .registry import Proof, ProofResult

NAME = "ema_momentum_edge"
STATEMENT = (
    "m_{t+1} = β m_t + (1 − β) H δ_t, δ_{t+1} = δ_t − η P⁻¹ m_{t+1} (P ≻ 0 frozen) is heavy "
    "ball on P^{-1/2} H P^{-1/2} with learning rate η(1 − β); it is stable iff "
    "λ_max(P⁻¹H) < (2 + 2β)/((1 − β)η), i.e. 38/η at β = 0.9."
)
CITATION = (
    "Cohen et al. (2022), Adaptive gradient methods at the edge of stability; "
    "docs/theory/methods.md"
)


def ema_dynamics(beta: object) -> LinearDynamics:
    """EMA momentum as a LinearDynamics on ``(δ_t, δ_{t−1})`` (after the reduction below)."""
    return LinearDynamics(
        name="EMA momentum",
        identity_part=MatrixPolynomial.from_matrices([[[1 + beta, -beta], [1, 0]]]),
        hessian_part=MatrixPolynomial.from_matrices([[[0, 0], [0, 0]], [[-(1 - beta), 0], [0, 0]]]),
        batch=BatchLaw(None),
        state=("δ_t", "δ_{t-1}"),
    )


def _literal_ema(hessian: np.ndarray, preconditioner: np.ndarray, lr: float, beta: float):
    """Run the EMA update as written (m and δ), 30 steps from a fixed start."""
    rng = np.random.default_rng(0)
    delta = rng.standard_normal(hessian.shape[0])
    momentum = np.zeros_like(delta)
    inverse = np.linalg.inv(preconditioner)
    path = [delta]
    for _ in range(30):
        momentum = beta * momentum + (1 - beta) * hessian @ delta
        delta = delta - lr * inverse @ momentum
        path.append(delta)
    return np.array(path)


def _as_heavy_ball(hessian: np.ndarray, preconditioner: np.ndarray, lr: float, beta: float):
    """The same trajectory from δ_{t+1} = δ_t + β(δ_t − δ_{t−1}) − η(1 − β) P⁻¹H δ_t."""
    rng = np.random.default_rng(0)
    delta = rng.standard_normal(hessian.shape[0])
    operator = np.linalg.inv(preconditioner) @ hessian
    previous = delta
    current = delta - lr * (1 - beta) * operator @ delta  # first step: m_1 = (1 − β) H δ_0
    path = [previous, current]
    for _ in range(29):
        previous, current = (
            current,
            current + beta * (current - previous) - lr * (1 - beta) * operator @ current,
        )
        path.append(current)
    return np.array(path)


def prove() -> ProofResult:
    """Eliminate ``m`` symbolically, then reuse the heavy-ball edge.

    Examples
    --------
    >>> from stability.proofs import ema_momentum_edge
    >>> ema_momentum_edge.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    beta, lam, eta = sympy.symbols("beta lambda eta", positive=True)
    d0, m0 = sympy.symbols("delta_0 m_0")
    # one step on an eigenvector of P⁻¹H (eigenvalue λ): m_1, δ_1 from (m_0, δ_0)
    m1 = beta * m0 + (1 - beta) * lam * d0
    delta1 = d0 - eta * m1
    m2 = beta * m1 + (1 - beta) * lam * delta1
    delta2 = delta1 - eta * m2
    proof.identity(
        "eliminating m: δ_2 = δ_1 + β(δ_1 − δ_0) − η(1 − β)λ δ_1 (m_1 = (δ_0 − δ_1)/η)",
        delta2 - (delta1 + beta * (delta1 - d0) - eta * (1 - beta) * lam * delta1),
    )
    proof.equal(
        "the symbolic layer derives the edge (2 + 2β)/((1 − β)λ) for the reduced dynamics",
        symbolic.critical_learning_rate([lam], ema_dynamics(beta)),
        (2 + 2 * beta) / ((1 - beta) * lam),
    )
    proof.equal(
        "β = 9/10 gives 38/λ",
        ((2 + 2 * beta) / ((1 - beta) * lam)).subs(beta, sympy.Rational(9, 10)),
        38 / lam,
    )
    proof.equal(
        "heavy ball at learning rate η(1 − β) has the same edge",
        symbolic.critical_learning_rate([lam], HeavyBall(beta)) / (1 - beta),
        (2 + 2 * beta) / ((1 - beta) * lam),
    )

    @st.composite
    def cases(draw):
        hessian = draw(psd_matrices(min_dimension=2, max_dimension=3, allow_singular=False))
        scales = draw(st.lists(st.floats(0.2, 5.0), min_size=len(hessian), max_size=len(hessian)))
        return hessian, np.diag(scales), draw(st.floats(0.0, 0.95))

    proof.hypothesis(
        "the literal (m, δ) recursion and the heavy-ball form give the same trajectory",
        cases(),
        lambda case: np.allclose(
            _literal_ema(case[0], case[1], 0.3, case[2]),
            _as_heavy_ball(case[0], case[1], 0.3, case[2]),
            rtol=1e-9,
            atol=1e-9,
        ),
        max_examples=20,
    )

    def edge_matches(case) -> bool:
        hessian, preconditioner, momentum = case
        root = np.diag(1 / np.sqrt(np.diag(preconditioner)))
        scaled = Quadratic(root @ hessian @ root)
        exact = critical_learning_rate(scaled, ema_dynamics(momentum))
        return bool(
            np.isclose(
                exact,
                ema_momentum_edge(Quadratic(hessian), momentum, preconditioner=preconditioner),
                rtol=1e-8,
            )
        )

    proof.hypothesis(
        "numeric η* of the reduced dynamics equals (2 + 2β)/((1 − β) λ_max(P⁻¹H))",
        cases(),
        edge_matches,
        max_examples=25,
    )
    return proof.result()
