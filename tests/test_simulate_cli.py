"""``stability simulate`` on the command line: tables, JSON, plots and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stability import SGD
from stability._examples import regression_example
from stability.cli import main
from stability.numeric import predicted_mean_square


def _run(capsys, *arguments):
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_matches_the_library(capsys):
    code, out, err = _run(
        capsys,
        "simulate",
        "--example",
        "--method",
        "sgd",
        "--batch-size",
        "4",
        "--lr",
        "0.5",
        "--steps",
        "6",
        "--runs",
        "3000",
        "--seed",
        "3",
        "--json",
    )
    assert code == 0 and err == ""
    payload = json.loads(out)
    expected = predicted_mean_square(regression_example(), SGD(4), 0.5, steps=6)
    assert np.allclose(payload["predicted"], expected, rtol=1e-12)
    assert payload["runs"] == 3000 and payload["seed"] == 3
    assert len(payload["mean_square"]) == 7 and payload["band"] == "bernstein"
    assert payload["prediction_inside_band"] is True


def test_table_and_plot(capsys, tmp_path):
    figure = tmp_path / "mean-square.png"
    code, out, _ = _run(
        capsys,
        "simulate",
        "--example",
        "--method",
        "heavy-ball",
        "--momentum",
        "0.5",
        "--batch-size",
        "8",
        "--relative",
        "1.25",
        "--steps",
        "20",
        "--runs",
        "2000",
        "--seed",
        "0",
        "--plot",
        str(figure),
    )
    assert code == 0
    assert "= 1.25 η*" in out and "unstable in mean square" in out
    assert "prediction inside the band at every step: yes" in out
    assert figure.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_progress_bar_goes_to_stderr(capsys):
    code, _, err = _run(
        capsys,
        "simulate",
        "--example",
        "--lr",
        "0.1",
        "--steps",
        "5",
        "--runs",
        "10",
        "--progress",
    )
    assert code == 0 and "5/5" in err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--lr", "0.1", "--runs", "0"), "runs must be at least 1"),
        (("--relative", "-1"), "--relative must be positive"),
        (("--lr", "-0.1"), "lr must be a finite positive number"),
        (("--lr", "0.1", "--method", "sgd", "--batch-size", "99"), "batch_size"),
    ],
)
def test_errors_are_one_line_with_exit_code_two(capsys, arguments, message):
    code, out, err = _run(capsys, "simulate", "--example", "--steps", "3", *arguments)
    assert code == 2 and out == ""
    assert err.startswith("stability simulate: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_a_rate_is_required(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--example"])
    assert exit_info.value.code == 2


def test_a_band_that_says_nothing_is_named(capsys):
    # guaranteed bands widen quickly: at 2000 runs they bound nothing after a few steps
    code, out, _ = _run(capsys, "simulate", "--example", "--method", "sgd", "--batch-size", "4",
                        "--relative", "0.9", "--steps", "20", "--runs", "2000", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["band_informative"] is False
    assert max(u / p for u, p in zip(payload["upper"], payload["predicted"], strict=True)) > 100
    code, out, _ = _run(capsys, "simulate", "--example", "--method", "sgd", "--batch-size", "4",
                        "--relative", "0.9", "--steps", "1", "--runs", "2000")
    assert code == 0 and "tests nothing" not in out
    code, out, _ = _run(capsys, "simulate", "--example", "--method", "sgd", "--batch-size", "4",
                        "--relative", "0.9", "--steps", "20", "--runs", "2000")
    assert "note: from step" in out and "use more --runs or fewer --steps" in out


def test_scaled_data_give_the_same_trajectory_at_the_scaled_rate(capsys, tmp_path):
    # E‖z_t‖² depends on η H only: data × 10^80 at η × 10^-160 is the unit run
    data = np.random.default_rng(2).standard_normal((6, 3))
    payloads = []
    for scale in (1.0, 1e80):
        np.save(tmp_path / "X.npy", data * scale)
        code, out, err = _run(capsys, "simulate", "--data", str(tmp_path / "X.npy"), "--method",
                              "sgd", "--batch-size", "2", "--relative", "0.9", "--steps", "6",
                              "--runs", "300", "--json")  # fmt: skip
        assert code == 0, err
        payloads.append(json.loads(out))
    unit, scaled = payloads
    assert scaled["learning_rate"] == pytest.approx(unit["learning_rate"] * 1e-160, rel=1e-12)
    assert scaled["critical_learning_rate"] == pytest.approx(
        unit["critical_learning_rate"] * 1e-160, rel=1e-12
    )
    assert np.allclose(scaled["predicted"], unit["predicted"], rtol=1e-12)
    assert np.allclose(scaled["mean_square"], unit["mean_square"], rtol=1e-12)  # same seed
