"""Discover and run the machine-checked proofs of :mod:`stability.proofs`.

The proofs live in the repository's top-level ``proofs/`` folder, which installs as the
subpackage ``stability.proofs``. Every module ``proofs/<name>.py`` (other than this one,
``__init__`` and the private helpers ``_*.py``) is a proof with a small common interface:

* ``NAME``: a short identifier (the module name), used by ``stability prove NAME``;
* ``STATEMENT``: the theorem, in words and formulas;
* ``CITATION``: where it comes from (authors, year; the ``docs/theory/`` page that derives it);
* ``prove() -> ProofResult``: derives the result with SymPy (identities that simplify to
  zero, polynomial conditions, closed forms) and, when the statement is an inequality over
  all inputs, checks it exhaustively on small rational cases and with hypothesis on random
  ones.

A proof builds its result with :class:`Proof`, which records each step as a :class:`Check`.
The proofs need hypothesis (the ``prove`` extra) to run; :func:`catalogue` lists them
without importing them, so it works without it.

Examples
--------
>>> from stability.proofs.registry import catalogue, discover, run
>>> "gd_edge" in discover()
True
>>> list(catalogue()) == list(discover())
True
>>> [result.verdict for result in run(["gd_edge"])]
['proved']
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import sympy

from stability.errors import InvalidInputError

__all__ = ["Check", "Proof", "ProofResult", "catalogue", "discover", "run"]

_SKIP = {"registry", "__init__", "__main__"}
#: The package the proofs belong to (``stability.proofs`` once installed): this module's parent,
#: whatever name it was imported under.
_PACKAGE = __name__.rpartition(".")[0]


@dataclass(frozen=True)
class Check:
    """One step of a proof: what was checked, whether it held, and the evidence."""

    description: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class ProofResult:
    """The outcome of one proof.

    Attributes
    ----------
    name, statement, citation : str
        From the proof module.
    checks : tuple of Check
        Every step, in order.
    seconds : float
        Wall time of :func:`prove`.
    """

    name: str
    statement: str
    citation: str
    checks: tuple[Check, ...]
    seconds: float = 0.0

    @property
    def holds(self) -> bool:
        """Whether every check passed (and there was at least one)."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def verdict(self) -> str:
        """``"proved"`` or ``"FAILED"``."""
        return "proved" if self.holds else "FAILED"

    def failures(self) -> list[Check]:
        """The checks that did not pass."""
        return [check for check in self.checks if not check.passed]

    def summary(self) -> str:
        """One line: name, verdict, number of checks, time (and the first failure)."""
        line = (
            f"{self.name:<28} {self.verdict:<7} {len(self.checks):>3} checks  {self.seconds:6.2f}s"
        )
        failed = self.failures()
        if failed:
            line += f"  first failure: {failed[0].description}"
            if failed[0].detail:
                line += f" ({failed[0].detail.splitlines()[0]})"
        return line


@dataclass
class Proof:
    """A builder for a :class:`ProofResult`: each method records one :class:`Check`.

    Examples
    --------
    >>> import sympy
    >>> from stability.proofs.registry import Proof
    >>> x = sympy.Symbol("x")
    >>> proof = Proof("demo", "(x + 1)² = x² + 2x + 1", "algebra")
    >>> proof.identity("square of a sum", (x + 1) ** 2 - (x**2 + 2 * x + 1))
    True
    >>> proof.result().verdict
    'proved'
    """

    name: str
    statement: str
    citation: str
    checks: list[Check] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def check(self, description: str, passed: Any, detail: str = "") -> bool:
        """Record a boolean fact."""
        ok = bool(passed)
        self.checks.append(Check(description, ok, detail))
        return ok

    def identity(self, description: str, expression: Any) -> bool:
        """Record that a SymPy expression (or matrix) simplifies to zero."""
        if isinstance(expression, sympy.MatrixBase):
            residual = expression.applyfunc(lambda entry: sympy.simplify(sympy.expand(entry)))
            ok = residual.is_zero_matrix is True or all(entry == 0 for entry in residual)
            detail = "" if ok else f"nonzero entries: {[e for e in residual if e != 0][:3]}"
        else:
            residual = sympy.simplify(sympy.expand(expression))
            ok = residual == 0
            detail = "" if ok else f"residual {residual}"
        return self.check(description, ok, detail)

    def equal(self, description: str, left: Any, right: Any) -> bool:
        """Record that two SymPy expressions are equal (their difference simplifies to zero)."""
        return self.identity(description, sympy.sympify(left) - sympy.sympify(right))

    def close(self, description: str, actual: float, expected: float, rtol: float = 1e-10) -> bool:
        """Record ``|actual − expected| ≤ rtol · max(1, |expected|)``."""
        actual, expected = float(actual), float(expected)
        ok = actual == expected or abs(actual - expected) <= rtol * max(1.0, abs(expected))
        return self.check(description, ok, f"{actual!r} vs {expected!r} (rtol {rtol:g})")

    def exhaustive(
        self, description: str, cases: Iterable[Any], predicate: Callable[[Any], Any]
    ) -> bool:
        """Record that ``predicate`` holds on every case of a finite family."""
        count = 0
        for case in cases:
            count += 1
            try:
                ok = bool(predicate(case))
            except Exception as error:  # a crash is a failed case, with its message
                return self.check(description, False, f"case {case!r} raised {error!r}")
            if not ok:
                return self.check(description, False, f"fails at case {case!r}")
        return self.check(description, count > 0, f"{count} cases")

    def hypothesis(
        self,
        description: str,
        strategy: Any,
        predicate: Callable[[Any], Any],
        *,
        max_examples: int = 40,
    ) -> bool:
        """Record that ``predicate`` holds on random cases drawn by a hypothesis strategy.

        Deterministic (``derandomize=True``) and without an example database, so a proof
        gives the same verdict on every run.
        """
        from hypothesis import HealthCheck, given, settings

        @settings(
            max_examples=max_examples,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def property_holds(case: Any) -> None:
            assert predicate(case), f"predicate false at {case!r}"

        try:
            property_holds()
        except Exception as error:
            notes = getattr(error, "__notes__", [])
            detail = "; ".join([str(error).splitlines()[0] if str(error) else repr(error), *notes])
            return self.check(description, False, detail)
        return self.check(description, True, f"{max_examples} random cases")

    def result(self) -> ProofResult:
        """The :class:`ProofResult` of the checks recorded so far."""
        return ProofResult(
            self.name,
            self.statement,
            self.citation,
            tuple(self.checks),
            time.perf_counter() - self.started,
        )


def _proof_module_names() -> list[str]:
    """The names of the proof modules of the package, in alphabetical order (no import)."""
    package = importlib.import_module(_PACKAGE)
    return sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if info.name not in _SKIP and not info.name.startswith("_")
    )


