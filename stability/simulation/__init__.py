"""Monte Carlo of the very recursion a method compiles to, vectorised over runs.

Theory: ``docs/theory/operator.md`` and ``docs/monte-carlo.md``. :func:`simulate` runs ``R``
independent trajectories of

    z_{t+1} = (F(η) ⊗ I + G(η) ⊗ H_B) z_t + (u(η) ⊗ I + w(η) ⊗ H_B) ε_t

reading only the :class:`~stability.dynamics.LinearDynamics` (never a method's name):
batches come from the batch law's own sampler (:meth:`BatchLaw.sampler
<stability.dynamics.BatchLaw.sampler>`: the same law, with or without replacement, that the
exact layers use, or each run's fresh permutation per epoch for reshuffled methods), the
additive noise ``ε_t`` from :attr:`AdditiveNoise.sampler
<stability.dynamics.AdditiveNoise.sampler>` (a Gaussian with ``AdditiveNoise.covariance``
when no sampler is given). A frozen preconditioner ``P`` is applied as ``P⁻¹ (H_B + μ I)``
in the problem's own coordinates. Each step costs ``O(m B d)`` per run for rank-one samples
(rows of ``problem.data``: the ``B`` sampled rows are gathered,
``H_B v = (1/B) Σ x_i (x_iᵀ v)``), ``O(B d²)`` per run for general per-sample Hessians and
``O(d²)`` (or ``O(n d)``) full batch; the loss ``½ δᵀ H δ`` adds ``O(r d)`` (``r = rank H``).

Runs are split into chunks of ``chunk_size`` runs, each with its own stream, so the result
depends on ``seed`` and ``chunk_size`` only, never on the executor.

Statistics (the design is explained in ``docs/monte-carlo.md``). The per-run
``‖z_t‖²`` are i.i.d. over runs but heavy-tailed near and past the threshold (products of
random matrices): the sample mean at long horizons is dominated by rare runs and a plain
average underestimates ``E‖z_t‖²`` by orders of magnitude while the sample variance
underestimates its own error. :class:`SimulationResult` therefore carries, besides the
mean and the sample variance, an *a priori* bound on every run, ``‖z_t‖² ≤ a^{2t} ‖z_0‖²``
with ``a ≥ ‖A_t‖`` for every batch (:func:`state_map_norm_bound`), and its default band is

* ``"exact"`` for a deterministic recursion (full batch, no noise, one start): no
  sampling error, only a rounding allowance;
* ``"bernstein"`` (noise-free dynamics): the empirical Bernstein bound of Maurer &
  Pontil (2009, Thm 4) for variables in ``[0, a^{2t}‖z_0‖²]``, a finite-sample guarantee:
  the probability that the true ``E‖z_t‖²`` leaves the band at *any* reported time is at
  most ``false_alarm`` (Bonferroni over the times), whatever the distribution. Its width
  grows like ``a^{2t}/R``: at long horizons it honestly says that ``R`` runs cannot pin
  the mean down;
* ``"normal"`` (additive noise, unbounded): a CLT band with the sample variance,
  Bonferroni over the times; its coverage is asymptotic and needs a finite fourth moment
  of the noise. Use it at short horizons.

The loss and the per-sample losses get the same bands, with the ranges
``½ λ_max(H) a^{2t} ‖z_0‖²`` and ``½ λ_max(H_i) a^{2t} ‖z_0‖²``.

The implementation lives in private modules by concern: ``_bands`` (confidence radii),
``_growth`` (a priori bounds), ``_kernel`` (one vectorised step), ``_runner`` (chunks,
seeds, executor), ``_result`` and ``_sweep``; this module is the API.
"""

from __future__ import annotations

from stability.simulation._bands import (
    DEFAULT_FALSE_ALARM,
    BandKind,
    bernstein_radius,
    normal_radius,
)
from stability.simulation._growth import growth_bound, state_map_norm_bound
from stability.simulation._result import SimulationResult, json_number
from stability.simulation._runner import DEFAULT_CHUNK_SIZE, SeedLike, simulate
from stability.simulation._sweep import SweepResult, simulate_grid

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_FALSE_ALARM",
    "BandKind",
    "SeedLike",
    "SimulationResult",
    "SweepResult",
    "bernstein_radius",
    "growth_bound",
    "json_number",
    "normal_radius",
    "simulate",
    "simulate_grid",
    "state_map_norm_bound",
]
