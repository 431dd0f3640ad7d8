"""High-precision (mpmath) thresholds: the same eigenvalue problems at any number of digits.

Theory: ``docs/theory/operator.md`` and ``docs/theory/threshold.md``. The float input is converted
to mpmath numbers exactly; the reduction to ``range(H)``, the second-moment operator and its
eigenvalue problem are then all carried out at ``precision`` decimal digits. The operator is the
package's one implementation (:class:`~stability.numeric.SecondMomentOperator`)
run on arrays of mpmath numbers; independent references live in the tests (dense brute
force, the symbolic layer, Monte Carlo). It serves near degenerate spectra, where float
eigen-solvers lose digits, and ``certify=True``.

For gradient steps ``I − g η H_B`` the threshold is ``2 / (g λ_max(C^{-1/2} D C^{-1/2}))``
(Mulayoff & Michaeli 2023); otherwise it is the smallest positive real root of
``det(T(η) − I)``, found from the companion matrix of the matrix polynomial after the
exact deflation of the trivial roots at ``η = 0`` (see :mod:`stability.numeric`).
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np

from stability._system import System, bind
from stability._validation import check_positive_integer
from stability.errors import InvalidInputError, SizeLimitError
from stability.numeric._operator import SecondMomentOperator, SymmetricLayout
from stability.problems import Quadratic

__all__ = ["MAX_PRECISION_DIGITS", "MAX_PRECISION_SIZE", "high_precision_critical_learning_rate"]

#: Largest eigenvalue-problem dimension the mpmath route accepts.
MAX_PRECISION_SIZE = 60
#: Largest number of decimal digits accepted by ``precision=`` (mpmath's dense eigen-solvers
#: cost grows about quadratically with the digits; 1000 digits take seconds on small problems).
MAX_PRECISION_DIGITS = 1000


def _matrix(rows: list[list[Any]]) -> mpmath.matrix:
    return mpmath.matrix(rows)


def _reduce(problem: Quadratic) -> tuple[list[Any], mpmath.matrix, list[mpmath.matrix]]:
    """Eigenvalues of ``H`` on its range, the range basis and the reduced per-sample Hessians."""
    d = problem.dimension
    if problem.data is not None:
        rows = [[mpmath.mpf(float(v)) for v in row] for row in problem.data]
        samples = [_matrix([[x] for x in row]) for row in rows]
        per_sample = [x * x.T for x in samples]
    elif problem.samples is not None:
        per_sample = [
            _matrix([[mpmath.mpf(float(v)) for v in row] for row in h])
            for h in problem.per_sample_hessians()
        ]
    else:
        per_sample = [_matrix([[mpmath.mpf(float(v)) for v in row] for row in problem.hessian])]
    hessian = mpmath.matrix(d, d)
    for h in per_sample:
        hessian += h
    hessian /= len(per_sample)
    eigenvalues, vectors = mpmath.eigsy(hessian)
    order = sorted(range(d), key=lambda k: -eigenvalues[k])
    top = eigenvalues[order[0]] if d else mpmath.mpf(0)
    cutoff = abs(top) * mpmath.mpf(10) ** (-(mpmath.mp.dps // 2))
    keep = [k for k in order if eigenvalues[k] > cutoff]
    basis = mpmath.matrix(d, len(keep))
    for column, k in enumerate(keep):
        for row in range(d):
            basis[row, column] = vectors[row, k]
    reduced = [basis.T * h * basis for h in per_sample] if keep else []
    return [eigenvalues[k] for k in keep], basis, reduced


def _exact(value: Any) -> Any:
    """A coefficient as an exact mpmath-friendly number."""
    if hasattr(value, "numerator") and hasattr(value, "denominator"):
        return mpmath.mpf(int(value.numerator)) / int(value.denominator)
    if hasattr(value, "free_symbols"):
        if value.free_symbols:
            raise InvalidInputError(
                "the mpmath route needs numeric method parameters; got a symbolic coefficient"
            )
        return mpmath.mpf(str(value.evalf(mpmath.mp.dps + 5)))
    return mpmath.mpf(value)


def _operator(
    system: System, eigenvalues: list[Any], per_sample: list[mpmath.matrix], mixing: Any
) -> SecondMomentOperator:
    """The one second-moment operator on mpmath numbers (``dtype=object``)."""
    rank = len(eigenvalues)
    hessians = np.empty((len(per_sample), rank, rank), dtype=object)
    for index, hessian in enumerate(per_sample):
        for i in range(rank):
            for j in range(rank):
                hessians[index, i, j] = hessian[i, j]
    dynamics = system.dynamics

    def table(polynomial: Any) -> np.ndarray:
        degree = max(dynamics.degree, 1)
        size = polynomial.size
        result = np.empty((degree + 1, size, size), dtype=object)
        result[...] = mpmath.mpf(0)
        for power, matrix in enumerate(polynomial.coefficients):
            for i, row in enumerate(matrix):
                for j, value in enumerate(row):
                    result[power, i, j] = mpmath.mpf(_exact(value))
        return result

    return SecondMomentOperator(
        system,
        dtype=object,
        eigenvalues=np.array(eigenvalues, dtype=object),
        hessians=hessians,
        mixing=mixing,
        identity=table(dynamics.identity_part),
        hessian=table(dynamics.hessian_part),
        rate_factor=1.0,
    )


def _gradient_route(operator: SecondMomentOperator, scale: Any) -> Any:
    """``2 / (g λ_max(C^{-1/2} D C^{-1/2}))`` with ``D`` from the one operator."""
    noise = operator.noise_curvature(shift=0)
    layout = SymmetricLayout(operator.rank, dtype=object)
    left, right = layout.pairwise(operator.eigenvalues)
    roots = [mpmath.sqrt((a + b) / 2) for a, b in zip(left, right, strict=True)]
    size = len(roots)
    scaled = mpmath.matrix(size, size)
    for row in range(size):
        for column in range(size):
            scaled[row, column] = noise[row, column] / (roots[row] * roots[column])
    top = max(mpmath.eigsy(scaled, eigvals_only=True))
    if top <= 0:
        return mpmath.inf
    return 2 / (scale * top)


def _deflate(coefficients: list[mpmath.matrix]) -> list[mpmath.matrix]:
    """Remove the zero roots exactly, as in :mod:`stability.numeric`."""
    size = coefficients[0].rows
    scale = max(mpmath.mpf(1), *(mpmath.mnorm(p, 1) for p in coefficients))
    tolerance = scale * mpmath.mpf(10) ** (-(mpmath.mp.dps // 2))
    for _ in range(size * len(coefficients) + 1):
        left, singular, _ = mpmath.svd_r(coefficients[0])
        order = sorted(range(size), key=lambda k: -singular[k])
        rank = sum(1 for k in order if singular[k] > tolerance)
        if rank == size:
            return coefficients
        rotation = mpmath.matrix(size, size)
        for column, k in enumerate(order):
            for row in range(size):
                rotation[row, column] = left[row, k]
        rotated = [rotation.T * p for p in coefficients]
        shifted = []
        for power in range(len(coefficients)):
            matrix = mpmath.matrix(size, size)
            for row in range(size):
                source = rotated[power] if row < rank else (
                    rotated[power + 1] if power + 1 < len(rotated) else None
                )
                if source is not None:
                    for column in range(size):
                        matrix[row, column] = source[row, column]
            shifted.append(matrix)
        while len(shifted) > 1 and mpmath.mnorm(shifted[-1], 1) == 0:
            shifted.pop()
        coefficients = shifted
    raise InvalidInputError("det(T(η) − I) vanishes for every η on the reduced subspace")


def _polynomial_route(powers: list[mpmath.matrix], sharpness: Any) -> Any:
    size = powers[0].rows
    coefficients = [p / sharpness**q for q, p in enumerate(powers)]  # in ν = η λ_max
    coefficients[0] -= mpmath.eye(size)
    coefficients = _deflate(coefficients)
    degree = len(coefficients) - 1
    if degree == 0:
        return mpmath.inf
    if degree * size > MAX_PRECISION_SIZE:
        raise SizeLimitError(
            f"the high-precision polynomial eigenvalue problem would have dimension "
            f"{degree * size} (limit {MAX_PRECISION_SIZE}); use the float route"
        )
    # reversed polynomial in μ = 1/ν has the invertible leading coefficient P_0
    inverse = mpmath.inverse(coefficients[0])
    companion = mpmath.matrix(degree * size, degree * size)
    for block in range(degree - 1):
        for i in range(size):
            companion[block * size + i, (block + 1) * size + i] = 1
    for k in range(1, degree + 1):
        block = -inverse * coefficients[k]
        column = (degree - k) * size
        for i in range(size):
            for j in range(size):
                companion[(degree - 1) * size + i, column + j] = block[i, j]
    eigenvalues = mpmath.eig(companion, left=False, right=False)
    tiny = mpmath.mpf(10) ** (-(mpmath.mp.dps // 3))
    largest = None
    for mu in eigenvalues:
        if abs(mpmath.im(mu)) <= tiny * abs(mu) and mpmath.re(mu) > tiny:
            largest = mpmath.re(mu) if largest is None else max(largest, mpmath.re(mu))
    return mpmath.inf if largest is None else 1 / (largest * sharpness)


def high_precision_critical_learning_rate(
    problem: Quadratic, method: Any, *, precision: int = 50
) -> Any:
    """The exact critical learning rate computed with mpmath at ``precision`` digits.

    Parameters
    ----------
    problem : Quadratic
        A small problem (the eigenvalue problem must have dimension at most
        :data:`MAX_PRECISION_SIZE`).
    method : Method or LinearDynamics
        The optimiser; its parameters must be numbers.
    precision : int, default 50
        Decimal digits, at most :data:`MAX_PRECISION_DIGITS` (1000).

    Returns
    -------
    mpmath.mpf
        ``η*`` (``mpmath.inf`` when every rate is stable); ``float()`` converts it.

    Raises
    ------
    SizeLimitError
        If the problem is too large for mpmath.

    Examples
    --------
    >>> import mpmath
    >>> from stability import SGD, Quadratic, critical_learning_rate
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> rate = critical_learning_rate(problem, SGD(1), precision=40)
    >>> mpmath.nstr(rate, 40)  # 3 − √3
    '1.267949192431122706472553658494127633057'
    >>> float(rate)
    1.2679491924311228
    """
    system = bind(problem, method)
    problem, dynamics = system.problem, system.dynamics
    precision = check_positive_integer(precision, "precision")
    if precision > MAX_PRECISION_DIGITS:
        raise InvalidInputError(
            f"precision must be at most {MAX_PRECISION_DIGITS} decimal digits; got {precision}"
        )
    mixing_fraction = dynamics.batch.mixing(problem.samples)
    with mpmath.workdps(precision + 15):
        mixing = mpmath.mpf(mixing_fraction.numerator) / mixing_fraction.denominator
        eigenvalues, _, per_sample = _reduce(problem)
        rank = len(eigenvalues)
        if rank == 0:
            return mpmath.inf
        state = dynamics.blocks * rank
        size = state * (state + 1) // 2
        if size > MAX_PRECISION_SIZE:
            raise SizeLimitError(
                f"the high-precision eigenvalue problem would have dimension {size} "
                f"(limit {MAX_PRECISION_SIZE}); use the float route (precision=None)"
            )
        operator = _operator(system, eigenvalues, per_sample, mixing)
        scale = dynamics.gradient_step_scale()
        if scale is not None:
            result = _gradient_route(operator, _exact(scale))
        else:
            coefficients = operator.coefficients()
            powers = [mpmath.matrix(power.tolist()) for power in coefficients]
            result = _polynomial_route(powers, max(eigenvalues))
    if result == mpmath.inf:
        return mpmath.inf
    with mpmath.workdps(precision):
        return +result
