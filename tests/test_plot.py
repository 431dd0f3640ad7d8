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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure

import stability
from stability import GD, SGD, HeavyBall, Nesterov, Quadratic
from stability._examples import regression_example
from stability.errors import InvalidInputError, InvalidTypeError
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
    from stability.numeric import DENSE_RADIUS_SIZE

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


# --------------------------------------------------------------------------- the one style


def _drawn(ax: Axes):
    ax.figure.draw_without_rendering()
    return ax.figure.bbox


def _texts(ax: Axes):
    """Every text drawn for ``ax``: titles, labels, the legend, tick labels within the view."""
    texts = [ax.title, ax.xaxis.label, ax.yaxis.label]
    for legend in [*ax.figure.legends, ax.get_legend()]:
        if legend is not None:
            texts += legend.get_texts()
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        low, high = min(limits), max(limits)
        texts.append(axis.get_offset_text())
        for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
            if low <= tick.get_loc() <= high:
                texts.append(tick.label1)
    return [text for text in texts if text.get_visible() and text.get_text().strip()]


def _figures():
    """Every figure of stability.plot, on a new figure of the package (default size)."""
    from stability.checks import check
    from stability.numeric import predicted_mean_square
    from stability.plot import plot_check, plot_mean_square
    from stability.simulation import simulate

    problem = regression_example(samples=8, dimension=3)
    simulated = simulate(problem, SGD(2), 0.5, steps=8, runs=500, seed=0)
    report = check(problem, SGD(2), seed=0, runs=500, symbolic=False)
    return {
        "radius": lambda **kw: spectral_radius_curves(
            problem, [SGD(1), SGD(4), GD()], points=40, **kw
        ),
        "margin": lambda **kw: spectral_radius_curves(
            problem, [SGD(1), GD()], points=40, scale="margin", **kw
        ),
        "phase": lambda **kw: phase_diagram(problem, [1, 2, 4, 8], **kw),
        "variational": lambda **kw: variational_edge_curves([0.1, 0.02], points=30, **kw),
        "mean-square": lambda **kw: plot_mean_square(
            simulated, predicted_mean_square(problem, SGD(2), 0.5, steps=8), typical=True, **kw
        ),
        "check": lambda **kw: plot_check(report, **kw),
    }


FIGURES = _figures()


@pytest.mark.parametrize("name", sorted(FIGURES))
@pytest.mark.parametrize("size", ["column", "page"])
def test_every_figure_fits_its_paper_size_with_nothing_cut_off_or_overlapping(name, size):
    from stability.plot import FIGURE_SIZES, FONT_SIZE, LEGEND_GID

    ax = FIGURES[name](size=size)
    assert ax.figure.get_size_inches().tolist() == list(FIGURE_SIZES[size])
    ax.set_title("a title long enough to be wider than a one-column figure of a paper, surely")
    from stability.plot import fit_title

    fit_title(ax, ax.get_title())
    page = _drawn(ax)
    for text in _texts(ax):
        box = text.get_window_extent()
        inside = box.x0 >= -0.5 and box.y0 >= -0.5
        inside = inside and box.x1 <= page.x1 + 0.5 and box.y1 <= page.y1 + 0.5
        assert inside, f"{name}: {text.get_text()!r} is cut off ({box} outside {page})"
    # one legend, below the axes: it never covers data, threshold lines or the title
    legends = [legend for legend in ax.figure.legends if legend.get_gid() == LEGEND_GID]
    assert len(legends) == 1 and ax.get_legend() is None
    legend_box, axes_box = legends[0].get_window_extent(), ax.get_window_extent()
    assert legend_box.y1 <= axes_box.y0 + 0.5, f"{name}: the legend overlaps the axes"
    assert ax.xaxis.label.get_window_extent().y0 >= legend_box.y1 - 0.5
    # one type size everywhere
    assert ax.xaxis.label.get_fontsize() == ax.yaxis.label.get_fontsize() == FONT_SIZE
    assert ax.title.get_fontsize() == FONT_SIZE
    assert {label.get_fontsize() for label in ax.get_xticklabels()} == {FONT_SIZE - 1}


def test_on_the_callers_axes_the_legend_goes_outside_them_and_sizes_are_kept() -> None:
    figure = Figure(figsize=(8, 3), layout="constrained")
    left, right = figure.subplots(1, 2)
    spectral_radius_curves(regression_example(), [SGD(2), GD()], points=20, ax=left)
    variational_edge_curves([0.1], points=20, ax=right)
    figure.draw_without_rendering()
    for ax in (left, right):
        legend = ax.get_legend()
        assert legend is not None
        assert legend.get_window_extent().x0 >= ax.get_window_extent().x1 - 0.5
    assert figure.legends == [] and figure.get_size_inches().tolist() == [8.0, 3.0]


