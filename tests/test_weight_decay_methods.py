"""Weight decay on every method, against recursions written from the optimisers' own updates.

docs/theory/weight-decay.md. The reference here never reads a method's compiled
``LinearDynamics``: each method's update is written out in the original coordinates
(``δ`` and the method's second state: ``δ_{t−1}``, Adam's ``m`` or RMSProp's momentum buffer),
with the preconditioner ``P`` applied as ``P⁻¹`` and the weight decay where ``torch.optim``
puts it (coupled: inside the gradient; AdamW: ``θ ← θ − η μ θ`` outside ``P⁻¹``). Its full
second-moment operator ``Σ_B Pr(B) A_B ⊗ A_B`` (every batch enumerated by
``tests/brute_force.py``, no reduction, no symmetry) gives the reference radii and, by
bisection, the reference thresholds. Problems are full rank, so that ``ρ`` of the unreduced
operator is the quantity the package reports.

Other references: the equivalent plain problems (to 1e-12), full-batch and one-dimensional
closed forms, the symbolic layer and Monte Carlo.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, HeavyBall, Nesterov, Quadratic, VariationalGD
from stability.dynamics import BatchLaw, LinearDynamics, MatrixPolynomial
from stability.methods import Adam, AdamW, RMSProp
from stability.preconditioning import congruent, symbolic_congruent
from tests import brute_force

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = (
    "gd",
    "sgd",
    "sgd-replacement",
    "sgd-preconditioned",
    "heavy-ball",
    "nesterov",
    "variational",
    "rmsprop",
    "rmsprop-momentum",
    "adam",
    "adamw",
)


# ------------------------------------------------------------------ the optimisers' updates
def _inverse(preconditioner: np.ndarray | None, dimension: int) -> np.ndarray:
    if preconditioner is None:
        return np.eye(dimension)
    matrix = np.asarray(preconditioner, dtype=float)
    return np.linalg.inv(np.diag(matrix) if matrix.ndim == 1 else matrix)


def raw_state_map(kind: str, lr: float, batch: np.ndarray, case: dict) -> np.ndarray:
    """One step of the method's update on the batch Hessian, as a matrix on its own state."""
    d = batch.shape[0]
    eye, zero = np.eye(d), np.zeros((d, d))
    mu, beta = case["decay"], case["beta"]
    inverse = _inverse(case["preconditioner"], d)
    gradient = batch + mu * eye  # coupled decay: ∇(L_B + μ‖θ‖²/2) = (H_B + μ I) δ
    if kind in ("gd", "sgd", "sgd-replacement", "sgd-preconditioned", "variational", "rmsprop"):
        return eye - lr * inverse @ gradient  # δ ← δ − η P⁻¹ (g_B + μ δ)
    if kind == "heavy-ball":  # δ' = δ − η g + β (δ − δ₋)
        return np.block([[(1 + beta) * eye - lr * gradient, -beta * eye], [eye, zero]])
    if kind == "nesterov":  # y = δ + β (δ − δ₋), δ' = y − η g(y)
        step = eye - lr * gradient
        return np.block([[(1 + beta) * step, -beta * step], [eye, zero]])
    if kind == "rmsprop-momentum":  # b' = β b + P⁻¹ g, δ' = δ − η b'  (torch.optim.RMSprop)
        buffer = np.hstack([inverse @ gradient, beta * eye])
        return np.vstack([np.hstack([eye, zero]) - lr * buffer, buffer])
    if kind in ("adam", "adamw"):  # m' = β m + (1 − β) g, δ' = δ − η P⁻¹ m' − η μ_d δ
        coupled = kind == "adam"
        g = batch + (mu * eye if coupled else zero)
        moment = np.hstack([(1 - beta) * g, beta * eye])
        decay = zero if coupled else mu * eye
        top = np.hstack([eye - lr * decay, zero]) - lr * inverse @ moment
        return np.vstack([top, moment])
    raise AssertionError(kind)


