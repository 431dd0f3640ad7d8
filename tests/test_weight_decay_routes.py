"""Weight decay keeps the fast routes (docs/theory/weight-decay.md, docs/performance.md).

Counted, never timed: the route each report names, the inner route of the rank-one noise
module (recorded by wrapping its functions), and the operator applications the reports
count. The reference number is always the plain method on the shifted problem ``H_i + μ I``
(formed explicitly, so that it takes the plain method's routes), and for momentum close to
one the mpmath route.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability
import stability.numeric._rank_one_noise as rank_one_noise
from stability import SGD, HeavyBall, Nesterov, Quadratic
from stability.methods import Adam, AdamW, RMSProp
from stability.numeric import radius_report, threshold_report
from stability.testing.strategies import per_sample_hessians

#: routes the general fallback takes (companion pencil, Perron crossing): never with decay here
FALLBACKS = ("dense-polynomial", "matrix-free-perron")


def _problems(samples: int, dimension: int, seed: int) -> tuple[Quadratic, Quadratic, float]:
    data = np.random.default_rng(seed).standard_normal((samples, dimension))
    problem = Quadratic.from_data(data)
    decay = 0.1 * problem.sharpness
    stack = np.einsum("ni,nj->nij", data, data) + decay * np.eye(dimension)
    return problem, Quadratic.from_hessians(stack), decay


@pytest.fixture(scope="module")
def large():
    """n = 300, d = 80 (rank 80), μ = 0.1 λ_max, and the shifted plain problem."""
    return _problems(300, 80, 0)


@pytest.fixture(scope="module")
def medium():
    return _problems(120, 30, 1)


@pytest.fixture
def inner_routes(monkeypatch):
    """The inner routes of the rank-one noise module, in call order."""
    seen: list[str] = []
    for name in ("heavy_ball_threshold", "_newton"):
        original = getattr(rank_one_noise, name)

        def spy(*arguments, _original=original, **options):
            result = _original(*arguments, **options)
            seen.append(result.route)
            return result

        monkeypatch.setattr(rank_one_noise, name, spy)
    return seen


def test_sgd_with_decay_takes_the_matrix_free_route_of_the_shifted_problem(large):
    problem, shifted, decay = large
    plain = threshold_report(problem, SGD(8))
    decayed = threshold_report(problem, SGD(8, weight_decay=decay))
    reference = threshold_report(shifted, SGD(8))
    assert plain.route == decayed.route == reference.route == "matrix-free"
    assert decayed.value == pytest.approx(reference.value, rel=1e-12)
    assert decayed.applications <= reference.applications + 2


def test_heavy_ball_with_decay_keeps_the_heavy_ball_pencil(large, inner_routes):
    # one symmetric eigenvalue problem, as without decay; before the shift was recognised
    # it took the general rank-one Newton iteration (34 applications for 25)
    problem, shifted, decay = large
    decayed = threshold_report(problem, HeavyBall(0.9, 8, weight_decay=decay))
    assert inner_routes == ["heavy-ball pencil"]
    reference = threshold_report(shifted, HeavyBall(0.9, 8))
    assert inner_routes == ["heavy-ball pencil"] * 2
    assert decayed.route == reference.route == "matrix-free-rank-one"
    assert decayed.value == pytest.approx(reference.value, rel=1e-12)
    assert abs(decayed.applications - reference.applications) <= 2


@pytest.mark.parametrize(
    "build",
    [
        lambda decay: Nesterov(0.9, 8, weight_decay=decay),
        lambda decay: Adam(0.9, batch_size=8, weight_decay=decay),
    ],
    ids=["nesterov", "adam"],
)
def test_other_momentum_with_decay_keeps_the_rank_one_route(medium, inner_routes, build):
    problem, shifted, decay = medium
    decayed = threshold_report(problem, build(decay))
    reference = threshold_report(shifted, build(0))
    assert decayed.route == reference.route == "matrix-free-rank-one"
    assert inner_routes == ["rank-one newton"] * 2
    assert decayed.value == pytest.approx(reference.value, rel=1e-12)
    # the same Newton iteration: at most one more step (about a dozen applications)
    assert decayed.applications <= reference.applications + 15


def test_adamw_keeps_the_rank_one_route_and_agrees_with_the_dense_one(inner_routes):
    # decoupled decay is not a Hessian shift; the rank-one route reads F(η) as it is
    problem, _, decay = _problems(40, 8, 2)
    method = AdamW(0.9, batch_size=4, weight_decay=decay)
    report = threshold_report(problem, method)
    assert report.route == "matrix-free-rank-one"
    assert inner_routes == ["rank-one newton"]
    dense = threshold_report(problem, method, solver="dense")
    assert dense.route == "dense-polynomial"
    assert report.value == pytest.approx(dense.value, rel=1e-9)


@pytest.mark.parametrize(
    "build",
    [
        lambda decay: SGD(4, weight_decay=decay),
        lambda decay: HeavyBall(0.8, 4, weight_decay=decay),
    ],
    ids=["sgd", "heavy-ball"],
)
def test_radius_with_decay_takes_the_route_of_the_shifted_problem(build):
    problem, shifted, decay = _problems(100, 40, 4)  # 820 svec coordinates: not dense
    lr = 0.9 * threshold_report(shifted, build(0)).value
    decayed = radius_report(problem, build(decay), lr)
    reference = radius_report(shifted, build(0), lr)
    assert decayed.route == reference.route
    assert decayed.route != "dense"
    assert decayed.value == pytest.approx(reference.value, rel=1e-9)
    assert decayed.applications <= 1.2 * reference.applications + 5


def test_full_batch_momentum_with_decay_is_the_closed_form():
    problem, _, decay = _problems(30, 10, 3)
    top = problem.sharpness + decay
    for beta in (Fraction(1, 2), Fraction(9, 10), 1 - Fraction(1, 10**12)):
        report = threshold_report(problem, HeavyBall(beta, weight_decay=decay))
        assert report.route == "full-batch"
        assert report.value == pytest.approx(float(2 * (1 + beta)) / top, rel=1e-14)


@pytest.mark.parametrize("gap", [Fraction(1, 10**6), Fraction(1, 10**9), Fraction(1, 10**12)])
def test_momentum_close_to_one_with_decay_matches_mpmath(gap):
    # η* ∝ 1 − β: the heavy-ball pencil reads 1 − β exactly. Before the shift was recognised
    # the companion pencil took these: relative errors 1e-9 and 1e-6 at 1 − β = 1e-6, 1e-9,
    # and η* = 3.0e-11 for a true 6.8e-12 at 1 − β = 1e-12.
    data = np.random.default_rng(0).standard_normal((4, 2))
    problem = Quadratic.from_data(data)
    method = HeavyBall(1 - gap, 2, weight_decay=0.5)
    exact = float(stability.critical_learning_rate(problem, method, precision=40))
    assert stability.critical_learning_rate(problem, method) == pytest.approx(exact, rel=1e-12)


# ------------------------------------------------------------------ property: every route agrees
@st.composite
def decayed_methods(draw, samples: int):
    """Any method with a batch size, β, and μ ≥ 0 (zero included on purpose)."""
    decay = draw(st.one_of(st.just(0.0), st.floats(0.01, 2.0)))
    beta = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
    batch = draw(st.integers(1, samples))
    replacement = draw(st.booleans())
    kind = draw(st.sampled_from(["sgd", "heavy-ball", "nesterov", "rmsprop", "adam", "adamw"]))
    if kind == "sgd":
        return decay, SGD(batch, replacement, weight_decay=decay)
    if kind == "heavy-ball":
        return decay, HeavyBall(beta, batch, replacement, weight_decay=decay)
    if kind == "nesterov":
        return decay, Nesterov(beta, batch, replacement, weight_decay=decay)
    if kind == "rmsprop":
        return decay, RMSProp(None, batch, replacement, momentum=beta, weight_decay=decay)
    cls = Adam if kind == "adam" else AdamW
    return decay, cls(beta, None, batch, replacement, weight_decay=decay)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(per_sample_hessians(min_samples=2, max_samples=4), st.data())
def test_every_route_agrees_on_random_psd_hessians(stack, data):
    # singular H included: with μ > 0 the null space contracts and never sets η*
    problem = Quadratic.from_hessians(stack)
    relative, method = data.draw(decayed_methods(problem.samples))
    decay = relative * problem.sharpness
    method = dataclasses.replace(method, weight_decay=decay)
    auto = threshold_report(problem, method)
    dense = threshold_report(problem, method, solver="dense").value
    assert auto.value == pytest.approx(dense, rel=1e-9)
    free = threshold_report(problem, method, solver="matrix-free").value
    assert free == pytest.approx(dense, rel=1e-8)
    dynamics = method.dynamics()
    if dynamics.name != "AdamW":  # coupled: the plain method on the shifted problem
        assert auto.route not in FALLBACKS  # the plain method's own routes
        shifted = Quadratic.from_hessians(stack + decay * np.eye(stack.shape[1]))
        plain = stability.critical_learning_rate(
            shifted, dataclasses.replace(method, weight_decay=0)
        )
        assert auto.value == pytest.approx(plain, rel=1e-12)


@pytest.mark.parametrize(
    "build",
    [
        lambda decay: SGD(2, weight_decay=decay),
        lambda decay: SGD(1, replacement=True, weight_decay=decay),
        lambda decay: HeavyBall(0.9, 2, weight_decay=decay),
        lambda decay: Nesterov(0.5, 2, weight_decay=decay),
        lambda decay: Adam(0.9, batch_size=2, weight_decay=decay),
    ],
    ids=["sgd", "sgd-replacement", "heavy-ball", "nesterov", "adam"],
)
def test_commuting_hessians_with_decay_keep_the_closed_form(build):
    # diagonal H_i with a direction no sample curves: the plain method per common
    # eigenvector at h_ik + μ (before, SGD with decay left this route for the dense one)
    curvatures = np.random.default_rng(0).uniform(0.0, 3.0, (6, 4))
    curvatures[:, 3] = 0.0
    stack = np.array([np.diag(row) for row in curvatures])
    problem, decay = Quadratic.from_hessians(stack), 0.3
    shifted = Quadratic.from_hessians(stack + decay * np.eye(4))
    decayed = threshold_report(problem, build(decay))
    reference = threshold_report(shifted, build(0))
    assert decayed.route == reference.route == threshold_report(problem, build(0)).route
    assert decayed.route == "commuting"
    assert decayed.value == pytest.approx(reference.value, rel=1e-12)
    dense = threshold_report(problem, build(decay), solver="dense")
    assert decayed.value == pytest.approx(dense.value, rel=1e-9)
