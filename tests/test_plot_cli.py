"""``stability plot``: files in the right format, the right figure content, one-line errors."""

from __future__ import annotations

import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.figure import Figure

import stability
from stability import SGD, HeavyBall
from stability._examples import regression_example
from stability.cli import main
from stability.numeric import predicted_mean_square

SIGNATURES = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF"}


@pytest.fixture
def saved(monkeypatch):
    """Record every figure saved through Figure.savefig (and still write the file)."""
    figures: list[Figure] = []
    original = Figure.savefig

    def recording(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording)
    return figures


def _check_file(path) -> None:
    content = path.read_bytes()
    if path.suffix == ".svg":
        assert b"<svg" in content[:4096]
    else:
        assert content.startswith(SIGNATURES[path.suffix])


def _lines(figure: Figure, prefix: str):
    (ax,) = figure.axes
    return [line for line in ax.get_lines() if (line.get_gid() or "").startswith(prefix)]


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_radius_writes_each_format_with_exact_thresholds(tmp_path, capsys, saved, suffix):
    output = tmp_path / f"radius{suffix}"
    code = main(
        ["plot", "radius", "--example", "--batch-sizes", "1", "8", "--full-batch", "--points",
         "40", "--output", str(output), "--title", "example"]
    )  # fmt: skip
    assert code == 0 and capsys.readouterr().out.strip() == f"wrote {output}"
    _check_file(output)
    (figure,) = saved
    problem = regression_example()
    markers = _lines(figure, "threshold:")
    assert [line.get_gid() for line in markers] == [
        "threshold:SGD, B=1", "threshold:SGD, B=8", "threshold:GD"
    ]  # fmt: skip
    expected = [
        stability.critical_learning_rate(problem, method)
        for method in (SGD(1), SGD(8), stability.GD())
    ]
    assert [line.get_xdata()[0] for line in markers] == expected
    assert figure.axes[0].get_title() == "example"


def test_radius_momentum_with_replacement_and_lr_max(tmp_path, capsys, saved):
    data = regression_example(samples=10, dimension=3).data
    np.save(tmp_path / "jacobian.npy", data)
    output = tmp_path / "momentum.png"
    code = main(
        ["plot", "radius", "--data", str(tmp_path / "jacobian.npy"), "--batch-sizes", "2",
         "--method", "heavy-ball", "--momentum", "0.5", "--replacement", "--lr-max", "3",
         "--points", "30", "-o", str(output)]
    )  # fmt: skip
    assert code == 0
    _check_file(output)
    (curve,) = _lines(saved[0], "radius:")
    assert curve.get_gid() == "radius:HeavyBall β=0.5, B=2 with repl."
    lrs = np.asarray(curve.get_xdata())
    assert lrs.max() == 3.0 and lrs.min() == pytest.approx(0.1)
    problem = stability.Quadratic.from_data(data)
    method = HeavyBall(0.5, batch_size=2, replacement=True)
    assert stability.critical_learning_rate(problem, method) in lrs  # threshold added
    np.testing.assert_allclose(
        curve.get_ydata()[:3], [stability.spectral_radius(problem, method, lr) for lr in lrs[:3]]
    )


def test_phase_writes_the_exact_boundary(tmp_path, saved):
    output = tmp_path / "phase.svg"
    code = main(
        ["plot", "phase", "--example", "--batch-sizes", "1", "4", "32", "--lrs", "0.5", "1",
         "-o", str(output)]
    )  # fmt: skip
    assert code == 0
    _check_file(output)
    (boundary,) = [line for line in saved[0].axes[0].get_lines() if line.get_gid() == "boundary"]
    problem = regression_example()
    expected = [stability.critical_learning_rate(problem, SGD(b)) for b in (1, 4, 32)]
    assert list(boundary.get_xdata()) == expected
    assert list(boundary.get_ydata()) == [1, 4, 32]


