"""Loss conventions: which per-sample output curvatures ``Λ_i`` a training loss gives.

Theory: ``docs/theory/losses.md``.

A model ``f(x; θ)`` with ``k`` outputs is trained on a loss built from per-sample terms
``ℓ(f(x_i; θ), y_i)``. Frameworks differ in the constants: PyTorch's ``MSELoss`` has no
``½`` and averages over samples *and* outputs, optax's ``l2_loss`` has the ``½``, a
``reduction='sum'`` loss grows with the batch. A :class:`Quadratic` always reads its
per-sample Hessians as ``H = (1/n) Σ_i H_i`` and a minibatch step as the mean over the
batch, so each convention here says which ``Λ_i`` make

    H_i = J_iᵀ Λ_i J_i,     (1/n) Σ_i H_i = the Gauss–Newton Hessian of the loss you minimise,

with ``J_i`` the ``k × d`` Jacobian of the outputs of sample ``i``. At an interpolating
minimum of a square loss (``f(x_i) = y_i``), and at a minimum of cross-entropy with soft
targets where ``softmax f(x_i) = y_i``, this Gauss–Newton form *is* the Hessian; elsewhere
the Hessian has the extra term ``Σ_i w Σ_c (∂ℓ_i/∂f_c) ∇²f_c(x_i)``, which these ``Λ_i``
leave out.

Named conventions (:data:`LOSS_CONVENTIONS`; ``n`` samples per step, ``k`` outputs,
``p_i = softmax(f_i)``):

| name                   | loss                                 | ``Λ_i``                      |
|------------------------|--------------------------------------|------------------------------|
| ``half_squared_error`` | ``(1/n) Σ_i ½ ‖f_i − y_i‖²``         | ``I``                        |
| ``squared_error``      | ``(1/n) Σ_i ‖f_i − y_i‖²``           | ``2 I``                      |
| ``mse``                | ``(1/(n k)) Σ_i ‖f_i − y_i‖²``       | ``(2/k) I``                  |
| ``half_mse``           | ``(1/(n k)) Σ_i ½ ‖f_i − y_i‖²``     | ``(1/k) I``                  |
| ``sse``                | ``Σ_i ‖f_i − y_i‖²``                 | ``2 n I``                    |
| ``cross_entropy``      | ``(1/n) Σ_i −Σ_c y_ic log p_ic``     | ``diag p_i − p_i p_iᵀ``      |
| ``cross_entropy_sum``  | ``Σ_i −Σ_c y_ic log p_ic``           | ``n (diag p_i − p_i p_iᵀ)``  |

Aliases name the framework call each one reproduces: ``"torch.nn.MSELoss"`` (``mse``),
``"torch.nn.MSELoss(reduction='sum')"`` (``sse``), ``"torch.nn.CrossEntropyLoss"``
(``cross_entropy``), ``"torch.nn.CrossEntropyLoss(reduction='sum')"``
(``cross_entropy_sum``), ``"optax.l2_loss"`` (``half_mse``: ``optax.l2_loss(f, y).mean()``),
``"optax.squared_error"`` (``mse``), ``"optax.softmax_cross_entropy"`` (``cross_entropy``:
``optax.softmax_cross_entropy(f, y).mean()``), and ``"square"`` (``half_squared_error``, the
package's default, ``optax.l2_loss(f, y).sum(axis=-1).mean()``).

Examples
--------
>>> import numpy as np
>>> from stability.losses import loss_convention
>>> mse = loss_convention("torch.nn.MSELoss")
>>> mse.name, mse.formula
('mse', '(1/(n k)) Σ_i ‖f_i − y_i‖²')
>>> outputs = np.zeros((3, 4))                       # 3 samples, 4 outputs
>>> mse.output_hessians(outputs)[0]                  # (2/k) I with k = 4
array([[0.5, 0. , 0. , 0. ],
       [0. , 0.5, 0. , 0. ],
       [0. , 0. , 0.5, 0. ],
       [0. , 0. , 0. , 0.5]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from stability.errors import DimensionError, InvalidInputError, InvalidTypeError

__all__ = [
    "LOSS_ALIASES",
    "LOSS_CONVENTIONS",
    "CrossEntropyLoss",
    "LossConvention",
    "SquareLoss",
    "loss_convention",
]

Reduction = Literal["mean", "sum"]


def _check_reduction(value: Any, name: str) -> Reduction:
    if value not in ("mean", "sum"):
        raise InvalidInputError(f"{name} must be 'mean' or 'sum'; got {value!r}")
    return value


def _as_outputs(outputs: Any) -> np.ndarray:
    """Outputs as a float64 (n, k) array; a vector (n,) is one output per sample."""
    array = np.asarray(outputs, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DimensionError(
            f"outputs must have shape (samples, outputs) or (samples,); got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInputError("outputs must be finite; got NaN or infinite entries")
    return array


def _shifted_logits(outputs: np.ndarray) -> np.ndarray:
    """Logits minus their row maximum: the same softmax, with no overflow in ``exp``."""
    return outputs - outputs.max(axis=1, keepdims=True)


def _samples_per_step(batch_size: Any, samples: int) -> int:
    if batch_size is None:
        return samples
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise InvalidTypeError(f"batch_size must be an integer or None; got {batch_size!r}")
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1; got {batch_size}")
    return int(batch_size)


@dataclass(frozen=True)
class LossConvention:
    """Base class of loss conventions (see :class:`SquareLoss`, :class:`CrossEntropyLoss`).

    A loss over a step is ``w Σ_i ℓ(f_i, y_i)`` with ``w = 1/n`` (``samples="mean"``) or
    ``1`` (``"sum"``). The public methods are written once here from three per-sample
    quantities a family supplies: its term ``ℓ``, the gradient ``∂ℓ/∂f`` and the curvature
    ``∂²ℓ/∂f²`` (with the residuals that vanish at its minima).

    Attributes
    ----------
    samples : {"mean", "sum"}
        How the per-sample terms are combined over the samples of a step.
    """

    samples: Reduction = "mean"

    #: The model is fitted when these residuals are zero (see :meth:`residuals`).
    family: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _check_reduction(self.samples, "samples")

    @property
    def name(self) -> str:
        """The registered name of this convention, or its ``repr`` if it has none."""
        for name, convention in LOSS_CONVENTIONS.items():
            if convention == self:
                return name
        return repr(self)

    @property
    def formula(self) -> str:  # pragma: no cover - overridden
        """The loss as a formula in ``f_i`` (outputs), ``y_i`` (targets), ``n`` and ``k``."""
        raise NotImplementedError

    def sample_scale(self, samples: int, batch_size: int | None = None) -> float:
        """``n w``: the factor between the per-sample curvature and ``Λ_i``.

        ``w`` is the weight of one sample in the loss of a step (``1/B`` for a mean over
        ``B`` samples, ``1`` for a sum); a sum over a step of ``B`` samples gives ``B``.

        Parameters
        ----------
        samples : int
            Number of training samples n.
        batch_size : int | None, default None
            Batch size B; None is the full batch.

        Examples
        --------
        >>> from stability.losses import loss_convention
        >>> loss_convention("mse").sample_scale(10), loss_convention("sse").sample_scale(10, 4)
        (1.0, 4.0)
        """
        if self.samples == "mean":
            return 1.0
        return float(_samples_per_step(batch_size, samples))

    def _over_samples(self, values: Any, samples: int) -> Any:
        """``w · values``: divided by the ``n`` samples for a mean, unchanged for a sum."""
        return values / samples if self.samples == "mean" else values

    # The per-sample quantities of a family, on checked (n, k) outputs.
    def _curvatures(self, outputs: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def _total(self, outputs: np.ndarray, targets: Any) -> float:  # pragma: no cover
        raise NotImplementedError

    def _term_gradients(self, outputs: np.ndarray, targets: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _residuals(self, outputs: np.ndarray, targets: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def output_hessians(
        self, outputs: Any, targets: Any = None, *, batch_size: int | None = None
    ) -> np.ndarray:
        """Per-sample output curvatures ``Λ_i = n w ∂²ℓ/∂f²`` of shape ``(n, k, k)``.

        Square losses: ``n w · 2a · I``; cross-entropy: ``n w (diag p_i − p_i p_iᵀ)``.

        Parameters
        ----------
        outputs : array_like, shape (n, k) or (n,)
            The model's outputs (the logits for cross-entropy; only their shape matters
            for a square loss).
        targets : array_like, optional
            Not needed: neither family's curvature depends on them (accepted for a
            uniform signature).
        batch_size : int, optional
            For ``samples="sum"``: the number of samples summed in one step (default
            ``n``, full batch). Ignored for a mean.

        Examples
        --------
        >>> from stability.losses import CrossEntropyLoss, SquareLoss
        >>> SquareLoss(half=False, outputs="sum", samples="sum").output_hessians(
        ...     [[0.0], [1.0]], batch_size=1)
        array([[[2.]],
        <BLANKLINE>
               [[2.]]])
        >>> CrossEntropyLoss(samples="sum").output_hessians([[0.0, 0.0]], batch_size=4)
        array([[[ 1., -1.],
                [-1.,  1.]]])
        """
        array = _as_outputs(outputs)
        return self.sample_scale(array.shape[0], batch_size) * self._curvatures(array)

    def value(self, outputs: Any, targets: Any) -> float:
        """The loss ``w Σ_i ℓ(f_i, y_i)`` over all ``n`` samples, as the framework computes it.

        Parameters
        ----------
        outputs : array_like, shape (n, k) or (n,)
            Model outputs, one row per sample.
        targets : array_like
            Targets, one row per sample (cross-entropy: class indices or probabilities).

        Examples
        --------
        >>> from stability.losses import CrossEntropyLoss, SquareLoss
        >>> SquareLoss().value([[1.0, 2.0]], [[0.0, 0.0]])           # ½ (1 + 4)
        2.5
        >>> round(CrossEntropyLoss(samples="sum").value([[0.0, 0.0], [0.0, 0.0]], [0, 1]), 6)
        1.386294
        """
        array = _as_outputs(outputs)
        return float(self._over_samples(self._total(array, targets), array.shape[0]))

    def output_gradients(self, outputs: Any, targets: Any) -> np.ndarray:
        """``∂L/∂f_i = w ∂ℓ/∂f``, shape ``(n, k)``: ``w · 2a (f_i − y_i)`` or ``w (p_i − y_i)``.

        Parameters
        ----------
        outputs : array_like, shape (n, k) or (n,)
            Model outputs, one row per sample.
        targets : array_like
            Targets, one row per sample.

        Examples
        --------
        >>> from stability.losses import CrossEntropyLoss, SquareLoss
        >>> SquareLoss().output_gradients([[1.0], [3.0]], [[0.0], [0.0]])
        array([[0.5],
               [1.5]])
        >>> CrossEntropyLoss().output_gradients([[0.0, 0.0]], [0])
        array([[-0.5,  0.5]])
        """
        array = _as_outputs(outputs)
        return self._over_samples(self._term_gradients(array, targets), array.shape[0])

    def residuals(self, outputs: Any, targets: Any) -> np.ndarray:
        """Per-sample residuals ``(n, k)``, all zero exactly at a minimum where the
        Gauss–Newton form is the Hessian.

        Square losses: ``f_i − y_i`` (zero at an interpolating minimum); cross-entropy:
        ``p_i − y_i`` (zero exactly at a minimum, possible only for soft targets).

        Parameters
        ----------
        outputs : array_like, shape (n, k) or (n,)
            Model outputs, one row per sample.
        targets : array_like
            Targets, one row per sample.

        Examples
        --------
        >>> from stability.losses import CrossEntropyLoss, SquareLoss
        >>> SquareLoss().residuals([[1.0]], [[0.25]])
        array([[0.75]])
        >>> CrossEntropyLoss(label_smoothing=0.5).residuals([[0.0, 0.0]], [0])
        array([[-0.25,  0.25]])
        """
        return self._residuals(_as_outputs(outputs), targets)


@dataclass(frozen=True)
class SquareLoss(LossConvention):
    """Square loss ``ℓ_i = a ‖f_i − y_i‖²`` combined over samples by a mean or a sum.

    ``a`` is ``½`` or ``1`` (``half``), divided by ``k`` when the outputs are averaged
    (``outputs="mean"``). The output curvature of one sample is ``2a I``, so
    ``Λ_i = n w · 2a · I`` (:meth:`LossConvention.sample_scale`).

    Parameters
    ----------
    half : bool
        Whether each squared difference carries a factor ``½``.
    outputs : {"sum", "mean"}
        How the ``k`` squared differences of one sample are combined.
    samples : {"mean", "sum"}
        How the samples of a step are combined.

    Examples
    --------
    >>> from stability.losses import SquareLoss
    >>> SquareLoss(half=False, outputs="mean").formula          # torch.nn.MSELoss()
    '(1/(n k)) Σ_i ‖f_i − y_i‖²'
    >>> SquareLoss(half=False, outputs="mean").output_hessians([[0.0, 0.0]])
    array([[[1., 0.],
            [0., 1.]]])
    """

    half: bool = True
    outputs: Reduction = "sum"

    family: ClassVar[str] = "square"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_reduction(self.outputs, "outputs")
        if not isinstance(self.half, bool | np.bool_):
            raise InvalidTypeError(f"half must be True or False; got {self.half!r}")

    @property
    def formula(self) -> str:
        """The loss as a formula, e.g. ``'(1/n) Σ_i ½ ‖f_i − y_i‖²'``."""
        prefix = {
            ("mean", "sum"): "(1/n) ",
            ("mean", "mean"): "(1/(n k)) ",
            ("sum", "sum"): "",
            ("sum", "mean"): "(1/k) ",
        }[(self.samples, self.outputs)]
        return f"{prefix}Σ_i {'½ ' if self.half else ''}‖f_i − y_i‖²"

    def _coefficient(self, outputs_per_sample: int) -> float:
        """``a``: the coefficient of ``‖f_i − y_i‖²`` in one sample's term."""
        coefficient = 0.5 if self.half else 1.0
        if self.outputs == "mean":
            coefficient /= outputs_per_sample
        return coefficient

    def _curvatures(self, outputs: np.ndarray) -> np.ndarray:
        samples, size = outputs.shape
        curvature = 2.0 * self._coefficient(size) * np.eye(size)
        return np.broadcast_to(curvature, (samples, size, size)).copy()

    def _total(self, outputs: np.ndarray, targets: Any) -> float:
        difference = self._residuals(outputs, targets)
        return self._coefficient(outputs.shape[1]) * float(np.sum(difference**2))

    def _term_gradients(self, outputs: np.ndarray, targets: Any) -> np.ndarray:
        return 2.0 * self._coefficient(outputs.shape[1]) * self._residuals(outputs, targets)

    def _residuals(self, outputs: np.ndarray, targets: Any) -> np.ndarray:
        array = np.asarray(targets, dtype=float)
        if array.ndim == 1 and outputs.shape[1] == 1:
            array = array[:, None]
        if array.shape != outputs.shape:
            raise DimensionError(
                f"targets must have the shape of the outputs {outputs.shape}; got {array.shape}"
            )
        return outputs - array


