"""Exact and closed-form critical learning rates, derived from the dynamics description.

Theory: ``docs/theory/operator.md`` (rule 2), ``docs/theory/threshold.md`` and
``docs/theory/methods.md``. The mean-square threshold ``η*`` is the smallest positive real root of
``det(T(η) − I)`` once the trivial roots at ``η = 0`` and the neutral directions of ``null(H)`` are
removed. Three routes, chosen from the *input* (never from a method's name):

``"exact"``
    Numbers only (Hessians, coefficients and ``p`` rational). The problem is restricted
    to ``range(H)`` with an exact rational basis, ``T(η)`` to symmetric matrices (``vech``
    coordinates), and ``det(T(η) − I)`` is computed exactly (integer determinants at
    ``deg + 1`` points, then interpolation). Its smallest positive root is an exact
    algebraic number, returned in radicals when it has a real radical form
    (``3 − √3``), else as a :class:`sympy.CRootOf`.
``"per-coordinate"``
    Symbols, and diagonal Hessians (commuting Hessians in their common eigenbasis; 1-D is
    the case ``d = 1``). The operator leaves each coordinate's ``m × m`` moment block
    invariant and, by the Krein–Rutman argument of ``docs/theory/operator.md``, the cross
    blocks ``(k, l)`` never dominate (a PSD eigenvector with vanishing diagonal blocks is
    zero), so ``η* = min_k η*_1(h̄_k, v_k)`` with the 1-D threshold ``η*_1(a, v)`` of a
    batch curvature of mean ``a`` and variance ``v = p (mean h² − a²)``. ``η*_1`` is itself
    derived from the 1-D operator, ``T = F⊗F + a (F⊗G + G⊗F) + (a² + v) G⊗G``.
``"per-eigenvalue"``
    Symbols in the method and the full batch: ``T = A ⊗ A`` and ``A`` splits along the
    eigenvectors of ``H``, so ``η* = min_k η*_1(λ_k, 0)``.

Parametric roots are chosen with sign decisions on the domain of the symbols
(:mod:`stability.symbolic`); what was assumed is recorded in
:attr:`ThresholdDerivation.assumptions`.

Examples
--------
>>> import sympy
>>> from stability import SGD, HeavyBall
>>> from stability.symbolic import critical_learning_rate, from_data, symbols_problem
>>> critical_learning_rate(from_data([[1, 0], [0, 1], [1, 1]]), SGD(1))
3 - sqrt(3)
>>> beta, lam = sympy.Symbol("beta", positive=True), sympy.Symbol("lambda", positive=True)
>>> critical_learning_rate([lam], HeavyBall(beta))
2*(beta + 1)/lambda
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy
from sympy.polys.matrices import DomainMatrix

from stability.errors import InvalidInputError, SizeLimitError
from stability.symbolic._domains import (
    as_relationals,
    decide_positive,
    default_domain,
    prune_minimum,
    substitution,
)
from stability.symbolic._operators import (
    SymbolicDynamics,
    operator_terms,
    read_dynamics,
    restrict_symmetric,
)
from stability.symbolic._problems import (
    LEARNING_RATE,
    NoClosedFormError,
    SymbolicQuadratic,
    as_symbolic_problem,
)

__all__ = [
    "MAX_EXACT_THRESHOLD_SIZE",
    "ThresholdDerivation",
    "characteristic_polynomial",
    "critical_learning_rate",
    "exact_symmetric_terms",
    "threshold_derivation",
]

#: Largest dimension ``N = mr(mr + 1)/2`` of the symmetric operator for the exact route.
MAX_EXACT_THRESHOLD_SIZE = 28
#: Largest dimension of a parametric (non-structured) symmetric operator whose
#: characteristic polynomial :func:`characteristic_polynomial` expands.
MAX_SYMBOLIC_POLYNOMIAL_SIZE = 6

_ETA = LEARNING_RATE


@dataclass(frozen=True, eq=False)
class ThresholdDerivation:
    """A derived critical learning rate with what it rests on.

    Attributes
    ----------
    value : sympy.Expr
        ``η*`` (``sympy.oo`` when every learning rate is stable, e.g. ``H = 0``).
    route : str
        ``"exact"``, ``"per-coordinate"``, ``"per-eigenvalue"`` or ``"no-curvature"``.
    polynomials : tuple of sympy.Expr
        The characteristic polynomial(s) in ``η`` whose smallest positive root gives ``η*``:
        ``det(T(η) − I)`` with the trivial factor ``η^k`` removed, one per coordinate or
        eigen-direction for the structured routes.
    candidates : tuple of sympy.Expr
        The positive roots the minimum was taken over.
    assumptions : tuple of sympy relationals
        The conditions on the symbols the derivation used (their domains, and that a
        parametric mean curvature is positive).
    notes : tuple of str
        Plain-language remarks (route, rank, what was removed).
    lr : sympy.Symbol
        The learning-rate symbol of :attr:`polynomials`.
    """

    value: sympy.Expr
    route: str
    polynomials: tuple[sympy.Expr, ...] = ()
    candidates: tuple[sympy.Expr, ...] = ()
    assumptions: tuple[sympy.Basic, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    lr: sympy.Symbol = _ETA

    def latex(self) -> str:
        """``η^* = …`` and the assumptions, as LaTeX.

        Examples
        --------
        >>> from stability import GD
        >>> from stability.symbolic import threshold_derivation
        >>> print(threshold_derivation([4], GD()).latex())
        \\eta^{*} = \\frac{1}{2}
        """
        from stability.symbolic._latex import to_latex

        text = f"{to_latex(self.lr)}^{{*}} = {to_latex(self.value)}"
        if self.assumptions:
            text += r" \quad \text{assuming } " + ", ".join(to_latex(a) for a in self.assumptions)
        return text

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"


# ============================================================================ exact route


def _fraction(value: sympy.Expr) -> Fraction:
    rational = sympy.Rational(value)
    return Fraction(int(rational.p), int(rational.q))


def _fraction_array(matrix: Any) -> np.ndarray:
    rows = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    array = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            array[i, j] = _fraction(value)
    return array


def _range_reduction(problem: SymbolicQuadratic) -> tuple[sympy.Matrix, list[sympy.Matrix], int]:
    """Mean and per-sample Hessians in an exact rational basis of ``range(H)``, and the rank.

    With ``V`` a basis of ``range(H)`` (columns) and ``V⁺ = (VᵀV)^{-1} Vᵀ``, the reduced
    Hessians are ``V⁺ H_i V``: the dynamics leave ``range(H)`` invariant and act as the
    identity on ``null(H)``, so this is a similarity on the non-neutral part.
    """
    hessian = sympy.Matrix(problem.hessian)
    columns = hessian.columnspace()
    rank = len(columns)
    if rank == 0 or rank == problem.dimension:
        return hessian, [sympy.Matrix(h) for h in problem.hessians], rank
    basis = sympy.Matrix.hstack(*columns)
    pseudo_inverse = (basis.T * basis).inv() * basis.T
    reduced = [pseudo_inverse * sympy.Matrix(h) * basis for h in problem.hessians]
    return pseudo_inverse * hessian * basis, reduced, rank


def exact_symmetric_terms(
    problem: SymbolicQuadratic, dynamics: SymbolicDynamics
) -> tuple[list[np.ndarray], int]:
    """The ``vech`` coefficients ``T_q`` (fractions) on ``range(H)``, and the rank ``r``.

    The symmetric second-moment operator restricted to the range of ``H`` is the polynomial
    ``Σ_q T_q η^q`` in the learning rate (for GD on ``H = 2``: ``(1 − 2η)² = 1 − 4η + 4η²``);
    its coefficients are exact rational arrays.

    Parameters
    ----------
    problem : SymbolicQuadratic
        The minimum, with exact (rational) entries.
    dynamics : SymbolicDynamics
        The method's recursion, read by :func:`stability.symbolic.read_dynamics`.

    Returns
    -------
    tuple of (list of ndarray, int)
        The coefficients ``T_0, T_1, …`` (object arrays of fractions) and ``r = rank H``.

    Examples
    --------
    >>> from stability import GD
    >>> from stability.symbolic import read_dynamics
    >>> from stability.symbolic import as_symbolic_problem
    >>> from stability.symbolic import exact_symmetric_terms
    >>> problem = as_symbolic_problem([[[2]]])  # one sample, H = 2
    >>> terms, rank = exact_symmetric_terms(problem, read_dynamics(GD(), problem.samples))
    >>> rank, [str(term[0, 0]) for term in terms]
    (1, ['1', '-4', '4'])
    """
    mean, reduced, rank = _range_reduction(problem)
    if rank == 0:
        return [], 0
    state = dynamics.blocks * rank
    size = state * (state + 1) // 2
    if size > MAX_EXACT_THRESHOLD_SIZE:
        raise SizeLimitError(
            f"the exact threshold needs the characteristic polynomial of a {size}×{size} "
            f"operator (state m·r = {state}, r = rank H = {rank}; limit "
            f"{MAX_EXACT_THRESHOLD_SIZE}); use the numeric layer, "
            "stability.critical_learning_rate(Quadratic(...), method), or its precision= option"
        )
    hessian = _fraction_array(mean)
    per_sample = [_fraction_array(h) for h in reduced]
    mixing = _fraction(dynamics.mixing)
    outer = np.multiply.outer
    moment = (1 - mixing) * outer(hessian, hessian)
    if mixing:
        total = outer(per_sample[0], per_sample[0])
        for h in per_sample[1:]:
            total = total + outer(h, h)
        moment = moment + mixing * total / len(per_sample)
    identity_terms = tuple(
        np.vectorize(_fraction, otypes=[object])(t) for t in dynamics.identity_terms
    )
    hessian_terms = tuple(
        np.vectorize(_fraction, otypes=[object])(t) for t in dynamics.hessian_terms
    )
    terms = operator_terms(
        identity_terms, hessian_terms, hessian, moment, one=Fraction(1), zero=Fraction(0)
    )
    return [restrict_symmetric(term, state) for term in terms], rank


def _integer_determinant(matrix: list[list[int]]) -> int:
    size = len(matrix)
    return int(DomainMatrix(matrix, (size, size), sympy.ZZ).det())


def _interpolate(points: list[int], values: list[Fraction]) -> list[Fraction]:
    """Monomial coefficients (lowest power first) of the polynomial through the points."""
    count = len(points)
    newton = list(values)
    for level in range(1, count):
        for index in range(count - 1, level - 1, -1):
            newton[index] = (newton[index] - newton[index - 1]) / (
                points[index] - points[index - level]
            )
    coefficients = [Fraction(0)] * count
    for index in range(count - 1, -1, -1):
        # coefficients ← coefficients · (x − points[index]) + newton[index]
        shifted = [Fraction(0), *coefficients[:-1]]
        coefficients = [shifted[k] - points[index] * coefficients[k] for k in range(count)]
        coefficients[0] += newton[index]
    return coefficients


def _is_identity(term: np.ndarray) -> bool:
    size = term.shape[0]
    return all(term[i, j] == (1 if i == j else 0) for i in range(size) for j in range(size))


def _sample_points(count: int) -> list[int]:
    """``0, 1, −1, 2, −2, …``: small evaluation points keep the determinants' integers small."""
    return [(k + 1) // 2 * (1 if k % 2 else -1) for k in range(count)]


def _exact_polynomial(terms: list[np.ndarray]) -> tuple[sympy.Poly, int]:
    """``det(Σ_q η^q T_q − I) = η^k Q(η)`` exactly, with ``Q(0) ≠ 0``; returns ``(Q, k)``.

    The determinant is evaluated with integer arithmetic at ``deg + 1`` small integers and
    interpolated. When ``T_0 = I`` (every plain gradient step: ``F = 1``), the factor
    ``η^N`` is taken out first, ``det(T(η) − I) = η^N det(T_1 + η T_2 + …)``, which
    halves the degree.
    """
    size = terms[0].shape[0]
    shifted = _is_identity(terms[0])
    if shifted:
        matrices, offset = terms[1:], None
    else:
        matrices, offset = terms, 1
    denominator = 1
    for term in matrices:
        for value in term.flat:
            denominator = math.lcm(denominator, value.denominator)
    integer_terms = [
        [[int(value * denominator) for value in row] for row in term.tolist()] for term in matrices
    ]
    degree_bound = size * (len(matrices) - 1)
    points = _sample_points(degree_bound + 1)
    values = []
    for x in points:
        powers = [x**q for q in range(len(matrices))]
        matrix = [
            [
                sum(integer_terms[q][i][j] * powers[q] for q in range(len(matrices)))
                - (denominator * offset if offset is not None and i == j else 0)
                for j in range(size)
            ]
            for i in range(size)
        ]
        values.append(Fraction(_integer_determinant(matrix), denominator**size))
    coefficients = _interpolate(points, values)
    polynomial = sympy.Poly(
        [sympy.Rational(c.numerator, c.denominator) for c in reversed(coefficients)],
        _ETA,
        domain=sympy.QQ,
    )
    quotient, power = _strip_trivial(polynomial)
    return quotient, power + (size if shifted else 0)


def _strip_trivial(polynomial: sympy.Poly) -> tuple[sympy.Poly, int]:
    """Divide out the largest power ``η^k``; returns the quotient and ``k``."""
    if polynomial.is_zero:
        raise InvalidInputError(
            "det(T(η) − I) vanishes identically on range(H): the dynamics have a neutral "
            "direction beyond null(H), so no learning rate is mean-square stable in the strict "
            "sense"
        )
    coefficients = polynomial.all_coeffs()
    power = 0
    while coefficients[-1] == 0:
        coefficients.pop()
        power += 1
    return sympy.Poly(coefficients, _ETA, domain=sympy.QQ), power


def _radical_form(
    root: sympy.Expr, factor: sympy.Poly, interval: tuple[sympy.Rational, sympy.Rational]
) -> sympy.Expr:
    """``root`` in real radicals when its irreducible ``factor`` has degree ≤ 4 and allows it."""
    if factor.degree() <= 1 or factor.degree() > 4:
        return root
    low, high = factor.refine_root(*interval, eps=sympy.Rational(1, 10**40))
    for candidate in sympy.roots(factor, cubics=True, quartics=True):
        if candidate.has(sympy.I) or candidate.has(sympy.CRootOf):
            continue
        value = candidate.evalf(60)
        if low <= value <= high:
            simplified = sympy.radsimp(candidate)
            return simplified if simplified.count_ops() <= candidate.count_ops() else candidate
    return root


@dataclass(frozen=True)
class _Root:
    value: sympy.Expr
    factor: sympy.Poly
    interval: tuple[sympy.Rational, sympy.Rational]


def _refine(root: list[Any]) -> None:
    """Halve the isolating interval ``root = [low, high, factor, index]`` (exact roots stay)."""
    low, high, factor = root[0], root[1], root[2]
    if low != high:
        low, high = factor.refine_root(low, high, eps=(high - low) / 2)
        root[0], root[1] = sympy.Rational(low), sympy.Rational(high)


def _sorted_positive_roots(polynomial: sympy.Poly) -> list[_Root]:
    """The positive real roots, ascending, each exact (rational or ``CRootOf``).

    Each irreducible factor's real roots are isolated by rational intervals (continued
    fractions; no Sturm sequences, whose coefficients explode), and overlapping intervals
    of different factors are refined until they separate, which orders the roots exactly.
    """
    if polynomial.degree() < 1:
        return []
    boxes: list[list[Any]] = []
    for factor, _ in polynomial.factor_list()[1]:
        if factor.degree() < 1:
            continue
        for index, ((low, high), _) in enumerate(factor.intervals()):
            box = [sympy.Rational(low), sympy.Rational(high), factor, index]
            while box[0] < 0 < box[1]:  # not a root at 0 (Q(0) ≠ 0): refine until the sign shows
                _refine(box)
            if box[1] > 0:
                boxes.append(box)
    separated = False
    while not separated:
        boxes.sort(key=lambda box: box[0])
        separated = True
        for left, right in itertools.pairwise(boxes):
            if left[1] >= right[0]:
                _refine(left)
                _refine(right)
                separated = False
    roots = []
    real_roots: dict[sympy.Poly, list[sympy.Expr]] = {}
    for low, high, factor, index in boxes:
        if factor.degree() == 1:
            value = -factor.all_coeffs()[1] / factor.all_coeffs()[0]
        else:
            if factor not in real_roots:  # one factorisation per factor (CRootOf would redo it)
                real_roots[factor] = factor.real_roots(radicals=False)
            value = real_roots[factor][index]
        roots.append(_Root(value, factor, (low, high)))
    return roots


def _exact_route(problem: SymbolicQuadratic, dynamics: SymbolicDynamics) -> ThresholdDerivation:
    terms, rank = exact_symmetric_terms(problem, dynamics)
    if rank == 0:
        return ThresholdDerivation(
            sympy.oo, "no-curvature", notes=("H = 0: every learning rate is stable",)
        )
    polynomial, power = _exact_polynomial(terms)
    roots = _sorted_positive_roots(polynomial)
    notes = (
        f"exact: rational input; range(H) has rank {rank} of d = {problem.dimension} "
        f"(null-space directions removed); trivial root η = 0 of multiplicity {power} removed",
    )
    expression = polynomial.as_expr()
    if not roots:
        return ThresholdDerivation(sympy.oo, "exact", (expression,), (), (), notes)
    candidates = tuple(
        _radical_form(root.value, root.factor, root.interval)
        if index == 0 or root.factor.degree() <= 2
        else root.value
        for index, root in enumerate(roots)
    )
    return ThresholdDerivation(candidates[0], "exact", (expression,), candidates, (), notes)


# ============================================================================ structured routes


@dataclass(frozen=True, eq=False)
class _OneDimensional:
    """The 1-D threshold ``η*_1(a, v)`` of a method, derived once from its description."""

    mean: sympy.Dummy
    variance: sympy.Expr
    polynomial: sympy.Expr
    roots: tuple[sympy.Expr, ...]
    rewrite: dict[sympy.Symbol, sympy.Expr]

    @property
    def threshold(self) -> sympy.Expr:
        return prune_minimum(list(self.roots), self.rewrite)


def _interior_dummy(symbol: sympy.Symbol, interval: sympy.Set) -> sympy.Dummy:
    """A dummy carrying the sign that the interior of ``interval`` implies."""
    if interval == sympy.Reals or not isinstance(interval, sympy.Interval):
        return sympy.Dummy(symbol.name, real=True)
    if interval.start >= 0:
        return sympy.Dummy(symbol.name, positive=True)
    if interval.end <= 0:
        return sympy.Dummy(symbol.name, negative=True)
    return sympy.Dummy(symbol.name, real=True)


def _has_radicals(expression: sympy.Expr) -> bool:
    return any(not power.exp.is_integer for power in expression.atoms(sympy.Pow))


#: Expressions in more symbols than this are left as derived (factoring them is slow).
_TIDY_SYMBOLS = 6


def _tidy(expression: sympy.Expr, simplify: bool = True) -> sympy.Expr:
    if len(expression.free_symbols) > _TIDY_SYMBOLS:
        return expression
    if _has_radicals(expression):
        if not simplify:
            return expression
        simplified = sympy.simplify(expression)
        return simplified if simplified.count_ops() <= expression.count_ops() else expression
    return sympy.factor(sympy.cancel(sympy.together(expression)))


def _quadratic_root(
    coefficients: list[sympy.Expr], rewrite: Mapping[sympy.Symbol, sympy.Expr]
) -> list[sympy.Expr]:
    """The positive roots of ``c2 η² + c1 η + c0`` (``c0 ≠ 0``) selected by Vieta's formulas."""
    c2, c1, c0 = coefficients
    discriminant = sympy.expand(c1**2 - 4 * c2 * c0)
    upper_sign = decide_positive(c2, rewrite)
    if upper_sign is None:
        raise NoClosedFormError(
            f"cannot decide the sign of the leading coefficient {c2} of a quadratic factor; "
            "give the symbols a narrower domain or numbers"
        )
    root = sympy.sqrt(discriminant)
    larger = (-c1 + root) / (2 * c2) if upper_sign else (-c1 - root) / (2 * c2)
    smaller = (-c1 - root) / (2 * c2) if upper_sign else (-c1 + root) / (2 * c2)
    product_positive = decide_positive(c0 / c2, rewrite)
    if product_positive is False:  # roots of opposite signs (c0 ≠ 0): the larger is positive
        return [larger]
    if product_positive is True:
        real = decide_positive(discriminant, rewrite)
        if discriminant == 0:
            real = True
        if real is False and decide_positive(-discriminant, rewrite) is True:
            return []  # complex pair
        total = decide_positive(-c1 / c2, rewrite)
        if total is False:
            return []  # both negative (or a complex pair)
        if total is True and real is True:
            return [smaller, larger]
    raise NoClosedFormError(
        f"cannot decide which roots of the quadratic factor {c2}·η² + {c1}·η + {c0} are real "
        "and positive from the symbols' domains; pass domain={symbol: Interval(...)} or numbers"
    )


def _one_dimensional(
    dynamics: SymbolicDynamics, domain: Mapping[sympy.Symbol, sympy.Set], zero_variance: bool
) -> tuple[_OneDimensional, dict[sympy.Symbol, sympy.Symbol]]:
    """Derive the 1-D threshold of the dynamics for curvature mean ``a`` and variance ``v``."""
    dummies = {s: _interior_dummy(s, domain[s]) for s in dynamics.free_symbols if s in domain}
    back = {dummy: symbol for symbol, dummy in dummies.items()}
    dummy_domain = {dummies[s]: domain[s] for s in dummies}
    mean = sympy.Dummy("a", positive=True)
    variance: sympy.Expr = sympy.Integer(0) if zero_variance else sympy.Dummy("v", positive=True)
    rewrite = substitution(dummy_domain)

    def swap(terms: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        return tuple(np.vectorize(lambda x: x.xreplace(dummies), otypes=[object])(t) for t in terms)

    hessian = np.array([[mean]], dtype=object)
    moment = np.empty((1, 1, 1, 1), dtype=object)
    moment[0, 0, 0, 0] = mean**2 + variance
    blocks = dynamics.blocks
    terms = operator_terms(
        swap(dynamics.identity_terms), swap(dynamics.hessian_terms), hessian, moment
    )
    symmetric = [restrict_symmetric(term, blocks) for term in terms]
    operator = sympy.zeros(*symmetric[0].shape)
    for power, term in enumerate(symmetric):
        operator += sympy.Matrix(term) * _ETA**power
    determinant = sympy.expand((operator - sympy.eye(operator.shape[0])).det(method="berkowitz"))
    if determinant == 0:
        raise InvalidInputError(
            "det(T(η) − I) vanishes identically for a non-zero curvature: the dynamics have a "
            "neutral direction"
        )
    _, factors = sympy.factor_list(determinant)
    roots: list[sympy.Expr] = []
    kept_factors = []
    for factor, multiplicity in factors:
        if not factor.has(_ETA):
            continue
        polynomial = sympy.Poly(factor, _ETA)
        coefficients = polynomial.all_coeffs()
        if coefficients[-1] == 0:  # the factor η itself: the trivial root
            continue
        kept_factors.append(factor**multiplicity)
        if polynomial.degree() == 1:
            candidate = -coefficients[1] / coefficients[0]
            sign = decide_positive(candidate, rewrite)
            if sign is None:
                raise NoClosedFormError(
                    f"cannot decide whether the root {candidate.xreplace(back)} is positive "
                    "from the symbols' domains; pass domain={symbol: Interval(...)} or numbers"
                )
            if sign:
                roots.append(_tidy(candidate))
        elif polynomial.degree() == 2:
            roots.extend(_tidy(r) for r in _quadratic_root(coefficients, rewrite))
        else:
            raise NoClosedFormError(
                f"the 1-D characteristic polynomial has an irreducible factor of degree "
                f"{polynomial.degree()} in η with symbolic coefficients; give numbers"
            )
    polynomial = sympy.Mul(*kept_factors) if kept_factors else sympy.Integer(1)
    derived = _OneDimensional(mean, variance, polynomial, tuple(roots), rewrite)
    return derived, back


def _structured_route(
    problem: SymbolicQuadratic,
    dynamics: SymbolicDynamics,
    domain: Mapping[sympy.Symbol, sympy.Set],
    directions: list[tuple[sympy.Expr, sympy.Expr, str]],
    route: str,
) -> ThresholdDerivation:
    """``min_k η*_1(a_k, v_k)`` over the ``directions`` ``(a_k, v_k, label)``."""
    problem_rewrite = substitution(domain)
    cache: dict[bool, tuple[_OneDimensional, dict]] = {}
    values, polynomials, candidates = [], [], []
    assumptions = list(as_relationals(domain))
    for mean, variance, label in directions:
        if sympy.expand(mean) == 0:
            continue  # a neutral direction
        sign = decide_positive(mean, problem_rewrite) if mean.free_symbols else bool(mean > 0)
        if sign is False:
            raise InvalidInputError(
                f"the mean curvature {mean} along {label} is not positive on the symbols' domain"
            )
        if sign is None:
            assumptions.append(sympy.StrictGreaterThan(mean, 0))
        zero_variance = sympy.expand(variance) == 0
        if zero_variance not in cache:
            cache[zero_variance] = _one_dimensional(dynamics, domain, zero_variance)
        derived, back = cache[zero_variance]
        replace = {derived.mean: mean, **back}
        if not zero_variance:
            replace[derived.variance] = variance
        for root in derived.roots:
            candidates.append(_tidy(root.xreplace(replace), simplify=False))
        values.append(
            _tidy(derived.threshold.xreplace(replace), simplify=False)
            if derived.roots
            else sympy.oo
        )
        polynomial = derived.polynomial.xreplace(replace)
        if len(polynomial.free_symbols) <= _TIDY_SYMBOLS:
            polynomial = sympy.factor(polynomial)
        polynomials.append(polynomial)
    if not values:
        return ThresholdDerivation(
            sympy.oo, "no-curvature", notes=("H = 0: every learning rate is stable",)
        )
    value = prune_minimum(values, problem_rewrite)
    notes = (
        f"{route}: the threshold is the minimum over {len(values)} direction(s) of the 1-D "
        "threshold of the batch curvature's mean a and variance v = p (mean h² − a²)",
    )
    return ThresholdDerivation(
        value, route, tuple(polynomials), tuple(candidates), tuple(assumptions), notes
    )


def _coordinate_directions(
    problem: SymbolicQuadratic, mixing: sympy.Expr
) -> list[tuple[sympy.Expr, sympy.Expr, str]]:
    directions = []
    for k in range(problem.dimension):
        curvatures = [h[k, k] for h in problem.hessians]
        mean = sympy.expand(sum(curvatures) / problem.samples)
        square = sympy.expand(sum(c**2 for c in curvatures) / problem.samples)
        variance = sympy.expand(mixing * (square - mean**2))
        if len(variance.free_symbols) <= _TIDY_SYMBOLS:
            variance, mean = sympy.factor(variance), sympy.factor(mean)
        directions.append((mean, variance, f"coordinate {k}"))
    return directions


def _eigen_directions(problem: SymbolicQuadratic) -> list[tuple[sympy.Expr, sympy.Expr, str]]:
    eigenvalues = sympy.Matrix(problem.hessian).eigenvals()
    return [
        (sympy.simplify(value), sympy.Integer(0), f"the eigenvalue {value} of H")
        for value in eigenvalues
    ]


# ============================================================================ public


def _domain(
    problem: SymbolicQuadratic,
    dynamics: SymbolicDynamics,
    mixing: Any,
    domain: Mapping[Any, Any] | None,
) -> dict[sympy.Symbol, sympy.Set]:
    mixing_symbols = dynamics.mixing.free_symbols if mixing is not None else set()
    coefficient_symbols = dynamics.free_symbols - set(mixing_symbols)
    if _ETA in problem.free_symbols or _ETA in dynamics.free_symbols:
        raise InvalidInputError(
            "the symbol eta is the learning rate; use another name in the Hessians and the method"
        )
    return default_domain(problem.free_symbols, coefficient_symbols, mixing_symbols, domain)


def threshold_derivation(
    hessians: Any,
    method: Any,
    *,
    mixing: Any = None,
    domain: Mapping[Any, Any] | None = None,
) -> ThresholdDerivation:
    """Derive the exact mean-square critical learning rate, with its assumptions.

    See :func:`critical_learning_rate` for the parameters; this returns the whole
    :class:`ThresholdDerivation` (value, route, characteristic polynomial(s), candidate
    roots, assumptions).

    Parameters
    ----------
    hessians : SymbolicQuadratic or per-sample Hessians
        Any form :func:`as_symbolic_problem` accepts.
    method : Method or LinearDynamics
        The optimiser; momentum may be a SymPy symbol.
    mixing : number or SymPy expression, optional
        Override the batch law's ``p`` (e.g. a symbol ``p`` in ``[0, 1]``).
    domain : dict, optional
        ``{symbol: sympy.Interval}`` overriding the default domains.

    Examples
    --------
    >>> from stability import SGD
    >>> from stability.symbolic import symbols_problem, threshold_derivation
    >>> derivation = threshold_derivation(symbols_problem(1, 2), SGD(1, replacement=True))
    >>> derivation.value
    2*(h_1 + h_2)/(h_1**2 + h_2**2)
    >>> derivation.route, derivation.assumptions
    ('per-coordinate', (h_1 > 0, h_2 > 0))
    """
    problem = as_symbolic_problem(hessians)
    dynamics = read_dynamics(method, problem.samples, mixing=mixing)
    symbols = _domain(problem, dynamics, mixing, domain)
    if not symbols:
        return _exact_route(problem, dynamics)
    if problem.is_diagonal:
        directions = _coordinate_directions(problem, dynamics.mixing)
        return _structured_route(problem, dynamics, symbols, directions, "per-coordinate")
    if dynamics.mixing == 0 and (not problem.is_parametric or problem.dimension <= 2):
        return _structured_route(
            problem, dynamics, symbols, _eigen_directions(problem), "per-eigenvalue"
        )
    raise NoClosedFormError(
        f"hessians: no closed form for the threshold of {problem!r} with a stochastic batch: "
        "the Hessians have symbols and are neither 1-D nor diagonal (commuting in their common "
        "eigenbasis), so η* is a root of a high-degree polynomial with symbolic coefficients; "
        "substitute numbers (the exact route gives an algebraic number), give commuting "
        "Hessians in diagonal form, or use the numeric stability.critical_learning_rate"
    )


def critical_learning_rate(
    hessians: Any,
    method: Any,
    *,
    mixing: Any = None,
    domain: Mapping[Any, Any] | None = None,
) -> sympy.Expr:
    """The exact mean-square critical learning rate ``η*`` as a SymPy expression.

    Theory: ``docs/theory/operator.md``, ``docs/theory/threshold.md`` and
    ``docs/theory/methods.md``. ``η*`` is the smallest positive root of ``det(T(η) − I)`` on
    ``range(H)``. For rational input it is an exact algebraic number (radicals when possible); for
    symbolic input it is a closed form derived from the structure (1-D or diagonal Hessians, or a
    full batch), such as ``2a / (a² + p s²)`` for 1-D SGD (Wu, Ma & E 2018) or ``2 (1 + β) / λ`` for
    heavy ball.
    :func:`threshold_derivation` also returns the assumptions used.

    Parameters
    ----------
    hessians : SymbolicQuadratic or per-sample Hessians
        Any form :func:`as_symbolic_problem` accepts.
    method : Method or LinearDynamics
        The optimiser; momentum may be a SymPy symbol.
    mixing : number or SymPy expression, optional
        Override the batch law's ``p`` (e.g. a symbol ``p`` in ``[0, 1]``).
    domain : dict, optional
        ``{symbol: sympy.Interval}`` overriding the default domains (Hessian symbols
        positive unless declared otherwise; method symbols in ``[0, 1)``; ``p`` in ``[0, 1]``).

    Returns
    -------
    sympy.Expr
        ``η*``; ``sympy.oo`` when every learning rate is stable.

    Raises
    ------
    NoClosedFormError
        If the input has symbols but no structure the derivation can use, or a root's
        sign cannot be decided from the domains.
    SizeLimitError
        If the exact route would need too large a determinant.

    Examples
    --------
    >>> import sympy
    >>> from stability import GD, SGD, Nesterov
    >>> from stability.symbolic import critical_learning_rate, symbols_problem
    >>> p = sympy.Symbol("p")
    >>> critical_learning_rate(symbols_problem(1, 2), SGD(1), mixing=p)
    4*(h_1 + h_2)/(h_1**2*p + h_1**2 - 2*h_1*h_2*p + 2*h_1*h_2 + h_2**2*p + h_2**2)
    >>> beta, lam = sympy.symbols("beta lambda", positive=True)
    >>> critical_learning_rate([lam], Nesterov(beta))
    2*(beta + 1)/(lambda*(2*beta + 1))
    >>> critical_learning_rate([[[2, 1], [1, 2]]], GD())
    2/3
    """
    return threshold_derivation(hessians, method, mixing=mixing, domain=domain).value


def characteristic_polynomial(
    hessians: Any, method: Any, lr: Any = LEARNING_RATE, *, mixing: Any = None
) -> sympy.Expr:
    """``det(T(η) − I)`` on symmetric second moments of ``range(H)``, without its ``η^k`` factor.

    Its smallest positive root is ``η*`` (``docs/theory/operator.md``, rule 2). Exact for
    rational input (restricted to ``range(H)``); for symbolic input the Hessians are taken
    generic (``H`` nonsingular) and the operator must be small.

    Parameters
    ----------
    hessians : SymbolicQuadratic or per-sample Hessians
        Any form :func:`as_symbolic_problem` accepts.
    method : Method or LinearDynamics
        The optimiser; momentum may be a SymPy symbol.
    lr : Any, default eta
        The learning rate, by default the symbol η.
    mixing : number or SymPy expression, optional
        Override the batch law's ``p`` (e.g. a symbol ``p`` in ``[0, 1]``).

    Examples
    --------
    >>> from stability import SGD
    >>> from stability.symbolic import characteristic_polynomial, from_data
    >>> characteristic_polynomial(from_data([[1, 0], [0, 1], [1, 1]]), SGD(1))
    2*(eta - 4)*(eta**2 - 6*eta + 6)/27
    """
    problem = as_symbolic_problem(hessians)
    dynamics = read_dynamics(method, problem.samples, mixing=mixing)
    lr_symbol = sympy.sympify(lr)
    if not problem.is_parametric and not dynamics.free_symbols:
        terms, rank = exact_symmetric_terms(problem, dynamics)
        if rank == 0:
            return sympy.Integer(1)
        polynomial, _ = _exact_polynomial(terms)
        return sympy.factor(polynomial.as_expr()).xreplace({_ETA: lr_symbol})
    state = dynamics.blocks * problem.dimension
    size = state * (state + 1) // 2
    if size > MAX_SYMBOLIC_POLYNOMIAL_SIZE:
        raise SizeLimitError(
            f"the symbolic characteristic polynomial of a {size}×{size} operator (state m·d = "
            f"{state}) is too large to expand (limit {MAX_SYMBOLIC_POLYNOMIAL_SIZE}); give numbers"
        )
    from stability.symbolic._operators import second_moment_operator

    operator = second_moment_operator(problem, method, _ETA, mixing=mixing, symmetric=True)
    determinant = sympy.factor((operator - sympy.eye(size)).det(method="berkowitz"))
    _, factors = sympy.factor_list(determinant)
    kept = [f**k for f, k in factors if f != _ETA]
    constant = sympy.factor_list(determinant)[0]
    return sympy.factor(constant * sympy.Mul(*kept)).xreplace({_ETA: lr_symbol})
