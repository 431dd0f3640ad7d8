"""The symbolic second-moment operator and noise moment (``stability.symbolic._operators``).

Independent references: an exact enumeration of every batch with its probability
(fractions, no moment formula), the numeric layer's dense operator (bit-for-bit on dyadic
instances, where float arithmetic is exact), and closed forms in 1-D.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, AdditiveNoise, HeavyBall, LinearDynamics, Nesterov, Quadratic
from stability.errors import (
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    NotPositiveSemidefiniteError,
    NotSymmetricError,
    SizeLimitError,
)
from stability.methods import VariationalGD, gradient_step_dynamics
from stability.symbolic import (
    LEARNING_RATE,
    SymbolicQuadratic,
    as_symbolic_problem,
    from_data,
    noise_matrix,
    second_moment_operator,
    state_map,
    symbols_problem,
)

ETA = LEARNING_RATE


# ----------------------------------------------------------------------------- references


def batches(samples: int, batch_size: int | None, replacement: bool):
    """Every batch as (weights w with H_B = Σ w_i H_i, probability), exactly."""
    if batch_size is None:
        yield [Fraction(1, samples)] * samples, Fraction(1)
        return
    if not replacement:
        combos = list(itertools.combinations(range(samples), batch_size))
        for combo in combos:
            yield (
                [Fraction(1, batch_size) if i in combo else Fraction(0) for i in range(samples)],
                Fraction(1, len(combos)),
            )
        return
    for sequence in itertools.product(range(samples), repeat=batch_size):
        counts = [sequence.count(i) for i in range(samples)]
        yield [Fraction(c, batch_size) for c in counts], Fraction(1, samples**batch_size)


def polynomial_at(table, lr):
    """A coefficient table (``[k][i][j]`` of ``η^k``) evaluated at ``lr``."""
    size = len(table[0])
    return sympy.Matrix(
        size,
        size,
        lambda i, j: sum(sympy.nsimplify(table[k][i][j]) * lr**k for k in range(len(table))),
    )


def brute_force_operator(hessians, dynamics: LinearDynamics, lr) -> sympy.Matrix:
    """``Σ_B P(B) A_B ⊗ A_B`` over every batch, with ``A_B = F ⊗ I + G ⊗ H_B``."""
    d = hessians[0].shape[0]
    identity = polynomial_at(dynamics.identity_part.coefficients, lr)
    coefficient = polynomial_at(dynamics.hessian_part.coefficients, lr)
    total = None
    for weights, probability in batches(
        len(hessians), dynamics.batch.batch_size, dynamics.batch.replacement
    ):
        batch = sum(
            (
                sympy.Rational(w.numerator, w.denominator) * h
                for w, h in zip(weights, hessians, strict=True)
            ),
            sympy.zeros(d, d),
        )
        state = sympy.kronecker_product(identity, sympy.eye(d)) + sympy.kronecker_product(
            coefficient, batch
        )
        term = sympy.Rational(probability.numerator, probability.denominator) * (
            sympy.kronecker_product(state, state)
        )
        total = term if total is None else total + term
    return total


def brute_force_noise(hessians, dynamics: LinearDynamics, covariance: sympy.Matrix, lr):
    """``Σ_B P(B) B(H_B) Σ B(H_B)ᵀ`` with ``B(X) = u ⊗ I + w ⊗ X``."""
    d = hessians[0].shape[0]
    noise = dynamics.noise
    u = sympy.Matrix(
        [
            sum(sympy.nsimplify(c) * lr**k for k, c in enumerate(row))
            for row in noise.identity_coefficients
        ]
    )
    w = sympy.Matrix(
        [
            sum(sympy.nsimplify(c) * lr**k for k, c in enumerate(row))
            for row in noise.hessian_coefficients
        ]
    )
    total = sympy.zeros(len(u) * d, len(u) * d)
    for weights, probability in batches(
        len(hessians), dynamics.batch.batch_size, dynamics.batch.replacement
    ):
        batch = sum(
            (
                sympy.Rational(x.numerator, x.denominator) * h
                for x, h in zip(weights, hessians, strict=True)
            ),
            sympy.zeros(d, d),
        )
        lift = sympy.kronecker_product(u, sympy.eye(d)) + sympy.kronecker_product(w, batch)
        total += sympy.Rational(probability.numerator, probability.denominator) * (
            lift * covariance * lift.T
        )
    return total


# ----------------------------------------------------------------------------- strategies

DYADIC = st.integers(-6, 6).map(lambda k: sympy.Rational(k, 4))


@st.composite
def dyadic_hessians(draw, max_dimension: int = 2):
    """Per-sample Hessians x xᵀ + y yᵀ with dyadic entries; n ∈ {1, 2, 4} (exact floats)."""
    d = draw(st.integers(1, max_dimension))
    n = draw(st.sampled_from([1, 2, 4]))
    hessians = []
    for _ in range(n):
        x = sympy.Matrix([draw(DYADIC) for _ in range(d)])
        y = sympy.Matrix([draw(DYADIC) for _ in range(d)]) if draw(st.booleans()) else None
        h = x * x.T + (y * y.T if y is not None else sympy.zeros(d, d))
        hessians.append(h)
    return hessians


@st.composite
def dyadic_methods(draw, samples: int):
    """Methods whose batch weight p and momentum are dyadic (so floats stay exact)."""
    beta = draw(st.sampled_from([0, Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)]))
    laws = [(None, False), (1, True), (2, True), (4, True), (samples, False)]
    if samples == 2:
        laws.append((1, False))  # p = (n − B)/(B(n − 1)) = 1
    batch, replacement = draw(st.sampled_from(laws))
    kind = draw(st.sampled_from(["gd", "sgd", "heavy-ball", "nesterov"]))
    if kind == "gd" or (kind == "sgd" and batch is None):
        return GD()
    if kind == "sgd":
        return SGD(batch, replacement=replacement)
    method = HeavyBall if kind == "heavy-ball" else Nesterov
    return method(beta, batch_size=batch, replacement=replacement)


# ----------------------------------------------------------------------------- tests


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_operator_equals_numeric_operator_bit_for_bit_on_dyadic_instances(data) -> None:
    hessians = data.draw(dyadic_hessians())
    method = data.draw(dyadic_methods(len(hessians)))
    lr = data.draw(st.sampled_from([sympy.Rational(1, 4), sympy.Rational(1, 2), sympy.Integer(1)]))
    assert float(stability.symbolic.read_dynamics(method, len(hessians)).mixing) * 4 % 1 == 0
    symbolic = second_moment_operator(hessians, method, lr=lr)
    problem = Quadratic.from_hessians(np.array([np.array(h, dtype=float) for h in hessians]))
    numeric = stability.second_moment_operator(problem, method, float(lr))
    assert symbolic.shape == numeric.shape
    assert np.array_equal(np.array(symbolic, dtype=float), numeric)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_operator_equals_exact_enumeration_of_batches(data) -> None:
    d = data.draw(st.integers(1, 2))
    n = data.draw(st.integers(1, 3))
    rows = [
        [
            sympy.Rational(data.draw(st.integers(-3, 3)), data.draw(st.integers(1, 3)))
            for _ in range(d)
        ]
        for _ in range(n)
    ]
    problem = from_data(rows)
    replacement = data.draw(st.booleans())
    batch = data.draw(st.integers(1, n if not replacement else 3))
    beta = Fraction(data.draw(st.integers(0, 9)), 10)
    method = data.draw(
        st.sampled_from(
            [
                SGD(batch, replacement=replacement),
                HeavyBall(beta, batch_size=batch, replacement=replacement),
                Nesterov(beta, batch_size=batch, replacement=replacement),
            ]
        )
    )
    lr = sympy.Rational(data.draw(st.integers(1, 12)), 5)
    expected = brute_force_operator(problem.hessians, method.dynamics(), lr)
    assert second_moment_operator(problem, method, lr=lr) == expected


def test_operator_is_polynomial_in_the_learning_rate_symbol() -> None:
    h1, h2 = sympy.symbols("h1 h2", positive=True)
    operator = second_moment_operator([h1, h2], SGD(1))  # n = 2, B = 1: p = 1
    expected = ((1 - ETA * h1) ** 2 + (1 - ETA * h2) ** 2) / 2
    assert sympy.expand(operator[0, 0] - expected) == 0
    gd = second_moment_operator([h1, h2], GD())
    assert sympy.expand(gd[0, 0] - (1 - ETA * (h1 + h2) / 2) ** 2) == 0


def test_symbolic_mixing_weight_interpolates_gd_and_per_sample_terms() -> None:
    p = sympy.Symbol("p")
    problem = symbols_problem(1, 3)
    operator = second_moment_operator(problem, SGD(1), mixing=p)[0, 0]
    h = [m[0, 0] for m in problem.hessians]
    a = sum(h) / 3
    second = sum(x**2 for x in h) / 3
    assert sympy.expand(operator - (1 - 2 * ETA * a + ETA**2 * ((1 - p) * a**2 + p * second))) == 0


def test_full_batch_operator_is_kronecker_square_of_the_state_map() -> None:
    beta = sympy.Symbol("beta", positive=True)
    hessian = sympy.Matrix([[2, 1], [1, 3]])
    for method in (HeavyBall(beta), Nesterov(beta), GD()):
        state = state_map(hessian, method)
        difference = second_moment_operator([hessian], method) - sympy.kronecker_product(
            state, state
        )
        assert difference.applyfunc(sympy.expand).is_zero_matrix


def test_symmetric_restriction_acts_like_the_operator_on_symmetric_matrices() -> None:
    problem = from_data([[1, 2], [0, 1], [3, -1]])
    method = HeavyBall(Fraction(1, 3), batch_size=2)
    lr = sympy.Rational(1, 7)
    full = second_moment_operator(problem, method, lr=lr)
    restricted = second_moment_operator(problem, method, lr=lr, symmetric=True)
    size = 4
    pairs = stability.symbolic.symmetric_indices(size)
    assert restricted.shape == (len(pairs), len(pairs))
    moment = sympy.Matrix(size, size, lambda i, j: sympy.Rational(1 + i + j + i * j, 1 + i + j))
    image = (full * moment.reshape(size * size, 1)).reshape(size, size)
    coordinates = sympy.Matrix([moment[a, b] for a, b in pairs])
    assert restricted * coordinates == sympy.Matrix([image[a, b] for a, b in pairs])


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_noise_matrix_equals_exact_enumeration(data) -> None:
    n = data.draw(st.integers(1, 3))
    rows = [[sympy.Rational(data.draw(st.integers(-3, 3)), 2) for _ in range(2)] for _ in range(n)]
    problem = from_data(rows)
    variances = [sympy.Rational(data.draw(st.integers(0, 4)), 3) for _ in range(2)]
    replacement = data.draw(st.booleans())
    batch = data.draw(st.sampled_from([None, *range(1, n + 1)]))
    method = VariationalGD(
        tuple(float(v) for v in variances),
        samples=data.draw(st.integers(1, 3)),
        batch_size=batch,
        replacement=replacement,
    )
    lr = sympy.Rational(data.draw(st.integers(1, 9)), 4)
    covariance = sympy.diag(*variances) / method.samples
    expected = brute_force_noise(problem.hessians, method.dynamics(), covariance, lr)
    assert noise_matrix(problem, method, lr=lr) == expected


def test_noise_matrix_reads_any_additive_noise_generically() -> None:
    # a made-up method: momentum state map plus noise entering both blocks through u and w
    base = HeavyBall(Fraction(1, 2), batch_size=1).dynamics()
    noise = AdditiveNoise(
        identity_coefficients=((0, 1), (Fraction(1, 3),)),
        hessian_coefficients=((0, -1), (0,)),
        covariance=((2.0, 1.0), (1.0, 3.0)),
    )
    dynamics = LinearDynamics(
        base.name, base.identity_part, base.hessian_part, base.batch, noise, base.state
    )
    problem = from_data([[1, 0], [1, 2]])
    lr = sympy.Rational(2, 5)
    covariance = sympy.Matrix([[2, 1], [1, 3]])
    expected = brute_force_noise(problem.hessians, dynamics, covariance, lr)
    assert noise_matrix(problem, dynamics, lr=lr) == expected
    assert noise_matrix(problem, GD(), lr=lr) == sympy.zeros(2, 2)


def test_variational_noise_closed_form() -> None:
    lam, sigma2 = sympy.symbols("lambda sigma2", positive=True)
    noise = noise_matrix([lam], VariationalGD(sigma2, samples=3))
    assert sympy.simplify(noise[0, 0] - ETA**2 * lam**2 * sigma2 / 3) == 0


# ----------------------------------------------------------------------------- inputs


def test_input_forms_agree() -> None:
    rows = [[1.0, 0.0], [0.5, 2.0]]
    reference = from_data([[1, 0], [sympy.Rational(1, 2), 2]])
    forms = [
        as_symbolic_problem(Quadratic.from_data(np.array(rows))),
        as_symbolic_problem(Quadratic.from_hessians(np.array([np.outer(r, r) for r in rows]))),
        as_symbolic_problem([sympy.Matrix(np.outer(r, r)) for r in rows]),
        as_symbolic_problem(np.array([np.outer(r, r) for r in rows])),
        SymbolicQuadratic.from_hessians([np.outer(r, r).tolist() for r in rows]),
    ]
    for form in forms:
        assert form.hessians == reference.hessians
    one_d = as_symbolic_problem([1, 0.25, sympy.Rational(3, 2)])
    assert [h[0, 0] for h in one_d.hessians] == [1, sympy.Rational(1, 4), sympy.Rational(3, 2)]
    assert as_symbolic_problem(np.array([2.0, 3.0])).samples == 2
    assert as_symbolic_problem(sympy.Matrix([[1, 0], [0, 2]])).samples == 1
    assert as_symbolic_problem(Quadratic(np.diag([1.0, 3.0]))).hessian == sympy.diag(1, 3)


def test_floats_become_the_simplest_rational_that_rounds_to_them() -> None:
    problem = as_symbolic_problem([0.1, 1 / 3, 2.5])
    assert [h[0, 0] for h in problem.hessians] == [
        sympy.Rational(1, 10),
        sympy.Rational(1, 3),
        sympy.Rational(5, 2),
    ]
    value = 1.2345678912345  # no simple rational rounds to it: kept exactly
    assert float(as_symbolic_problem([value]).hessians[0][0, 0]) == value


def test_symbols_problem_structures() -> None:
    general = symbols_problem(2, 3)
    assert general.dimension == 2 and general.samples == 3 and not general.is_diagonal
    assert len(general.free_symbols) == 9
    diagonal = symbols_problem(3, 2, structure="diagonal")
    assert diagonal.is_diagonal and len(diagonal.free_symbols) == 6
    data = symbols_problem(2, 2, structure="data")
    x = data.hessians[0]
    assert sympy.expand(x.det()) == 0  # rank one
    assert all(s.is_positive for s in symbols_problem(1, 4).free_symbols)


@pytest.mark.parametrize(
    ("hessians", "error", "fragment"),
    [
        ([[[1, 2], [0, 1]]], NotSymmetricError, "hessians[0] must be symmetric"),
        ([[[1, 0], [0, -1]]], NotPositiveSemidefiniteError, "positive semi-definite"),
        ([[[1, 0], [0, 1]], [[1]]], DimensionError, "hessians[1] has shape"),
        ([[[1, 0, 0], [0, 1, 0]]], DimensionError, "must be square"),
        ([], DimensionError, "at least one"),
        ([1, [[1]]], InvalidTypeError, "mixes scalars and matrices"),
        ("abc", InvalidTypeError, "hessians must be"),
        ([-1], NotPositiveSemidefiniteError, "positive semi-definite"),
        ([sympy.I], InvalidInputError, "must be real"),
    ],
)
def test_bad_problems_raise_the_package_errors(hessians, error, fragment) -> None:
    with pytest.raises(error, match=None) as raised:
        second_moment_operator(hessians, GD())
    assert fragment in str(raised.value)


def test_bad_arguments_raise_the_package_errors() -> None:
    with pytest.raises(InvalidInputError, match="mixing must lie in"):
        second_moment_operator([1, 2], SGD(1), mixing=2)
    with pytest.raises(InvalidInputError, match="lr must be positive"):
        second_moment_operator([1, 2], GD(), lr=-1)
    with pytest.raises(InvalidInputError, match="batch_size must be at most"):
        second_moment_operator([1, 2], SGD(3))
    with pytest.raises(InvalidTypeError, match="method must be"):
        second_moment_operator([1, 2], "sgd")
    with pytest.raises(InvalidInputError, match="structure must be"):
        symbols_problem(2, 2, structure="banded")


def test_size_guards_refuse_up_front() -> None:
    with pytest.raises(SizeLimitError, match="numeric layer"):
        symbols_problem(9, 2)
    with pytest.raises(SizeLimitError, match="samples"):
        symbols_problem(1, 17)
    with pytest.raises(SizeLimitError, match=r"stability\.second_moment_operator"):
        second_moment_operator(symbols_problem(4, 2), HeavyBall(sympy.Symbol("beta")))
    big = [sympy.eye(32)]
    with pytest.raises(SizeLimitError, match="d=32"):
        second_moment_operator(big, GD())
    assert math.isfinite(stability.symbolic._operators.MAX_SYMBOLIC_OPERATOR_WORK)


def test_operator_of_custom_dynamics_without_a_method_class() -> None:
    from stability.dynamics import BatchLaw

    dynamics = gradient_step_dynamics("Custom", BatchLaw(1, replacement=True))
    assert second_moment_operator([1, 3], dynamics, lr=sympy.Rational(1, 2)) == sympy.Matrix(
        [[sympy.Rational(1, 4)]]
    )