@dataclass(frozen=True)
class CrossEntropyLoss(LossConvention):
    """Softmax cross-entropy from logits, ``ℓ_i = −Σ_c y_ic log softmax(f_i)_c``.

    The targets are class indices (shape ``(n,)``) or probabilities (shape ``(n, k)``),
    mixed with the uniform distribution when ``label_smoothing > 0``, as
    ``torch.nn.CrossEntropyLoss(label_smoothing=ε)`` and ``optax.smooth_labels`` do:
    ``y ← (1 − ε) y + ε/k``. The exact curvature with respect to the logits is
    ``diag p_i − p_i p_iᵀ`` (``p_i = softmax f_i``) whatever the targets, so
    ``Λ_i = n w (diag p_i − p_i p_iᵀ)``; the gradient is ``w (p_i − y_i)``.

    A minimum at finite parameters exists only for targets with no zero entry (soft
    targets, or label smoothing): there ``p_i = y_i`` and the Gauss–Newton form is the
    Hessian. With one-hot targets the loss decreases towards zero as the logits grow
    without bound; see ``docs/theory/losses.md``.

    Parameters
    ----------
    samples : {"mean", "sum"}
        How the samples of a step are combined.
    label_smoothing : float
        ``ε`` in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.losses import CrossEntropyLoss
    >>> loss = CrossEntropyLoss()
    >>> loss.output_hessians([[0.0, 0.0]])                    # p = (½, ½)
    array([[[ 0.25, -0.25],
            [-0.25,  0.25]]])
    >>> bool(np.isclose(loss.value([[0.0, 0.0]], [0]), np.log(2)))
    True
    """

    label_smoothing: float = 0.0

    family: ClassVar[str] = "cross_entropy"

    def __post_init__(self) -> None:
        super().__post_init__()
        smoothing = self.label_smoothing
        if isinstance(smoothing, bool) or not isinstance(smoothing, int | float | np.floating):
            raise InvalidTypeError(f"label_smoothing must be a number; got {smoothing!r}")
        if not 0.0 <= float(smoothing) <= 1.0:
            raise InvalidInputError(f"label_smoothing must lie in [0, 1]; got {smoothing}")

    @property
    def formula(self) -> str:
        """The loss as a formula in the softmax probabilities ``p_i``."""
        prefix = "(1/n) " if self.samples == "mean" else ""
        return f"{prefix}Σ_i −Σ_c y_ic log p_ic"

    @staticmethod
    def probabilities(outputs: Any) -> np.ndarray:
        """``softmax`` of the logits, row by row, computed stably.

        Parameters
        ----------
        outputs : Any
            Model outputs, one row per sample.

        Examples
        --------
        >>> from stability.losses import CrossEntropyLoss
        >>> CrossEntropyLoss.probabilities([[0.0, 0.0], [1000.0, 0.0]])
        array([[0.5, 0.5],
               [1. , 0. ]])
        """
        exponentials = np.exp(_shifted_logits(_as_outputs(outputs)))
        return exponentials / exponentials.sum(axis=1, keepdims=True)

    def target_probabilities(self, targets: Any, shape: tuple[int, int]) -> np.ndarray:
        """Targets as an ``(n, k)`` array of probabilities, after label smoothing.

        Parameters
        ----------
        targets : Any
            Targets, one row per sample.
        shape : tuple[int, int]
            Shape ``(n, k)`` of the outputs: samples by classes.

        Examples
        --------
        >>> from stability.losses import CrossEntropyLoss
        >>> CrossEntropyLoss(label_smoothing=0.2).target_probabilities([1], (1, 2))
        array([[0.1, 0.9]])
        """
        samples, size = shape
        array = np.asarray(targets)
        if array.ndim == 1:
            if array.shape[0] != samples or not np.issubdtype(array.dtype, np.integer):
                raise DimensionError(
                    f"targets must be {samples} integer class indices or an array of "
                    f"probabilities of shape {shape}; got shape {array.shape}, "
                    f"dtype {array.dtype}"
                )
            if array.size and (array.min() < 0 or array.max() >= size):
                raise InvalidInputError(f"class indices in targets must lie in [0, {size})")
            probabilities = np.zeros(shape)
            probabilities[np.arange(samples), array] = 1.0
        else:
            probabilities = np.asarray(array, dtype=float)
            if probabilities.shape != shape:
                raise DimensionError(
                    f"targets must be {samples} class indices or probabilities of shape "
                    f"{shape}; got shape {probabilities.shape}"
                )
            if np.any(probabilities < 0) or not np.allclose(probabilities.sum(axis=1), 1.0):
                raise InvalidInputError(
                    "probability targets must be non-negative and sum to one per sample"
                )
        smoothing = float(self.label_smoothing)
        return (1.0 - smoothing) * probabilities + smoothing / size

    def _curvatures(self, outputs: np.ndarray) -> np.ndarray:
        probabilities = self.probabilities(outputs)
        curvature = np.einsum("ni,ij->nij", probabilities, np.eye(outputs.shape[1]))
        curvature -= np.einsum("ni,nj->nij", probabilities, probabilities)
        return curvature

    def _total(self, outputs: np.ndarray, targets: Any) -> float:
        target = self.target_probabilities(targets, outputs.shape)
        shifted = _shifted_logits(outputs)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-np.sum(target * log_probabilities))

    def _term_gradients(self, outputs: np.ndarray, targets: Any) -> np.ndarray:
        return self._residuals(outputs, targets)

    def _residuals(self, outputs: np.ndarray, targets: Any) -> np.ndarray:
        return self.probabilities(outputs) - self.target_probabilities(targets, outputs.shape)


