"""Stationary second moments and expected one-step loss changes of noisy linear dynamics.

Theory: ``docs/theory/operator.md`` (rule 3) and ``docs/theory/methods.md``. A method with additive
noise,

    z_{t+1} = A_t z_t + b_t,   A_t = F(η) ⊗ I + G(η) ⊗ H_B,   b_t = (u(η) ⊗ I + w(η) ⊗ H_B) ε_t,

has second moments ``S_{t+1} = T(S_t) + N`` with ``T(S) = E[A S Aᵀ]`` and
``N = E[b bᵀ]``. When ``ρ(T) < 1`` they converge to ``S_∞ = (I − T)^{-1} N``; when
``ρ(T) ≥ 1`` there is no stationary moment and :func:`stationary_second_moment` refuses
with :class:`~stability.errors.UnstableError`.

Everything here reads only the :class:`~stability.dynamics.LinearDynamics` (state map,
batch law, additive noise); no method is known by name. The work is done in the
eigenbasis of ``H`` restricted to ``range(H)``, where

* ``E[H_B X H_B] = (1 − p) Λ X Λ + p (1/n) Σ_i H_i X H_i`` (the per-sample sandwich of
  :meth:`~stability.problems.ReducedQuadratic.sample_sandwich`), so ``T`` is applied
  matrix-free in ``O(n r²)`` (rank-one samples) without forming ``r² × r²`` matrices;
* full batch (``p = 0``) the operator is block-diagonal: the ``m × m`` block ``(k, l)`` of
  the moment solves ``X = A_k X A_lᵀ + N_kl`` with ``A_k = F + λ_k G``, an exact solve;
* with a stochastic batch, ``(I − T) X = N`` is solved by conjugate gradients (one state
  block: ``T`` is self-adjoint for the Frobenius inner product) or GMRES (several blocks),
  preconditioned by the exact full-batch solve; small problems may be solved densely.

Neutral directions: ``H_i v = 0`` for ``v ∈ null(H)``, so the state map is ``F`` there.
Noise with ``u = 0`` (variational GD: ``b = −η H_B ε``) lives in ``range(H)`` and never
reaches ``null(H)``, where the state keeps its initial value. The returned moment is then
the part of ``lim S_t`` that does not depend on the start: the limit for a start with no
component in ``null(H)``, equivalently ``lim_t S_t − P z_0 z_0ᵀ P`` with ``P`` the
projection onto the null-space blocks. If ``u ≠ 0`` and ``Cov ε`` reaches ``null(H)``, the
null-space directions are kept and are stable only if ``ρ(F) < 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from stability._system import System, bind
from stability._validation import as_finite_array, check_learning_rate
from stability.dynamics import LinearDynamics
from stability.errors import (
    ConvergenceError,
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    OutOfRangeError,
    SizeLimitError,
    UnstableError,
)
from stability.numeric._operator import SecondMomentOperator
from stability.numeric._thresholds import critical_learning_rate, radius_report
from stability.problems import Quadratic, ReducedQuadratic

__all__ = ["expected_loss_change", "stationary_second_moment"]

Solver = Literal["auto", "direct", "krylov"]

# Largest state dimension (m · k) solved densely by solver="auto" when the batch is stochastic.
_DIRECT_STATE = 24
# Largest svec dimension for which stability is decided by the exact threshold routine
# (beyond it, by the spectral radius at lr, matrix-free).
_EXACT_CHECK_GRADIENT = 1500
_EXACT_CHECK_POLYNOMIAL = 300


@dataclass(frozen=True, eq=False)
class _Coordinates:
    """Orthonormal coordinates ``basis`` (d × k) in which ``H = diag(eigenvalues)``.

    The first ``reduced.rank`` coordinates span ``range(H)``; any further ones span
    (part of) ``null(H)``, where every ``H_i`` vanishes (their factors get zero columns).
    """

    reduced: ReducedQuadratic
    basis: np.ndarray
    eigenvalues: np.ndarray

    @property
    def size(self) -> int:
        return int(self.eigenvalues.shape[0])

    def factors(self, mixing: float) -> np.ndarray | None:
        """Per-sample factors padded with zero columns on the null-space coordinates."""
        if not mixing:
            return None
        factors = self.reduced.factors
        extra = self.size - self.reduced.rank
        if extra:
            factors = np.concatenate(
                [factors, np.zeros((*factors.shape[:2], extra))], axis=2
            )
        return factors

    def operator(self, system: System) -> SecondMomentOperator:
        """The one second-moment operator in these coordinates (true Hessians, rates ``η``)."""
        return SecondMomentOperator(
            system,
            eigenvalues=self.eigenvalues,
            factors=self.factors(system.mixing),
            identity=system.identity_table,
            hessian=system.hessian_table,
            rate_factor=1.0,
        )


def _noise_covariance(dynamics: LinearDynamics, dimension: int) -> np.ndarray:
    noise = dynamics.noise
    assert noise is not None
    try:
        covariance = noise.covariance_matrix(dimension)
    except TypeError:
        raise InvalidTypeError(
            f"the noise covariance of {dynamics.name} is symbolic; the numeric layer needs "
            "numbers (substitute values first)"
        ) from None
    if covariance.shape != (dimension, dimension):
        raise DimensionError(
            f"the noise covariance of {dynamics.name} has shape {covariance.shape}, but the "
            f"problem has d={dimension} parameters (check posterior_cov)"
        )
    return 0.5 * (covariance + covariance.T)


def _coordinates(system: System, lr: float) -> tuple[_Coordinates, np.ndarray | None]:
    """The working coordinates and the noise covariance (``None`` without noise)."""
    problem, dynamics = system.problem, system.dynamics
    reduced = system.true_reduced
    basis, eigenvalues = reduced.basis, reduced.eigenvalues
    if dynamics.noise is None:
        return _Coordinates(reduced, basis, eigenvalues), None
    covariance = _noise_covariance(dynamics, problem.dimension)
    identity_weights, _ = system.noise_parts(lr)
    null_dimension = problem.dimension - reduced.rank
    if null_dimension and np.any(identity_weights != 0):
        complement = scipy.linalg.null_space(basis.T) if reduced.rank else np.eye(problem.dimension)
        null_part = complement.T @ covariance @ complement
        scale = max(float(np.abs(covariance).max()), np.finfo(float).tiny)
        if float(np.abs(null_part).max()) > 1e-12 * scale:
            transition = system.parts(lr)[0]
            radius = float(np.max(np.abs(np.linalg.eigvals(transition))))
            if radius >= 1.0:
                raise UnstableError(
                    f"the additive noise of {dynamics.name} reaches null(H), where the state "
                    f"map is F(η) with spectral radius {radius:.6g} ≥ 1: the second moment "
                    "grows without bound there and has no stationary value"
                )
            basis = np.hstack([basis, complement])
            eigenvalues = np.concatenate([eigenvalues, np.zeros(complement.shape[1])])
    return _Coordinates(reduced, basis, eigenvalues), covariance


def _noise_moment(
    system: System,
    operator: SecondMomentOperator,
    coordinates: _Coordinates,
    covariance: np.ndarray | None,
    lr: float,
) -> np.ndarray:
    """``N = E[b bᵀ]`` in the working coordinates, shape ``(m, m, k, k)``."""
    blocks, size = system.blocks, coordinates.size
    parts = system.noise_parts(lr)
    if covariance is None or parts is None:
        return np.zeros((blocks, blocks, size, size))
    u, w = parts
    sigma = coordinates.basis.T @ covariance @ coordinates.basis
    sigma_h = operator.sandwich.right(sigma)  # Σ H  (E[ε εᵀ H_B] = Σ H)
    sandwich = operator.sandwich(sigma)
    return (
        np.einsum("a,c,kl->ackl", u, u, sigma)
        + np.einsum("a,c,kl->ackl", u, w, sigma_h)
        + np.einsum("a,c,kl->ackl", w, u, sigma_h.T)
        + np.einsum("a,c,kl->ackl", w, w, sandwich)
    )


def _apply_operator(
    moment: np.ndarray, parts: tuple[np.ndarray, np.ndarray], operator: SecondMomentOperator
) -> np.ndarray:
    """``T(X) = E[A X Aᵀ]`` for ``X`` of shape ``(..., m, m, k, k)`` (the one operator)."""
    flat = moment.reshape(-1, *moment.shape[-4:])
    images = np.empty(flat.shape)
    for index, blocks in enumerate(flat):
        images[index] = operator.apply_pair(blocks, parts, parts)
    return images.reshape(moment.shape)


def _full_batch_blocks(identity: np.ndarray, hessian: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """The per-coordinate state maps ``A_k = F + λ_k G``, shape ``(k, m, m)``."""
    return identity[None, :, :] + lam[:, None, None] * hessian[None, :, :]


def _full_batch_solve(per_coordinate: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Solve ``X_kl − A_k X_kl A_lᵀ = R_kl`` for every pair; ``R``, ``X`` are ``(m, m, k, k)``."""
    size, blocks = per_coordinate.shape[0], per_coordinate.shape[1]
    if blocks == 1:
        a = per_coordinate[:, 0, 0]
        return right / (1.0 - np.outer(a, a))[None, None]
    # row-major vec: vec(A X Bᵀ) = (A ⊗ B) vec(X)
    kron = np.einsum("kab,lcd->klacbd", per_coordinate, per_coordinate).reshape(
        size, size, blocks * blocks, blocks * blocks
    )
    system = np.eye(blocks * blocks) - kron
    vectors = np.moveaxis(right, (0, 1), (2, 3)).reshape(size, size, blocks * blocks, 1)
    solution = np.linalg.solve(system, vectors).reshape(size, size, blocks, blocks)
    return np.moveaxis(solution, (2, 3), (0, 1))


