"""Every command-line subcommand that takes a method accepts every method of the registry.

The registry (:mod:`stability.methods.registry`) is walked, not copied: every method, with
every option its class takes, through every subcommand that takes ``--method``; each flag
must be parsed and reach the method object, which is compared with the class constructed
directly.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from pathlib import Path

import numpy as np
import pytest

from stability.cli import build_parser, main
from stability.methods import registry

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: Every subcommand taking ``--method``, as the words before the problem.
SUBCOMMANDS = (
    ("critical-lr",),
    ("simulate",),
    ("check",),
    ("derive",),
    ("plot", "radius"),
    ("plot", "phase"),
    ("plot", "mean-square"),
)


def _method_arguments(
    spec: registry.MethodSpec, *, dimension: int | None = None, epochs: bool = False
) -> list[str]:
    arguments = ["--method", spec.name]
    if spec.batch == "required" or (epochs and spec.batch != "none"):
        arguments += ["--batch-size", "2" if epochs else "4"]
    for keyword, value in spec.example_options(dimension, epochs=epochs).items():
        arguments += spec.option(keyword).command_text(value)
    return arguments


def _run(capsys, *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(params=registry.METHODS, ids=lambda spec: spec.name)
def spec(request) -> registry.MethodSpec:
    return request.param


# ------------------------------------------------------------------------ the registry
def test_the_registry_lists_every_method_class_once() -> None:
    import stability.methods as methods
    from stability.methods import Method

    classes = {spec.load() for spec in registry.METHODS}
    assert len(classes) == len(registry.METHODS) == len(set(registry.names()))
    exported = {
        value
        for value in vars(methods).values()
        if isinstance(value, type) and issubclass(value, Method) and value is not Method
    }
    assert exported == classes  # every public method class is in the registry


def test_every_constructor_argument_is_an_option(spec) -> None:
    """The registry offers every argument of the class, with the class's default."""
    fields = [
        field
        for field in dataclasses.fields(spec.load())
        if field.init and field.name not in registry.GENERAL_ARGUMENTS
    ]
    missing = [field.name for field in fields if field.name not in registry.CATALOGUE]
    assert missing == [], f"{spec.name}: add these arguments to registry.CATALOGUE: {missing}"
    assert [option.keyword for option in spec.options] == [field.name for field in fields]
    for field, option in zip(fields, spec.options, strict=True):
        assert option.required == (field.default is dataclasses.MISSING)
        if not option.required:
            assert option.default == field.default, option.keyword


def test_registry_examples_build_and_label(spec) -> None:
    batch = 4 if spec.batch != "none" else None
    method = spec.build(batch_size=batch, **spec.example_options(2, epochs=batch is not None))
    assert registry.spec_of(method) is spec
    assert registry.label(method).startswith(spec.label)
    for keyword, value in spec.example_options(2, epochs=batch is not None).items():
        assert getattr(method, keyword) == value, keyword


def test_build_refuses_an_option_the_method_does_not_take() -> None:
    from stability.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="gd takes no option --shuffle"):
        registry.get("gd").build(shuffle=True)
    with pytest.raises(InvalidInputError, match="heavy-ball needs --momentum"):
        registry.get("heavy-ball").build()
    assert registry.get("gd").build(shuffle=False) == registry.get("gd").build()


def _other_than_default(option: registry.Option):
    value = option.example_value(2)
    if value != option.default:
        return value
    if option.kind == "boolean":
        return not value
    return option.high


def test_labels_show_every_option_that_differs_from_its_default(spec) -> None:
    batch = None if spec.batch == "none" else 4
    required = {o.keyword: o.example_value(2) for o in spec.options if o.required}
    defaults = spec.build(batch, **required)
    for option in spec.options:
        if option.required or option.needs_batch:
            continue
        method = spec.build(batch, **required, **{option.keyword: _other_than_default(option)})
        assert registry.label(method) != registry.label(defaults), option.keyword
    if spec.option("shuffle") is not None:
        shuffled = spec.build(batch, **required, shuffle=True)
        assert registry.label(shuffled) == registry.label(defaults) + " reshuffled"


