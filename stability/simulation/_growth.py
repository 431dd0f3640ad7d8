"""A priori bounds on every run: the state map's norm and the growth ``‖z_t‖² ≤ c_t ‖z_0‖²``.

Also the engine's entry check, :func:`validated`, which accepts every batch law (reshuffled
epochs included) and frozen preconditioners, which the per-step evaluators refuse.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from stability._system import bind, numeric_coefficient
from stability._validation import check_learning_rate
from stability.dynamics import BatchLaw, LinearDynamics, ReshuffledBatchLaw
from stability.errors import InvalidTypeError
from stability.methods import Method, as_dynamics
from stability.preconditioning import congruent_problem
from stability.problems import Quadratic, as_problem

if TYPE_CHECKING:
    from stability.methods import MethodLike
    from stability.problems import ProblemLike

__all__ = [
    "batch_eigenvalue_bound",
    "growth_bound",
    "numeric_parts",
    "preconditioner_condition",
    "state_map_norm_bound",
    "validated",
]


def validated(problem: ProblemLike, method: MethodLike) -> tuple[Quadratic, LinearDynamics]:
    """``(problem, dynamics)`` checked as :func:`stability._system.bind` checks them.

    The coefficients must be numbers and the batch law must fit the problem. Unlike
    ``bind``, a reshuffled law (:class:`~stability.dynamics.ReshuffledBatchLaw`, whose
    steps are not i.i.d.) and a frozen preconditioner are accepted: the engine draws the
    real epoch law and applies ``P⁻¹`` itself. ``bind`` sees the method without its
    preconditioner and with an i.i.d. law of the same batch size, only to validate.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> problem, dynamics = validated(Quadratic.from_data([[1.0], [2.0]]), SGD(1, shuffle=True))
    >>> dynamics.batch.describe()
    'B=1 reshuffled every epoch (short last batch)'
    """
    problem = as_problem(problem)
    if isinstance(method, LinearDynamics):
        dynamics = method
    elif isinstance(method, Method):
        dynamics = method.dynamics()
    else:
        dynamics = as_dynamics(method)  # raises the package's type error
    law = dynamics.batch
    stand_in = BatchLaw(law.batch_size, law.replacement) if type(law) is not BatchLaw else law
    bind(problem, dataclasses.replace(dynamics, batch=stand_in, preconditioning=None))
    law.validate(problem.samples)
    if dynamics.preconditioning is not None:
        numeric_coefficient(dynamics.preconditioning.shift, dynamics.name)
        dynamics.preconditioning.dense(problem.dimension)  # refuses a wrong dimension
    return problem, dynamics


def numeric_parts(dynamics: LinearDynamics, lr: float) -> tuple[Any, ...]:
    """``(F(η), G(η), u(η), w(η))`` as floats (``u, w`` are ``None`` without noise).

    Parameters
    ----------
    dynamics : LinearDynamics
        The recursion.
    lr : float
        The learning rate.

    Examples
    --------
    >>> from stability import GD
    >>> numeric_parts(GD().dynamics(), 0.5)[:2]
    (array([[1.]]), array([[-0.5]]))
    """
    try:
        identity = dynamics.identity_part.evaluate(lr)
        gradient = dynamics.hessian_part.evaluate(lr)
        u, w = dynamics.noise.evaluate(lr) if dynamics.noise is not None else (None, None)
    except TypeError:
        raise InvalidTypeError(
            f"{dynamics.name} has symbolic coefficients; simulation needs numbers (substitute "
            "values for the symbols first)"
        ) from None
    return identity, gradient, u, w


def batch_eigenvalue_bound(problem: Quadratic, batch: BatchLaw) -> np.ndarray:
    """Eigenvalues (or an interval's end points) that ``H_B`` can reach.

    Full batch, the eigenvalues of ``H`` and zero. Otherwise ``[0, L]`` with ``L`` the
    largest mean of per-sample sharpnesses over the batches the law can draw (Weyl:
    ``λ_max(Σ w_i H_i) ≤ Σ w_i λ_max(H_i)``); for reshuffled epochs the smallest batch of
    the epoch (the short last one) decides.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    batch : BatchLaw
        The law of ``H_B``.

    Examples
    --------
    >>> from stability import Quadratic
    >>> from stability.dynamics import BatchLaw
    >>> batch_eigenvalue_bound(Quadratic.from_data([[2.0], [1.0]]), BatchLaw(2)).tolist()
    [0.0, 2.5]
    """
    if batch.full:
        eigenvalues = np.linalg.eigvalsh(problem.hessian)
        return np.concatenate([[0.0], np.clip(eigenvalues, 0.0, None)])
    if problem.data is not None:
        tops = np.einsum("nd,nd->n", problem.data, problem.data)
    else:
        tops = np.linalg.eigvalsh(problem.per_sample_hessians())[:, -1]
    tops = np.sort(np.clip(tops, 0.0, None))[::-1]
    size = batch.batch_size
    assert size is not None
    if isinstance(batch, ReshuffledBatchLaw):
        assert problem.samples is not None
        size = min(batch.batch_sizes(problem.samples))
    top = float(tops[0]) if batch.replacement else float(tops[:size].mean())
    return np.array([0.0, top])


def preconditioner_condition(dynamics: LinearDynamics, dimension: int) -> float:
    """``κ(P) = λ_max(P)/λ_min(P)`` of a frozen preconditioner (one without).

    In the coordinates ``u = P^{1/2} δ`` of the plain congruent method, the engine's state
    ``y = P^{−1/2} u`` (block by block) obeys ``‖y‖² ≤ ‖u‖²/λ_min(P)`` and
    ``‖u‖² ≤ λ_max(P) ‖y‖²``.

    Parameters
    ----------
    dynamics : LinearDynamics
        The recursion.
    dimension : int
        ``d``.

    Examples
    --------
    >>> from stability import SGD
    >>> preconditioner_condition(SGD(2, preconditioner=[4.0, 1.0]).dynamics(), 2)
    4.0
    """
    if dynamics.preconditioning is None:
        return 1.0
    values = np.linalg.eigvalsh(dynamics.preconditioning.dense(dimension))
    return float(values[-1] / values[0])


def _congruent(problem: Quadratic, dynamics: LinearDynamics) -> tuple[Quadratic, LinearDynamics]:
    preconditioning = dynamics.preconditioning
    if preconditioning is None:
        return problem, dynamics
    shifted = congruent_problem(problem, preconditioning, shift=float(preconditioning.shift))
    return shifted, dataclasses.replace(dynamics, preconditioning=None)


def state_map_norm_bound(problem: Quadratic, method: MethodLike, lr: float) -> float:
    """An a priori ``a`` with ``‖A‖₂ ≤ a`` for every batch the law can draw.

    ``A = F ⊗ I + G ⊗ H_B`` is orthogonally similar to the block diagonal of
    ``F + λ G`` over the eigenvalues ``λ`` of ``H_B``, so ``‖A‖₂ = max_λ ‖F + λ G‖₂``.
    The eigenvalues lie in ``[0, L]`` with ``L`` the largest mean of ``B`` per-sample
    sharpnesses the law allows (Weyl's inequality: ``λ_max(H_B) ≤ Σ w_i λ_max(H_i)``);
    ``‖F + λ G‖₂`` is convex in ``λ``, hence maximal at an end point. Full batch, the exact
    eigenvalues of ``H`` are used. Without noise every run obeys ``‖z_t‖ ≤ a^t ‖z_0‖``.
    With a frozen preconditioner ``P`` the bound of the congruent plain method times
    ``√κ(P)`` (:func:`preconditioner_condition`).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lr : float
        The learning rate ``η > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, SGD, Quadratic
    >>> from stability.simulation import state_map_norm_bound
    >>> state_map_norm_bound(Quadratic(np.diag([4.0, 1.0])), GD(), 0.75)  # |1 − 0.75·4|
    2.0
    >>> problem = Quadratic.from_data([[2.0, 0.0], [0.0, 1.0]])
    >>> state_map_norm_bound(problem, SGD(1), 0.75)  # max(1, |1 − 0.75·‖x‖²|), ‖x‖² ≤ 4
    2.0
    """
    problem, dynamics = validated(problem, method)
    lr = check_learning_rate(lr)
    condition = preconditioner_condition(dynamics, problem.dimension)
    problem, dynamics = _congruent(problem, dynamics)
    identity, gradient, _, _ = numeric_parts(dynamics, lr)
    points = batch_eigenvalue_bound(problem, dynamics.batch)
    norm = float(max(np.linalg.norm(identity + point * gradient, 2) for point in points))
    return norm if condition == 1.0 else norm * math.sqrt(condition)


def _weighted_norm(
    identity: np.ndarray, gradient: np.ndarray, points: np.ndarray, factor: Any
) -> float:
    """``max_λ ‖Lᵀ (F + λ G) L^{-ᵀ}‖₂`` over the end points ``λ`` (``P = L Lᵀ``)."""
    left = factor.T
    right = np.linalg.inv(left)
    return float(max(np.linalg.norm(left @ (identity + p * gradient) @ right, 2) for p in points))


def growth_bound(problem: Quadratic, dynamics: LinearDynamics, lr: float, steps: int) -> np.ndarray:
    """``c_t`` with ``‖z_t‖² ≤ c_t ‖z_0‖²`` for every run of the noise-free recursion.

    With ``P = L Lᵀ`` (``m × m``, positive definite) and ``‖z‖_P² = zᵀ (P ⊗ I) z``, the map
    ``A`` is again of the form ``F' ⊗ I + G' ⊗ H_B`` in the coordinates ``(Lᵀ ⊗ I) z``, so
    ``‖A‖_P = max_λ ‖Lᵀ (F + λ G) L^{-ᵀ}‖₂`` and ``‖z_t‖² ≤ κ(P) ‖A‖_P^{2t} ‖z_0‖²``.
    ``P = I`` gives :func:`state_map_norm_bound`; for momentum (``m > 1``) a ``P`` fitted
    by Nelder–Mead is usually much better (``F`` is not normal). Any ``P`` gives a valid
    bound, so the elementwise minimum over the candidates is one too. A method with a
    frozen preconditioner gets the bound of its congruent plain method times the
    condition number of the preconditioner (:func:`preconditioner_condition`).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    dynamics : LinearDynamics
        The optimiser's recursion, bound to ``problem``.
    lr : float
        The learning rate ``η > 0``.
    steps : int
        The last time ``t``.

    Returns
    -------
    ndarray, shape (steps + 1,)
        ``c_0, …, c_steps``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.simulation import growth_bound
    >>> from stability._system import bind
    >>> system = bind(Quadratic(np.diag([4.0, 1.0])), GD())
    >>> growth_bound(system.problem, system.dynamics, 0.75, 3)  # ‖A‖₂ = |1 − 0.75·4| = 2
    array([ 1.,  4., 16., 64.])
    """
    import scipy.optimize

    if dynamics.preconditioning is not None:
        condition = preconditioner_condition(dynamics, problem.dimension)
        plain_problem, plain = _congruent(problem, dynamics)
        with np.errstate(over="ignore", invalid="ignore"):
            return condition * growth_bound(plain_problem, plain, lr, steps)
    identity, gradient, _, _ = numeric_parts(dynamics, lr)
    points = batch_eigenvalue_bound(problem, dynamics.batch)
    times = np.arange(steps + 1, dtype=float)
    blocks = identity.shape[0]
    with np.errstate(over="ignore"):
        best = _weighted_norm(identity, gradient, points, np.eye(blocks)) ** (2.0 * times)
        if blocks == 1:
            return best
        lower = np.tril_indices(blocks, -1)

        def factor_of(parameters: np.ndarray) -> np.ndarray:
            factor = np.diag(np.exp(np.concatenate([[0.0], parameters[: blocks - 1]])))
            factor[lower] = parameters[blocks - 1 :]
            return factor

        for horizon in sorted({min(steps, 4), min(steps, 32)}):

            def objective(parameters: np.ndarray, horizon: int = horizon) -> float:
                factor = factor_of(parameters)
                spread = 2.0 * math.log(np.linalg.cond(factor))
                norm = _weighted_norm(identity, gradient, points, factor)
                return spread + 2.0 * horizon * math.log(max(norm, 1e-300))

            size = blocks - 1 + len(lower[0])
            fitted = scipy.optimize.minimize(
                objective, np.zeros(size), method="Nelder-Mead", options={"maxiter": 400}
            )
            factor = factor_of(fitted.x)
            spread = np.linalg.cond(factor) ** 2
            norm = _weighted_norm(identity, gradient, points, factor)
            best = np.minimum(best, spread * norm ** (2.0 * times))
    return best
