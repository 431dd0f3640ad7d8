"""Hypothesis strategies for problems and methods, for this package's tests and users' CI.

Every strategy draws well-scaled instances (entries of order one) so that exact
thresholds are finite and comparisons at relative tolerances are meaningful.
Rank-deficient cases (``n < d``, repeated rows, zero rows) are drawn on purpose.

Matrices: :func:`psd_matrices`, :func:`per_sample_hessians`, :func:`commuting_hessians`,
:func:`one_dimensional_hessians`, :func:`data_matrices`, :func:`integer_data_matrices`
(exact arithmetic), :func:`gram_matrices`. Problems and methods: :func:`problems`,
:func:`methods`, :func:`gradient_methods`, :func:`learning_rates`. Deep linear networks:
:func:`deep_linear_minimisers`. Random entries come from a NumPy generator seeded by the
strategy, so failing examples shrink to small seeds and sizes and replay exactly.

Examples
--------
>>> from hypothesis import given, settings
>>> from stability.testing.strategies import data_matrices
>>> @settings(max_examples=5)
... @given(data_matrices(max_samples=4, max_dimension=3))
... def test_shape(data):
...     assert data.ndim == 2
>>> test_shape()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from stability.errors import InvalidInputError
from stability.methods import GD, SGD, Method, registry
from stability.numeric import critical_learning_rate
from stability.problems import Quadratic

__all__ = [
    "commuting_hessians",
    "data_matrices",
    "deep_linear_minimisers",
    "gradient_methods",
    "gram_matrices",
    "integer_data_matrices",
    "learning_rates",
    "methods",
    "one_dimensional_hessians",
    "per_sample_hessians",
    "problems",
    "psd_matrices",
]


@st.composite
def _gaussian(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).standard_normal(shape)


@st.composite
def psd_matrices(
    draw: st.DrawFn, *, min_dimension: int = 1, max_dimension: int = 4, allow_singular: bool = True
) -> np.ndarray:
    """Symmetric positive semi-definite ``d × d`` matrices, possibly singular.

    Parameters
    ----------
    min_dimension : int, default 1
        Smallest dimension drawn.
    max_dimension : int, default 4
        Largest dimension drawn.
    allow_singular : bool, default True
        Whether singular (rank-deficient) matrices may be drawn.
    """
    dimension = draw(st.integers(min_dimension, max_dimension))
    rank = (
        draw(st.integers(1 if not allow_singular else 0, dimension))
        if allow_singular
        else (dimension)
    )
    rank = max(rank, 1)
    factor = draw(_gaussian((dimension, rank)))
    matrix = factor @ factor.T / rank
    return 0.5 * (matrix + matrix.T)


@st.composite
def data_matrices(
    draw: st.DrawFn,
    *,
    min_samples: int = 1,
    max_samples: int = 6,
    min_dimension: int = 1,
    max_dimension: int = 4,
) -> np.ndarray:
    """Data matrices ``(n, d)`` with ``n < d``, ``n = d`` and ``n > d``, some with repeated rows.

    Parameters
    ----------
    min_samples : int, default 1
        Smallest number of samples drawn.
    max_samples : int, default 6
        Largest number of samples drawn.
    min_dimension : int, default 1
        Smallest dimension drawn.
    max_dimension : int, default 4
        Largest dimension drawn.
    """
    samples = draw(st.integers(min_samples, max_samples))
    dimension = draw(st.integers(min_dimension, max_dimension))
    data = draw(_gaussian((samples, dimension)))
    if samples > 1 and draw(st.booleans()):
        data[-1] = data[0]  # a repeated sample
    if not np.any(data):
        data[0, 0] = 1.0
    return data


@st.composite
def per_sample_hessians(
    draw: st.DrawFn,
    *,
    min_samples: int = 1,
    max_samples: int = 5,
    min_dimension: int = 1,
    max_dimension: int = 4,
) -> np.ndarray:
    """Stacks ``(n, d, d)`` of PSD per-sample Hessians of random ranks (not all zero).

    Parameters
    ----------
    min_samples : int, default 1
        Smallest number of samples drawn.
    max_samples : int, default 5
        Largest number of samples drawn.
    min_dimension : int, default 1
        Smallest dimension drawn.
    max_dimension : int, default 4
        Largest dimension drawn.
    """
    samples = draw(st.integers(min_samples, max_samples))
    dimension = draw(st.integers(min_dimension, max_dimension))
    stack = []
    for _ in range(samples):
        rank = draw(st.integers(0, dimension))
        factor = draw(_gaussian((dimension, rank))) if rank else np.zeros((dimension, 0))
        stack.append(factor @ factor.T)
    hessians = np.array(stack)
    if not np.any(hessians):
        hessians[0, 0, 0] = 1.0
    return 0.5 * (hessians + np.swapaxes(hessians, 1, 2))


@st.composite
def gram_matrices(draw: st.DrawFn, *, max_samples: int = 6, max_features: int = 6) -> np.ndarray:
    """Gram (NTK) matrices ``K = X Xᵀ`` of random data, possibly singular.

    Parameters
    ----------
    max_samples : int, default 6
        Largest number of samples drawn.
    max_features : int, default 6
        Largest number of features drawn.
    """
    data = draw(data_matrices(max_samples=max_samples, max_dimension=max_features))
    return data @ data.T


@st.composite
def problems(draw: st.DrawFn, *, max_samples: int = 5, max_dimension: int = 4) -> Quadratic:
    """Quadratic problems with per-sample structure, from data or from per-sample Hessians.

    Parameters
    ----------
    max_samples : int, default 5
        Largest number of samples drawn.
    max_dimension : int, default 4
        Largest dimension drawn.
    """
    if draw(st.booleans()):
        return Quadratic.from_data(
            draw(data_matrices(max_samples=max_samples, max_dimension=max_dimension))
        )
    return Quadratic.from_hessians(
        draw(per_sample_hessians(max_samples=max_samples, max_dimension=max_dimension))
    )


@st.composite
def methods(
    draw: st.DrawFn,
    samples: int,
    *,
    momentum: bool = True,
    max_momentum: float = 0.95,
    names: Sequence[str] | None = None,
    all_options: bool = False,
) -> Method:
    """Methods of the registry valid for a problem with ``samples`` samples.

    The methods come from :data:`stability.methods.registry.METHODS`, so a method added
    there is drawn here too. By default every method without additive noise is drawn
    (GD, SGD with both samplings, heavy ball and Nesterov, ...); ``names`` picks any
    registry entries (``"variational-gd"`` included). Options are drawn from each
    option's range (:class:`~stability.methods.registry.Option`), momentum up to
    ``max_momentum``.

    Parameters
    ----------
    samples : int
        The problem's number of samples (bounds the batch size).
    momentum : bool, default True
        Include methods with a ``momentum`` option.
    max_momentum : float, default 0.95
        Largest momentum drawn.
    names : sequence of str, optional
        Registry names to draw from (default: every method without additive noise).
    all_options : bool, default False
        Also draw the optional options (weight decay, posterior samples); by default
        they keep their defaults.

    Examples
    --------
    >>> from hypothesis import find
    >>> from stability.testing.strategies import methods
    >>> type(find(methods(4, names=["nesterov"]), lambda method: True)).__name__
    'Nesterov'
    """
    if names is None:
        names = [
            spec.name
            for spec in registry.METHODS
            if not spec.noisy
            and (momentum or all(option.keyword != "momentum" for option in spec.options))
        ]
    spec = registry.get(draw(st.sampled_from(list(names))))
    replacement = draw(st.booleans())
    upper = samples * (2 if replacement else 1)
    batch_size = draw(st.integers(1, max(1, upper)))
    options: dict[str, Any] = {}
    for option in spec.options:
        if not option.required and not all_options:
            continue  # optional options keep their defaults unless asked for
        if option.integer:
            options[option.keyword] = draw(st.integers(int(option.low), int(option.high)))
        else:
            high = min(option.high, max_momentum) if option.keyword == "momentum" else option.high
            options[option.keyword] = draw(st.floats(option.low, high))
    if spec.batch == "none":
        return spec.build(**options)
    if spec.batch == "optional" and draw(st.booleans()):
        return spec.build(batch_size=None, replacement=replacement, **options)
    return spec.build(batch_size=batch_size, replacement=replacement, **options)


@st.composite
def commuting_hessians(
    draw: st.DrawFn,
    *,
    min_samples: int = 1,
    max_samples: int = 5,
    min_dimension: int = 1,
    max_dimension: int = 4,
) -> np.ndarray:
    """Stacks ``(n, d, d)`` of commuting PSD Hessians: ``Q diag(h_i) Qᵀ`` with one random ``Q``.

    Their exact threshold is the closed form of
    :func:`stability.bounds.commuting_threshold`; some eigenvalues are zero on purpose.

    Parameters
    ----------
    min_samples : int, default 1
        Smallest number of samples drawn.
    max_samples : int, default 5
        Largest number of samples drawn.
    min_dimension : int, default 1
        Smallest dimension drawn.
    max_dimension : int, default 4
        Largest dimension drawn.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import find
    >>> from stability.testing.strategies import commuting_hessians
    >>> stack = find(commuting_hessians(min_samples=2, min_dimension=2), lambda s: True)
    >>> bool(np.allclose(stack[0] @ stack[1], stack[1] @ stack[0]))
    True
    """
    samples = draw(st.integers(min_samples, max_samples))
    dimension = draw(st.integers(min_dimension, max_dimension))
    rotation, _ = np.linalg.qr(draw(_gaussian((dimension, dimension))))
    curvatures = draw(_gaussian((samples, dimension))) ** 2
    if draw(st.booleans()):
        curvatures[:, -1] = 0.0  # a neutral direction
    if not np.any(curvatures):
        curvatures[0, 0] = 1.0
    hessians = np.einsum("ij,nj,kj->nik", rotation, curvatures, rotation)
    return 0.5 * (hessians + np.swapaxes(hessians, 1, 2))


@st.composite
def one_dimensional_hessians(
    draw: st.DrawFn, *, min_samples: int = 1, max_samples: int = 6
) -> np.ndarray:
    """Stacks ``(n, 1, 1)`` of per-sample curvatures ``h_i ≥ 0`` (not all zero).

    Parameters
    ----------
    min_samples : int, default 1
        Smallest number of samples drawn.
    max_samples : int, default 6
        Largest number of samples drawn.

    Examples
    --------
    >>> from hypothesis import find
    >>> from stability.testing.strategies import one_dimensional_hessians
    >>> find(one_dimensional_hessians(min_samples=2), lambda s: True).shape
    (2, 1, 1)
    """
    samples = draw(st.integers(min_samples, max_samples))
    curvatures = draw(_gaussian((samples,))) ** 2
    if samples > 1 and draw(st.booleans()):
        curvatures[-1] = 0.0
    if not np.any(curvatures):
        curvatures[0] = 1.0
    return curvatures[:, None, None]


@st.composite
def integer_data_matrices(
    draw: st.DrawFn,
    *,
    min_samples: int = 1,
    max_samples: int = 4,
    min_dimension: int = 1,
    max_dimension: int = 3,
    max_entry: int = 2,
) -> np.ndarray:
    """Data matrices with small integer entries, for exact (rational) arithmetic.

    Parameters
    ----------
    min_samples : int, default 1
        Smallest number of samples drawn.
    max_samples : int, default 4
        Largest number of samples drawn.
    min_dimension : int, default 1
        Smallest dimension drawn.
    max_dimension : int, default 3
        Largest dimension drawn.
    max_entry : int, default 2
        Largest absolute value of an entry.

    Examples
    --------
    >>> from hypothesis import find
    >>> from stability.testing.strategies import integer_data_matrices
    >>> find(integer_data_matrices(), lambda data: True).tolist()
    [[1.0]]
    """
    samples = draw(st.integers(min_samples, max_samples))
    dimension = draw(st.integers(min_dimension, max_dimension))
    entries = draw(
        st.lists(
            st.integers(-max_entry, max_entry),
            min_size=samples * dimension,
            max_size=samples * dimension,
        )
    )
    data = np.array(entries, dtype=float).reshape(samples, dimension)
    if not np.any(data):
        data[0, 0] = 1.0
    return data


@st.composite
def gradient_methods(draw: st.DrawFn, samples: int | None) -> Method:
    """Plain gradient methods valid for ``samples`` samples: ``GD()`` or ``SGD(B)``.

    ``samples=None`` (a problem given by one Hessian) draws ``GD()`` only.

    Parameters
    ----------
    samples : int | None
        Number of samples n of the problem (bounds the batch size); None for no bound.

    Examples
    --------
    >>> from hypothesis import find
    >>> from stability.testing.strategies import gradient_methods
    >>> find(gradient_methods(4), lambda method: True)
    GD()
    """
    if samples is None or draw(st.booleans()):
        return GD()
    replacement = draw(st.booleans())
    upper = samples * (2 if replacement else 1)
    return SGD(draw(st.integers(1, max(1, upper))), replacement=replacement)


@st.composite
def learning_rates(
    draw: st.DrawFn,
    problem: Quadratic,
    method: Any,
    *,
    stable: bool = True,
    low: float = 0.05,
    high: float = 0.95,
) -> float:
    """Learning rates on one side of the exact threshold ``η*`` of ``method`` on ``problem``.

    ``stable=True`` draws ``u η*`` with ``u ∈ [low, high]``; ``stable=False`` draws
    ``η*/u``. When ``η* = ∞`` every rate is stable: ``stable=True`` then draws ``u``
    itself and ``stable=False`` is refused.

    Parameters
    ----------
    problem : Quadratic
        The quadratic problem the learning rate is drawn for.
    method : Method or LinearDynamics
        The optimiser the learning rate is drawn for.
    stable : bool, default True
        True draws ``u η*`` (stable), False draws ``η*/u`` (unstable), with ``u ∈ [low, high]``.
    low : float, default 0.05
        Smallest factor u, with 0 < low ≤ high < 1.
    high : float, default 0.95
        Largest factor u, below 1.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import find
    >>> from stability import GD, Quadratic
    >>> from stability.testing.strategies import learning_rates
    >>> problem = Quadratic(np.diag([4.0]))
    >>> find(learning_rates(problem, GD(), stable=False), lambda lr: True) > 0.5
    True
    """
    if not 0 < low <= high < 1:
        raise InvalidInputError(f"need 0 < low ≤ high < 1; got low={low}, high={high}")
    threshold = critical_learning_rate(problem, method)
    fraction = draw(st.floats(low, high))
    if not np.isfinite(threshold):
        if not stable:
            raise InvalidInputError(
                "every learning rate is stable on this problem (η* = inf); no unstable rate"
            )
        return fraction
    return fraction * threshold if stable else threshold / fraction


@st.composite
def deep_linear_minimisers(
    draw: st.DrawFn,
    *,
    max_samples: int = 5,
    max_dimension: int = 3,
    max_depth: int = 3,
    max_width: int = 3,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Random minimisers ``(X, y, weights)`` of deep linear networks
    (``docs/theory/deep-linear.md``).

    Widths are random (bottlenecks included); the end-to-end vector is a least-squares
    solution ``w* + v`` with ``v ∈ null(X)`` random when ``n < d``; every layer but the first
    is random and the first solves ``a_1 W_1 = wᵀ``.

    Parameters
    ----------
    max_samples : int, default 5
        Largest number of samples drawn.
    max_dimension : int, default 3
        Largest dimension drawn.
    max_depth : int, default 3
        Largest number of layers drawn.
    max_width : int, default 3
        Largest hidden width drawn.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import find
    >>> from stability.bounds import end_to_end
    >>> from stability.testing.strategies import deep_linear_minimisers
    >>> X, y, weights = find(deep_linear_minimisers(), lambda case: True)
    >>> bool(np.allclose(X.T @ (X @ end_to_end(weights) - y), 0))
    True
    """
    samples = draw(st.integers(1, max_samples))
    dimension = draw(st.integers(1, max_dimension))
    depth = draw(st.integers(1, max_depth))
    data = draw(_gaussian((samples, dimension)))
    targets = draw(_gaussian((samples,)))
    solution = np.linalg.pinv(data) @ targets
    _, singular, right = np.linalg.svd(data)
    rank = int(np.sum(singular > 1e-10 * singular.max(initial=0.0)))
    if rank < dimension:
        solution = solution + right[rank:].T @ draw(_gaussian((dimension - rank,)))
    widths = [dimension] + [draw(st.integers(1, max_width)) for _ in range(depth - 1)] + [1]
    layers = [draw(_gaussian((widths[k + 1], widths[k]))) for k in range(depth)]
    after = np.ones(1)
    for layer in reversed(layers[1:]):
        after = after @ layer
    if not np.any(after):
        after = np.eye(1, after.shape[0])[0]
        layers[1:] = _through(layers[1:])
        after = np.ones(1)
        for layer in reversed(layers[1:]):
            after = after @ layer
    norm = float(after @ after)
    projector = np.eye(after.shape[0]) - np.outer(after, after) / norm
    layers[0] = np.outer(after, solution) / norm + projector @ layers[0]
    return data, targets, layers


def _through(layers: list[np.ndarray]) -> list[np.ndarray]:
    """Replace layers whose product vanishes by ones that pass the first coordinate through."""
    return [np.eye(layer.shape[0], layer.shape[1]) for layer in layers]
