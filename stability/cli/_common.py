"""Shared pieces of the command line: arguments, limits, problems, methods, output.

Every subcommand builds its flags from these helpers, so a flag has one name, one
meaning and one default everywhere: the problem sources (``--hessian``, ``--hessians``,
``--data``, ``--gram``, ``--example``, ``--key``), the methods of the registry
(``--method``, ``--batch-size``, ``--replacement`` and each method option such as
``--momentum``), ``--seed`` (default :data:`DEFAULT_SEED`), ``--output`` for every file
written, ``--progress/--no-progress`` and ``--json``.

Counts and sizes are checked when they are parsed, against the limits in
:data:`LIMITS` (documented in ``docs/cli.md``), and again against an estimate of the
memory and time of the whole computation (:func:`check_workload`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stability.cli import CommandError
from stability.methods import registry

__all__ = [
    "DEFAULT_SEED",
    "LIMITS",
    "add_json_argument",
    "add_method_arguments",
    "add_output_argument",
    "add_problem_arguments",
    "add_progress_argument",
    "add_seed_argument",
    "check_limits",
    "check_workload",
    "count",
    "finite_float",
    "format_table",
    "json_text",
    "load_array",
    "method_from_arguments",
    "methods_from_arguments",
    "print_json",
    "problem_fields",
    "problem_from_arguments",
    "progress_from_arguments",
]

#: The seed every subcommand uses when ``--seed`` is not given (results are reproducible).
DEFAULT_SEED = 0

#: ``flag -> (smallest, largest)`` accepted value of every count.
LIMITS: dict[str, tuple[int, int]] = {
    "--runs": (1, 10**8),
    "--steps": (1, 10**7),
    "--horizon": (1, 10**7),
    "--points": (2, 10**5),
    "--dpi": (10, 1200),
    "--precision": (16, 2000),
    "--chunk-size": (1, 10**7),
    "--posterior-samples": (1, 10**6),
    "--dim": (1, 64),
    "--samples": (1, 4096),
    "--seed": (0, 2**63 - 1),
}

#: Largest estimated work (scalar multiply-adds) of one command, about an hour.
MAX_WORK = 5e12
#: Largest number of pixels of a figure (``--dpi`` times its size).
MAX_PIXELS = 10**8


def _limit_text(value: int) -> str:
    if value >= 10**4 and math.log10(value).is_integer():
        return f"10^{int(math.log10(value))}"
    return str(value)


def count(flag: str) -> Callable[[str], int]:
    """An argparse type: an integer (``1e6`` accepted when it is a whole number).

    The range (:data:`LIMITS`) is checked after parsing by :func:`check_limits`, so an
    out-of-range count is an error of the command (exit 2) naming the flag and the limit.

    Parameters
    ----------
    flag : str
        The flag, for the message.

    Examples
    --------
    >>> from stability.cli._common import count
    >>> count("--runs")("1e4")
    10000
    >>> count("--runs")("1.5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: --runs must be an integer; got 1.5
    """

    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer; got {text!r}") from None
        if not math.isfinite(number) or number != int(number):
            raise argparse.ArgumentTypeError(f"{flag} must be an integer; got {text}")
        return int(number)

    parse.__name__ = "integer"
    return parse


def check_limits(arguments: argparse.Namespace) -> None:
    """Refuse any count outside its documented range (:data:`LIMITS`), naming the flag.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.

    Examples
    --------
    >>> import argparse
    >>> from stability.cli._common import check_limits
    >>> check_limits(argparse.Namespace(runs=10**12))
    Traceback (most recent call last):
    ...
    stability.cli.CommandError: --runs must be at least 1 and at most 10^8; got 1000000000000
    """
    for flag, (low, high) in LIMITS.items():
        value = getattr(arguments, flag[2:].replace("-", "_"), None)
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            raise CommandError(
                f"{flag} must be at least {_limit_text(low)} and at most {_limit_text(high)}; "
                f"got {value}"
            )


def finite_float(flag: str) -> Callable[[str], float]:
    """An argparse type: a finite real number (``1e400``, ``nan`` and ``1/0`` refused).

    Parameters
    ----------
    flag : str
        The flag, for the message.

    Examples
    --------
    >>> from stability.cli._common import finite_float
    >>> finite_float("--lr")("0.5")
    0.5
    >>> finite_float("--lr")("1e400")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: --lr must be a finite number; 1e400 is beyond ... (±1.8e308)
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a number; got {text!r}") from None
        if math.isnan(value):
            raise argparse.ArgumentTypeError(f"{flag} must be a finite number; got {text}")
        if math.isinf(value):
            raise argparse.ArgumentTypeError(
                f"{flag} must be a finite number; {text} is beyond the float range (±1.8e308)"
            )
        return value

    parse.__name__ = "number"
    return parse


def _batch_size(text: str) -> int | None:
    """A batch size: ``full`` (or ``none``) for the full batch, else an integer.

    The range is checked by the method (against the problem's number of samples).
    """
    if text.lower() in ("full", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--batch-size must be an integer or 'full'; got {text!r}"
        ) from None
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"--batch-size must be an integer or 'full'; got {text}")
    return int(value)


