"""Fuzz corpus of the main API entry points: wrong types, wrong dtypes, extreme values.

The contract: bad input raises the package's own exception (a subclass of
:class:`stability.errors.StabilityError`, itself a ``ValueError`` or ``TypeError``) whose
message names the argument; good input returns a finite or documented value; nothing
hangs (each case runs under a ``SIGALRM`` bound).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import stability
from stability.errors import StabilityError

CASE_SECONDS = 20

_DATA = np.random.default_rng(0).standard_normal((6, 3))
_HESSIAN = np.diag([2.0, 1.0])


class CaseTimeout(BaseException):
    """A case ran longer than :data:`CASE_SECONDS`."""


def bounded(call: Callable[[], Any]) -> Any:
    def alarm(signum, frame):
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(CASE_SECONDS)
    try:
        return call()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _problem() -> stability.Quadratic:
    return stability.Quadratic.from_data(_DATA)


#: ``(id, call, argument name the message must contain)``: each call must raise a
#: StabilityError naming the argument.
REFUSALS: list[tuple[str, Callable[[], Any], str]] = [
    ("hessian-complex", lambda: stability.Quadratic(_HESSIAN + 1j), "hessian"),
    ("hessian-nan", lambda: stability.Quadratic(np.diag([np.nan, 1.0])), "hessian"),
    ("hessian-inf", lambda: stability.Quadratic(np.diag([np.inf, 1.0])), "hessian"),
    ("hessian-text", lambda: stability.Quadratic("abc"), "hessian"),
    ("hessian-empty", lambda: stability.Quadratic(np.zeros((0, 0))), "hessian"),
    ("hessian-not-square", lambda: stability.Quadratic(np.ones((2, 3))), "hessian"),
    ("hessian-indefinite", lambda: stability.Quadratic(np.diag([1.0, -0.5])), "hessian"),
    ("hessian-asymmetric", lambda: stability.Quadratic([[1.0, 2.0], [0.0, 1.0]]), "hessian"),
    ("hessian-objects", lambda: stability.Quadratic(np.array([[1, None]], dtype=object)),
     "hessian"),
    ("data-3d", lambda: stability.Quadratic.from_data(np.ones((2, 2, 2))), "data"),
    ("data-nan", lambda: stability.Quadratic.from_data(np.full((2, 2), np.nan)), "data"),
    ("data-complex", lambda: stability.Quadratic.from_data(_DATA + 1j), "data"),
    ("hessians-2d", lambda: stability.Quadratic.from_hessians(np.eye(2)), "hessians"),
    ("gram-asymmetric", lambda: stability.Quadratic.from_gram([[1.0, 2.0], [0.0, 1.0]]),
     "gram"),
    ("sgd-zero", lambda: stability.SGD(0), "batch_size"),
    ("sgd-float", lambda: stability.SGD(1.5), "batch_size"),
    ("sgd-text", lambda: stability.SGD("2"), "batch_size"),
    ("heavy-ball-one", lambda: stability.HeavyBall(1.0), "momentum"),
    ("heavy-ball-negative", lambda: stability.HeavyBall(-0.1), "momentum"),
    ("heavy-ball-nan", lambda: stability.HeavyBall(float("nan")), "momentum"),
    ("nesterov-list", lambda: stability.Nesterov([0.5]), "momentum"),
    ("variational-negative", lambda: stability.VariationalGD(-1.0), "posterior_cov"),
    ("variational-samples", lambda: stability.VariationalGD(0.1, samples=0), "samples"),
    ("batch-too-large", lambda: stability.critical_learning_rate(_problem(), stability.SGD(99)),
     "batch_size"),
    ("method-string", lambda: stability.critical_learning_rate(_problem(), "sgd"), "method"),
    ("radius-negative-lr",
     lambda: stability.spectral_radius(_problem(), stability.GD(), -1.0), "lr"),
    ("radius-nan-lr",
     lambda: stability.spectral_radius(_problem(), stability.GD(), float("nan")), "lr"),
    ("radius-text-lr", lambda: stability.spectral_radius(_problem(), stability.GD(), "0.1"),
     "lr"),
    ("simulate-runs-zero",
     lambda: stability.simulate(_problem(), stability.GD(), 0.1, steps=3, runs=0), "runs"),
    ("simulate-steps-negative",
     lambda: stability.simulate(_problem(), stability.GD(), 0.1, steps=-1, runs=3), "steps"),
    ("simulate-seed-negative",
     lambda: stability.simulate(_problem(), stability.GD(), 0.1, steps=3, runs=3, seed=-1),
     "seed"),
    ("check-runs-one",
     lambda: stability.check(_problem(), stability.GD(), 0.1, runs=1), "runs"),
    ("progress-text",
     lambda: stability.simulate(_problem(), stability.GD(), 0.1, steps=3, runs=3,
                                progress="yes"), "progress"),
    ("tolerance-nan",
     lambda: stability.Quadratic(np.diag([1.0, -0.5]), tolerance=float("nan")), "tolerance"),
    ("tolerance-text", lambda: stability.Quadratic(_HESSIAN, tolerance="x"), "tolerance"),
    ("tolerance-two", lambda: stability.Quadratic(np.diag([1.0, -0.5]), tolerance=2.0),
     "tolerance"),
    ("heavy-ball-text", lambda: stability.HeavyBall("0.5"), "momentum"),
    ("radius-bool-lr", lambda: stability.spectral_radius(_problem(), stability.GD(), True), "lr"),
    ("check-operator-text",
     lambda: stability.check(_problem(), stability.GD(), 0.1, runs=10, operator="x"),
     "operator"),
    ("precision-huge",
     lambda: stability.critical_learning_rate(_problem(), stability.GD(), precision=100000),
     "precision"),
    ("data-datetime",
     lambda: stability.Quadratic.from_data(np.array([[1, 2]], dtype="datetime64[D]")), "data"),
    ("data-bool", lambda: stability.Quadratic.from_data(_DATA > 0), "data"),
    ("symbolic-text", lambda: stability.symbolic.critical_learning_rate("abc", stability.GD()),
     "hessians"),
    ("symbolic-indefinite",
     lambda: stability.symbolic.critical_learning_rate([np.diag([1.0, -1.0])], stability.GD()),
     "hessians"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "name"), [case[1:] for case in REFUSALS],
                         ids=[case[0] for case in REFUSALS])  # fmt: skip
def test_bad_input_raises_the_package_errors_naming_the_argument(call, name) -> None:
    with pytest.raises(StabilityError) as raised:
        bounded(call)
    assert isinstance(raised.value, ValueError | TypeError)
    assert name in str(raised.value), str(raised.value)


GOOD_CALLS: list[tuple[str, Callable[[], Any]]] = [
    ("integer-data", lambda: stability.critical_learning_rate(
        stability.Quadratic.from_data(np.arange(6).reshape(3, 2)), stability.GD())),
    ("list-hessian", lambda: stability.critical_learning_rate(
        stability.Quadratic([[2, 0], [0, 1]]), stability.GD())),
    ("momentum-near-one", lambda: stability.critical_learning_rate(
        stability.Quadratic(_HESSIAN), stability.HeavyBall(0.999))),
    ("variational", lambda: stability.critical_learning_rate(
        _problem(), stability.VariationalGD(0.1, samples=2, batch_size=2))),
    ("tiny-lr", lambda: stability.spectral_radius(_problem(), stability.GD(), 1e-300)),
    ("gram-large", lambda: stability.critical_learning_rate(
        stability.Quadratic.from_gram(_DATA @ _DATA.T * 1e300), stability.GD())),
]  # fmt: skip


@pytest.mark.parametrize("call", [case[1] for case in GOOD_CALLS],
                         ids=[case[0] for case in GOOD_CALLS])  # fmt: skip
def test_good_input_gives_finite_numbers(call) -> None:
    value = bounded(call)
    assert np.isfinite(value) and value > 0


def test_a_huge_learning_rate_is_a_value_or_a_named_refusal() -> None:
    try:
        radius = bounded(lambda: stability.spectral_radius(_problem(), stability.GD(), 1e308))
    except StabilityError as error:
        assert "lr" in str(error)
    else:
        assert radius > 1  # ρ grows like (η λ)²: unstable, possibly ``inf``
    assert stability.is_stable(_problem(), stability.GD(), 1e308) is False


@pytest.mark.parametrize("scale", [1e-150, 1e-80, 1e80, 1e150])
@pytest.mark.parametrize("method", [stability.GD(), stability.SGD(2), stability.HeavyBall(0.5)],
                         ids=["gd", "sgd", "heavy-ball"])  # fmt: skip
def test_thresholds_scale_exactly_or_are_refused_by_name(scale, method) -> None:
    """η* of the data times s is the unit problem's divided by s² (never inf, never off)."""
    unit = stability.critical_learning_rate(_problem(), method)
    try:
        scaled = bounded(lambda: stability.critical_learning_rate(
            stability.Quadratic.from_data(_DATA * scale), method))
    except StabilityError as error:
        assert str(error)
    else:
        assert scaled == pytest.approx(unit / scale**2, rel=1e-12)
