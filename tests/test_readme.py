"""Every code block of README.md runs verbatim, in order, in a fresh temporary directory.

``python`` blocks run as scripts with this interpreter, ``bash`` blocks with ``bash -e``, one
after the other in the same directory (so a file one block saves is there for the next).
Blocks whose info string carries the word ``not-run`` (```` ```bash not-run ````) install
packages or run this very test suite; the README says so, and they are only checked to be
what they claim. Any other language fails the test, so no block escapes it unnoticed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOT_RUN = "not-run"
RUNNERS = {"python": [sys.executable], "bash": ["bash", "-e"]}


def _load_hook():
    path = ROOT / "docs" / "_hooks" / "docs_code.py"
    spec = importlib.util.spec_from_file_location("stability_docs_code_hook_readme", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


hook = _load_hook()


def _blocks() -> list[tuple[str, bool, str, int]]:
    """(language, runs, code, first line) of every fenced block of the README, in order."""
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    blocks = []
    for block in hook.code_blocks(text):
        info = lines[block.line - 2].strip().lstrip("`~").split()
        blocks.append((block.language, NOT_RUN not in info[1:], block.code, block.line))
    return blocks


def test_the_readme_blocks_run_verbatim_in_a_fresh_directory(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        # this checkout's package, and its console script next to this interpreter
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1",
    }
    ran = []
    for language, runs, code, line in _blocks():
        if not runs:
            continue
        assert language in RUNNERS, f"README.md:{line}: a ```{language} block cannot be run"
        script = tmp_path / f"block-{line}.{'py' if language == 'python' else 'sh'}"
        script.write_text(code, encoding="utf-8")
        result = subprocess.run(
            [*RUNNERS[language], str(script)],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (
            f"README.md:{line}: the {language} block failed:\n{code}\n"
            f"{result.stdout}\n{result.stderr}"
        )
        ran.append((language, result.stdout))
    languages = [language for language, _ in ran]
    assert "python" in languages and "bash" in languages
    # the command line agrees with the Python call before it (the README's promise)
    python_output = next(output for language, output in ran if language == "python")
    json_output = next(output for language, output in ran if '"critical_learning_rate"' in output)
    printed = float(python_output.split()[0])
    assert json.loads(json_output)["critical_learning_rate"] == pytest.approx(printed, rel=1e-12)


def test_blocks_that_are_not_run_only_install_or_run_the_tests() -> None:
    skipped = [(code, line) for language, runs, code, line in _blocks() if not runs]
    assert skipped, "the README shows how to install"
    for code, line in skipped:
        for command in code.splitlines():
            command = command.split("#")[0].strip()
            if not command:
                continue
            assert command.startswith(("pip install", "python -m pytest")), (
                f"README.md:{line}: {command!r} is marked {NOT_RUN} but is neither an install "
                "nor the test suite"
            )


def test_the_readme_names_how_to_install_every_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    text = README.read_text(encoding="utf-8")
    missing = [name for name in extras if f'pip install -e ".[{name}]"' not in text]
    assert missing == [], f"README.md does not say how to install the extras {missing}"