# --------------------------------------------------------------- every subcommand, end to end
def test_critical_lr_accepts_every_method(capsys, spec) -> None:
    code, out, err = _run(capsys, "critical-lr", "--example", *_method_arguments(spec), "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["method_name"] == spec.name
    assert 0 < payload["critical_learning_rate"]
    for keyword, value in spec.example_options().items():
        assert payload["options"][keyword] == value


def test_critical_lr_takes_all_methods_in_one_call(capsys) -> None:
    arguments = ["critical-lr", "--example", "--method", *registry.names(), "--batch-size", "4"]
    for spec in registry.METHODS:
        for keyword, value in spec.example_options().items():
            words = spec.option(keyword).command_text(value)
            if words and words[0] not in arguments:
                arguments += words
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
    payload = json.loads(out)
    assert payload["steps"] == 3
    assert payload["method_name"] == spec.name and payload["label"].startswith(spec.label)
    for keyword, value in spec.example_options().items():
        assert payload["options"][keyword] == value


def test_check_accepts_every_method(capsys, spec) -> None:
    code, out, err = _run(
        capsys, "check", "--example", *_method_arguments(spec), "--relative", "0.5",
        "--runs", "200", "--horizon", "3", "--json",
    )  # fmt: skip
    assert code in (0, 1), err
    payload = json.loads(out)
    assert payload["verdict"] in ("agree", "disagree", "inconclusive")
    assert payload["method_name"] == spec.name and payload["label"].startswith(spec.label)
    for keyword, value in spec.example_options().items():
        assert payload["options"][keyword] == value


def test_derive_accepts_every_method(capsys, spec) -> None:
    arguments = ["derive", "--samples", "2", "--method", spec.name]
    if spec.batch == "required":
        arguments += ["--batch-size", "1"]
    code, out, err = _run(capsys, *arguments)
    assert code == 0, err
    assert "critical learning rate" in out


def test_derive_accepts_every_method_with_its_example_options(capsys, spec) -> None:
    arguments = ["derive", "--samples", "2", *_method_arguments(spec), "--json"]
    if spec.batch == "required":
        arguments[arguments.index("--batch-size") + 1] = "1"
    code, out, err = _run(capsys, *arguments)
    assert code == 0, err
    assert json.loads(out)["critical_learning_rate"]


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


# ------------------------------------------------- every option flag reaches the method object
def _same(built, expected) -> bool:
    """Field by field; numbers compare by value (derive keeps 0.5 as the exact 1/2)."""
    if type(built) is not type(expected):
        return False
    for field in dataclasses.fields(expected):
        left, right = getattr(built, field.name), getattr(expected, field.name)
        if isinstance(right, numbers.Real) and not isinstance(right, bool):
            if float(left) != float(right):
                return False
        elif left != right:
            return False
    return True


def _problem_words(command: tuple[str, ...], folder: Path) -> list[str]:
    if command[0] == "derive":  # d = 1: exact arithmetic in d = 2 takes minutes for some
        return ["--dim", "1", "--samples", "2"]
    data = np.random.default_rng(3).standard_normal((6, 2))
    np.save(folder / "X.npy", data)
    return ["--data", str(folder / "X.npy")]


def _command_words(command: tuple[str, ...], folder: Path) -> list[str]:
    output = ["--output", str(folder / "f.svg")]
    return {
        "critical-lr": ["--json"],
        "simulate": ["--relative", "0.5", "--steps", "3", "--runs", "40", "--json"],
        "check": ["--relative", "0.5", "--runs", "200", "--horizon", "3", "--json"],
        "derive": ["--json"],
        "radius": ["--points", "6", *output, "--json"],
        "phase": ["--lrs", "0.5", *output, "--json"],
        "mean-square": ["--lr", "0.1", "--steps", "3", "--runs", "40", *output, "--json"],
    }[command[-1]]


#: ``(method, subcommand, with epoch options)``: every combination that makes sense (a phase
#: diagram's rows are batch sizes, so GD has none; see test_plot_accepts_every_method).
COMBINATIONS = [
    pytest.param(spec, command, epochs, id=f"{spec.name}-{' '.join(command)}-{epochs}")
    for spec in registry.METHODS
    for command in SUBCOMMANDS
    for epochs in (False, True)
    if (not epochs or spec.option("shuffle") is not None)
    and not (spec.batch == "none" and command[-1] == "phase")
]


@pytest.mark.parametrize(("spec", "command", "epochs"), COMBINATIONS)
def test_every_option_flag_reaches_the_method(
    capsys, monkeypatch, tmp_path, spec, command, epochs
) -> None:
    """Each subcommand parses every option flag of every method and builds exactly the
    method the class gives with those arguments; the run ends in success or, when an
    evaluator refuses the combination, in one line naming the package's own error."""
    built: list = []
    original = registry.MethodSpec.build

    def recording(self, *args, **kwargs):
        method = original(self, *args, **kwargs)
        built.append(method)
        return method

    monkeypatch.setattr(registry.MethodSpec, "build", recording)
    dimension = 1 if command[0] == "derive" else 2
    arguments = [
        *command,
        *_problem_words(command, tmp_path),
        *_method_arguments(spec, dimension=dimension, epochs=epochs),
        *_command_words(command, tmp_path),
    ]
    if spec.batch == "optional" and command[-1] == "phase" and "--batch-size" not in arguments:
        arguments += ["--batch-size", "2"]
    code, out, err = _run(capsys, *arguments)
    options = spec.example_options(dimension, epochs=epochs)
    batch = None
    if "--batch-size" in arguments:
        batch = int(arguments[arguments.index("--batch-size") + 1])
    expected = spec.load()(**({} if batch is None else {"batch_size": batch}), **options)
    assert any(_same(method, expected) for method in built), (arguments, built, expected)
    assert "Traceback" not in err
    if code != 0:  # an evaluator refused: one line, the package's error, not the parser's
        assert len(err.strip().splitlines()) == 1, err
        error = json.loads(out)["error"]
        assert error["exit_code"] == 2 and error["type"] not in ("UsageError", "CommandError"), err


def test_critical_lr_reshuffled_epochs(capsys, tmp_path) -> None:
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


def test_the_brief_example_command(capsys, tmp_path) -> None:
    """``--method adam --beta1 0.9 --preconditioner 4,0.25 --batch-size 8 --shuffle``: the
    threshold of the API, or the API's own refusal in one line."""
    from stability import Adam, Quadratic
    from stability.errors import StabilityError
    from stability.reshuffling import epoch_critical_learning_rate

    data = np.random.default_rng(1).standard_normal((8, 2))
    np.save(tmp_path / "data.npy", data)
    code, out, err = _run(capsys, "critical-lr", str(tmp_path / "data.npy"),
                          "--method", "adam", "--beta1", "0.9", "--preconditioner", "4,0.25",
                          "--batch-size", "8", "--shuffle", "--json")  # fmt: skip
    method = Adam(0.9, preconditioner=(4.0, 0.25), batch_size=8, shuffle=True)
    try:
        expected = epoch_critical_learning_rate(Quadratic.from_data(data), method)
    except StabilityError as error:  # the evaluator refuses: the command says so in one line
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert json.loads(out)["error"]["type"] == type(error).__name__
    else:
        assert code == 0, err
        assert json.loads(out)["critical_learning_rate"] == expected


def test_the_tour_shows_every_method() -> None:
    from stability.cli.tour import tour_rows

    labels = [label for label, _, _ in tour_rows()]
    for spec in registry.METHODS:
        assert any(label.split(" ")[0] == spec.label for label in labels), spec.name


@pytest.mark.parametrize("command", [("critical-lr",), ("simulate",), ("plot", "radius")])
def test_a_data_file_given_first_is_data(capsys, tmp_path, command) -> None:
    np.save(tmp_path / "X.npy", np.random.default_rng(2).standard_normal((6, 3)))
    words = {
        "critical-lr": ["--method", "sgd", "nesterov", "--batch-size", "2", "--momentum", "0.5"],
        "simulate": ["--method", "sgd", "--batch-size", "2", "--relative", "0.9", "--steps",
                     "3", "--runs", "30"],
        "radius": ["--batch-size", "2", "--points", "5", "-o", str(tmp_path / "f.svg")],
    }[command[-1]]  # fmt: skip
    outputs = []
    for problem in ([str(tmp_path / "X.npy")], ["--data", str(tmp_path / "X.npy")]):
        code, out, err = _run(capsys, *command, *problem, *words, "--json")
        assert code == 0, err
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1]
    with pytest.raises(SystemExit) as exit_:  # both at once: a usage error
        main([*command, str(tmp_path / "X.npy"), "--data", str(tmp_path / "X.npy"), *words])
    assert exit_.value.code == 2 and "not allowed" in capsys.readouterr().err


