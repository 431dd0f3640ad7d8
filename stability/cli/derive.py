"""``stability derive``: the symbolic operator, exact threshold and stability condition.

Examples
--------
>>> from stability.cli import main
>>> main(["derive", "--method", "sgd", "--dim", "1", "--samples", "2", "--batch-size", "1",
...       "--replacement"])  # doctest: +ELLIPSIS
method: SGD, B=1 with replacement (p = 1)
problem: d = 1, n = 2 samples; per-sample Hessians h_1, h_2
second-moment operator T(η), basis vec E[z zᵀ], state (δ_t):
Matrix([[eta**2*(h_1**2 + h_2**2)/2 + eta*(-h_1 - h_2) + 1]])
critical learning rate:
η* = 2*(h_1 + h_2)/(h_1**2 + h_2**2)
stability condition:
(eta > 0) & (eta < 2*(h_1 + h_2)/(h_1**2 + h_2**2))
assumptions: h_1 > 0, h_2 > 0
0
"""

from __future__ import annotations

import argparse
import re
from fractions import Fraction
from typing import Any

import numpy as np

from stability.cli import CommandError
from stability.cli._common import add_method_arguments, count, load_array

__all__ = ["rationalise", "register", "run"]

#: Longest number or symbol name accepted by a method option of ``derive``.
MAX_OPTION_TEXT = 64
#: Largest magnitude of a number given to ``derive`` (beyond it floats overflow).
MAX_MAGNITUDE = 1e300
_SYMBOL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\^[A-Za-z0-9{}]+)?$")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``derive`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The command line's subcommands.
    """
    parser = subparsers.add_parser(
        "derive",
        help="symbolic second-moment operator, exact threshold and stability condition",
        description="Derive with SymPy the second-moment operator T(η), the exact critical "
        "learning rate η* and the stability condition of a method, for generic symbolic "
        "per-sample Hessians (--dim, --samples) or for exact numbers read from a file "
        "(floats are rounded to --digits significant digits and then kept exact).",
    )
    problem = parser.add_argument_group("problem")
    problem.add_argument("--dim", type=count("--dim"), default=1, help="dimension d (default 1)")
    problem.add_argument(
        "--samples", type=count("--samples"), default=2, help="samples n (default 2)"
    )
    problem.add_argument(
        "--structure",
        choices=("general", "diagonal", "data"),
        default="general",
        help="symbolic Hessians: general symmetric, diagonal (commuting), or x_i x_iᵀ",
    )
    problem.add_argument("--hessians", metavar="FILE", help="per-sample Hessians (n, d, d)")
    problem.add_argument("--data", metavar="FILE", help="data rows (n, d): H_i = x_i x_iᵀ")
    problem.add_argument("--key", help="array name inside an .npz or .pt file")
    problem.add_argument(
        "--digits",
        type=count("--digits"),
        default=None,
        help="floats from a file are rounded to this many significant digits before exact "
        "arithmetic (default 6 for --data, 17 for --hessians, whose rounding must keep "
        "them positive semi-definite); simple fractions such as 0.1 or 1/3 are kept exactly",
    )
    add_method_arguments(
        parser,
        default="sgd",
        symbolic=True,
        batch_default_help="sgd without it keeps the mixing weight p symbolic; momentum and "
        "variational-gd without it use the full batch",
    )
    output = parser.add_argument_group("output")
    output.add_argument("--latex", action="store_true", help="print LaTeX")
    output.add_argument(
        "--symmetric",
        action="store_true",
        help="print T restricted to symmetric moments (vech coordinates)",
    )
    output.add_argument(
        "--json", action="store_true", help="print JSON (every expression as a string)"
    )
    output.add_argument(
        "--show-operator",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print T(η) (default: when it is at most 16 × 16)",
    )
    parser.set_defaults(handler=run)


def _number_or_symbol(text: str, flag: str) -> Any:
    """A method option of ``derive``: an exact number or a positive symbol."""
    import sympy

    text = text.strip()
    if not text:
        raise CommandError(f"{flag} must be a number or a symbol name; got an empty string")
    if len(text) > MAX_OPTION_TEXT:
        raise CommandError(
            f"{flag} is too long ({len(text)} characters; at most {MAX_OPTION_TEXT})"
        )
    try:
        value = Fraction(text)
    except ZeroDivisionError:
        raise CommandError(f"{flag} {text!r} divides by zero") from None
    except ValueError:
        value = None
    if value is not None:
        if abs(value) > MAX_MAGNITUDE or (value != 0 and abs(value) < 1 / MAX_MAGNITUDE):
            raise CommandError(
                f"{flag} {text} is outside the range derive accepts (magnitudes from 1e-300 "
                "to 1e300)"
            )
        return sympy.Rational(value.numerator, value.denominator)
    if text.lower() in ("nan", "inf", "+inf", "-inf", "infinity", "-infinity"):
        raise CommandError(f"{flag} must be a finite number or a symbol name; got {text!r}")
    if not _SYMBOL.match(text):
        raise CommandError(f"{flag} must be a number or a symbol name; got {text!r}")
    return sympy.Symbol(text, positive=True)


def _convert(option: Any, value: Any) -> Any:
    """Turn an option's text into its exact value, or its default symbol when not given."""
    import sympy

    if value is None:
        return sympy.Symbol(option.symbol, positive=True) if option.symbol else None
    if isinstance(value, str):
        return _number_or_symbol(value, option.flag)
    return value


