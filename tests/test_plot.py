"""Stability diagrams: the data behind the artists, checked against independent computations.

Figures are inspected through their artists (line data, marker positions, collections,
axis labels), never through pixels; matplotlib runs on the Agg backend.
"""

from __future__ import annotations

import functools
import importlib
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure

import stability
from stability import GD, SGD, HeavyBall, Nesterov, Quadratic
from stability.errors import InvalidInputError, InvalidTypeError
from stability.examples import regression_example
from stability.plot import (
    monte_carlo_verdict,
    phase_data,
    phase_diagram,
    radius_curve,
    spectral_radius_curves,
    variational_edge_curves,
)
from tests import brute_force

TINY = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]])


def _by_gid(ax: Axes, gid: str):
    found = [artist for artist in [*ax.get_lines(), *ax.collections] if artist.get_gid() == gid]
    assert len(found) == 1, f"expected one artist with gid {gid!r}, found {len(found)}"
    return found[0]


def _gids(ax: Axes, prefix: str) -> list[str]:
    return [line.get_gid() for line in ax.get_lines() if (line.get_gid() or "").startswith(prefix)]


# --------------------------------------------------------------------------- radius curves


@pytest.mark.parametrize(
    "method",
    [GD(), SGD(1), SGD(2, replacement=True), SGD(3), HeavyBall(0.5, batch_size=2), Nesterov(0.3)],
)
def test_radius_curve_matches_brute_force_enumeration(method) -> None:
    problem = Quadratic.from_data(TINY)
    lrs = np.array([0.05, 0.3, 0.7, 1.1, 1.6])
    expected = [
        brute_force.spectral_radius(problem.per_sample_hessians(), method.dynamics(), lr)
        for lr in lrs
    ]
    np.testing.assert_allclose(radius_curve(problem, method, lrs), expected, rtol=1e-10)


@pytest.mark.parametrize(
    ("method", "rank"),
    [(SGD(3), 36), (SGD(5, replacement=True), 36), (HeavyBall(0.5, batch_size=4), 18)],
)
def test_radius_curve_of_large_problems_goes_matrix_free_and_matches_dense(method, rank) -> None:
    from stability.numeric.thresholds import DENSE_RADIUS_SIZE

    state = method.dynamics().blocks * rank
    assert state * (state + 1) // 2 > DENSE_RADIUS_SIZE  # the matrix-free route is taken
    data = np.random.default_rng(rank).standard_normal((2 * rank, rank))
    problem = Quadratic.from_data(data)
    edge = stability.critical_learning_rate(problem, method)
    lrs = np.array([0.3, 0.9, 1.1]) * edge
    dense = [stability.spectral_radius(problem, method, lr, solver="dense") for lr in lrs]
    np.testing.assert_allclose(radius_curve(problem, method, lrs), dense, rtol=1e-9)


def test_radius_curves_cross_one_exactly_at_the_marked_thresholds() -> None:
    problem = regression_example(samples=12, dimension=4)
    methods = [SGD(1), SGD(4), GD(), HeavyBall(0.6, batch_size=3)]
    ax = spectral_radius_curves(problem, methods, points=60)
    assert isinstance(ax, Axes) and isinstance(ax.figure, Figure)
    assert ax.get_xlabel() == "learning rate η"
    assert ax.get_ylabel() == "spectral radius ρ(T(η))"
    labels = ["SGD, B=1", "SGD, B=4", "GD", "HeavyBall β=0.6, B=3"]
    assert _gids(ax, "radius:") == [f"radius:{label}" for label in labels]
    for method, label in zip(methods, labels, strict=True):
        threshold = stability.critical_learning_rate(problem, method)
        marker = _by_gid(ax, f"threshold:{label}")
        assert marker.get_xdata().tolist() == [threshold]
        assert marker.get_ydata().tolist() == [1.0]
        edge = _by_gid(ax, f"edge:{label}")
        assert list(edge.get_xdata()) == [threshold, threshold]
        curve = _by_gid(ax, f"radius:{label}")
        lrs, radii = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
        assert curve.get_label() == f"{label}: η* = {threshold:.4g}"
        assert edge.get_color() == marker.get_color() == curve.get_color()
        # the curve passes through its marker, is below one before and above one after
        at = np.flatnonzero(lrs == threshold)
        assert at.size == 1 and radii[at[0]] == pytest.approx(1.0, abs=1e-8)
        below, above = lrs < 0.98 * threshold, lrs > 1.02 * threshold
        assert np.all(radii[below] < 1.0) and np.all(radii[above] > 1.0)
        assert below.any() and above.any()
    unit = _by_gid(ax, "unit-radius")
    assert list(unit.get_ydata()) == [1.0, 1.0]
    top = 1.3 * stability.critical_learning_rate(problem, GD())
    assert ax.get_xlim() == pytest.approx((0.0, top))
    assert ax.get_ylim()[1] == 2.0 and ax.get_ylim()[0] < 1.0


