"""The one registry of methods: name, class, options and label of every optimiser.

Everything that offers a choice of method reads this table: every subcommand of the
command line that takes ``--method`` (its choices, its option flags and how it builds
the method), the hypothesis strategies of :mod:`stability.testing.strategies`, and the
labels of tables and figures (:func:`label`). Adding a method to the registry makes it
available everywhere at once.

How to add a method
-------------------
Write the class in its own module of :mod:`stability.methods` (a frozen dataclass
subclassing :class:`~stability.methods.Method`), then append ONE
:class:`MethodSpec` to :data:`METHODS`:

* ``name``: the command-line name, lower case with hyphens (``"heavy-ball"``);
* ``target``: ``"module:Class"``, imported only when the method is built;
* ``batch``: ``"none"`` (full batch only, like GD), ``"required"`` (like SGD) or
  ``"optional"`` (``batch_size=None`` means the full batch);
* ``options``: one :class:`Option` per extra constructor argument (its keyword, its
  command-line flag, a help line, a default, and the range hypothesis draws from);
* ``label``: the display name used in tables and legends; ``summary``: one line.

An option shared by several methods (``--momentum``) is declared with the same flag in
each entry; the command line adds each flag once. ``tests/test_registry_cli.py`` checks
that every subcommand taking a method accepts every entry.

Examples
--------
>>> from stability.methods.registry import get, label, names
>>> names()[:4]
('gd', 'sgd', 'heavy-ball', 'nesterov')
>>> method = get("heavy-ball").build(batch_size=4, momentum=0.9)
>>> type(method).__name__, method.momentum, method.batch_size
('HeavyBall', 0.9, 4)
>>> label(get("sgd").build(batch_size=2))
'SGD B=2'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Literal

from stability.errors import InvalidInputError

__all__ = [
    "METHODS",
    "MethodSpec",
    "Option",
    "flags",
    "get",
    "label",
    "names",
    "spec_of",
]

BatchUse = Literal["none", "required", "optional"]


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
    required : bool
        Whether the method needs a value (no default).
    default : Any
        The value used when the option is not given and not required.
    low, high : float
        The range of values the hypothesis strategies draw (and a valid example is
        ``example``).
    example : float
        A valid value, used by tests and documentation.
    integer : bool
        Whether the value is an integer (``--posterior-samples``).
    symbol : str or None
        The symbol name ``stability derive`` uses when no number is given (``"beta"``),
        or ``None`` if the option has no symbolic form.

    Examples
    --------
    >>> from stability.methods.registry import get
    >>> get("nesterov").options[0].flag
    '--momentum'
    """

    keyword: str
    flag: str
    help: str
    required: bool = True
    default: Any = None
    low: float = 0.0
    high: float = 1.0
    example: float = 0.5
    integer: bool = False
    symbol: str | None = None


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
    options : tuple of Option
        Constructor arguments beyond ``batch_size`` and ``replacement``.
    noisy : bool
        Whether the method adds noise independent of the state (an affine recursion).

    Examples
    --------
    >>> from stability.methods.registry import get
    >>> spec = get("variational-gd")
    >>> spec.batch, [option.flag for option in spec.options]
    ('optional', ['--posterior-variance', '--posterior-samples', '--weight-decay'])
    """

    name: str
    target: str
    batch: BatchUse
    label: str
    summary: str
    options: tuple[Option, ...] = field(default=())
    noisy: bool = False

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
        self,
        batch_size: int | None = None,
        replacement: bool = False,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        **options: Any,
    ) -> Any:
        """Construct the method; options not given take their defaults.

        Parameters
        ----------
        batch_size : int or None
            The minibatch size (``None``: full batch, for ``"optional"`` methods).
        replacement : bool
            Draw batch indices with replacement.
        shuffle, drop_last : bool
            Random reshuffling each epoch (and dropping the short last batch); passed only
            when true, to methods whose class takes them.
        **options
            Values keyed by :attr:`Option.keyword`.

        Raises
        ------
        InvalidInputError
            If a required option is missing, an unknown option is given, or a batch
            size is given to a full-batch method (or missing for a minibatch one).

        Examples
        --------
        >>> from stability.methods.registry import get
        >>> get("variational-gd").build(posterior_cov=0.1).samples
        1
        """
        known = {option.keyword: option for option in self.options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InvalidInputError(f"{self.name} takes no option {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for keyword, option in known.items():
            value = options.get(keyword)
            if value is None:
                if option.required:
                    raise InvalidInputError(f"{self.name} needs {option.flag}")
                value = option.default
            values[keyword] = value
        if self.batch == "none":
            if batch_size is not None:
                raise InvalidInputError(f"{self.name} takes no batch size (it is full-batch)")
            return self.load()(**values)
        if self.batch == "required" and batch_size is None:
            raise InvalidInputError(f"{self.name} needs a batch size")
        epochs = {
            name: True for name, value in (("shuffle", shuffle), ("drop_last", drop_last)) if value
        }
        cls = self.load()
        fields = getattr(cls, "__dataclass_fields__", {})
        for name in epochs:
            if name not in fields:
                raise InvalidInputError(f"{self.name} does not take {name}")
        return cls(batch_size=batch_size, replacement=replacement, **epochs, **values)

    def example_options(self) -> dict[str, Any]:
        """A valid value of every option (for tests and documentation).

        Examples
        --------
        >>> from stability.methods.registry import get
        >>> get("heavy-ball").example_options()
        {'momentum': 0.5, 'weight_decay': 0.1}
        """
        return {
            option.keyword: int(option.example) if option.integer else option.example
            for option in self.options
        }


_MOMENTUM = Option(
    "momentum",
    "--momentum",
    "momentum β in [0, 1)",
    low=0.0,
    high=0.95,
    example=0.5,
    symbol="beta",
)

_WEIGHT_DECAY = Option(
    "weight_decay",
    "--weight-decay",
    "L2 weight decay λ ≥ 0 (adds λ I to every Hessian; default 0)",
    required=False,
    default=0,
    low=0.0,
    high=1.0,
    example=0.1,
)

_BETA1 = Option(
    "beta1",
    "--beta1",
    "Adam's first-moment decay β₁ in [0, 1) (default 0.9)",
    required=False,
    default=0.9,
    low=0.0,
    high=0.95,
    example=0.9,
    symbol="beta_1",
)

#: Every method, in the order tables and ``--help`` list them. Append new entries here.
METHODS: tuple[MethodSpec, ...] = (
    MethodSpec(
        "gd",
        "stability.methods._gradient:GD",
        "none",
        "GD",
        "full-batch gradient descent",
        (_WEIGHT_DECAY,),
    ),
    MethodSpec(
        "sgd",
        "stability.methods._gradient:SGD",
        "required",
        "SGD",
        "minibatch stochastic gradient descent",
        (_WEIGHT_DECAY,),
    ),
    MethodSpec(
        "heavy-ball",
        "stability.methods._momentum:HeavyBall",
        "optional",
        "HeavyBall",
        "Polyak heavy-ball momentum (full batch or minibatch)",
        (_MOMENTUM, _WEIGHT_DECAY),
    ),
    MethodSpec(
        "nesterov",
        "stability.methods._momentum:Nesterov",
        "optional",
        "Nesterov",
        "Nesterov momentum (full batch or minibatch)",
        (_MOMENTUM, _WEIGHT_DECAY),
    ),
    MethodSpec(
        "variational-gd",
        "stability.methods._variational:VariationalGD",
        "optional",
        "VariationalGD",
        "gradient steps on the mean of a fixed-covariance Gaussian posterior",
        (
            Option(
                "posterior_cov",
                "--posterior-variance",
                "posterior variance σ² of variational-gd (≥ 0)",
                low=0.0,
                high=1.0,
                example=0.01,
                symbol="sigma^2",
            ),
            Option(
                "samples",
                "--posterior-samples",
                "posterior samples S per step of variational-gd (default 1)",
                required=False,
                default=1,
                low=1,
                high=8,
                example=1,
                integer=True,
            ),
            _WEIGHT_DECAY,
        ),
        noisy=True,
    ),
    MethodSpec(
        "adam",
        "stability.methods._adaptive:Adam",
        "optional",
        "Adam",
        "Adam with a frozen preconditioner (here P = I: an EMA form of heavy ball)",
        (_BETA1, _WEIGHT_DECAY),
    ),
    MethodSpec(
        "adamw",
        "stability.methods._adaptive:AdamW",
        "optional",
        "AdamW",
        "Adam with decoupled weight decay (frozen preconditioner P = I)",
        (_BETA1, _WEIGHT_DECAY),
    ),
    MethodSpec(
        "rmsprop",
        "stability.methods._adaptive:RMSProp",
        "optional",
        "RMSProp",
        "RMSProp with a frozen preconditioner (here P = I) and optional momentum",
        (
            Option(
                "momentum",
                "--momentum",
                "momentum β in [0, 1) (rmsprop: default 0)",
                required=False,
                default=0,
                low=0.0,
                high=0.95,
                example=0.5,
            ),
            _WEIGHT_DECAY,
        ),
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
    >>> sorted(flags())
    ['--beta1', '--momentum', '--posterior-samples', '--posterior-variance', '--weight-decay']
    """
    seen: dict[str, Option] = {}
    for spec in METHODS:
        for option in spec.options:
            seen.setdefault(option.flag, option)
    return seen


