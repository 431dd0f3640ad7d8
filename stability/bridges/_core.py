"""Framework-independent parts of the bridges: flattening, checks, polish, problem building.

The PyTorch and JAX modules only compute outputs and per-sample Jacobians (a
:class:`ModelFunctions` subclass each); everything else happens here, on float64 NumPy
arrays. The public names are re-exported by :mod:`stability.bridges`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from stability.errors import DimensionError, InvalidInputError, InvalidTypeError, StabilityError
from stability.losses import CrossEntropyLoss, LossConvention, SquareLoss, loss_convention
from stability.problems import Quadratic

#: Largest residual below which the Gauss–Newton form counts as the Hessian.
DEFAULT_RESIDUAL_TOLERANCE = 1e-6


class OptionalDependencyError(StabilityError, ImportError):
    """An optional extra (PyTorch, JAX) is needed for this call and is not installed."""


class GaussNewtonWarning(UserWarning):
    """The point is not a minimum where the Gauss–Newton form is the Hessian.

    The problem is still built (from ``J_iᵀ Λ_i J_i``), but its thresholds are those of
    the Gauss–Newton matrix, not of the loss's Hessian at this point.
    """


def require(module: str, extra: str, install: str) -> Any:
    """Import ``module`` or raise :class:`OptionalDependencyError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise OptionalDependencyError(
            f"this function needs {module}, which is the optional extra {extra!r}; install it "
            f"with pip install 'optimizer-stability[{extra}]' ({install})"
        ) from error


@dataclass(frozen=True)
class ParameterBlock:
    """One parameter tensor's place in the flattened parameter vector.

    Attributes
    ----------
    name : str
        The parameter's name (``named_parameters`` name, or the pytree key path).
    shape : tuple of int
        Its shape.
    start, stop : int
        Its columns ``[start, stop)`` of the flattened Jacobian (entries in C order).
    """

    name: str
    shape: tuple[int, ...]
    start: int
    stop: int


@dataclass(frozen=True, eq=False)
class ModelJacobians:
    """Outputs and per-sample Jacobians of a model, flattened over its parameter blocks.

    Attributes
    ----------
    outputs : ndarray, shape (n, k)
        The model's outputs (``k`` per sample; a scalar output gives ``k = 1``).
    jacobians : ndarray, shape (n, k, d)
        ``jacobians[i, c, :]`` is the gradient of output ``c`` of sample ``i``.
    blocks : tuple of ParameterBlock
        Which columns hold which parameter, in the order of the flattening.
    """

    outputs: np.ndarray
    jacobians: np.ndarray
    blocks: tuple[ParameterBlock, ...]

    @property
    def samples(self) -> int:
        """The number of samples ``n``."""
        return int(self.jacobians.shape[0])

    @property
    def dimension(self) -> int:
        """The number of parameters ``d``."""
        return int(self.jacobians.shape[2])

    def block(self, name: str) -> np.ndarray:
        """The Jacobian of one parameter, shape ``(n, k, *shape)``.

        Parameters
        ----------
        name : str
            Name of the parameter block (as in ``blocks``).
        """
        for block in self.blocks:
            if block.name == name:
                part = self.jacobians[:, :, block.start : block.stop]
                return part.reshape(*part.shape[:2], *block.shape)
        names = ", ".join(block.name for block in self.blocks)
        raise InvalidInputError(f"name must be one of the parameter blocks {names}; got {name!r}")


@dataclass(frozen=True)
class MinimumReport:
    """Is the point a minimum where the Gauss–Newton form is the Hessian?

    Attributes
    ----------
    loss : float
        The loss (of the chosen convention) over all samples.
    gradient_norm : float
        ``‖∇_θ L‖``.
    largest_residual : float
        The largest ``|f − y|`` (square losses) or ``|softmax f − y|`` (cross-entropy):
        the Hessian differs from the Gauss–Newton form by a term linear in these.
    tolerance : float
        The residual below which the Gauss–Newton form counts as the Hessian.
    """

    loss: float
    gradient_norm: float
    largest_residual: float
    tolerance: float

    @property
    def gauss_newton_is_hessian(self) -> bool:
        """Whether every residual is within ``tolerance``."""
        return self.largest_residual <= self.tolerance

    def message(self, family: str = "square") -> str:
        """A sentence saying what was found (used by the warning).

        Parameters
        ----------
        family : str, default 'square'
            Loss family, ``'square'`` or ``'cross_entropy'`` (the latter adds a note on
            its Gauss–Newton form).
        """
        text = (
            f"the Gauss–Newton form J_iᵀ Λ_i J_i is not the Hessian at this point: the "
            f"largest residual is {self.largest_residual:.3g} (tolerance {self.tolerance:.3g}), "
            f"loss {self.loss:.3g}, gradient norm {self.gradient_norm:.3g}; the thresholds "
            "are those of the Gauss–Newton matrix"
        )
        if family == "cross_entropy":
            text += (
                ". With one-hot targets cross-entropy has no minimum at finite parameters; "
                "use soft targets or label_smoothing > 0 and polish to softmax f = y"
            )
        else:
            text += "; polish() takes a trained model to a nearby interpolating minimum"
        return text


@dataclass(frozen=True)
class PolishReport:
    """What a Levenberg–Marquardt polish did.

    Attributes
    ----------
    before, after : MinimumReport
        Loss, gradient norm and largest residual at the start and at the end.
    steps : int
        Accepted steps.
    evaluations : int
        Evaluations of the model's outputs (accepted and rejected trial points).
    converged : bool
        Whether the largest residual reached the requested tolerance.
    """

    before: MinimumReport
    after: MinimumReport
    steps: int
    evaluations: int
    converged: bool

    def __str__(self) -> str:
        return (
            f"loss {self.before.loss:.3e} -> {self.after.loss:.3e}, gradient norm "
            f"{self.before.gradient_norm:.3e} -> {self.after.gradient_norm:.3e}, largest "
            f"residual {self.before.largest_residual:.3e} -> {self.after.largest_residual:.3e} "
            f"in {self.steps} steps ({'converged' if self.converged else 'not converged'})"
        )


# ------------------------------------------------------------------ arrays


def as_outputs(outputs: np.ndarray, samples: int) -> np.ndarray:
    """Outputs of ``samples`` samples as ``(n, k)``: trailing dimensions are flattened."""
    array = np.asarray(outputs, dtype=float)
    return array.reshape(samples, -1)


def flatten_blocks(
    blocks: Sequence[tuple[str, np.ndarray]], samples: int, outputs: int
) -> tuple[np.ndarray, tuple[ParameterBlock, ...]]:
    """Concatenate per-parameter Jacobians ``(n, k, *shape)`` into ``(n, k, d)``, in order."""
    layout: list[ParameterBlock] = []
    parts: list[np.ndarray] = []
    start = 0
    for name, block in blocks:
        array = np.asarray(block, dtype=float)
        shape = tuple(int(size) for size in array.shape[2:])
        part = array.reshape(samples, outputs, -1)
        layout.append(ParameterBlock(name, shape, start, start + part.shape[2]))
        parts.append(part)
        start += part.shape[2]
    if not parts:
        raise InvalidInputError("parameters must hold at least one parameter tensor")
    return np.concatenate(parts, axis=2), tuple(layout)


def check_targets(targets: Any, samples: int) -> np.ndarray:
    """Targets as a NumPy array with one entry (or row) per sample."""
    array = np.asarray(targets)
    if array.ndim == 0 or array.shape[0] != samples:
        raise DimensionError(
            f"targets must have one entry or row per sample ({samples}); got shape {array.shape}"
        )
    return array


def chunks(samples: int, chunk_size: int | None) -> list[slice]:
    """Consecutive slices of at most ``chunk_size`` samples (all samples if ``None``)."""
    if chunk_size is None:
        return [slice(0, samples)]
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
        raise InvalidTypeError(f"chunk_size must be a positive integer or None; got {chunk_size!r}")
    if chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be at least 1; got {chunk_size}")
    starts = range(0, samples, chunk_size)
    return [slice(start, min(start + chunk_size, samples)) for start in starts]


def matrix_square_roots(matrices: np.ndarray) -> np.ndarray:
    """Symmetric square roots of a stack of PSD matrices (rounding negatives to zero)."""
    eigenvalues, vectors = np.linalg.eigh(matrices)
    roots = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return np.einsum("nij,nj,nkj->nik", vectors, roots, vectors)


# ------------------------------------------------------------------ checks


def largest_residual(convention: LossConvention, outputs: np.ndarray, targets: Any) -> float:
    """``max |r_i|`` of the convention's residuals (:meth:`LossConvention.residuals`)."""
    return float(np.max(np.abs(convention.residuals(outputs, targets)), initial=0.0))


def minimum_report(
    convention: LossConvention,
    outputs: np.ndarray,
    targets: Any,
    jacobians: np.ndarray | None,
    tolerance: float = DEFAULT_RESIDUAL_TOLERANCE,
    *,
    gradient: np.ndarray | None = None,
) -> MinimumReport:
    """Loss, gradient norm ``‖Σ_i J_iᵀ ∂L/∂f_i‖`` and largest residual at one point.

    The gradient is formed from ``jacobians`` ``(n, k, d)`` unless it is given.
    """
    if gradient is None:
        weights = convention.output_gradients(outputs, targets)
        gradient = weights.reshape(-1) @ jacobians.reshape(weights.size, -1)
    return MinimumReport(
        loss=convention.value(outputs, targets),
        gradient_norm=float(np.linalg.norm(gradient)),
        largest_residual=largest_residual(convention, outputs, targets),
        tolerance=float(tolerance),
    )


def warn_unless_minimum(
    report: MinimumReport, convention: LossConvention, stacklevel: int = 3
) -> None:
    """Issue a :class:`GaussNewtonWarning` if the residuals are above tolerance."""
    if not report.gauss_newton_is_hessian:
        warnings.warn(
            report.message(convention.family), GaussNewtonWarning, stacklevel=stacklevel
        )


def check_tolerance(tolerance: Any, name: str = "tolerance") -> float:
    """A finite positive tolerance."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float | np.floating):
        raise InvalidTypeError(f"{name} must be a positive number; got {tolerance!r}")
    if not np.isfinite(tolerance) or tolerance <= 0:
        raise InvalidInputError(f"{name} must be a positive finite number; got {tolerance}")
    return float(tolerance)


# ------------------------------------------------------------------ problems


def quadratic(jacobians: np.ndarray, output_hessians: np.ndarray) -> Quadratic:
    """The problem with ``H_i = J_iᵀ Λ_i J_i`` (per-sample Jacobians ``(n, k, d)``)."""
    return Quadratic.from_jacobians(jacobians, output_hessians=output_hessians)


# ------------------------------------------------------------------ polish


def _cross_entropy_basis(outputs: int) -> np.ndarray:
    """Orthonormal basis (k, k − 1) of the vectors with zero sum: logit differences."""
    centring = np.eye(outputs) - 1.0 / outputs
    left, _, _ = np.linalg.svd(centring)
    return left[:, : outputs - 1]


def polish_residuals(
    convention: LossConvention, outputs: np.ndarray, targets: Any
) -> np.ndarray:
    """Residual vector whose zero set is the convention's minima (see :func:`polish_matrix`).

    Square losses: ``f_i − y_i``. Cross-entropy with targets ``y_i > 0``: the logits minus
    ``log y_i``, up to the constant shift softmax ignores (``Qᵀ (f_i − log y_i)`` with
    ``Q`` an orthonormal basis of zero-sum vectors), zero exactly where ``softmax f_i = y_i``.
    """
    if isinstance(convention, SquareLoss):
        return convention.residuals(outputs, targets).reshape(-1)
    if isinstance(convention, CrossEntropyLoss):
        probabilities = convention.target_probabilities(targets, outputs.shape)
        if np.any(probabilities <= 0):
            raise InvalidInputError(
                "targets: cross-entropy with a zero target probability (one-hot labels) has "
                "no minimum at finite parameters, so there is nothing to polish to; use soft "
                "targets or label_smoothing > 0"
            )
        basis = _cross_entropy_basis(outputs.shape[1])
        return ((outputs - np.log(probabilities)) @ basis).reshape(-1)
    raise InvalidTypeError(  # pragma: no cover - every convention is one of the two
        f"loss must be a square or cross-entropy convention; got {type(convention).__name__}"
    )


def polish_matrix(convention: LossConvention, jacobians: np.ndarray) -> np.ndarray:
    """The Jacobian of :func:`polish_residuals` with respect to the parameters."""
    samples, size, dimension = jacobians.shape
    if isinstance(convention, CrossEntropyLoss):
        projected = np.matmul(_cross_entropy_basis(size).T, jacobians)
        return projected.reshape(samples * (size - 1), dimension)
    return jacobians.reshape(samples * size, dimension)


def _damped_step(matrix: np.ndarray, residuals: np.ndarray, damping: float) -> np.ndarray:
    """The Levenberg–Marquardt step ``−(AᵀA + μI)⁻¹ Aᵀ r`` in its cheaper orientation."""
    rows, columns = matrix.shape
    if rows <= columns:  # −Aᵀ (AAᵀ + μI)⁻¹ r: the minimum-norm step as μ → 0
        gram = matrix @ matrix.T
        gram[np.diag_indices_from(gram)] += damping
        weights = scipy.linalg.solve(gram, residuals, assume_a="pos", check_finite=False)
        return -matrix.T @ weights
    normal = matrix.T @ matrix
    normal[np.diag_indices_from(normal)] += damping
    return -scipy.linalg.solve(normal, matrix.T @ residuals, assume_a="pos", check_finite=False)


def levenberg_marquardt(
    outputs_at: Callable[[np.ndarray], np.ndarray],
    jacobians_at: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    convention: LossConvention,
    targets: Any,
    *,
    steps: int,
    tolerance: float,
    check_tolerance_value: float,
) -> tuple[np.ndarray, PolishReport]:
    """Levenberg–Marquardt on the residuals of :func:`polish_residuals`.

    ``outputs_at(θ)`` gives the ``(n, k)`` outputs and ``jacobians_at(θ)`` the ``(n, k, d)``
    Jacobians at a flat float64 parameter vector. Stops when the largest residual of the
    convention (:meth:`LossConvention.residuals`) is at most ``tolerance``.
    """
    parameters = np.array(start, dtype=float)
    outputs = outputs_at(parameters)
    jacobians = jacobians_at(parameters)
    before = minimum_report(convention, outputs, targets, jacobians, check_tolerance_value)
    residuals = polish_residuals(convention, outputs, targets)
    matrix = polish_matrix(convention, jacobians)
    objective = 0.5 * float(residuals @ residuals)
    scale = float(np.einsum("ij,ij->", matrix, matrix)) / max(matrix.shape[0], 1)
    damping = 1e-8 * max(scale, np.finfo(float).tiny)
    accepted = evaluations = 0
    largest = before.largest_residual
    for _ in range(steps):
        if largest <= tolerance:
            break
        step = _damped_step(matrix, residuals, damping)
        trial = parameters + step
        trial_outputs = outputs_at(trial)
        evaluations += 1
        trial_residuals = polish_residuals(convention, trial_outputs, targets)
        trial_objective = 0.5 * float(trial_residuals @ trial_residuals)
        if np.isfinite(trial_objective) and trial_objective < objective:
            parameters, outputs = trial, trial_outputs
            jacobians = jacobians_at(parameters)
            residuals = trial_residuals
            matrix = polish_matrix(convention, jacobians)
            objective = trial_objective
            largest = largest_residual(convention, outputs, targets)
            damping = max(damping / 10.0, 1e-15 * scale)
            accepted += 1
        else:
            damping *= 10.0
            if damping > 1e12 * max(scale, 1.0):
                break
    after = minimum_report(convention, outputs, targets, jacobians, check_tolerance_value)
    report = PolishReport(
        before=before,
        after=after,
        steps=accepted,
        evaluations=evaluations,
        converged=after.largest_residual <= tolerance,
    )
    return parameters, report


def check_steps(steps: Any) -> int:
    """A non-negative number of steps."""
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        raise InvalidInputError(f"steps must be a non-negative integer; got {steps!r}")
    return int(steps)


# ------------------------------------------------------------------ generic drivers


def with_output(single: Callable[[Any, Any], Any]) -> Callable[[Any, Any], tuple[Any, Any]]:
    """``single`` returning its output twice: the auxiliary output of ``jacrev(has_aux=True)``.

    Both frameworks differentiate ``(params, sample) ↦ f(sample)`` and keep ``f`` itself as
    the auxiliary value, so one call gives the outputs and the Jacobians.
    """

    def pair(params: Any, sample: Any) -> tuple[Any, Any]:
        output = single(params, sample)
        return output, output

    return pair


class ModelFunctions:
    """What a framework adapter provides: outputs and per-sample Jacobian blocks.

    Subclasses call :meth:`set_parameters` (which sets ``blocks``, the flattening, and
    ``start``, the flat float64 parameters), set ``samples`` (``n``) and implement
    :meth:`outputs` and :meth:`jacobian_blocks`; they may override :meth:`as_targets`.
    Everything else (chunking, flattening, checks, polish, problems) is done here.
    """

    samples: int
    blocks: tuple[ParameterBlock, ...]
    start: np.ndarray

    def set_parameters(self, names: Sequence[str], values: Sequence[np.ndarray]) -> None:
        """Lay the parameter arrays out block after block, each in C order."""
        layout: list[ParameterBlock] = []
        start = 0
        for name, value in zip(names, values, strict=True):
            shape = tuple(int(size) for size in value.shape)
            stop = start + int(np.prod(shape, dtype=int))
            layout.append(ParameterBlock(name, shape, start, stop))
            start = stop
        self.blocks = tuple(layout)
        flat = [np.asarray(value, dtype=np.float64).reshape(-1) for value in values]
        self.start = np.concatenate(flat) if flat else np.zeros(0)

    def outputs(self, parameters: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """The ``(n, k)`` outputs at the flat parameters."""
        raise NotImplementedError

    def jacobian_blocks(
        self, parameters: np.ndarray, rows: slice
    ) -> tuple[np.ndarray, list[np.ndarray]]:  # pragma: no cover - abstract
        """Outputs ``(c, k)`` and per-block Jacobians ``(c, k, *shape)`` of samples ``rows``."""
        raise NotImplementedError

    def as_targets(self, targets: Any) -> np.ndarray:
        """The targets as a NumPy array (frameworks convert their own tensors)."""
        return np.asarray(targets)

    def chunk(self, parameters: np.ndarray, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``(c, k)`` and flattened Jacobians ``(c, k, d)`` of the samples ``rows``."""
        outputs, blocks = self.jacobian_blocks(parameters, rows)
        count = rows.stop - rows.start
        outputs = as_outputs(outputs, count)
        named = [(block.name, part) for block, part in zip(self.blocks, blocks, strict=True)]
        flat, _ = flatten_blocks(named, count, outputs.shape[1])
        return outputs, flat

    def jacobians(
        self, parameters: np.ndarray, chunk_size: int | None = None, progress: Any = False
    ) -> ModelJacobians:
        """Outputs and flattened Jacobians of all samples, computed ``chunk_size`` at a time."""
        from stability.progress import as_progress

        meter = as_progress(progress)
        slices = chunks(self.samples, chunk_size)
        meter.start(self.samples, "per-sample Jacobians")
        outputs: np.ndarray | None = None
        jacobians: np.ndarray | None = None
        try:
            for rows in slices:
                chunk_outputs, flat = self.chunk(parameters, rows)
                if jacobians is None:  # allocate once: the chunks are written in place
                    size = chunk_outputs.shape[1]
                    outputs = np.empty((self.samples, size))
                    jacobians = np.empty((self.samples, size, flat.shape[2]))
                outputs[rows] = chunk_outputs
                jacobians[rows] = flat
                meter.update(rows.stop - rows.start)
        finally:
            meter.close()
        return ModelJacobians(outputs=outputs, jacobians=jacobians, blocks=self.blocks)

    def unflatten(self, parameters: np.ndarray) -> list[np.ndarray]:
        """The flat vector cut into the blocks' arrays, in order."""
        return [parameters[block.start : block.stop].reshape(block.shape) for block in self.blocks]


def run_check(
    functions: ModelFunctions,
    targets: Any,
    loss: Any,
    *,
    chunk_size: int | None,
    tolerance: float,
    warn: bool,
) -> MinimumReport:
    """:func:`minimum_report` at the model's current parameters, warning if asked to."""
    convention = loss_convention(loss)
    tolerance = check_tolerance(tolerance)
    computed = functions.jacobians(functions.start, chunk_size)
    targets = check_targets(functions.as_targets(targets), functions.samples)
    report = minimum_report(convention, computed.outputs, targets, computed.jacobians, tolerance)
    if warn:
        warn_unless_minimum(report, convention, stacklevel=4)
    return report


def run_polish(
    functions: ModelFunctions,
    targets: Any,
    loss: Any,
    *,
    steps: int,
    tolerance: float,
    chunk_size: int | None,
) -> tuple[np.ndarray, PolishReport]:
    """Levenberg–Marquardt from the model's parameters; returns the flat result."""
    convention = loss_convention(loss)
    steps = check_steps(steps)
    tolerance = check_tolerance(tolerance)
    targets = check_targets(functions.as_targets(targets), functions.samples)
    return levenberg_marquardt(
        functions.outputs,
        lambda parameters: functions.jacobians(parameters, chunk_size).jacobians,
        functions.start,
        convention,
        targets,
        steps=steps,
        tolerance=tolerance,
        check_tolerance_value=max(tolerance, DEFAULT_RESIDUAL_TOLERANCE),
    )


def run_build(
    functions: ModelFunctions,
    targets: Any,
    loss: Any,
    *,
    batch_size: int | None,
    form: str,
    chunk_size: int | None,
    check: bool,
    tolerance: float,
    progress: Any,
) -> Quadratic:
    """The :class:`Quadratic` of the model at its parameters under the loss convention."""
    convention = loss_convention(loss)
    if form not in ("jacobians", "ntk"):
        raise InvalidInputError(f"form must be 'jacobians' or 'ntk'; got {form!r}")
    tolerance = check_tolerance(tolerance)
    targets = check_targets(functions.as_targets(targets), functions.samples)
    if form == "jacobians":
        computed = functions.jacobians(functions.start, chunk_size, progress)
        outputs, jacobians = computed.outputs, computed.jacobians
        curvatures = convention.output_hessians(outputs, targets, batch_size=batch_size)
        if check:
            report = minimum_report(convention, outputs, targets, jacobians, tolerance)
            warn_unless_minimum(report, convention, stacklevel=4)
        return quadratic(jacobians, curvatures)
    gram, outputs, gradient = block_ntk(
        functions, targets, convention, batch_size=batch_size, chunk_size=chunk_size,
        progress=progress,
    )
    if check:
        report = minimum_report(convention, outputs, targets, None, tolerance, gradient=gradient)
        warn_unless_minimum(report, convention, stacklevel=4)
    return Quadratic.from_gram(gram)


def block_ntk(
    functions: ModelFunctions,
    targets: Any,
    convention: LossConvention,
    *,
    batch_size: int | None,
    chunk_size: int | None,
    progress: Any = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block NTK ``K[i, :, j, :] = Λ_i^{1/2} J_i J_jᵀ Λ_j^{1/2}`` of shape ``(n, k, n, k)``.

    Computed chunk pair by chunk pair, holding the Jacobians of two chunks at a time
    (memory ``O(chunk · k · d + (n k)²)``, at the cost of recomputing Jacobians). Also
    returns the outputs and the gradient ``Σ_i J_iᵀ ∂L/∂f_i`` of the loss.
    """
    from stability.progress import as_progress

    slices = chunks(functions.samples, chunk_size)
    meter = as_progress(progress)
    meter.start(len(slices) * (len(slices) + 1) // 2, "block NTK")
    parameters = functions.start
    samples = functions.samples
    gram: np.ndarray | None = None
    outputs: np.ndarray | None = None
    gradient = np.zeros(int(parameters.shape[0]))

    def factor(rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outputs, Jacobians and ``Λ_i^{1/2} J_i`` of a chunk of samples."""
        chunk_outputs, flat = functions.chunk(parameters, rows)
        roots = matrix_square_roots(_curvatures(convention, chunk_outputs, samples, batch_size))
        return chunk_outputs, flat, np.matmul(roots, flat)

    try:
        for index, left_rows in enumerate(slices):
            left_outputs, left, left_factor = factor(left_rows)
            if gram is None:
                size = left_outputs.shape[1]
                gram = np.empty((samples, size, samples, size))
                outputs = np.empty((samples, size))
            outputs[left_rows] = left_outputs
            for right_rows in slices[index:]:
                right_factor = left_factor if right_rows == left_rows else factor(right_rows)[2]
                rows_left, size = left_factor.shape[:2]
                rows_right = right_factor.shape[0]
                block = (
                    left_factor.reshape(rows_left * size, -1)
                    @ right_factor.reshape(rows_right * size, -1).T
                ).reshape(rows_left, size, rows_right, size)
                gram[left_rows, :, right_rows, :] = block
                gram[right_rows, :, left_rows, :] = np.transpose(block, (2, 3, 0, 1))
                meter.update(1)
            weights = _gradients(convention, left_outputs, targets, left_rows, samples)
            gradient += weights.reshape(-1) @ left.reshape(weights.size, -1)
    finally:
        meter.close()
    return gram, outputs, gradient


def _curvatures(
    convention: LossConvention, outputs: np.ndarray, samples: int, batch_size: int | None
) -> np.ndarray:
    """``Λ_i`` of a chunk of samples, scaled as for all ``samples`` samples."""
    curvatures = convention.output_hessians(outputs, batch_size=batch_size)
    if convention.samples == "sum":  # the chunk's own size must not set the scale
        curvatures *= convention.sample_scale(samples, batch_size) / convention.sample_scale(
            outputs.shape[0], batch_size
        )
    return curvatures


def _gradients(
    convention: LossConvention,
    outputs: np.ndarray,
    targets: np.ndarray,
    rows: slice,
    samples: int,
) -> np.ndarray:
    """``∂L/∂f_i`` of the full loss for a chunk of samples."""
    gradients = convention.output_gradients(outputs, targets[rows])
    if convention.samples == "mean":  # the chunk's mean weights 1/c; the full loss 1/n
        gradients *= outputs.shape[0] / samples
    return gradients
