"""The symbolic layer: SymPy second-moment operators, exact thresholds, conditions, LaTeX.

Theory: ``docs/theory/operator.md``, ``docs/theory/threshold.md`` and ``docs/theory/methods.md``.
Everything here reads a method's
:class:`~stability.dynamics.LinearDynamics` (state map, batch law, additive noise), the
same description the numeric and Monte Carlo layers read; no method is known by name.

* :func:`second_moment_operator`, :func:`noise_matrix`, :func:`stationary_moment`:
  ``T(η) = E[A ⊗ A]``, ``N = E[b bᵀ]`` and ``S_∞ = (I − T)^{-1} N`` as SymPy matrices,
  in the numeric layer's basis, so entries compare one to one.
* :func:`critical_learning_rate` / :func:`threshold_derivation`: ``η*`` as an exact
  algebraic number for rational input, or a closed form derived from the structure
  (1-D, commuting Hessians, full batch) for symbolic input, with its assumptions.
* :func:`stability_condition`: the condition as a relational or a set in ``η``.
* :func:`to_latex` and :func:`lambdify` (a fast numeric function of a derived expression).
* Problems: a list of SymPy matrices or of 1-D scalars, :func:`symbols_problem`,
  :func:`from_data`; :class:`SymbolicQuadratic` holds them.

Work that cannot finish in reasonable time is refused up front with
:class:`~stability.errors.SizeLimitError`, pointing to the numeric layer.

Examples
--------
>>> import sympy
>>> from stability import SGD
>>> from stability import symbolic
>>> problem = symbolic.symbols_problem(1, 2)
>>> symbolic.critical_learning_rate(problem, SGD(1, replacement=True))
2*(h_1 + h_2)/(h_1**2 + h_2**2)
"""

from stability.symbolic._bridge import NumericFunction, lambdify
from stability.symbolic._conditions import stability_condition, stable_set
from stability.symbolic._latex import to_latex
from stability.symbolic._moments import stationary_moment
from stability.symbolic._operators import (
    SymbolicDynamics,
    noise_matrix,
    read_dynamics,
    second_moment_operator,
    state_map,
    symmetric_indices,
)
from stability.symbolic._problems import (
    LEARNING_RATE,
    NoClosedFormError,
    SymbolicQuadratic,
    as_symbolic_problem,
    exact,
    from_data,
    symbols_problem,
)
from stability.symbolic._thresholds import (
    ThresholdDerivation,
    characteristic_polynomial,
    critical_learning_rate,
    threshold_derivation,
)
from stability.symbolic._domains import Domain
from stability.symbolic._moments import MAX_EXACT_MOMENT_SIZE
from stability.symbolic._operators import MAX_EXACT_OPERATOR_ENTRIES
from stability.symbolic._thresholds import MAX_EXACT_THRESHOLD_SIZE
from stability.symbolic._problems import MAX_SYMBOLIC_DIMENSION
from stability.symbolic._moments import MAX_SYMBOLIC_MOMENT_SIZE
from stability.symbolic._operators import MAX_SYMBOLIC_OPERATOR_WORK
from stability.symbolic._problems import MAX_SYMBOLIC_SAMPLES
from stability.symbolic._domains import as_relationals
from stability.symbolic._domains import decide_positive
from stability.symbolic._domains import default_domain
from stability.symbolic._operators import exact_learning_rate
from stability.symbolic._thresholds import exact_symmetric_terms
from stability.symbolic._domains import prune_minimum
from stability.symbolic._domains import substitution

__all__ = [
    "as_relationals",
    "as_symbolic_problem",
    "characteristic_polynomial",
    "critical_learning_rate",
    "decide_positive",
    "default_domain",
    "Domain",
    "exact",
    "exact_learning_rate",
    "exact_symmetric_terms",
    "from_data",
    "lambdify",
    "LEARNING_RATE",
    "MAX_EXACT_MOMENT_SIZE",
    "MAX_EXACT_OPERATOR_ENTRIES",
    "MAX_EXACT_THRESHOLD_SIZE",
    "MAX_SYMBOLIC_DIMENSION",
    "MAX_SYMBOLIC_MOMENT_SIZE",
    "MAX_SYMBOLIC_OPERATOR_WORK",
    "MAX_SYMBOLIC_SAMPLES",
    "NoClosedFormError",
    "noise_matrix",
    "NumericFunction",
    "prune_minimum",
    "read_dynamics",
    "second_moment_operator",
    "stability_condition",
    "stable_set",
    "state_map",
    "stationary_moment",
    "substitution",
    "SymbolicDynamics",
    "SymbolicQuadratic",
    "symbols_problem",
    "symmetric_indices",
    "threshold_derivation",
    "ThresholdDerivation",
    "to_latex",
]