def spec_of(method: Any) -> MethodSpec | None:
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


_SYMBOLS: Mapping[str, str] = {
    "momentum": "β",
    "posterior_cov": "σ²",
    "samples": "S",
    "weight_decay": "λ",
    "beta1": "β₁",
}


def label(method: Any) -> str:
    """A short display label of a method instance: name, options, batch.

    Parameters
    ----------
    method : Method
        A method instance (registered or not; unregistered ones use the class name).

    Examples
    --------
    >>> from stability.methods import GD, HeavyBall
    >>> from stability.methods.registry import label
    >>> label(GD()), label(HeavyBall(0.9, batch_size=8, replacement=True))
    ('GD', 'HeavyBall β=0.9 B=8 with replacement')
    """
    spec = spec_of(method)
    parts = [spec.label if spec is not None else type(method).__name__]
    if spec is not None:
        for option in spec.options:
            value = getattr(method, option.keyword, None)
            if value is None or (not option.required and value == option.default):
                continue
            parts.append(f"{_SYMBOLS.get(option.keyword, option.keyword)}={_format(value)}")
    batch_size = getattr(method, "batch_size", None)
    if batch_size is not None:
        parts.append(f"B={batch_size}")
        if getattr(method, "replacement", False):
            parts.append("with replacement")
    return " ".join(parts)
