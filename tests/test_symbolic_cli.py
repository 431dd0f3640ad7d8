"""``stability derive``: the command line of the symbolic layer."""

from __future__ import annotations

import numpy as np
import pytest

from stability import SGD
from stability.cli import main
from stability.symbolic import critical_learning_rate, symbols_problem


def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(["derive", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_issue_example_prints_operator_and_condition_in_latex(capsys) -> None:
    code, out, _ = run(capsys, "--method", "sgd", "--dim", "1", "--samples", "2", "--latex")
    assert code == 0
    assert r"T(\eta) = \left[\begin{matrix}" in out
    assert r"\eta^{*} = \frac{4 \left(h_{1} + h_{2}\right)}" in out
    assert r"0 < \eta < \frac{4 \left(h_{1} + h_{2}\right)}" in out
    assert r"0 \leq p \leq 1" in out  # the assumptions it used


def test_plain_text_output_matches_the_library(capsys) -> None:
    code, out, _ = run(capsys, "--method", "sgd", "--samples", "3", "--batch-size", "2")
    assert code == 0
    expected = critical_learning_rate(symbols_problem(1, 3), SGD(2))
    assert f"η* = {expected}" in out
    assert "B=2 without replacement (p = 1/4)" in out
    assert "assumptions: h_1 > 0, h_2 > 0, h_3 > 0" in out


def test_momentum_symbol_and_number(capsys) -> None:
    code, out, _ = run(capsys, "--method", "nesterov", "--samples", "1")
    assert code == 0 and "η* = 2*(beta + 1)/(h_1*(2*beta + 1))" in out
    code, out, _ = run(capsys, "--method", "heavy-ball", "--samples", "1", "--momentum", "0.5")
    assert code == 0 and "η* = 3/h_1" in out


def test_variational_gd_prints_the_noise(capsys) -> None:
    code, out, _ = run(capsys, "--method", "variational-gd", "--samples", "1",
                       "--posterior-samples", "2")
    assert code == 0
    assert "noise moment N(η) = E[b bᵀ]:" in out and "sigma^2" in out
    assert "η* = 2/h_1" in out
    # E δ² = η λ σ² / (S (2 − η λ)) with S = 2 (docs/theory/methods.md)
    assert "stationary second moment" in out
    assert "Matrix([[-eta*h_1*sigma^2/(2*(eta*h_1 - 2))]])" in out


def test_no_closed_form_still_prints_the_operator(capsys) -> None:
    code, out, _ = run(capsys, "--dim", "2", "--samples", "2", "--batch-size", "1")
    assert code == 0
    assert "second-moment operator" in out and "no closed form" in out
    code, out, _ = run(capsys, "--dim", "2", "--samples", "2", "--batch-size", "1",
                       "--structure", "diagonal")
    assert code == 0 and "η* = Min(" in out


def test_numbers_from_a_file_give_exact_thresholds(capsys, tmp_path) -> None:
    path = tmp_path / "data.npy"
    np.save(path, np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    code, out, _ = run(capsys, "--data", str(path), "--batch-size", "1")
    assert code == 0 and "η* = 3 - sqrt(3)" in out
    assert "(eta > 0) & (eta < 3 - sqrt(3))" in out


def test_errors_are_one_line_and_exit_code_two(capsys) -> None:
    code, _, err = run(capsys, "--dim", "9")
    assert code == 2 and err.count("\n") == 1 and "numeric layer" in err
    code, _, err = run(capsys, "--method", "gd", "--batch-size", "2")
    assert code == 2 and "--batch-size does not apply" in err
    code, _, err = run(capsys, "--method", "heavy-ball", "--momentum", "1.5")
    assert code == 2 and "momentum must lie in [0, 1)" in err
    code, _, err = run(capsys, "--method", "heavy-ball", "--momentum", "b-1")
    assert code == 2 and "--momentum must be a number or a symbol name" in err