# ------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("text", ["4,0.25", "4, 0.25", "4 0.25"])
def test_a_preconditioner_is_numbers(text) -> None:
    arguments = build_parser().parse_args(
        ["critical-lr", "--example", "--method", "rmsprop", "--preconditioner", text]
    )
    from stability.cli._common import methods_from_arguments
    from stability.methods import RMSProp

    assert methods_from_arguments(arguments) == [RMSProp((4.0, 0.25))]


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".txt"])
def test_a_preconditioner_is_a_file(tmp_path, suffix) -> None:
    from stability.cli._common import methods_from_arguments
    from stability.methods import SGD

    matrix = np.array([[2.0, 0.5], [0.5, 1.0]])
    path = tmp_path / f"P{suffix}"
    if suffix == ".npy":
        np.save(path, matrix)
    else:
        np.savetxt(path, matrix, delimiter="," if suffix == ".csv" else " ")
    arguments = build_parser().parse_args(
        ["critical-lr", "--example", "--method", "sgd", "--batch-size", "2",
         "--preconditioner", str(path)]
    )  # fmt: skip
    assert methods_from_arguments(arguments) == [SGD(2, preconditioner=matrix)]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--method", "rmsprop", "--preconditioner", "4,-1"], "preconditioner"),
        (["--method", "rmsprop", "--preconditioner", "4,inf"], "--preconditioner"),
        (["--method", "rmsprop", "--preconditioner", ","], "--preconditioner"),
        (["--method", "rmsprop", "--preconditioner", "missing.npy"], "--preconditioner"),
        (["--method", "adam", "--beta1", "1"], "--beta1"),
        (["--method", "sgd", "--batch-size", "2", "--decoupled"], "--decoupled"),
        (["--method", "heavy-ball", "--momentum", "0.5", "--shuffle"], "--shuffle"),
        (["--method", "sgd", "--batch-size", "2", "--drop-last"], "--drop-last"),
        (["--method", "variational-gd", "--posterior-variance", "0.1",
          "--degrees-of-freedom", "2"], "--degrees-of-freedom"),
        (["--method", "variational-gd", "--posterior-variance", "0.1", "--posterior", "cauchy"],
         "--posterior"),
        (["--method", "adamw", "--weight-decay", "-1"], "--weight-decay"),
    ],
)  # fmt: skip
def test_bad_option_values_are_named_in_one_line(capsys, words, message) -> None:
    try:
        code, out, err = _run(capsys, "critical-lr", "--example", *words, "--json")
    except SystemExit as exit_:  # a usage error
        code, (out, err) = exit_.code, capsys.readouterr()
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert message in err
    assert message in json.loads(out)["error"]["message"]


