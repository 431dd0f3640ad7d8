"""Quadratic problems: a minimum described by its Hessian and per-sample structure.

Theory: ``docs/theory/models.md`` (from a model to per-sample Hessians, factors, the Gram
form, scale) and ``docs/theory/operator.md``.

A :class:`Quadratic` is immutable and validated on construction. It can hold

* one Hessian (full-batch methods only): :class:`Quadratic` ``(hessian)``;
* per-sample Hessians ``H_i`` with ``H = mean H_i``: :meth:`Quadratic.from_hessians`;
* a data (or one-output Jacobian) matrix ``X`` with ``H_i = x_i x_iᵀ``:
  :meth:`Quadratic.from_data`;
* per-sample Jacobians ``J_i`` of a model with ``k`` outputs (an array or parameter
  blocks) and output curvatures ``Λ_i``, ``H_i = J_iᵀ Λ_i J_i``:
  :meth:`Quadratic.from_jacobians`;
* a Gram (NTK) matrix ``K = X Xᵀ``, or the block NTK ``(n, k, n, k)``, alone:
  :meth:`Quadratic.from_gram`.

Every evaluator works on :meth:`Quadratic.reduced`, the problem restricted to
``range(H)`` in the eigenbasis of ``H``: the null space of ``H`` is neutral (the
dynamics never move along it) and is removed before spectra are taken. Per-sample
structure is read as factors ``G_i`` with ``H_i = G_iᵀ G_i`` (:attr:`ReducedQuadratic.factors`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import scipy.linalg

from stability._validation import (
    DEFAULT_TOLERANCE,
    as_finite_array,
    check_psd,
    check_symmetric,
    check_tolerance,
    safe_exponent,
)
from stability.errors import (
    DimensionError,
    InvalidTypeError,
    OutOfRangeError,
    SizeLimitError,
    TransposedDataWarning,
)

__all__ = ["Quadratic", "ReducedQuadratic", "as_problem"]

Kind = Literal["hessian", "hessians", "data", "jacobians", "gram"]


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class ReducedQuadratic:
    """A problem restricted to ``range(H)`` and written in the eigenbasis of ``H``.

    Attributes
    ----------
    basis : ndarray, shape (d, r)
        Orthonormal eigenvectors of ``H`` with non-zero eigenvalue (columns).
    eigenvalues : ndarray, shape (r,)
        The positive eigenvalues of ``H``, descending.
    samples : int or None
        The number of samples ``n`` (``None`` for a single Hessian).
    vectors : ndarray, shape (n, r), or None
        For rank-one samples, ``y_i = basisᵀ x_i`` so that the reduced ``H_i = y_i y_iᵀ``.
    hessians : ndarray, shape (n, r, r), or None
        Otherwise the reduced per-sample Hessians ``basisᵀ H_i basis``.
    scale : float
        The reduced Hessians are ``scale`` times the stored ones (``1.0`` unless the
        problem was normalised to keep its numbers inside the floating-point range).
    """

    basis: np.ndarray
    eigenvalues: np.ndarray
    samples: int | None
    vectors: np.ndarray | None = None
    hessians: np.ndarray | None = None
    scale: float = 1.0

    @cached_property
    def factors(self) -> np.ndarray | None:
        """Per-sample factors ``G_i`` of shape ``(n, k, r)`` with reduced ``H_i = G_iᵀ G_i``.

        Rank-one samples have ``k = 1`` (``G_i = y_iᵀ``); dense per-sample Hessians are
        factored once by an eigendecomposition (``k`` is the largest per-sample rank).
        ``None`` for a single Hessian.
        """
        if self.vectors is not None:
            return _readonly(self.vectors[:, None, :])
        if self.hessians is None:
            return None
        return _readonly(_factor_hessians(self.hessians))

    @property
    def rank(self) -> int:
        """The dimension ``r`` of ``range(H)``."""
        return int(self.eigenvalues.shape[0])

    @property
    def hessian(self) -> np.ndarray:
        """The reduced Hessian, ``diag(eigenvalues)``."""
        return np.diag(self.eigenvalues)

    def per_sample_hessians(self) -> np.ndarray:
        """The reduced per-sample Hessians as an (n, r, r) array (formed on demand)."""
        if self.hessians is not None:
            return self.hessians
        if self.vectors is not None:
            return np.einsum("ni,nj->nij", self.vectors, self.vectors)
        raise DimensionError("this problem has no per-sample structure (a single Hessian)")

    def sample_sandwich(self, matrix: np.ndarray) -> np.ndarray:
        """``(1/n) Σ_i H_i X H_i`` for a reduced ``X`` (or a stack ``(..., r, r)``).

        The package's one batch sandwich
        (:class:`~stability.numeric.BatchSandwich`) through :attr:`factors`.

        Parameters
        ----------
        matrix : np.ndarray
            The matrix X acted on (or a stack of them on the last two axes).
        """
        from stability.numeric import BatchSandwich

        return BatchSandwich(self.eigenvalues, self.factors, 1.0).sample(matrix)


class Quadratic:
    """A quadratic minimum: the Hessian ``H`` and, optionally, its per-sample structure.

    The loss near the minimum is ``L(θ) = (1/n) Σ_i ½ δᵀ H_i δ`` with ``δ = θ − θ*``
    (``docs/theory/models.md``). The object is immutable and validated on construction.

    Parameters
    ----------
    hessian : array_like, shape (d, d)
        A symmetric positive semi-definite Hessian. Problems built this way carry no
        per-sample structure and support full-batch methods only; use
        :meth:`from_hessians`, :meth:`from_data`, :meth:`from_jacobians` or
        :meth:`from_gram` for stochastic ones.
    tolerance : float, optional
        Relative tolerance of the symmetry and positive semi-definiteness checks, a
        number in ``[0, 0.01]``.

    Raises
    ------
    DimensionError
        If ``hessian`` is not a square two-dimensional array.
    NotSymmetricError
        If ``hessian`` is not symmetric.
    NotPositiveSemidefiniteError
        If ``hessian`` has a negative eigenvalue (the point is not a minimum).
    InvalidInputError
        If ``hessian`` has NaN or infinite entries, or ``tolerance`` is out of range.
    InvalidTypeError
        If ``hessian`` is not an array of real numbers (complex, boolean, dates, text).

    Notes
    -----
    Every array is checked where it enters. Problems of any magnitude are accepted: the
    reduction (:meth:`reduced`) is computed in a copy scaled by a power of two, and when
    the Hessian's largest eigenvalue lies outside ``2^±448`` the reduced problem stores
    normalised Hessians with the factor in :attr:`ReducedQuadratic.scale`, so thresholds
    are exact (they scale as ``1/s`` when the Hessians are multiplied by ``s``).
    :class:`~stability.errors.OutOfRangeError` is raised only when the largest eigenvalue
    itself lies outside ``[2^-1020, 2^1020]``, where a threshold ``~ 2/λ_max`` would not be
    representable.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import Quadratic
    >>> problem = Quadratic(np.diag([4.0, 1.0, 0.0]))
    >>> problem.dimension, problem.sharpness, problem.reduced().rank
    (3, 4.0, 2)
    >>> Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).hessian
    array([[0.6667, 0.3333],
           [0.3333, 0.6667]])
    """

    __slots__ = (
        "__dict__",
        "_data",
        "_dimension",
        "_factors",
        "_hessian",
        "_hessians",
        "_kind",
        "_tolerance",
    )

    def __init__(self, hessian: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> None:
        tolerance = check_tolerance(tolerance)
        matrix = as_finite_array(hessian, "hessian", 2)
        matrix = check_symmetric(matrix, "hessian", tolerance)
        check_psd(matrix, "hessian", tolerance)
        self._init(kind="hessian", hessian=matrix, hessians=None, data=None, tolerance=tolerance)

    def _init(
        self,
        *,
        kind: Kind,
        hessian: np.ndarray | None,
        hessians: np.ndarray | None,
        data: np.ndarray | None,
        tolerance: float,
        factors: np.ndarray | None = None,
        reduced: ReducedQuadratic | None = None,
    ) -> None:
        # ``hessian`` may be None for data, Jacobian and Gram problems: it is formed on
        # first use (a d × d array is never needed by the thresholds, and d can be 10⁵).
        self._kind = kind
        self._hessian = None if hessian is None else _readonly(hessian)
        self._hessians = None if hessians is None else _readonly(hessians)
        self._data = None if data is None else _readonly(data)
        self._factors = None if factors is None else _readonly(factors)
        self._tolerance = tolerance
        if data is not None:
            self._dimension = int(data.shape[1])
        elif factors is not None:
            self._dimension = int(factors.shape[-1])
        elif hessians is not None:
            self._dimension = int(hessians.shape[-1])
        else:
            self._dimension = int(hessian.shape[0])
        if reduced is not None:
            self.__dict__["_reduced"] = reduced

    @classmethod
    def _new(cls, **fields: Any) -> Quadratic:
        problem = cls.__new__(cls)
        problem._init(**fields)
        return problem

    @classmethod
    def from_hessians(cls, hessians: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> Quadratic:
        """Build a problem from per-sample Hessians; ``H`` is their mean.

        Parameters
        ----------
        hessians : array_like, shape (n, d, d)
            Symmetric positive semi-definite per-sample Hessians ``H_i``.
        tolerance : float, optional
            Relative tolerance of the symmetry and definiteness checks, in ``[0, 0.01]``.

        Examples
        --------
        >>> from stability import Quadratic
        >>> problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
        >>> problem.samples, problem.hessian
        (2, array([[2.]]))
        """
        tolerance = check_tolerance(tolerance)
        stack = as_finite_array(hessians, "hessians", 3)
        stack = check_symmetric(stack, "hessians", tolerance)
        check_psd(stack, "hessians", tolerance)
        exponent = safe_exponent(stack)
        if exponent:  # the mean of huge entries: sum in a scaled copy
            with np.errstate(over="ignore"):
                mean = np.ldexp(np.ldexp(stack, -exponent).mean(axis=0), exponent)
            if not np.all(np.isfinite(mean)):
                raise OutOfRangeError(
                    "hessians: their mean has entries beyond the double-precision range"
                )
        else:
            mean = stack.mean(axis=0)
        return cls._new(
            kind="hessians",
            hessian=mean,
            hessians=stack,
            data=None,
            tolerance=tolerance,
        )

    @classmethod
    def from_data(cls, data: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> Quadratic:
        """Build a problem from a data (or per-sample Jacobian) matrix.

        Row ``x_i`` of ``data`` gives the per-sample loss ``½ (x_iᵀ δ)²``, so
        ``H_i = x_i x_iᵀ`` and ``H = XᵀX / n``. This is the square loss of a linear
        model, or of any one-output model at an interpolating minimum when the rows are
        the per-sample Jacobians (``docs/theory/models.md``). Models with several outputs
        per sample go to :meth:`from_jacobians`.

        Parameters
        ----------
        data : array_like, shape (n, d)
            One row per sample.
        tolerance : float, optional
            Kept for the rank decisions of the reduction; in ``[0, 0.01]``.

        Warns
        -----
        TransposedDataWarning
            When ``n > 4 d`` and ``n > 1000``: the shape of a transposed Jacobian of an
            over-parameterised model (thousands of parameters along the rows). When the shape is
            intended (a regression with many more samples than features), silence it
            with ``warnings.filterwarnings("ignore", category=TransposedDataWarning)``.

        Examples
        --------
        >>> from stability import Quadratic
        >>> Quadratic.from_data([[2.0], [0.0]]).hessian
        array([[2.]])
        """
        tolerance = check_tolerance(tolerance)
        if isinstance(data, Mapping):
            raise InvalidTypeError(
                "data must be an array of real numbers; got a mapping (parameter blocks "
                "of per-sample Jacobians go to Quadratic.from_jacobians)"
            )
        matrix = as_finite_array(data, "data", _ANY_RANK)
        if matrix.ndim != 2:
            hint = (
                "; per-sample Jacobians of shape (n, k, d) (k outputs per sample) go to "
                "Quadratic.from_jacobians"
                if matrix.ndim == 3
                else ""
            )
            raise DimensionError(
                f"data must have 2 dimensions (n samples, d parameters); got {matrix.ndim} "
                f"(shape {matrix.shape}){hint}"
            )
        rows, columns = matrix.shape
        if rows > _TALL_RATIO * columns and rows > _TALL_ROWS:
            warnings.warn(
                f"data has {rows} rows, read as samples, and only {columns} columns, read "
                f"as parameters; if this is a transposed Jacobian (one row per parameter), "
                f"pass data.T. If the rows are samples (a regression with more samples "
                f"than features), silence this with warnings.filterwarnings('ignore', "
                f"category=stability.TransposedDataWarning)",
                TransposedDataWarning,
                stacklevel=2,
            )
        return cls._new(kind="data", hessian=None, hessians=None, data=matrix, tolerance=tolerance)

    @classmethod
    def from_jacobians(
        cls,
        jacobians: Any,
        output_hessians: Any = None,
        *,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> Quadratic:
        """Build a problem from per-sample Jacobians of a model with ``k`` outputs.

        At an interpolating minimum of ``L(θ) = (1/n) Σ_i ℓ_i(f(x_i; θ))``, the
        Gauss–Newton form of the per-sample Hessian is ``H_i = J_iᵀ Λ_i J_i``, with
        ``J_i = ∂f(x_i)/∂θ`` (``k × d``) and ``Λ_i = ∇²ℓ_i`` the curvature of the loss in
        the outputs (``docs/theory/models.md``). By default ``Λ_i = I``: the per-sample
        loss ``½ ‖f(x_i) − y_i‖²``, averaged over the samples.

        The problem keeps the factors ``G_i = L_i J_i`` (``Λ_i = L_iᵀ L_i``) and never forms
        a ``d × d`` matrix: the reduction to ``range(H)`` is one thin factorisation of the
        stacked ``(n k) × d`` matrix, so ``d`` can be very large.

        Parameters
        ----------
        jacobians : array_like of shape (n, k, d), or a mapping or list of blocks
            The per-sample Jacobians: ``jacobians[i, a, j] = ∂f_a(x_i)/∂θ_j``. A mapping
            (for instance a dict of parameter blocks, as ``jax.vmap(jax.jacrev(f))``
            returns) or a list or tuple of arrays is read as parameter blocks, each of
            shape ``(n, k, ...)``; nested mappings and lists are walked recursively.
            Each block's trailing axes are flattened (row-major) and the blocks are
            concatenated in one documented order: mappings by sorted key (the order of
            ``jax.tree_util``), lists and tuples in their order. A block of shape
            ``(n, k)`` is a scalar parameter. ``k = 1`` is allowed. A list of
            per-sample Jacobians (one ``(k, d)`` array per sample) is *not* that: stack it
            first (``numpy.stack``).
        output_hessians : array_like, shape (n, k, k) or (k, k), optional
            Symmetric positive semi-definite output curvatures ``Λ_i`` (one shared matrix
            if two-dimensional). For cross-entropy from logits ``Λ_i = diag(p_i) − p_i p_iᵀ``.
            Default: the identity.
        tolerance : float, optional
            Relative tolerance of the checks of ``output_hessians``, in ``[0, 0.01]``.

        Returns
        -------
        Quadratic
            Of kind ``"jacobians"``, with ``n`` samples and ``d`` parameters. With one
            factor row per sample (``k = 1``, or every ``Λ_i`` of rank one) its rows are
            available as :attr:`data`, as for :meth:`from_data`.

        Raises
        ------
        DimensionError
            If the blocks disagree on ``n`` or ``k``, or ``output_hessians`` has the wrong shape.
        NotPositiveSemidefiniteError
            If an ``output_hessians[i]`` has a negative eigenvalue.

        Warns
        -----
        TransposedDataWarning
            When ``k > d`` (more outputs than parameters): the axes are likely swapped.

        Examples
        --------
        >>> import numpy as np
        >>> from stability import Quadratic
        >>> rng = np.random.default_rng(0)
        >>> J = rng.standard_normal((5, 3, 8))  # 5 samples, 3 outputs, 8 parameters
        >>> problem = Quadratic.from_jacobians(J)
        >>> problem.samples, problem.dimension, problem.reduced().rank
        (5, 8, 8)
        >>> dense = Quadratic.from_hessians(np.einsum("nki,nkj->nij", J, J))
        >>> bool(np.isclose(problem.sharpness, dense.sharpness, rtol=1e-12))
        True
        >>> blocks = {"weight": J[:, :, :6].reshape(5, 3, 2, 3), "bias": J[:, :, 6:]}
        >>> Quadratic.from_jacobians(blocks).dimension
        8
        """
        tolerance = check_tolerance(tolerance)
        stack = _jacobian_stack(jacobians)
        samples, outputs, dimension = stack.shape
        if outputs > dimension:
            warnings.warn(
                f"jacobians has {outputs} outputs per sample but only {dimension} "
                f"parameters (shape {stack.shape}); if the last two axes are swapped, pass "
                f"numpy.swapaxes(jacobians, 1, 2). Silence this with "
                f"warnings.filterwarnings('ignore', category=stability.TransposedDataWarning)",
                TransposedDataWarning,
                stacklevel=2,
            )
        if output_hessians is not None:
            roots = _output_roots(output_hessians, samples, outputs, tolerance)
            exponent = safe_exponent(stack)
            scaled = np.ldexp(stack, -exponent) if exponent else stack
            root_exponent = safe_exponent(roots)
            scaled_roots = np.ldexp(roots, -root_exponent) if root_exponent else roots
            factors = np.matmul(scaled_roots, scaled)
            total = exponent + root_exponent
            if total:
                with np.errstate(over="ignore"):
                    factors = np.ldexp(factors, total)
            if not np.all(np.isfinite(factors)):
                raise OutOfRangeError(
                    "jacobians and output_hessians: the factors L_i J_i of the per-sample "
                    "Hessians lie beyond the double-precision range"
                )
        else:
            factors = stack
        if factors.shape[1] == 1:
            return cls._new(
                kind="jacobians",
                hessian=None,
                hessians=None,
                data=factors[:, 0, :],
                tolerance=tolerance,
            )
        return cls._new(
            kind="jacobians",
            hessian=None,
            hessians=None,
            data=None,
            factors=factors,
            tolerance=tolerance,
        )

    @classmethod
    def from_gram(
        cls,
        gram: Any,
        output_hessians: Any = None,
        *,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> Quadratic:
        """Build a problem from its Gram (NTK) matrix alone.

        For one output per sample, ``K = X Xᵀ`` of shape ``(n, n)``. For ``k`` outputs per
        sample, the block NTK ``K[i, a, j, b] = ∂f_a(x_i)/∂θ · ∂f_b(x_j)/∂θ`` of shape
        ``(n, k, n, k)``, samples kept grouped. The thresholds of any model are determined
        by it (``docs/theory/models.md``), whatever the number of parameters. The problem
        is written in the coordinates ``Y = V Λ^{1/2}`` (``K = V Λ Vᵀ``, flattened to
        ``(n k) × (n k)``), an orthogonal change of the parameters restricted to
        ``range(Jᵀ)``; its dimension is ``rank K``.

        Parameters
        ----------
        gram : array_like, shape (n, n) or (n, k, n, k)
            A symmetric positive semi-definite Gram matrix.
        output_hessians : array_like, shape (n, k, k) or (k, k), optional
            Output curvatures ``Λ_i`` as in :meth:`from_jacobians` (``k = 1`` for a
            two-dimensional ``gram``); the Gram matrix of the factors ``L_i J_i`` is then
            ``L_i K_ij L_jᵀ``. Default: the identity.
        tolerance : float, optional
            Relative tolerance of the symmetry and definiteness checks, in ``[0, 0.01]``.

        Examples
        --------
        >>> import numpy as np
        >>> from stability import Quadratic
        >>> X = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
        >>> by_gram = Quadratic.from_gram(X @ X.T)
        >>> by_data = Quadratic.from_data(X)
        >>> bool(np.isclose(by_gram.sharpness, by_data.sharpness))
        True
        >>> J = np.random.default_rng(0).standard_normal((4, 2, 30))  # 2 outputs
        >>> block = Quadratic.from_gram(np.einsum("nai,mbi->namb", J, J))
        >>> bool(np.isclose(block.sharpness, Quadratic.from_jacobians(J).sharpness))
        True
        """
        tolerance = check_tolerance(tolerance)
        array = as_finite_array(gram, "gram", _ANY_RANK)
        if array.ndim == 4:
            samples, outputs = array.shape[0], array.shape[1]
            if array.shape != (samples, outputs, samples, outputs):
                raise DimensionError(
                    f"gram must have shape (n, k, n, k) (a block NTK); got shape {array.shape}"
                )
        elif array.ndim == 2:
            samples, outputs = array.shape[0], 1
            if array.shape[0] != array.shape[1]:
                raise DimensionError(f"gram must be square; got shape {array.shape}")
        else:
            hint = (
                "; per-sample Jacobians of shape (n, k, d) go to Quadratic.from_jacobians"
                if array.ndim == 3
                else ""
            )
            raise DimensionError(
                f"gram must have 2 dimensions (n, n) or 4 (n, k, n, k) for k outputs per "
                f"sample; got {array.ndim} (shape {array.shape}){hint}"
            )
        matrix = array.reshape(samples * outputs, samples * outputs)
        matrix = check_symmetric(matrix, "gram", tolerance)
        exponent = safe_exponent(matrix, even=True)
        scaled = np.ldexp(matrix, -exponent) if exponent else matrix
        if output_hessians is not None:
            roots = _output_roots(output_hessians, samples, outputs, tolerance)
            root_exponent = safe_exponent(roots)
            roots = np.ldexp(roots, -root_exponent) if root_exponent else roots
            blocks = scaled.reshape(samples, outputs, samples, outputs)
            blocks = np.einsum("nab,nbmc,mdc->namd", roots, blocks, roots, optimize=True)
            outputs = roots.shape[1]
            scaled = blocks.reshape(samples * outputs, samples * outputs)
            scaled = 0.5 * (scaled + scaled.T)
            exponent += 2 * root_exponent
            refine = safe_exponent(scaled, even=True)
            if refine:
                scaled, exponent = np.ldexp(scaled, -refine), exponent + refine
        eigenvalues, vectors = np.linalg.eigh(scaled)
        largest = float(np.max(np.abs(eigenvalues)))
        if eigenvalues[0] < -tolerance * largest:  # raises with the standard message
            check_psd(matrix if output_hessians is None else scaled, "gram", tolerance)
        # descending order; the coordinates Y = V Λ^{1/2} have orthogonal columns, so the
        # Hessian YᵀY / n is diagonal and the reduction to range(H) is known exactly
        eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]  # eigh sorts ascending
        rank = int(np.count_nonzero(eigenvalues > _rank_cutoff(largest, len(eigenvalues))))
        # true K eigenvalues are eigenvalues · 2^exponent (exponent even)
        coordinates_scaled = vectors[:, :rank] * np.sqrt(eigenvalues[:rank])
        curvatures_scaled = eigenvalues[:rank] / samples
        normaliser = _normalisation_exponent(
            float(curvatures_scaled[0]) if rank else 0.0, exponent, "gram"
        )
        with np.errstate(over="ignore"):
            coordinates = np.ldexp(coordinates_scaled, exponent // 2)
            curvatures = np.ldexp(curvatures_scaled, exponent)
        stored_coordinates = np.ldexp(coordinates_scaled, (exponent - normaliser) // 2)
        stored_curvatures = np.ldexp(curvatures_scaled, exponent - normaliser)
        scale = float(np.ldexp(1.0, normaliser))
        hessian = np.diag(curvatures) if rank else np.zeros((1, 1))
        if not np.all(np.isfinite(hessian)):
            hessian = None  # formed (and refused) on demand
        if rank == 0:
            coordinates = np.zeros((samples, 1))
            reduced = ReducedQuadratic(
                basis=_readonly(np.zeros((1, 0))),
                eigenvalues=_readonly(np.zeros(0)),
                samples=samples,
                vectors=_readonly(np.zeros((samples, 0))),
            )
            return cls._new(
                kind="gram",
                hessian=hessian,
                hessians=None,
                data=coordinates,
                tolerance=tolerance,
                reduced=reduced,
            )
        reduced = _reduced_from_factors(
            basis=np.eye(rank),
            eigenvalues=stored_curvatures,
            factors=stored_coordinates.reshape(samples, outputs, rank),
            scale=scale,
        )
        if outputs == 1:
            return cls._new(
                kind="gram",
                hessian=hessian,
                hessians=None,
                data=coordinates,
                tolerance=tolerance,
                reduced=reduced,
            )
        return cls._new(
            kind="gram",
            hessian=hessian,
            hessians=None,
            data=None,
            factors=coordinates.reshape(samples, outputs, rank),
            tolerance=tolerance,
            reduced=reduced,
        )

    # ------------------------------------------------------------------ views
    @property
    def kind(self) -> Kind:
        """How the problem was given: ``"hessian"``, ``"hessians"``, ``"data"``,
        ``"jacobians"`` or ``"gram"``."""
        return self._kind

    @property
    def dimension(self) -> int:
        """The number of parameters ``d``."""
        return self._dimension

    @property
    def samples(self) -> int | None:
        """The number of samples ``n``, or ``None`` for a single Hessian."""
        if self._hessians is not None:
            return int(self._hessians.shape[0])
        if self._data is not None:
            return int(self._data.shape[0])
        if self._factors is not None:
            return int(self._factors.shape[0])
        return None

    @property
    def hessian(self) -> np.ndarray:
        """The mean Hessian ``H`` (read-only; for data and Jacobian problems formed on
        first access).

        Raises
        ------
        OutOfRangeError
            If an entry of ``H`` lies beyond the double-precision range.
        """
        if self._hessian is None:
            rows = self._stacked_rows()
            exponent = safe_exponent(rows)
            if exponent:
                scaled = np.ldexp(rows, -exponent)
                with np.errstate(over="ignore"):
                    hessian = np.ldexp(scaled.T @ scaled / self.samples, 2 * exponent)
                if not np.all(np.isfinite(hessian)):
                    raise OutOfRangeError(
                        f"the Hessian of this {self.kind} problem has entries beyond the "
                        "double-precision range (its thresholds are still available)"
                    )
            else:
                hessian = rows.T @ rows / self.samples
            self._hessian = _readonly(hessian)
        return self._hessian

    def _stacked_rows(self) -> np.ndarray:
        """The factor rows stacked: ``(n k, d)`` with ``H = rowsᵀ rows / n``."""
        if self._data is not None:
            return self._data
        return self._factors.reshape(-1, self._factors.shape[-1])

    @property
    def data(self) -> np.ndarray | None:
        """The rows ``x_i`` for rank-one samples (``from_data``, ``from_gram`` with one
        output, ``from_jacobians`` with one factor row per sample), else ``None``."""
        return self._data

    @cached_property
    def factors(self) -> np.ndarray | None:
        """Per-sample factors ``G_i``, shape ``(n, k, d)``, with ``H_i = G_iᵀ G_i``.

        Rank-one samples have ``k = 1`` (``G_i = x_iᵀ``); Jacobian problems keep
        ``G_i = L_i J_i``; dense per-sample Hessians are factored once by an
        eigendecomposition (``k`` the largest per-sample rank). ``None`` for a single
        Hessian.

        Examples
        --------
        >>> from stability import Quadratic
        >>> Quadratic.from_data([[1.0, 2.0], [3.0, 4.0]]).factors.shape
        (2, 1, 2)
        """
        if self._data is not None:
            return _readonly(self._data[:, None, :])
        if self._factors is not None:
            return self._factors
        if self._hessians is not None:
            return _readonly(_factor_hessians(self._hessians))
        return None

    @property
    def rank_one(self) -> bool:
        """Whether every per-sample Hessian is given as ``x_i x_iᵀ``."""
        return self._data is not None

    @property
    def tolerance(self) -> float:
        """Relative tolerance used by the checks and rank decisions."""
        return self._tolerance

    def per_sample_hessians(self) -> np.ndarray:
        """The per-sample Hessians as an (n, d, d) array (formed on demand for data).

        Raises
        ------
        DimensionError
            If the problem was built from a single Hessian.
        """
        if self._hessians is not None:
            return self._hessians
        if self._data is not None:
            return np.einsum("ni,nj->nij", self._data, self._data)
        if self._factors is not None:
            return np.einsum("nki,nkj->nij", self._factors, self._factors, optimize=True)
        raise DimensionError(
            "this problem was built from a single hessian and has no per-sample Hessians; "
            "use Quadratic.from_hessians, from_data, from_jacobians or from_gram"
        )

    @cached_property
    def _spectrum(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Eigenvalues (descending, scaled by ``2^-exponent``), eigenvectors, exponent."""
        hessian = self._mean_hessian_scaled()
        matrix, exponent = hessian
        eigenvalues, vectors = np.linalg.eigh(matrix)
        return eigenvalues[::-1], vectors[:, ::-1], exponent

    def _mean_hessian_scaled(self) -> tuple[np.ndarray, int]:
        """``(H · 2^-e, e)`` for Hessian problems, computed without overflow."""
        if self._hessians is not None:
            exponent = safe_exponent(self._hessians)
            if exponent:
                return np.ldexp(self._hessians, -exponent).mean(axis=0), exponent
            return self.hessian, 0
        exponent = safe_exponent(self.hessian)
        return (np.ldexp(self.hessian, -exponent) if exponent else self.hessian), exponent

    @property
    def sharpness(self) -> float:
        """``λ_max(H)``, the largest Hessian eigenvalue.

        Raises
        ------
        OutOfRangeError
            If it lies beyond the double-precision range.
        """
        if self._data is not None or self._factors is not None:  # no d × d eigenproblem
            reduced = self.reduced()
            eigenvalues = reduced.eigenvalues
            return float(eigenvalues[0]) * float(reduced.scale) if eigenvalues.size else 0.0
        eigenvalues, _, exponent = self._spectrum
        top = float(max(eigenvalues[0], 0.0))
        _normalisation_exponent(top, exponent, self._argument_name())  # refuses out of range
        return float(np.ldexp(top, exponent))

    def reduced(self) -> ReducedQuadratic:
        """The problem restricted to ``range(H)`` in the eigenbasis of ``H`` (cached).

        Directions in ``null(H)`` are neutral: every ``H_i`` vanishes on them because
        the ``H_i`` are positive semi-definite, so no method moves along them
        (``docs/theory/models.md``). The rank decision keeps eigenvalues above
        ``max(d, n) · 64 · eps · λ_max``.

        Raises
        ------
        OutOfRangeError
            If the largest eigenvalue of ``H`` lies outside ``[2^-1020, 2^1020]``.
        """
        return self._reduced

    @cached_property
    def _reduced(self) -> ReducedQuadratic:
        n = self.samples
        if self._data is not None or self._factors is not None:
            return _reduce_rows(
                self._stacked_rows(),
                n,
                self._argument_name(),
                gram_route=self._kind == "jacobians",
            )
        eigenvalues, vectors, exponent = self._spectrum
        keep = eigenvalues > _rank_cutoff(
            float(max(eigenvalues[0], 0.0)), max(self.dimension, n or 1)
        )
        basis = vectors[:, keep]
        normaliser = _normalisation_exponent(
            float(eigenvalues[keep][0]) if keep.any() else 0.0,
            exponent,
            self._argument_name(),
        )
        shift = exponent - normaliser
        hessians = None
        if self._hessians is not None:
            stack = self._hessians
            inner = safe_exponent(stack)
            if inner:
                stack = np.ldexp(stack, -inner)
            hessians = np.einsum("ia,nij,jb->nab", basis, stack, basis, optimize=True)
            hessians = 0.5 * (hessians + np.swapaxes(hessians, 1, 2))
            if inner - normaliser:
                hessians = np.ldexp(hessians, inner - normaliser)
        values = eigenvalues[keep]
        return ReducedQuadratic(
            basis=_readonly(basis),
            eigenvalues=_readonly(np.ldexp(values, shift) if shift else values),
            samples=n,
            hessians=None if hessians is None else _readonly(hessians),
            scale=float(np.ldexp(1.0, normaliser)),
        )

    def _argument_name(self) -> str:
        return {
            "hessian": "hessian",
            "hessians": "hessians",
            "data": "data",
            "jacobians": "jacobians",
            "gram": "gram",
        }[self._kind]

    def __repr__(self) -> str:
        n = "" if self.samples is None else f", samples={self.samples}"
        return f"Quadratic(kind={self.kind!r}, dimension={self.dimension}{n})"


