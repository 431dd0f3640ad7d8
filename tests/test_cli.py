"""The command line: critical-lr, tour, file formats and one-line errors with exit code 2."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import stability
from stability._examples import regression_example
from stability.cli import main

DATA = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def _run(capsys, *arguments):
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def files(tmp_path):
    paths = {}
    np.save(tmp_path / "data.npy", DATA)
    paths["npy"] = tmp_path / "data.npy"
    np.savetxt(tmp_path / "data.csv", DATA, delimiter=",")
    paths["csv"] = tmp_path / "data.csv"
    np.savez(tmp_path / "data.npz", features=DATA)
    paths["npz"] = tmp_path / "data.npz"
    np.savez(tmp_path / "two.npz", a=DATA, b=DATA)
    paths["two"] = tmp_path / "two.npz"
    (tmp_path / "bad.csv").write_text("1,2\n3,oops\n")
    paths["bad"] = tmp_path / "bad.csv"
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    paths["badnpy"] = tmp_path / "bad.npy"
    np.save(tmp_path / "hessian.npy", np.array([[2.0, 0.0], [0.0, 1.0]]))
    paths["hessian"] = tmp_path / "hessian.npy"
    np.save(tmp_path / "hessians.npy", np.einsum("ni,nj->nij", DATA, DATA))
    paths["hessians"] = tmp_path / "hessians.npy"
    np.save(tmp_path / "gram.npy", DATA @ DATA.T)
    paths["gram"] = tmp_path / "gram.npy"
    np.save(tmp_path / "indefinite.npy", np.diag([1.0, -1.0]))
    paths["indefinite"] = tmp_path / "indefinite.npy"
    return paths


@pytest.mark.parametrize("kind", ["npy", "csv", "npz"])
def test_critical_lr_json_from_each_format(capsys, files, kind):
    code, out, err = _run(
        capsys, "critical-lr", "--data", str(files[kind]), "--method", "sgd", "--batch-size", "1",
        "--json",
    )
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["critical_learning_rate"] == pytest.approx(3 - math.sqrt(3), rel=1e-12)
    assert payload["samples"] == 3 and payload["batch"] == "B=1 without replacement"


@pytest.mark.parametrize(
    ("source", "arguments", "expected"),
    [
        ("hessian", ["--method", "gd"], 1.0),
        ("hessian", ["--method", "heavy-ball", "--momentum", "0.5"], 1.5),
        ("hessian", ["--method", "nesterov", "--momentum", "0.5"], 0.75),
        ("hessians", ["--method", "sgd", "--batch-size", "1"], 3 - math.sqrt(3)),
        ("gram", ["--method", "sgd", "--batch-size", "1"], 3 - math.sqrt(3)),
        ("gram", ["--method", "sgd", "--batch-size", "2", "--replacement"], None),
    ],
)
def test_critical_lr_sources_and_methods(capsys, files, source, arguments, expected):
    code, out, _ = _run(capsys, "critical-lr", f"--{source}", str(files[source]), *arguments,
                        "--json")
    assert code == 0
    value = json.loads(out)["critical_learning_rate"]
    if expected is None:
        method = stability.SGD(2, replacement=True)
        expected = stability.critical_learning_rate(stability.Quadratic.from_data(DATA), method)
    assert value == pytest.approx(expected, rel=1e-12)


def test_critical_lr_table(capsys, files):
    code, out, _ = _run(capsys, "critical-lr", "--data", str(files["npy"]), "--method", "gd")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("critical learning rate"))
    assert float(line.split()[-1]) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--data", "{bad}", "--method", "gd"], ["cannot read", "bad.csv"]),
        (["--data", "{badnpy}", "--method", "gd"], ["cannot read", "bad.npy"]),
        (["--data", "{two}", "--method", "gd"], ["2 arrays", "--key"]),
        (["--data", "{npz}", "--key", "nothing", "--method", "gd"], ["no array 'nothing'"]),
        (["--data", "/nonexistent/x.npy", "--method", "gd"], ["no such file"]),
        (["--hessian", "{indefinite}", "--method", "gd"], ["positive semi-definite"]),
        (["--data", "{npy}", "--method", "sgd", "--batch-size", "7"], ["batch_size", "n=3"]),
        (["--data", "{npy}", "--method", "sgd", "--batch-size", "0"], ["batch_size"]),
        (["--data", "{npy}", "--method", "sgd"], ["needs --batch-size"]),
        (["--data", "{npy}", "--method", "heavy-ball", "--momentum", "1.5"], ["momentum"]),
        (["--data", "{npy}", "--method", "nesterov"], ["needs --momentum"]),
        (["--hessian", "{hessian}", "--method", "sgd", "--batch-size", "1"], ["per-sample"]),
        (["--data", "{csv}", "--method", "gd", "--momentum", "0.3"], ["does not apply"]),
        (["--hessian", "{npy}", "--method", "gd"], ["square"]),
    ],
)
def test_errors_are_one_line_with_exit_code_two(capsys, files, arguments, words):
    arguments = [a.format(**{k: str(v) for k, v in files.items()}) for a in arguments]
    code, out, err = _run(capsys, "critical-lr", *arguments)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("stability critical-lr: error:")
    for word in words:
        assert word in err


def test_module_entry_point_runs_and_reports_errors(files):
    good = subprocess.run(
        [sys.executable, "-m", "stability", "critical-lr", "--data", str(files["npy"]),
         "--method", "gd", "--json"],
        capture_output=True, text=True, check=False,
    )
    assert good.returncode == 0
    assert json.loads(good.stdout)["critical_learning_rate"] == pytest.approx(2.0)
    bad = subprocess.run(
        [sys.executable, "-m", "stability", "critical-lr", "--hessian", str(files["indefinite"])],
        capture_output=True, text=True, check=False,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_two(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["critical-lr", "--method", "gd"])  # no problem source
    assert raised.value.code == 2
    with pytest.raises(SystemExit) as raised:
        main(["critical-lr", "--example", "--method", "adagrad"])
    assert raised.value.code == 2


def test_tour_lists_exact_rates(capsys):
    code, out, _ = _run(capsys, "tour", "--json")
    assert code == 0
    payload = json.loads(out)
    problem = regression_example()
    rates = {(row["method"], row["batch"]): row["critical_learning_rate"]
             for row in payload["rates"]}
    assert rates[("GD", "full batch")] == pytest.approx(2 / problem.sharpness, rel=1e-12)
    assert rates[("SGD", "B=4 without replacement")] == pytest.approx(
        stability.critical_learning_rate(problem, stability.SGD(4)), rel=1e-12
    )
    sgd = [rate for (name, batch), rate in rates.items()
           if name == "SGD" and "without" in batch]
    assert sgd == sorted(sgd)  # batch sizes listed increasing, thresholds non-decreasing
    code, out, _ = _run(capsys, "tour")
    assert code == 0 and "HeavyBall β=0.9" in out and "η*" in out


def test_jacobians_are_a_problem_source(capsys, tmp_path):
    jacobians = np.random.default_rng(0).standard_normal((6, 2, 3))
    np.save(tmp_path / "J.npy", jacobians)
    code, out, err = _run(capsys, "critical-lr", "--jacobians", str(tmp_path / "J.npy"),
                          "--method", "sgd", "--batch-size", "2", "--json")  # fmt: skip
    assert code == 0, err
    expected = stability.critical_learning_rate(
        stability.Quadratic.from_jacobians(jacobians), stability.SGD(2)
    )
    assert json.loads(out)["critical_learning_rate"] == pytest.approx(expected, rel=1e-12)


def test_torch_files_are_read_safely(capsys, tmp_path):
    import importlib.util

    installed = importlib.util.find_spec("torch") is not None
    data = np.random.default_rng(0).standard_normal((6, 3))
    expected = stability.critical_learning_rate(stability.Quadratic.from_data(data), stability.GD())
    path = tmp_path / "X.pt"
    if not installed:  # without PyTorch: a named error
        path.write_bytes(b"PK\x03\x04")
        code, _, err = _run(capsys, "critical-lr", "--data", str(path))
        assert code == 2 and "PyTorch" in err
        return
    import pickle

    import torch

    torch.save({"X": torch.tensor(data), "y": torch.zeros(6)}, path)
    code, out, err = _run(capsys, "critical-lr", "--data", str(path), "--key", "X", "--json")
    assert code == 0, err
    assert json.loads(out)["critical_learning_rate"] == pytest.approx(expected, rel=1e-12)
    code, _, err = _run(capsys, "critical-lr", "--data", str(path))
    assert code == 2 and "--key" in err
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(print))
    code, _, err = _run(capsys, "critical-lr", "--data", str(evil))
    assert code == 2 and "without unpickling" in err
