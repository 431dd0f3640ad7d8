"""Every command-line subcommand that takes a method accepts every method of the registry."""

from __future__ import annotations

import json

import pytest

from stability.cli import main
from stability.methods import registry


def _method_arguments(spec: registry.MethodSpec, *, numbers: bool = True) -> list[str]:
    arguments = ["--method", spec.name]
    if spec.batch == "required":
        arguments += ["--batch-size", "4"]
    for option in spec.options:
        value = option.example
        arguments += [option.flag, str(int(value)) if option.integer else repr(float(value))]
    return arguments


def _run(capsys, *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(params=registry.METHODS, ids=lambda spec: spec.name)
def spec(request) -> registry.MethodSpec:
    return request.param


def test_the_registry_lists_every_method_class_once() -> None:
    import stability.methods as methods

    classes = {spec.load() for spec in registry.METHODS}
    assert len(classes) == len(registry.METHODS) == len(set(registry.names()))
    concrete = {methods.GD, methods.SGD, methods.HeavyBall, methods.Nesterov, methods.VariationalGD}
    assert concrete <= classes


def test_registry_examples_build_and_label(spec) -> None:
    method = spec.build(batch_size=4 if spec.batch != "none" else None, **spec.example_options())
    assert registry.spec_of(method) is spec
    assert registry.label(method).startswith(spec.label)


def test_critical_lr_accepts_every_method(capsys, spec) -> None:
    code, out, err = _run(capsys, "critical-lr", "--example", *_method_arguments(spec), "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["method_name"] == spec.name
    assert 0 < payload["critical_learning_rate"]


def test_critical_lr_takes_all_methods_in_one_call(capsys) -> None:
    arguments = ["critical-lr", "--example", "--method", *registry.names(), "--batch-size", "4"]
    for option in registry.flags().values():
        arguments += [option.flag, str(option.example)]
    code, out, err = _run(capsys, *arguments, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [row["method_name"] for row in rows] == list(registry.names())


def test_simulate_accepts_every_method(capsys, spec) -> None:
    code, out, err = _run(
        capsys, "simulate", "--example", *_method_arguments(spec), "--relative", "0.5",
        "--steps", "3", "--runs", "50", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["steps"] == 3


def test_check_accepts_every_method(capsys, spec) -> None:
    code, out, err = _run(
        capsys, "check", "--example", *_method_arguments(spec), "--relative", "0.5",
        "--runs", "200", "--horizon", "3", "--json",
    )  # fmt: skip
    assert code in (0, 1), err
    assert json.loads(out)["verdict"] in ("agree", "disagree", "inconclusive")


def test_derive_accepts_every_method(capsys, spec) -> None:
    arguments = ["derive", "--samples", "2", "--method", spec.name]
    if spec.batch == "required":
        arguments += ["--batch-size", "1"]
    code, out, err = _run(capsys, *arguments)
    assert code == 0, err
    assert "critical learning rate" in out


@pytest.mark.parametrize("figure", ["radius", "mean-square", "phase"])
def test_plot_accepts_every_method(capsys, tmp_path, spec, figure) -> None:
    arguments = ["plot", figure, "--example", *_method_arguments(spec)]
    if figure == "radius":
        arguments += ["--points", "8"]
    elif figure == "mean-square":
        arguments += ["--lr", "0.5", "--steps", "3", "--runs", "50"]
    else:
        if spec.batch == "none":  # a phase diagram's rows are batch sizes: GD has none
            code, _, err = _run(capsys, *arguments, "--lrs", "1", "-o", str(tmp_path / "f.svg"))
            assert code == 2 and "needs a method with a batch size" in err
            return
        if spec.batch != "required":
            arguments += ["--batch-size", "4"]
        arguments += ["--lrs", "0.5", "1.0"]
    output = tmp_path / "figure.svg"
    code, _, err = _run(capsys, *arguments, "--output", str(output))
    assert code == 0, err
    assert output.stat().st_size > 0


def test_critical_lr_reshuffled_epochs(capsys, tmp_path) -> None:
    import numpy as np

    from stability import SGD, Quadratic
    from stability.reshuffling import epoch_critical_learning_rate

    data = np.random.default_rng(0).standard_normal((6, 3))
    np.save(tmp_path / "X.npy", data)
    code, out, err = _run(capsys, "critical-lr", "--data", str(tmp_path / "X.npy"), "--method",
                          "sgd", "--batch-size", "2", "--shuffle", "--json")  # fmt: skip
    assert code == 0, err
    expected = epoch_critical_learning_rate(Quadratic.from_data(data), SGD(2, shuffle=True))
    assert json.loads(out)["critical_learning_rate"] == expected
    assert "reshuffled" in json.loads(out)["batch"]
    code, _, err = _run(capsys, "critical-lr", "--example", "--method", "gd", "--shuffle")
    assert code == 2 and "--shuffle does not apply" in err