def test_radius_curves_on_given_axes_and_learning_rates() -> None:
    figure = Figure()
    given = figure.add_subplot()
    problem = Quadratic.from_data(TINY)
    lrs = [0.2, 0.4, 0.6]  # all below GD's edge 2/λ_max
    ax = spectral_radius_curves(problem, GD(), lrs, ax=given)
    assert ax is given
    curve = _by_gid(ax, "radius:GD")
    assert list(curve.get_xdata()) == lrs  # the threshold is off the grid: not added
    np.testing.assert_allclose(
        curve.get_ydata(), [stability.spectral_radius(problem, GD(), lr) for lr in lrs]
    )


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda p: spectral_radius_curves(p, []), InvalidInputError, "methods"),
        (lambda p: spectral_radius_curves(p, "sgd"), InvalidInputError, "methods"),
        (lambda p: spectral_radius_curves(p, [GD()], [0.1, -1.0]), InvalidInputError, "lrs"),
        (lambda p: spectral_radius_curves(p, [GD()], points=1), InvalidInputError, "points"),
        (
            lambda p: spectral_radius_curves(p, [GD()], radius_limit=0.5),
            InvalidInputError,
            "radius_limit",
        ),
        (lambda p: spectral_radius_curves(p, [GD()], ax="axes"), InvalidTypeError, "ax"),
        (lambda p: spectral_radius_curves(p.hessian, [GD()]), InvalidTypeError, "problem"),
        (lambda p: radius_curve(p, GD(), [[0.1]]), InvalidInputError, "lrs"),
    ],
)
def test_radius_bad_input_names_the_argument(call, error, needle) -> None:
    with pytest.raises(error, match=needle):
        call(Quadratic.from_data(TINY))


def test_infinite_thresholds_need_explicit_learning_rates() -> None:
    flat = Quadratic(np.zeros((2, 2)))
    with pytest.raises(InvalidInputError, match="lrs"):
        spectral_radius_curves(flat, [GD()])
    ax = spectral_radius_curves(flat, [GD()], [0.5, 1.0])
    assert _by_gid(ax, "radius:GD").get_label() == "GD: η* = ∞"
    assert _gids(ax, "threshold:") == []


# --------------------------------------------------------------------------- phase diagram


def test_phase_diagram_boundary_and_verdict_dots() -> None:
    problem = regression_example(samples=16, dimension=4)
    sizes = [1, 2, 4, 8, 16]
    lrs = np.linspace(0.25, 3.0, 12)
    calls = []

    def verdict(method, lr):  # a deliberately crude rule, so that some dots disagree
        calls.append((method.batch.batch_size, lr))
        return lr < 1.0

    ax = phase_diagram(problem, sizes, lrs, verdict=verdict)
    assert len(calls) == len(sizes) * len(lrs)
    thresholds = [stability.critical_learning_rate(problem, SGD(size)) for size in sizes]
    boundary = _by_gid(ax, "boundary")
    np.testing.assert_array_equal(boundary.get_xdata(), thresholds)
    np.testing.assert_array_equal(boundary.get_ydata(), sizes)
    grid_lr, grid_size = np.meshgrid(lrs, sizes)
    expected_stable = grid_lr < 1.0
    stable = _by_gid(ax, "verdict-stable").get_offsets()
    unstable = _by_gid(ax, "verdict-unstable").get_offsets()
    np.testing.assert_array_equal(
        stable, np.column_stack([grid_lr[expected_stable], grid_size[expected_stable]])
    )
    np.testing.assert_array_equal(
        unstable, np.column_stack([grid_lr[~expected_stable], grid_size[~expected_stable]])
    )
    exact = grid_lr < np.array(thresholds)[:, None]
    wrong = exact != expected_stable
    assert wrong.any()
    np.testing.assert_array_equal(
        _by_gid(ax, "disagreement").get_offsets(),
        np.column_stack([grid_lr[wrong], grid_size[wrong]]),
    )
    # the shaded region's outline passes through every boundary point
    vertices = _by_gid(ax, "stable-region").get_paths()[0].vertices
    for threshold, size in zip(thresholds, sizes, strict=True):
        assert np.any(np.all(np.isclose(vertices, [threshold, size]), axis=1))
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "learning rate η" and ax.get_ylabel() == "batch size B"
    assert [tick.get_text() for tick in ax.get_yticklabels()] == [str(s) for s in sizes]


