"""Published results of the theory as functions, each with its statement and citation.

Theory: ``docs/theory/threshold.md``, ``docs/theory/methods.md``, ``docs/theory/higher-moments.md``
and ``docs/theory/deep-linear.md``. Functions that return a bound on a critical learning rate carry
an attribute ``side``: ``"upper"`` (a necessary condition for stability: ``η* ≤ value``),
``"lower"`` (a sufficient condition: ``η* ≥ value``) or ``"exact"``, and an attribute ``citation``;
:func:`stability.testing.assert_bound_holds` reads them.

* GD and SGD (docs/theory/threshold.md): :func:`gradient_descent_edge`,
  :func:`mulayoff_michaeli_threshold`,
  :func:`mixing_weight`, :func:`equivalent_batch_size`, :func:`wu_ma_e_threshold`,
  :func:`commuting_threshold`, :func:`rank_one_test_bound`, :func:`identity_test_bound`,
  :func:`rayleigh_quotient_bound`, :func:`trace_bound`, :func:`frobenius_bound`,
  :func:`wu_ma_e_sufficient_threshold`, :func:`wu_ma_e_sufficient_condition`.
* Momentum (docs/theory/methods.md): :func:`heavy_ball_edge`, :func:`nesterov_edge`,
  :func:`ema_momentum_edge`.
* Variational GD (docs/theory/methods.md): :func:`ghosh_edge`,
  :func:`variational_descent_learning_rate`,
  :func:`stationary_edge_parameter`, :func:`variational_gd_threshold`.
* Higher moments and almost-sure stability (docs/theory/higher-moments.md):
  :func:`moment_threshold`,
  :func:`moment_threshold_bracket`, :func:`moment_spectral_radius`, :func:`moment_operator`,
  :func:`infinite_moment_threshold`, :func:`lyapunov_exponent`, :func:`almost_sure_threshold`.
* Deep linear networks (docs/theory/deep-linear.md): :func:`deep_linear_sharpness_lower_bound`,
  :func:`deep_linear_learning_rate_limit`, :func:`deep_linear_hessian`,
  :func:`deep_linear_problem`, :func:`balanced_minimiser`,
  :func:`balanced_minimiser_sharpness`, :func:`least_squares_solution`, :func:`end_to_end`,
  :func:`deep_linear_loss`.

Examples
--------
>>> from stability import SGD, Quadratic, critical_learning_rate
>>> from stability import bounds
>>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
>>> exact = critical_learning_rate(problem, SGD(1))
>>> bounds.wu_ma_e_sufficient_threshold(problem, SGD(1)) <= exact <= bounds.trace_bound(
...     problem, SGD(1))
True
>>> bounds.trace_bound.side, bounds.wu_ma_e_sufficient_threshold.side
('upper', 'lower')
"""

from stability.bounds._deep_linear import (
    balanced_minimiser,
    balanced_minimiser_sharpness,
    deep_linear_hessian,
    deep_linear_learning_rate_limit,
    deep_linear_loss,
    deep_linear_problem,
    deep_linear_sharpness_lower_bound,
    end_to_end,
    least_squares_solution,
)
from stability.bounds._gradient import (
    commuting_threshold,
    equivalent_batch_size,
    frobenius_bound,
    frobenius_constant,
    gradient_descent_edge,
    identity_test_bound,
    mixing_weight,
    mulayoff_michaeli_threshold,
    rank_one_test_bound,
    rayleigh_quotient_bound,
    trace_bound,
    wu_ma_e_sufficient_condition,
    wu_ma_e_sufficient_threshold,
    wu_ma_e_threshold,
)
from stability.bounds._moments import (
    LyapunovEstimate,
    almost_sure_threshold,
    infinite_moment_threshold,
    lyapunov_exponent,
    moment_operator,
    moment_spectral_radius,
    moment_threshold,
    moment_threshold_bracket,
)
from stability.bounds._momentum import ema_momentum_edge, heavy_ball_edge, nesterov_edge
from stability.bounds._variational import (
    ghosh_edge,
    stationary_edge_parameter,
    variational_descent_learning_rate,
    variational_gd_threshold,
)

__all__ = [
    "LyapunovEstimate",
    "almost_sure_threshold",
    "balanced_minimiser",
    "balanced_minimiser_sharpness",
    "commuting_threshold",
    "deep_linear_hessian",
    "deep_linear_learning_rate_limit",
    "deep_linear_loss",
    "deep_linear_problem",
    "deep_linear_sharpness_lower_bound",
    "ema_momentum_edge",
    "end_to_end",
    "equivalent_batch_size",
    "frobenius_bound",
    "frobenius_constant",
    "ghosh_edge",
    "gradient_descent_edge",
    "heavy_ball_edge",
    "identity_test_bound",
    "infinite_moment_threshold",
    "least_squares_solution",
    "lyapunov_exponent",
    "mixing_weight",
    "moment_operator",
    "moment_spectral_radius",
    "moment_threshold",
    "moment_threshold_bracket",
    "mulayoff_michaeli_threshold",
    "nesterov_edge",
    "rank_one_test_bound",
    "rayleigh_quotient_bound",
    "stationary_edge_parameter",
    "trace_bound",
    "variational_descent_learning_rate",
    "variational_gd_threshold",
    "wu_ma_e_sufficient_condition",
    "wu_ma_e_sufficient_threshold",
    "wu_ma_e_threshold",
]
