"""The whole floating-point range: thresholds scale exactly with the problem.

Multiplying every Hessian by ``s²`` (the data by ``s``) multiplies every map
``A = F ⊗ I + G(η) ⊗ H_B`` at ``η`` by nothing new at ``η / s²``: thresholds are exactly
``η*(unit) / s²`` (``docs/theory/models.md``). Problems are reduced in a copy scaled by a
power of two (exact in floating point) and, beyond ``2^±448``, stored normalised with the
factor in ``ReducedQuadratic.scale``, which the evaluators honour; where the answer itself
is not representable the problem is refused with :class:`~stability.errors.OutOfRangeError`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from stability import (
    GD,
    SGD,
    HeavyBall,
    Nesterov,
    OutOfRangeError,
    Quadratic,
    critical_learning_rate,
)

RNG = np.random.default_rng(20)
DATA = RNG.standard_normal((6, 4))
JACOBIANS = RNG.standard_normal((4, 2, 5))
HESSIANS = np.einsum("nki,nkj->nij", JACOBIANS, JACOBIANS)
METHODS = (GD(), SGD(2), SGD(3, replacement=True), HeavyBall(0.5, batch_size=2), Nesterov(0.6))


def _builders(s: float):
    """The same problem, scaled by ``s`` (data, Jacobians) or ``s²`` (Hessians, Grams)."""
    square = s * s
    return {
        "data": lambda: Quadratic.from_data(DATA * s),
        "gram": lambda: Quadratic.from_gram((DATA @ DATA.T) * square),
        "hessians": lambda: Quadratic.from_hessians(HESSIANS * square),
        "jacobians": lambda: Quadratic.from_jacobians(JACOBIANS * s),
        "block gram": lambda: Quadratic.from_gram(
            np.einsum("nai,mbi->namb", JACOBIANS, JACOBIANS) * square
        ),
        "hessian": lambda: Quadratic(HESSIANS.mean(axis=0) * square),
    }


UNIT = {name: build() for name, build in _builders(1.0).items()}


def _unit_thresholds(name: str) -> list[float]:
    problem = UNIT[name]
    methods = METHODS if problem.samples is not None else (GD(), HeavyBall(0.9))
    return [critical_learning_rate(problem, method) for method in methods]


# Scales whose Hessians stay inside the ordinary band (largest eigenvalue within 2^±448,
# about 1e±135): stored as they are, so every evaluator sees unscaled numbers.
ORDINARY_SCALES = [1e-65, 1e-50, 1e-30, 2.0**-40, 1e-8, 3.0, 1e8, 2.0**45, 1e30, 1e50, 1e65]


@pytest.mark.parametrize("name", sorted(UNIT))
@pytest.mark.parametrize("s", ORDINARY_SCALES)
def test_thresholds_scale_exactly_in_the_ordinary_band(name, s):
    problem = _builders(s)[name]()
    assert problem.reduced().scale == 1.0
    methods = METHODS if problem.samples is not None else (GD(), HeavyBall(0.9))
    for method, unit in zip(methods, _unit_thresholds(name), strict=True):
        assert critical_learning_rate(problem, method) == pytest.approx(unit / s**2, rel=1e-12)


EXTREME_SCALES = [1e-150, 1e-120, 1e-80, 1e80, 1e120, 1e150]


@pytest.mark.parametrize("name", sorted(UNIT))
@pytest.mark.parametrize("s", EXTREME_SCALES)
def test_extreme_problems_are_stored_normalised_and_exact(name, s):
    """Beyond 2^±448 the reduced problem keeps normalised Hessians and the factor apart."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or underflow on the way
        problem = _builders(s)[name]()
        reduced = problem.reduced()
        unit = UNIT[name].reduced()
    assert reduced.rank == unit.rank
    assert 0.5 <= reduced.eigenvalues[0] < 2.0
    exponent = math.log2(reduced.scale)
    assert exponent == round(exponent) and round(exponent) % 2 == 0  # an exact power of four
    ratio = reduced.scale / s**2  # the stored problem is the unit one times 1 / ratio
    np.testing.assert_allclose(reduced.eigenvalues * ratio, unit.eigenvalues, rtol=1e-13)
    np.testing.assert_allclose(np.abs(reduced.basis), np.abs(unit.basis), atol=1e-12)
    stored = reduced.per_sample_hessians() if reduced.samples is not None else None
    if stored is not None:
        np.testing.assert_allclose(
            stored * ratio, unit.per_sample_hessians(), atol=1e-13 * unit.eigenvalues[0]
        )
    assert problem.sharpness == pytest.approx(UNIT[name].sharpness * s**2, rel=1e-13)
    assert math.isfinite(problem.sharpness) and problem.sharpness > 0


