"""The expected-descent edge of variational GD, and the per-direction ``z`` it depends on.

Theory: ``docs/theory/methods.md`` (Ghosh et al. 2025, Thm 3.1, re-derived). Along an
eigenvector ``v_k`` of ``H`` (eigenvalue ``λ``), with squared gradient component
``c = (v_kᵀ ∇L(m))²``, posterior variance ``σ² = v_kᵀ Σ_q v_k`` and ``S`` Monte Carlo
samples, one full-batch variational GD step changes the expected loss along ``v_k`` by

    (η² σ² / (2S)) (λ³ + z λ − 2z/η),     z = S c / σ²,

so the loss decreases in expectation iff ``λ`` is below the real root of the cubic,

    λ_edge(η, z) = (2/η) VF(z),   VF = η √(z/3) sinh((1/3) arsinh((3/η) √(3/z))).

``VF`` depends on ``u = η² z / 4`` only and is the real root of ``v³ + u v − u = 0``:
``VF < 1`` (the edge is flatter than GD's ``2/η``), ``VF → 1`` as ``z → ∞`` and
``λ_edge ~ (2z/η)^{1/3}`` as ``z → 0``.

Numerics: the sinh/arsinh form is evaluated in the variable ``u`` (no Cardano cube-root
difference, which cancels catastrophically for large ``u``) and polished by one Newton
step on ``v³ + u (v − 1) = 0``, whose residual is computed without cancellation for
large ``u`` (``v − 1`` is exact there). The result is accurate to a few ulps over the
whole positive range of ``z``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from stability._validation import as_finite_array, check_learning_rate, check_positive_integer
from stability.errors import DimensionError, InvalidInputError
from stability.methods import as_dynamics, posterior_covariance_matrix
from stability.problems import Quadratic, as_problem

__all__ = [
    "VariationalEdges",
    "edge_parameter",
    "variational_edge",
    "variational_edges",
    "variational_factor",
]


def _as_rates(lr: Any) -> np.ndarray:
    if np.ndim(lr) == 0:
        return np.asarray(check_learning_rate(lr))
    rates = as_finite_array(lr, "lr", tuple(range(1, 33)))
    if np.any(rates <= 0):
        raise InvalidInputError(
            f"lr must be positive; its smallest entry is {float(rates.min()):.6g}"
        )
    return rates


def _as_parameters(z: Any) -> np.ndarray:
    try:
        values = np.asarray(z, dtype=float)
    except (TypeError, ValueError):
        values = as_finite_array(z, "z", 0)  # raises the package's type error
    if np.any(np.isnan(values)):
        raise InvalidInputError("z must not contain NaN")
    if np.any(values < 0):
        raise InvalidInputError(
            f"z = S c / σ² must be non-negative; its smallest entry is {float(values.min()):.6g}"
        )
    return values


def _factor_of_u(u: np.ndarray) -> np.ndarray:
    """The real root ``v ∈ [0, 1]`` of ``v³ + u v − u = 0`` (elementwise)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        argument = 1.5 * np.sqrt(3.0 / u)
        v = 2.0 * np.sqrt(u / 3.0) * np.sinh(np.arcsinh(argument) / 3.0)
        v = v - (v**3 + u * (v - 1.0)) / (3.0 * v * v + u)
    v = np.where(u == 0, 0.0, v)
    return np.where(np.isinf(u), 1.0, v)


def _broadcast(rates: np.ndarray, parameters: np.ndarray) -> None:
    try:
        np.broadcast_shapes(rates.shape, parameters.shape)
    except ValueError:
        raise DimensionError(
            f"lr (shape {rates.shape}) and z (shape {parameters.shape}) do not broadcast"
        ) from None


def _result(value: np.ndarray) -> float | np.ndarray:
    return float(value) if value.ndim == 0 else value


def variational_factor(lr: Any, z: Any) -> float | np.ndarray:
    """``VF(z)``: the variational edge as a fraction of GD's edge ``2/η``.

    The real root ``v`` of ``v³ + u v − u = 0`` with ``u = η² z / 4``
    (``docs/theory/methods.md``). Vectorised; ``lr`` and ``z`` broadcast.

    Parameters
    ----------
    lr : float or array_like
        The learning rate ``η > 0``.
    z : float or array_like
        ``z = S c / σ² ≥ 0`` (``inf`` allowed: no posterior noise).

    Returns
    -------
    float or ndarray
        ``VF ∈ [0, 1)``; ``VF = ½`` exactly when ``η² z = 1``.

    Examples
    --------
    >>> from stability.numeric import variational_factor
    >>> variational_factor(0.5, 4.0)  # η² z = 1
    0.5
    >>> variational_factor(0.1, [0.0, 1e8, float("inf")])
    array([0.      , 0.999996, 1.      ])
    """
    rates, parameters = _as_rates(lr), _as_parameters(z)
    _broadcast(rates, parameters)
    return _result(_factor_of_u(0.25 * rates * rates * parameters))


