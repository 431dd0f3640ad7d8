"""The one registry of methods: name, class, options and label of every optimiser.

Everything that offers a choice of method reads this table: every subcommand of the
command line that takes ``--method`` (its choices, its option flags and how it builds
the method), the hypothesis strategies of :mod:`stability.testing.strategies`, the
labels of tables and figures (:func:`label`) and the table of methods in
``docs/cli.md`` (:func:`options_table`). Adding a method to the registry makes it
available everywhere at once.

The options of a method are read from its class: every constructor argument beyond
``batch_size`` and ``replacement`` is an option, described once in :data:`CATALOGUE`
(its flag, help line, the range hypothesis draws from, an example), with the class's own
default (an argument without a default is a required option). A class that gains an
argument (say ``preconditioner``) therefore offers it on the command line at once;
``tests/test_registry_cli.py`` fails if an argument has no entry in :data:`CATALOGUE`.

How to add a method
-------------------
Write the class in its own module of :mod:`stability.methods` (a frozen dataclass
subclassing :class:`~stability.methods.Method`), re-export it from
:mod:`stability.methods`, then append ONE :class:`MethodSpec` to :data:`METHODS`:

* ``name``: the command-line name, lower case with hyphens (``"heavy-ball"``);
* ``target``: ``"module:Class"``, imported when the method is first used;
* ``batch``: ``"none"`` (full batch only, like GD), ``"required"`` (like SGD) or
  ``"optional"`` (``batch_size=None`` means the full batch);
* ``label``: the display name used in tables and legends; ``summary``: one line;
* ``full_batch``: for a ``"required"`` method, the registry name of its full-batch
  counterpart (``"gd"`` for ``"sgd"``), drawn when a command asks for the full batch.

A new constructor argument needs an :class:`Option` in :data:`CATALOGUE` (once for every
method that takes it).

Examples
--------
>>> from stability.methods.registry import get, label, names
>>> names()[:4]
('gd', 'sgd', 'heavy-ball', 'nesterov')
>>> method = get("heavy-ball").build(batch_size=4, momentum=0.9)
>>> type(method).__name__, method.momentum, method.batch_size
('HeavyBall', 0.9, 4)
>>> label(get("sgd").build(batch_size=2))
'SGD, B=2'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

from stability.errors import InvalidInputError

if TYPE_CHECKING:
    from stability.methods._base import MethodLike

__all__ = [
    "CATALOGUE",
    "GENERAL_ARGUMENTS",
    "METHODS",
    "MethodSpec",
    "Option",
    "flags",
    "get",
    "label",
    "names",
    "options_table",
    "spec_of",
]

BatchUse = Literal["none", "required", "optional"]

#: How an option's value is written: a real number, an integer, a vector of positive
#: numbers (``--preconditioner 4,0.25`` or a file), a switch that is on or off
#: (``--shuffle``), a boolean with a ``--no-`` form (``--decoupled/--no-decoupled``) or
#: one word of a list (``--posterior student-t``).
OptionKind = Literal["number", "integer", "vector", "switch", "boolean", "choice"]

#: Constructor arguments every minibatch method shares; they have their own flags
#: (``--batch-size``, ``--replacement``) and are not options.
GENERAL_ARGUMENTS = ("batch_size", "replacement")


@dataclass(frozen=True)
class Option:
    """One constructor argument of a method beyond its batch.

    Parameters
    ----------
    keyword : str
        The constructor's keyword (``"momentum"``, ``"posterior_cov"``).
    flag : str
        The command-line flag (``"--momentum"``); the same flag in every subcommand.
    help : str
        One line for ``--help``.
    kind : {"number", "integer", "vector", "switch", "boolean", "choice"}
        How the value is written (see :data:`OptionKind`).
    required : bool
        Whether the method needs a value (its class gives no default).
    default : Any
        The value used when the option is not given and not required.
    low, high : float
        The range of values the hypothesis strategies draw (of each entry, for a vector).
    example : Any
        A valid value, used by tests and documentation (for a vector, the entries that are
        repeated to the problem's dimension).
    symbol : str or None
        The symbol name ``stability derive`` uses when no number is given (``"beta"``),
        or ``None`` if the option has no symbolic form.
    display : str
        How labels write the option (``"β"`` gives ``β=0.9``); for a boolean, the word
        shown when it is on (``"decoupled"``).
    choices : tuple of str
        The words of a ``"choice"`` option.
    needs_batch : bool
        The option applies only to a minibatch (``shuffle``, ``drop_last``): it is passed
        only when a batch size is.

    Examples
    --------
    >>> from stability.methods.registry import get
    >>> get("nesterov").options[0].flag
    '--momentum'
    """

    keyword: str
    flag: str
    help: str
    kind: OptionKind = "number"
    required: bool = True
    default: Any = None
    low: float = 0.0
    high: float = 1.0
    example: Any = 0.5
    symbol: str | None = None
    display: str = ""
    choices: tuple[str, ...] = ()
    needs_batch: bool = False

    @property
    def integer(self) -> bool:
        """Whether the value is an integer (``--posterior-samples``).

        Examples
        --------
        >>> from stability.methods.registry import CATALOGUE
        >>> CATALOGUE["samples"].integer, CATALOGUE["momentum"].integer
        (True, False)
        """
        return self.kind == "integer"

    def example_value(self, dimension: int | None = None) -> Any:
        """A valid value (a vector of ``dimension`` entries for a vector option).

        Parameters
        ----------
        dimension : int, optional
            The problem's dimension ``d``; needed for a vector option.

        Examples
        --------
        >>> from stability.methods.registry import CATALOGUE
        >>> CATALOGUE["preconditioner"].example_value(3)
        (4.0, 0.25, 4.0)
        """
        if self.kind == "vector":
            if dimension is None:
                raise InvalidInputError(f"the example of {self.flag} needs the dimension")
            entries = tuple(self.example)
            return tuple(float(entries[index % len(entries)]) for index in range(dimension))
        if self.kind == "integer":
            return int(self.example)
        return self.example

    def command_text(self, value: Any) -> list[str]:
        """The command-line words giving ``value`` (``[]`` for a switch that is off).

        Parameters
        ----------
        value : Any
            A value of the option.

        Examples
        --------
        >>> from stability.methods.registry import CATALOGUE
        >>> CATALOGUE["preconditioner"].command_text((4.0, 0.25))
        ['--preconditioner', '4.0,0.25']
        >>> CATALOGUE["decoupled"].command_text(False)
        ['--no-decoupled']
        """
        if self.kind == "switch":
            return [self.flag] if value else []
        if self.kind == "boolean":
            return [self.flag] if value else ["--no-" + self.flag[2:]]
        if self.kind == "vector":
            return [self.flag, ",".join(repr(float(entry)) for entry in value)]
        if self.kind == "integer":
            return [self.flag, str(int(value))]
        if self.kind == "choice":
            return [self.flag, str(value)]
        return [self.flag, repr(float(value))]


#: Every constructor argument any method takes, described once (keyed by keyword). The
#: ``required`` and ``default`` of each method's copy come from its class.
CATALOGUE: Mapping[str, Option] = {
    option.keyword: option
    for option in (
        Option(
            "momentum",
            "--momentum",
            "momentum β in [0, 1)",
            low=0.0,
            high=0.95,
            example=0.5,
            symbol="beta",
            display="β",
        ),
        Option(
            "beta1",
            "--beta1",
            "Adam's first-moment decay β₁ in [0, 1)",
            low=0.0,
            high=0.95,
            example=0.9,
            symbol="beta_1",
            display="β₁",
        ),
        Option(
            "posterior_cov",
            "--posterior-variance",
            "posterior variance σ² of variational-gd (≥ 0)",
            low=0.0,
            high=1.0,
            example=0.01,
            symbol="sigma^2",
            display="σ²",
        ),
        Option(
            "samples",
            "--posterior-samples",
            "posterior samples S per step of variational-gd",
            kind="integer",
            low=1,
            high=8,
            example=2,
            display="S",
        ),
        Option(
            "posterior",
            "--posterior",
            "posterior family of variational-gd (only the Monte Carlo draws change)",
            kind="choice",
            example="student-t",
            choices=("gaussian", "student-t"),
            display="",
        ),
        Option(
            "degrees_of_freedom",
            "--degrees-of-freedom",
            "degrees of freedom ν > 2 of the student-t posterior",
            low=2.5,
            high=30.0,
            example=5.0,
            display="ν",
        ),
        Option(
            "weight_decay",
            "--weight-decay",
            "L2 weight decay λ ≥ 0 (coupled: adds λ I to every Hessian; decoupled for adamw)",
            low=0.0,
            high=1.0,
            example=0.1,
            display="λ",
        ),
        Option(
            "preconditioner",
            "--preconditioner",
            "frozen preconditioner P: comma-separated positive numbers (its diagonal) or a "
            "file with a vector or an SPD matrix",
            kind="vector",
            low=0.25,
            high=4.0,
            example=(4.0, 0.25),
            display="P",
        ),
        Option(
            "decoupled",
            "--decoupled",
            "decoupled weight decay δ ← δ − ημδ (AdamW) instead of coupled (--no-decoupled)",
            kind="boolean",
            example=True,
            display="decoupled",
        ),
        Option(
            "shuffle",
            "--shuffle",
            "random reshuffling: a fresh permutation each epoch, cut into batches",
            kind="switch",
            example=True,
            display="reshuffled",
            needs_batch=True,
        ),
        Option(
            "drop_last",
            "--drop-last",
            "with --shuffle, skip the short last batch of an epoch",
            kind="switch",
            example=True,
            display="drop last",
            needs_batch=True,
        ),
    )
}


@cache
def _class_options(target: str) -> tuple[Option, ...]:
    """The options of the class ``target``: its arguments beyond the batch, in order."""
    module, _, name = target.partition(":")
    cls = getattr(import_module(module), name)
    options = []
    for field in dataclasses.fields(cls):
        if not field.init or field.name in GENERAL_ARGUMENTS or field.name not in CATALOGUE:
            continue
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        default = None if required else field.default
        options.append(
            dataclasses.replace(CATALOGUE[field.name], required=required, default=default)
        )
    return tuple(options)


@dataclass(frozen=True)
class MethodSpec:
    """One method of the registry.

    Parameters
    ----------
    name : str
        Command-line name (``"heavy-ball"``).
    target : str
        ``"module:Class"`` of the method class, imported on first use.
    batch : {"none", "required", "optional"}
        How the method uses a minibatch size.
    label : str
        Display name for tables and figure legends.
    summary : str
        One line saying what the method is.
    noisy : bool
        Whether the method adds noise independent of the state (an affine recursion).
    full_batch : str or None
        For a ``"required"`` method, the registry name of its full-batch counterpart.

    Examples
    --------
    >>> from stability.methods.registry import get
    >>> spec = get("variational-gd")
    >>> spec.batch, [option.flag for option in spec.options][:2]
    ('optional', ['--posterior-variance', '--posterior-samples'])
    """

    name: str
    target: str
    batch: BatchUse
    label: str
    summary: str
    noisy: bool = False
    full_batch: str | None = None

    @property
    def options(self) -> tuple[Option, ...]:
        """The options of the method, read from its class (see :data:`CATALOGUE`).

        Examples
        --------
        >>> from stability.methods.registry import get
        >>> [(option.keyword, option.required) for option in get("nesterov").options][:2]
        [('momentum', True), ('weight_decay', False)]
        """
        return _class_options(self.target)

    def option(self, keyword: str) -> Option | None:
        """The option called ``keyword`` (``None`` if the method has none).

        Parameters
        ----------
        keyword : str
            A constructor keyword.

        Examples
        --------
        >>> from stability.methods.registry import get
        >>> get("adamw").option("decoupled").default, get("gd").option("shuffle") is None
        (True, True)
        """
        for option in self.options:
            if option.keyword == keyword:
                return option
        return None

    def load(self) -> type:
        """The method class (imported now).

        Examples
        --------
        >>> from stability.methods.registry import get
        >>> get("gd").load().__name__
        'GD'
        """
        module, _, name = self.target.partition(":")
        return getattr(import_module(module), name)

    def build(
        self, batch_size: int | None = None, replacement: bool = False, **options: Any
    ) -> Any:
        """Construct the method; options not given (or ``None``) take their defaults.

        Parameters
        ----------
        batch_size : int or None
            The minibatch size (``None``: full batch, for ``"optional"`` methods).
        replacement : bool
            Draw batch indices with replacement.
        **options
            Values keyed by :attr:`Option.keyword`. An option that needs a batch
            (``shuffle``) and is off may be given to any method.

        Raises
        ------
        InvalidInputError
            If a required option is missing, an option the method does not take is
            given, or a batch size is given to a full-batch method (or missing for a
            minibatch one).

        Examples
        --------
        >>> from stability.methods.registry import get
        >>> get("variational-gd").build(posterior_cov=0.1).samples
        1
        >>> get("sgd").build(2, shuffle=True, drop_last=True).shuffle
        True
        """
        known = {option.keyword: option for option in self.options}
        unknown = sorted(
            keyword
            for keyword, value in options.items()
            if keyword not in known
            and not ((value is None or value is False) and keyword in CATALOGUE)
        )
        if unknown:
            words = ", ".join(
                CATALOGUE[keyword].flag if keyword in CATALOGUE else keyword for keyword in unknown
            )
            raise InvalidInputError(f"{self.name} takes no option {words}")
        values: dict[str, Any] = {}
        for keyword, option in known.items():
            value = options.get(keyword)
            if value is None:
                if option.required:
                    raise InvalidInputError(f"{self.name} needs {option.flag}")
                continue  # the class's default
            values[keyword] = value
        cls = self.load()
        if self.batch == "none":
            if batch_size is not None:
                raise InvalidInputError(f"{self.name} takes no batch size (it is full-batch)")
            return cls(**values)
        if self.batch == "required" and batch_size is None:
            raise InvalidInputError(f"{self.name} needs a batch size")
        return cls(batch_size=batch_size, replacement=replacement, **values)

    def example_options(
        self, dimension: int | None = None, *, epochs: bool = False
    ) -> dict[str, Any]:
        """A valid value of every option (for tests and documentation).

        Parameters
        ----------
        dimension : int, optional
            The problem's dimension; vector options (``preconditioner``) are included
            only when it is given.
        epochs : bool, default False
            Include the options that need a batch (``shuffle``, ``drop_last``).

        Examples
        --------
        >>> from stability.methods.registry import get
        >>> get("heavy-ball").example_options()
        {'momentum': 0.5, 'weight_decay': 0.1}
        >>> get("rmsprop").example_options(2, epochs=True)["preconditioner"]
        (4.0, 0.25)
        """
        return {
            option.keyword: option.example_value(dimension)
            for option in self.options
            if (dimension is not None or option.kind != "vector")
            and (epochs or not option.needs_batch)
        }


#: Every method, in the order tables and ``--help`` list them. Append new entries here.
METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("gd", "stability.methods:GD", "none", "GD", "full-batch gradient descent"),
    MethodSpec(
        "sgd",
        "stability.methods:SGD",
        "required",
        "SGD",
        "minibatch stochastic gradient descent (optionally preconditioned)",
        full_batch="gd",
    ),
    MethodSpec(
        "heavy-ball",
        "stability.methods:HeavyBall",
        "optional",
        "HeavyBall",
        "Polyak heavy-ball momentum (full batch or minibatch)",
    ),
    MethodSpec(
        "nesterov",
        "stability.methods:Nesterov",
        "optional",
        "Nesterov",
        "Nesterov momentum (full batch or minibatch)",
    ),
    MethodSpec(
        "variational-gd",
        "stability.methods:VariationalGD",
        "optional",
        "VariationalGD",
        "gradient steps on the mean of a fixed-covariance posterior",
        noisy=True,
    ),
    MethodSpec(
        "adam",
        "stability.methods:Adam",
        "optional",
        "Adam",
        "Adam with a frozen preconditioner P (default P = I)",
    ),
    MethodSpec(
        "adamw",
        "stability.methods:AdamW",
        "optional",
        "AdamW",
        "Adam with decoupled weight decay and a frozen preconditioner P (default P = I)",
    ),
    MethodSpec(
        "rmsprop",
        "stability.methods:RMSProp",
        "optional",
        "RMSProp",
        "RMSProp with a frozen preconditioner P (default P = I) and optional momentum",
    ),
)


def names() -> tuple[str, ...]:
    """The command-line names of every method, in registry order.

    Examples
    --------
    >>> from stability.methods.registry import names
    >>> "variational-gd" in names()
    True
    """
    return tuple(spec.name for spec in METHODS)


def get(name: str) -> MethodSpec:
    """The registry entry called ``name``.

    Parameters
    ----------
    name : str
        A command-line name (``"sgd"``).

    Raises
    ------
    InvalidInputError
        If no method has that name; the message lists the names.

    Examples
    --------
    >>> from stability.methods.registry import get
    >>> get("sgd").label
    'SGD'
    """
    for spec in METHODS:
        if spec.name == name:
            return spec
    raise InvalidInputError(f"method must be one of {', '.join(names())}; got {name!r}")


def flags() -> dict[str, Option]:
    """Every option flag of the registry, once (the first entry declaring it wins).

    Examples
    --------
    >>> from stability.methods.registry import flags
    >>> sorted(flags())[:4]
    ['--beta1', '--decoupled', '--degrees-of-freedom', '--drop-last']
    """
    seen: dict[str, Option] = {}
    for spec in METHODS:
        for option in spec.options:
            seen.setdefault(option.flag, option)
    return seen


def spec_of(method: MethodLike) -> MethodSpec | None:
    """The registry entry whose class ``method`` is an instance of (``None`` if none).

    Parameters
    ----------
    method : Method
        A method instance.

    Examples
    --------
    >>> from stability.methods import Nesterov
    >>> from stability.methods.registry import spec_of
    >>> spec_of(Nesterov(0.5)).name
    'nesterov'
    """
    for spec in METHODS:
        if type(method) is spec.load():
            return spec
    return None


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _option_text(option: Option, value: Any) -> str:
    """How a label shows an option's value (``β=0.9``, ``P=diag(4, 0.25)``, ``decoupled``)."""
    if option.kind == "boolean":
        return option.display if value else "not " + option.display
    if option.kind == "choice":
        return str(value)
    if option.kind == "vector":
        if value and isinstance(value[0], tuple):
            return f"{option.display}={len(value)}×{len(value)} matrix"
        if len(value) > 4:
            return f"{option.display}=diag(d={len(value)})"
        return f"{option.display}=diag({', '.join(_format(entry) for entry in value)})"
    return f"{option.display}={_format(value)}"


def _differs(value: Any, default: Any) -> bool:
    try:
        return bool(value != default)
    except (TypeError, ValueError):  # an array or a SymPy relation
        return True


def label(method: MethodLike, *, batch: bool = True) -> str:
    """A short display label of a method: name, options that differ from their defaults, batch.

    Used by every table of the command line and every figure legend, so a method reads the
    same everywhere: ``"HeavyBall β=0.9, B=8 with repl."``.

    Parameters
    ----------
    method : Method or LinearDynamics
        A method instance (registered or not) or a bare description; unregistered ones
        show the name of their dynamics.
    batch : bool, default True
        Add the batch (``", B=8"``, ``" with repl."``, ``" reshuffled"``).

    Examples
    --------
    >>> from stability.methods import GD, SGD, Adam, HeavyBall
    >>> from stability.methods.registry import label
    >>> label(GD()), label(HeavyBall(0.9, batch_size=8, replacement=True))
    ('GD', 'HeavyBall β=0.9, B=8 with repl.')
    >>> label(Adam(0.5, preconditioner=[4.0, 0.25], weight_decay=0.1, decoupled=True))
    'Adam β₁=0.5 P=diag(4, 0.25) λ=0.1 decoupled'
    >>> label(SGD(4, shuffle=True, drop_last=True)), label(SGD(4), batch=False)
    ('SGD, B=4 reshuffled, drop last', 'SGD')
    """
    spec = spec_of(method)
    if spec is None:
        name = getattr(method, "name", None)
        if not isinstance(name, str):
            try:
                from stability.methods._base import as_dynamics

                name = as_dynamics(method).name
            except Exception:  # not a method: its class name
                name = type(method).__name__
        law = getattr(method, "batch", None)
        batch_size = getattr(law, "batch_size", None)
        replacement = getattr(law, "replacement", False)
        shuffle = type(law).__name__ == "ReshuffledBatchLaw"
        drop_last = bool(getattr(law, "drop_last", False))
        parts = [name]
    else:
        parts = [spec.label]
        for option in spec.options:
            if option.needs_batch:
                continue
            value = getattr(method, option.keyword, None)
            if value is None or (not option.required and not _differs(value, option.default)):
                continue
            parts.append(_option_text(option, value))
        batch_size = getattr(method, "batch_size", None)
        replacement = getattr(method, "replacement", False)
        shuffle = bool(getattr(method, "shuffle", False))
        drop_last = bool(getattr(method, "drop_last", False))
    text = " ".join(parts)
    if batch and batch_size is not None:
        text += f", B={batch_size}"
        if replacement:
            text += " with repl."
        if shuffle:
            text += " reshuffled"
            if drop_last:
                text += ", drop last"
    return text


_BATCH_WORDS = {"none": "full batch only", "required": "required", "optional": "optional"}


def _option_cell(option: Option) -> str:
    if option.kind == "switch":
        text = f"`{option.flag}`"
    elif option.kind == "boolean":
        text = f"`{option.flag}`/`--no-{option.flag[2:]}`"
        return text + (f" (default `{option.flag}`)" if option.default else "")
    elif option.kind == "choice":
        text = f"`{option.flag}` {' or '.join(f'`{word}`' for word in option.choices)}"
    else:
        text = f"`{option.flag}`"
    if option.required:
        return text + " (required)"
    if option.kind not in ("switch", "vector") and option.default is not None:
        return text + f" (default {_format(option.default)})"
    return text


def options_table() -> str:
    """The Markdown table of every method, its batch and its options (for ``docs/cli.md``).

    ``tests/test_registry_cli.py`` checks that ``docs/cli.md`` contains this table.

    Examples
    --------
    >>> from stability.methods.registry import options_table
    >>> print(options_table().splitlines()[2])
    | `gd` | full batch only | `--weight-decay` (default 0) | full-batch gradient descent |
    """
    lines = [
        "| method | `--batch-size` | options | what it is |",
        "| --- | --- | --- | --- |",
    ]
    for spec in METHODS:
        cells = ", ".join(_option_cell(option) for option in spec.options) or "—"
        lines.append(f"| `{spec.name}` | {_BATCH_WORDS[spec.batch]} | {cells} | {spec.summary} |")
    return "\n".join(lines)