@pytest.mark.parametrize("s", [1e-80, 1e80, 1e150])
def test_mean_hessian_of_extreme_data_is_formed_without_overflow(s):
    problem = Quadratic.from_data(DATA * s)
    np.testing.assert_allclose(problem.hessian, DATA.T @ DATA / 6 * s**2, rtol=1e-13)
    jacobians = Quadratic.from_jacobians(JACOBIANS * s)
    np.testing.assert_allclose(
        jacobians.hessian, HESSIANS.mean(axis=0) * s**2, rtol=1e-13, atol=1e-14 * s**2
    )


def test_huge_gram_and_hessians_are_accepted():
    """Issue 13: from_gram(K · 1e300) raised SciPy's ValueError; entries near the top of the
    range overflowed the symmetry check."""
    gram = DATA @ DATA.T
    problem = Quadratic.from_gram(gram * 1e300)
    assert problem.sharpness == pytest.approx(UNIT["gram"].sharpness * 1e300, rel=1e-13)
    near_top = Quadratic(np.array([[1e306, 5e305], [5e305, 1e306]]))
    assert near_top.sharpness == pytest.approx(1.5e306, rel=1e-13)
    # entries at the top of the range are checked (symmetry, definiteness, the mean) without
    # overflow; the sharpness 1.5e308 is beyond 2^1020 and refused when asked for
    top = Quadratic(np.array([[1e308, 5e307], [5e307, 1e308]]))
    with pytest.raises(OutOfRangeError, match="hessian"):
        top.sharpness  # noqa: B018
    stack = Quadratic.from_hessians(np.array([[[1e308]], [[1.2e308]]]))
    assert stack.hessian[0, 0] == pytest.approx(1.1e308, rel=1e-13)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Quadratic.from_data(DATA * 1e160),
        lambda: Quadratic.from_data(DATA * 1e-160),
        lambda: Quadratic.from_jacobians(JACOBIANS * 1e-170),
        lambda: Quadratic.from_hessians(HESSIANS * 1e-310),
        lambda: Quadratic(np.diag([1e-315, 0.0])),
        lambda: Quadratic(np.full((2, 2), 1.7e308)),
    ],
)
def test_unrepresentable_answers_are_refused_by_name(build):
    with pytest.raises(OutOfRangeError, match=r"largest eigenvalue .*1e-?3\d\d"):
        problem = build()
        problem.sharpness  # noqa: B018 - the reduction decides
        problem.reduced()


def test_data_whose_hessian_overflows_is_refused_when_the_hessian_is_asked_for():
    problem = Quadratic.from_data(DATA * 1e155)
    with pytest.raises(OutOfRangeError, match="Hessian"):
        problem.hessian  # noqa: B018


@pytest.mark.parametrize("name", sorted(UNIT))
@pytest.mark.parametrize("s", EXTREME_SCALES)
def test_thresholds_scale_exactly_over_the_whole_range(name, s):
    """Issue 13: η*(s) = η*(1) / s² to 1e-12 from 1e-150 to 1e150, for every route."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        problem = _builders(s)[name]()
        methods = METHODS if problem.samples is not None else (GD(), HeavyBall(0.9))
        values = [critical_learning_rate(problem, method) for method in methods]
    for value, unit in zip(values, _unit_thresholds(name), strict=True):
        assert math.isfinite(value) and value > 0
        assert value == pytest.approx(unit / s**2, rel=1e-12)