def variational_edge(lr: Any, z: Any) -> float | np.ndarray:
    """The expected-descent edge ``λ_edge = (2/η) VF(z)`` of variational GD.

    Along an eigen-direction of ``H`` with eigenvalue ``λ``, one full-batch variational GD
    step decreases the expected loss iff ``λ < λ_edge``: ``λ_edge`` is the real root of
    ``λ³ + z λ − 2z/η`` (``docs/theory/methods.md``; Ghosh et al. 2025, Thm 3.1). It lies
    below GD's ``2/η``, increases with ``z`` (more samples, less posterior variance, larger
    gradients) and tends to ``2/η`` as ``z → ∞``.

    Parameters
    ----------
    lr : float or array_like
        The learning rate ``η > 0``.
    z : float or array_like
        ``z = S c / σ² ≥ 0`` with ``c`` the squared gradient component, ``σ²`` the posterior
        variance along the direction and ``S`` the Monte Carlo samples (see
        :func:`edge_parameter`). ``inf`` gives ``2/η``.

    Returns
    -------
    float or ndarray
        ``λ_edge``, broadcast over ``lr`` and ``z``; accurate to about ``1e-15`` relative.

    Raises
    ------
    InvalidInputError
        If ``lr`` is not positive and finite, or ``z`` is negative or NaN.
    DimensionError
        If ``lr`` and ``z`` do not broadcast together.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.numeric import variational_edge
    >>> variational_edge(0.5, 4.0)  # half of GD's 2/η = 4
    2.0
    >>> edge = variational_edge(0.1, np.array([1.0, 100.0]))  # η² z = 1 at z = 100
    >>> edge.round(6), bool(np.all(edge < 2 / 0.1))
    (array([ 2.591704, 10.      ]), True)
    >>> z = 100.0
    >>> bool(np.isclose(edge[1] ** 3 + z * edge[1] - 2 * z / 0.1, 0.0, atol=1e-9))
    True
    """
    rates, parameters = _as_rates(lr), _as_parameters(z)
    _broadcast(rates, parameters)
    return _result(2.0 / rates * _factor_of_u(0.25 * rates * rates * parameters))


def edge_parameter(
    gradient: Any, eigenvectors: Any, posterior_cov: Any, samples: int = 1
) -> np.ndarray:
    """``z_k = S (v_kᵀ g)² / (v_kᵀ Σ_q v_k)`` for each eigen-direction ``v_k``.

    Parameters
    ----------
    gradient : array_like, shape (d,)
        ``g = ∇L(m)`` at the posterior mean (``H δ`` on a quadratic).
    eigenvectors : array_like, shape (d, k) or (d,)
        Eigenvectors ``v_k`` of ``H`` as columns (need not be normalised: ``z`` is
        invariant to their scale).
    posterior_cov : float or array_like
        ``Σ_q``: a variance, a diagonal (vector) or a full PSD ``d × d`` matrix.
    samples : int, default 1
        ``S``.

    Returns
    -------
    ndarray, shape (k,)
        ``z_k``. A direction without posterior variance (``σ_k² = 0``) gets ``inf``: there
        variational GD is GD and the edge is ``2/η``.

    Raises
    ------
    DimensionError
        If the shapes of ``gradient``, ``eigenvectors`` and ``posterior_cov`` disagree.

    Examples
    --------
    >>> from stability.numeric import edge_parameter
    >>> edge_parameter([2.0, 1.0], [[1.0, 0.0], [0.0, 1.0]], [0.5, 0.25], samples=3)
    array([24., 12.])
    """
    g = as_finite_array(gradient, "gradient", 1)
    vectors = as_finite_array(eigenvectors, "eigenvectors", (1, 2))
    if vectors.ndim == 1:
        vectors = vectors[:, None]
    dimension = g.shape[0]
    if vectors.shape[0] != dimension:
        raise DimensionError(
            f"eigenvectors must have d={dimension} rows (the length of gradient); got shape "
            f"{vectors.shape}"
        )
    samples = check_positive_integer(samples, "samples")
    covariance = posterior_covariance_matrix(posterior_cov, dimension)
    projections = (vectors.T @ g) ** 2
    variances = np.einsum("ik,ij,jk->k", vectors, covariance, vectors)
    with np.errstate(divide="ignore", invalid="ignore"):
        parameters = samples * projections / variances
    return np.where(variances > 0, parameters, np.inf)


