"""Packaging: the distribution name, ``stability.proofs``, and an install without extras.

The subprocess tests emulate an installation without the optional dependencies by blocking
their import (``sys.modules[name] = None`` makes ``import name`` raise ImportError), so they
check what a user of ``pip install optimizer-stability`` (no extras) would see.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import setuptools

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: The optional dependencies of the package (extras), blocked to emulate a bare install.
OPTIONAL = ("hypothesis", "matplotlib", "tqdm", "dask", "distributed")
BLOCK = f"import sys\nfor name in {OPTIONAL!r}:\n    sys.modules[name] = None\n"


def _python(code: str, cwd: Path = ROOT, **environment: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with this checkout first on the path."""
    env = {**os.environ, **environment}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_distribution_name_and_extras():
    project = PYPROJECT["project"]
    assert project["name"] == "optimizer-stability"
    assert project["scripts"] == {"stability": "stability.cli:main"}
    assert project["entry-points"]["pytest11"] == {"stability": "stability.testing.plugin"}
    prove = project["optional-dependencies"]["prove"]
    assert any(dependency.startswith("hypothesis") for dependency in prove)
    for dependency in project["dependencies"]:
        assert not dependency.startswith(OPTIONAL)


def test_proofs_install_as_a_subpackage(monkeypatch):
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"stability.proofs": "proofs"}
    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **options: captured.update(options))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"))
    packages = captured["packages"]
    assert "stability" in packages and "stability.proofs" in packages
    assert "stability.testing" in packages and "stability.cli" in packages
    assert all(package == "stability" or package.startswith("stability.") for package in packages)
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "stability").rglob("__init__.py")
        if "__pycache__" not in path.parts
    }
    assert on_disk | {"stability.proofs"} == set(packages)


def test_plugin_loads_without_any_optional_dependency():
    completed = _python(
        BLOCK
        + textwrap.dedent(
            """
            import stability.testing.plugin as plugin
            imported = [name for name in OPTIONAL if sys.modules.get(name) is not None]
            print("plugin", plugin.PROFILE, imported)
            """
        ).replace("OPTIONAL", repr(OPTIONAL))
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["plugin", "stability-ci", "[]"]


UNRELATED_TESTS = """
def add(a, b):
    return a + b


def test_add():
    assert add(2, 3) == 5
"""


def test_unrelated_project_pytest_passes_without_hypothesis(tmp_path):
    (tmp_path / "test_unrelated.py").write_text(textwrap.dedent(UNRELATED_TESTS))
    completed = _python(
        BLOCK
        + textwrap.dedent(
            f"""
            import pytest
            code = pytest.main(
                ["-p", "stability.testing.plugin", "-p", "no:cacheprovider", "-W", "error",
                 "--rootdir", {str(tmp_path)!r}, {str(tmp_path)!r}]
            )
            print("hypothesis imported:", sys.modules.get("hypothesis") is not None)
            sys.exit(code)
            """
        ),
        cwd=tmp_path,
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",  # hypothesis' own plugin is absent too
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 passed" in completed.stdout
    assert "(hypothesis not installed: no profile stability-ci)" in completed.stdout
    assert "hypothesis imported: False" in completed.stdout
    assert "INTERNALERROR" not in completed.stdout + completed.stderr


def test_plugin_leaves_hypothesis_unimported_when_the_profile_is_not_selected(tmp_path):
    (tmp_path / "test_unrelated.py").write_text(textwrap.dedent(UNRELATED_TESTS))
    completed = _python(
        textwrap.dedent(
            f"""
            import sys
            import pytest
            code = pytest.main(
                ["-p", "stability.testing.plugin", "-p", "no:cacheprovider",
                 "--rootdir", {str(tmp_path)!r}, {str(tmp_path)!r}]
            )
            print("hypothesis imported:", "hypothesis" in sys.modules)
            sys.exit(code)
            """
        ),
        cwd=tmp_path,
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "hypothesis imported: False" in completed.stdout


def test_prove_list_works_without_hypothesis():
    completed = _python(
        BLOCK + "from stability.cli import main\nsys.exit(main(['prove', '--list']))\n"
    )
    assert completed.returncode == 0, completed.stderr
    listed = [line.split()[0] for line in completed.stdout.splitlines()]
    assert "gd_edge" in listed and "mulayoff_michaeli" in listed and len(listed) >= 12
    assert completed.stderr == ""


def test_prove_names_the_extra_in_one_line_without_hypothesis():
    completed = _python(
        BLOCK + "from stability.cli import main\nsys.exit(main(['prove', 'gd_edge']))\n"
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    (line,) = completed.stderr.splitlines()
    assert line.startswith("stability prove: error: ")
    assert "pip install 'optimizer-stability[prove]'" in line
    assert "Traceback" not in completed.stderr
