"""The Monte Carlo bookkeeping of :func:`stability.checks.check`: starts, probes, statistics.

Theory: ``docs/monte-carlo.md``. One-step probes start from a mixture of eigenvectors of a
probe moment ``Σ`` (so ``E z zᵀ = Σ`` and ``‖z‖² = tr Σ`` exactly, which bounds every entry
of ``z_1 z_1ᵀ``); the trajectory is compared up to the horizon where the guaranteed band
stays informative.
"""

from __future__ import annotations

import numpy as np

from stability.simulation import bernstein_radius

__all__ = [
    "INFORMATIVE",
    "MAX_HORIZON",
    "entry_statistics",
    "informative",
    "mixture_starts",
    "one_step_runs",
    "random_probe",
]

#: The trajectory horizon ends where the guaranteed band's range term exceeds this fraction
#: of the predicted value.
INFORMATIVE = 0.5
#: The longest trajectory compared by default.
MAX_HORIZON = 30
# Memory budget (floats) of the final states of one one-step probe.
_ONE_STEP_FLOATS = 4_000_000


def mixture_starts(sigma: np.ndarray, runs: int, rng: np.random.Generator) -> np.ndarray:
    """``runs`` starts with ``E z zᵀ = Σ`` and ``‖z‖² = tr Σ`` (a mixture of eigenvectors).

    Each start is ``√(tr Σ) v_k`` with the eigenvector ``v_k`` drawn with probability
    ``λ_k / tr Σ`` (the negative part of ``Σ`` is dropped).

    Parameters
    ----------
    sigma : ndarray, shape (s, s)
        A positive semi-definite probe moment (not zero).
    runs : int
        The number of starts.
    rng : numpy.random.Generator
        The random stream.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._statistics import mixture_starts
    >>> starts = mixture_starts(np.diag([3.0, 1.0]), 4, np.random.default_rng(0))
    >>> np.sum(starts**2, axis=1)  # ‖z‖² = tr Σ for every start
    array([4., 4., 4., 4.])
    """
    eigenvalues, vectors = np.linalg.eigh(0.5 * (sigma + sigma.T))
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    total = float(eigenvalues.sum())
    choice = rng.choice(len(eigenvalues), size=runs, p=eigenvalues / total)
    return np.sqrt(total) * vectors[:, choice].T


def entry_statistics(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased sample variance of every entry of ``z zᵀ`` over runs.

    Parameters
    ----------
    states : ndarray, shape (runs, s)
        One state per run.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._statistics import entry_statistics
    >>> mean, variance = entry_statistics(np.array([[1.0, 0.0], [-1.0, 2.0]]))
    >>> mean
    array([[ 1., -1.],
           [-1.,  2.]])
    >>> variance  # of z_1 z_2 ∈ {0, −2}: 2; of z_2² ∈ {0, 4}: 8
    array([[0., 2.],
           [2., 8.]])
    """
    runs = states.shape[0]
    mean = states.T @ states / runs
    squares = states * states
    fourth = squares.T @ squares / runs
    variance = (fourth - mean**2) * (runs / max(runs - 1, 1))
    return mean, np.maximum(variance, 0.0)


def one_step_runs(runs: int, state: int) -> int:
    """Runs of each one-step probe: ten times ``runs`` (one step is cheap), memory permitting.

    Never fewer than ``runs``; at most 4,000,000 floats of final states otherwise.

    Parameters
    ----------
    runs : int
        The runs of the trajectory simulation.
    state : int
        The state size ``m d``.

    Examples
    --------
    >>> from stability.checks._statistics import one_step_runs
    >>> one_step_runs(1000, 10), one_step_runs(1000, 1000), one_step_runs(1000, 10**6)
    (10000, 4000, 1000)
    """
    return max(runs, min(10 * runs, _ONE_STEP_FLOATS // state))


def random_probe(dimension: int, rng: np.random.Generator) -> np.ndarray:
    """A random full-rank positive definite matrix of trace one.

    Eigenvectors from the QR factor of a Gaussian matrix, eigenvalues uniform on
    ``[0.2, 1]`` before normalisation (condition number at most 5).

    Parameters
    ----------
    dimension : int
        The size.
    rng : numpy.random.Generator
        The random stream.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._statistics import random_probe
    >>> probe = random_probe(3, np.random.default_rng(0))
    >>> round(float(np.trace(probe)), 12), bool(np.linalg.eigvalsh(probe)[0] > 0)
    (1.0, True)
    """
    orthogonal, _ = np.linalg.qr(rng.standard_normal((dimension, dimension)))
    weights = rng.uniform(0.2, 1.0, size=dimension)
    probe = (orthogonal * weights) @ orthogonal.T
    return probe / np.trace(probe)


def informative(
    predicted: float, range_bound: float, runs: int, false_alarm: float, last: int
) -> bool:
    """Whether the guaranteed band at one time of a ``last``-step trajectory is informative.

    The band's range term (the variance-free part of the empirical Bernstein radius, at
    ``false_alarm / last`` per time) must be at most ``INFORMATIVE`` times the predicted
    ``E‖z_t‖²``. Long runs near or past the threshold are heavy-tailed: there no
    finite-sample band is tight, and the trajectory comparison stops.

    Parameters
    ----------
    predicted : float
        The predicted noise-free ``E‖z_t‖²``.
    range_bound : float
        The a-priori bound on ``‖z_t‖²`` of every run.
    runs : int
        The number of runs.
    false_alarm : float
        The probability allotted to the trajectory comparison.
    last : int
        The longest trajectory considered (the Bonferroni count).

    Examples
    --------
    >>> from stability.checks._statistics import informative
    >>> informative(1.0, 10.0, 10_000, 1e-6, 30)  # 7·10·log(1.2e8)/(3·9999) ≈ 0.04
    True
    >>> informative(1.0, 1e3, 100, 1e-6, 30)
    False
    """
    range_term = float(bernstein_radius(0.0, runs, range_bound, false_alarm / last))
    return bool(range_term <= INFORMATIVE * predicted)
