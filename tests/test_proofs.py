"""The machine-checked proofs (``proofs/``, installed as ``stability.proofs``), their registry
and the ``stability prove`` command."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest
import sympy
from hypothesis import strategies as st

from stability import InvalidInputError
from stability.cli import main
from stability.cli.prove import load_proofs

proofs = load_proofs()
from stability.proofs import registry  # noqa: E402  (after load_proofs registers the package)
from stability.proofs.registry import Check, Proof, ProofResult  # noqa: E402

NAMES = list(registry.discover())


def test_at_least_twelve_proofs_with_the_interface():
    assert len(NAMES) >= 12
    for name, module in registry.discover().items():
        assert module.NAME == name == module.__name__.rsplit(".", 1)[1]
        assert module.STATEMENT.strip() and module.CITATION.strip()
        assert callable(module.prove)


@pytest.mark.parametrize("name", NAMES)
def test_proof_holds(name):
    (result,) = registry.run([name])
    assert isinstance(result, ProofResult)
    assert result.verdict == "proved", (
        result.summary()
        + "\n"
        + "\n".join(f"{c.description}: {c.detail}" for c in result.failures())
    )
    assert len(result.checks) >= 3


def test_proof_builder_records_failures():
    x = sympy.Symbol("x")
    proof = Proof("demo", "statement", "citation")
    assert proof.identity("true identity", (x + 1) ** 2 - x**2 - 2 * x - 1)
    assert not proof.identity("false identity", (x + 1) ** 2 - x**2)
    assert not proof.close("numbers", 1.0, 1.1)
    assert not proof.exhaustive("crashes", [1, 0], lambda value: 1 / value > 0)
    assert not proof.exhaustive("empty family proves nothing", [], lambda value: True)
    assert not proof.hypothesis(
        "false for large integers", st.integers(0, 100), lambda value: value < 50, max_examples=50
    )
    result = proof.result()
    assert result.verdict == "FAILED"
    assert [check.passed for check in result.checks] == [True, False, False, False, False, False]
    assert "residual" in result.checks[1].detail
    assert "raised" in result.checks[3].detail
    assert "50" in result.checks[5].detail  # the shrunk falsifying example
    assert "first failure: false identity" in result.summary()
    assert not ProofResult("empty", "", "", ()).holds


def _fake_module(name: str, prove) -> types.ModuleType:
    module = types.ModuleType(f"stability.proofs.{name}")
    module.NAME, module.STATEMENT, module.CITATION, module.prove = name, "claim", "nobody", prove
    return module


def test_runner_reports_failed_and_crashing_proofs(monkeypatch, capsys):
    def failing():
        return ProofResult("failing", "claim", "nobody", (Check("wrong", False, "2 ≠ 3"),))

    def crashing():
        raise ZeroDivisionError("boom")

    fakes = {
        "failing": _fake_module("failing", failing),
        "crashing": _fake_module("crashing", crashing),
        "first_layer": registry.discover()["first_layer"],
    }
    monkeypatch.setattr(registry, "discover", lambda: fakes)
    results = registry.run()
    assert [r.verdict for r in results] == ["FAILED", "FAILED", "proved"]
    assert "ZeroDivisionError: boom" in results[1].checks[0].detail
    capsys.readouterr()
    assert main(["prove", "first_layer"]) == 0
    capsys.readouterr()
    assert main(["prove"]) == 1
    output = capsys.readouterr().out.splitlines()
    assert output[0].startswith("failing") and "FAILED" in output[0]
    assert any(line.strip().startswith("FAIL wrong") for line in output)
    assert output[-1] == "1 of 3 proofs hold"


def test_cli_lines_and_exit_codes(capsys):
    assert main(["prove", "batch_moment", "first_layer"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["batch_moment", "proved"]
    assert lines[1].split()[:2] == ["first_layer", "proved"]
    assert lines[-1] == "2 of 2 proofs hold"
    assert main(["prove", "no_such_proof"]) == 2
    assert "unknown proof 'no_such_proof'" in capsys.readouterr().err
    assert main(["prove", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == NAMES


def test_catalogue_reads_the_modules_without_importing_them():
    catalogue = registry.catalogue()
    assert list(catalogue) == NAMES
    for name, module in registry.discover().items():
        assert catalogue[name] == module.STATEMENT
    assert proofs.__name__ == "stability.proofs"
    assert registry.__name__ == "stability.proofs.registry"
    modules = registry.discover().values()
    assert all(module.__name__.startswith("stability.proofs.") for module in modules)


def test_cli_json_and_verbose(capsys):
    assert main(["prove", "first_layer", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["all_hold"] is True
    (proof,) = payload["proofs"]
    assert proof["name"] == "first_layer" and proof["verdict"] == "proved"
    assert all(check["passed"] for check in proof["checks"])
    assert main(["prove", "first_layer", "--verbose"]) == 0
    assert "    ok   " in capsys.readouterr().out


def test_unknown_names_raise_the_package_error():
    with pytest.raises(InvalidInputError, match="known proofs"):
        registry.run(["nope"])


def test_python_dash_m_entry_point():
    completed = subprocess.run(
        [sys.executable, "-m", "stability", "prove", "first_layer"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split()[:2] == ["first_layer", "proved"]


def test_package_exports():
    assert proofs.run is registry.run and proofs.Proof is Proof