class VariationalEdges(NamedTuple):
    """Per-direction edges of variational GD at one state (:func:`variational_edges`).

    Attributes
    ----------
    eigenvalues : ndarray, shape (r,)
        The non-zero eigenvalues ``λ_k`` of ``H``, descending.
    parameters : ndarray, shape (r,)
        ``z_k = S c_k / σ_k²``.
    edges : ndarray, shape (r,)
        ``λ_edge,k = (2/η) VF(z_k)``; the expected loss along ``v_k`` decreases iff
        ``λ_k < λ_edge,k``.
    gd_edge : float
        GD's edge ``2/η``.
    """

    eigenvalues: np.ndarray
    parameters: np.ndarray
    edges: np.ndarray
    gd_edge: float


def variational_edges(problem: Quadratic, method: Any, lr: float, mean: Any) -> VariationalEdges:
    """The expected-descent edge along each eigenvector of ``H`` at the mean ``m``.

    Reads the method's dynamics: it must be a full-batch gradient step ``I − η H`` with
    additive noise ``−η H ε̄`` (variational GD, ``docs/theory/methods.md``), whose
    ``Cov ε̄ = Σ_q / S`` gives ``σ_k² / S = v_kᵀ Cov(ε̄) v_k``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : VariationalGD or LinearDynamics
        Full-batch variational GD.
    lr : float
        The learning rate ``η > 0``.
    mean : array_like, shape (d,)
        The displacement ``δ = m − θ*`` of the posterior mean from the minimum.

    Returns
    -------
    VariationalEdges

    Raises
    ------
    InvalidInputError
        If the method is not full-batch variational GD (the cubic of Thm 3.1 is a
        full-batch result).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.methods import VariationalGD
    >>> from stability.numeric import variational_edges
    >>> problem = Quadratic(np.diag([3.0, 1.0]))
    >>> result = variational_edges(problem, VariationalGD(0.5, samples=2), 0.5, [1.0, 1.0])
    >>> result.parameters, result.edges.round(6), result.gd_edge
    (array([36.,  4.]), array([3.140013, 2.      ]), 4.0)
    >>> bool(result.eigenvalues[0] < result.edges[0])  # the sharp direction still descends
    True
    """
    problem = as_problem(problem)
    dynamics = as_dynamics(method)
    lr = check_learning_rate(lr)
    noise = dynamics.noise
    plain = (
        dynamics.gradient_step_scale() == 1
        and dynamics.batch.full
        and noise is not None
        and noise.evaluate(1.0)[0].tolist() == [0.0]
        and noise.evaluate(1.0)[1].tolist() == [-1.0]
        and noise.evaluate(2.0)[1].tolist() == [-2.0]
    )
    if not plain:
        raise InvalidInputError(
            f"method must be full-batch variational GD (state map I − ηH, noise −ηHε̄); got "
            f"{dynamics.name} with {dynamics.batch.describe()}"
        )
    assert noise is not None
    dimension = problem.dimension
    delta = as_finite_array(mean, "mean", 1)
    if delta.shape[0] != dimension:
        raise DimensionError(f"mean must have d={dimension} entries; got shape {delta.shape}")
    reduced = problem.reduced()
    covariance = np.asarray(noise.covariance_matrix(dimension), dtype=float)
    if covariance.shape != (dimension, dimension):
        raise DimensionError(
            f"the posterior covariance has shape {covariance.shape}, but the problem has "
            f"d={dimension} parameters"
        )
    # Cov ε̄ = Σ_q / S, so z = c / (vᵀ Cov ε̄ v) = S c / σ²
    parameters = edge_parameter(problem.hessian @ delta, reduced.basis, covariance, samples=1)
    edges = np.asarray(variational_edge(lr, parameters), dtype=float).reshape(-1)
    return VariationalEdges(reduced.eigenvalues.copy(), parameters, edges, 2.0 / lr)