#: The named conventions.
LOSS_CONVENTIONS: dict[str, LossConvention] = {
    "half_squared_error": SquareLoss(half=True, outputs="sum", samples="mean"),
    "squared_error": SquareLoss(half=False, outputs="sum", samples="mean"),
    "mse": SquareLoss(half=False, outputs="mean", samples="mean"),
    "half_mse": SquareLoss(half=True, outputs="mean", samples="mean"),
    "sse": SquareLoss(half=False, outputs="sum", samples="sum"),
    "cross_entropy": CrossEntropyLoss(samples="mean"),
    "cross_entropy_sum": CrossEntropyLoss(samples="sum"),
}

#: Other names of the conventions: the framework calls they reproduce.
LOSS_ALIASES: dict[str, str] = {
    "square": "half_squared_error",
    "torch.nn.MSELoss": "mse",
    "torch.nn.MSELoss(reduction='mean')": "mse",
    "torch.nn.MSELoss(reduction='sum')": "sse",
    "torch.nn.CrossEntropyLoss": "cross_entropy",
    "torch.nn.CrossEntropyLoss(reduction='mean')": "cross_entropy",
    "torch.nn.CrossEntropyLoss(reduction='sum')": "cross_entropy_sum",
    "optax.l2_loss": "half_mse",
    "optax.squared_error": "mse",
    "optax.softmax_cross_entropy": "cross_entropy",
    "optax.softmax_cross_entropy_with_integer_labels": "cross_entropy",
}


