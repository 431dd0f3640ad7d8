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
from fractions import Fraction
from typing import Any

import sympy

from stability.cli import CommandError
from stability.cli._common import load_array
from stability.errors import SizeLimitError
from stability.methods import GD, SGD, HeavyBall, Method, Nesterov
from stability.symbolic import (
    LEARNING_RATE,
    NoClosedFormError,
    SymbolicQuadratic,
    as_symbolic_problem,
    from_data,
    noise_matrix,
    second_moment_operator,
    stability_condition,
    stationary_moment,
    symbols_problem,
    threshold_derivation,
    to_latex,
)

__all__ = ["register", "run"]

_METHODS = ("gd", "sgd", "heavy-ball", "nesterov", "variational-gd")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``derive`` subcommand."""
    parser = subparsers.add_parser(
        "derive",
        help="symbolic second-moment operator, exact threshold and stability condition",
        description="Derive with SymPy the second-moment operator T(η), the exact critical "
        "learning rate η* and the stability condition of a method, for generic symbolic "
        "per-sample Hessians (--dim, --samples) or for exact numbers read from a file.",
    )
    problem = parser.add_argument_group("problem")
    problem.add_argument("--dim", type=int, default=1, help="dimension d (default 1)")
    problem.add_argument("--samples", type=int, default=2, help="samples n (default 2)")
    problem.add_argument(
        "--structure",
        choices=("general", "diagonal", "data"),
        default="general",
        help="symbolic Hessians: general symmetric, diagonal (commuting), or x_i x_iᵀ",
    )
    problem.add_argument("--hessians", metavar="FILE", help="per-sample Hessians (n, d, d)")
    problem.add_argument("--data", metavar="FILE", help="data rows (n, d): H_i = x_i x_iᵀ")
    problem.add_argument("--key", help="array name inside an .npz file")
    method = parser.add_argument_group("method")
    method.add_argument("--method", choices=_METHODS, default="sgd", help="default sgd")
    method.add_argument(
        "--batch-size",
        type=int,
        help="minibatch size B; sgd without it keeps the mixing weight p symbolic, momentum "
        "and variational-gd without it use the full batch",
    )
    method.add_argument("--replacement", action="store_true", help="draw with replacement")
    method.add_argument(
        "--momentum", default="beta", help="momentum β: a number or a symbol name (default beta)"
    )
    method.add_argument(
        "--posterior-variance",
        default="sigma^2",
        help="variational-gd posterior variance σ²: a number or a symbol name",
    )
    method.add_argument(
        "--posterior-samples", type=int, default=1, help="variational-gd samples S (default 1)"
    )
    output = parser.add_argument_group("output")
    output.add_argument("--latex", action="store_true", help="print LaTeX")
    output.add_argument(
        "--symmetric",
        action="store_true",
        help="print T restricted to symmetric moments (vech coordinates)",
    )
    parser.set_defaults(handler=run)


def _number_or_symbol(text: str, name: str) -> Any:
    try:
        return Fraction(text)
    except ValueError:
        pass
    if not text.replace("_", "").replace("^", "").replace("{", "").replace("}", "").isalnum():
        raise CommandError(f"{name} must be a number or a symbol name; got {text!r}")
    return sympy.Symbol(text, positive=True)


def _method(arguments: argparse.Namespace) -> tuple[Method, Any]:
    """The method and the mixing-weight override (a symbol ``p`` for sgd without a batch)."""
    name, batch = arguments.method, arguments.batch_size
    if name == "gd":
        if batch is not None:
            raise CommandError("--batch-size does not apply to --method gd (use sgd)")
        return GD(), None
    if name == "sgd":
        if batch is None:
            return SGD(1, replacement=arguments.replacement), sympy.Symbol("p")
        return SGD(batch, replacement=arguments.replacement), None
    if name == "variational-gd":
        from stability.methods.variational import VariationalGD

        variance = _number_or_symbol(arguments.posterior_variance, "--posterior-variance")
        if isinstance(variance, Fraction):
            variance = sympy.Rational(variance.numerator, variance.denominator)
        return (
            VariationalGD(
                variance,
                samples=arguments.posterior_samples,
                batch_size=batch,
                replacement=arguments.replacement,
            ),
            None,
        )
    momentum = _number_or_symbol(arguments.momentum, "--momentum")
    kind = HeavyBall if name == "heavy-ball" else Nesterov
    return kind(momentum, batch_size=batch, replacement=arguments.replacement), None


def _problem(arguments: argparse.Namespace) -> SymbolicQuadratic:
    if arguments.hessians and arguments.data:
        raise CommandError("give one of --hessians and --data")
    if arguments.hessians:
        return as_symbolic_problem(load_array(arguments.hessians, arguments.key))
    if arguments.data:
        return from_data(load_array(arguments.data, arguments.key))
    return symbols_problem(arguments.dim, arguments.samples, structure=arguments.structure)


def _describe_hessians(problem: SymbolicQuadratic) -> str:
    if problem.dimension == 1:
        return ", ".join(str(h[0, 0]) for h in problem.hessians)
    return "; ".join(str(h.tolist()) for h in problem.hessians)


def run(arguments: argparse.Namespace) -> int:
    """Derive and print."""
    method, mixing = _method(arguments)
    problem = _problem(arguments)
    dynamics = method.dynamics()
    latex = arguments.latex
    weight = mixing if mixing is not None else dynamics.batch.mixing(problem.samples)
    batch = "mixing weight p symbolic" if mixing is not None else dynamics.batch.describe()
    state = ", ".join(dynamics.state)

    def show(label: str, value: Any, prefix: str = "") -> None:
        if latex:
            print(f"% {label}")
            print(f"{prefix}{to_latex(value)}")
        else:
            print(f"{label}:")
            print(f"{prefix}{value}" if prefix else value)

    header = f"method: {dynamics.name}, {batch} (p = {weight})"
    print(f"% {header}" if latex else header)
    line = (
        f"problem: d = {problem.dimension}, n = {problem.samples} samples; per-sample Hessians "
        f"{_describe_hessians(problem)}"
    )
    print(f"% {line}" if latex else line)
    operator = second_moment_operator(problem, method, mixing=mixing, symmetric=arguments.symmetric)
    basis = "vech of symmetric E[z zᵀ]" if arguments.symmetric else "vec E[z zᵀ]"
    show(
        f"second-moment operator T(η), basis {basis}, state ({state})",
        operator,
        "T(\\eta) = " if latex else "",
    )
    if dynamics.noise is not None:
        show(
            "noise moment N(η) = E[b bᵀ]",
            noise_matrix(problem, method, mixing=mixing),
            "N(\\eta) = " if latex else "",
        )
    try:
        derivation = threshold_derivation(problem, method, mixing=mixing)
    except NoClosedFormError as error:
        message = str(error).splitlines()[0]
        print(
            f"% no closed form: {message}"
            if latex
            else f"critical learning rate: no closed form ({message})"
        )
        return 0
    if latex:
        print("% critical learning rate")
        print(derivation.latex())
    else:
        print("critical learning rate:")
        print(f"η* = {derivation.value}")
    condition = stability_condition(
        problem, method, lr=LEARNING_RATE, mixing=mixing, derivation=derivation
    )
    show("stability condition", condition)
    if derivation.assumptions and not latex:
        print("assumptions: " + ", ".join(str(a) for a in derivation.assumptions))
    if dynamics.noise is not None:
        try:
            moment = stationary_moment(problem, method, mixing=mixing)
        except SizeLimitError as error:
            print(f"% {error}" if latex else f"stationary second moment: skipped ({error})")
        else:
            show("stationary second moment S_∞(η) (within the stability condition)", moment,
                 "S_\\infty(\\eta) = " if latex else "")
    return 0