def build(kind: str, case: dict, decay) -> stability.methods.Method:
    """The package's method of ``kind`` with weight decay ``decay``."""
    batch, beta, preconditioner = case["batch"], case["beta"], case["preconditioner"]
    if kind == "gd":
        return GD(weight_decay=decay)
    if kind == "sgd":
        return SGD(batch, weight_decay=decay)
    if kind == "sgd-replacement":
        return SGD(batch, replacement=True, weight_decay=decay)
    if kind == "sgd-preconditioned":
        return SGD(batch, weight_decay=decay, preconditioner=preconditioner)
    if kind == "heavy-ball":
        return HeavyBall(beta, batch, weight_decay=decay)
    if kind == "nesterov":
        return Nesterov(beta, batch, replacement=True, weight_decay=decay)
    if kind == "variational":
        return VariationalGD(0.3, batch_size=batch, weight_decay=decay)
    if kind == "rmsprop":
        return RMSProp(preconditioner, batch, weight_decay=decay)
    if kind == "rmsprop-momentum":
        return RMSProp(preconditioner, batch, momentum=beta, weight_decay=decay)
    if kind == "adam":
        return Adam(beta, preconditioner, batch, weight_decay=decay)
    if kind == "adamw":
        return AdamW(beta, preconditioner, batch, weight_decay=decay)
    raise AssertionError(kind)


def _batch_law(kind: str, case: dict) -> tuple[int | None, bool]:
    if kind == "gd":
        return None, False
    return case["batch"], kind in ("sgd-replacement", "nesterov")


def raw_operator(kind: str, case: dict, lr: float) -> np.ndarray:
    """``E[A_B ⊗ A_B]`` of the raw update, every batch enumerated (unreduced, dense)."""
    stack = case["hessians"]
    batch_size, replacement = _batch_law(kind, case)
    total = 0.0
    for weights, probability in brute_force.batch_distribution(len(stack), batch_size, replacement):
        state_map = raw_state_map(kind, lr, np.tensordot(weights, stack, axes=1), case)
        total = total + probability * np.kron(state_map, state_map)
    return total


def raw_radius(kind: str, case: dict, lr: float) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(raw_operator(kind, case, lr)))))


def raw_threshold(kind: str, case: dict, relative: float = 1e-12) -> float:
    """Bisection on the raw radius: the largest η below which ρ ≤ 1 (a reference only)."""
    low, high = 0.0, 1.0 / case["scale"]
    while raw_radius(kind, case, high) <= 1.0:
        low, high = high, 2 * high
    while high - low > relative * high:
        middle = 0.5 * (low + high)
        if raw_radius(kind, case, middle) <= 1.0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def evaluate(function: Callable, problem: Quadratic, method, *arguments):
    """An evaluator on the pair every evaluator reads (the congruent one when ``P`` is set)."""
    return function(*congruent(problem, method), *arguments)


def _root(preconditioner, dimension: int) -> np.ndarray:
    """``P^{−1/2}``, from the eigendecomposition (a diagonal ``P`` entrywise)."""
    matrix = np.asarray(preconditioner, dtype=float)
    if matrix.ndim == 1:
        return np.diag(matrix**-0.5)
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * values**-0.5) @ vectors.T


