"""The predicted operator's spectral radius and top modes, compared with the numeric layer's.

Theory: ``docs/theory/operator.md``. ``T`` maps the PSD cone into itself, so its spectral
radius ``ρ`` is an eigenvalue with PSD right and left eigenvectors (Krein–Rutman): the top
mode ``Σ`` (``T(Σ) = ρ Σ``) and the weight ``W`` (``T*(W) = ρ W``), which the Monte Carlo
probes of :func:`stability.checks.check` start from and measure along.

Small reduced operators are assembled from the operator under test and compared with the
numeric layer's matrix entry by entry; above ``DENSE_CHECK_SIZE`` ``svec`` coordinates the
top modes come matrix-free from the numeric layer and the two operators are compared on
probes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from stability._system import System
from stability.checks._comparisons import exact_comparison
from stability.checks._operator import StackOperator
from stability.checks._report import Comparison
from stability.errors import SizeLimitError
from stability.numeric import (
    DENSE_ENTRY_LIMIT,
    SecondMomentOperator,
    principal_moments,
    reduced_operator,
    symmetric_basis,
)

__all__ = [
    "DENSE_CHECK_SIZE",
    "Spectrum",
    "dense_spectrum",
    "matrix_free_spectrum",
    "predicted_spectrum",
    "psd_part",
    "reduced_matrix",
]

#: Reduced operators with more ``svec`` coordinates are checked matrix-free.
DENSE_CHECK_SIZE = 600


@dataclass(frozen=True, eq=False)
class Spectrum:
    """``ρ`` and the PSD top modes of the predicted operator, in the problem's coordinates.

    Attributes
    ----------
    radius : float
        ``ρ(T(η))``.
    right : ndarray, shape (md, md)
        The top mode ``Σ``: PSD, trace one.
    left : ndarray, shape (md, md)
        The weight ``W``: PSD, largest eigenvalue one.
    """

    radius: float
    right: np.ndarray
    left: np.ndarray


def psd_part(matrix: np.ndarray) -> np.ndarray:
    """The PSD part of the symmetric part of ``± matrix`` (sign chosen by the trace).

    Parameters
    ----------
    matrix : ndarray, shape (s, s)
        An eigenvector of ``T`` as a matrix (defined up to sign).

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._spectrum import psd_part
    >>> psd_part(np.diag([-2.0, 0.5]))  # the sign with positive trace, then clipped
    array([[2., 0.],
           [0., 0.]])
    """
    matrix = 0.5 * (matrix + matrix.T)
    if np.trace(matrix) < 0:
        matrix = -matrix
    eigenvalues, vectors = np.linalg.eigh(matrix)
    return (vectors * np.clip(eigenvalues, 0.0, None)) @ vectors.T


def reduced_matrix(apply: StackOperator, lift: np.ndarray) -> np.ndarray:
    """The matrix of ``S ↦ Pᵀ T(P S Pᵀ) P`` on svec coordinates (``P = lift``, ``md × k``).

    Parameters
    ----------
    apply : callable
        ``T`` on stacks ``(k, md, md)``.
    lift : ndarray, shape (md, k)
        Orthonormal columns spanning the non-neutral states.

    Raises
    ------
    SizeLimitError
        If the matrix would have more than ``DENSE_ENTRY_LIMIT`` entries.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._spectrum import reduced_matrix
    >>> reduced_matrix(lambda stack: 0.5 * stack, np.eye(2))  # 3 svec coordinates
    array([[0.5, 0. , 0. ],
           [0. , 0.5, 0. ],
           [0. , 0. , 0.5]])
    """
    size = lift.shape[1]
    count = size * (size + 1) // 2
    if count * count > DENSE_ENTRY_LIMIT:  # refused before the basis is built
        raise SizeLimitError(
            f"the reduced operator has dimension {count:,}; check needs it densely "
            f"(limit {DENSE_ENTRY_LIMIT:,} entries)"
        )
    basis = symmetric_basis(size)
    elements = basis.reshape(count, size, size)
    columns = np.empty((count, count))
    block = max(1, 2_000_000 // max(lift.shape[0] ** 2, 1))
    for start in range(0, count, block):
        part = elements[start : start + block]
        reduced = lift.T @ apply(lift @ part @ lift.T) @ lift
        columns[start : start + block] = reduced.reshape(len(part), -1) @ basis.T
    return columns.T


def _symmetric_top(matrix: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``ρ`` and the eigenvectors of its cluster (right = left) of a symmetric matrix."""
    values, vectors = scipy.linalg.eigh(0.5 * (matrix + matrix.T))
    radius = float(np.max(np.abs(values)))
    cluster = np.flatnonzero(np.abs(values - radius) <= 1e-9 * max(radius, 1e-300))
    if cluster.size == 0:  # only −ρ is extremal: take it (Krein–Rutman says ρ also is)
        cluster = np.array([int(np.argmax(np.abs(values)))])
    return radius, vectors[:, cluster].T, vectors[:, cluster].T


