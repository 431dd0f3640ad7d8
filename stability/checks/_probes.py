"""One-step probes: ``E[AΣAᵀ]`` from the top mode and a random ``Σ``, and the noise ``E[bbᵀ]``.

Theory: ``docs/monte-carlo.md``. Starts are mixtures of eigenvectors of ``Σ`` (so every
entry of ``z_1 z_1ᵀ`` is bounded by ``a² tr Σ``, ``a`` the simulator's bound on the state
map, and the empirical Bernstein band is a guarantee); the noise is unbounded, its band
asymptotic.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from stability.checks._comparisons import growth_comparison, matrix_comparison
from stability.checks._report import Comparison
from stability.checks._setup import RateSetup, Stream
from stability.checks._spectrum import Spectrum
from stability.checks._statistics import (
    entry_statistics,
    mixture_starts,
    one_step_runs,
    random_probe,
)
from stability.simulation import simulate

__all__ = ["noise_comparison", "probe_comparison", "top_mode_comparisons"]


def _one_step(
    setup: RateSetup, sigma: np.ndarray, runs: int, rng: np.random.Generator, stream: Any
) -> np.ndarray:
    """Final states of one noise-free step from ``runs`` mixture starts of ``Σ``."""
    system = setup.system
    quiet = dataclasses.replace(system.dynamics, noise=None)
    starts = mixture_starts(sigma, runs, rng)
    options = setup.options
    result = simulate(
        system.problem, quiet, setup.lr, steps=1, runs=runs, seed=stream, init=starts,
        executor=options.executor, chunk_size=options.chunk_size, progress=False,
    )  # fmt: skip
    return result.final_states


def top_mode_comparisons(
    setup: RateSetup,
    spectrum: Spectrum,
    rng: np.random.Generator,
    streams: list[Any],
    share: float,
) -> tuple[list[Comparison], tuple[float, float, float]]:
    """One step from the top mode ``Σ``: every entry of ``E[AΣAᵀ]``, and the growth along it.

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    spectrum : Spectrum
        ``ρ``, ``Σ`` and ``W``.
    rng : numpy.random.Generator
        The mixture starts' stream.
    streams : list of SeedSequence
        The rate's child streams.
    share : float
        The false-alarm probability of each of the two comparisons.
    """
    top, weight = spectrum.right, spectrum.left
    runs = one_step_runs(setup.options.runs, setup.state)
    states = _one_step(setup, top, runs, rng, streams[Stream.TOP])
    image = setup.image(top)
    value_range = setup.quiet_norm**2 * float(np.trace(top))
    mean, variance = entry_statistics(states)
    name = "one-step E[AΣAᵀ] vs T(Σ), Σ = top mode"
    entries = matrix_comparison(name, mean, variance, image, runs, share, value_range=value_range)
    growth = np.sum((states @ weight) * states, axis=1)
    growth_range = value_range * float(np.linalg.eigvalsh(weight)[-1])
    overlap = float(np.sum(weight * top))
    predicted = float(np.sum(weight * image))
    along, band = growth_comparison(growth, predicted, overlap, growth_range, share)
    return [entries, along], band


def probe_comparison(
    setup: RateSetup, rng: np.random.Generator, streams: list[Any], share: float
) -> Comparison:
    """One step from a random full-rank probe ``Σ``: every entry of ``E[AΣAᵀ]``.

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    rng : numpy.random.Generator
        The mixture starts' stream.
    streams : list of SeedSequence
        The rate's child streams.
    share : float
        The false-alarm probability of the comparison.
    """
    probe = random_probe(setup.state, np.random.Generator(np.random.PCG64(streams[Stream.PROBE])))
    runs = one_step_runs(setup.options.runs, setup.state)
    states = _one_step(setup, probe, runs, rng, streams[Stream.PROBE_RUNS])
    mean, variance = entry_statistics(states)
    value_range = setup.quiet_norm**2
    return matrix_comparison(
        "one-step E[AΣAᵀ] vs T(Σ), Σ = random",
        mean, variance, setup.image(probe), runs, share, value_range=value_range,
    )  # fmt: skip


def noise_comparison(setup: RateSetup, streams: list[Any], share: float) -> Comparison:
    """One step of the noisy recursion from zero: every entry of ``E[b bᵀ]`` against ``N``.

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    streams : list of SeedSequence
        The rate's child streams.
    share : float
        The false-alarm probability of the comparison (asymptotic: the noise is unbounded).
    """
    system, options = setup.system, setup.options
    runs = one_step_runs(options.runs, setup.state)
    result = simulate(
        system.problem, system.dynamics, setup.lr, steps=1, runs=runs, seed=streams[Stream.NOISE],
        init=np.zeros(setup.state), executor=options.executor, chunk_size=options.chunk_size,
        progress=False,
    )  # fmt: skip
    mean, variance = entry_statistics(result.final_states)
    return matrix_comparison(
        "one-step noise E[bbᵀ] vs N",
        mean, variance, setup.recursion.noise(), runs, share, value_range=None,
    )  # fmt: skip