def _unstable(dynamics: LinearDynamics, lr: float, detail: str) -> UnstableError:
    return UnstableError(
        f"lr={lr:.10g} is not mean-square stable for {dynamics.name} on this problem ({detail}); "
        "the second moment grows without bound and has no stationary value"
    )


def _check_stable(
    system: System,
    coordinates: _Coordinates,
    identity: np.ndarray,
    hessian: np.ndarray,
    lr: float,
) -> None:
    """Raise :class:`UnstableError` unless ``ρ(T(lr)) < 1`` on the working coordinates."""
    dynamics = system.dynamics
    per_coordinate = _full_batch_blocks(identity, hessian, coordinates.eigenvalues)
    if per_coordinate.shape[0]:
        radius = float(np.max(np.abs(np.linalg.eigvals(per_coordinate)))) ** 2
        if radius >= 1.0:  # T ≥ its full-batch part, so this is unstable for any batch law
            raise _unstable(dynamics, lr, f"the full-batch part has ρ(T) = {radius:.10g} ≥ 1")
    if not system.mixing:
        return
    limit = _EXACT_CHECK_GRADIENT if system.gradient_step else _EXACT_CHECK_POLYNOMIAL
    if system.size <= limit:
        threshold = critical_learning_rate(system.problem, dynamics)
        if not lr < threshold:
            raise _unstable(dynamics, lr, f"its critical learning rate is η* = {threshold:.10g}")
        return
    try:
        report = radius_report(system.problem, dynamics, lr, solver="matrix-free")
    except OutOfRangeError as error:  # ρ(T) beyond the float range: far above η*
        raise _unstable(dynamics, lr, "ρ(T) exceeds the float range") from error
    if report.value >= 1.0:
        raise _unstable(
            dynamics, lr, f"ρ(T) ≈ {report.value:.10g} ≥ 1 (Krylov estimate, {report.route})"
        )


