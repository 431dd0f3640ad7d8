"""Brute-force references for the tests: enumerate every batch, assemble E[A ⊗ A] naively.

Nothing here shares code with the package's evaluators beyond the method's own
``LinearDynamics.state_map`` (the definition of the recursion): the range of ``H`` comes
from ``scipy.linalg.orth``, batches are enumerated with their exact probabilities, and the
threshold is located by bisection on the brute-force spectral radius.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import scipy.linalg

from stability.dynamics import LinearDynamics


def batch_distribution(samples: int, batch_size: int | None, replacement: bool):
    """Every batch as (weights w with H_B = Σ w_i H_i, probability)."""
    if batch_size is None:
        return [(np.full(samples, 1.0 / samples), 1.0)]
    if not replacement:
        combos = list(itertools.combinations(range(samples), batch_size))
        result = []
        for combo in combos:
            weights = np.zeros(samples)
            weights[list(combo)] = 1.0 / batch_size
            result.append((weights, 1.0 / len(combos)))
        return result
    result = []
    for counts in _compositions(batch_size, samples):
        probability = math.factorial(batch_size) / np.prod(
            [math.factorial(c) for c in counts]
        ) / samples**batch_size
        result.append((np.array(counts, dtype=float) / batch_size, probability))
    return result


def _compositions(total: int, parts: int):
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


def range_basis(per_sample: np.ndarray) -> np.ndarray:
    hessian = per_sample.mean(axis=0)
    return scipy.linalg.orth(hessian, rcond=1e-10)


def symmetric_projector(size: int) -> np.ndarray:
    """Orthonormal basis of symmetric matrices as rows acting on row-major vec."""
    rows = []
    for a in range(size):
        for b in range(a, size):
            element = np.zeros((size, size))
            element[a, b] = element[b, a] = 1.0
            rows.append(element.ravel() / np.linalg.norm(element))
    return np.array(rows)


def operator(per_sample: np.ndarray, dynamics: LinearDynamics, lr: float, *, reduce=True):
    """E[A ⊗ A] by enumeration; restricted to range(H) and symmetric matrices if ``reduce``."""
    samples = per_sample.shape[0]
    hessians = per_sample
    if reduce:
        basis = range_basis(per_sample)
        hessians = np.einsum("ia,nij,jb->nab", basis, per_sample, basis)
    total = 0.0
    for weights, probability in batch_distribution(
        samples, dynamics.batch.batch_size, dynamics.batch.replacement
    ):
        batch_hessian = np.tensordot(weights, hessians, axes=1)
        state_map = dynamics.state_map(lr, batch_hessian)
        total = total + probability * np.kron(state_map, state_map)
    if not reduce:
        return total
    projector = symmetric_projector(dynamics.blocks * hessians.shape[1])
    return projector @ total @ projector.T


def spectral_radius(per_sample, dynamics, lr) -> float:
    matrix = operator(per_sample, dynamics, lr)
    if matrix.size == 0:
        return 0.0
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def threshold(per_sample, dynamics, *, relative=1e-13) -> float:
    """Bisection on the brute-force spectral radius (a reference, not an algorithm)."""
    sharpness = float(np.linalg.eigvalsh(per_sample.mean(axis=0))[-1])
    if sharpness <= 0:
        return math.inf
    low, high = 1e-9 / sharpness, 1.0 / sharpness
    while spectral_radius(per_sample, dynamics, high) <= 1.0:
        low, high = high, 2 * high
        if high > 1e6 / sharpness:
            return math.inf
    while high - low > relative * high:
        middle = 0.5 * (low + high)
        if spectral_radius(per_sample, dynamics, middle) <= 1.0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)
