"""Built-in example problems, used by ``stability tour`` and the documentation.

Examples
--------
>>> from stability._examples import regression_example
>>> problem = regression_example()
>>> problem.samples, problem.dimension
(32, 8)
"""

from __future__ import annotations

import numpy as np

from stability.problems import Quadratic

__all__ = ["regression_example", "regression_features"]


def regression_features(samples: int = 32, dimension: int = 8, seed: int = 0) -> np.ndarray:
    """Features of a small least-squares problem with a spread-out spectrum.

    Row ``i`` is ``x_i = D g_i`` with ``g_i`` standard normal and ``D`` a diagonal of
    decaying scales ``1, 2^{-1/2}, …``, so the Hessian has well-separated eigenvalues.

    Parameters
    ----------
    samples : int, default 32
        The number of rows ``n``.
    dimension : int, default 8
        The number of features ``d``.
    seed : int, default 0
        Seed of the generator; the example is the same on every machine.
    """
    rng = np.random.default_rng(seed)
    scales = 2.0 ** (-0.5 * np.arange(dimension))
    return rng.standard_normal((samples, dimension)) * scales


def regression_example(samples: int = 32, dimension: int = 8, seed: int = 0) -> Quadratic:
    """The built-in example: least squares with ``H_i = x_i x_iᵀ`` (:func:`regression_features`).

    Parameters
    ----------
    samples : int, default 32
        Number of training samples n.
    dimension : int, default 8
        Dimension d of the parameter space.
    seed : int, default 0
        Seed of the random generator (reproducible runs).
    """
    return Quadratic.from_data(regression_features(samples, dimension, seed))