_batch_size.__name__ = "batch size"


# ------------------------------------------------------------------------------ arguments
def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive problem sources (``--hessian``, ``--data``, ``--example``, …).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    group = parser.add_argument_group("problem (choose one)")
    sources = group.add_mutually_exclusive_group(required=True)
    formats = ".npy, .npz, .csv, .txt or .pt"
    sources.add_argument(
        "--hessian", metavar="FILE", help=f"one symmetric PSD d×d Hessian ({formats})"
    )
    sources.add_argument("--hessians", metavar="FILE", help="per-sample Hessians, shape (n, d, d)")
    sources.add_argument("--data", metavar="FILE", help="data/Jacobian rows, shape (n, d)")
    sources.add_argument(
        "--jacobians",
        metavar="FILE",
        help="per-sample Jacobians J_i, shape (n, k, d): H_i = J_iᵀ J_i (k outputs)",
    )
    sources.add_argument(
        "--gram", metavar="FILE", help="Gram (NTK) matrix, shape (n, n) or (n, k, n, k)"
    )
    sources.add_argument(
        "--example", action="store_true", help="the built-in example (32 samples, 8 features)"
    )
    group.add_argument(
        "--key", help="array name inside an .npz or .pt file (default: its only one)"
    )


def add_method_arguments(
    parser: argparse.ArgumentParser,
    *,
    default: str = "gd",
    multiple: bool = False,
    symbolic: bool = False,
    batch_default_help: str = "default: full batch",
    epochs: bool = False,
) -> None:
    """Add ``--method`` (the registry's names), ``--batch-size``, ``--replacement``, options.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    default : str
        The default method.
    multiple : bool
        Accept several methods and batch sizes (one result each).
    symbolic : bool
        Method options are numbers or symbol names (``stability derive``).
    batch_default_help : str
        What no ``--batch-size`` means, for ``--help``.
    epochs : bool
        Offer ``--shuffle`` and ``--drop-last`` (random reshuffling by epochs).
    """
    group = parser.add_argument_group("method")
    nargs = "+" if multiple else None
    group.add_argument(
        "--method",
        choices=registry.names(),
        default=[default] if multiple else default,
        nargs=nargs,
        metavar="NAME" if multiple else None,
        help=("one or more of " if multiple else "one of ")
        + ", ".join(registry.names())
        + f" (default {default})",
    )
    group.add_argument(
        "--batch-size",
        "--batch-sizes",
        dest="batch_size",
        type=_batch_size,
        nargs=nargs,
        metavar="B",
        help=("minibatch sizes B, or 'full'" if multiple else "minibatch size B")
        + f" ({batch_default_help})",
    )
    group.add_argument(
        "--replacement", action="store_true", help="draw batch indices with replacement"
    )
    if epochs:
        group.add_argument(
            "--shuffle",
            action="store_true",
            help="random reshuffling: a fresh permutation each epoch, cut into batches "
            "(the threshold per epoch; exact for small n)",
        )
        group.add_argument(
            "--drop-last", action="store_true", help="with --shuffle, skip the short last batch"
        )
    for flag, option in registry.flags().items():
        if symbolic and option.symbol is not None:
            kind: Any = str
            extra = f"; a number or a symbol name (default the symbol {option.symbol})"
        elif option.integer:
            kind = count(flag)
            extra = ""
        else:
            kind = finite_float(flag)
            extra = ""
        group.add_argument(flag, type=kind, help=option.help + extra)


def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--seed`` with the one default of the command line, :data:`DEFAULT_SEED`.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument(
        "--seed",
        type=count("--seed"),
        default=DEFAULT_SEED,
        help=f"random seed, a non-negative integer (default {DEFAULT_SEED}: reproducible)",
    )


