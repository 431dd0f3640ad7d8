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
from stability.symbolic._domains import (
    Domain,
    as_relationals,
    decide_positive,
    default_domain,
    prune_minimum,
    substitution,
)
from stability.symbolic._latex import to_latex
from stability.symbolic._moments import (
    MAX_EXACT_MOMENT_SIZE,
    MAX_SYMBOLIC_MOMENT_SIZE,
    stationary_moment,
)
from stability.symbolic._operators import (
    MAX_EXACT_OPERATOR_ENTRIES,
    MAX_SYMBOLIC_OPERATOR_WORK,
    SymbolicDynamics,
    exact_learning_rate,
    noise_matrix,
    read_dynamics,
    second_moment_operator,
    state_map,
    symmetric_indices,
)
from stability.symbolic._problems import (
    LEARNING_RATE,
    MAX_SYMBOLIC_DIMENSION,
    MAX_SYMBOLIC_SAMPLES,
    NoClosedFormError,
    SymbolicQuadratic,
    as_symbolic_problem,
    exact,
    from_data,
    symbols_problem,
)
from stability.symbolic._thresholds import (
    MAX_EXACT_THRESHOLD_SIZE,
    ThresholdDerivation,
    characteristic_polynomial,
    critical_learning_rate,
    exact_symmetric_terms,
    threshold_derivation,
)

__all__ = [
    "LEARNING_RATE",
    "MAX_EXACT_MOMENT_SIZE",
    "MAX_EXACT_OPERATOR_ENTRIES",
    "MAX_EXACT_THRESHOLD_SIZE",
    "MAX_SYMBOLIC_DIMENSION",
    "MAX_SYMBOLIC_MOMENT_SIZE",
    "MAX_SYMBOLIC_OPERATOR_WORK",
    "MAX_SYMBOLIC_SAMPLES",
    "Domain",
    "NoClosedFormError",
    "NumericFunction",
    "SymbolicDynamics",
    "SymbolicQuadratic",
    "ThresholdDerivation",
    "as_relationals",
    "as_symbolic_problem",
    "characteristic_polynomial",
    "critical_learning_rate",
    "decide_positive",
    "default_domain",
    "exact",
    "exact_learning_rate",
    "exact_symmetric_terms",
    "from_data",
    "lambdify",
    "noise_matrix",
    "prune_minimum",
    "read_dynamics",
    "second_moment_operator",
    "stability_condition",
    "stable_set",
    "state_map",
    "stationary_moment",
    "substitution",
    "symbols_problem",
    "symmetric_indices",
    "threshold_derivation",
    "to_latex",
]
