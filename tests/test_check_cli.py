"""``stability check`` on the command line: report, JSON, plot, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stability.cli import main


def _run(capsys, *arguments):
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bracketing_report_and_plot(capsys, tmp_path):
    figure = tmp_path / "check.png"
    code, out, err = _run(
        capsys,
        "check",
        "--example",
        "--method",
        "sgd",
        "--batch-size",
        "4",
        "--runs",
        "40000",
        "--seed",
        "1",
        "--plot",
        str(figure),
    )
    assert code == 0 and err == ""
    assert "= 0.95 η*" in out and "= 1.05 η*" in out and "all layers AGREE" in out
    assert figure.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_json_at_one_rate(capsys):
    code, out, _ = _run(
        capsys,
        "check",
        "--example",
        "--method",
        "heavy-ball",
        "--momentum",
        "0.9",
        "--relative",
        "1.25",
        "--runs",
        "2000",
        "--seed",
        "2",
        "--json",
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["agrees"] is True and payload["stable"] is False
    assert payload["rates"][0]["relative"] == 1.25
    assert payload["rates"][0]["spectral_radius"] > 1


def test_disagreement_exits_with_one(capsys, tmp_path, monkeypatch):
    # a deliberately wrong numeric layer: the CLI must report it and exit with code 1
    import importlib

    check_module = importlib.import_module("stability.checks._setup")
    original = check_module.second_moment_recursion

    def wrong(problem, dynamics, lr):
        return original(problem, dynamics, 1.1 * lr)

    monkeypatch.setattr(check_module, "second_moment_recursion", wrong)
    data = tmp_path / "data.npy"
    np.save(data, np.random.default_rng(0).standard_normal((6, 3)))
    code, out, _ = _run(
        capsys,
        "check",
        "--data",
        str(data),
        "--method",
        "sgd",
        "--batch-size",
        "2",
        "--lr",
        "0.2",
        "--runs",
        "4000",
        "--seed",
        "3",
    )
    assert code == 1 and "layers DISAGREE" in out


def test_errors_are_one_line_with_exit_code_two(capsys):
    code, out, err = _run(capsys, "check", "--example", "--lr", "0.1", "--runs", "1")
    assert code == 2 and out == "" and "runs must be at least 2" in err


def test_scaled_data_are_checked_in_their_own_units(capsys, tmp_path):
    data = np.random.default_rng(4).standard_normal((6, 3))
    payloads = []
    for scale in (1.0, 1e-80):
        np.save(tmp_path / "X.npy", data * scale)
        code, out, err = _run(capsys, "check", "--data", str(tmp_path / "X.npy"), "--method",
                              "sgd", "--batch-size", "2", "--runs", "2000", "--json")  # fmt: skip
        assert code == 0, err
        payloads.append(json.loads(out))
    unit, scaled = payloads
    assert scaled["critical_learning_rate"] == pytest.approx(
        unit["critical_learning_rate"] * 1e160, rel=1e-12
    )
    assert scaled["sharpness"] == pytest.approx(unit["sharpness"] * 1e-160, rel=1e-12)
    for low, high in zip(unit["rates"], scaled["rates"], strict=True):
        assert high["learning_rate"] == pytest.approx(low["learning_rate"] * 1e160, rel=1e-12)
        assert high["stable"] == low["stable"]
    assert scaled["verdict"] == unit["verdict"]


def test_output_draws_the_check_figure(capsys, tmp_path):
    """``--output`` draws the check report (exact ρ against the simulated growth), as SVG."""
    figure = tmp_path / "check.svg"
    code, _, err = _run(
        capsys, "check", "--example", "--method", "sgd", "--batch-size", "4",
        "--runs", "2000", "--seed", "1", "--output", str(figure),
    )
    assert code in (0, 1) and "Traceback" not in err
    text = figure.read_text()
    assert text.lstrip().startswith("<?xml") and 'id="exact' in text and 'id="unit-radius' in text