def add_output_argument(
    parser: argparse.ArgumentParser, *, required: bool, what: str = "the figure"
) -> None:
    """Add ``--output``/``-o`` (``--plot`` kept as an alias) and ``--dpi``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    required : bool
        Whether a file must be given.
    what : str
        What is written, for ``--help``.
    """
    group = parser.add_argument_group("output file")
    group.add_argument(
        "--output",
        "-o",
        "--plot",
        dest="output",
        required=required,
        metavar="FILE",
        help=f"write {what} to FILE (.png, .svg or .pdf)",
    )
    group.add_argument(
        "--dpi", type=count("--dpi"), default=150, help="resolution of PNG files (default 150)"
    )


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--progress/--no-progress`` (default: on when stderr is a terminal).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress on stderr (default: on when stderr is a terminal)",
    )


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def progress_from_arguments(arguments: argparse.Namespace, description: str) -> Any:
    """The progress meter asked for: a text meter on stderr, or the silent meter.

    Parameters
    ----------
    arguments : argparse.Namespace
        Parsed arguments with ``progress`` (``None`` means: on for a terminal).
    description : str
        Shown before the counts.
    """
    from stability.progress import NoProgress, TextProgress, TqdmProgress

    wanted = getattr(arguments, "progress", None)
    if wanted is None:
        wanted = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not wanted:
        return NoProgress()
    import importlib.util

    if importlib.util.find_spec("tqdm") is not None and sys.stderr.isatty():
        return TqdmProgress(leave=False, file=sys.stderr)
    return TextProgress(stream=sys.stderr, every=10)


# ------------------------------------------------------------------------------- problems
def load_array(path: str, key: str | None = None, *, option: str = "file") -> np.ndarray:
    """Read an array (see :func:`stability.cli._files.load_array`).

    Parameters
    ----------
    path : str
        The file.
    key : str, optional
        Array name in an archive.
    option : str
        The flag it came from.
    """
    from stability.cli._files import load_array as read

    return read(path, key, option=option)


def _check_problem_size(array: np.ndarray, option: str) -> None:
    from stability.cli._files import memory_limit

    shape = array.shape
    if option == "--data" and array.ndim == 2:
        reduced = min(shape)
        needed = 8.0 * (reduced**2 * 6 + shape[0] * shape[1] * 2)
    elif option == "--hessians" and array.ndim == 3:
        needed = 8.0 * array.size * 3
    elif array.ndim == 2:
        needed = 8.0 * array.size * 6
    else:
        return
    if needed > memory_limit():
        raise CommandError(
            f"{option}: a problem of shape {shape} needs about {needed / 2**30:.3g} GiB, more "
            "than this machine can spare"
        )


def problem_from_arguments(arguments: argparse.Namespace) -> Any:
    """Build the :class:`~stability.problems.Quadratic` named by the problem arguments.

    Parameters
    ----------
    arguments : argparse.Namespace
        Parsed arguments of :func:`add_problem_arguments`.
    """
    from stability.problems import Quadratic

    if getattr(arguments, "example", False):
        from stability._examples import regression_example

        return regression_example()
    for option, build in (
        ("hessian", Quadratic),
        ("hessians", Quadratic.from_hessians),
        ("data", Quadratic.from_data),
        ("jacobians", Quadratic.from_jacobians),
        ("gram", Quadratic.from_gram),
    ):
        path = getattr(arguments, option, None)
        if path is not None:
            flag = f"--{option}"
            array = load_array(path, arguments.key, option=flag)
            _check_problem_size(array, flag)
            return build(np.asarray(array, dtype=float))
    raise CommandError(
        "give a problem: --hessian, --hessians, --data, --jacobians, --gram or --example"
    )