def _direct_solve(
    noise: np.ndarray, parts: tuple[np.ndarray, np.ndarray], operator: SecondMomentOperator
) -> np.ndarray:
    """Solve ``(I − T) X = N`` with the dense operator (built by applying ``T`` to a basis)."""
    shape = noise.shape
    length = int(np.prod(shape))
    unit = np.eye(length).reshape((length, *shape))
    images = _apply_operator(unit, parts, operator).reshape(length, length)
    solution = np.linalg.solve(np.eye(length) - images.T, noise.ravel())
    return solution.reshape(shape)


def _krylov_solve(
    noise: np.ndarray,
    parts: tuple[np.ndarray, np.ndarray],
    operator: SecondMomentOperator,
    per_coordinate: np.ndarray,
    rtol: float,
) -> np.ndarray:
    # (I − T) X = N is linear in N: solve for N scaled to unit size, so that the Krylov
    # inner products neither underflow nor overflow for tiny or huge noise
    size = float(np.max(np.abs(noise)))
    if size != 1.0 and size > 0.0:
        return size * _krylov_solve(noise / size, parts, operator, per_coordinate, rtol)
    shape = noise.shape
    length = int(np.prod(shape))

    def residual_map(vector: np.ndarray) -> np.ndarray:
        moment = np.asarray(vector, dtype=float).reshape(shape)
        return (moment - _apply_operator(moment, parts, operator)).ravel()

    def precondition(vector: np.ndarray) -> np.ndarray:
        moment = np.asarray(vector, dtype=float).reshape(shape)
        return _full_batch_solve(per_coordinate, moment).ravel()

    system_map = scipy.sparse.linalg.LinearOperator((length, length), matvec=residual_map)
    preconditioner = scipy.sparse.linalg.LinearOperator((length, length), matvec=precondition)
    start = _full_batch_solve(per_coordinate, noise).ravel()
    maxiter = max(200, 20 * length)
    if shape[0] == 1:
        solution, info = scipy.sparse.linalg.cg(
            system_map, noise.ravel(), x0=start, rtol=rtol, atol=0.0, M=preconditioner,
            maxiter=maxiter,
        )  # fmt: skip
    else:
        solution, info = scipy.sparse.linalg.gmres(
            system_map, noise.ravel(), x0=start, rtol=rtol, atol=0.0, M=preconditioner,
            restart=min(length, 100), maxiter=maxiter,
        )  # fmt: skip
    if info != 0:
        raise ConvergenceError(
            f"the Krylov solve of (I − T) X = N did not reach relative residual {rtol:g} in "
            f"{maxiter} iterations; the learning rate is probably very close to the threshold "
            "(try solver='direct' on a small problem)"
        )
    return solution.reshape(shape)


