"""Variational gradient descent: GD on the mean of a fixed-covariance posterior.

Theory: ``docs/theory/methods.md`` (Ghosh et al. 2025). The mean ``m`` of a posterior
``q = N(m, Σ_q)`` (covariance fixed) is trained with ``S`` Monte Carlo samples per step,

    m_{t+1} = m_t − η (1/S) Σ_s ∇ℓ_B(m_t + ε_s),     ε_s ~ q − m_t.

On a quadratic ``∇ℓ_B(m + ε) = H_B δ + H_B ε``, so with ``ε̄ = (1/S) Σ_s ε_s``

    δ_{t+1} = (I − η H_B) δ_t − η H_B ε̄_t,

the SGD (or GD) state map plus additive noise with ``u = 0``, ``w = −η`` and
``Cov ε̄ = Σ_q / S``. Only that covariance enters every exact quantity; the law of
``ε̄`` matters only to the Monte Carlo layer, which draws it with the sampler carried by
the :class:`~stability.dynamics.AdditiveNoise`.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from stability._validation import (
    as_finite_array,
    check_batch_size,
    check_positive_integer,
    check_psd,
    check_symmetric,
    exact_number,
    is_symbolic,
)
from stability.dynamics import AdditiveNoise, BatchLaw, LinearDynamics
from stability.errors import DimensionError, InvalidInputError, InvalidTypeError
from stability.methods._base import Method, check_weight_decay
from stability.methods._gradient import gradient_step_dynamics

__all__ = ["PosteriorMeanSampler", "VariationalGD", "posterior_covariance_matrix"]

Posterior = Literal["gaussian", "student-t"]
_POSTERIORS = ("gaussian", "student-t")


def _canonical_covariance(value: Any) -> Any:
    """Validate ``posterior_cov``; return a hashable form (float, tuple, tuple of tuples)."""
    if is_symbolic(value):
        if getattr(value, "is_Matrix", False):
            raise InvalidTypeError(
                "posterior_cov may be symbolic only as a scalar σ² (times the identity); "
                f"got a {value.shape[0]}×{value.shape[1]} SymPy matrix"
            )
        if value.is_negative:
            raise InvalidInputError(f"posterior_cov must be non-negative; got {value}")
        return value
    if hasattr(value, "free_symbols") and not getattr(value, "is_Matrix", False):
        value = float(value)  # a SymPy number without symbols
    array = as_finite_array(value, "posterior_cov", (0, 1, 2))
    if array.ndim == 0:
        if array < 0:
            raise InvalidInputError(
                f"posterior_cov must be a non-negative variance; got {float(array)}"
            )
        return float(array)
    if array.ndim == 1:
        if np.any(array < 0):
            raise InvalidInputError(
                "posterior_cov given as a vector is a diagonal of variances and must be "
                f"non-negative; its smallest entry is {float(array.min()):.6g}"
            )
        return tuple(float(x) for x in array)
    array = check_symmetric(array, "posterior_cov")
    check_psd(array, "posterior_cov")
    return tuple(tuple(float(x) for x in row) for row in array)


def _scale_covariance(covariance: Any, samples: int) -> Any:
    """``Σ_q / S`` in the same (hashable) form as ``covariance``."""
    if is_symbolic(covariance):
        import sympy

        return covariance / sympy.Integer(samples)
    if isinstance(covariance, float):
        return covariance / samples
    if isinstance(covariance[0], tuple):
        return tuple(tuple(x / samples for x in row) for row in covariance)
    return tuple(x / samples for x in covariance)


def _dense_covariance(covariance: Any, dimension: int) -> np.ndarray:
    array = np.asarray(covariance, dtype=float)
    if array.ndim == 0:
        return float(array) * np.eye(dimension)
    if array.shape[0] != dimension:
        raise DimensionError(
            f"posterior_cov has dimension {array.shape[0]} but the problem has d={dimension} "
            "parameters"
        )
    return np.diag(array) if array.ndim == 1 else array


def posterior_covariance_matrix(posterior_cov: Any, dimension: int) -> np.ndarray:
    """A posterior covariance ``Σ_q``, checked, as a dense ``d × d`` float matrix.

    Parameters
    ----------
    posterior_cov : float, array_like
        ``Σ_q``: a variance (times the identity), a diagonal of variances, or a PSD matrix.
    dimension : int
        ``d``.

    Examples
    --------
    >>> from stability.methods import posterior_covariance_matrix
    >>> posterior_covariance_matrix([1.0, 2.0], 2)
    array([[1., 0.],
           [0., 2.]])
    """
    return _dense_covariance(_canonical_covariance(posterior_cov), dimension)


@dataclass(frozen=True)
class PosteriorMeanSampler:
    """Draws ``ε̄ = (1/S) Σ_s ε_s``, the mean of ``S`` centred posterior draws.

    The Monte Carlo layer calls it as ``sampler(rng, runs, dimension)`` and gets a
    ``(runs, dimension)`` array. For the Gaussian posterior the mean of ``S`` draws is
    exactly ``N(0, Σ_q / S)`` and is drawn directly; for the Student-t posterior
    (``ν`` degrees of freedom, scale ``Σ_q (ν − 2)/ν`` so that its covariance is
    ``Σ_q``) the ``S`` draws are made and averaged.

    Parameters
    ----------
    covariance : float, tuple or tuple of tuples
        ``Σ_q``: a variance (times the identity), a diagonal, or a full PSD matrix.
    samples : int
        ``S``.
    posterior : {"gaussian", "student-t"}
        The posterior family.
    degrees_of_freedom : float
        ``ν > 2`` for the Student-t posterior.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.methods import PosteriorMeanSampler
    >>> sampler = PosteriorMeanSampler(0.5, samples=2, posterior="gaussian")
    >>> draws = sampler(np.random.default_rng(0), 100_000, 2)
    >>> draws.shape, bool(np.allclose(np.cov(draws.T), 0.25 * np.eye(2), atol=0.01))
    ((100000, 2), True)
    """

    covariance: Any
    samples: int
    posterior: Posterior = "gaussian"
    degrees_of_freedom: float = 5.0

    def _factor(self, dimension: int) -> np.ndarray:
        """``R`` with ``R Rᵀ = Σ_q`` (``d × d``), from an eigendecomposition (PSD-safe)."""
        matrix = _dense_covariance(self.covariance, dimension)
        eigenvalues, vectors = np.linalg.eigh(matrix)
        return vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))

    def __call__(self, rng: np.random.Generator, runs: int, dimension: int) -> np.ndarray:
        """``runs`` independent draws of ``ε̄`` in ``R^dimension``."""
        if is_symbolic(self.covariance):
            raise InvalidTypeError(
                "posterior_cov is symbolic; give a number, vector or matrix to draw samples"
            )
        factor = self._factor(dimension)
        if self.posterior == "gaussian":
            standard = rng.standard_normal((runs, dimension))
            return standard @ factor.T / np.sqrt(self.samples)
        nu = self.degrees_of_freedom
        standard = rng.standard_normal((runs, self.samples, dimension))
        mixing = np.sqrt(rng.chisquare(nu, size=(runs, self.samples, 1)) / nu)
        draws = standard / mixing * np.sqrt((nu - 2.0) / nu)
        return draws.mean(axis=1) @ factor.T


@dataclass(frozen=True, repr=False)
class VariationalGD(Method):
    """Variational GD (or SGD): gradient steps on the mean of a fixed-covariance posterior.

    ``m_{t+1} = m_t − η (1/S) Σ_s ∇ℓ_B(m_t + ε_s)`` with ``ε_s`` drawn from the posterior
    ``q − m_t`` (``docs/theory/methods.md``; Ghosh et al. 2025). Near a quadratic minimum this
    is the GD/SGD state map plus the additive noise ``−η H_B ε̄``, ``Cov ε̄ = Σ_q / S``.

    Parameters
    ----------
    posterior_cov : float, array_like or SymPy expression
        The posterior covariance ``Σ_q``: a variance ``σ²`` (times the identity), a vector
        (a diagonal covariance) or a full symmetric PSD ``d × d`` matrix. A SymPy scalar is
        kept exact for the symbolic layer.
    samples : int, default 1
        ``S``, the Monte Carlo samples per step.
    batch_size : int or None, default None
        ``None`` for the full batch; else the minibatch size ``B`` (variational SGD).
    replacement : bool, default False
        Draw the minibatch indices with replacement.
    posterior : {"gaussian", "student-t"}, default "gaussian"
        The posterior family. On a quadratic only its covariance enters the moments; the
        family changes only the Monte Carlo draws.
    degrees_of_freedom : float, default 5.0
        ``ν > 2`` of the Student-t posterior, whose scale is set to ``Σ_q (ν − 2)/ν`` so
        that its covariance is ``Σ_q``. Ignored for the Gaussian.
    weight_decay : float or SymPy expression, default 0
        ``μ ≥ 0``, an ``L2`` term ``½ μ ‖θ‖²`` in the loss: every ``H_B`` (in the state map
        and in the noise ``−η (H_B + μ I) ε̄``) becomes ``H_B + μ I``.

    Notes
    -----
    The mean-square threshold is GD's (full batch) or SGD's (same ``B``): the posterior
    noise is additive and leaves the second-moment operator unchanged. The noise shows in
    the stationary second moment (:func:`stability.numeric.stationary_second_moment`)
    and in the expected-descent edge (:func:`stability.numeric.variational_edge`).

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic, critical_learning_rate
    >>> from stability.methods import VariationalGD
    >>> problem = Quadratic(np.diag([4.0, 1.0]))
    >>> method = VariationalGD(0.1, samples=4)
    >>> critical_learning_rate(problem, method) == critical_learning_rate(problem, GD())
    True
    >>> noise = method.dynamics().noise
    >>> noise.hessian_coefficients, noise.covariance
    (((0, -1),), 0.025)
    """

    posterior_cov: Any
    samples: int = 1
    batch_size: int | None = None
    replacement: bool = False
    posterior: Posterior = "gaussian"
    degrees_of_freedom: float = 5.0
    weight_decay: Any = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "posterior_cov", _canonical_covariance(self.posterior_cov))
        check_weight_decay(self.weight_decay)
        check_positive_integer(self.samples, "samples")
        check_batch_size(self.batch_size)
        BatchLaw(self.batch_size, self.replacement)
        if self.posterior not in _POSTERIORS:
            raise InvalidInputError(
                f"posterior must be one of {', '.join(map(repr, _POSTERIORS))}; "
                f"got {self.posterior!r}"
            )
        nu = self.degrees_of_freedom
        if isinstance(nu, bool) or not isinstance(nu, numbers.Real):
            raise InvalidTypeError(f"degrees_of_freedom must be a real number; got {nu!r}")
        if not np.isfinite(float(nu)) or nu <= 2:
            raise InvalidInputError(
                "degrees_of_freedom must be a finite number above 2 (the Student-t covariance "
                f"is finite only then); got {nu}"
            )
        object.__setattr__(self, "degrees_of_freedom", float(nu))

    @property
    def noise_covariance(self) -> Any:
        """``Cov ε̄ = Σ_q / S`` (same form as :attr:`posterior_cov`)."""
        return _scale_covariance(self.posterior_cov, self.samples)

    def posterior_covariance_matrix(self, dimension: int) -> np.ndarray:
        """``Σ_q`` as a dense ``d × d`` float matrix.

        Parameters
        ----------
        dimension : int
            Dimension d of the parameter space.

        Raises
        ------
        DimensionError
            If a vector or matrix ``posterior_cov`` does not have ``dimension`` entries.
        """
        return _dense_covariance(self.posterior_cov, dimension)

    def dynamics(self) -> LinearDynamics:
        """Compile: GD/SGD state map (``F = 1``, ``G = −η``) plus noise ``u = 0``, ``w = −η``."""
        name = "VariationalGD" if self.batch_size is None else "VariationalSGD"
        base = gradient_step_dynamics(name, BatchLaw(self.batch_size, self.replacement))
        noise = AdditiveNoise(
            identity_coefficients=((0,),),
            hessian_coefficients=((0, -1),),
            covariance=self.noise_covariance,
            sampler=PosteriorMeanSampler(
                self.posterior_cov, self.samples, self.posterior, self.degrees_of_freedom
            ),
        )
        return dataclasses.replace(base, noise=noise).with_hessian_shift(
            exact_number(self.weight_decay)
        )