def scaled_problem_from_arguments(arguments: argparse.Namespace) -> tuple[Any, int]:
    """The problem divided by a power of two, and the exponent ``e`` of ``H = 2^e H_scaled``.

    Thresholds scale exactly: ``η*(2^e H) = 2^{-e} η*(H)`` (``docs/theory/threshold.md``),
    and division by a power of two is exact in floating point, so computing on the scaled
    problem and scaling back with :func:`math.ldexp` answers exactly across the whole float
    range, independently of how the numeric layer handles extreme magnitudes. Problems whose
    entries lie within ``[2^-30, 2^30]`` are not scaled (``e = 0``).

    Parameters
    ----------
    arguments : argparse.Namespace
        Parsed arguments of :func:`add_problem_arguments`.

    Examples
    --------
    >>> import argparse, numpy as np, tempfile, pathlib
    >>> from stability.cli._common import scaled_problem_from_arguments
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "X.npy"
    >>> np.save(path, np.eye(2) * 2.0**100)
    >>> problem, exponent = scaled_problem_from_arguments(argparse.Namespace(
    ...     example=False, hessian=None, hessians=None, data=str(path), gram=None, key=None))
    >>> exponent, problem.sharpness
    (202, 0.125)
    """
    from stability.problems import Quadratic

    if getattr(arguments, "example", False):
        return problem_from_arguments(arguments), 0
    for option, build, power in (
        ("hessian", Quadratic, 1),
        ("hessians", Quadratic.from_hessians, 1),
        ("data", Quadratic.from_data, 2),
        ("jacobians", Quadratic.from_jacobians, 2),
        ("gram", Quadratic.from_gram, 1),
    ):
        path = getattr(arguments, option, None)
        if path is None:
            continue
        flag = f"--{option}"
        array = np.asarray(load_array(path, arguments.key, option=flag), dtype=float)
        _check_problem_size(array, flag)
        largest = float(np.max(np.abs(array)))
        shift = 0
        if largest > 0 and not 2.0**-30 <= largest <= 2.0**30:
            shift = math.frexp(largest)[1]
        scaled = np.ldexp(array, -shift) if shift else array
        return build(scaled), power * shift
    raise CommandError(
        "give a problem: --hessian, --hessians, --data, --jacobians, --gram or --example"
    )


def scale_back(value: float, exponent: int, what: str) -> float:
    """``2^exponent × value``, exactly, or a named refusal when it is not representable.

    Parameters
    ----------
    value : float
        A quantity of the scaled problem.
    exponent : int
        The power of two to multiply by.
    what : str
        The quantity's name, for the message.

    Examples
    --------
    >>> from stability.cli._common import scale_back
    >>> scale_back(0.75, -2, "η*")
    0.1875
    """
    if exponent == 0 or not math.isfinite(value) or value == 0:
        return value
    from stability.errors import OutOfRangeError

    try:
        result = math.ldexp(value, exponent)
    except OverflowError:
        result = math.inf
    if math.isinf(result) or abs(result) < 1e-311:  # below, subnormals lose > 12 digits
        magnitude = math.log10(abs(value)) + exponent * math.log10(2.0)
        raise OutOfRangeError(
            f"{what} of this problem is about 1e{magnitude:.0f}, outside the double-precision "
            "range; rescale the input (thresholds scale as 1/s² when the data are multiplied "
            "by s)"
        )
    return result


def problem_fields(problem: Any) -> dict[str, Any]:
    """The JSON fields describing a problem, with one meaning in every subcommand.

    ``samples`` is ``n`` (``null`` for one Hessian), ``dimension`` the number of
    parameters ``d`` (``null`` for ``--gram``, which does not determine ``d``), ``rank``
    the rank of ``H`` (the same for ``--data X`` and ``--gram X Xᵀ``) and ``sharpness``
    ``λ_max(H)``.

    Parameters
    ----------
    problem : Quadratic
        The problem.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.cli._common import problem_fields
    >>> data = np.eye(3)[:2]
    >>> problem_fields(Quadratic.from_data(data))["dimension"]
    3
    >>> problem_fields(Quadratic.from_gram(data @ data.T))["dimension"] is None
    True
    """
    return {
        "samples": problem.samples,
        "dimension": None if problem.kind == "gram" else problem.dimension,
        "rank": int(problem.reduced().rank),
        "sharpness": problem.sharpness,
    }


# -------------------------------------------------------------------------------- methods
def _option_values(arguments: argparse.Namespace) -> dict[str, tuple[str, Any]]:
    values = {}
    for flag, option in registry.flags().items():
        value = getattr(arguments, flag[2:].replace("-", "_"), None)
        if value is not None:
            values[option.keyword] = (flag, value)
    return values