# Any number of dimensions, checked by the caller for a message that says what to pass.
_ANY_RANK = tuple(range(33))

# A data matrix with more than _TALL_RATIO times as many rows as columns (and more than
# _TALL_ROWS rows) has the shape of a transposed Jacobian: warn.
_TALL_RATIO = 4
_TALL_ROWS = 1000

# Reduced problems whose largest eigenvalue lies within 2^±_BAND_EXPONENT are stored as
# they are (scale 1); beyond, they are normalised to a largest eigenvalue in [0.5, 2).
_BAND_EXPONENT = 448
# The largest eigenvalue must lie in [2^-_RANGE_EXPONENT, 2^_RANGE_EXPONENT] for the
# thresholds (about 2/λ_max, at most 4/λ_max with momentum) and the sharpness to be
# representable in double precision.
_RANGE_EXPONENT = 1020

# Jacobian problems with at least this many factor rows (and at least as many parameters)
# are reduced through their Gram matrix (one eigendecomposition) rather than a thin SVD.
_GRAM_ROUTE_ROWS = 1024

# Per-sample reduced Hessians (n, r, r) are formed for rank-k factors only up to this
# many entries (the factored operator reads the factors directly).
_DENSE_REDUCED_ENTRIES = 2**27


def _normalisation_exponent(largest: float, exponent: int, name: str) -> int:
    """The even ``m`` with stored eigenvalues ``= true / 2^m`` (``0`` in the ordinary band).

    ``largest`` is the largest eigenvalue of the scaled computation, whose true value is
    ``largest · 2^exponent``.
    """
    if largest <= 0.0:
        return 0
    total = exponent + int(np.frexp(largest)[1])  # true value in [2^(total-1), 2^total)
    if abs(total) <= _BAND_EXPONENT:
        return 0
    if not -_RANGE_EXPONENT <= total <= _RANGE_EXPONENT + 1:
        decimal = total * math.log10(2.0)
        raise OutOfRangeError(
            f"{name}: the Hessian's largest eigenvalue is about 2^{total} (1e{decimal:.0f}), "
            f"outside [2^-{_RANGE_EXPONENT}, 2^{_RANGE_EXPONENT}] (about 1e-307 to 1e307) "
            "where its thresholds (about 2/λ_max) and sharpness are representable in double "
            "precision; rescale the problem (thresholds scale as 1/s when every Hessian is "
            "multiplied by s)"
        )
    return total if total % 2 == 0 else total - 1


