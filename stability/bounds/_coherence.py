"""The coherence construction of Dexter et al. (2024): one sharpness, thresholds from 1 to σ/n.

A published example about SGD, so it sits on the bounds shelf (re-exported by
:mod:`stability.bounds`). Theory: ``docs/theory/threshold.md`` (the coherence construction,
and the closed form for commuting ``H_i`` it relies on, Wu, Ma & E 2018).

**The coherence construction** (Dexter et al. 2024). ``n`` samples in ``d = n + 1 − σ``
dimensions: ``σ`` copies of ``(2n/σ) e₁e₁ᵀ`` and ``e_k e_kᵀ`` for ``k = 2, …, n − σ + 1``.
Then ``H = 2 e₁e₁ᵀ + (1/n) Σ_{k≥2} e_k e_kᵀ`` (sharpness 2), and the closed form for
commuting ``H_i``, ``η* = min_k 2 h̄_k / (h̄_k² + p Var_i h_ik)``, gives

    direction 1:   h̄ = 2,    Var = 4n/σ − 4       ⇒ η*₁ = 1 / (1 + p (n/σ − 1)),
    direction k:   h̄ = 1/n,  Var = 1/n − 1/n²     ⇒ η*_k = 2n / (1 + p (n − 1)),

    η* = min(η*₁, η*_k)   (only η*₁ when σ = n).

With ``B = 1`` drawn with replacement (``p = 1``) this is ``σ/n``: the same sharpness can
be stable up to ``η = 1`` (full batch) or only up to ``σ/n``, depending on how coherent
the per-sample Hessians are.
"""

from __future__ import annotations

import math

import numpy as np

from stability._validation import check_positive_integer
from stability.dynamics import BatchLaw
from stability.errors import InvalidInputError
from stability.problems import Quadratic

__all__ = ["coherence_critical_learning_rate", "coherence_problem"]


def _check_coherence(samples: int, copies: int) -> tuple[int, int]:
    samples = check_positive_integer(samples, "samples")
    copies = check_positive_integer(copies, "copies")
    if copies > samples:
        raise InvalidInputError(f"copies must be at most samples={samples} (σ ≤ n); got {copies}")
    return samples, copies


def coherence_problem(samples: int = 100, copies: int = 10) -> Quadratic:
    """The coherence construction of Dexter et al. (2024) as a data problem.

    ``copies = σ`` rows ``√(2n/σ) e₁`` and the rows ``e_k``, ``k = 2, …, n − σ + 1``, in
    ``d = n + 1 − σ`` dimensions (so ``H_i = x_i x_iᵀ`` as in the module notes).

    Parameters
    ----------
    samples : int, default 100
        ``n``.
    copies : int, default 10
        ``σ``, the number of copies of the sharp sample (``1 ≤ σ ≤ n``).

    Examples
    --------
    >>> from stability.bounds import coherence_problem
    >>> problem = coherence_problem(100, 10)
    >>> problem.samples, problem.dimension, problem.sharpness
    (100, 91, 2.0)
    """
    samples, copies = _check_coherence(samples, copies)
    dimension = samples + 1 - copies
    data = np.zeros((samples, dimension))
    data[:copies, 0] = math.sqrt(2.0 * samples / copies)
    data[copies:, 1:] = np.eye(samples - copies)
    return Quadratic.from_data(data)


def coherence_critical_learning_rate(
    samples: int, copies: int, batch_size: int | None, replacement: bool = False
) -> float:
    """Closed-form SGD threshold of :func:`coherence_problem` (derivation in the module notes).

    ``η* = min(1 / (1 + p (n/σ − 1)), 2n / (1 + p (n − 1)))`` with ``p`` the mixing
    weight of the batch law (the second term only when ``σ < n``).

    Parameters
    ----------
    samples : int
        Number of samples n of the construction.
    copies : int
        Number σ of copies of the sharp sample (1 ≤ σ ≤ n).
    batch_size : int | None
        Batch size B; None is the full batch.
    replacement : bool, default False
        Whether batches are drawn with replacement.

    Examples
    --------
    >>> from stability.bounds import coherence_critical_learning_rate
    >>> coherence_critical_learning_rate(100, 10, 1, replacement=True)  # σ / n
    0.1
    >>> coherence_critical_learning_rate(100, 10, None)  # GD: 2 / sharpness
    1.0
    """
    samples, copies = _check_coherence(samples, copies)
    mixing = float(BatchLaw(batch_size, replacement).mixing(samples))
    sharp = 1.0 / (1.0 + mixing * (samples / copies - 1.0))
    if copies == samples:
        return sharp
    return min(sharp, 2.0 * samples / (1.0 + mixing * (samples - 1.0)))