def catalogue() -> dict[str, str]:
    """Every proof's ``NAME`` and ``STATEMENT``, read from the source files without importing them.

    Unlike :func:`discover`, this needs none of the proofs' dependencies (hypothesis in
    particular), so ``stability prove --list`` works in any installation.

    Returns
    -------
    dict of str to str
        ``NAME`` → ``STATEMENT``, in alphabetical order of the modules.

    Raises
    ------
    InvalidInputError
        If a module does not assign ``NAME`` and ``STATEMENT`` as string literals.

    Examples
    --------
    >>> from stability.proofs.registry import catalogue
    >>> catalogue()["gd_edge"].split(" on ")[0]
    'Full-batch GD δ ← (I − ηH) δ'
    """
    package = importlib.import_module(_PACKAGE)
    found: dict[str, str] = {}
    for name in _proof_module_names():
        path = next(
            Path(folder, f"{name}.py")
            for folder in package.__path__
            if Path(folder, f"{name}.py").is_file()
        )
        constants: dict[str, str] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id in ("NAME", "STATEMENT"):
                    try:
                        constants[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass
        missing = [key for key in ("NAME", "STATEMENT") if not isinstance(constants.get(key), str)]
        if missing:
            raise InvalidInputError(
                f"proof module {_PACKAGE}.{name} does not assign {', '.join(missing)} "
                "as a string literal"
            )
        found[constants["NAME"]] = constants["STATEMENT"]
    return found


def discover() -> dict[str, ModuleType]:
    """Every proof module of the package, by ``NAME``, in alphabetical order.

    Imports every proof, so it needs the proofs' dependencies (hypothesis: the ``prove``
    extra); :func:`catalogue` lists them without.

    Returns
    -------
    dict of str to module
        ``NAME`` → the imported proof module.

    Raises
    ------
    InvalidInputError
        If a module lacks the interface (``NAME``, ``STATEMENT``, ``CITATION``, ``prove``)
        or two modules share a name.

    Examples
    --------
    >>> from stability.proofs.registry import discover
    >>> discover()["gd_edge"].__name__.rpartition(".")[2]
    'gd_edge'
    """
    found: dict[str, ModuleType] = {}
    for name in _proof_module_names():
        module = importlib.import_module(f"{_PACKAGE}.{name}")
        missing = [
            attribute
            for attribute in ("NAME", "STATEMENT", "CITATION", "prove")
            if not hasattr(module, attribute)
        ]
        if missing:
            raise InvalidInputError(f"proof module {_PACKAGE}.{name} lacks {', '.join(missing)}")
        if module.NAME in found:
            raise InvalidInputError(f"two proof modules are named {module.NAME!r}")
        found[module.NAME] = module
    return found


def run(names: Sequence[str] | None = None) -> list[ProofResult]:
    """Run the named proofs (all when ``names`` is empty or ``None``), in order.

    A proof that raises is recorded as failed with the exception, never propagated.

    Parameters
    ----------
    names : sequence of str, optional
        The ``NAME`` of each proof to run; all of them when empty or ``None``.

    Returns
    -------
    list of ProofResult
        One result per proof, in the order asked for.

    Raises
    ------
    InvalidInputError
        If a name is not a known proof (the message lists the known ones).

    Examples
    --------
    >>> from stability.proofs.registry import run
    >>> [result.holds for result in run(["first_layer"])]
    [True]
    """
    modules = discover()
    selected = list(names) if names else list(modules)
    unknown = [name for name in selected if name not in modules]
    if unknown:
        raise InvalidInputError(
            f"unknown proof {', '.join(map(repr, unknown))}; known proofs: {', '.join(modules)}"
        )
    results = []
    for name in selected:
        module = modules[name]
        started = time.perf_counter()
        try:
            result = module.prove()
        except Exception as error:
            result = ProofResult(
                name,
                module.STATEMENT,
                module.CITATION,
                (
                    Check(
                        "prove() ran to completion",
                        False,
                        "".join(traceback.format_exception_only(type(error), error)).strip(),
                    ),
                ),
                time.perf_counter() - started,
            )
        results.append(result)
    return results
