"""The command line speaks one vocabulary: same flags, same defaults, same JSON fields."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest

from stability.cli import build_parser, main
from stability.cli._common import DEFAULT_SEED, LIMITS
from stability.methods import registry


def _subcommands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                path = f"{prefix} {name}".strip()
                nested = _subcommands(child, path)
                found.update(nested or {path: child})
    return found


SUBCOMMANDS = _subcommands(build_parser())


def _flags() -> dict[str, dict[str, argparse.Action]]:
    """``flag -> {subcommand: action}`` over every subcommand."""
    table: dict[str, dict[str, argparse.Action]] = defaultdict(dict)
    for name, parser in SUBCOMMANDS.items():
        for action in parser._actions:
            for flag in action.option_strings:
                table[flag][name] = action
    return table


FLAGS = _flags()


def test_every_subcommand_is_found() -> None:
    assert {"critical-lr", "simulate", "check", "derive", "tour", "plot radius",
            "plot phase", "plot mean-square", "plot variational-edge"} <= set(SUBCOMMANDS)


def test_a_flag_has_one_destination_type_and_default_everywhere() -> None:
    for flag, actions in FLAGS.items():
        if flag in ("-h", "--help"):
            continue
        destinations = {action.dest for action in actions.values()}
        assert len(destinations) == 1, (flag, destinations)
        numeric = {
            name: action
            for name, action in actions.items()
            if not (name == "derive" and flag in registry.flags())  # derive also takes symbols
        }
        types = {getattr(action.type, "__name__", repr(action.type)) for action in numeric.values()}
        assert len(types) == 1, (flag, types)
        if flag not in ("--method", "--runs", "--steps", "--lr", "--relative"):
            defaults = {repr(action.default) for action in actions.values()}
            assert len(defaults) == 1, (flag, defaults)


def test_one_seed_default_and_one_output_flag() -> None:
    assert {action.default for action in FLAGS["--seed"].values()} == {DEFAULT_SEED}
    for name, parser in SUBCOMMANDS.items():
        for action in parser._actions:
            if action.dest in ("output", "plot"):
                assert action.option_strings[0] == "--output", name
    # every subcommand writing a figure offers --output
    for name in ("simulate", "check", "plot radius", "plot phase", "plot mean-square"):
        assert name in FLAGS["--output"]


def test_every_method_flag_offers_the_registry() -> None:
    for name, action in FLAGS["--method"].items():
        assert tuple(action.choices) == registry.names(), name
        for option_flag in registry.flags():
            assert name in FLAGS[option_flag], (name, option_flag)
        assert name in FLAGS["--batch-size"] and name in FLAGS["--replacement"]


def test_counts_have_documented_limits() -> None:
    for flag in ("--runs", "--steps", "--horizon", "--points", "--dpi", "--precision"):
        assert flag in FLAGS and flag in LIMITS, flag
        low, high = LIMITS[flag]
        assert 0 <= low < high


def test_no_api_words_in_help() -> None:
    for name, parser in SUBCOMMANDS.items():
        text = parser.format_help()
        for word in ("batch_size=", "symbolic=True", "Quadratic.from", "progress=True"):
            assert word not in text, (name, word)


def test_json_fields_have_one_name_and_meaning(tmp_path, capsys) -> None:
    data = np.random.default_rng(0).standard_normal((6, 10))
    np.save(tmp_path / "X.npy", data)
    np.save(tmp_path / "K.npy", data @ data.T)
    payloads = {}
    for source, path in (("--data", "X.npy"), ("--gram", "K.npy")):
        for command, extra in (
            ("critical-lr", []),
            ("simulate", ["--relative", "0.5", "--steps", "2", "--runs", "20"]),
            ("check", ["--relative", "0.5", "--runs", "50", "--horizon", "2"]),
        ):
            code = main([command, source, str(tmp_path / path), "--method", "sgd",
                         "--batch-size", "2", *extra, "--json"])
            assert code in (0, 1)
            payloads[command, source] = json.loads(capsys.readouterr().out)
    for command in ("critical-lr", "simulate", "check"):
        from_data, from_gram = payloads[command, "--data"], payloads[command, "--gram"]
        assert from_data["dimension"] == 10 and from_gram["dimension"] is None
        assert from_data["rank"] == from_gram["rank"] == 6
        assert from_data["samples"] == from_gram["samples"] == 6
        assert from_data["sharpness"] == pytest.approx(from_gram["sharpness"], rel=1e-10)
    shared = {"samples", "dimension", "rank", "sharpness", "critical_learning_rate"}
    for (command, _), payload in payloads.items():
        assert shared <= set(payload), (command, shared - set(payload))
    rates = {key: payload["critical_learning_rate"] for key, payload in payloads.items()}
    assert len({round(rate, 10) for rate in rates.values()}) == 1


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        ("import stability", ("numpy", "scipy", "sympy", "matplotlib")),
        ("from stability.cli import build_parser; build_parser().format_help()",
         ("scipy", "sympy", "matplotlib")),
        ("from stability.cli import main; main(['critical-lr', '--example', '--json'])",
         ("sympy", "matplotlib")),
    ],
    ids=["import", "help", "critical-lr"],
)  # fmt: skip
def test_imports_are_lazy(code, absent) -> None:
    """Start-up loads only what a command needs (timings: benchmarks/startup.py)."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {absent!r} if m in sys.modules))"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip().splitlines()[-1] == "[]", completed.stdout
