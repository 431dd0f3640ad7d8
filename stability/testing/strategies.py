"""Hypothesis strategies for problems and methods, for this package's tests and users' CI.

Every strategy draws well-scaled instances (entries of order one) so that exact
thresholds are finite and comparisons at relative tolerances are meaningful.
Rank-deficient cases (``n < d``, repeated rows, zero rows) are drawn on purpose.

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

import numpy as np
from hypothesis import strategies as st

from stability.methods import GD, SGD, HeavyBall, Method, Nesterov
from stability.problems import Quadratic

__all__ = [
    "data_matrices",
    "gram_matrices",
    "methods",
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
    """Symmetric positive semi-definite ``d × d`` matrices, possibly singular."""
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
    """Data matrices ``(n, d)`` with ``n < d``, ``n = d`` and ``n > d``, some with repeated rows."""
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
    """Stacks ``(n, d, d)`` of PSD per-sample Hessians of random ranks (not all zero)."""
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
    """Gram (NTK) matrices ``K = X Xᵀ`` of random data, possibly singular."""
    data = draw(data_matrices(max_samples=max_samples, max_dimension=max_features))
    return data @ data.T


@st.composite
def problems(draw: st.DrawFn, *, max_samples: int = 5, max_dimension: int = 4) -> Quadratic:
    """Quadratic problems with per-sample structure, from data or from per-sample Hessians."""
    if draw(st.booleans()):
        return Quadratic.from_data(
            draw(data_matrices(max_samples=max_samples, max_dimension=max_dimension))
        )
    return Quadratic.from_hessians(
        draw(per_sample_hessians(max_samples=max_samples, max_dimension=max_dimension))
    )


@st.composite
def methods(
    draw: st.DrawFn, samples: int, *, momentum: bool = True, max_momentum: float = 0.95
) -> Method:
    """Methods valid for a problem with ``samples`` samples: GD, SGD (both samplings), momentum."""
    kinds = ["gd", "sgd"] + (["heavy-ball", "nesterov"] if momentum else [])
    kind = draw(st.sampled_from(kinds))
    replacement = draw(st.booleans())
    upper = samples * (2 if replacement else 1)
    batch_size = draw(st.integers(1, max(1, upper)))
    if kind == "gd":
        return GD()
    if kind == "sgd":
        return SGD(batch_size, replacement=replacement)
    beta = draw(st.floats(0.0, max_momentum))
    full = draw(st.booleans())
    cls = HeavyBall if kind == "heavy-ball" else Nesterov
    return cls(beta, batch_size=None if full else batch_size, replacement=replacement)
