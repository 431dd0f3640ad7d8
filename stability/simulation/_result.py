"""The outcome of a simulation: estimates, a priori ranges, bands and a strict-JSON summary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stability._validation import check_false_alarm
from stability.errors import InvalidInputError
from stability.simulation._bands import DEFAULT_FALSE_ALARM, BandKind, band_ends

__all__ = ["SimulationResult", "finite_list", "json_number"]


def json_number(value: Any) -> float | str | None:
    """A number for strict JSON: finite floats as they are, ``"inf"``/``"-inf"``, NaN as ``None``.

    Parameters
    ----------
    value : float
        Any real number (converted with ``float``).

    Examples
    --------
    >>> from stability.simulation import json_number
    >>> [json_number(x) for x in (0.5, float("inf"), float("-inf"), float("nan"))]
    [0.5, 'inf', '-inf', None]
    """
    value = float(value)
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return None
    return "inf" if value > 0 else "-inf"


def finite_list(values: np.ndarray) -> list[Any]:
    """Strict-JSON list: finite floats, ``"inf"``, ``"-inf"`` or ``"nan"`` (nested for 2-D).

    Parameters
    ----------
    values : ndarray
        A 1-D or 2-D array.

    Examples
    --------
    >>> import numpy as np
    >>> finite_list(np.array([1.0, np.inf, np.nan]))
    [1.0, 'inf', 'nan']
    """
    if np.ndim(values) > 1:
        return [finite_list(row) for row in values]
    return [
        float(v) if np.isfinite(v) else ("nan" if np.isnan(v) else ("inf" if v > 0 else "-inf"))
        for v in values
    ]


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """The outcome of :func:`simulate`: ``E‖z_t‖²`` and the loss estimated from ``runs`` runs.

    The state ``z`` is in the problem's own coordinates, its first block the error ``δ``
    (with a frozen preconditioner ``P`` every block is ``P^{−1/2}`` times the block of the
    congruent description: ``(δ, η P⁻¹ m)`` for Adam).

    Attributes
    ----------
    name : str
        The dynamics' name (e.g. ``"SGD"``).
    state : tuple of str
        The state blocks (``("δ_t",)`` or ``("δ_t", "δ_{t-1}")``).
    learning_rate : float
        ``η``.
    steps, runs, chunk_size : int
        The horizon, the number of runs, and the runs per random stream.
    seed : numpy.random.SeedSequence
        The root of the random streams (its ``entropy`` reproduces a ``seed=None`` run).
    mean_square : ndarray, shape (steps + 1,)
        The sample mean of ``‖z_t‖²`` over runs, ``t = 0..steps`` (``inf`` after overflow).
    variance : ndarray, shape (steps + 1,)
        The unbiased sample variance of ``‖z_t‖²`` over runs.
    mean_log_square : ndarray, shape (steps + 1,)
        The mean over runs of ``log ‖z_t‖²`` (a typical run; its slope is twice the top
        Lyapunov exponent).
    range_bound : ndarray, shape (steps + 1,)
        An a priori bound every run obeys, ``‖z_t‖² ≤ κ(P) a_P^{2t} max ‖z_0‖²`` with
        ``a_P ≥ ‖A‖_P`` for every batch in a weighted norm ``‖z‖_P² = zᵀ (P ⊗ I) z``
        (``P = I``: :func:`state_map_norm_bound`; for momentum a fitted ``P``);
        ``inf`` with additive noise.
    deterministic : bool
        Whether every run is the same trajectory (full batch, no noise, one start).
    final_states : ndarray, shape (runs, m d)
        Every run's final state (blocks stacked: ``(δ_T, δ_{T−1})`` for momentum).
    mean_loss : ndarray, shape (steps + 1,), or None
        The sample mean of the loss ``½ δ_tᵀ H δ_t`` (``H`` the full-batch Hessian;
        ``None`` when simulated with ``loss=False``).
    loss_variance : ndarray, shape (steps + 1,), or None
        Its unbiased sample variance.
    loss_scale : float
        ``λ_max(H)/2``: every run's loss is at most ``loss_scale · ‖z_t‖²``.
    sample_loss : ndarray, shape (steps + 1, n), or None
        The sample mean of each sample's loss ``½ δ_tᵀ H_i δ_t`` (``sample_losses=True``).
    sample_loss_variance : ndarray, shape (steps + 1, n), or None
        Their unbiased sample variances.
    sample_loss_scales : ndarray, shape (n,), or None
        ``λ_max(H_i)/2``: sample ``i``'s loss is at most that times ``‖z_t‖²``.
    """

    name: str
    state: tuple[str, ...]
    learning_rate: float
    steps: int
    runs: int
    chunk_size: int
    seed: np.random.SeedSequence
    mean_square: np.ndarray
    variance: np.ndarray
    mean_log_square: np.ndarray
    range_bound: np.ndarray
    deterministic: bool
    final_states: np.ndarray
    mean_loss: np.ndarray | None = None
    loss_variance: np.ndarray | None = None
    loss_scale: float = math.inf
    sample_loss: np.ndarray | None = None
    sample_loss_variance: np.ndarray | None = None
    sample_loss_scales: np.ndarray | None = None

    @property
    def times(self) -> np.ndarray:
        """``0, 1, …, steps``."""
        return np.arange(self.steps + 1)

    @property
    def standard_error(self) -> np.ndarray:
        """``sqrt(variance / runs)`` (meaningful only where the tails are light)."""
        return np.sqrt(self.variance / self.runs)

    @property
    def lyapunov_exponent(self) -> float:
        """The growth rate of a typical run, ``(E log‖z_T‖ − E log‖z_0‖) / T``.

        Negative while almost every run decays, even when ``E‖z_t‖²`` grows.
        """
        return float((self.mean_log_square[-1] - self.mean_log_square[0]) / (2 * self.steps))

    def band_kind(self) -> str:
        """The band :meth:`band` uses by default: ``"exact"``, ``"bernstein"`` or ``"normal"``."""
        if self.deterministic:
            return "exact"
        if np.all(np.isfinite(self.range_bound)):
            return "bernstein"
        return "normal"

    def _selected(self, times: Any) -> np.ndarray:
        selected = self.times if times is None else np.asarray(times, dtype=int)
        if (
            selected.ndim != 1
            or selected.size == 0
            or np.any(selected < 0)
            or np.any(selected > self.steps)
        ):
            raise InvalidInputError(f"times must be a non-empty list of steps in 0..{self.steps}")
        return selected

    def band(
        self,
        false_alarm: float = DEFAULT_FALSE_ALARM,
        *,
        kind: BandKind = "auto",
        times: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A simultaneous confidence band for ``E‖z_t‖²`` at ``times`` (default all).

        Parameters
        ----------
        false_alarm : float, default 1e-6
            The probability that the true ``E‖z_t‖²`` leaves the band at any of the
            ``times`` (Bonferroni: each time gets ``false_alarm / len(times)``). A
            guarantee for ``"exact"`` and ``"bernstein"``; asymptotic for ``"normal"``.
        kind : {"auto", "exact", "bernstein", "normal"}
            ``"auto"`` is :meth:`band_kind`.
        times : array_like of int, optional
            The time points (default ``0..steps``).

        Returns
        -------
        lower, upper : ndarray
            Band ends at ``times`` (``lower ≥ 0``; ``upper ≤ range_bound`` for Bernstein).

        Examples
        --------
        >>> import numpy as np
        >>> from stability import SGD, Quadratic
        >>> from stability.simulation import simulate
        >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> result = simulate(problem, SGD(1), 0.5, steps=5, runs=4000, seed=0)
        >>> lower, upper = result.band(1e-6)
        >>> bool(np.all(lower <= result.mean_square) and np.all(result.mean_square <= upper))
        True
        """
        false_alarm = check_false_alarm(false_alarm)
        selected = self._selected(times)
        kind = self.band_kind() if kind == "auto" else kind
        return band_ends(
            self.mean_square[selected],
            self.variance[selected],
            self.range_bound[selected],
            self.runs,
            kind,
            false_alarm / selected.size,
            selected,
        )

    def loss_band(
        self,
        false_alarm: float = DEFAULT_FALSE_ALARM,
        *,
        kind: BandKind = "auto",
        times: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A simultaneous confidence band for the mean loss ``E ½ δ_tᵀ H δ_t``.

        The same construction as :meth:`band`; the a priori range of the loss is
        ``loss_scale · range_bound`` (``½ δᵀ H δ ≤ ½ λ_max(H) ‖z‖²``).

        Parameters
        ----------
        false_alarm : float, default 1e-6
            The probability that the true mean loss leaves the band at any of the ``times``.
        kind : {"auto", "exact", "bernstein", "normal"}
            ``"auto"`` is :meth:`band_kind`.
        times : array_like of int, optional
            The time points (default ``0..steps``).

        Returns
        -------
        lower, upper : ndarray
            Band ends at ``times``.

        Examples
        --------
        >>> import numpy as np
        >>> from stability import SGD, Quadratic
        >>> from stability.simulation import simulate
        >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> result = simulate(problem, SGD(1), 0.5, steps=5, runs=4000, seed=0)
        >>> lower, upper = result.loss_band()
        >>> bool(np.all(lower <= result.mean_loss) and np.all(result.mean_loss <= upper))
        True
        """
        if self.mean_loss is None or self.loss_variance is None:
            raise InvalidInputError("this result records no loss; simulate with loss=True")
        false_alarm = check_false_alarm(false_alarm)
        selected = self._selected(times)
        kind = self.band_kind() if kind == "auto" else kind
        with np.errstate(invalid="ignore", over="ignore"):
            value_range = self.loss_scale * self.range_bound[selected]
        return band_ends(
            self.mean_loss[selected],
            self.loss_variance[selected],
            np.where(np.isnan(value_range), np.inf, value_range),
            self.runs,
            kind,
            false_alarm / selected.size,
            selected,
        )

    def sample_loss_band(
        self,
        false_alarm: float = DEFAULT_FALSE_ALARM,
        *,
        kind: BandKind = "auto",
        times: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A simultaneous band for every sample's mean loss at ``times``, shape ``(times, n)``.

        Bonferroni over times and samples: each cell gets ``false_alarm / (len(times) n)``.

        Parameters
        ----------
        false_alarm : float, default 1e-6
            The probability that any true mean leaves the band.
        kind : {"auto", "exact", "bernstein", "normal"}
            ``"auto"`` is :meth:`band_kind`.
        times : array_like of int, optional
            The time points (default ``0..steps``).

        Returns
        -------
        lower, upper : ndarray, shape (len(times), n)
            Band ends.

        Examples
        --------
        >>> from stability import SGD, Quadratic
        >>> from stability.simulation import simulate
        >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> result = simulate(problem, SGD(1), 0.5, steps=5, runs=400, seed=0, sample_losses=True)
        >>> result.sample_loss_band()[0].shape
        (6, 3)
        """
        if (
            self.sample_loss is None
            or self.sample_loss_variance is None
            or self.sample_loss_scales is None
        ):
            raise InvalidInputError(
                "this result records no per-sample losses; simulate with sample_losses=True"
            )
        false_alarm = check_false_alarm(false_alarm)
        selected = self._selected(times)
        kind = self.band_kind() if kind == "auto" else kind
        with np.errstate(invalid="ignore", over="ignore"):
            value_range = self.range_bound[selected][:, None] * self.sample_loss_scales[None, :]
        return band_ends(
            self.sample_loss[selected],
            self.sample_loss_variance[selected],
            np.where(np.isnan(value_range), np.inf, value_range),
            self.runs,
            kind,
            false_alarm / (selected.size * self.sample_loss.shape[1]),
            selected,
        )

    @property
    def lower(self) -> np.ndarray:
        """Lower end of the default band (:meth:`band` with ``false_alarm=1e-6``)."""
        return self.band()[0]

    @property
    def upper(self) -> np.ndarray:
        """Upper end of the default band (:meth:`band` with ``false_alarm=1e-6``)."""
        return self.band()[1]

    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON summary (no per-run states).

        Non-finite numbers are never written as ``NaN``/``Infinity`` tokens: in the lists
        they are the strings ``"inf"``, ``"-inf"`` and ``"nan"``; the Lyapunov exponent is
        ``"inf"``, ``"-inf"`` or ``null`` (see :func:`json_number`). The loss and its band
        are included when recorded, the per-sample losses (a list per time) when asked for.
        """
        lower, upper = self.band()
        payload: dict[str, Any] = {
            "method": self.name,
            "learning_rate": self.learning_rate,
            "steps": self.steps,
            "runs": self.runs,
            "seed": int(self.seed.entropy) if isinstance(self.seed.entropy, int) else None,
            "spawn_key": [int(k) for k in self.seed.spawn_key],
            "band": self.band_kind(),
            "false_alarm": DEFAULT_FALSE_ALARM,
            "mean_square": finite_list(self.mean_square),
            "lower": finite_list(lower),
            "upper": finite_list(upper),
            "lyapunov_exponent": json_number(self.lyapunov_exponent),
        }
        if self.mean_loss is not None:
            loss_lower, loss_upper = self.loss_band()
            payload["loss"] = finite_list(self.mean_loss)
            payload["loss_lower"] = finite_list(loss_lower)
            payload["loss_upper"] = finite_list(loss_upper)
        if self.sample_loss is not None:
            payload["sample_loss"] = finite_list(self.sample_loss)
        return payload
