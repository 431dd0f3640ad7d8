"""Deep linear networks: the Hessian at a minimiser and the sharpness of every minimiser.

Theory: ``docs/theory/deep-linear.md`` (Marion & Chizat 2024). The network is
``f(x) = W_L ⋯ W_1 x`` with ``W_1 ∈ R^{d_1 × d}``, …, ``W_L ∈ R^{1 × d_{L−1}}``, its end-to-end
vector ``w = (W_L ⋯ W_1)ᵀ``, and the loss ``R = (1/n) Σ_i (f(x_i) − y_i)²`` (no ½). With
``Σ_x = XᵀX / n`` and ``w* = (XᵀX)⁺ Xᵀ y`` the minimum-norm least-squares solution, the
weights are a minimiser iff ``Σ_x w = Xᵀ y / n``.

Derivations (re-derived here; each is checked in ``tests/test_deep_linear.py`` against
finite-difference Hessians of random minimisers):

* Hessian. With ``a_k = W_L ⋯ W_{k+1}`` (a row, ``a_L = 1``) and ``b_k = W_{k−1} ⋯ W_1``
  (``b_1 = I``), a perturbation ``V`` of the weights moves ``w`` by
  ``J[V] = Σ_k (a_k V_k b_k)ᵀ``. At a minimiser the residuals satisfy ``Xᵀ r = 0``, so the
  second-order term ``Σ_i r_i ∇²f(x_i) = (∇²w)ᵀ Xᵀ r`` vanishes and ``∇²R = 2 Jᵀ Σ_x J``.
* ``J Jᵀ = Σ_k ‖a_k‖² b_kᵀ b_k``, so the sharpness is ``2 λ_max(Σ_x^{1/2} J Jᵀ Σ_x^{1/2})``.
* Lower bound. Test with ``u ∝ Σ_x^{1/2} w`` and write ``c = Σ_x w``: the Rayleigh quotient is
  ``Σ_k t_k² / (wᵀc)`` with ``t_k = ‖a_k‖ ‖b_k c‖``. Since ``a_k b_{k+1} = wᵀ``,
  ``‖a_k‖ ‖b_{k+1} c‖ ≥ wᵀc``, so ``Π_k t_k ≥ ‖c‖ (wᵀc)^{L−1}``, and by AM–GM
  ``Σ_k t_k² ≥ L (Π t_k)^{2/L}``: every minimiser has sharpness at least
  ``2 L ‖Σ_x w*‖^{2/L} (w*ᵀ Σ_x w*)^{1 − 2/L}`` (``Σ_x w = Σ_x w*`` at every minimiser).
  With ``‖Σ_x w*‖ ≥ ŵᵀ Σ_x w* = ‖w*‖ a``, ``a = ŵᵀ Σ_x ŵ``, this is at least
  ``2 L ‖w*‖^{2 − 2/L} a``.
* Balanced rank-one minimiser ``W_1 = s u_1 ŵᵀ``, ``W_k = s u_k u_{k−1}ᵀ``,
  ``W_L = s u_{L−1}ᵀ``, ``s = ‖w*‖^{1/L}``: ``J Jᵀ = s^{2L−2} (I + (L − 1) ŵŵᵀ)``, so its
  sharpness is ``2 ‖w*‖^{2 − 2/L} λ_max(Σ_x^{1/2} (I + (L − 1) ŵŵᵀ) Σ_x^{1/2})``. It meets the
  lower bound when ``w*`` is an eigenvector of ``Σ_x`` whose eigenvalue times ``L`` is at
  least ``λ_max(Σ_x)`` (for instance ``Σ_x = I``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from stability._validation import as_finite_array, check_positive_integer
from stability.errors import DimensionError, InvalidInputError, InvalidTypeError
from stability.problems import Quadratic

__all__ = [
    "balanced_minimiser",
    "balanced_minimiser_sharpness",
    "deep_linear_hessian",
    "deep_linear_learning_rate_limit",
    "deep_linear_loss",
    "deep_linear_problem",
    "deep_linear_sharpness_lower_bound",
    "end_to_end",
    "least_squares_solution",
]

_CITATION = (
    "Marion & Chizat (2024), Deep linear networks for regression are implicitly regularized "
    "towards flat minima: the paper's bound is the weaker 2 L ‖w*‖^{2−2/L} a "
    "(simplified=True); the tighter 2 L ‖Σ_x w*‖^{2/L} (w*ᵀ Σ_x w*)^{1−2/L} is derived here "
    "(module notes of stability.bounds._deep_linear)"
)


def _data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    features = as_finite_array(X, "X", 2)
    targets = as_finite_array(y, "y", (1, 2))
    if targets.ndim == 2:
        if targets.shape[1] != 1:
            raise DimensionError(f"y must be a vector (scalar outputs); got shape {targets.shape}")
        targets = targets[:, 0]
    if targets.shape[0] != features.shape[0]:
        raise DimensionError(
            f"y must have one entry per row of X (n={features.shape[0]}); got {targets.shape[0]}"
        )
    return features, targets


def _covariance(features: np.ndarray) -> np.ndarray:
    covariance = features.T @ features / features.shape[0]
    return 0.5 * (covariance + covariance.T)


def least_squares_solution(X: Any, y: Any) -> np.ndarray:
    """``w* = (XᵀX)⁺ Xᵀ y``, the minimum-norm least-squares solution.

    Every minimiser of the deep linear network has an end-to-end vector ``w`` with
    ``Xw = Xw*`` (``w − w* ∈ null(X)``).

    Parameters
    ----------
    X : Any
        Data matrix, one row per sample.
    y : Any
        Regression targets, one entry per sample.

    Examples
    --------
    >>> from stability.bounds import least_squares_solution
    >>> least_squares_solution([[1.0, 0.0], [0.0, 2.0]], [3.0, 4.0])
    array([3., 2.])
    """
    features, targets = _data(X, y)
    return np.linalg.pinv(features) @ targets


def _weights(weights: Any, dimension: int | None = None) -> list[np.ndarray]:
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence):
        raise InvalidTypeError(
            f"weights must be a list of 2-D arrays W_1, …, W_L; got {type(weights).__name__}"
        )
    if len(weights) == 0:
        raise InvalidInputError("weights must hold at least one layer")
    layers = [as_finite_array(w, f"weights[{k}]", 2) for k, w in enumerate(weights)]
    if dimension is not None and layers[0].shape[1] != dimension:
        raise DimensionError(
            f"weights[0] must have d={dimension} columns (the number of features); got shape "
            f"{layers[0].shape}"
        )
    for k in range(1, len(layers)):
        if layers[k].shape[1] != layers[k - 1].shape[0]:
            raise DimensionError(
                f"weights[{k}] must have {layers[k - 1].shape[0]} columns (the rows of "
                f"weights[{k - 1}]); got shape {layers[k].shape}"
            )
    if layers[-1].shape[0] != 1:
        raise DimensionError(
            f"the last layer must have one row (a scalar output); got shape {layers[-1].shape}"
        )
    return layers


def end_to_end(weights: Sequence[Any]) -> np.ndarray:
    """The end-to-end vector ``w = (W_L ⋯ W_1)ᵀ`` of a deep linear network.

    Parameters
    ----------
    weights : Sequence[Any]
        The layer weight matrices, first layer first.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bounds import end_to_end
    >>> end_to_end([np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[3.0, 1.0]])])
    array([3., 7.])
    """
    layers = _weights(weights)
    product = layers[0]
    for layer in layers[1:]:
        product = layer @ product
    return product[0].copy()


def deep_linear_loss(X: Any, y: Any, weights: Sequence[Any]) -> float:
    """``R = (1/n) Σ_i (W_L ⋯ W_1 x_i − y_i)²``.

    Parameters
    ----------
    X : Any
        Data matrix, one row per sample.
    y : Any
        Regression targets, one entry per sample.
    weights : Sequence[Any]
        The layer weight matrices, first layer first.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bounds import deep_linear_loss
    >>> deep_linear_loss([[1.0], [2.0]], [1.0, 2.0], [np.array([[2.0]]), np.array([[0.5]])])
    0.0
    """
    features, targets = _data(X, y)
    residuals = features @ end_to_end(_weights(weights, features.shape[1])) - targets
    return float(np.mean(residuals**2))


def _jacobian(layers: list[np.ndarray]) -> np.ndarray:
    """``J`` (``d × P``): column ``(k, p, q)`` is ``∂w/∂(W_k)_{pq} = a_k[p] b_k[q, :]``."""
    depth = len(layers)
    dimension = layers[0].shape[1]
    befores = [np.eye(dimension)]
    for layer in layers[:-1]:
        befores.append(layer @ befores[-1])
    afters = [np.ones((1, 1))]
    for layer in reversed(layers[1:]):
        afters.append(afters[-1] @ layer)
    afters.reverse()
    blocks = []
    for k in range(depth):
        after = afters[k][0]  # a_k, length d_k (rows of W_k)
        before = befores[k]  # b_k, shape (d_{k−1}, d)
        blocks.append(np.einsum("p,qd->dpq", after, before).reshape(dimension, -1))
    return np.concatenate(blocks, axis=1)


def _check_minimiser(
    features: np.ndarray, targets: np.ndarray, w: np.ndarray, tolerance: float
) -> None:
    n = features.shape[0]
    gradient = features.T @ (features @ w - targets) / n
    scale = (
        np.linalg.norm(features, 2) ** 2 * np.linalg.norm(w) + np.linalg.norm(features.T @ targets)
    ) / n
    if np.linalg.norm(gradient) > tolerance * max(scale, np.finfo(float).tiny):
        raise InvalidInputError(
            "weights must be a minimiser: the end-to-end vector w has least-squares gradient "
            f"‖Xᵀ(Xw − y)‖/n = {np.linalg.norm(gradient):.3g} (scale {scale:.3g}); the "
            "Hessian formula 2 Jᵀ Σ_x J holds only where Xᵀ(Xw − y) = 0"
        )


def deep_linear_hessian(
    X: Any, y: Any, weights: Sequence[Any], *, tolerance: float = 1e-8
) -> np.ndarray:
    """The Hessian ``2 Jᵀ Σ_x J`` of ``R`` at a minimiser of a deep linear network.

    Statement (``docs/theory/deep-linear.md``): at a minimiser the residuals satisfy
    ``Xᵀ r = 0``, so the curvature of the network does not enter and
    ``∇²R = 2 Jᵀ Σ_x J`` with ``J[V] = (Σ_k W_L ⋯ W_{k+1} V_k W_{k−1} ⋯ W_1)ᵀ``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        The inputs.
    y : array_like, shape (n,)
        The targets.
    weights : sequence of 2-D arrays
        ``W_1 (d_1 × d), …, W_L (1 × d_{L−1})``, a minimiser.
    tolerance : float, default 1e-8
        Relative tolerance of the minimiser check ``Xᵀ(Xw − y) = 0``.

    Returns
    -------
    ndarray, shape (P, P)
        Parameters ordered layer by layer, each ``W_k`` flattened row by row.

    Raises
    ------
    InvalidInputError
        If the weights are not a minimiser.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bounds import deep_linear_hessian
    >>> X, y = np.eye(2), np.array([1.0, 0.0])
    >>> deep_linear_hessian(X, y, [np.array([[1.0, 0.0]]), np.array([[1.0]])])
    array([[1., 0., 1.],
           [0., 1., 0.],
           [1., 0., 1.]])
    """
    features, targets = _data(X, y)
    layers = _weights(weights, features.shape[1])
    _check_minimiser(features, targets, end_to_end(layers), tolerance)
    jacobian = _jacobian(layers)
    hessian = 2.0 * jacobian.T @ _covariance(features) @ jacobian
    return 0.5 * (hessian + hessian.T)


def deep_linear_problem(
    X: Any, y: Any, weights: Sequence[Any], *, tolerance: float = 1e-8
) -> Quadratic:
    """The minimum as a :class:`~stability.Quadratic` (per-sample structure if it interpolates).

    At an interpolating minimiser (``Xw = y``) each per-sample loss ``(f(x_i) − y_i)²`` has
    Hessian ``2 J_iᵀ J_i`` with ``J_i = x_iᵀ J``, so the problem is
    :meth:`Quadratic.from_data` of the rows ``√2 Jᵀ x_i`` and SGD's threshold follows. At a
    minimiser that does not interpolate, the per-sample Hessians carry residual terms and
    only the mean Hessian (:func:`deep_linear_hessian`) is returned (full-batch methods).

    Parameters
    ----------
    X : Any
        Data matrix, one row per sample.
    y : Any
        Regression targets, one entry per sample.
    weights : Sequence[Any]
        The layer weight matrices, first layer first.
    tolerance : float, default 1e-08
        Relative tolerance of the check that ``weights`` is a minimiser.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, critical_learning_rate
    >>> from stability.bounds import balanced_minimiser, deep_linear_problem
    >>> X, y = np.eye(2), np.array([1.0, 0.0])
    >>> problem = deep_linear_problem(X, y, balanced_minimiser(X, y, 2))
    >>> problem.samples, round(critical_learning_rate(problem, GD()), 12)  # sharpness 2
    (2, 1.0)
    """
    features, targets = _data(X, y)
    layers = _weights(weights, features.shape[1])
    w = end_to_end(layers)
    residuals = features @ w - targets
    scale = np.linalg.norm(features, 2) * np.linalg.norm(w) + np.linalg.norm(targets)
    if np.linalg.norm(residuals) <= tolerance * max(scale, np.finfo(float).tiny):
        return Quadratic.from_data(math.sqrt(2.0) * features @ _jacobian(layers))
    return Quadratic(deep_linear_hessian(features, targets, layers, tolerance=tolerance))


def deep_linear_sharpness_lower_bound(
    X: Any, y: Any, depth: int, *, simplified: bool = False
) -> float:
    """A lower bound on the sharpness of every minimiser of a depth-``L`` linear network.

    Statement: every minimiser of ``R = (1/n) Σ (W_L ⋯ W_1 x_i − y_i)²`` has
    ``λ_max(∇²R) ≥ 2 L ‖Σ_x w*‖^{2/L} (w*ᵀ Σ_x w*)^{1 − 2/L} ≥ 2 L ‖w*‖^{2 − 2/L} a``, with
    ``Σ_x = XᵀX/n``, ``w* = (XᵀX)⁺ Xᵀ y``, ``a = ŵᵀ Σ_x ŵ`` and ``ŵ = w*/‖w*‖``, whatever
    the widths. Equality holds at the balanced minimiser when ``Σ_x = I``.

    Which part is whose: the right-hand bound ``2 L a ‖w*‖^{2 − 2/L}`` (``simplified=True``)
    is Marion & Chizat's (2024); the tighter left-hand form, with ``‖Σ_x w*‖`` in place of
    ``a ‖w*‖``, is derived here (module notes: the same test direction ``Σ_x^{1/2} w`` with
    AM–GM, without the last step ``‖Σ_x w*‖ ≥ ŵᵀ Σ_x w*``). The two agree when ``w*`` is an
    eigenvector of ``Σ_x``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        The inputs.
    y : array_like, shape (n,)
        The targets.
    depth : int
        ``L ≥ 1``.
    simplified : bool, default False
        Return the weaker ``2 L ‖w*‖^{2 − 2/L} a``.

    Returns
    -------
    float
        The bound; ``0`` when ``w* = 0`` (then it says nothing).

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bounds import deep_linear_sharpness_lower_bound
    >>> X, y = np.eye(2), np.array([4.0, 0.0])  # Σ_x = I/2, w* = (4, 0)
    >>> deep_linear_sharpness_lower_bound(X, y, 2)  # 2 · 2 · ‖(2, 0)‖ · 8⁰
    8.0
    """
    features, targets = _data(X, y)
    depth = check_positive_integer(depth, "depth")
    w = np.linalg.pinv(features) @ targets
    covariance = _covariance(features)
    energy = float(w @ covariance @ w)
    if energy <= 0:
        return 0.0
    if simplified:
        norm = float(np.linalg.norm(w))
        return 2.0 * depth * norm ** (2.0 - 2.0 / depth) * energy / norm**2
    moment = float(np.linalg.norm(covariance @ w))
    return 2.0 * depth * moment ** (2.0 / depth) * energy ** (1.0 - 2.0 / depth)


deep_linear_sharpness_lower_bound.citation = _CITATION  # type: ignore[attr-defined]


def deep_linear_learning_rate_limit(X: Any, y: Any, depth: int) -> float:
    """The GD learning rate above which no minimiser of the deep linear network is stable.

    Statement: GD at ``η`` can converge only to minimisers with sharpness ``≤ 2/η`` (the
    classical edge of stability, ``docs/theory/threshold.md``); since every minimiser has
    sharpness at least :func:`deep_linear_sharpness_lower_bound`, GD with
    ``η > 2 / (2 L ‖Σ_x w*‖^{2/L} (w*ᵀ Σ_x w*)^{1 − 2/L})`` converges to no minimiser.

    Which part is whose: Marion & Chizat (2024) state this limit with their sharpness bound
    ``2 L a ‖w*‖^{2 − 2/L}`` (``a = ŵᵀ Σ_x ŵ``), i.e. ``η > 1 / (L a ‖w*‖^{2 − 2/L})``; the
    tighter limit returned here uses the sharper lower bound derived in this module (see
    :func:`deep_linear_sharpness_lower_bound`), and is never larger than theirs.

    Parameters
    ----------
    X : Any
        Data matrix, one row per sample.
    y : Any
        Regression targets, one entry per sample.
    depth : int
        Number of layers of the deep linear network.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bounds import deep_linear_learning_rate_limit
    >>> deep_linear_learning_rate_limit(np.eye(2), np.array([4.0, 0.0]), 2)
    0.25
    """
    bound = deep_linear_sharpness_lower_bound(X, y, depth)
    return math.inf if bound <= 0 else 2.0 / bound


def balanced_minimiser(X: Any, y: Any, depth: int, *, width: int = 1) -> list[np.ndarray]:
    """The balanced rank-one minimiser ``W_1 = s u ŵᵀ``, ``W_k = s u uᵀ``, ``W_L = s uᵀ``.

    ``s = ‖w*‖^{1/L}`` and ``u = e_1 ∈ R^width``, so that every layer has the same norm
    ``s`` and ``W_L ⋯ W_1 = w*ᵀ``.

    Parameters
    ----------
    X, y : array_like
        The data.
    depth : int
        ``L ≥ 1``.
    width : int, default 1
        The hidden width (all hidden layers).

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bounds import balanced_minimiser, end_to_end
    >>> layers = balanced_minimiser(np.eye(2), np.array([4.0, 0.0]), 2)
    >>> [layer.tolist() for layer in layers], end_to_end(layers)
    ([[[2.0, 0.0]], [[2.0]]], array([4., 0.]))
    """
    features, targets = _data(X, y)
    depth = check_positive_integer(depth, "depth")
    width = check_positive_integer(width, "width")
    w = np.linalg.pinv(features) @ targets
    norm = float(np.linalg.norm(w))
    direction = w / norm if norm > 0 else np.eye(1, w.shape[0])[0]
    scale = norm ** (1.0 / depth)
    unit = np.eye(1, width)[0]
    if depth == 1:
        return [w[None, :].copy()]
    layers = [scale * np.outer(unit, direction)]
    layers += [scale * np.outer(unit, unit) for _ in range(depth - 2)]
    layers.append(scale * unit[None, :])
    return layers


def balanced_minimiser_sharpness(X: Any, y: Any, depth: int) -> float:
    """The sharpness ``2 ‖w*‖^{2−2/L} λ_max(Σ_x^{1/2} (I + (L − 1) ŵŵᵀ) Σ_x^{1/2})``.

    Statement (``docs/theory/deep-linear.md``): at :func:`balanced_minimiser` (any width),
    ``J Jᵀ = ‖w*‖^{2 − 2/L} (I + (L − 1) ŵŵᵀ)`` and the Hessian is ``2 Jᵀ Σ_x J``.

    Parameters
    ----------
    X : Any
        Data matrix, one row per sample.
    y : Any
        Regression targets, one entry per sample.
    depth : int
        Number of layers of the deep linear network.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.bounds import balanced_minimiser_sharpness
    >>> balanced_minimiser_sharpness(np.eye(2), np.array([4.0, 0.0]), 2)  # Σ_x = I/2: tight
    8.0
    """
    features, targets = _data(X, y)
    depth = check_positive_integer(depth, "depth")
    w = np.linalg.pinv(features) @ targets
    norm = float(np.linalg.norm(w))
    covariance = _covariance(features)
    eigenvalues, vectors = np.linalg.eigh(covariance)
    root = (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T
    middle = np.eye(w.shape[0])
    if norm > 0:
        direction = w / norm
        middle = middle + (depth - 1) * np.outer(direction, direction)
    matrix = root @ middle @ root
    top = float(np.linalg.eigvalsh(0.5 * (matrix + matrix.T))[-1])
    return 2.0 * norm ** (2.0 - 2.0 / depth) * max(top, 0.0)
