"""Symbolic problems: per-sample Hessians as SymPy matrices (numbers, symbols or both).

Theory: ``docs/theory/operator.md``. A :class:`SymbolicQuadratic` holds ``n`` symmetric
``d × d`` per-sample Hessians ``H_i`` whose mean is ``H``; the symbolic evaluators read it
together with a method's :class:`~stability.dynamics.LinearDynamics`.

Numbers are kept exact: integers and fractions become SymPy rationals, and a float becomes
the simplest rational that rounds to the same float (``0.1 → 1/10``, ``1/3 → 1/3``), so
the exact results are exact for the rationalised input.

Examples
--------
>>> import sympy
>>> from stability.symbolic import SymbolicQuadratic, symbols_problem
>>> symbols_problem(1, 3).hessians
(Matrix([[h_1]]), Matrix([[h_2]]), Matrix([[h_3]]))
>>> SymbolicQuadratic.from_data([[1, 0], [0, 1], [1, 1]]).hessian
Matrix([
[2/3, 1/3],
[1/3, 2/3]])
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any, Literal

import numpy as np
import sympy

from stability._validation import check_positive_integer
from stability.errors import (
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    NotPositiveSemidefiniteError,
    NotSymmetricError,
    SizeLimitError,
)

__all__ = [
    "LEARNING_RATE",
    "MAX_SYMBOLIC_DIMENSION",
    "MAX_SYMBOLIC_SAMPLES",
    "NoClosedFormError",
    "SymbolicQuadratic",
    "as_symbolic_problem",
    "exact",
    "from_data",
    "symbols_problem",
]

#: The default learning-rate symbol ``η`` of every symbolic result.
LEARNING_RATE = sympy.Symbol("eta", positive=True)

#: Largest number of samples accepted in a problem with symbols (parametric input).
MAX_SYMBOLIC_SAMPLES = 16
#: Largest dimension ``d`` accepted in a problem with symbols (parametric input).
MAX_SYMBOLIC_DIMENSION = 8
#: Largest dimension ``d`` accepted for a problem of numbers.
MAX_EXACT_DIMENSION = 24
#: Largest number of samples accepted for a problem of numbers.
MAX_EXACT_SAMPLES = 2000

Structure = Literal["general", "diagonal", "data"]


class NoClosedFormError(InvalidInputError):
    """A symbolic quantity has no closed form the symbolic layer can derive.

    Raised, for instance, for the threshold of parametric non-commuting Hessians in
    ``d ≥ 2`` (a root of a high-degree polynomial with symbolic coefficients), or when the
    sign of a candidate root cannot be decided from the stated assumptions. The message
    says what would help: numbers instead of symbols (exact algebraic thresholds), a
    ``domain`` for the symbols, or the numeric layer.
    """


# ----------------------------------------------------------------------------- numbers


def _rational_from_float(value: float) -> sympy.Rational:
    """The simplest rational (denominator ≤ 10⁶) rounding to ``value``, else its exact value."""
    if not np.isfinite(value):
        raise InvalidInputError(f"entries must be finite; got {value}")
    exact_value = Fraction(value)
    simple = exact_value.limit_denominator(10**6)
    chosen = simple if float(simple) == value else exact_value
    return sympy.Rational(chosen.numerator, chosen.denominator)


def exact(value: Any, name: str = "value") -> sympy.Expr:
    """``value`` as an exact SymPy expression (numbers become rationals).

    Parameters
    ----------
    value : int, float, Fraction, numpy scalar or SymPy expression
        A real number or an expression; floats become the simplest rational that
        rounds to them (also inside SymPy expressions).
    name : str
        The argument's name, for error messages.

    Raises
    ------
    InvalidTypeError
        If ``value`` is not a real number or a SymPy expression.

    Examples
    --------
    >>> from fractions import Fraction
    >>> import sympy
    >>> from stability.symbolic import exact
    >>> exact(0.1), exact(Fraction(2, 6)), exact(sympy.Float(0.5) * sympy.Symbol("x"))
    (1/10, 1/3, x/2)
    """
    if isinstance(value, sympy.Basic):
        if isinstance(value, sympy.MatrixBase) or not isinstance(value, sympy.Expr):
            raise InvalidTypeError(
                f"{name} must be a scalar expression; got {type(value).__name__}"
            )
        floats = value.atoms(sympy.Float)
        if floats:
            value = value.xreplace({f: _rational_from_float(float(f)) for f in floats})
        if value.has(sympy.I) or value.is_real is False:
            raise InvalidInputError(f"{name} must be real; got {value}")
        return value
    if isinstance(value, bool):
        raise InvalidTypeError(f"{name} must be a real number or a SymPy expression; got {value!r}")
    if isinstance(value, numbers.Integral):
        return sympy.Integer(int(value))
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, numbers.Real):
        return _rational_from_float(float(value))
    raise InvalidTypeError(
        f"{name} must be a real number or a SymPy expression; got {type(value).__name__}"
    )


def _exact_matrix(value: Any, name: str) -> sympy.ImmutableMatrix:
    """A square 2-D matrix of exact entries."""
    if isinstance(value, sympy.MatrixBase):
        rows = value.tolist()
    elif isinstance(value, np.ndarray):
        if value.ndim != 2:
            raise DimensionError(f"{name} must be a matrix; got shape {value.shape}")
        rows = value.tolist()
    elif isinstance(value, Sequence) and not isinstance(value, str):
        rows = [list(row) if _is_sequence(row) else None for row in value]
        if any(row is None for row in rows):
            raise DimensionError(f"{name} must be a matrix (a list of rows)")
    else:
        raise InvalidTypeError(f"{name} must be a matrix; got {type(value).__name__}")
    if not rows or not rows[0]:
        raise DimensionError(f"{name} must not be empty")
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise DimensionError(f"{name} has rows of different lengths")
    if len(rows) != width:
        raise DimensionError(f"{name} must be square; got shape ({len(rows)}, {width})")
    return sympy.ImmutableMatrix([[exact(x, name) for x in row] for row in rows])


def _is_sequence(value: Any) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str)) or (
        isinstance(value, np.ndarray) and value.ndim >= 1
    )


def _is_zero(value: sympy.Expr) -> bool:
    return sympy.expand(value) == 0


# ----------------------------------------------------------------------------- problem


@dataclass(frozen=True, eq=False)
class SymbolicQuadratic:
    """A quadratic minimum given by exact (numeric or symbolic) per-sample Hessians.

    The loss near the minimum is ``L(θ) = (1/n) Σ_i ½ δᵀ H_i δ`` (``docs/theory/operator.md``).
    Symmetry is checked exactly; positive semi-definiteness is checked exactly for Hessians of
    numbers and is an assumption for Hessians with symbols.

    Parameters
    ----------
    hessians : sequence of SymPy matrices
        The ``n`` per-sample Hessians ``H_i`` (use :func:`as_symbolic_problem` to accept
        more input forms: scalars for 1-D, NumPy arrays, a :class:`~stability.Quadratic`).

    Raises
    ------
    DimensionError
        If the Hessians are not square or differ in size.
    NotSymmetricError
        If a Hessian is not symmetric.
    NotPositiveSemidefiniteError
        If a Hessian of numbers has a negative eigenvalue.
    SizeLimitError
        If the problem is too large for symbolic work (see :data:`MAX_SYMBOLIC_SAMPLES`,
        :data:`MAX_SYMBOLIC_DIMENSION`); use the numeric layer.

    Examples
    --------
    >>> import sympy
    >>> from stability.symbolic import SymbolicQuadratic
    >>> a, b = sympy.symbols("a b", positive=True)
    >>> problem = SymbolicQuadratic([sympy.diag(a, 1), sympy.diag(b, 3)])
    >>> problem.dimension, problem.samples, problem.is_diagonal, problem.is_parametric
    (2, 2, True, True)
    >>> problem.hessian
    Matrix([
    [a/2 + b/2, 0],
    [        0, 2]])
    """

    hessians: tuple[sympy.ImmutableMatrix, ...]

    def __post_init__(self) -> None:
        hessians = tuple(
            _exact_matrix(h, f"hessians[{index}]") for index, h in enumerate(self.hessians)
        )
        if not hessians:
            raise DimensionError("hessians must hold at least one Hessian")
        size = hessians[0].shape[0]
        for index, h in enumerate(hessians):
            if h.shape[0] != size:
                raise DimensionError(
                    f"hessians[{index}] has shape {h.shape} but hessians[0] has shape "
                    f"{hessians[0].shape}; every per-sample Hessian must be d × d with the same d"
                )
        parametric = any(h.free_symbols for h in hessians)
        limit_dimension = MAX_SYMBOLIC_DIMENSION if parametric else MAX_EXACT_DIMENSION
        limit_samples = MAX_SYMBOLIC_SAMPLES if parametric else MAX_EXACT_SAMPLES
        kind = "with symbols" if parametric else "of numbers"
        if size > limit_dimension:
            raise SizeLimitError(
                f"hessians: d={size} is too large for symbolic work on Hessians {kind} "
                f"(limit {limit_dimension}); use the numeric layer, "
                "stability.critical_learning_rate(Quadratic.from_hessians(...), method)"
            )
        if len(hessians) > limit_samples:
            raise SizeLimitError(
                f"hessians: n={len(hessians)} samples is too many for symbolic work on "
                f"Hessians {kind} (limit {limit_samples}); use the numeric layer, "
                "stability.critical_learning_rate(Quadratic.from_hessians(...), method)"
            )
        for index, h in enumerate(hessians):
            for i in range(size):
                for j in range(i + 1, size):
                    if not _is_zero(h[i, j] - h[j, i]):
                        raise NotSymmetricError(
                            f"hessians[{index}] must be symmetric; entry ({i}, {j}) is "
                            f"{h[i, j]} but entry ({j}, {i}) is {h[j, i]}"
                        )
            _check_psd(h, f"hessians[{index}]")
        object.__setattr__(self, "hessians", hessians)

    @classmethod
    def from_hessians(cls, hessians: Any) -> SymbolicQuadratic:
        """Build from per-sample Hessians in any form :func:`as_symbolic_problem` accepts.

        Parameters
        ----------
        hessians : Any
            Per-sample Hessians in any form :func:`as_symbolic_problem` accepts.

        Examples
        --------
        >>> from stability.symbolic import SymbolicQuadratic
        >>> SymbolicQuadratic.from_hessians([1, 3]).hessians
        (Matrix([[1]]), Matrix([[3]]))
        """
        return as_symbolic_problem(hessians)

    @classmethod
    def from_data(cls, rows: Any) -> SymbolicQuadratic:
        """Build from data (or per-sample Jacobian) rows ``x_i``: ``H_i = x_i x_iᵀ``.

        Parameters
        ----------
        rows : sequence of sequences, SymPy matrix or ndarray, shape (n, d)
            One row per sample; entries are numbers or SymPy expressions.

        Examples
        --------
        >>> import sympy
        >>> from stability.symbolic import SymbolicQuadratic
        >>> x, y = sympy.symbols("x y", real=True)
        >>> SymbolicQuadratic.from_data([[x, 1], [0, y]]).hessians
        (Matrix([
        [x**2, x],
        [   x, 1]]), Matrix([
        [0,    0],
        [0, y**2]]))
        """
        if isinstance(rows, sympy.MatrixBase):
            table = rows.tolist()
        elif isinstance(rows, np.ndarray):
            if rows.ndim != 2:
                raise DimensionError(f"rows must be a 2-D array (n, d); got shape {rows.shape}")
            table = rows.tolist()
        elif _is_sequence(rows):
            table = [list(row) if _is_sequence(row) else [row] for row in rows]
        else:
            raise InvalidTypeError(f"rows must be a table of numbers; got {type(rows).__name__}")
        if not table or not table[0]:
            raise DimensionError("rows must hold at least one non-empty row")
        width = len(table[0])
        if any(len(row) != width for row in table):
            raise DimensionError("rows must all have the same length d")
        vectors = [
            sympy.Matrix([exact(x, f"rows[{index}]") for x in row])
            for index, row in enumerate(table)
        ]
        return cls(tuple(sympy.ImmutableMatrix(x * x.T) for x in vectors))

    # ----------------------------------------------------------------- views
    @property
    def dimension(self) -> int:
        """The number of parameters ``d``."""
        return int(self.hessians[0].shape[0])

    @property
    def samples(self) -> int:
        """The number of samples ``n``."""
        return len(self.hessians)

    @cached_property
    def hessian(self) -> sympy.ImmutableMatrix:
        """The mean Hessian ``H = (1/n) Σ H_i``."""
        total = sympy.zeros(self.dimension, self.dimension)
        for h in self.hessians:
            total += h
        return sympy.ImmutableMatrix(total / self.samples).applyfunc(sympy.expand)

    @cached_property
    def free_symbols(self) -> frozenset[sympy.Symbol]:
        """The symbols occurring in the Hessians."""
        symbols: set[sympy.Symbol] = set()
        for h in self.hessians:
            symbols |= h.free_symbols
        return frozenset(symbols)

    @property
    def is_parametric(self) -> bool:
        """Whether any Hessian entry contains a symbol."""
        return bool(self.free_symbols)

    @cached_property
    def is_diagonal(self) -> bool:
        """Whether every ``H_i`` is diagonal (commuting Hessians in their common eigenbasis)."""
        d = self.dimension
        return all(
            _is_zero(h[i, j]) for h in self.hessians for i in range(d) for j in range(d) if i != j
        )

    def __repr__(self) -> str:
        kind = "parametric" if self.is_parametric else "exact"
        return f"SymbolicQuadratic({kind}, dimension={self.dimension}, samples={self.samples})"


def _check_psd(matrix: sympy.ImmutableMatrix, name: str) -> None:
    """Refuse a Hessian that is not a minimum.

    A matrix of numbers passes when it is exactly positive semi-definite, or when its
    smallest eigenvalue (computed in floating point) is at least ``-tolerance`` times its
    largest magnitude, with the numeric layer's relative tolerance
    (:data:`stability._validation.DEFAULT_TOLERANCE`): the symbolic layer accepts what the
    numeric layer accepts, such as ``x xᵀ`` computed in floating point.
    """
    if matrix.free_symbols:
        if matrix.shape == (1, 1) and matrix[0, 0].is_negative:
            raise NotPositiveSemidefiniteError(
                f"{name} must be positive semi-definite (a minimum); it is {matrix[0, 0]} < 0"
            )
        return
    if matrix.is_positive_semidefinite:
        return
    from stability._validation import DEFAULT_TOLERANCE

    try:
        values = np.linalg.eigvalsh(np.array(matrix.tolist(), dtype=float))
    except (OverflowError, ValueError, np.linalg.LinAlgError):
        values = None
    if values is not None and np.all(np.isfinite(values)):
        scale = float(np.max(np.abs(values)))
        lowest = float(np.min(values))
        if lowest >= -DEFAULT_TOLERANCE * scale:
            return
        detail = f"{lowest:.6g} (largest magnitude {scale:.6g})"
    else:
        detail = "negative"
    raise NotPositiveSemidefiniteError(
        f"{name} must be positive semi-definite (a minimum); smallest eigenvalue is {detail}"
    )


def as_symbolic_problem(value: Any, name: str = "hessians") -> SymbolicQuadratic:
    """Accept the input forms of the symbolic layer and return a :class:`SymbolicQuadratic`.

    Accepted forms:

    * a :class:`SymbolicQuadratic` (returned as is);
    * a sequence of matrices (SymPy matrices, nested lists, NumPy arrays): the ``H_i``;
    * a sequence of scalars (numbers or expressions): 1-D per-sample curvatures ``h_i``;
    * a single SymPy matrix: one Hessian (``n = 1``, full batch);
    * a NumPy array of shape ``(n,)`` (curvatures), ``(d, d)`` (one Hessian) or ``(n, d, d)``;
    * a :class:`stability.Quadratic` (floats are rationalised, see :func:`exact`).

    Parameters
    ----------
    value : Any
        Hessians in one of the accepted forms (listed above).
    name : str, default 'hessians'
        Name of the argument, used in error messages.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> from stability.symbolic import as_symbolic_problem
    >>> as_symbolic_problem([0.5, 2]).hessians
    (Matrix([[1/2]]), Matrix([[2]]))
    >>> as_symbolic_problem(Quadratic.from_data([[1.0, 0.0], [0.0, 3.0]])).hessian
    Matrix([
    [1/2,   0],
    [  0, 9/2]])
    """
    if isinstance(value, SymbolicQuadratic):
        return value
    from stability.problems import Quadratic

    if isinstance(value, Quadratic):
        if value.samples is None:
            return SymbolicQuadratic((_exact_matrix(value.hessian, name),))
        if value.data is not None:
            return SymbolicQuadratic.from_data(value.data)
        return SymbolicQuadratic(tuple(value.per_sample_hessians()))
    if isinstance(value, sympy.MatrixBase):
        return SymbolicQuadratic((value,))
    if isinstance(value, np.ndarray):
        if value.ndim == 1:
            return SymbolicQuadratic(tuple(sympy.Matrix([[exact(x, name)]]) for x in value))
        if value.ndim == 2:
            return SymbolicQuadratic((value,))
        if value.ndim == 3:
            return SymbolicQuadratic(tuple(value))
        raise DimensionError(f"{name} must have 1, 2 or 3 dimensions; got shape {value.shape}")
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        items = list(value)
        if not items:
            raise DimensionError(f"{name} must hold at least one Hessian")
        if all(not _is_sequence(x) and not isinstance(x, sympy.MatrixBase) for x in items):
            return SymbolicQuadratic(
                tuple(sympy.Matrix([[exact(x, f"{name}[{i}]")]]) for i, x in enumerate(items))
            )
        if any(not _is_sequence(x) and not isinstance(x, sympy.MatrixBase) for x in items):
            raise InvalidTypeError(
                f"{name} mixes scalars and matrices; give all per-sample Hessians as matrices, "
                "or all as scalars (1-D)"
            )
        return SymbolicQuadratic(tuple(items))
    raise InvalidTypeError(
        f"{name} must be a sequence of per-sample Hessians (SymPy matrices or scalars), a "
        f"SymbolicQuadratic or a stability.Quadratic; got {type(value).__name__}"
    )


def from_data(rows: Any) -> SymbolicQuadratic:
    """Per-sample Hessians ``H_i = x_i x_iᵀ`` from data rows (:meth:`SymbolicQuadratic.from_data`).

    Parameters
    ----------
    rows : sequence of sequences, SymPy matrix or ndarray, shape (n, d)
        One row per sample; entries are numbers or SymPy expressions.

    Examples
    --------
    >>> from stability.symbolic import from_data
    >>> from_data([[1, 0], [0, 1], [1, 1]]).samples
    3
    """
    return SymbolicQuadratic.from_data(rows)


def symbols_problem(
    dim: int, samples: int, *, structure: Structure = "general", name: str | None = None
) -> SymbolicQuadratic:
    """Generic symbolic per-sample Hessians for ``d = dim`` parameters and ``n = samples``.

    Parameters
    ----------
    dim : int
        The dimension ``d``.
    samples : int
        The number of samples ``n``.
    structure : {"general", "diagonal", "data"}, default "general"
        ``"general"``: symmetric ``H_i`` with entries ``h_{i,jk}`` (diagonal entries
        positive, off-diagonal entries real); ``"diagonal"``: commuting Hessians in their
        common eigenbasis, ``H_i = diag(h_{i,1}, …, h_{i,d})`` with positive entries;
        ``"data"``: ``H_i = x_i x_iᵀ`` with real symbols ``x_{i,j}``. In 1-D every
        structure gives the positive curvatures ``h_1, …, h_n`` (``x_1, …`` for data).
    name : str, optional
        The base name of the symbols (default ``"h"``, ``"x"`` for data).

    Raises
    ------
    SizeLimitError
        If ``dim`` or ``samples`` is too large for symbolic work.

    Examples
    --------
    >>> from stability.symbolic import symbols_problem
    >>> symbols_problem(2, 1).hessians
    (Matrix([
    [h_{1,11}, h_{1,12}],
    [h_{1,12}, h_{1,22}]]),)
    >>> symbols_problem(2, 2, structure="diagonal").hessian
    Matrix([
    [h_{1,1}/2 + h_{2,1}/2,                     0],
    [                    0, h_{1,2}/2 + h_{2,2}/2]])
    """
    dim = check_positive_integer(dim, "dim")
    samples = check_positive_integer(samples, "samples")
    if structure not in ("general", "diagonal", "data"):
        raise InvalidInputError(
            f"structure must be 'general', 'diagonal' or 'data'; got {structure!r}"
        )
    if dim > MAX_SYMBOLIC_DIMENSION or samples > MAX_SYMBOLIC_SAMPLES:
        raise SizeLimitError(
            f"symbols_problem(dim={dim}, samples={samples}) is too large for symbolic work "
            f"(limits d ≤ {MAX_SYMBOLIC_DIMENSION}, n ≤ {MAX_SYMBOLIC_SAMPLES}); use the "
            "numeric layer on numbers instead"
        )
    base = name or ("x" if structure == "data" else "h")
    if structure == "data":
        rows = [
            [
                sympy.Symbol(f"{base}_{i}" if dim == 1 else f"{base}_{{{i},{j}}}", real=True)
                for j in range(1, dim + 1)
            ]
            for i in range(1, samples + 1)
        ]
        return SymbolicQuadratic.from_data(rows)
    if dim == 1:
        return SymbolicQuadratic(
            tuple(
                sympy.Matrix([[sympy.Symbol(f"{base}_{i}", positive=True)]])
                for i in range(1, samples + 1)
            )
        )
    hessians = []
    for i in range(1, samples + 1):
        if structure == "diagonal":
            entries = [
                sympy.Symbol(f"{base}_{{{i},{k}}}", positive=True) for k in range(1, dim + 1)
            ]
            hessians.append(sympy.diag(*entries))
            continue
        matrix = sympy.zeros(dim, dim)
        for j in range(dim):
            for k in range(j, dim):
                label = f"{base}_{{{i},{j + 1}{k + 1}}}"
                symbol = (
                    sympy.Symbol(label, positive=True) if j == k else sympy.Symbol(label, real=True)
                )
                matrix[j, k] = matrix[k, j] = symbol
        hessians.append(matrix)
    return SymbolicQuadratic(tuple(hessians))
