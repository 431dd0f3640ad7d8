"""The hypothesis strategies draw every method of the registry, with every option."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from stability.methods import registry
from stability.testing.strategies import methods


def _differs(value, default) -> bool:
    return bool(np.any(np.asarray(value != default)))


@pytest.mark.parametrize("spec", registry.METHODS, ids=lambda spec: spec.name)
def test_every_registered_method_is_drawn(spec) -> None:
    # by default every method without additive noise; a noisy one when named
    strategy = methods(4, names=[spec.name]) if spec.noisy else methods(4)
    method = find(strategy, lambda drawn: type(drawn) is spec.load())
    assert registry.spec_of(method) is spec


@pytest.mark.parametrize(
    ("spec", "option"),
    [(spec, option) for spec in registry.METHODS for option in spec.options],
    ids=lambda value: getattr(value, "name", None) or getattr(value, "keyword", None),
)
def test_every_option_is_drawn_away_from_its_default(spec, option) -> None:
    strategy = methods(5, names=[spec.name], all_options=True, dimension=3, epochs=True)
    method = find(strategy, lambda drawn: _differs(getattr(drawn, option.keyword), option.default))
    assert registry.spec_of(method) is spec
    if option.kind == "vector":
        assert len(getattr(method, option.keyword)) == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_drawn_options_lie_in_their_declared_ranges(data) -> None:
    samples = data.draw(st.integers(1, 6))
    method = data.draw(methods(samples, all_options=True, dimension=2, epochs=True,
                               names=list(registry.names())))  # fmt: skip
    spec = registry.spec_of(method)
    for option in spec.options:
        value = getattr(method, option.keyword)
        if option.kind in ("number", "integer") and value is not None:
            assert option.low <= value <= option.high, (option.keyword, value)
        elif option.kind == "vector" and value is not None:
            assert all(option.low <= entry <= option.high for entry in value)
        elif option.kind == "choice":
            assert value in option.choices
    batch_size = getattr(method, "batch_size", None)
    if getattr(method, "shuffle", False):
        assert batch_size <= samples and not method.replacement
    method.dynamics()  # a valid method


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_by_default_optional_options_keep_their_defaults(data) -> None:
    method = data.draw(methods(4))
    spec = registry.spec_of(method)
    for option in spec.options:
        if not option.required:
            assert not _differs(getattr(method, option.keyword), option.default), option.keyword
