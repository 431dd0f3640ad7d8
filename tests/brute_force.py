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


def mixing_weight(samples: int, batch_size: int | None, replacement: bool) -> float:
    """``p`` in ``E[H_B ⊗ H_B] = (1 − p) H ⊗ H + p (1/n) Σ H_i ⊗ H_i``, from its definition.

    ``Cov`` of the batch weights ``w``: with replacement ``w`` is a multinomial over ``B``
    draws divided by ``B``; without, a uniform ``B``-subset divided by ``B``.
    """
    if batch_size is None or samples == 1:
        return 0.0
    if replacement:
        return 1.0 / batch_size
    return (samples - batch_size) / (batch_size * (samples - 1))


def gradient_step_parts(per_sample):
    """Dense pieces of ``E[A ⊗ A]`` for ``A = I − γ H_B`` on symmetric matrices of ``range(H)``.

    Returns ``(I, H ⊗ I + I ⊗ H, H ⊗ H, (1/n) Σ_i H_i ⊗ H_i)``, each from explicit Kronecker
    products restricted with :func:`symmetric_projector` (no batch enumeration, so it
    serves large ``n`` and ``B``), so that ``E[A ⊗ A] = I − γ S + γ² ((1 − p) P + p M)``.
    """
    import scipy.sparse

    basis = range_basis(per_sample)
    hessians = basis.T @ per_sample @ basis
    size = hessians.shape[1]
    mean = hessians.mean(axis=0)
    eye = np.eye(size)
    sample_term = np.zeros((size * size, size * size))
    for hessian in hessians:
        sample_term += np.kron(hessian, hessian)
    sample_term /= len(hessians)
    projector = scipy.sparse.csr_matrix(symmetric_projector(size))

    def restrict(matrix):
        return np.asarray((projector @ (projector @ matrix).T).T)

    return (
        np.eye(projector.shape[0]),
        restrict(np.kron(mean, eye) + np.kron(eye, mean)),
        restrict(np.kron(mean, mean)),
        restrict(sample_term),
    )


def gradient_step_radius(parts, step, mixing) -> float:
    """``ρ(E[A ⊗ A])`` for ``A = I − step · H_B`` from :func:`gradient_step_parts`."""
    identity, sum_term, product_term, sample_term = parts
    matrix = identity - step * sum_term + step**2 * (
        (1.0 - mixing) * product_term + mixing * sample_term
    )
    assert np.abs(matrix - matrix.T).max() <= 1e-12 * np.abs(matrix).max()
    return float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (matrix + matrix.T)))))