# ------------------------------------------------------------------ random cases
@st.composite
def cases(draw, kinds=KINDS):
    """A full-rank problem, μ > 0 (relative to λ_max), β, B, an SPD or diagonal P, a method."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    dimension = draw(st.integers(1, 2))
    samples = draw(st.integers(2, 4))
    factors = rng.standard_normal((samples, dimension + 1, dimension))
    stack = np.einsum("nki,nkj->nij", factors, factors) / (dimension + 1)
    scale = float(np.linalg.eigvalsh(stack.mean(axis=0))[-1])
    if draw(st.booleans()):
        root = rng.standard_normal((dimension, dimension))
        preconditioner = root @ root.T + 0.5 * np.eye(dimension)
    else:
        preconditioner = rng.uniform(0.3, 3.0, dimension)
    case = {
        "hessians": stack,
        "scale": scale,
        "decay": draw(st.floats(0.01, 1.5)) * scale,
        "beta": draw(st.sampled_from([0.0, 0.3, 0.6, 0.9])),
        "batch": draw(st.integers(1, samples)),
        "preconditioner": preconditioner,
        "kind": draw(st.sampled_from(kinds)),
    }
    if case["kind"] in ("sgd", "sgd-replacement", "heavy-ball", "nesterov", "variational", "gd"):
        case["preconditioner"] = None
    return case


def _problem(case: dict) -> Quadratic:
    return Quadratic.from_hessians(case["hessians"])


# ------------------------------------------------------------------ every method takes μ
@pytest.mark.parametrize("kind", KINDS)
def test_every_method_takes_weight_decay_and_it_changes_the_dynamics(kind):
    case = {"batch": 2, "beta": 0.5, "preconditioner": np.array([2.0, 0.5])}
    if kind in ("sgd", "sgd-replacement", "heavy-ball", "nesterov", "variational", "gd"):
        case["preconditioner"] = None
    decayed, plain = build(kind, case, 0.25), build(kind, case, 0)
    assert decayed.weight_decay == Fraction(1, 4)
    assert decayed.dynamics() != plain.dynamics()
    assert build(kind, case, 0.0).dynamics() == plain.dynamics()
    assert "weight_decay=" in repr(decayed) and "weight_decay" not in repr(plain)


@PROPERTY
@given(cases(), st.floats(0.2, 1.3))
def test_radius_equals_the_raw_update(case, fraction):
    # every method with μ > 0 and its preconditioner, against its own update rule
    kind, problem = case["kind"], _problem(case)
    method = build(kind, case, case["decay"])
    lr = fraction * evaluate(stability.critical_learning_rate, problem, method)
    ours = evaluate(stability.spectral_radius, problem, method, lr)
    assert ours == pytest.approx(raw_radius(kind, case, lr), rel=1e-9, abs=1e-12)


@PROPERTY
@given(cases())
def test_threshold_equals_the_raw_update(case):
    kind, problem = case["kind"], _problem(case)
    method = build(kind, case, case["decay"])
    ours = evaluate(stability.critical_learning_rate, problem, method)
    assert ours == pytest.approx(raw_threshold(kind, case), rel=1e-9)
    # the compiled description's own brute force (tests/brute_force.py) agrees too
    shifted, dynamics = congruent(problem, method)
    reference = brute_force.threshold(np.asarray(shifted.per_sample_hessians()), dynamics)
    assert ours == pytest.approx(reference, rel=1e-9)


# ------------------------------------------------------------------ the equivalent plain problems
def _shifted_congruent(case: dict, decay: float) -> Quadratic:
    """``P^{−1/2} (H_i + μ I) P^{−1/2}``, built here (no package code)."""
    stack = case["hessians"]
    dimension = stack.shape[1]
    root = (
        np.eye(dimension)
        if case["preconditioner"] is None
        else _root(case["preconditioner"], dimension)
    )
    return Quadratic.from_hessians(root @ (stack + decay * np.eye(dimension)) @ root)


@PROPERTY
@given(cases(kinds=tuple(kind for kind in KINDS if kind != "adamw")))
def test_coupled_decay_is_the_plain_method_on_the_shifted_congruent_problem(case):
    # coupled decay enters the gradient, before P⁻¹: H̃_i = P^{−1/2} (H_i + μ I) P^{−1/2}
    kind, problem = case["kind"], _problem(case)
    decayed = evaluate(stability.critical_learning_rate, problem, build(kind, case, case["decay"]))
    plain_case = {**case, "preconditioner": None}
    plain = stability.critical_learning_rate(
        _shifted_congruent(case, case["decay"]), build(kind, plain_case, 0)
    )
    assert decayed == pytest.approx(plain, rel=1e-12)


@PROPERTY
@given(cases(kinds=("adamw",)))
def test_decoupled_decay_is_adamw_on_the_unshifted_congruent_problem(case):
    # decoupled decay acts on δ outside P⁻¹, so u = P^{1/2} δ decays by the same μ: the
    # congruent Hessians are P^{−1/2} H_i P^{−1/2}, without μ
    problem = _problem(case)
    decayed = evaluate(
        stability.critical_learning_rate, problem, build("adamw", case, case["decay"])
    )
    congruent_only = _shifted_congruent(case, 0.0)
    plain_case = {**case, "preconditioner": None}
    same = stability.critical_learning_rate(
        congruent_only, build("adamw", plain_case, case["decay"])
    )
    assert decayed == pytest.approx(same, rel=1e-12)


def _heavy_ball(momentum: float, batch: int, decay: float) -> LinearDynamics:
    """Heavy ball with any real momentum (negative included), on ``H_B + μ I``."""
    return LinearDynamics(
        "heavy ball",
        MatrixPolynomial.from_matrices([[[1 + momentum, -momentum], [1, 0]]]),
        MatrixPolynomial.from_matrices([[[0, 0], [0, 0]], [[-1, 0], [0, 0]]]),
        BatchLaw(batch),
        state=("δ_t", "δ_{t-1}"),
    ).with_hessian_shift(decay)


@PROPERTY
@given(cases(kinds=("adamw",)), st.floats(0.2, 1.0))
def test_adamw_is_heavy_ball_with_a_rate_dependent_momentum(case, fraction):
    # AdamW at (η, β₁, μ) is heavy ball on H̃_i + μ I with momentum β₁(1 − ημ) and learning
    # rate η(1 − β₁) (docs/theory/weight-decay.md): no fixed shift is equivalent. The two
    # radii agree at every η, and at η = η*_AdamW the heavy ball's radius is one.
    plain_case = {**case, "preconditioner": None}
    problem = _shifted_congruent(case, 0.0)
    beta, decay = case["beta"], case["decay"]
    adamw = build("adamw", plain_case, decay)
    lr = fraction * stability.critical_learning_rate(problem, adamw)
    heavy_ball = _heavy_ball(beta * (1 - lr * decay), case["batch"], decay)
    assert stability.spectral_radius(problem, heavy_ball, lr * (1 - beta)) == pytest.approx(
        stability.spectral_radius(problem, adamw, lr), rel=1e-9
    )
    if fraction == 1.0:
        assert stability.spectral_radius(problem, adamw, lr) == pytest.approx(1.0, abs=1e-9)


def test_decoupled_and_coupled_decay_differ():
    # the same μ: AdamW decays by η μ per step, Adam by η (1 − β₁) μ through the average,
    # so AdamW is the more stable (38/(λ + 19 μ) against 38/(λ + μ) at β₁ = 0.9)
    problem = Quadratic(np.diag([2.0, 1.0]))
    adam = stability.critical_learning_rate(problem, Adam(0.9, weight_decay=0.5))
    adamw = stability.critical_learning_rate(problem, AdamW(0.9, weight_decay=0.5))
    assert adam == pytest.approx(38 / 2.5, rel=1e-12)
    assert adamw == pytest.approx(38 / (2 + 19 * 0.5), rel=1e-12)


def test_coupled_decay_with_a_preconditioner_is_not_a_shift_of_the_congruent_problem():
    # P^{−1/2}(H + μI)P^{−1/2} ≠ P^{−1/2} H P^{−1/2} + μ I unless P ∝ I: the difference is real
    problem = Quadratic(np.diag([4.0, 1.0]))
    method = RMSProp([4.0, 0.25], weight_decay=1.0)  # P⁻¹(H + μ) = diag(5/4, 8)
    exact = evaluate(stability.critical_learning_rate, problem, method)
    assert exact == pytest.approx(2 / 8, rel=1e-12)
    wrong = stability.critical_learning_rate(Quadratic(np.diag([1.0, 4.0])), GD(weight_decay=1.0))
    assert wrong == pytest.approx(2 / 5, rel=1e-12)


# ------------------------------------------------------------------ closed forms
@given(
    st.lists(st.floats(0.05, 5.0), min_size=1, max_size=3),
    st.lists(st.floats(0.2, 5.0), min_size=3, max_size=3),
    st.floats(0.0, 3.0),
    st.floats(0.0, 0.95),
)
@settings(max_examples=40, deadline=None)
def test_full_batch_closed_forms_of_the_adaptive_methods(curvatures, diagonal, decay, beta):
    # with K = P⁻¹(H + μI) and K₀ = P⁻¹H (diagonal P, diagonal H):
    #   SGD(P, B = n) and RMSProp: 2 / λ_max(K);  RMSProp with momentum β: 2(1 + β)/λ_max(K)
    #   Adam: (2 + 2β₁)/((1 − β₁) λ_max(K));  AdamW: 2(1 + β₁)/((1 − β₁) λ_max(K₀) + (1 + β₁) μ)
    size = len(curvatures)
    hessian = np.array(curvatures)
    scaling = np.array(diagonal[:size])
    problem = Quadratic.from_hessians(np.array([np.diag(hessian)] * 2))
    shifted = float(np.max((hessian + decay) / scaling))
    cases_ = [
        (SGD(2, weight_decay=decay, preconditioner=scaling), 2 / shifted),
        (RMSProp(scaling, weight_decay=decay), 2 / shifted),
        (RMSProp(scaling, momentum=beta, weight_decay=decay), 2 * (1 + beta) / shifted),
        (Adam(beta, scaling, weight_decay=decay), (2 + 2 * beta) / ((1 - beta) * shifted)),
    ]
    for method, expected in cases_:
        value = evaluate(stability.critical_learning_rate, problem, method)
        assert value == pytest.approx(expected, rel=1e-10)
    # AdamW: direction k of K₀ is stable while η ((1 − β₁) κ_k + (1 + β₁) μ) < 2 (1 + β₁)
    top = float(np.max(hessian / scaling))
    expected = 2 * (1 + beta) / ((1 - beta) * top + (1 + beta) * decay)
    value = evaluate(
        stability.critical_learning_rate, problem, AdamW(beta, scaling, weight_decay=decay)
    )
    assert value == pytest.approx(expected, rel=1e-10)


@given(
    st.lists(st.floats(0.0, 5.0), min_size=2, max_size=5).filter(lambda h: sum(h) > 0.1),
    st.floats(0.0, 3.0),
    st.integers(1, 5),
    st.floats(0.2, 5.0),
)
@settings(max_examples=40, deadline=None)
def test_one_dimensional_preconditioned_sgd_closed_form(curvatures, decay, batch, scaling):
    # in 1-D, P = c: SGD on (h_i + μ)/c, η* = c · 2 (h̄ + μ) / ((h̄ + μ)² + p Var h)
    values = np.array(curvatures)
    problem = Quadratic.from_hessians(values[:, None, None])
    method = SGD(batch, replacement=True, weight_decay=decay, preconditioner=[scaling])
    mean = values.mean() + decay
    expected = scaling * 2 * mean / (mean**2 + values.var() / batch)
    value = evaluate(stability.critical_learning_rate, problem, method)
    assert value == pytest.approx(expected, rel=1e-10)


# ------------------------------------------------------------------ symbolic layer
def test_symbolic_one_dimensional_closed_forms_with_a_symbolic_decay():
    h, mu, beta = sympy.symbols("h mu beta", positive=True)
    one = sympy.Matrix([[h]])
    half = sympy.Rational(1, 2)
    nine = sympy.Rational(9, 10)
    expected = {
        HeavyBall(beta, weight_decay=mu): 2 * (1 + beta) / (h + mu),
        Nesterov(half, weight_decay=mu): 2 * (1 + half) / ((1 + 2 * half) * (h + mu)),
        RMSProp(momentum=half, weight_decay=mu): 2 * (1 + half) / (h + mu),
        Adam(nine, weight_decay=mu): (2 + 2 * nine) / ((1 - nine) * (h + mu)),
        AdamW(nine, weight_decay=mu): 2 * (1 + nine) / ((1 - nine) * h + (1 + nine) * mu),
    }
    for method, closed in expected.items():
        exact = stability.symbolic.critical_learning_rate(one, method)
        assert sympy.simplify(exact - closed) == 0, method


def test_symbolic_minibatch_sgd_with_a_symbolic_decay():
    # two samples h = 1, 3 drawn one at a time with replacement (p = 1): Wu, Ma & E's formula
    # on the shifted curvatures, 2 (2 + μ) / ((2 + μ)² + 1)
    mu = sympy.Symbol("mu", positive=True)
    hessians = [sympy.Matrix([[1]]), sympy.Matrix([[3]])]
    exact = stability.symbolic.critical_learning_rate(
        hessians, SGD(1, replacement=True, weight_decay=mu)
    )
    assert sympy.simplify(exact - 2 * (2 + mu) / ((2 + mu) ** 2 + 1)) == 0
    value = exact.subs(mu, sympy.Rational(1, 3))
    problem = Quadratic.from_hessians(np.array([[[1.0]], [[3.0]]]))
    numeric = stability.critical_learning_rate(
        problem, SGD(1, replacement=True, weight_decay=Fraction(1, 3))
    )
    assert float(value) == pytest.approx(numeric, rel=1e-12)


@pytest.mark.parametrize(
    "method",
    [
        Adam(sympy.Rational(1, 2), batch_size=1, weight_decay=sympy.Rational(1, 3)),
        AdamW(sympy.Rational(1, 2), batch_size=2, weight_decay=sympy.Rational(1, 3)),
        RMSProp(batch_size=1, momentum=sympy.Rational(1, 3), weight_decay=sympy.Rational(1, 4)),
        AdamW(sympy.Rational(1, 2), [4, 1], batch_size=1, weight_decay=sympy.Rational(1, 5)),
        Adam(sympy.Rational(1, 3), [1, 4], batch_size=2, weight_decay=sympy.Rational(1, 2)),
        SGD(1, weight_decay=sympy.Rational(1, 2), preconditioner=[4, 9]),
    ],
    ids=["adam", "adamw", "rmsprop-momentum", "adamw-P", "adam-P", "sgd-P"],
)
def test_symbolic_threshold_with_rational_decay_agrees_with_numeric_and_brute_force(method):
    hessians = [
        sympy.Matrix([[1, 0], [0, 0]]),
        sympy.Matrix([[1, 1], [1, 1]]),
        sympy.Matrix([[0, 0], [0, 2]]),
    ]
    congruent_hessians, dynamics = symbolic_congruent(hessians, method)
    exact = stability.symbolic.critical_learning_rate(congruent_hessians, dynamics)
    problem = Quadratic.from_hessians(np.array([np.array(h, dtype=float) for h in hessians]))
    numeric = evaluate(stability.critical_learning_rate, problem, method)
    assert float(exact) == pytest.approx(numeric, rel=1e-12)
    shifted, plain = congruent(problem, method)
    reference = brute_force.threshold(np.asarray(shifted.per_sample_hessians()), plain)
    assert float(exact) == pytest.approx(reference, rel=1e-9)


# ------------------------------------------------------------------ Monte Carlo
# z = 4.4: a two-sided normal tail of 1.1e-5 per comparison, 6 comparisons below, so the
# chance that a correct implementation fails on some seed is below 1e-4. The rate is 0.6 η*
# and the horizon ten steps: closer to η* and later, ‖z_t‖² is a product of many random
# factors, heavy-tailed, and the sample standard error understates the error of the mean.
Z = 4.4


@pytest.mark.parametrize(
    "method",
    [
        HeavyBall(0.6, 2, weight_decay=0.4),
        AdamW(0.8, batch_size=2, weight_decay=0.4),
        Adam(0.5, [2.0, 1.0, 0.5], batch_size=2, weight_decay=0.3),
    ],
    ids=["heavy-ball", "adamw", "adam-P"],
)
def test_simulation_agrees_with_the_predicted_mean_square(method):
    problem = Quadratic.from_data(np.random.default_rng(5).standard_normal((5, 3)))
    problem, dynamics = congruent(problem, method)
    lr = 0.6 * stability.critical_learning_rate(problem, dynamics)
    start = np.array([1.0, -0.5, 0.25, 0.0, 0.0, 0.0])
    if dynamics.name in ("HeavyBall",):
        start[3:] = start[:3]  # δ_{−1} = δ_0
    predicted = stability.predicted_mean_square(problem, dynamics, lr, steps=10, init=start)
    result = stability.simulate(problem, dynamics, lr, steps=10, runs=20_000, seed=2, init=start)
    for step in (5, 10):
        error = float(result.standard_error[step])
        assert abs(float(result.mean_square[step]) - float(predicted[step])) <= Z * error
    assert 0 < float(predicted[10]) < float(predicted[0])
