"""Every public callable documents its parameters in a numpydoc ``Parameters`` section.

Modelled on python-control's docstring test (written afresh here). The walk:

* every public module of ``stability`` (no path component starting with ``_``) and the names
  in its ``__all__``;
* each public function, each public class (the parameters of its ``__init__`` are documented
  in the class docstring, numpydoc's convention) and each public method a class defines
  itself (static and class methods included, properties and inherited methods not).

For every parameter in the signature -- except ``self``/``cls`` and a bare ``*args`` or
``**kwargs`` -- the docstring's ``Parameters`` section must have an entry (``name : type``
or ``name``; ``a, b : float`` documents both; ``*args``/``**kwargs`` written with their
stars are accepted too). An entry naming no parameter of the signature (a parameter renamed
or removed) fails as well. A callable with no parameter to document needs no section.

The helper functions return the violations, so a failure lists every one of them.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

import stability

#: Modules left out of the walk (none: every public module is checked).
NOT_YET_CHECKED: tuple[str, ...] = ()

#: Modules that need an optional dependency: walked when it is installed.
OPTIONAL = {"stability.bridges.torch": "torch", "stability.bridges.jax": "jax"}

_HEADER = re.compile(r"^\s*-{3,}\s*$")


def _excluded(module_name: str) -> bool:
    return any(module_name == name or module_name.startswith(name + ".")
               for name in NOT_YET_CHECKED)


def public_modules() -> Iterator[ModuleType]:
    """Every public module of the package, imported."""
    yield stability
    for info in pkgutil.walk_packages(stability.__path__, prefix="stability."):
        name = info.name
        if any(part.startswith("_") for part in name.split(".")) or _excluded(name):
            continue
        if name in OPTIONAL:
            try:
                importlib.import_module(OPTIONAL[name])
            except ImportError:
                continue
        yield importlib.import_module(name)


def documented_parameters(docstring: str | None, section: str = "Parameters") -> list[str] | None:
    """Names in one section of a numpydoc docstring (None: no such section)."""
    if not docstring:
        return None
    lines = inspect.cleandoc(docstring).splitlines()
    for index in range(len(lines) - 1):
        if lines[index].strip() == section and _HEADER.match(lines[index + 1]):
            break
    else:
        return None
    body = lines[index + 2:]
    indent = None
    names: list[str] = []
    for position, line in enumerate(body):
        if position + 1 < len(body) and _HEADER.match(body[position + 1]):
            break  # the next section's title
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        if indent is None:
            indent = width
        if width != indent:
            continue  # a description line
        head = line.split(" :", 1)[0].strip()
        names.extend(part.strip() for part in head.split(",") if part.strip())
    return names


def _signature_parameters(function: Callable, *, bound: bool) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    names = []
    for position, parameter in enumerate(signature.parameters.values()):
        if bound and position == 0:
            continue  # self / cls
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) and \
                parameter.name in ("args", "kwargs"):
            continue
        names.append(parameter.name)
    return names


def _compare(label: str, expected: list[str], docstring: str | None,
             fields: bool = False) -> list[str]:
    """The violations of one callable; ``fields``: a dataclass, whose fields may be listed in
    an ``Attributes`` section instead (numpydoc's convention for data containers)."""
    if not expected:
        return []
    documented = documented_parameters(docstring)
    if fields:
        attributes = documented_parameters(docstring, "Attributes")
        if attributes is not None:
            # Attributes may also list properties, so only missing fields are flagged.
            known = set(attributes) | set(documented or ())
            return [f"{label}: field {name!r} not documented"
                    for name in expected if name not in known]
    if documented is None:
        return [f"{label}: no Parameters section (parameters {', '.join(expected)})"]
    bare = [name.lstrip("*") for name in documented]
    problems = [f"{label}: parameter {name!r} not documented"
                for name in expected if name not in bare]
    problems += [f"{label}: documents {name!r}, which is not a parameter"
                 for name in bare if name not in expected and name not in ("args", "kwargs")]
    return problems


def _callables() -> Iterator[tuple[str, Callable, str | None, bool, bool]]:
    """(label, function, docstring holding its Parameters, bound, dataclass initialiser) for
    every public callable."""
    seen: set[int] = set()
    for module in public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            home = getattr(obj, "__module__", "") or ""
            if id(obj) in seen or not home.startswith("stability") or _excluded(home):
                continue
            seen.add(id(obj))
            label = f"{home}.{getattr(obj, '__qualname__', name)}"
            if inspect.isclass(obj):
                init = obj.__dict__.get("__init__")
                if inspect.isfunction(init):
                    yield label, init, obj.__doc__, True, dataclasses.is_dataclass(obj)
                for attribute, member in vars(obj).items():
                    if attribute.startswith("_"):
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        function = member.__func__
                        bound = isinstance(member, classmethod)
                    elif inspect.isfunction(member):
                        function, bound = member, True
                    else:
                        continue
                    yield f"{label}.{attribute}", function, function.__doc__, bound, False
            elif inspect.isfunction(obj) or (callable(obj) and hasattr(obj, "__wrapped__")):
                yield label, obj, obj.__doc__, False, False


def undocumented() -> tuple[list[str], int]:
    """The violations, and how many public callables have parameters."""
    problems: list[str] = []
    with_parameters = 0
    for label, function, docstring, bound, fields in _callables():
        expected = _signature_parameters(function, bound=bound)
        if expected:
            with_parameters += 1
        problems += _compare(label, expected, docstring, fields)
    return problems, with_parameters


def test_every_public_callable_documents_its_parameters():
    problems, with_parameters = undocumented()
    assert with_parameters > 100  # the walk found the package's callables
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("docstring", "names"), [
    (None, None),
    ("Summary.\n\nReturns\n-------\nint\n", None),
    ("Summary.\n\n    Parameters\n    ----------\n    a : int\n        The a.\n    b, c\n"
     "        Two more.\n    **options : dict\n        Extra.\n\n    Returns\n    -------\n"
     "    x : int\n        Not a parameter.\n", ["a", "b", "c", "**options"]),
])
def test_the_parser_reads_a_numpydoc_section(docstring, names):
    assert documented_parameters(docstring) == names


def test_the_comparison_flags_missing_and_stale_entries():
    docstring = "S.\n\nParameters\n----------\nx : int\n    X.\nold : int\n    Gone.\n"
    assert _compare("f", ["x", "y"], docstring) == [
        "f: parameter 'y' not documented", "f: documents 'old', which is not a parameter"]
    assert _compare("f", ["x"], "No section.") == ["f: no Parameters section (parameters x)"]
    assert _compare("f", [], None) == []
