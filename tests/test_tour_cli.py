"""``stability tour`` ends with commands a newcomer can run on their own data, and they work."""

from __future__ import annotations

import json
import shlex

import numpy as np

from stability.cli import main
from stability.cli.tour import NEXT_COMMANDS


def test_the_tour_ends_with_the_next_commands(capsys) -> None:
    assert main(["tour"]) == 0
    out = capsys.readouterr().out
    tail = out.strip().splitlines()[-len(NEXT_COMMANDS) - 1 :]
    assert [line.strip() for line in tail[: len(NEXT_COMMANDS)]] == list(NEXT_COMMANDS)
    assert "η*" in out and "bounded" in out  # the table says what η* means
    assert main(["tour", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["next_commands"] == list(NEXT_COMMANDS)


def test_the_next_commands_run_on_a_data_file(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    np.save("X.npy", np.random.default_rng(0).standard_normal((100, 10)))
    commands = [command for command in NEXT_COMMANDS if command.startswith("stability ")]
    assert len(commands) == 3
    for command in commands:
        arguments = shlex.split(command)[1:]
        if arguments[0] == "check":
            arguments += ["--runs", "2000"]  # the default 20000 is slow for a test
        if arguments[0] == "plot":
            arguments[arguments.index("-o") + 1] = "radius.svg"
            arguments += ["--points", "20"]
        code = main(arguments)
        captured = capsys.readouterr()
        assert code == 0, (command, captured.err)
    assert (tmp_path / "radius.svg").stat().st_size > 0
