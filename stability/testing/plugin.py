"""A pytest plugin for users' CI: fixtures, a marker and a deterministic hypothesis profile.

Registered as the ``stability`` entry point of ``pytest11``, so it is active in any
project that has the package installed (disable it with ``-p no:stability``). It adds

* the fixture ``stability_rng``: a :class:`numpy.random.Generator` seeded by
  ``--stability-seed`` (default 0), so random problems in a test are the same on every run;
* the fixture ``assert_stability``: the assertions of :mod:`stability.testing` as one
  object (``assert_stability.stable(problem, method, lr)``, ``.unstable``,
  ``.critical_learning_rate``, ``.bound_holds``), for tests that prefer a fixture to imports;
* the marker ``stability`` (``@pytest.mark.stability``), so ``pytest -m stability`` runs the
  stability checks alone;
* the hypothesis profile ``stability-ci`` (``derandomize=True``, no deadline, no example
  database, ``--stability-max-examples`` examples, default 50): select it with
  ``pytest --hypothesis-profile=stability-ci`` for reproducible property tests in CI;
* a line in pytest's header with the package version.

A project that does not use the plugin is not disturbed by it: the module itself imports
only pytest and the standard library (its parent package brings the required dependencies,
NumPy and SciPy), the assertions are imported when a fixture is used, and hypothesis, an
optional dependency, is imported only when the profile is selected (or hypothesis is
already in use). Without hypothesis the plugin registers no profile and never fails.

Examples
--------
>>> from stability.testing import plugin
>>> plugin.PROFILE
'stability-ci'
>>> sorted(name for name in dir(plugin.StabilityAssertions) if not name.startswith("_"))
['bound_holds', 'critical_learning_rate', 'stable', 'unstable']
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "PROFILE",
    "StabilityAssertions",
    "assert_stability",
    "pytest_addoption",
    "pytest_configure",
    "pytest_report_header",
    "register_profile",
    "stability_rng",
]

#: Name of the hypothesis profile registered by the plugin.
PROFILE = "stability-ci"
_DEFAULT_EXAMPLES = 50


def register_profile(max_examples: int = _DEFAULT_EXAMPLES) -> None:
    """Register the deterministic hypothesis profile :data:`PROFILE`.

    Needs hypothesis; the plugin calls it only when hypothesis is installed and the
    profile is selected (or hypothesis is already imported). Call it yourself to load the
    profile from code, ``settings.load_profile(PROFILE)``.

    Parameters
    ----------
    max_examples : int, optional
        The profile's ``max_examples`` (default 50).

    Examples
    --------
    >>> from hypothesis import settings
    >>> from stability.testing.plugin import PROFILE, register_profile
    >>> register_profile(20)
    >>> settings.get_profile(PROFILE).max_examples, settings.get_profile(PROFILE).derandomize
    (20, True)
    """
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        PROFILE,
        derandomize=True,
        deadline=None,
        database=None,
        max_examples=max_examples,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )


def _hypothesis_installed() -> bool:
    """Whether hypothesis can be imported (without importing it)."""
    if "hypothesis" in sys.modules:
        return sys.modules["hypothesis"] is not None
    try:
        return importlib.util.find_spec("hypothesis") is not None
    except (ImportError, ValueError):
        return False


def _package_version() -> str:
    """The package version, read from ``stability/_version.py`` without importing the package."""
    module = sys.modules.get("stability._version")
    if module is not None:
        return str(module.__version__)
    spec = importlib.util.find_spec("stability")  # a top-level spec: nothing is imported
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder, "_version.py")
            if path.is_file():
                match = re.search(r"__version__\s*=\s*[\"']([^\"']+)", path.read_text("utf-8"))
                if match:
                    return match.group(1)
    return "(unknown version)"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--stability-seed`` and ``--stability-max-examples``.

    Parameters
    ----------
    parser : pytest.Parser
        pytest's command-line parser.
    """
    group = parser.getgroup("stability", "stability: linear-stability checks")
    group.addoption(
        "--stability-seed",
        type=int,
        default=0,
        help="seed of the stability_rng fixture (default 0)",
    )
    group.addoption(
        "--stability-max-examples",
        type=int,
        default=_DEFAULT_EXAMPLES,
        help=f"max_examples of the hypothesis profile {PROFILE} (default {_DEFAULT_EXAMPLES})",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the ``stability`` marker and, when it can be used, the hypothesis profile.

    Runs before hypothesis' own plugin, which loads the profile named by
    ``--hypothesis-profile`` in its ``pytest_configure``. The profile is registered only
    when hypothesis is installed and either the profile is selected or hypothesis is
    already imported, so a run that does not use it never imports hypothesis, and an
    environment without hypothesis is left alone.

    Parameters
    ----------
    config : pytest.Config
        pytest's configuration.
    """
    config.addinivalue_line(
        "markers", "stability: a linear-stability check (select with -m stability)"
    )
    examples = config.getoption("--stability-max-examples", default=_DEFAULT_EXAMPLES)
    if examples is None or examples < 1:
        raise pytest.UsageError(f"--stability-max-examples must be at least 1; got {examples}")
    selected = config.getoption("hypothesis_profile", default=None) == PROFILE
    already_imported = sys.modules.get("hypothesis") is not None
    if (selected or already_imported) and _hypothesis_installed():
        register_profile(int(examples))


def pytest_report_header(config: pytest.Config) -> str:
    """One header line with the package version.

    Parameters
    ----------
    config : pytest.Config
        pytest's configuration.
    """
    if _hypothesis_installed():
        return f"stability {_package_version()} (hypothesis profile {PROFILE} available)"
    return f"stability {_package_version()} (hypothesis not installed: no profile {PROFILE})"


class StabilityAssertions:
    """The assertions of :mod:`stability.testing` as methods (the ``assert_stability`` fixture).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.testing.plugin import StabilityAssertions
    >>> StabilityAssertions().stable(Quadratic(np.diag([4.0])), GD(), 0.25)
    0.5
    """

    @staticmethod
    def stable(problem: Any, method: Any, lr: float, **options: Any) -> float:
        """:func:`~stability.testing.assert_stable`.

        Parameters
        ----------
        problem : Any
            The quadratic problem (a :class:`~stability.Quadratic`).
        method : Method or LinearDynamics
            The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
        lr : float
            Learning rate η.
        **options : Any
            Further keyword arguments passed to the underlying function.
        """
        from stability.testing._assertions import assert_stable

        return assert_stable(problem, method, lr, **options)

    @staticmethod
    def unstable(problem: Any, method: Any, lr: float, **options: Any) -> float:
        """:func:`~stability.testing.assert_unstable`.

        Parameters
        ----------
        problem : Any
            The quadratic problem (a :class:`~stability.Quadratic`).
        method : Method or LinearDynamics
            The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
        lr : float
            Learning rate η.
        **options : Any
            Further keyword arguments passed to the underlying function.
        """
        from stability.testing._assertions import assert_unstable

        return assert_unstable(problem, method, lr, **options)

    @staticmethod
    def critical_learning_rate(problem: Any, method: Any, expected: float, **options: Any) -> float:
        """:func:`~stability.testing.assert_critical_learning_rate`.

        Parameters
        ----------
        problem : Any
            The quadratic problem (a :class:`~stability.Quadratic`).
        method : Method or LinearDynamics
            The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
        expected : float
            The expected critical learning rate.
        **options : Any
            Further keyword arguments passed to the underlying function.
        """
        from stability.testing._assertions import assert_critical_learning_rate

        return assert_critical_learning_rate(problem, method, expected, **options)

    @staticmethod
    def bound_holds(bound: Any, problem: Any, method: Any, **options: Any) -> float:
        """:func:`~stability.testing.assert_bound_holds`.

        Parameters
        ----------
        bound : Any
            The bound: a number, or a callable ``bound(problem, method)``.
        problem : Any
            The quadratic problem (a :class:`~stability.Quadratic`).
        method : Method or LinearDynamics
            The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.
        **options : Any
            Further keyword arguments passed to the underlying function.
        """
        from stability.testing._assertions import assert_bound_holds

        return assert_bound_holds(bound, problem, method, **options)


@pytest.fixture
def stability_rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A NumPy generator seeded by ``--stability-seed`` (default 0).

    Parameters
    ----------
    request : pytest.FixtureRequest
        The pytest request (gives the ``--stability-seed`` option).
    """
    import numpy as np

    seed = request.config.getoption("--stability-seed", default=0)
    return np.random.default_rng(seed)


@pytest.fixture
def assert_stability() -> StabilityAssertions:
    """The assertions of :mod:`stability.testing` as one object."""
    return StabilityAssertions()