def _method(arguments: argparse.Namespace) -> tuple[Any, Any]:
    """The method and the mixing-weight override (a symbol ``p`` for sgd without a batch)."""
    import sympy

    from stability.cli._common import methods_from_arguments

    name = arguments.method
    sizes = arguments.batch_size
    if name == "sgd" and sizes is None:
        arguments = argparse.Namespace(**{**vars(arguments), "batch_size": 1})
        methods = methods_from_arguments(arguments, convert=_convert)
        return methods[0], sympy.Symbol("p")
    return methods_from_arguments(arguments, convert=_convert)[0], None


def _bounded_rational(value: float, digits: int) -> Fraction:
    """``value`` as a small exact rational: kept exactly if it is a simple fraction
    (numerator and denominator at most 10⁶), else rounded to ``digits`` significant digits."""
    if value == 0:
        return Fraction(0)
    simple = Fraction(value).limit_denominator(10**6)
    if float(simple) == value and abs(simple.numerator) <= 10**6:
        return simple
    return Fraction(f"{value:.{digits - 1}e}")


def rationalise(array: np.ndarray, digits: int, option: str) -> tuple[list[Any], float]:
    """Exact rationals of bounded size for a float array, and the largest relative change.

    Integers are kept; a float equal to a simple fraction (denominator ≤ 10⁶, such as
    ``0.1`` or ``1/3``) is kept as that fraction; any other float is rounded to ``digits``
    significant digits. Magnitudes outside ``[1e-300, 1e300]`` are refused (their exact
    arithmetic would not end in reasonable time).

    Parameters
    ----------
    array : ndarray
        The numbers read from the file.
    digits : int
        Significant digits kept for general floats.
    option : str
        The flag, for messages.

    Returns
    -------
    tuple
        ``(nested list of sympy.Rational, largest relative change)``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.cli.derive import rationalise
    >>> values, change = rationalise(np.array([0.1, 1 / 3, 0.123456789]), 4, "--data")
    >>> values, change < 1e-3
    ([1/10, 1/3, 247/2000], True)
    """
    import sympy

    if not 1 <= digits <= 17:
        raise CommandError(f"--digits must be from 1 to 17; got {digits}")
    magnitudes = np.abs(array[array != 0]).astype(float)
    too_large = magnitudes.size and magnitudes.max() > MAX_MAGNITUDE
    if too_large or (magnitudes.size and magnitudes.min() < 1 / MAX_MAGNITUDE):
        raise CommandError(
            f"{option}: entries range from {magnitudes.min():.3g} to {magnitudes.max():.3g}; "
            "derive "
            "takes magnitudes from 1e-300 to 1e300 (rescale the input: η* scales as 1/s² when "
            "the data are multiplied by s, or use stability critical-lr)"
        )
    if array.dtype.kind in "iu":
        return array.astype(object).tolist(), 0.0
    worst = 0.0
    flat = []
    for value in array.ravel().tolist():
        rational = _bounded_rational(float(value), digits)
        if value != 0:
            worst = max(worst, abs(float(rational) - value) / abs(value))
        flat.append(sympy.Rational(rational.numerator, rational.denominator))
    return np.array(flat, dtype=object).reshape(array.shape).tolist(), worst


