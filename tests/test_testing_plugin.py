"""The pytest plugin of stability.testing, run on a user's test file in a fresh pytest process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from stability import __version__

USER_TESTS = """
import numpy as np
import pytest
from hypothesis import given, settings

from stability import SGD, Quadratic
from stability.bounds import trace_bound
from stability.testing import assert_bound_holds, assert_stable
from stability.testing.strategies import data_matrices


@pytest.mark.stability
def test_fixtures(stability_rng, assert_stability):
    data = stability_rng.standard_normal((8, 3))
    problem = Quadratic.from_data(data)
    threshold = assert_stability.stable(problem, SGD(2), 0.01)
    assert_stability.unstable(problem, SGD(2), 2 * threshold)
    assert_stability.critical_learning_rate(problem, SGD(2), threshold)
    assert_stability.bound_holds(trace_bound, problem, SGD(2))
    print("first draw", data[0, 0])


@pytest.mark.stability
@given(data_matrices(min_samples=2, max_samples=5, max_dimension=3))
def test_property(data):
    problem = Quadratic.from_data(data)
    assert_bound_holds(trace_bound, problem, SGD(1))


def test_not_marked():
    pass
"""

FAILING_TEST = """
import numpy as np
from stability import GD, Quadratic
from stability.testing import assert_stable


def test_too_fast():
    assert_stable(Quadratic(np.diag([4.0, 1.0])), GD(), 0.6)
"""


def _run(directory: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:stability",  # the installed entry point, if any, is replaced by the module
            "-p",
            "stability.testing.plugin",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(directory),
            *arguments,
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )


def test_user_file_passes_with_fixtures_marker_and_profile(tmp_path):
    (tmp_path / "test_my_optimizer.py").write_text(textwrap.dedent(USER_TESTS))
    completed = _run(
        tmp_path,
        "-m",
        "stability",
        "--hypothesis-profile=stability-ci",
        "--stability-max-examples=10",
        "--hypothesis-show-statistics",
        "-s",
        "-v",
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"stability {__version__}" in completed.stdout
    assert "2 passed, 1 deselected" in completed.stdout
    # the run stopped at the profile's max_examples (the passing count itself varies across
    # hypothesis versions, which may discard duplicate draws)
    assert "settings.max_examples=10" in completed.stdout
    first = completed.stdout.split("first draw")[1].split()[0]
    expected = np.random.default_rng(0).standard_normal((8, 3))[0, 0]
    assert float(first) == expected
    again = _run(tmp_path, "-m", "stability", "--stability-seed", "5", "-s")
    drawn = float(again.stdout.split("first draw")[1].split()[0])
    assert drawn == np.random.default_rng(5).standard_normal((8, 3))[0, 0]


def test_failure_message_reaches_the_user(tmp_path):
    (tmp_path / "test_fail.py").write_text(textwrap.dedent(FAILING_TEST))
    completed = _run(tmp_path)
    assert completed.returncode == 1
    assert "ExpectedStableError" in completed.stdout
    assert "η* = 0.5 and lr is 20% above it (lr/η* = 1.2)" in completed.stdout


def test_bad_option_is_a_usage_error(tmp_path):
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    completed = _run(tmp_path, "--stability-max-examples=0")
    assert completed.returncode == 4
    assert "--stability-max-examples must be at least 1" in completed.stderr