def test_exact_verdicts_never_disagree_and_inconclusive_dots_are_hollow() -> None:
    problem = regression_example(samples=8, dimension=3)

    def verdict(method, lr):  # exact, but "inconclusive" within 10% of the threshold
        edge = stability.critical_learning_rate(problem, method)
        if abs(lr / edge - 1) < 0.1:
            return None
        return "stable" if lr < edge else "unstable"

    ax = phase_diagram(problem, [1, 2], verdict=verdict)
    gids = [c.get_gid() for c in ax.collections]
    assert "disagreement" not in gids
    assert ax.get_yscale() == "linear"  # 1..2 spans less than a factor of four
    data = phase_data(problem, [2, 1], verdict=verdict)
    assert data.batch_sizes.tolist() == [1, 2]
    assert data.learning_rates.shape == (12,)
    assert data.learning_rates.max() == pytest.approx(1.3 * data.thresholds.max())
    relative = data.learning_rates[None, :] / data.thresholds[:, None]
    near = np.abs(relative - 1) < 0.1
    assert near.any() and np.all(data.verdicts[near] == "inconclusive")
    expected = np.where(data.predicted, "stable", "unstable")
    np.testing.assert_array_equal(data.verdicts[~near], expected[~near])
    assert not data.disagreements.any()
    hollow = _by_gid(ax, "verdict-inconclusive")
    assert len(hollow.get_offsets()) == near.sum()
    assert hollow.get_facecolors().size == 0  # facecolors="none": drawn hollow


def test_monte_carlo_verdicts_agree_with_the_exact_boundary() -> None:
    # Each conclusive Monte Carlo verdict is wrong with probability at most false_alarm
    # = 1e-6 (stability.checks's guaranteed band), so a ringed dot here has probability
    # below 2e-5 over the 18 points; far from η* (factors 0.4 and 1.8) the band is narrow
    # enough to be conclusive. Seeded, so the outcome is fixed.
    problem = regression_example(samples=8, dimension=3)
    sizes = [1, 2, 8]
    verdict = monte_carlo_verdict(problem, runs=1000, seed=3)
    thresholds = [stability.critical_learning_rate(problem, SGD(b)) for b in sizes]
    lrs = np.array([0.4, 0.7, 0.95, 1.05, 1.3, 1.8]) * min(thresholds)
    data = phase_data(problem, sizes, lrs, verdict=verdict)
    assert not data.disagreements.any()
    relative = data.learning_rates[None, :] / data.thresholds[:, None]
    assert np.all(data.verdicts[relative <= 0.4 + 1e-12] == "stable")
    far = monte_carlo_verdict(problem, runs=1000, seed=4)
    assert [far(SGD(b), 1.8 * t) for b, t in zip(sizes, thresholds, strict=True)] == [
        "unstable"
    ] * 3
    with pytest.raises(InvalidInputError, match="seed"):
        monte_carlo_verdict(problem, seed=-1)


def test_phase_data_method_factories() -> None:
    problem = regression_example(samples=8, dimension=3)
    with_replacement = phase_data(problem, [1, 3], method=functools.partial(SGD, replacement=True))
    expected = [stability.critical_learning_rate(problem, SGD(b, replacement=True)) for b in (1, 3)]
    np.testing.assert_array_equal(with_replacement.thresholds, expected)
    assert with_replacement.labels == ["SGD, B=1 with repl.", "SGD, B=3 with repl."]
    momentum = phase_data(problem, [2], method=lambda b: HeavyBall(0.9, batch_size=b))
    assert momentum.thresholds[0] == stability.critical_learning_rate(
        problem, HeavyBall(0.9, batch_size=2)
    )
    assert momentum.verdicts is None and not momentum.disagreements.any()


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"batch_sizes": []}, InvalidInputError, "batch_sizes"),
        ({"batch_sizes": [0, 2]}, InvalidInputError, "batch_sizes"),
        ({"batch_sizes": "12"}, InvalidTypeError, "batch_sizes"),
        ({"batch_sizes": [1], "lrs": [0.0]}, InvalidInputError, "lrs"),
        ({"batch_sizes": [1], "method": 3}, InvalidTypeError, "method"),
        ({"batch_sizes": [1], "verdict": True}, InvalidTypeError, "verdict"),
        ({"batch_sizes": [1], "verdict": lambda m, lr: 0.5}, InvalidTypeError, "verdict"),
        ({"batch_sizes": [1], "verdict": lambda m, lr: "maybe"}, InvalidTypeError, "verdict"),
        ({"batch_sizes": [99]}, InvalidInputError, "batch_size"),
    ],
)
def test_phase_bad_input_names_the_argument(kwargs, error, needle) -> None:
    with pytest.raises(error, match=needle):
        phase_diagram(regression_example(samples=8, dimension=3), **kwargs)