def methods_from_arguments(
    arguments: argparse.Namespace,
    *,
    convert: Callable[[Any, Any], Any] | None = None,
) -> list[Any]:
    """Every method named by ``--method`` × ``--batch-size`` with its options.

    A method without a batch (``gd``) gives one method whatever the batch sizes; a
    method needing one (``sgd``) gives one per batch size; an option or a batch size
    that applies to none of the named methods is an error naming the flag.

    Parameters
    ----------
    arguments : argparse.Namespace
        Parsed arguments of :func:`add_method_arguments`.
    convert : callable, optional
        ``convert(option, value)`` turns a flag's text into the method's value (used by
        ``stability derive`` for symbols).
    """
    names = arguments.method if isinstance(arguments.method, list) else [arguments.method]
    names = list(dict.fromkeys(names))
    sizes = arguments.batch_size
    if sizes is not None and not isinstance(sizes, list):
        sizes = [sizes]
    specs = [registry.get(name) for name in names]
    given = _option_values(arguments)
    described = " ".join(names)
    for keyword, (flag, _) in given.items():
        if not any(keyword in {o.keyword for o in spec.options} for spec in specs):
            raise CommandError(f"{flag} does not apply to --method {described}")
    for flag in ("shuffle", "drop_last"):
        if getattr(arguments, flag, False) and all(spec.batch == "none" for spec in specs):
            raise CommandError(
                f"--{flag.replace('_', '-')} does not apply to --method {described} (use sgd)"
            )
    if sizes is not None and any(size is not None for size in sizes):
        if all(spec.batch == "none" for spec in specs):
            raise CommandError(f"--batch-size does not apply to --method {described} (use sgd)")
    methods = []
    for spec in specs:
        options: dict[str, Any] = {}
        for option in spec.options:
            if option.keyword in given:
                value = given[option.keyword][1]
            elif convert is not None:
                value = convert(option, None)
            else:
                value = None
            if value is None and option.required:
                raise CommandError(f"--method {spec.name} needs {option.flag}")
            if value is not None:
                options[option.keyword] = (
                    convert(option, value) if convert is not None and option.keyword in given
                    else value
                )
        if spec.batch == "none":
            chosen: list[int | None] = [None]
        elif spec.batch == "required":
            chosen = [size for size in (sizes or []) if size is not None]
            if not chosen:
                raise CommandError(f"--method {spec.name} needs --batch-size")
        else:
            chosen = list(dict.fromkeys(sizes)) if sizes else [None]
        for size in chosen:
            epochs = {}
            if size is not None and spec.batch != "none":
                epochs = {
                    "shuffle": getattr(arguments, "shuffle", False),
                    "drop_last": getattr(arguments, "drop_last", False),
                }
            methods.append(
                spec.build(
                    batch_size=size, replacement=arguments.replacement, **epochs, **options
                )
            )
    return methods


def method_from_arguments(arguments: argparse.Namespace) -> Any:
    """The one method named by the method arguments (see :func:`methods_from_arguments`).

    Parameters
    ----------
    arguments : argparse.Namespace
        Parsed arguments of :func:`add_method_arguments`.
    """
    methods = methods_from_arguments(arguments)
    if len(methods) != 1:
        raise CommandError("this command takes one method and one batch size")
    return methods[0]


def check_workload(work: float, what: str) -> None:
    """Refuse a computation whose estimated work exceeds :data:`MAX_WORK`.

    Parameters
    ----------
    work : float
        Estimated scalar multiply-adds.
    what : str
        The flags to lower, for the message.

    Examples
    --------
    >>> from stability.cli._common import check_workload
    >>> check_workload(1e6, "--runs")
    >>> check_workload(1e15, "--runs or --steps")
    Traceback (most recent call last):
    ...
    stability.cli.CommandError: this would take about 1e+15 operations ...; lower --runs or --steps
    """
    if work > MAX_WORK:
        raise CommandError(
            f"this would take about {work:.3g} operations (hours at best; the limit is "
            f"{MAX_WORK:.3g}); lower {what}"
        )


# --------------------------------------------------------------------------------- output
def _plain(value: Any) -> Any:
    """``value`` with every number finite or a string: ``"inf"``, ``"-inf"``, ``"nan"``."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, complex):
        return str(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def json_text(payload: Any) -> str:
    """Strict JSON (no ``NaN``/``Infinity`` tokens): non-finite numbers become strings.

    Parameters
    ----------
    payload : Any
        Dicts, lists, numbers (NumPy included), strings, booleans, ``None``.

    Examples
    --------
    >>> from stability.cli._common import json_text
    >>> json_text({"rate": float("inf"), "values": [1.0, float("nan")]})
    '{\\n  "rate": "inf",\\n  "values": [\\n    1.0,\\n    "nan"\\n  ]\\n}'
    """
    return json.dumps(_plain(payload), indent=2, allow_nan=False, ensure_ascii=False)


def print_json(payload: Any) -> None:
    """Print ``payload`` as strict JSON (see :func:`json_text`).

    Parameters
    ----------
    payload : Any
        The object to print.
    """
    print(json_text(payload))


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain-text table with aligned columns.

    Parameters
    ----------
    rows : sequence of sequences of str
        The cells.
    header : sequence of str
        Column titles.

    Examples
    --------
    >>> from stability.cli._common import format_table
    >>> print(format_table([("GD", "1")], ("method", "η*")))
    method  η*
    ------  --
    GD      1
    """
    table = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