def test_phase_with_monte_carlo_dots(tmp_path, saved):
    data = np.random.default_rng(0).standard_normal((8, 2))  # eigenvalues 1.45 and 0.24
    problem = stability.Quadratic.from_data(data)
    np.save(tmp_path / "X.npy", data)
    edges = [stability.critical_learning_rate(problem, SGD(b)) for b in (1, 8)]
    low, high = 0.3 * min(edges), 3.0 * max(edges)
    output = tmp_path / "phase.png"
    code = main(
        ["plot", "phase", "--data", str(tmp_path / "X.npy"), "--batch-sizes", "1", "8",
         "--lrs", str(low), str(high), "--monte-carlo", "--runs", "500", "--seed", "1",
         "-o", str(output)]
    )  # fmt: skip
    assert code == 0
    _check_file(output)
    collections = {c.get_gid(): c for c in saved[0].axes[0].collections}
    # far below and far above both thresholds: conclusive dots on the right side of the
    # boundary, none ringed (each wrong with probability ≤ 1e-6; seeded)
    assert collections["verdict-stable"].get_offsets().tolist() == [[low, 1], [low, 8]]
    assert collections["verdict-unstable"].get_offsets().tolist() == [[high, 1], [high, 8]]
    assert "disagreement" not in collections


def test_mean_square_draws_prediction_and_simulation_per_rate(tmp_path, saved):
    output = tmp_path / "mean-square.svg"
    code = main(
        ["plot", "mean-square", "--example", "--method", "sgd", "--batch-size", "4",
         "--relative", "0.8", "1.25", "--steps", "6", "--runs", "500", "-o", str(output)]
    )  # fmt: skip
    assert code == 0
    _check_file(output)
    (ax,) = saved[0].axes
    problem = regression_example()
    edge = stability.critical_learning_rate(problem, SGD(4))
    for factor in (0.8, 1.25):
        label = f"η = {factor:g} η*"
        (predicted,) = [line for line in ax.get_lines() if line.get_gid() == f"predicted:{label}"]
        exact = predicted_mean_square(problem, SGD(4), factor * edge, steps=6)
        np.testing.assert_allclose(predicted.get_ydata(), exact)
        gids = {line.get_gid() for line in ax.get_lines()}
        assert {f"simulated:{label}", f"typical:{label}"} <= gids


def test_variational_edge_writes_one_curve_per_rate(tmp_path, saved):
    output = tmp_path / "edge.png"
    assert main(["plot", "variational-edge", "--lr", "0.1", "0.05", "-o", str(output)]) == 0
    _check_file(output)
    assert [line.get_gid() for line in _lines(saved[0], "edge:")] == ["edge:0.1", "edge:0.05"]


@pytest.mark.parametrize(
    ("arguments", "needle"),
    [
        (["radius", "--example", "--batch-sizes", "1", "-o", "figure.txt"], "--output"),
        (["radius", "--example", "--batch-sizes", "1", "--momentum", "0.5", "-o", "f.png"],
         "--momentum"),
        (["phase", "--example", "--batch-sizes", "1", "--method", "nesterov", "-o", "f.png"],
         "needs --momentum"),
        (["radius", "--example", "--batch-sizes", "99", "-o", "f.png"], "batch_size"),
        (["radius", "--example", "--batch-sizes", "1", "--lr-max", "-1", "-o", "f.png"],
         "--lr-max"),
        (["phase", "--example", "--batch-sizes", "0", "-o", "f.png"], "batch_sizes"),
        (["variational-edge", "--lr", "-0.1", "-o", "f.png"], "lrs"),
        (["phase", "--example", "--batch-sizes", "1", "--monte-carlo", "--seed", "-1",
          "-o", "f.png"], "seed"),
        (["phase", "--example", "--batch-sizes", "1", "--monte-carlo", "--runs", "0",
          "-o", "f.png"], "runs"),
        (["mean-square", "--example", "--lr", "0.5", "--seed", "-2", "-o", "f.png"], "--seed"),
        (["mean-square", "--example", "--method", "sgd", "--lr", "0.5", "-o", "f.png"],
         "--batch-size"),
        (["mean-square", "--hessian", "zero.npy", "--relative", "0.5", "-o", "f.png"],
         "finite"),
        (["radius", "--example", "--batch-sizes", "1", "-o", "no/such/dir/f.png"],
         "No such file"),
    ],
)  # fmt: skip
def test_errors_are_one_line_with_exit_code_two(tmp_path, monkeypatch, capsys, arguments, needle):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "zero.npy", np.zeros((2, 2)))
    assert main(["plot", *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stability plot: error:") and needle in lines[0]


def test_missing_matplotlib_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["plot", "variational-edge", "--lr", "0.1", "-o", str(tmp_path / "f.png")])
    assert code == 2
    assert "stability[plot]" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()