def stationary_second_moment(
    problem: Quadratic,
    method: Any,
    lr: float,
    *,
    solver: Solver = "auto",
    rtol: float = 1e-12,
) -> np.ndarray:
    """The stationary second moment ``S_∞ = (I − T)^{-1} N`` of a noisy method at ``lr``.

    ``S_∞ = lim_t E[z_t z_tᵀ]`` for the state ``z`` of the method's
    :class:`~stability.dynamics.LinearDynamics` (``docs/theory/operator.md``, rule 3). For
    variational GD with ``Σ_q = σ_k²`` along the eigenvector ``v_k`` of ``H`` it gives
    ``E (v_kᵀ δ)² = η λ_k σ_k² / (S (2 − η λ_k))`` (docs/theory/methods.md).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser; its additive noise (if any) gives ``N``. Without noise the result
        is zero (when stable).
    lr : float
        The learning rate ``η > 0``.
    solver : {"auto", "direct", "krylov"}, default "auto"
        How ``(I − T) X = N`` is solved when the batch is stochastic: ``"direct"`` forms
        the dense operator (small problems only), ``"krylov"`` uses conjugate gradients or
        GMRES matrix-free, ``"auto"`` picks direct for state dimension ``m k ≤ 24``. The
        full batch always uses the exact block-diagonal solve.
    rtol : float, default 1e-12
        Relative residual of the Krylov solve.

    Returns
    -------
    ndarray, shape (m d, m d)
        The state's stationary second moment in the problem's original coordinates, with
        block ``(a, c)`` (each ``d × d``) equal to ``E[z_a z_cᵀ]`` for the state blocks of
        :attr:`LinearDynamics.state` (``m = 1``: just ``E[δ δᵀ]``). Directions of
        ``null(H)`` that the noise does not reach are neutral and keep their initial value;
        they are reported as zero (the moment from a start in ``range(H)``).

    Raises
    ------
    UnstableError
        If ``lr`` is not mean-square stable (``ρ(T(lr)) ≥ 1``): there is no stationary
        moment.
    DimensionError
        If the noise covariance does not match the problem's dimension.
    InvalidTypeError
        If the noise covariance is symbolic.
    SizeLimitError
        If ``solver="direct"`` is asked of a large problem.
    ConvergenceError
        If the Krylov solve does not converge (a rate extremely close to the threshold).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.methods import VariationalGD
    >>> from stability.numeric import stationary_second_moment
    >>> problem = Quadratic(np.diag([2.0, 1.0, 0.0]))
    >>> moment = stationary_second_moment(problem, VariationalGD(0.3, samples=2), 0.5)
    >>> np.diag(moment).round(12)  # η λ σ² / (S (2 − η λ)) = 0.15, 0.05, and 0 on null(H)
    array([0.15, 0.05, 0.  ])
    >>> stationary_second_moment(problem, VariationalGD(0.3), 1.0)
    Traceback (most recent call last):
    ...
    stability.errors.UnstableError: lr=1 is not mean-square stable for VariationalGD ...
    """
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    lr = check_learning_rate(lr)
    if solver not in ("auto", "direct", "krylov"):
        raise InvalidInputError(f"solver must be 'auto', 'direct' or 'krylov'; got {solver!r}")
    rtol = float(rtol)
    if not 0 < rtol < 1:
        raise InvalidInputError(f"rtol must lie in (0, 1); got {rtol}")
    mixing = system.mixing
    identity, hessian = system.parts(lr)
    coordinates, covariance = _coordinates(system, lr)
    _check_stable(system, coordinates, identity, hessian, lr)
    operator = coordinates.operator(system)
    noise = _noise_moment(system, operator, coordinates, covariance, lr)
    blocks, dimension = dynamics.blocks, problem.dimension
    if coordinates.size == 0 or not np.any(noise):
        return np.zeros((blocks * dimension, blocks * dimension))
    per_coordinate = _full_batch_blocks(identity, hessian, coordinates.eigenvalues)
    state = blocks * coordinates.size
    if not mixing:
        moment = _full_batch_solve(per_coordinate, noise)
    elif solver == "direct" or (solver == "auto" and state <= _DIRECT_STATE):
        if state > 4 * _DIRECT_STATE:
            raise SizeLimitError(
                f"solver='direct' would form a {state**2}×{state**2} operator; use "
                "solver='krylov' or 'auto'"
            )
        moment = _direct_solve(noise, (identity, hessian), operator)
    else:
        moment = _krylov_solve(noise, (identity, hessian), operator, per_coordinate, rtol)
    basis = coordinates.basis
    original = np.einsum("ik,ackl,jl->aicj", basis, moment, basis, optimize=True).reshape(
        blocks * dimension, blocks * dimension
    )
    return 0.5 * (original + original.T)