def loss_convention(loss: Any) -> LossConvention:
    """The :class:`LossConvention` named by ``loss`` (or ``loss`` itself if it is one).

    Parameters
    ----------
    loss : str or LossConvention
        A name from :data:`LOSS_CONVENTIONS` or :data:`LOSS_ALIASES`, or a convention.

    Raises
    ------
    InvalidInputError
        If the name is unknown (the message lists the names).
    InvalidTypeError
        If ``loss`` is neither a string nor a convention.

    Examples
    --------
    >>> from stability.losses import loss_convention
    >>> loss_convention("optax.l2_loss").formula
    '(1/(n k)) Σ_i ½ ‖f_i − y_i‖²'
    >>> loss_convention("torch.nn.CrossEntropyLoss(reduction='sum')").name
    'cross_entropy_sum'
    """
    if isinstance(loss, LossConvention):
        return loss
    if not isinstance(loss, str):
        raise InvalidTypeError(
            f"loss must be a loss name or a stability.losses.LossConvention; "
            f"got {type(loss).__name__}"
        )
    name = LOSS_ALIASES.get(loss, loss)
    if name not in LOSS_CONVENTIONS:
        names = ", ".join(sorted([*LOSS_CONVENTIONS, *LOSS_ALIASES]))
        raise InvalidInputError(f"loss must be one of {names}; got {loss!r}")
    return LOSS_CONVENTIONS[name]