def _reduce_rows(
    rows: np.ndarray, samples: int, name: str, *, gram_route: bool = False
) -> ReducedQuadratic:
    """Reduce ``H = rowsᵀ rows / n`` (rows ``(n k, d)``, grouped by sample) to ``range(H)``.

    With ``gram_route`` and a wide matrix of at least :data:`_GRAM_ROUTE_ROWS` rows, the
    reduction goes through the Gram matrix ``rows rowsᵀ`` (see :func:`_gram_factorisation`).
    """
    exponent = safe_exponent(rows)
    scaled = np.ldexp(rows, -exponent) if exponent else rows
    outputs = rows.shape[0] // samples
    if gram_route and _GRAM_ROUTE_ROWS <= rows.shape[0] <= rows.shape[1]:
        left, singular, right_t = _gram_factorisation(scaled)
    else:
        left, singular, right_t = _thin_svd(scaled)
    eigenvalues = singular**2 / samples
    keep = eigenvalues > _rank_cutoff(float(eigenvalues.max(initial=0.0)), max(rows.shape))
    normaliser = _normalisation_exponent(
        float(eigenvalues[keep][0]) if keep.any() else 0.0, 2 * exponent, name
    )
    rank = int(np.count_nonzero(keep))  # a leading block: the values are sorted descending
    if right_t is None:  # the Gram route forms the basis of the kept directions only
        basis = _gram_basis(scaled, left[:, :rank], singular[:rank]).T
    else:
        basis = right_t[:rank].T
    coordinates = left[:, :rank] * singular[:rank]
    del left
    shift = 2 * exponent - normaliser  # even
    if shift:
        eigenvalues = np.ldexp(eigenvalues, shift)
        coordinates = np.ldexp(coordinates, shift // 2)
    return _reduced_from_factors(
        basis=basis,
        eigenvalues=eigenvalues[:rank],
        factors=coordinates.reshape(samples, outputs, rank),
        scale=float(np.ldexp(1.0, normaliser)),
    )


def _reduced_from_factors(
    *, basis: np.ndarray, eigenvalues: np.ndarray, factors: np.ndarray, scale: float
) -> ReducedQuadratic:
    """A :class:`ReducedQuadratic` from reduced per-sample factors ``(n, k, r)``.

    One factor row per sample is stored as ``vectors``; several as per-sample reduced
    Hessians ``G_iᵀ G_i`` (while the operator reads those), with the factors themselves
    kept so that :attr:`ReducedQuadratic.factors` returns them without refactoring.
    """
    samples, outputs, rank = factors.shape
    if outputs == 1:
        return ReducedQuadratic(
            basis=_readonly(basis),
            eigenvalues=_readonly(eigenvalues),
            samples=samples,
            vectors=_readonly(factors[:, 0, :]),
            scale=scale,
        )
    if samples * rank * rank > _DENSE_REDUCED_ENTRIES:
        reduced = _LargeFactoredReduction(
            basis=_readonly(basis),
            eigenvalues=_readonly(eigenvalues),
            samples=samples,
            scale=scale,
        )
        reduced.__dict__["factors"] = _readonly(factors)
        return reduced
    hessians = np.einsum("nka,nkb->nab", factors, factors, optimize=True)
    reduced = ReducedQuadratic(
        basis=_readonly(basis),
        eigenvalues=_readonly(eigenvalues),
        samples=samples,
        hessians=_readonly(hessians),
        scale=scale,
    )
    reduced.__dict__["factors"] = _readonly(factors)  # the cached property's value
    return reduced


class _LargeFactoredReduction(ReducedQuadratic):
    """A reduced problem with rank-``k`` factors too large to expand into ``(n, r, r)``.

    Its spectrum (hence the sharpness and full-batch thresholds) and its factors are
    available; evaluators that need the expanded per-sample Hessians get a
    :class:`~stability.errors.SizeLimitError` that says so.
    """

    def per_sample_hessians(self) -> np.ndarray:
        samples, outputs, rank = self.factors.shape
        raise SizeLimitError(
            f"the reduced per-sample Hessians of this problem would have {samples} × {rank} "
            f"× {rank} entries ({outputs} factor rows per sample); stochastic methods on it "
            "need the factored second-moment operator, which reads the factors (n, k, r)"
        )

    def sample_sandwich(self, matrix: np.ndarray) -> np.ndarray:
        """``(1/n) Σ_i G_iᵀ (G_i X G_iᵀ) G_i`` from the factors, for one ``X`` or a stack."""
        factors = self.factors
        projected = np.einsum("nka,...ab->...nkb", factors, matrix, optimize=True)
        inner = np.einsum("...nkb,nlb->...nkl", projected, factors, optimize=True)
        return np.einsum("nka,...nkl,nlb->...ab", factors, inner, factors, optimize=True) / len(
            factors
        )


def _sorted_keys(mapping: Mapping) -> list:
    try:
        return sorted(mapping)
    except TypeError:  # keys of mixed types: by their text
        return sorted(mapping, key=repr)


def _has_array(value: Any) -> bool:
    if isinstance(value, Mapping) or hasattr(value, "shape"):
        return True
    if isinstance(value, list | tuple):
        return any(_has_array(item) for item in value)
    return False


def _blocks(value: Any, path: str) -> list[tuple[str, Any]]:
    """The leaves of a mapping/list pytree of parameter blocks, in the documented order."""
    if isinstance(value, Mapping):
        if not value:
            raise DimensionError(f"{path} is an empty mapping; it has no parameter blocks")
        return [
            leaf
            for key in _sorted_keys(value)
            for leaf in _blocks(value[key], f"{path}[{key!r}]")
        ]
    if isinstance(value, list | tuple) and _has_array(value):
        return [
            leaf for index, item in enumerate(value) for leaf in _blocks(item, f"{path}[{index}]")
        ]
    if value is None:
        raise InvalidTypeError(f"{path} is None; every parameter block must be an array")
    return [(path, value)]


def _jacobian_stack(jacobians: Any) -> np.ndarray:
    """Per-sample Jacobians as one ``(n, k, d)`` float array, blocks concatenated."""
    if not (isinstance(jacobians, Mapping) or (
        isinstance(jacobians, list | tuple) and _has_array(jacobians)
    )):
        array = as_finite_array(jacobians, "jacobians", _ANY_RANK)
        if array.ndim != 3:
            hint = (
                "; for one output per sample use Quadratic.from_data or add the output "
                "axis (jacobians[:, None, :])"
                if array.ndim == 2
                else ""
            )
            raise DimensionError(
                f"jacobians must have 3 dimensions (n samples, k outputs, d parameters); "
                f"got {array.ndim} (shape {array.shape}){hint}"
            )
        return array
    parts = []
    leading = None
    for path, leaf in _blocks(jacobians, "jacobians"):
        array = as_finite_array(leaf, path, _ANY_RANK)
        if array.ndim < 2:
            raise DimensionError(
                f"{path} must have at least 2 dimensions (n samples, k outputs, ...); got "
                f"{array.ndim} (shape {array.shape})"
            )
        if leading is None:
            leading = array.shape[:2]
        elif array.shape[:2] != leading:
            raise DimensionError(
                f"{path} has shape {array.shape}; every block must start with the same "
                f"(n samples, k outputs) = {leading}"
            )
        parts.append(array.reshape(array.shape[0], array.shape[1], -1))
    return np.concatenate(parts, axis=2)


def _output_roots(
    output_hessians: Any, samples: int, outputs: int, tolerance: float
) -> np.ndarray:
    """Factors ``L_i`` (``(n, k', k)``, ``Λ_i = L_iᵀ L_i``) of checked output curvatures."""
    curvatures = as_finite_array(output_hessians, "output_hessians", (2, 3))
    if curvatures.ndim == 2:
        if curvatures.shape != (outputs, outputs):
            raise DimensionError(
                f"output_hessians must have shape (k, k) = ({outputs}, {outputs}) or "
                f"(n, k, k) = ({samples}, {outputs}, {outputs}); got {curvatures.shape}"
            )
        curvatures = np.broadcast_to(curvatures, (samples, outputs, outputs))
    elif curvatures.shape != (samples, outputs, outputs):
        raise DimensionError(
            f"output_hessians must have shape (n, k, k) = ({samples}, {outputs}, {outputs}) "
            f"or (k, k); got {curvatures.shape}"
        )
    curvatures = check_symmetric(curvatures, "output_hessians", tolerance)
    check_psd(curvatures, "output_hessians", tolerance)
    exponent = safe_exponent(curvatures, even=True)
    scaled = np.ldexp(curvatures, -exponent) if exponent else curvatures
    roots = _factor_hessians(scaled)
    return np.ldexp(roots, exponent // 2) if exponent else roots


def _thin_svd(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``matrix = W diag(s) Vᵀ`` with ``k = min(n, d)`` columns, cheap when n ≪ d or n ≫ d.

    A very rectangular matrix is first reduced by a Householder QR of its tall
    orientation, then the small ``k × k`` triangle is decomposed (the classical
    R-bidiagonalisation route: backward stable, as accurate as a direct SVD, and
    ``O(max(n, d) k²)`` work; for n = 200, d = 100 000 it is several times faster than
    LAPACK's ``gesdd`` on the full matrix).
    """
    rows, cols = matrix.shape
    if max(rows, cols) < 2 * min(rows, cols):
        return np.linalg.svd(matrix, full_matrices=False)
    if rows >= cols:  # X = Q R, R = U S Vᵀ  ⇒  X = (Q U) S Vᵀ
        q, r = scipy.linalg.qr(matrix, mode="economic", check_finite=False)
        u, s, vt = np.linalg.svd(r)
        return q @ u, s, vt
    # Xᵀ = Q R  ⇒  X = Rᵀ Qᵀ; Rᵀ = U S Wᵀ  ⇒  X = U S (Q W)ᵀ
    q, r = scipy.linalg.qr(matrix.T, mode="economic", check_finite=False)
    u, s, wt = np.linalg.svd(r.T)
    return u, s, (q @ wt.T).T


def _gram_factorisation(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
    """``matrix = W diag(s) Vᵀ`` through the Gram matrix ``K = matrix matrixᵀ = W diag(s²) Wᵀ``.

    For a wide matrix (``m`` rows, ``d ≥ m`` columns) this costs one symmetric rank-k
    update (``d m²``) and one ``m × m`` symmetric eigendecomposition, against a QR of the
    ``d × m`` transpose plus an SVD for :func:`_thin_svd` (about three times more work at
    ``m = 10⁴``). The singular values come with absolute accuracy ``eps · s_max`` instead of
    ``eps · s_j``-relative, which the thresholds do not notice (they depend on the reduced
    factors ``W diag(s)``, accurate to ``eps · ‖matrix‖``). The right factor ``V`` is formed
    afterwards for the kept directions only (:func:`_gram_basis`); ``None`` here.
    """
    gram = scipy.linalg.blas.dsyrk(1.0, np.asfortranarray(matrix.T), trans=1)  # upper part
    eigenvalues, vectors = np.linalg.eigh(gram, UPLO="U")
    del gram
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    return vectors, np.sqrt(np.clip(eigenvalues, 0.0, None)), None


def _gram_basis(matrix: np.ndarray, left: np.ndarray, singular: np.ndarray) -> np.ndarray:
    """``Vᵀ = diag(1/s) Wᵀ matrix`` for the kept singular triplets (rows orthonormal)."""
    product = left.T @ matrix
    product /= singular[:, None]
    return product


def _factor_hessians(hessians: np.ndarray) -> np.ndarray:
    """Factors ``G_i`` (``(n, k, r)``, ``H_i = G_iᵀ G_i``) of symmetric PSD ``H_i``.

    ``k`` is the largest numerical rank over the samples; rows of a sample of smaller
    rank are zero. Negative rounding-level eigenvalues are dropped.
    """
    samples, size = hessians.shape[0], hessians.shape[-1]
    if samples == 0 or size == 0:
        return np.zeros((samples, 0, size))
    eigenvalues, vectors = np.linalg.eigh(hessians)
    top = np.max(np.abs(eigenvalues), axis=1, keepdims=True)
    keep = eigenvalues > _rank_cutoff(1.0, size) * top
    rank = max(int(keep.sum(axis=1).max()), 1)
    order = np.argsort(-eigenvalues, axis=1)[:, :rank]
    values = np.take_along_axis(np.where(keep, eigenvalues, 0.0), order, axis=1)
    columns = np.take_along_axis(vectors, order[:, None, :], axis=2)
    return np.sqrt(values)[:, :, None] * np.swapaxes(columns, 1, 2)


def _rank_cutoff(scale: float, size: int) -> float:
    return 64.0 * max(size, 1) * np.finfo(float).eps * scale


def as_problem(problem: Any) -> Quadratic:
    """Check that ``problem`` is a :class:`Quadratic` (else :class:`InvalidTypeError`).

    Parameters
    ----------
    problem : Any
        The object to check; anything but a :class:`Quadratic` is refused.
    """
    if not isinstance(problem, Quadratic):
        raise InvalidTypeError(
            f"problem must be a stability.Quadratic; got {type(problem).__name__}"
        )
    return problem
