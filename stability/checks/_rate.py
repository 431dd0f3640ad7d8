"""The checks at one learning rate: exact comparisons, one-step probes and a short trajectory.

Theory: ``docs/monte-carlo.md``. In order: the operator under test against the numeric
layer (and the symbolic one), the verdict against ``η*``; then, with the false-alarm
budget split equally over them, one noise-free step from the top mode (every entry, and
the growth along it), one from a random full-rank probe, one step of the noise from zero,
and the trajectory ``E‖z_t‖²`` up to the horizon where its guaranteed band is informative.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stability._system import System
from stability.checks._comparisons import verdict_comparison
from stability.checks._operator import OperatorLike
from stability.checks._probes import noise_comparison, probe_comparison, top_mode_comparisons
from stability.checks._report import Comparison, RateCheck
from stability.checks._setup import STREAMS, RateOptions, RateSetup, Stream, prepare
from stability.checks._spectrum import Spectrum, predicted_spectrum
from stability.checks._symbolic import operator_comparison
from stability.checks._trajectory import trajectory_check
from stability.numeric import dense_operator

__all__ = ["check_rate", "exact_comparisons"]


def exact_comparisons(
    setup: RateSetup, threshold: float, symbolic_operator: Any, notes: list[str]
) -> tuple[Spectrum, list[Comparison]]:
    """``ρ`` and the top modes, with the exact comparisons of the operator and the verdict.

    Parameters
    ----------
    setup : RateSetup
        The rate's setup.
    threshold : float
        The numeric ``η*``.
    symbolic_operator : callable or None
        The symbolic layer's operator function, when consulted.
    notes : list of str
        Why the symbolic layer declined, appended to.
    """
    system = setup.system
    spectrum, comparison = predicted_spectrum(
        system, setup.apply, setup.lift, setup.lr, setup.supplied
    )
    comparisons = [] if comparison is None else [comparison]
    if symbolic_operator is not None:
        symbolic, note = operator_comparison(
            symbolic_operator, system.problem, system.dynamics, setup.lr, dense_operator
        )
        comparisons += [] if symbolic is None else [symbolic]
        notes += [] if note is None else [note]
    verdict = verdict_comparison(spectrum.radius, setup.lr, threshold)
    return spectrum, comparisons + ([] if verdict is None else [verdict])


def check_rate(
    system: System,
    lr: float,
    threshold: float,
    *,
    operator: OperatorLike | None,
    symbolic_operator: Any,
    options: RateOptions,
    seed: np.random.SeedSequence,
    notes: list[str],
) -> RateCheck:
    """Every comparison at one learning rate (see the module documentation).

    Parameters
    ----------
    system : System
        The bound problem and method.
    lr : float
        ``η``.
    threshold : float
        The numeric ``η*``.
    operator : callable or ndarray or None
        The user's operator under test.
    symbolic_operator : callable or None
        The symbolic layer's operator function, when consulted.
    options : RateOptions
        ``check``'s options.
    seed : numpy.random.SeedSequence
        The rate's seed.
    notes : list of str
        Notes on the symbolic layer, appended to.
    """
    setup = prepare(system, lr, operator, options)
    spectrum, comparisons = exact_comparisons(setup, threshold, symbolic_operator, notes)
    noisy = system.dynamics.noise is not None
    share = options.false_alarm / (3 + (1 if noisy else 0) + 1)  # equal shares
    streams = seed.spawn(STREAMS)
    mixing = np.random.Generator(np.random.PCG64(streams[Stream.MIXTURE]))
    top, band = top_mode_comparisons(setup, spectrum, mixing, streams, share)
    comparisons += top
    comparisons.append(probe_comparison(setup, mixing, streams, share))
    if noisy:
        comparisons.append(noise_comparison(setup, streams, share))
    predicted, trajectory, comparison = trajectory_check(setup, streams, share)
    comparisons.append(comparison)
    return RateCheck(
        learning_rate=lr,
        relative=lr / threshold if math.isfinite(threshold) else math.nan,
        spectral_radius=spectrum.radius,
        stable=spectrum.radius < 1.0,
        radius_estimate=band[0],
        radius_lower=band[1],
        radius_upper=band[2],
        horizon=trajectory.steps,
        predicted=predicted,
        simulation=trajectory,
        comparisons=tuple(comparisons),
    )
