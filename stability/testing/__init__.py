"""Tools for users' own CI: assertions, hypothesis strategies and a pytest plugin.

* :mod:`stability.testing`: :func:`assert_stable`, :func:`assert_unstable`,
  :func:`assert_critical_learning_rate`, :func:`assert_bound_holds`; failures raise
  subclasses of :class:`AssertionError` (:class:`StabilityAssertionError`) whose messages
  show the numbers and the margin.
* :mod:`stability.testing.strategies`: hypothesis strategies for PSD matrices, per-sample
  Hessians, data and Gram matrices, problems, methods and learning rates.
* :mod:`stability.testing.plugin`: a pytest plugin (fixtures and a deterministic
  hypothesis profile ``stability-ci``), registered as the ``stability`` entry point.

Examples
--------
>>> import numpy as np
>>> from stability import GD, Quadratic
>>> from stability.testing import assert_critical_learning_rate
>>> assert_critical_learning_rate(Quadratic(np.diag([4.0, 1.0])), GD(), 0.5)
0.5
"""

from stability.testing._assertions import (
    BoundViolatedError,
    CriticalLearningRateMismatchError,
    ExpectedStableError,
    ExpectedUnstableError,
    StabilityAssertionError,
    assert_bound_holds,
    assert_critical_learning_rate,
    assert_stable,
    assert_unstable,
)

__all__ = [
    "BoundViolatedError",
    "CriticalLearningRateMismatchError",
    "ExpectedStableError",
    "ExpectedUnstableError",
    "StabilityAssertionError",
    "assert_bound_holds",
    "assert_critical_learning_rate",
    "assert_stable",
    "assert_unstable",
]
