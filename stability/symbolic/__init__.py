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

from stability.symbolic.bridge import NumericFunction, lambdify
from stability.symbolic.conditions import stability_condition, stable_set
from stability.symbolic.latex import to_latex
from stability.symbolic.moments import stationary_moment
from stability.symbolic.operators import (
    SymbolicDynamics,
    noise_matrix,
    read_dynamics,
    second_moment_operator,
    state_map,
    symmetric_indices,
)
from stability.symbolic.problems import (
    LEARNING_RATE,
    NoClosedFormError,
    SymbolicQuadratic,
    as_symbolic_problem,
    exact,
    from_data,
    symbols_problem,
)
from stability.symbolic.thresholds import (
    ThresholdDerivation,
    characteristic_polynomial,
    critical_learning_rate,
    threshold_derivation,
)

__all__ = [
    "LEARNING_RATE",
    "NoClosedFormError",
    "NumericFunction",
    "SymbolicDynamics",
    "SymbolicQuadratic",
    "ThresholdDerivation",
    "as_symbolic_problem",
    "characteristic_polynomial",
    "critical_learning_rate",
    "exact",
    "from_data",
    "lambdify",
    "noise_matrix",
    "read_dynamics",
    "second_moment_operator",
    "stability_condition",
    "stable_set",
    "state_map",
    "stationary_moment",
    "symbols_problem",
    "symmetric_indices",
    "threshold_derivation",
    "to_latex",
]
