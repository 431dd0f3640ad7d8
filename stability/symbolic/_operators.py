"""Symbolic second-moment operators and noise moments, read off a :class:`LinearDynamics`.

Theory: ``docs/theory/operator.md`` and ``docs/theory/threshold.md``. The state map is
``A = F(η) ⊗ I + G(η) ⊗ H_B`` and its batch Hessian has the moments

    E[H_B] = H,     E[(H_B)_ij (H_B)_kl] = (1 − p) H_ij H_kl + p (1/n) Σ_s (H_s)_ij (H_s)_kl,

so ``T = E[A ⊗ A]`` is a sum of four tensor products, each a product of a coefficient of
``F`` or ``G`` with ``δ``, ``H`` or that fourth moment. Nothing here knows a method by name:
GD, SGD (either sampling), heavy ball, Nesterov and variational GD are all the same
few lines applied to their own description.

Convention (identical to :func:`stability.second_moment_operator`, so entries compare):
the state stacks ``m`` blocks of size ``d`` (index ``(a, i)`` ↦ ``a d + i``), and ``T`` acts
on the row-major ``vec`` of the state's second moment, row ``((a,i),(c,k))`` and column
``((b,j),(d,l))`` holding ``E[A_{(a,i),(b,j)} A_{(c,k),(d,l)}]``.

The additive noise ``b = (u(η) ⊗ I + w(η) ⊗ H_B) ε`` (variational GD) gives
``N = E[b bᵀ] = Σ (u_j u_kᵀ ⊗ Σ + u_j w_kᵀ ⊗ Σ H + w_j u_kᵀ ⊗ H Σ + w_j w_kᵀ ⊗ E[H_B Σ H_B])``
with ``E[H_B Σ H_B] = (1 − p) H Σ H + p (1/n) Σ_s H_s Σ H_s``, read from
:attr:`LinearDynamics.noise` generically.

Examples
--------
>>> import sympy
>>> from stability import SGD
>>> from stability.symbolic import second_moment_operator
>>> h1, h2 = sympy.symbols("h1 h2", positive=True)
>>> eta = sympy.Symbol("eta", positive=True)
>>> T = second_moment_operator([h1, h2], SGD(1, replacement=True))
>>> sympy.factor(T[0, 0] - ((1 - eta * h1) ** 2 + (1 - eta * h2) ** 2) / 2)
0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from stability.dynamics import LinearDynamics
from stability.errors import DimensionError, InvalidInputError, SizeLimitError
from stability.methods import as_dynamics
from stability.symbolic._problems import (
    LEARNING_RATE,
    SymbolicQuadratic,
    as_symbolic_problem,
    exact,
)

__all__ = [
    "MAX_EXACT_OPERATOR_ENTRIES",
    "MAX_SYMBOLIC_OPERATOR_WORK",
    "SymbolicDynamics",
    "exact_learning_rate",
    "noise_matrix",
    "read_dynamics",
    "second_moment_operator",
    "state_map",
    "symmetric_indices",
]

_ONE = sympy.Integer(1)
_ZERO = sympy.Integer(0)

#: Largest work estimate ``(m d)⁴ · n`` (entries times samples) of a dense operator with
#: symbolic entries (about ten seconds of SymPy expansion at the limit).
MAX_SYMBOLIC_OPERATOR_WORK = 4096
#: Largest number of entries ``(m d)⁴`` of a dense operator of exact numbers.
MAX_EXACT_OPERATOR_ENTRIES = 1_000_000


# ----------------------------------------------------------------------------- the description


@dataclass(frozen=True, eq=False)
class SymbolicDynamics:
    """A :class:`LinearDynamics` with exact coefficients, as SymPy object arrays.

    Attributes
    ----------
    dynamics : LinearDynamics
        The description it was read from.
    identity_terms, hessian_terms : tuple of ndarray (object, m × m)
        ``F_k`` and ``G_k``: the coefficients of ``η^k`` in ``F(η)`` and ``G(η)`` (padded to
        a common length ``degree + 1``).
    mixing : sympy.Expr
        The batch-law weight ``p`` (exact, or a symbol passed by the caller).

    Examples
    --------
    >>> import sympy
    >>> from stability import Nesterov
    >>> from stability.symbolic import read_dynamics
    >>> dynamics = read_dynamics(Nesterov(sympy.Symbol("beta")))
    >>> dynamics.blocks, dynamics.degree, dynamics.free_symbols
    (2, 1, frozenset({beta}))
    >>> dynamics.hessian_coefficient(sympy.Symbol("eta"))
    Matrix([
    [-beta*eta - eta, beta*eta],
    [              0,        0]])
    """

    dynamics: LinearDynamics
    identity_terms: tuple[np.ndarray, ...]
    hessian_terms: tuple[np.ndarray, ...]
    mixing: sympy.Expr

    @property
    def blocks(self) -> int:
        """``m``, the number of state blocks."""
        return self.dynamics.blocks

    @property
    def degree(self) -> int:
        """Degree of ``A(η)`` in ``η``."""
        return len(self.identity_terms) - 1

    @property
    def free_symbols(self) -> frozenset[sympy.Symbol]:
        """Symbols in the coefficients and in ``p`` (the method's symbolic hyper-parameters)."""
        symbols: set[sympy.Symbol] = set(self.mixing.free_symbols)
        for term in (*self.identity_terms, *self.hessian_terms):
            for entry in term.flat:
                symbols |= entry.free_symbols
        return frozenset(symbols)

    def identity(self, lr: Any) -> sympy.Matrix:
        """``F(η)`` as a SymPy matrix.

        Parameters
        ----------
        lr : Any
            Learning rate η.
        """
        return _polynomial_matrix(self.identity_terms, lr)

    def hessian_coefficient(self, lr: Any) -> sympy.Matrix:
        """``G(η)`` as a SymPy matrix.

        Parameters
        ----------
        lr : Any
            Learning rate η.
        """
        return _polynomial_matrix(self.hessian_terms, lr)


def _polynomial_matrix(terms: tuple[np.ndarray, ...], lr: Any) -> sympy.Matrix:
    total = sympy.zeros(*terms[0].shape)
    for power, term in enumerate(terms):
        total += sympy.Matrix(term) * lr**power
    return total.applyfunc(sympy.expand)


def _coefficient_arrays(table: Any, degree: int, name: str) -> tuple[np.ndarray, ...]:
    size = len(table[0])
    arrays = []
    for power in range(degree + 1):
        array = np.empty((size, size), dtype=object)
        for i in range(size):
            for j in range(size):
                value = table[power][i][j] if power < len(table) else 0
                array[i, j] = exact(value, name)
        arrays.append(array)
    return tuple(arrays)


def read_dynamics(
    method: Any, samples: int | None = None, *, mixing: Any = None
) -> SymbolicDynamics:
    """Read a method's :class:`LinearDynamics` with exact (SymPy) coefficients.

    Parameters
    ----------
    method : Method or LinearDynamics
        The optimiser, e.g. ``SGD(2)`` or ``HeavyBall(sympy.Symbol("beta"))``.
    samples : int, optional
        ``n``, needed for the batch law's ``p`` (ignored when ``mixing`` is given).
    mixing : number or SymPy expression, optional
        Overrides ``p``, e.g. a symbol ``p`` to keep the batch law general.

    Examples
    --------
    >>> from stability import SGD, HeavyBall
    >>> from stability.symbolic import read_dynamics
    >>> read_dynamics(SGD(2), samples=4).mixing
    1/3
    >>> read_dynamics(HeavyBall(0.5)).identity(0)
    Matrix([
    [3/2, -1/2],
    [  1,    0]])
    """
    dynamics = as_dynamics(method)
    if mixing is None:
        weight = exact(dynamics.batch.mixing(samples))
    else:
        weight = exact(mixing, "mixing")
        if not weight.free_symbols and not 0 <= weight <= 1:
            raise InvalidInputError(f"mixing must lie in [0, 1]; got {weight}")
    degree = dynamics.degree
    return SymbolicDynamics(
        dynamics=dynamics,
        identity_terms=_coefficient_arrays(
            dynamics.identity_part.coefficients, degree, "identity_part"
        ),
        hessian_terms=_coefficient_arrays(
            dynamics.hessian_part.coefficients, degree, "hessian_part"
        ),
        mixing=weight,
    )


# ----------------------------------------------------------------------------- tensors


def _object_array(matrix: Any) -> np.ndarray:
    rows = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    array = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            array[i, j] = value
    return array


def _identity(size: int, one: Any = _ONE, zero: Any = _ZERO) -> np.ndarray:
    array = np.full((size, size), zero, dtype=object)
    for i in range(size):
        array[i, i] = one
    return array


def fourth_moment(hessian: np.ndarray, hessians: list[np.ndarray], mixing: Any) -> np.ndarray:
    """``E[(H_B)_ij (H_B)_kl] = (1 − p) H_ij H_kl + p mean_s (H_s)_ij (H_s)_kl`` (d, d, d, d).

    Parameters
    ----------
    hessian : ndarray (object), shape (d, d)
        The mean Hessian ``H``.
    hessians : list of ndarray (object), shape (d, d)
        The per-sample Hessians ``H_s``.
    mixing : SymPy expression or fraction
        The batch law's weight ``p``.

    Examples
    --------
    >>> import numpy as np
    >>> import sympy
    >>> from stability.symbolic._operators import fourth_moment
    >>> one, three = (np.array([[sympy.Integer(k)]], dtype=object) for k in (1, 3))
    >>> mean = np.array([[sympy.Integer(2)]], dtype=object)
    >>> fourth_moment(mean, [one, three], sympy.Rational(1, 2)).item()  # (4 + 5) / 2
    9/2
    """
    outer = np.multiply.outer
    moment = (1 - mixing) * outer(hessian, hessian)
    if mixing != 0:
        per_sample = outer(hessians[0], hessians[0])
        for h in hessians[1:]:
            per_sample = per_sample + outer(h, h)
        moment = moment + mixing * per_sample / len(hessians)
    return moment


def _product(left: np.ndarray, right: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``X[a,b] Y[c,d] W[i,j,k,l]`` with row ``((a,i),(c,k))`` and column ``((b,j),(d,l))``."""
    m, d = left.shape[0], weights.shape[0]
    block = np.multiply.outer(np.multiply.outer(left, right), weights)  # a b c d i j k l
    block = block.transpose(0, 4, 2, 6, 1, 5, 3, 7)  # a i c k b j d l
    size = m * d
    return block.reshape(size * size, size * size)


def operator_terms(
    identity_terms: tuple[np.ndarray, ...],
    hessian_terms: tuple[np.ndarray, ...],
    hessian: np.ndarray,
    moment: np.ndarray,
    one: Any = _ONE,
    zero: Any = _ZERO,
) -> list[np.ndarray]:
    """The coefficients ``T_q`` of ``E[A ⊗ A] = Σ_q η^q T_q`` (object arrays).

    ``A = Σ_k η^k (F_k ⊗ I + G_k ⊗ H_B)``; the four products of
    ``E[(F_j ⊗ I + G_j ⊗ H_B) ⊗ (F_k ⊗ I + G_k ⊗ H_B)]`` use ``δδ``, ``δH``, ``Hδ`` and the
    fourth moment of ``H_B``. Works for any scalar type (SymPy expressions or fractions).

    Parameters
    ----------
    identity_terms, hessian_terms : tuple of ndarray (object), shape (m, m)
        ``F_k`` and ``G_k`` (see :class:`SymbolicDynamics`).
    hessian : ndarray (object), shape (d, d)
        The mean Hessian ``H``.
    moment : ndarray (object), shape (d, d, d, d)
        :func:`fourth_moment` of the batch Hessian.
    one, zero : scalars
        The unit and zero of the scalar type.

    Returns
    -------
    list of ndarray (object), shape ((m d)², (m d)²)
        ``T_0, …, T_{2 deg}``.

    Examples
    --------
    >>> import numpy as np
    >>> import sympy
    >>> from stability import GD
    >>> from stability.symbolic._operators import operator_terms, read_dynamics
    >>> gd = read_dynamics(GD())
    >>> lam = np.array([[sympy.Symbol("lambda")]], dtype=object)
    >>> moment = np.multiply.outer(lam, lam)  # full batch: E[h_B²] = λ²
    >>> [t.item() for t in operator_terms(gd.identity_terms, gd.hessian_terms, lam, moment)]
    [1, -2*lambda, lambda**2]
    """
    d = hessian.shape[0]
    eye = _identity(d, one, zero)
    outer = np.multiply.outer
    weights = (
        outer(eye, eye),  # F ⊗ F
        outer(eye, hessian),  # F ⊗ G
        outer(hessian, eye),  # G ⊗ F
        moment,  # G ⊗ G
    )
    degree = len(identity_terms) - 1
    size = (identity_terms[0].shape[0] * d) ** 2
    terms = [np.full((size, size), zero, dtype=object) for _ in range(2 * degree + 1)]
    for j in range(degree + 1):
        for k in range(degree + 1):
            pairs = (
                (identity_terms[j], identity_terms[k], weights[0]),
                (identity_terms[j], hessian_terms[k], weights[1]),
                (hessian_terms[j], identity_terms[k], weights[2]),
                (hessian_terms[j], hessian_terms[k], weights[3]),
            )
            for left, right, weight in pairs:
                if all(x == 0 for x in left.flat) or all(x == 0 for x in right.flat):
                    continue
                terms[j + k] = terms[j + k] + _product(left, right, weight)
    return terms


def symmetric_indices(size: int) -> list[tuple[int, int]]:
    """The pairs ``(a, b)``, ``a ≤ b``, that index symmetric ``size × size`` matrices (``vech``).

    Parameters
    ----------
    size : int
        Size d of the symmetric matrices.

    Examples
    --------
    >>> from stability.symbolic import symmetric_indices
    >>> symmetric_indices(2)
    [(0, 0), (0, 1), (1, 1)]
    """
    return [(a, b) for a in range(size) for b in range(a, size)]


def restrict_symmetric(matrix: np.ndarray, size: int) -> np.ndarray:
    """An operator on ``vec`` restricted to symmetric matrices, in ``vech`` coordinates.

    The coordinates of a symmetric ``S`` are its entries ``S_ab``, ``a ≤ b``
    (:func:`symmetric_indices`); the result is ``L T Dup`` with ``L`` picking those
    entries and ``Dup`` the duplication matrix. It is similar to the restriction in the
    orthonormal ``svec`` basis, so spectra and determinants agree.

    Parameters
    ----------
    matrix : ndarray (object), shape (size², size²)
        The operator on row-major ``vec``.
    size : int
        The side of the matrices it acts on.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.symbolic._operators import restrict_symmetric
    >>> transpose = np.zeros((4, 4), dtype=object)  # S ↦ Sᵀ: the identity on symmetric S
    >>> for i in range(2):
    ...     for j in range(2):
    ...         transpose[i * 2 + j, j * 2 + i] = 1
    >>> restrict_symmetric(transpose, 2).tolist()
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    """
    pairs = symmetric_indices(size)
    rows = [a * size + b for a, b in pairs]
    first = [a * size + b for a, b in pairs]
    second = [b * size + a for a, b in pairs]
    picked = matrix[rows]
    result = picked[:, first].copy()
    off = [index for index, (a, b) in enumerate(pairs) if a != b]
    if off:
        result[:, off] = result[:, off] + picked[:, [second[i] for i in off]]
    return result


# ----------------------------------------------------------------------------- public


def exact_learning_rate(lr: Any) -> sympy.Expr:
    """A learning rate as an exact SymPy expression: a positive number or a symbolic one.

    Parameters
    ----------
    lr : Any
        A number (converted exactly: ``0.5`` becomes ``1/2``), a symbol or an expression.

    Examples
    --------
    >>> from stability.symbolic import exact_learning_rate
    >>> exact_learning_rate(0.5)
    1/2
    >>> exact_learning_rate(0)
    Traceback (most recent call last):
    ...
    stability.errors.InvalidInputError: lr must be positive; got 0
    """
    value = exact(lr, "lr")
    if not value.free_symbols and not value > 0:
        raise InvalidInputError(f"lr must be positive; got {value}")
    return value


def _check_operator_size(problem: SymbolicQuadratic, dynamics: SymbolicDynamics) -> None:
    state = dynamics.blocks * problem.dimension
    entries = state**4
    parametric = problem.is_parametric or bool(dynamics.free_symbols)
    if parametric and entries * problem.samples > MAX_SYMBOLIC_OPERATOR_WORK:
        raise SizeLimitError(
            f"the symbolic second-moment operator of a state of size m·d = {state} with "
            f"n = {problem.samples} samples is too large ((m d)⁴ · n = "
            f"{entries * problem.samples:,}, limit {MAX_SYMBOLIC_OPERATOR_WORK:,}); substitute "
            "numbers or use the numeric layer, "
            "stability.second_moment_operator(Quadratic(...), method, lr)"
        )
    if entries > MAX_EXACT_OPERATOR_ENTRIES:
        raise SizeLimitError(
            f"the second-moment operator of a state of size m·d = {state} has {entries:,} "
            f"entries (limit {MAX_EXACT_OPERATOR_ENTRIES:,}); use the numeric layer, "
            "stability.second_moment_operator(Quadratic(...), method, lr)"
        )


def _problem_arrays(problem: SymbolicQuadratic) -> tuple[np.ndarray, list[np.ndarray]]:
    return _object_array(problem.hessian), [_object_array(h) for h in problem.hessians]


#: Coefficients with at most this many terms are factored for display (factoring is costly).
_FACTOR_TERMS = 12


#: Expressions with more terms than this are left expanded (no factoring at all).
_PRESENT_TERMS = 3 * _FACTOR_TERMS


def _factor_small(value: sympy.Expr) -> sympy.Expr:
    small = len(sympy.Add.make_args(value)) <= _FACTOR_TERMS and len(value.free_symbols) <= 6
    return sympy.factor(value) if small else value


#: Matrices with more entries than this are only expanded entry by entry (no factoring).
_PRESENT_ENTRIES = 16


def _display_form(value: sympy.Expr, lr: sympy.Expr, *, factor: bool = True) -> sympy.Expr:
    """A polynomial in ``lr`` with small coefficients factored (display only; same value).

    Large expressions are only expanded: factoring them costs far more than it helps.
    """
    expanded = sympy.expand(value)
    if (
        not factor
        or len(sympy.Add.make_args(expanded)) > _PRESENT_TERMS
        or not expanded.free_symbols
    ):
        return expanded
    if not isinstance(lr, sympy.Symbol) or not expanded.has(lr):
        return _factor_small(expanded)
    parts = sympy.collect(expanded, lr, evaluate=False)
    return sympy.Add(*[_factor_small(coefficient) * power for power, coefficient in parts.items()])


def _sum_powers(terms: list[np.ndarray], lr: sympy.Expr) -> sympy.Matrix:
    total = terms[0].copy()
    for power in range(1, len(terms)):
        total = total + terms[power] * lr**power
    factor = total.size <= _PRESENT_ENTRIES
    return sympy.Matrix(total).applyfunc(lambda x: _display_form(x, lr, factor=factor))


def second_moment_operator(
    hessians: Any,
    method: Any,
    lr: Any = LEARNING_RATE,
    *,
    mixing: Any = None,
    symmetric: bool = False,
) -> sympy.Matrix:
    """The second-moment operator ``T(η) = E[A ⊗ A]`` as a SymPy matrix.

    Theory: ``docs/theory/operator.md`` and ``docs/theory/threshold.md``. Same basis and convention
    as the numeric
    :func:`stability.second_moment_operator`: ``vec`` of the state's second moment
    ``S = E z zᵀ`` (row-major; state blocks ``(a, i)``), in the problem's coordinates,
    neutral directions of ``null(H)`` included.

    Parameters
    ----------
    hessians : SymbolicQuadratic or per-sample Hessians
        Any form :func:`as_symbolic_problem` accepts: SymPy matrices (numbers, symbols or
        both), scalars for 1-D, :func:`symbols_problem` or :func:`from_data` output.
    method : Method or LinearDynamics
        The optimiser; its coefficients may be numbers, fractions or SymPy expressions
        (e.g. ``HeavyBall(sympy.Symbol("beta"))``).
    lr : number or SymPy expression, default ``eta``
        The learning rate; the default is the positive symbol ``eta``.
    mixing : number or SymPy expression, optional
        Override the batch law's weight ``p`` (e.g. with a symbol ``p``).
    symmetric : bool, default False
        Return the restriction to symmetric ``S`` in ``vech`` coordinates
        (:func:`symmetric_indices`), a ``N × N`` matrix with ``N = md(md + 1)/2``.

    Returns
    -------
    sympy.Matrix
        ``((m d)², (m d)²)`` (or ``N × N`` when ``symmetric``).

    Raises
    ------
    SizeLimitError
        If the dense operator is too large for symbolic work.
    InvalidInputError
        If the batch size does not fit the problem.

    Examples
    --------
    >>> import sympy
    >>> from stability import GD, SGD
    >>> from stability.symbolic import second_moment_operator, symbols_problem
    >>> problem = symbols_problem(1, 2)
    >>> second_moment_operator(problem, GD())
    Matrix([[eta**2*(h_1 + h_2)**2/4 + eta*(-h_1 - h_2) + 1]])
    >>> p = sympy.Symbol("p")
    >>> sympy.factor(second_moment_operator(problem, SGD(1), mixing=p)[0, 0].diff(p))
    eta**2*(h_1 - h_2)**2/4
    >>> second_moment_operator([[[1, 0], [0, 2]]], GD(), lr=sympy.Rational(1, 2))
    Matrix([
    [1/4,   0,   0, 0],
    [  0,   0,   0, 0],
    [  0,   0,   0, 0],
    [  0,   0,   0, 0]])
    """
    problem = as_symbolic_problem(hessians)
    dynamics = read_dynamics(method, problem.samples, mixing=mixing)
    lr = exact_learning_rate(lr)
    _check_operator_size(problem, dynamics)
    hessian, per_sample = _problem_arrays(problem)
    moment = fourth_moment(hessian, per_sample, dynamics.mixing)
    terms = operator_terms(dynamics.identity_terms, dynamics.hessian_terms, hessian, moment)
    if symmetric:
        size = dynamics.blocks * problem.dimension
        terms = [restrict_symmetric(term, size) for term in terms]
    return _sum_powers(terms, lr)


def state_map(hessian: Any, method: Any, lr: Any = LEARNING_RATE) -> sympy.Matrix:
    """The state map ``A = F(η) ⊗ I + G(η) ⊗ H_B`` for one (batch) Hessian, as a SymPy matrix.

    Parameters
    ----------
    hessian : Any
        One (batch) Hessian, in any form :func:`as_symbolic_problem` accepts.
    method : Method or LinearDynamics
        The optimiser; momentum may be a SymPy symbol.
    lr : Any, default eta
        The learning rate, by default the symbol η.

    Examples
    --------
    >>> import sympy
    >>> from stability import HeavyBall
    >>> from stability.symbolic import state_map
    >>> beta, lam = sympy.symbols("beta lambda", positive=True)
    >>> state_map(sympy.Matrix([[lam]]), HeavyBall(beta))
    Matrix([
    [beta - eta*lambda + 1, -beta],
    [                    1,     0]])
    """
    problem = as_symbolic_problem(hessian, "hessian")
    if problem.samples != 1:
        raise DimensionError(f"hessian must be one matrix; got {problem.samples}")
    dynamics = read_dynamics(method, 1, mixing=0)
    lr = exact_learning_rate(lr)
    batch = problem.hessians[0]
    eye = sympy.eye(problem.dimension)
    identity = dynamics.identity(lr)
    coefficient = dynamics.hessian_coefficient(lr)
    result = sympy.kronecker_product(identity, eye) + sympy.kronecker_product(coefficient, batch)
    return result.applyfunc(sympy.expand)


def _noise_covariance(covariance: Any, dimension: int) -> sympy.Matrix:
    if isinstance(covariance, sympy.MatrixBase):
        matrix = sympy.Matrix(covariance).applyfunc(lambda x: exact(x, "noise covariance"))
    else:
        array = np.asarray(covariance, dtype=object)
        if array.ndim == 0:
            return exact(array.item(), "noise covariance") * sympy.eye(dimension)
        if array.ndim == 1:
            matrix = sympy.diag(*[exact(x, "noise covariance") for x in array])
        elif array.ndim == 2:
            matrix = sympy.Matrix(
                [[exact(x, "noise covariance") for x in row] for row in array.tolist()]
            )
        else:
            raise DimensionError(
                f"the noise covariance must be a scalar, a vector or a matrix; got shape "
                f"{array.shape}"
            )
    if matrix.shape != (dimension, dimension):
        raise DimensionError(
            f"the noise covariance has shape {matrix.shape} but the problem has d={dimension} "
            "parameters"
        )
    return matrix


def _noise_vectors(table: Any, lr: sympy.Expr) -> sympy.Matrix:
    return sympy.Matrix(
        [
            sum(
                (exact(c, "noise coefficient") * lr**k for k, c in enumerate(row)), sympy.Integer(0)
            )
            for row in table
        ]
    )


def noise_matrix(
    hessians: Any, method: Any, lr: Any = LEARNING_RATE, *, mixing: Any = None
) -> sympy.Matrix:
    """The noise moment ``N = E[b bᵀ]`` of the method's additive noise (zero without noise).

    Theory: ``docs/theory/operator.md`` and ``docs/theory/methods.md``. For
    ``b = (u(η) ⊗ I + w(η) ⊗ H_B) ε`` with ``Cov ε = Σ`` (read from :attr:`LinearDynamics.noise`,
    whatever method made it), ``N = u uᵀ ⊗ Σ + u wᵀ ⊗ Σ H + w uᵀ ⊗ H Σ + w wᵀ ⊗ E[H_B Σ H_B]`` and
    ``E[H_B Σ H_B] = (1 − p) H Σ H + p (1/n) Σ_s H_s Σ H_s``.

    Parameters
    ----------
    hessians : SymbolicQuadratic or per-sample Hessians
        The problem (see :func:`as_symbolic_problem`).
    method : Method or LinearDynamics
        The optimiser.
    lr : number or SymPy expression, default ``eta``
        The learning rate.
    mixing : number or SymPy expression, optional
        Override the batch law's ``p``.

    Returns
    -------
    sympy.Matrix
        ``m d × m d``, block ``(a, c)`` equal to ``E[b_a b_cᵀ]``.

    Examples
    --------
    >>> import sympy
    >>> from stability.methods import VariationalGD
    >>> from stability.symbolic import noise_matrix
    >>> lam, sigma2 = sympy.symbols("lambda sigma2", positive=True)
    >>> noise_matrix([lam], VariationalGD(sigma2, samples=4))  # η² λ² σ² / S
    Matrix([[eta**2*lambda**2*sigma2/4]])
    """
    problem = as_symbolic_problem(hessians)
    dynamics = read_dynamics(method, problem.samples, mixing=mixing)
    lr = exact_learning_rate(lr)
    d, m = problem.dimension, dynamics.blocks
    noise = dynamics.dynamics.noise
    if noise is None:
        return sympy.zeros(m * d, m * d)
    covariance = _noise_covariance(noise.covariance, d)
    u = _noise_vectors(noise.identity_coefficients, lr)
    w = _noise_vectors(noise.hessian_coefficients, lr)
    if u.shape[0] != m or w.shape[0] != m:
        raise DimensionError(
            f"the noise has {u.shape[0]} identity and {w.shape[0]} Hessian coefficients but the "
            f"state has m={m} blocks"
        )
    hessian = sympy.Matrix(problem.hessian)
    p = dynamics.mixing
    sandwich = (1 - p) * hessian * covariance * hessian
    if p != 0:
        total = sympy.zeros(d, d)
        for h in problem.hessians:
            total += h * covariance * h
        sandwich += p * total / problem.samples
    kron = sympy.kronecker_product
    result = (
        kron(u * u.T, covariance)
        + kron(u * w.T, covariance * hessian)
        + kron(w * u.T, hessian * covariance)
        + kron(w * w.T, sandwich)
    )
    return result.applyfunc(sympy.factor)