def test_drawing_twice_on_one_figure_keeps_one_legend_with_both_entries() -> None:
    from stability.plot import LEGEND_GID

    ax = variational_edge_curves([0.1], points=20)
    variational_edge_curves([0.02], points=20, ax=ax)
    legends = [legend for legend in ax.figure.legends if legend.get_gid() == LEGEND_GID]
    assert len(legends) == 1
    labels = [text.get_text() for text in legends[0].get_texts()]
    assert "variational GD, η = 0.1" in labels and "variational GD, η = 0.02" in labels


def test_save_figure_writes_vectors_and_refuses_unknown_formats(tmp_path) -> None:
    from stability.plot import save_figure

    ax = spectral_radius_curves(TINY_PROBLEM, [GD()], points=10)
    svg = save_figure(ax, tmp_path / "radius.svg", title="GD")
    text = svg.read_text(encoding="utf-8")
    assert "<path" in text and "<image" not in text  # vector, no embedded bitmap
    assert "learning rate η" in text  # text kept as text
    pdf = save_figure(ax, tmp_path / "radius.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and b"/Subtype /Image" not in pdf.read_bytes()
    png = save_figure(ax, tmp_path / "radius.png", dpi=100)
    assert png.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(InvalidInputError, match="path must end in one of"):
        save_figure(ax, tmp_path / "radius.docx")


@pytest.mark.parametrize(
    "size, needle",
    [("letter", "size must be 'column', 'page'"), ((3, -1), "positive"), ((3,), "size must")],
)
def test_figure_size_names_the_argument(size, needle) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        spectral_radius_curves(TINY_PROBLEM, [GD()], points=10, size=size)


# --------------------------------------------------------------------------- the margin axis

TINY_PROBLEM = Quadratic.from_data(TINY)


@pytest.mark.parametrize("flat", [1e-3, 1e-6, 1e-9])
def test_radius_excess_of_gd_keeps_the_digits_of_a_nearly_flat_direction(flat) -> None:
    from stability.plot import radius_excess_curve

    curvatures = np.array([3.0, 1.0, flat])
    problem = Quadratic(np.diag(curvatures))
    lrs = np.array([0.05, 0.3, 0.6, 2.0 / 3.0, 0.9])
    # closed form: ρ − 1 = max_i (1 − η λ_i)² − 1 = max_i η λ_i (η λ_i − 2), no cancellation
    exact = np.max(lrs[:, None] * curvatures * (lrs[:, None] * curvatures - 2.0), axis=1)
    excess = radius_excess_curve(problem, GD(), lrs)
    np.testing.assert_allclose(excess, exact, rtol=1e-9, atol=0)


@pytest.mark.parametrize(
    "method", [SGD(1), SGD(2, replacement=True), HeavyBall(0.5, batch_size=2), Nesterov(0.3)]
)
def test_radius_excess_is_the_radius_minus_one(method) -> None:
    from stability.plot import radius_excess_curve

    lrs = np.linspace(0.05, 1.2, 9)
    np.testing.assert_allclose(
        radius_excess_curve(TINY_PROBLEM, method, lrs) + 1.0,
        radius_curve(TINY_PROBLEM, method, lrs),
        rtol=0,
        atol=1e-10,
    )


def test_margin_axis_draws_one_minus_rho_solid_below_and_dashed_above_the_threshold() -> None:
    from stability.plot import radius_excess_curve

    # a third, nearly flat direction: λ_min(H) of order 1e-7
    problem = Quadratic.from_data(np.column_stack([TINY, [1e-3, 0.0, 0.0, 1e-3]]))
    smallest = float(np.linalg.eigvalsh(problem.hessian)[0])
    assert 0 < smallest < 1e-6
    ax = spectral_radius_curves(problem, [SGD(1), GD()], points=60, scale="margin")
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "|1 − ρ(T(η))|"
    for method in (SGD(1), GD()):
        label = "SGD, B=1" if isinstance(method, SGD) else "GD"
        threshold = stability.critical_learning_rate(problem, method)
        stable, unstable = _by_gid(ax, f"margin:{label}"), _by_gid(ax, f"excess:{label}")
        lrs = np.asarray(stable.get_xdata())
        excess = radius_excess_curve(problem, method, lrs)
        below = lrs < threshold * (1 - 1e-9)
        above = lrs > threshold * (1 + 1e-9)
        np.testing.assert_allclose(np.asarray(stable.get_ydata())[below], -excess[below])
        np.testing.assert_allclose(np.asarray(unstable.get_ydata())[above], excess[above])
        assert np.all(np.isnan(np.asarray(stable.get_ydata())[above]))
        assert np.all(np.isnan(np.asarray(unstable.get_ydata())[below]))
        assert _by_gid(ax, f"edge:{label}").get_xdata()[0] == threshold
    # the nearly flat direction's margin, 1 − (1 − η λ_min)², is drawn and on the axis
    gd = _by_gid(ax, "margin:GD")
    first_lr, first_margin = gd.get_xdata()[0], gd.get_ydata()[0]
    expected = first_lr * smallest * (2.0 - first_lr * smallest)
    assert first_margin == pytest.approx(expected, rel=1e-6)
    assert ax.get_ylim()[0] < expected
    with pytest.raises(InvalidInputError, match="scale must be one of"):
        spectral_radius_curves(problem, [GD()], points=10, scale="log")


# --------------------------------------------------------------------------- check reports


def test_plot_check_draws_the_reports_numbers() -> None:
    from stability.checks import check
    from stability.plot import plot_check

    problem = regression_example(samples=8, dimension=3)
    report = check(problem, SGD(2), seed=1, runs=800, margin=0.5, symbolic=False)
    ax = plot_check(report)
    threshold = report.critical_learning_rate
    exact = _by_gid(ax, "exact")
    np.testing.assert_allclose(
        exact.get_xdata(), [rate.learning_rate / threshold for rate in report.rates]
    )
    np.testing.assert_allclose(exact.get_ydata(), [rate.spectral_radius for rate in report.rates])
    for index, rate in enumerate(report.rates):
        band = _by_gid(ax, f"band:{index}")
        assert list(band.get_ydata()) == [rate.radius_lower, rate.radius_upper]
        dots = _by_gid(ax, f"simulated:{rate.simulated_verdict}")
        assert rate.radius_estimate in list(dots.get_ydata())
    verdicts = {rate.simulated_verdict for rate in report.rates}
    assert verdicts == {"stable", "unstable"}  # at 0.5 η* and 1.5 η* the bands are conclusive
    assert list(_by_gid(ax, "threshold").get_xdata()) == [1.0, 1.0]
    with pytest.raises(InvalidTypeError, match="report must be a CheckReport"):
        plot_check(report.rates[0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_radius_excess_agrees_with_the_radius_on_random_problems(data) -> None:
    # property: ρ − 1 computed without cancellation equals ρ − 1 from the spectral radius
    # (stability.spectral_radius, an independent code path) to rounding, at random rates
    from stability.plot import radius_excess_curve
    from stability.testing.strategies import methods, problems

    problem = data.draw(problems(max_samples=4, max_dimension=3))
    method = data.draw(methods(problem.samples, max_momentum=0.9))
    threshold = stability.critical_learning_rate(problem, method)
    scale = threshold if np.isfinite(threshold) else 1.0
    factors = data.draw(st.lists(st.floats(0.05, 1.5), min_size=1, max_size=3))
    lrs = np.array(factors) * scale
    excess = radius_excess_curve(problem, method, lrs)
    radii = np.array([stability.spectral_radius(problem, method, float(lr)) for lr in lrs])
    np.testing.assert_allclose(excess + 1.0, radii, rtol=1e-8, atol=1e-10)
    # and its sign is the verdict of the exact threshold away from it
    away = np.abs(lrs / scale - 1.0) > 1e-6
    if np.isfinite(threshold):
        np.testing.assert_array_equal((excess < 0)[away], (lrs < threshold)[away])


def test_radius_excess_of_large_problems_goes_through_the_spectral_gap() -> None:
    # past DENSE_RADIUS_SIZE operator coordinates the excess is −(1 − ρ) from
    # stability.numeric._thresholds.spectral_gap; it agrees with the radius minus one
    from stability.numeric import DENSE_RADIUS_SIZE
    from stability.plot import radius_excess_curve

    problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((60, 40)))
    assert 40 * 41 // 2 > DENSE_RADIUS_SIZE
    lrs = np.array([0.01, 0.05])
    excess = radius_excess_curve(problem, SGD(4), lrs)
    np.testing.assert_allclose(excess + 1.0, radius_curve(problem, SGD(4), lrs), atol=1e-9)
    assert np.all(excess < 0)  # both rates are below η*
    assert stability.critical_learning_rate(problem, SGD(4)) > 0.05