def test_radius_full_batch_counterpart_keeps_the_options(capsys, tmp_path) -> None:
    from stability.cli.plot import _method_factory
    from stability.methods import GD

    arguments = build_parser().parse_args(["plot", "radius", "--example", "--method", "sgd",
                                           "--weight-decay", "0.5", "-o", "f.svg"])  # fmt: skip
    factory = _method_factory(arguments, "sgd", {"weight_decay": 0.5})
    assert factory(None) == GD(weight_decay=0.5)
    code, _, err = _run(capsys, "plot", "radius", "--example", "--method", "sgd",
                        "--preconditioner", ",".join(["2"] * 8), "--batch-size", "4",
                        "--full-batch", "-o", str(tmp_path / "f.svg"))  # fmt: skip
    assert code == 2 and "--preconditioner has no full-batch form" in err


# ----------------------------------------------------------------------------- the docs
def test_docs_list_the_registry() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert registry.options_table() in text, (
        "docs/cli.md must contain stability.methods.registry.options_table() verbatim; "
        "paste its output in place of the table of methods"
    )
    for flag in registry.flags():
        assert f"`{flag}" in text, flag


def test_help_lists_every_method_and_flag(capsys) -> None:
    for command in SUBCOMMANDS:
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        text = capsys.readouterr().out
        for name in registry.names():
            assert name in text, (command, name)
        for flag in registry.flags():
            assert flag in text, (command, flag)
