"""Fuzz corpus of the command line: corrupt files, wrong dtypes, extreme values, absurd flags.

The contract (``docs/cli.md``): never a traceback; exit code 0, 1 or 2 (2 for bad input);
a failure is one line on stderr and, under ``--json``, a JSON error object on stdout;
every JSON output is strict (no ``NaN``/``Infinity`` tokens); every case ends quickly.
Each case runs in-process through :func:`stability.cli.main` under a time bound
(``SIGALRM``); a few run as real subprocesses.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stability.cli import main

#: Seconds any single in-process case may take.
CASE_SECONDS = 20


class CaseTimeout(BaseException):
    """Raised by the alarm: a case ran longer than :data:`CASE_SECONDS`."""


def _strict_json(text: str):
    def refuse(token: str):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def run_case(capsys, arguments: list[str]) -> tuple[int, str, str]:
    """Run the CLI in-process with a time bound; return ``(code, stdout, stderr)``."""

    def alarm(signum, frame):
        raise CaseTimeout(" ".join(arguments))

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(CASE_SECONDS)
    try:
        try:
            code = main(arguments)
        except SystemExit as exit_:
            code = exit_.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_contract(code, out: str, err: str, arguments: list[str]) -> None:
    assert code in (0, 1, 2), (arguments, code, err)
    assert "Traceback" not in err and "Traceback" not in out, (arguments, err)
    if code != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1, (arguments, err)
        assert lines[0].startswith("stability") and ": error: " in lines[0], (arguments, err)
        # the command line's words, not the API's (issue: "use batch_size=None")
        assert not re.search(r"\b[a-z_]+=(None|True|False)\b|Quadratic\.", lines[0]), lines[0]
    if "--json" in arguments and out.strip():
        payload = _strict_json(out)
        if code == 2 or (code == 1 and "error" in payload):
            assert payload["error"]["exit_code"] == code
            assert payload["error"]["message"]


# ----------------------------------------------------------------------------- the corpus
def _write_npy_header(path: Path, header: dict, payload: bytes = b"") -> None:
    text = repr(header).encode("latin1")
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + payload)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    data = rng.standard_normal((6, 3))
    files: dict[str, Path] = {}

    def save(name: str, array) -> None:
        files[name] = folder / f"{name}.npy"
        np.save(files[name], array, allow_pickle=True)

    save("good", data)
    save("wide", rng.standard_normal((8, 5)))
    save("integers", rng.integers(-3, 4, size=(6, 3)))
    save("complex", data + 1j)
    save("booleans", data > 0)
    save("dates", np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[D]").reshape(2, 1))
    save("text", np.array([["a", "b"], ["c", "d"]]))
    save("objects", np.array([[1, None]], dtype=object))
    save("nan", np.where(data > 1, np.nan, data))
    save("inf", np.where(data > 1, np.inf, data))
    save("empty", np.zeros((0, 3)))
    save("vector", data[:, 0])
    save("cube", rng.standard_normal((2, 2, 2, 2)))
    save("zeros", np.zeros((4, 3)))
    save("big", data * 1e300)
    save("tiny", data * 1e-300)
    save("scaled_up", data * 1e154)
    save("scaled_down", data * 1e-80)
    save("max_float", np.full((3, 2), 1.7e308))
    save("indefinite", np.diag([1.0, -0.5]))
    save("asymmetric", np.array([[1.0, 2.0], [0.0, 1.0]]))
    save("hessians", np.einsum("ni,nj->nij", data, data))
    save("gram_big", (data @ data.T) * 1e300)
    save("structured", np.zeros(3, dtype=[("a", "f8"), ("b", "f8")]))

    good = files["good"].read_bytes()
    files["cut_header"] = folder / "cut_header.npy"
    files["cut_header"].write_bytes(good[:30])
    files["truncated_npy"] = folder / "truncated_npy.npy"
    files["truncated_npy"].write_bytes(good[:-40])
    files["huge_shape"] = folder / "huge_shape.npy"
    _write_npy_header(
        files["huge_shape"], {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    files["bad_header"] = folder / "bad_header.npy"
    _write_npy_header(files["bad_header"], {"descr": "<f8", "fortran_order": False, "shape": "x"})
    files["npy_as_npz"] = folder / "npy_as_npz.npz"
    files["npy_as_npz"].write_bytes(good)

    files["npz"] = folder / "good.npz"
    np.savez(files["npz"], X=data)
    archive = files["npz"].read_bytes()
    files["two_arrays"] = folder / "two.npz"
    np.savez(files["two_arrays"], X=data, Y=data)
    files["truncated_npz"] = folder / "truncated.npz"
    files["truncated_npz"].write_bytes(archive[: len(archive) // 2])
    corrupt = bytearray(archive)
    for index in range(60, min(len(corrupt) - 30, 200)):
        corrupt[index] ^= 0xFF
    files["corrupt_npz"] = folder / "corrupt.npz"
    files["corrupt_npz"].write_bytes(bytes(corrupt))
    files["garbage_npz"] = folder / "garbage.npz"
    files["garbage_npz"].write_bytes(rng.bytes(500))
    files["empty_file"] = folder / "empty.npy"
    files["empty_file"].write_bytes(b"")
    files["zip_of_text"] = folder / "text.npz"
    with zipfile.ZipFile(files["zip_of_text"], "w") as handle:
        handle.writestr("X.npy", "not an array")
    files["zip_bomb_header"] = folder / "bomb.npz"
    with zipfile.ZipFile(files["zip_bomb_header"], "w") as handle:
        buffer = folder / "inner.npy"
        _write_npy_header(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 10**6)})
        handle.write(buffer, "X.npy")

    texts = {
        "csv": "1,2,3\n4,5,6\n7,8,10\n",
        "header_csv": "a,b,c\n1,2,3\n4,5,6\n7,8,10\n",
        "ragged_csv": "1,2,3\n4,5\n",
        "words_csv": "1,2,3\n4,x,6\n",
        "comments_txt": "# rows\n1 2 3\n4 5 6\n7 8 10\n",
        "only_header_csv": "a,b,c\n",
        "binary_csv": None,
    }
    for name, text in texts.items():
        suffix = "." + name.rsplit("_", 1)[-1]
        path = folder / f"{name}{suffix}"
        if text is None:
            path.write_bytes(b"\x00\xff\xfe" * 50)
        else:
            path.write_text(text)
        files[name] = path
    files["unknown_suffix"] = folder / "data.xyz"
    files["unknown_suffix"].write_text("1,2\n")
    files["torch"] = folder / "tensor.pt"
    files["torch"].write_bytes(b"PK\x03\x04 not really a torch file")
    files["directory"] = folder / "folder.npy"
    files["directory"].mkdir()
    files["fifo"] = folder / "pipe.npy"
    os.mkfifo(files["fifo"])
    files["missing"] = folder / "missing.npy"
    return files


# ----------------------------------------------------------------------------- file cases
FILE_NAMES = [
    "good", "integers", "complex", "booleans", "dates", "text", "objects", "nan", "inf", "empty",
    "vector", "cube", "zeros", "big", "tiny", "scaled_up", "scaled_down", "max_float",
    "cut_header", "truncated_npy", "huge_shape", "bad_header", "npy_as_npz", "npz",
    "two_arrays", "truncated_npz", "corrupt_npz", "garbage_npz", "empty_file", "zip_of_text",
    "zip_bomb_header", "csv", "header_csv", "ragged_csv", "words_csv", "comments_txt",
    "only_header_csv", "binary_csv", "unknown_suffix", "torch", "directory", "fifo", "missing",
    "structured",
]  # fmt: skip

#: Files that must be refused with exit code 2, and a word the message must contain.
REFUSED = {
    "complex": "complex",
    "booleans": "boolean",
    "dates": "dates",
    "text": "text",
    "objects": "objects",
    "nan": "finite",
    "inf": "finite",
    "empty": "empty",
    "cut_header": "header",
    "truncated_npy": "truncated",
    "huge_shape": "shape",
    "bad_header": "header",
    "two_arrays": "--key",
    "truncated_npz": "npz",
    "garbage_npz": "npz",
    "empty_file": "empty",
    "zip_of_text": "not a .npy",
    "zip_bomb_header": "shape",
    "ragged_csv": "columns",
    "words_csv": "not a number",
    "only_header_csv": "no numbers",
    "binary_csv": "",
    "unknown_suffix": "unknown format",
    "torch": "",
    "directory": "directory",
    "fifo": "FIFO",
    "missing": "no such file",
    "structured": "structured",
}

#: Files that must be read.
ACCEPTED = ("good", "integers", "npy_as_npz", "npz", "csv", "header_csv", "comments_txt")


@pytest.mark.parametrize("name", FILE_NAMES)
def test_every_file_through_critical_lr(capsys, corpus, name) -> None:
    arguments = ["critical-lr", "--data", str(corpus[name]), "--json"]
    code, out, err = run_case(capsys, arguments)
    assert_contract(code, out, err, arguments)
    if name in REFUSED:
        assert code == 2, (name, err)
        assert REFUSED[name] in err, (name, err)
    if name in ACCEPTED:
        assert code == 0, (name, err)
        assert _strict_json(out)["critical_learning_rate"] > 0


@pytest.mark.parametrize(
    "command",
    [
        ["simulate", "--relative", "0.5", "--steps", "3", "--runs", "20"],
        ["check", "--relative", "0.5", "--runs", "50", "--horizon", "2"],
        ["derive", "--method", "gd"],
        ["plot", "radius", "--points", "4", "--output", "{folder}/f.png"],
    ],
    ids=["simulate", "check", "derive", "plot"],
)
@pytest.mark.parametrize(
    "name",
    ["good", "complex", "nan", "truncated_npz", "corrupt_npz", "huge_shape", "cut_header",
     "directory", "fifo", "header_csv", "big", "tiny", "zeros"],
)  # fmt: skip
def test_files_through_every_subcommand(capsys, corpus, tmp_path, command, name) -> None:
    command = [part.replace("{folder}", str(tmp_path)) for part in command]
    if command[0] == "plot":
        arguments = [*command[:2], "--data", str(corpus[name]), *command[2:]]
    else:
        arguments = [command[0], "--data", str(corpus[name]), *command[1:]]
    if command[0] != "plot":
        arguments.append("--json")
    code, out, err = run_case(capsys, arguments)
    assert_contract(code, out, err, arguments)
    if name in REFUSED:
        assert code == 2 and REFUSED[name] in err, (arguments, err)


@pytest.mark.parametrize("source", ["--hessian", "--hessians", "--gram"])
@pytest.mark.parametrize(
    "name", ["good", "indefinite", "asymmetric", "hessians", "gram_big", "vector", "cube", "big"]
)
def test_problem_sources(capsys, corpus, source, name) -> None:
    arguments = ["critical-lr", source, str(corpus[name]), "--method", "gd", "--json"]
    code, out, err = run_case(capsys, arguments)
    assert_contract(code, out, err, arguments)


# ----------------------------------------------------------------------------- flag cases
FLAG_CASES = [
    (["critical-lr", "--example", "--precision", "100000"], "--precision"),
    (["critical-lr", "--example", "--method", "heavy-ball", "--momentum", "1e400"], "--momentum"),
    (["critical-lr", "--example", "--method", "heavy-ball", "--momentum", "nan"], "--momentum"),
    (["critical-lr", "--example", "--method", "heavy-ball", "--momentum", "1"], "momentum"),
    (["critical-lr", "--example", "--method", "sgd", "--batch-size", "1e12"], "batch_size"),
    (["critical-lr", "--example", "--method", "sgd", "--batch-size", "-3"], "batch_size"),
    (["critical-lr", "--example", "--method", "sgd", "--batch-size", "1.5"], "--batch-size"),
    (["critical-lr", "--example", "--method", "lion"], "--method"),
    (["critical-lr", "--data", ""], "empty file name"),
    (["critical-lr", "--example", "--key", "nothing"], None),
    (["simulate", "--example", "--lr", "1e308", "--steps", "3", "--runs", "10"], None),
    (["simulate", "--example", "--lr", "1e400"], "--lr"),
    (["simulate", "--example", "--lr", "nan"], "--lr"),
    (["simulate", "--example", "--lr", "-1", "--steps", "3"], "lr"),
    (["simulate", "--example", "--lr", "0.1", "--steps", "1e12"], "--steps"),
    (["simulate", "--example", "--lr", "0.1", "--runs", "1e12"], "--runs"),
    (["simulate", "--example", "--lr", "0.1", "--runs", "1e13"], "--runs"),
    (["simulate", "--example", "--lr", "0.1", "--runs", "1e8", "--steps", "1e7"], "operations"),
    (["simulate", "--example", "--lr", "0.1", "--seed", "-1"], "--seed"),
    (["simulate", "--example", "--lr", "0.1", "--seed", "1e30"], "--seed"),
    (["simulate", "--example", "--lr", "0.1", "--false-alarm", "2"], "--false-alarm"),
    (["simulate", "--example", "--lr", "0.1", "--plot", "o.txt"], "--output"),
    (["simulate", "--example", "--lr", "0.1", "--output", "{folder}"], "directory"),
    (["simulate", "--example", "--relative", "0"], "--relative"),
    (["simulate", "--example", "--relative", "1e308", "--steps", "3", "--runs", "10"], None),
    (["simulate", "--example", "--lr", "0.1", "--chunk-size", "0"], "--chunk-size"),
    (["check", "--example", "--horizon", "1e9"], "--horizon"),
    (["check", "--example", "--margin", "5"], "--margin"),
    (["check", "--example", "--runs", "1"], "runs"),
    (["check", "--example", "--lr", "0.1", "--runs", "20", "--output", "{folder}/f.jpg"],
     "--output"),
    (["derive", "--method", "heavy-ball", "--momentum", "1/0"], "divides by zero"),
    (["derive", "--method", "heavy-ball", "--momentum", "1e400"], "--momentum"),
    (["derive", "--method", "variational-gd", "--posterior-variance", "1/0"], "divides by zero"),
    (["derive", "--method", "variational-gd", "--posterior-variance", "-1"], "posterior"),
    (["derive", "--method", "heavy-ball", "--momentum", "x" * 500], "--momentum"),
    (["derive", "--method", "heavy-ball", "--momentum", "a+b"], "--momentum"),
    (["derive", "--dim", "1e9"], "--dim"),
    (["derive", "--samples", "0"], "--samples"),
    (["derive", "--dim", "9"], "numeric layer"),
    (["derive", "--digits", "40", "--data", "{good}"], "--digits"),
    (["derive", "--data", "{big}", "--method", "gd"], None),
    (["derive", "--data", "{wide}"], "many minutes"),
    (["derive", "--data", "{wide}", "--method", "sgd", "--batch-size", "2", "--digits", "9"],
     "many minutes"),
    (["plot", "radius", "--example", "--dpi", "100000", "-o", "{folder}/f.png"], "--dpi"),
    (["plot", "radius", "--example", "--points", "1e8", "-o", "{folder}/f.png"], "--points"),
    (["plot", "radius", "--example", "-o", "{folder}"], "directory"),
    (["plot", "radius", "--example", "-o", "{folder}/f.gif"], "--output"),
    (["plot", "radius", "--example", "--lr-max", "inf", "-o", "{folder}/f.png"], "--lr-max"),
    (["plot", "phase", "--example", "--batch-size", "1", "--monte-carlo", "--runs", "1e9",
      "-o", "{folder}/f.png"], "--runs"),
    (["plot", "mean-square", "--example", "--lr", "0.1", "--runs", "1e8", "--steps", "1e6",
      "-o", "{folder}/f.png"], "operations"),
    (["tour", "--nonsense"], "unrecognized"),
    (["nonsense"], "invalid choice"),
    ([], "required"),
]  # fmt: skip


@pytest.mark.parametrize(("arguments", "word"), FLAG_CASES, ids=lambda value: None)
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_absurd_flags_are_refused_by_name(capsys, corpus, tmp_path, arguments, word, json_flag):
    values = {"folder": str(tmp_path), **{name: str(path) for name, path in corpus.items()}}
    arguments = [part.format(**values) if "{" in part else part for part in arguments]
    if json_flag and arguments and arguments[0] != "nonsense":
        arguments = [*arguments, "--json"]
    code, out, err = run_case(capsys, arguments)
    assert_contract(code, out, err, arguments)
    if word is not None:
        assert code == 2, (arguments, code, err)
        assert word in err, (arguments, err)


def test_json_error_object_under_json(capsys) -> None:
    code, out, err = run_case(capsys, ["critical-lr", "--data", "", "--json"])
    assert code == 2
    payload = _strict_json(out)["error"]
    assert payload == {
        "command": "critical-lr",
        "type": "FileError",
        "message": "--data: empty file name",
        "exit_code": 2,
    }
    assert err.strip() == "stability critical-lr: error: --data: empty file name"


def test_simulate_json_is_strict_even_when_it_overflows(capsys) -> None:
    arguments = ["simulate", "--example", "--relative", "50", "--steps", "400", "--runs", "20",
                 "--json"]  # fmt: skip
    code, out, err = run_case(capsys, arguments)
    assert code == 0, err
    payload = _strict_json(out)
    assert "inf" in payload["predicted"] or max(payload["predicted"]) > 1e100


def test_internal_errors_exit_one_without_traceback(capsys, monkeypatch) -> None:
    import stability.numeric as thresholds

    def broken(*args, **kwargs):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(thresholds, "critical_learning_rate", broken)
    code, out, err = run_case(capsys, ["critical-lr", "--example", "--json"])
    assert code == 1
    assert err.strip() == (
        "stability critical-lr: error: internal error: ZeroDivisionError: simulated bug"
    )
    assert _strict_json(out)["error"]["exit_code"] == 1


def test_warnings_do_not_precede_an_error(capsys, monkeypatch) -> None:
    import warnings

    import stability.numeric as thresholds

    def noisy(*args, **kwargs):
        warnings.warn("overflow encountered", RuntimeWarning, stacklevel=1)
        warnings.warn("something odd", UserWarning, stacklevel=1)
        raise ValueError("array must not contain infs or NaNs")

    monkeypatch.setattr(thresholds, "critical_learning_rate", noisy)
    code, _, err = run_case(capsys, ["critical-lr", "--example"])
    assert code == 1 and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- subprocesses
@pytest.mark.parametrize(
    "arguments",
    [
        ["critical-lr", "--data", "{corrupt_npz}"],
        ["critical-lr", "--data", "{fifo}", "--json"],
        ["simulate", "--example", "--lr", "0.1", "--runs", "1e13"],
        ["derive", "--method", "heavy-ball", "--momentum", "1/0"],
        ["plot", "radius", "--example", "--dpi", "100000", "-o", "{folder}/f.png"],
    ],
    ids=["corrupt-npz", "fifo", "runs", "derive", "dpi"],
)
def test_real_processes(corpus, tmp_path, arguments) -> None:
    values = {"folder": str(tmp_path), **{name: str(path) for name, path in corpus.items()}}
    arguments = [part.format(**values) if "{" in part else part for part in arguments]
    environment = {**os.environ, "PYTHONWARNINGS": "default"}
    completed = subprocess.run(
        [sys.executable, "-m", "stability", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    if "--json" in arguments:
        assert _strict_json(completed.stdout)["error"]["exit_code"] == 2


# ----------------------------------------------------------------------------- scale
@pytest.mark.parametrize("source", ["--data", "--gram", "--hessians", "--hessian"])
def test_thresholds_scale_exactly_over_the_float_range(capsys, tmp_path, source) -> None:
    """η* of the input times s is the unit problem's divided by s (Hessians) or s² (rows)."""
    data = np.random.default_rng(1).standard_normal((6, 3))
    arrays = {
        "--data": (data, 2),
        "--gram": (data @ data.T, 1),
        "--hessians": (np.einsum("ni,nj->nij", data, data), 1),
        "--hessian": (data.T @ data / 6, 1),
    }
    array, power = arrays[source]
    methods = ["--method", "gd"] if source == "--hessian" else [
        "--method", "gd", "sgd", "heavy-ball", "--batch-size", "2", "--momentum", "0.5"]
    rates = {}
    for exponent in (0, -150, -80, 80, 150):
        path = tmp_path / f"scaled{exponent}.npy"
        np.save(path, array * 10.0**exponent)
        arguments = ["critical-lr", source, str(path), *methods, "--json"]
        code, out, err = run_case(capsys, arguments)
        assert code in (0, 2), err
        if code == 2:  # a named refusal: the answer itself is not representable
            assert "outside the double-precision range" in err
            continue
        payload = _strict_json(out)
        rows = payload if isinstance(payload, list) else [payload]
        rates[exponent] = [row["critical_learning_rate"] for row in rows]
    assert set(rates) >= {0, -80, 80}
    for exponent, values in rates.items():
        factor = 10.0 ** (-power * exponent)
        for value, unit in zip(values, rates[0], strict=True):
            assert value == pytest.approx(unit * factor, rel=1e-12), (exponent, value, unit)


def test_api_words_become_flags(capsys, corpus) -> None:
    # a single Hessian has no samples: the library says so in its words, the CLI in flags
    arguments = ["critical-lr", "--hessian", str(corpus["indefinite"]).replace(
        "indefinite", "hessian_ok"), "--method", "sgd", "--batch-size", "1"]
    np.save(arguments[2], np.diag([2.0, 1.0]))
    code, _, err = run_case(capsys, arguments)
    assert code == 2
    assert "batch_size=None" not in err and "Quadratic." not in err
    assert "--batch-size" in err or "--hessians" in err, err