def _problem(arguments: argparse.Namespace) -> tuple[Any, str | None, Any]:
    """The symbolic problem, a note on rounding, and the learning-rate scale ``c``.

    Data or Hessians of very large or small magnitude are divided by a power of ten
    ``10^k`` first (exact arithmetic on numbers of hundreds of digits does not end): the
    thresholds of the input are those of the scaled problem divided by ``c = 10^{2k}``
    (data) or ``10^k`` (Hessians), and every expression in ``η`` of the input is that of the
    scaled problem at ``c η`` (``docs/theory/threshold.md``: η* scales as 1/s²).
    """
    from stability.symbolic import as_symbolic_problem, from_data, symbols_problem

    if arguments.hessians and arguments.data:
        raise CommandError("give one of --hessians and --data")
    for option, build in (("hessians", as_symbolic_problem), ("data", from_data)):
        path = getattr(arguments, option)
        if path is None:
            continue
        flag = f"--{option}"
        array = load_array(path, arguments.key, option=flag)
        digits = arguments.digits or (6 if option == "data" else 17)
        largest = float(np.max(np.abs(array)))
        exponent = 0
        if largest > 0 and not 1e-3 <= largest <= 1e3:
            exponent = int(np.floor(np.log10(largest)))
        values, change = rationalise(
            array if exponent == 0 else array.astype(float) / 10.0**exponent, digits, flag
        )
        notes = []
        if change > 0:
            notes.append(
                f"floats rounded to {digits} significant digits (largest relative change "
                f"{change:.2g})"
            )
        import sympy

        scale = sympy.Integer(10) ** (2 * exponent if option == "data" else exponent)
        if exponent:
            notes.append(
                f"{'data' if option == 'data' else 'Hessians'} divided by 10^{exponent} for "
                f"exact arithmetic and every η scaled back (η* of the input = η* of the scaled "
                f"problem / 10^{2 * exponent if option == 'data' else exponent})"
            )
        note = ("input: " + "; ".join(notes) + "; the results are exact for the rounded input"
                if notes else None)
        if option == "hessians" and array.ndim == 3:
            arguments.rounded_digits = digits if change > 0 else None
            return build([sympy.Matrix(item) for item in values]), note, scale
        arguments.rounded_digits = digits if change > 0 else None
        return build(values), note, scale
    problem = symbols_problem(arguments.dim, arguments.samples, structure=arguments.structure)
    return problem, None, None


#: Most significant digits of rounded floats for which the exact threshold of a stochastic
#: method ends in about a minute, by the size m·r of the reduced state (measured: d = 4 at
#: 6 digits 10–25 s, d = 5 at 3 digits 27 s and at 6 digits over 10 minutes).
DIGIT_LIMITS = {1: 17, 2: 17, 3: 17, 4: 8, 5: 2}


def _check_exact_work(problem: Any, dynamics: Any, weight: Any, digits: int | None) -> None:
    """Refuse exact work on rounded floats that would not end in reasonable time."""
    if digits is None or weight == 0:
        return
    size = len(dynamics.state) * min(problem.samples, problem.dimension)
    limit = DIGIT_LIMITS.get(size, 0)
    if digits > limit:
        hint = f"use --digits {limit} or fewer, or" if limit else "use"
        raise CommandError(
            f"the exact threshold of a stochastic method on a state of size m·r = {size} with "
            f"{digits}-digit rationals would take many minutes; {hint} stability critical-lr "
            "(--precision for more digits)"
        )


def _decimal(value: Any) -> str | None:
    """``≈ 1.2345…`` for an exact value that is not a plain rational (``None`` otherwise)."""
    import sympy

    if not isinstance(value, sympy.Basic) or value.free_symbols or value.is_Rational:
        return None
    try:
        number = sympy.N(value, 15)
    except Exception:
        return None
    if number.is_real and number.is_finite:
        return f"{float(number):.15g}"
    return None


def _describe_hessians(problem: Any) -> str:
    if problem.samples > 6 and not problem.is_parametric:
        return f"{problem.samples} exact {problem.dimension}×{problem.dimension} matrices"
    if problem.dimension == 1:
        return ", ".join(str(h[0, 0]) for h in problem.hessians)
    return "; ".join(str(h.tolist()) for h in problem.hessians)