# --------------------------------------------------------------------------- variational edge


def _cubic_root(lr: float, z: float) -> float:
    """The real root of λ³ + zλ − 2z/η, from numpy's companion-matrix polynomial roots."""
    roots = np.roots([1.0, 0.0, z, -2.0 * z / lr])
    real = roots[np.abs(roots.imag) < 1e-9 * max(1.0, abs(roots).max())].real
    assert real.size == 1  # the cubic is increasing in λ: one real root
    return float(real[0])


def test_variational_edge_curves_against_the_cubic() -> None:
    rates = [0.1, 0.02]
    ax = variational_edge_curves(rates, points=40)
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_xlabel() == "z = S c / σ²" and ax.get_ylabel() == "edge curvature λ_edge"
    for lr in rates:
        tag = f"{lr:g}"
        curve = _by_gid(ax, f"edge:{tag}")
        z, edge = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
        assert z.size == 40
        assert z.min() == pytest.approx(4e-4 / max(rates) ** 2)
        assert z.max() == pytest.approx(4e3 / min(rates) ** 2)
        reference = np.array([_cubic_root(lr, value) for value in z])
        np.testing.assert_allclose(edge, reference, rtol=1e-9)
        assert np.all(edge < 2.0 / lr) and np.all(np.diff(edge) > 0)
        gd = _by_gid(ax, f"gd-edge:{tag}")
        assert list(gd.get_ydata()) == [2.0 / lr, 2.0 / lr]
        asymptote = _by_gid(ax, f"asymptote:{tag}")
        shown_z = np.asarray(asymptote.get_xdata())
        np.testing.assert_allclose(asymptote.get_ydata(), (2.0 * shown_z / lr) ** (1 / 3))
        assert np.all(np.asarray(asymptote.get_ydata()) <= 2.0 / lr)
        # approach to the asymptote: VF = s (1 − s/3 + O(s³)) with s = (η² z / 4)^{1/3}
        s = (lr**2 * z[0] / 4) ** (1 / 3)
        gap = 1.0 - edge[0] / (2.0 * z[0] / lr) ** (1 / 3)
        assert gap == pytest.approx(s / 3, rel=1e-2)
        half = _by_gid(ax, f"half:{tag}")
        assert half.get_xdata()[0] == pytest.approx(1.0 / lr**2)
        assert half.get_ydata()[0] == pytest.approx(_cubic_root(lr, 1.0 / lr**2), rel=1e-12)


def test_variational_edge_curves_given_grid_and_bad_input() -> None:
    ax = variational_edge_curves(0.5, z=[4.0, 1.0, 16.0])
    curve = _by_gid(ax, "edge:0.5")
    assert list(curve.get_xdata()) == [1.0, 4.0, 16.0]
    assert curve.get_ydata()[1] == pytest.approx(2.0)  # η² z = 1: half of 2/η = 4
    with pytest.raises(InvalidInputError, match="z"):
        variational_edge_curves(0.5, z=[0.0, 1.0])
    with pytest.raises(InvalidInputError, match="lrs"):
        variational_edge_curves([])
    with pytest.raises(InvalidInputError, match="lrs"):
        variational_edge_curves([0.1, -0.1])
    with pytest.raises(InvalidInputError, match="points"):
        variational_edge_curves(0.1, points=1)


# --------------------------------------------------------------------------- the optional extra


def test_missing_matplotlib_names_the_plot_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    plot = importlib.import_module("stability.plot")  # importing never needs matplotlib
    problem = Quadratic.from_data(TINY)
    for call in (
        lambda: plot.spectral_radius_curves(problem, [GD()]),
        lambda: plot.phase_diagram(problem, [1, 2]),
        lambda: plot.variational_edge_curves(0.1),
    ):
        with pytest.raises(ImportError, match=r"stability\[plot\]"):
            call()
    # the numbers behind the figures need no matplotlib
    assert plot.radius_curve(problem, GD(), [0.1]).shape == (1,)
    assert plot.phase_data(problem, [1]).thresholds.shape == (1,)


def test_importing_the_package_does_not_import_matplotlib() -> None:
    import subprocess

    code = (
        "import sys, stability, stability.plot, stability.cli.plot; "
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
