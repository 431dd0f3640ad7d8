"""``stability prove``: run the machine-checked proofs of :mod:`stability.proofs`.

The proofs live in the repository's top-level ``proofs/`` folder and install as the
subpackage ``stability.proofs``. ``stability prove --list`` reads them without importing
them, so it works in any installation; running them needs hypothesis, and without it the
command says in one line which extra to install (exit code 2).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from stability.cli._common import print_json
from stability.errors import StabilityError

__all__ = ["PROVE_EXTRA_HINT", "MissingExtraError", "load_proofs", "register", "run"]

#: The one line printed when the proofs are run without hypothesis.
PROVE_EXTRA_HINT = (
    "running the proofs needs hypothesis, an optional extra; install it with "
    "pip install 'optimizer-stability[prove]' (or pip install hypothesis)"
)
_PACKAGE = "stability.proofs"


class MissingExtraError(StabilityError, ImportError):
    """An optional dependency needed by the command is not installed."""


def load_proofs() -> ModuleType:
    """The proofs package, :mod:`stability.proofs`, imported once.

    In an installed copy it is the subpackage ``stability/proofs``. In a source checkout
    used without installing it (``PYTHONPATH`` pointing at the repository), the
    repository's top-level ``proofs/`` folder beside ``stability/`` is imported under the
    same name, so the proofs of that checkout are the ones run.

    Returns
    -------
    module
        The package ``stability.proofs``.

    Examples
    --------
    >>> from stability.cli.prove import load_proofs
    >>> load_proofs().__name__
    'stability.proofs'
    """
    if _PACKAGE in sys.modules:
        return sys.modules[_PACKAGE]
    import stability

    checkout = Path(stability.__file__).resolve().parent.parent
    folder = checkout / "proofs"
    if (folder / "registry.py").is_file() and (checkout / "pyproject.toml").is_file():
        spec = importlib.util.spec_from_file_location(
            _PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[_PACKAGE]
            raise
        stability.proofs = module  # type: ignore[attr-defined]
        return module
    return importlib.import_module(_PACKAGE)


def _require_hypothesis() -> None:
    """Raise :class:`MissingExtraError` (one line, naming the extra) without hypothesis."""
    try:
        available = importlib.util.find_spec("hypothesis") is not None
    except (ImportError, ValueError):
        available = False
    if not available:
        raise MissingExtraError(PROVE_EXTRA_HINT)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``prove`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``add_subparsers`` object of the ``stability`` parser.
    """
    parser = subparsers.add_parser(
        "prove",
        help="run the machine-checked proofs",
        description="Run the machine-checked proofs of stability.proofs (all, or the NAMEs "
        "given) and print one line per proof with its verdict, 'proved' or 'FAILED'. Exit "
        "code 0 only when all hold. Running them needs hypothesis (the 'prove' extra); "
        "--list does not.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="proofs to run (default: all)")
    parser.add_argument(
        "--list", action="store_true", help="list the proofs and exit (needs no extra)"
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="print every check of every proof"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Run the proofs; 0 if all hold, 1 if one failed (2, via the CLI, for an unknown name).

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed ``prove`` arguments (``names``, ``list``, ``verbose``, ``json``).

    Returns
    -------
    int
        The exit code.

    Raises
    ------
    MissingExtraError
        If the proofs are to be run and hypothesis is not installed (the CLI prints the
        message in one line and exits with code 2).

    Examples
    --------
    >>> from stability.cli import main
    >>> main(["prove", "batch_moment"])  # doctest: +ELLIPSIS
    batch_moment...proved...
    1 of 1 proofs hold
    0
    """
    registry = importlib.import_module(f"{load_proofs().__name__}.registry")
    if arguments.list:
        for name, statement in registry.catalogue().items():
            print(f"{name:<28} {statement.splitlines()[0]}")
        return 0
    _require_hypothesis()
    results = registry.run(arguments.names)
    if arguments.json:
        print_json(
            {
                "all_hold": all(result.holds for result in results),
                "proofs": [
                    {
                        "name": result.name,
                        "verdict": result.verdict,
                        "statement": result.statement,
                        "citation": result.citation,
                        "seconds": round(result.seconds, 3),
                        "checks": [
                            {"description": c.description, "passed": c.passed, "detail": c.detail}
                            for c in result.checks
                        ],
                    }
                    for result in results
                ],
            }
        )
    else:
        for result in results:
            print(result.summary())
            if arguments.verbose or not result.holds:
                for check in result.checks:
                    mark = "ok  " if check.passed else "FAIL"
                    detail = f" — {check.detail.splitlines()[0]}" if check.detail else ""
                    print(f"    {mark} {check.description}{detail}")
        failed = sum(not result.holds for result in results)
        print(f"{len(results) - failed} of {len(results)} proofs hold")
    return 0 if all(result.holds for result in results) else 1