def run(arguments: argparse.Namespace) -> int:
    """Derive and print (text, LaTeX, or JSON with every expression as a string).

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.
    """
    from stability.cli._common import print_json
    from stability.errors import SizeLimitError
    from stability.symbolic import (
        LEARNING_RATE,
        NoClosedFormError,
        noise_matrix,
        second_moment_operator,
        stability_condition,
        stationary_moment,
        threshold_derivation,
        to_latex,
    )

    method, mixing = _method(arguments)
    problem, note, scale = _problem(arguments)

    def rescale(expression: Any) -> Any:
        if scale is None or scale == 1:
            return expression
        return expression.xreplace({LEARNING_RATE: LEARNING_RATE * scale})

    dynamics = method.dynamics()
    latex = arguments.latex
    as_json = arguments.json
    weight = mixing if mixing is not None else dynamics.batch.mixing(problem.samples)
    _check_exact_work(problem, dynamics, weight, getattr(arguments, "rounded_digits", None))
    batch = "mixing weight p symbolic" if mixing is not None else dynamics.batch.describe()
    state = ", ".join(dynamics.state)
    payload: dict[str, Any] = {
        "method": dynamics.name,
        "batch": batch,
        "mixing_weight": str(weight),
        "samples": problem.samples,
        "dimension": problem.dimension,
        "input_note": note,
    }

    def say(line: str) -> None:
        if not as_json:
            print(f"% {line}" if latex else line)

    def show(key: str, label: str, value: Any, prefix: str = "") -> None:
        if as_json:
            payload[key] = str(value)
            payload[f"{key}_latex"] = to_latex(value)
        elif latex:
            print(f"% {label}")
            print(f"{prefix}{to_latex(value)}")
        else:
            print(f"{label}:")
            print(f"{prefix}{value}" if prefix else value)

    say(f"method: {dynamics.name}, {batch} (p = {weight})")
    say(
        f"problem: d = {problem.dimension}, n = {problem.samples} samples; per-sample Hessians "
        f"{_describe_hessians(problem)}"
    )
    if note is not None:
        say(note)
    operator = rescale(
        second_moment_operator(problem, method, mixing=mixing, symmetric=arguments.symmetric)
    )
    basis = "vech of symmetric E[z zᵀ]" if arguments.symmetric else "vec E[z zᵀ]"
    label = f"second-moment operator T(η), basis {basis}, state ({state})"
    show_operator = arguments.show_operator
    if show_operator is None:
        show_operator = max(operator.shape) <= 16
    if show_operator:
        show("operator", label, operator, "T(\\eta) = " if latex else "")
    else:
        size = f"{operator.shape[0]} × {operator.shape[1]}"
        say(f"{label}: {size}, not shown" + ("" if latex else " (--show-operator prints it)"))
    if dynamics.noise is not None:
        show(
            "noise_moment",
            "noise moment N(η) = E[b bᵀ]",
            rescale(noise_matrix(problem, method, mixing=mixing)),
            "N(\\eta) = " if latex else "",
        )
    try:
        derivation = threshold_derivation(problem, method, mixing=mixing)
    except NoClosedFormError as error:
        message = str(error).splitlines()[0]
        if as_json:
            payload["critical_learning_rate"] = None
            payload["no_closed_form"] = message
            print_json(payload)
        else:
            print(
                f"% no closed form: {message}"
                if latex
                else f"critical learning rate: no closed form ({message})"
            )
        return 0
    value = derivation.value if scale is None or scale == 1 else derivation.value / scale
    value_latex = (
        derivation.latex() if value is derivation.value else f"\\eta^{{*}} = {to_latex(value)}"
    )
    decimal = _decimal(value)
    if as_json:
        payload["critical_learning_rate"] = str(value)
        payload["critical_learning_rate_latex"] = value_latex
        payload["critical_learning_rate_decimal"] = None if decimal is None else float(decimal)
    elif latex:
        print("% critical learning rate")
        print(value_latex)
        if decimal is not None:
            print(f"% η* ≈ {decimal}")
    else:
        print("critical learning rate:")
        print(f"η* = {value}")
        if decimal is not None:
            print(f"η* ≈ {decimal}")
    condition = rescale(
        stability_condition(
            problem, method, lr=LEARNING_RATE, mixing=mixing, derivation=derivation
        )
    )
    show("stability_condition", "stability condition", condition)
    if as_json:
        payload["assumptions"] = [str(a) for a in derivation.assumptions]
    elif derivation.assumptions and not latex:
        print("assumptions: " + ", ".join(str(a) for a in derivation.assumptions))
    if dynamics.noise is not None:
        try:
            moment = rescale(stationary_moment(problem, method, mixing=mixing))
        except SizeLimitError as error:
            if as_json:
                payload["stationary_moment"] = None
            else:
                say(f"{error}" if latex else f"stationary second moment: skipped ({error})")
        else:
            show(
                "stationary_moment",
                "stationary second moment S_∞(η) (within the stability condition)",
                moment,
                "S_\\infty(\\eta) = " if latex else "",
            )
    if as_json:
        print_json(payload)
    return 0