def _general_top(matrix: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``ρ`` and right and left null vectors of ``M − ρ I`` of a non-symmetric matrix.

    Eigenvalues from ``eig``, eigenvectors as null vectors (SVD): ``eig``'s vectors can be
    wrong for these very non-normal matrices with large null spaces.
    """
    values = scipy.linalg.eigvals(matrix)
    radius = float(np.max(np.abs(values)))
    count = max(1, int(np.sum(np.abs(values - radius) <= 1e-7 * max(radius, 1e-300))))
    left_vectors, _, right_vectors = scipy.linalg.svd(matrix - radius * np.eye(len(matrix)))
    return radius, right_vectors[-count:], left_vectors[:, -count:].T


def _best_pair(
    sigmas: list[np.ndarray], weights: list[np.ndarray], projector: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The right and left modes with the largest normalised overlap ``⟨W, Σ⟩``.

    If every pair is orthogonal, ``W`` is the projector onto the non-neutral states.
    """
    best, sigma, weight = -1.0, projector, projector
    for candidate in sigmas:
        for partner in weights:
            norm = np.linalg.norm(candidate) * np.linalg.norm(partner)
            overlap = float(np.sum(candidate * partner)) / norm if norm > 0 else 0.0
            if overlap > best:
                best, sigma, weight = overlap, candidate, partner
    if best <= 1e-9:
        nonzero = [candidate for candidate in sigmas if np.trace(candidate) > 0]
        sigma = nonzero[0] if nonzero else projector
        weight = projector
    return sigma, weight


def _normalised(sigma: np.ndarray, weight: np.ndarray, fallback: np.ndarray) -> Spectrum:
    """``Σ / tr Σ`` and ``W / λ_max(W)``, replacing a zero mode by ``fallback``."""
    sigma = sigma if np.any(sigma) else fallback
    weight = weight if np.any(weight) else fallback
    return Spectrum(0.0, sigma / np.trace(sigma), weight / np.linalg.eigvalsh(weight)[-1])


def dense_spectrum(matrix: np.ndarray, lift: np.ndarray) -> Spectrum:
    """``ρ`` and PSD top eigenvectors (right ``Σ``, left ``W``) in the full coordinates.

    When the top eigenvalue is degenerate, the pair of right and left eigenvectors (PSD
    parts) with the largest overlap ``⟨W, Σ⟩`` is taken; if every pair is orthogonal,
    ``W`` is the projector onto the non-neutral states.

    Parameters
    ----------
    matrix : ndarray, shape (N, N)
        ``T`` on ``svec`` of the reduced coordinates (from :func:`reduced_matrix`).
    lift : ndarray, shape (md, k)
        The reduced coordinates' orthonormal basis in the full ones.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._spectrum import dense_spectrum
    >>> spectrum = dense_spectrum(np.diag([0.25, 0.0, 0.81]), np.eye(2))  # GD, λ = (1.5, 0.1)
    >>> spectrum.radius, spectrum.right
    (0.81, array([[0., 0.],
           [0., 1.]]))
    """
    basis = symmetric_basis(lift.shape[1])
    scale = max(float(np.abs(matrix).max()), np.finfo(float).tiny)
    symmetric = float(np.abs(matrix - matrix.T).max()) <= 1e-10 * scale
    radius, rights, lefts = (_symmetric_top if symmetric else _general_top)(matrix)

    def lifted(vector: np.ndarray) -> np.ndarray:
        reduced = (basis.T @ vector).reshape(lift.shape[1], lift.shape[1])
        return psd_part(lift @ reduced @ lift.T)

    projector = lift @ lift.T
    sigma, weight = _best_pair([lifted(v) for v in rights], [lifted(v) for v in lefts], projector)
    modes = _normalised(sigma, weight, np.eye(lift.shape[0]))
    return Spectrum(radius, modes.right, modes.left)


def matrix_free_spectrum(
    system: System, apply: StackOperator, lift: np.ndarray, lr: float
) -> tuple[Spectrum, np.ndarray, np.ndarray]:
    """Large problems: ``ρ`` and the top modes matrix-free, and both operators on probes.

    The right and left Krein–Rutman eigen-moments come from
    :func:`~stability.numeric.principal_moments`; the operator under test (in
    the problem's own coordinates) and the numeric one (reduced coordinates) are applied
    to three probes: the two modes and a random symmetric matrix of the reduced space.

    Parameters
    ----------
    system : System
        The bound problem and method.
    apply : callable
        The operator under test on stacks ``(k, md, md)``.
    lift : ndarray, shape (md, k)
        The reduced coordinates' orthonormal basis in the full ones.
    lr : float
        ``η``.

    Returns
    -------
    spectrum : Spectrum
        ``ρ`` and the normalised PSD modes.
    tested, numeric : ndarray, shape (3, k, k)
        The images of the probes under the operator under test and the numeric one.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.checks._spectrum import matrix_free_spectrum
    >>> from stability.numeric import second_moment_recursion
    >>> from stability._system import bind
    >>> system = bind(Quadratic.from_data(np.eye(3)), SGD(1))
    >>> recursion = second_moment_recursion(system.problem, system.dynamics, 0.5)
    >>> spectrum, tested, numeric = matrix_free_spectrum(system, recursion.apply, np.eye(3), 0.5)
    >>> round(spectrum.radius, 12), bool(np.allclose(tested, numeric))  # 2/3 + (1 − η)²/3
    (0.75, True)
    """
    radius, right, left = principal_moments(system, lr)
    modes = _normalised(
        psd_part(lift @ right @ lift.T), psd_part(lift @ left @ lift.T), lift @ lift.T
    )
    numeric = SecondMomentOperator(system)
    random = np.random.default_rng(0).standard_normal((lift.shape[1],) * 2)
    probes = np.array([right, left, random + random.T])
    tested = lift.T @ apply(lift @ probes @ lift.T) @ lift
    layout = numeric.layout
    expected = np.array([layout.unpack(numeric.apply(layout.pack(probe), lr)) for probe in probes])
    return Spectrum(radius, modes.right, modes.left), tested, expected


def predicted_spectrum(
    system: System, apply: StackOperator, lift: np.ndarray, lr: float, supplied: bool
) -> tuple[Spectrum, Comparison | None]:
    """``ρ`` and top modes of the operator under test, compared exactly with the numeric one.

    Dense up to ``DENSE_CHECK_SIZE`` ``svec`` coordinates (the whole reduced matrix is
    compared), matrix-free above (three probes are compared). Without a non-neutral
    state (``H = 0``), ``ρ = 0`` with ``Σ = I / md`` and no comparison.

    Parameters
    ----------
    system : System
        The bound problem and method.
    apply : callable
        The operator under test on stacks ``(k, md, md)``.
    lift : ndarray, shape (md, k)
        The reduced coordinates' orthonormal basis in the full ones.
    lr : float
        ``η``.
    supplied : bool
        Whether the operator under test is the user's (named in the comparison).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.checks._spectrum import predicted_spectrum
    >>> from stability.numeric import second_moment_recursion
    >>> from stability._system import bind
    >>> system = bind(Quadratic(np.diag([1.5, 0.1])), GD())
    >>> recursion = second_moment_recursion(system.problem, system.dynamics, 1.0)
    >>> spectrum, comparison = predicted_spectrum(system, recursion.apply, np.eye(2), 1.0, False)
    >>> round(spectrum.radius, 12), comparison.passed  # max (1 − λ)²
    (0.81, True)
    """
    state = lift.shape[0]
    if not lift.shape[1]:
        return Spectrum(0.0, np.eye(state) / state, np.eye(state)), None
    source = " (supplied)" if supplied else " (matrix-free)"
    if system.size > DENSE_CHECK_SIZE:
        spectrum, tested, numeric = matrix_free_spectrum(system, apply, lift, lr)
        name = "operator T(η) on three probes of svec(range H)"
        return spectrum, exact_comparison(name + source, "numeric–numeric", tested, numeric)
    predicted = reduced_matrix(apply, lift)
    numeric = reduced_operator(system.problem, system.dynamics).matrix(lr)
    comparison = exact_comparison(
        "operator T(η) on svec(range H)" + source, "numeric–numeric", predicted, numeric
    )
    return dense_spectrum(predicted, lift), comparison