def expected_loss_change(problem: Quadratic, method: Any, lr: float, mean: Any) -> float:
    """The exact expected one-step change of the loss, ``E[L(δ_{t+1})] − L(δ_t)``.

    ``L(δ) = ½ δᵀ H δ`` and the expectation is over the batch draw and the additive noise
    of one step from the given state (``docs/theory/methods.md``; Ghosh et al. 2025, Thm 3.1).
    For variational GD on the full batch it equals
    ``Σ_k (η² σ_k² / (2S)) (λ_k³ + z_k λ_k − 2 z_k / η)`` with ``z_k = S c_k / σ_k²``,
    ``c_k = (v_kᵀ ∇L)²`` and ``σ_k² = v_kᵀ Σ_q v_k``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.
    mean : array_like, shape (d,) or (m, d)
        The state: for one-block methods the displacement ``δ = m − θ*`` of the (posterior)
        mean from the minimum; for ``m``-block methods the blocks of
        :attr:`LinearDynamics.state` as rows (e.g. ``(δ_t, δ_{t−1})``), or flattened.

    Returns
    -------
    float
        The expected change of the loss of the first state block (negative: descent).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.methods import VariationalGD
    >>> from stability.numeric import expected_loss_change
    >>> problem = Quadratic(np.diag([2.0]))
    >>> expected_loss_change(problem, GD(), 0.25, [1.0])  # ½·2·(0.5² − 1)
    -0.75
    >>> expected_loss_change(problem, VariationalGD(1.0), 0.25, [1.0])  # + ½·η²·λ³·σ²
    -0.5
    """
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    lr = check_learning_rate(lr)
    blocks, dimension = dynamics.blocks, problem.dimension
    state = as_finite_array(mean, "mean", (1, 2))
    if state.size != blocks * dimension:
        raise DimensionError(
            f"mean must hold {blocks} block(s) of d={dimension} entries for {dynamics.name} "
            f"(state {', '.join(dynamics.state)}); got shape {state.shape}"
        )
    state = state.reshape(blocks, dimension)
    reduced = system.true_reduced
    basis, lam = reduced.basis, reduced.eigenvalues
    identity, hessian = (part[0] for part in system.parts(lr))
    sandwich = _Coordinates(reduced, basis, lam).operator(system).sandwich
    # only range(H) components enter the loss: work in reduced coordinates
    reduced_state = state @ basis
    current = reduced_state[0]
    drift = identity @ reduced_state  # Σ_j F_1j z_j
    curved = hessian @ reduced_state  # Σ_j G_1j z_j, multiplied by H_B
    after = float(drift @ (lam * drift)) + 2.0 * float(drift @ (lam**2 * curved))
    curved_moment = sandwich(np.outer(curved, curved))
    after += float(np.sum(lam * np.diag(curved_moment)))
    if dynamics.noise is not None:
        covariance = _noise_covariance(dynamics, dimension)
        sigma = basis.T @ covariance @ basis
        u, w = (float(values[0]) for values in system.noise_parts(lr))
        after += u * u * float(np.sum(lam * np.diag(sigma)))
        after += 2.0 * u * w * float(np.sum(lam**2 * np.diag(sigma)))
        after += w * w * float(np.sum(lam * np.diag(sandwich(sigma))))
    before = float(current @ (lam * current))
    return 0.5 * (after - before)
