"""Multi-output models: per-sample Jacobians, output curvatures and the block NTK.

``Quadratic.from_jacobians(J, Λ)`` describes ``H_i = J_iᵀ Λ_i J_i`` by its factors and never
forms a ``d × d`` matrix; ``Quadratic.from_gram`` takes the block NTK ``(n, k, n, k)``.
Both are checked against the dense route ``from_hessians(J_iᵀ Λ_i J_i)`` and against the
brute-force enumeration of every batch (``tests/brute_force.py``), for every sampling,
batch size and momentum, and for invariance under relabelling outputs and parameter blocks
(``docs/theory/models.md``).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import (
    GD,
    SGD,
    DimensionError,
    HeavyBall,
    InvalidTypeError,
    Nesterov,
    NotPositiveSemidefiniteError,
    NotSymmetricError,
    Quadratic,
    SizeLimitError,
    TransposedDataWarning,
    critical_learning_rate,
    problems,
)
from tests import brute_force

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _dense(jacobians: np.ndarray, curvatures: np.ndarray | None = None) -> np.ndarray:
    """``J_iᵀ Λ_i J_i`` formed densely (the reference route)."""
    if curvatures is None:
        return np.einsum("nki,nkj->nij", jacobians, jacobians)
    return np.einsum("nki,nkl,nlj->nij", jacobians, curvatures, jacobians)


def _random_curvatures(rng: np.random.Generator, samples: int, outputs: int) -> np.ndarray:
    """PSD ``Λ_i`` of random rank (some singular, one a cross-entropy Hessian)."""
    stack = []
    for index in range(samples):
        if index == 0:
            logits = rng.standard_normal(outputs)
            p = np.exp(logits) / np.exp(logits).sum()
            stack.append(np.diag(p) - np.outer(p, p))  # rank k − 1
            continue
        rank = int(rng.integers(1, outputs + 1))
        factor = rng.standard_normal((outputs, rank))
        stack.append(factor @ factor.T)
    return np.array(stack)


def _cross_entropy_curvatures(rng: np.random.Generator, samples: int, outputs: int):
    """``Λ_i = diag(p_i) − p_i p_iᵀ`` of softmax probabilities (rank ``k − 1``)."""
    logits = rng.standard_normal((samples, outputs))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return np.einsum("na,ab->nab", p, np.eye(outputs)) - np.einsum("na,nb->nab", p, p)


def _all_methods(samples: int):
    yield GD()
    for replacement in (False, True):
        for batch in range(1, samples + (2 if replacement else 1)):
            yield SGD(batch, replacement=replacement)
    yield HeavyBall(0.5, batch_size=1)
    yield HeavyBall(0.7, batch_size=2, replacement=True)
    yield Nesterov(0.6, batch_size=2)
    yield HeavyBall(0.9)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_curvatures", [False, True])
def test_jacobian_thresholds_equal_dense_hessians_and_brute_force(seed, with_curvatures):
    rng = np.random.default_rng(seed)
    samples, outputs, dimension = 3, 2 + seed % 2, 4
    jacobians = rng.standard_normal((samples, outputs, dimension))
    curvatures = _random_curvatures(rng, samples, outputs) if with_curvatures else None
    problem = Quadratic.from_jacobians(jacobians, curvatures)
    dense = _dense(jacobians, curvatures)
    reference_problem = Quadratic.from_hessians(dense)
    assert problem.kind == "jacobians"
    assert (problem.samples, problem.dimension) == (samples, dimension)
    np.testing.assert_allclose(problem.hessian, dense.mean(axis=0), atol=1e-13 * abs(dense).max())
    np.testing.assert_allclose(problem.per_sample_hessians(), dense, atol=1e-12 * abs(dense).max())
    for method in _all_methods(samples):
        value = critical_learning_rate(problem, method)
        assert value == pytest.approx(critical_learning_rate(reference_problem, method), rel=1e-9)
        assert value == pytest.approx(brute_force.threshold(dense, method.dynamics()), rel=1e-9)


def test_block_ntk_thresholds_equal_jacobians_and_brute_force():
    rng = np.random.default_rng(7)
    samples, outputs, dimension = 3, 2, 40  # many parameters: only the NTK is small
    jacobians = rng.standard_normal((samples, outputs, dimension)) / 5
    ntk = np.einsum("nai,mbi->namb", jacobians, jacobians)
    by_gram = Quadratic.from_gram(ntk)
    by_jacobians = Quadratic.from_jacobians(jacobians)
    assert by_gram.kind == "gram" and by_gram.samples == samples
    assert by_gram.dimension == samples * outputs  # rank of the NTK
    # the brute force in the NTK coordinates: the per-sample Hessians G_iᵀ G_i
    coordinates = by_gram.per_sample_hessians()
    for method in _all_methods(samples):
        value = critical_learning_rate(by_gram, method)
        assert value == pytest.approx(critical_learning_rate(by_jacobians, method), rel=1e-9)
        if method.dynamics().batch.batch_size in (None, 1, 2):
            assert value == pytest.approx(
                brute_force.threshold(coordinates, method.dynamics()), rel=1e-9
            )


def test_block_ntk_with_output_curvatures():
    rng = np.random.default_rng(8)
    samples, outputs, dimension = 4, 3, 9
    jacobians = rng.standard_normal((samples, outputs, dimension))
    curvatures = _random_curvatures(rng, samples, outputs)
    ntk = np.einsum("nai,mbi->namb", jacobians, jacobians)
    by_gram = Quadratic.from_gram(ntk, curvatures)
    reference = Quadratic.from_hessians(_dense(jacobians, curvatures))
    for method in (GD(), SGD(1), SGD(3, replacement=True), HeavyBall(0.5, batch_size=2)):
        assert critical_learning_rate(by_gram, method) == pytest.approx(
            critical_learning_rate(reference, method), rel=1e-9
        )


def test_stacking_the_outputs_as_samples_is_a_different_problem():
    """The mistake the block form prevents: n·k rows read as n·k samples."""
    rng = np.random.default_rng(9)
    jacobians = rng.standard_normal((4, 3, 20))
    grouped, stacked = Quadratic.from_jacobians(jacobians), Quadratic.from_data(
        jacobians.reshape(12, 20)
    )
    # the stacked mean Hessian is k = 3 times too small, so GD's edge is 3 times too large
    assert critical_learning_rate(stacked, GD()) == pytest.approx(
        3 * critical_learning_rate(grouped, GD()), rel=1e-12
    )
    # and the sampling noise is not the same either: SGD(1) is not off by the same factor
    ratio = critical_learning_rate(stacked, SGD(1)) / critical_learning_rate(grouped, SGD(1))
    assert abs(ratio / 3 - 1) > 0.5


@PROPERTY
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(1, 5),
    st.booleans(),
    st.data(),
)
def test_jacobians_agree_with_dense_hessians(seed, samples, outputs, dimension, curved, data):
    rng = np.random.default_rng(seed)
    jacobians = rng.standard_normal((samples, outputs, dimension))
    if samples > 1 and data.draw(st.booleans()):
        jacobians[-1] = jacobians[0]  # a repeated sample
    curvatures = _random_curvatures(rng, samples, outputs) if curved and outputs > 1 else None
    dense = _dense(jacobians, curvatures)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TransposedDataWarning)  # k > d is drawn on purpose
        problem = Quadratic.from_jacobians(jacobians, curvatures)
    replacement = data.draw(st.booleans())
    batch = data.draw(st.integers(1, samples * (2 if replacement else 1)))
    method = data.draw(
        st.sampled_from(
            [
                GD(),
                SGD(batch, replacement=replacement),
                HeavyBall(0.5, batch_size=batch, replacement=replacement),
            ]
        )
    )
    reference = Quadratic.from_hessians(dense)
    assert problem.reduced().rank == reference.reduced().rank
    assert critical_learning_rate(problem, method) == pytest.approx(
        critical_learning_rate(reference, method), rel=1e-9
    )
    gram = Quadratic.from_gram(np.einsum("nai,mbi->namb", jacobians, jacobians), curvatures)
    assert critical_learning_rate(gram, method) == pytest.approx(
        critical_learning_rate(reference, method), rel=1e-9
    )


def test_thresholds_are_invariant_to_the_order_of_outputs_and_blocks():
    rng = np.random.default_rng(10)
    samples, outputs = 4, 3
    blocks = {
        "layer1.weight": rng.standard_normal((samples, outputs, 2, 3)),
        "layer1.bias": rng.standard_normal((samples, outputs, 2)),
        "layer2.weight": rng.standard_normal((samples, outputs, 3)),
        "scale": rng.standard_normal((samples, outputs)),  # a scalar parameter
    }
    curvatures = _random_curvatures(rng, samples, outputs)
    methods = (GD(), SGD(1), SGD(2, replacement=True), Nesterov(0.5, batch_size=3))
    reference = [critical_learning_rate(Quadratic.from_jacobians(blocks, curvatures), m)
                 for m in methods]
    assert Quadratic.from_jacobians(blocks).dimension == 6 + 2 + 3 + 1
    # outputs relabelled (J_i → P J_i, Λ_i → P Λ_i Pᵀ)
    permutation = np.array([2, 0, 1])
    relabelled = {name: block[:, permutation] for name, block in blocks.items()}
    permuted_curvatures = curvatures[:, permutation][:, :, permutation]
    # blocks in another order: a reversed mapping, a list, a nested pytree
    reversed_mapping = dict(reversed(list(relabelled.items())))
    as_list = [relabelled[name] for name in ("scale", "layer2.weight", "layer1.bias",
                                              "layer1.weight")]
    nested = {"layer2": {"weight": relabelled["layer2.weight"]},
              "layer1": (relabelled["layer1.bias"], relabelled["layer1.weight"]),
              "scale": relabelled["scale"]}
    for variant in (reversed_mapping, as_list, nested):
        problem = Quadratic.from_jacobians(variant, permuted_curvatures)
        for method, expected in zip(methods, reference, strict=True):
            assert critical_learning_rate(problem, method) == pytest.approx(expected, rel=1e-10)


def test_mapping_blocks_are_flattened_in_sorted_key_order():
    rng = np.random.default_rng(11)
    first = rng.standard_normal((2, 3, 2, 2))
    second = rng.standard_normal((2, 3, 1))
    problem = Quadratic.from_jacobians({"b": second, "a": first})
    expected = np.concatenate([first.reshape(2, 3, 4), second], axis=2)
    np.testing.assert_array_equal(problem.factors, expected)
    listed = Quadratic.from_jacobians([second, first])
    np.testing.assert_array_equal(
        listed.factors, np.concatenate([second, first.reshape(2, 3, 4)], axis=2)
    )


def test_identity_curvatures_are_the_default_and_shared_curvatures_broadcast():
    rng = np.random.default_rng(12)
    jacobians = rng.standard_normal((5, 2, 6))
    default = Quadratic.from_jacobians(jacobians)
    identity = Quadratic.from_jacobians(jacobians, np.eye(2))
    stacked = Quadratic.from_jacobians(jacobians, np.broadcast_to(np.eye(2), (5, 2, 2)))
    shared = np.array([[2.0, 0.5], [0.5, 1.0]])
    for method in (SGD(2), HeavyBall(0.5, batch_size=1)):
        value = critical_learning_rate(default, method)
        assert critical_learning_rate(identity, method) == pytest.approx(value, rel=1e-12)
        assert critical_learning_rate(stacked, method) == pytest.approx(value, rel=1e-12)
        assert critical_learning_rate(Quadratic.from_jacobians(jacobians, shared), method) == (
            pytest.approx(critical_learning_rate(
                Quadratic.from_hessians(_dense(jacobians, np.broadcast_to(shared, (5, 2, 2)))),
                method), rel=1e-10)
        )


def test_one_output_is_a_data_problem():
    rng = np.random.default_rng(13)
    rows = rng.standard_normal((6, 4))
    problem = Quadratic.from_jacobians(rows[:, None, :])
    np.testing.assert_array_equal(problem.data, rows)
    assert problem.rank_one and problem.factors.shape == (6, 1, 4)
    for method in (SGD(1), SGD(4, replacement=True)):
        assert critical_learning_rate(problem, method) == critical_learning_rate(
            Quadratic.from_data(rows), method
        )
    # rank-one output curvatures (two outputs, Λ_i = c_i c_iᵀ) also give one row per sample
    directions = rng.standard_normal((6, 2))
    jacobians = rng.standard_normal((6, 2, 4))
    curved = Quadratic.from_jacobians(jacobians, np.einsum("na,nb->nab", directions, directions))
    assert curved.rank_one
    np.testing.assert_allclose(
        np.abs(curved.data), np.abs(np.einsum("na,nai->ni", directions, jacobians)), rtol=1e-10
    )


def test_wide_jacobians_never_form_the_parameter_hessian():
    """d = 200 000 with three outputs: the d × d Hessian would need 320 GB."""
    rng = np.random.default_rng(14)
    jacobians = rng.standard_normal((5, 3, 200_000)) / 400.0
    problem = Quadratic.from_jacobians(jacobians)
    ntk = np.einsum("nai,mbi->namb", jacobians, jacobians)
    gram = Quadratic.from_gram(ntk)
    assert problem.reduced().rank == 15
    assert problem.sharpness == pytest.approx(gram.sharpness, rel=1e-12)
    for method in (SGD(1), SGD(2, replacement=True)):
        assert critical_learning_rate(problem, method) == pytest.approx(
            critical_learning_rate(gram, method), rel=1e-10
        )


def test_reduced_factors_reproduce_the_reduced_hessians():
    rng = np.random.default_rng(15)
    jacobians = rng.standard_normal((4, 3, 7))
    curvatures = _cross_entropy_curvatures(rng, 4, 3)
    problem = Quadratic.from_jacobians(jacobians, curvatures)
    reduced = problem.reduced()
    basis = reduced.basis
    dense = _dense(jacobians, curvatures)
    expected = np.einsum("ia,nij,jb->nab", basis, dense, basis)
    factors = reduced.factors
    assert factors.shape[:2] == (4, 2)  # cross-entropy Hessians have rank k − 1 = 2
    np.testing.assert_allclose(np.einsum("nka,nkb->nab", factors, factors), expected,
                               atol=1e-12 * abs(dense).max())
    np.testing.assert_allclose(reduced.hessians, expected, atol=1e-12 * abs(dense).max())
    np.testing.assert_allclose(basis.T @ problem.hessian @ basis, np.diag(reduced.eigenvalues),
                               atol=1e-12 * abs(dense).max())


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda: Quadratic.from_jacobians(np.ones((3, 4))), DimensionError,
         ["jacobians", "3 dimensions", "from_data"]),
        (lambda: Quadratic.from_jacobians({"a": np.ones((3, 2, 4)), "b": np.ones((3, 1, 4))}),
         DimensionError, ["jacobians['b']", "(3, 2)"]),
        (lambda: Quadratic.from_jacobians({"a": np.ones(3)}), DimensionError,
         ["jacobians['a']", "at least 2"]),
        (lambda: Quadratic.from_jacobians({}), DimensionError, ["jacobians", "empty"]),
        (lambda: Quadratic.from_jacobians({"a": None}), InvalidTypeError, ["jacobians['a']"]),
        (lambda: Quadratic.from_jacobians([np.ones((2, 1, 3)), np.ones((2, 1, 3)) * 1j]),
         InvalidTypeError, ["jacobians[1]", "complex"]),
        (lambda: Quadratic.from_jacobians(np.ones((3, 2, 4)), np.eye(3)), DimensionError,
         ["output_hessians", "(2, 2)"]),
        (lambda: Quadratic.from_jacobians(np.ones((3, 2, 4)), np.ones((2, 2, 2))),
         DimensionError, ["output_hessians", "(3, 2, 2)"]),
        (lambda: Quadratic.from_jacobians(np.ones((3, 2, 4)), np.diag([1.0, -1.0])),
         NotPositiveSemidefiniteError, ["output_hessians"]),
        (lambda: Quadratic.from_jacobians(np.ones((3, 2, 4)), [[1.0, 1.0], [0.0, 1.0]]),
         NotSymmetricError, ["output_hessians"]),
        (lambda: Quadratic.from_data(np.ones((3, 2, 4))), DimensionError,
         ["data", "2 dimensions", "from_jacobians"]),
        (lambda: Quadratic.from_data({"w": np.ones((3, 4))}), InvalidTypeError,
         ["data", "from_jacobians"]),
        (lambda: Quadratic.from_gram(np.ones((3, 2, 4))), DimensionError,
         ["gram", "(n, k, n, k)", "from_jacobians"]),
        (lambda: Quadratic.from_gram(np.ones((3, 2, 3, 1))), DimensionError,
         ["gram", "(n, k, n, k)", "(3, 2, 3, 1)"]),
    ],
)
def test_bad_jacobian_input(build, error, words):
    with pytest.raises(error) as raised:
        build()
    for word in words:
        assert word in str(raised.value)


def test_transposed_jacobian_warns_and_can_be_silenced():
    rng = np.random.default_rng(16)
    jacobian = rng.standard_normal((8, 2000))  # 8 samples, 2000 parameters
    with pytest.warns(TransposedDataWarning, match=r"2000 rows.*data\.T"):
        Quadratic.from_data(jacobian.T)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Quadratic.from_data(jacobian)  # the right orientation: no warning
        Quadratic.from_data(rng.standard_normal((300, 80)))  # ordinary regression data
        Quadratic.from_data(rng.standard_normal((400, 2)))
        warnings.simplefilter("ignore", TransposedDataWarning)
        Quadratic.from_data(jacobian.T)
    with pytest.warns(TransposedDataWarning, match="swapaxes"):
        Quadratic.from_jacobians(rng.standard_normal((4, 9, 3)))


def test_every_sampling_and_batch_is_covered_by_the_enumeration():
    """Guard for the brute-force reference used above."""
    for batch, replacement in itertools.product((1, 2, 3), (False, True)):
        distribution = brute_force.batch_distribution(3, batch, replacement)
        assert sum(probability for _, probability in distribution) == pytest.approx(1.0)


def test_gram_route_of_wide_jacobians_agrees_with_the_thin_svd(monkeypatch):
    """Large wide Jacobians are reduced through their Gram matrix: same problem."""
    rng = np.random.default_rng(17)
    jacobians = rng.standard_normal((6, 3, 50))
    jacobians[5] = jacobians[0]  # rank 15 of 18 rows
    by_svd = Quadratic.from_jacobians(jacobians).reduced()
    monkeypatch.setattr(problems, "_GRAM_ROUTE_ROWS", 1)
    problem = Quadratic.from_jacobians(jacobians)
    by_gram = problem.reduced()
    assert by_gram.rank == by_svd.rank == 15
    np.testing.assert_allclose(by_gram.eigenvalues, by_svd.eigenvalues, rtol=1e-12)
    np.testing.assert_allclose(by_gram.basis.T @ by_gram.basis, np.eye(15), atol=1e-12)
    np.testing.assert_allclose(
        np.einsum("nka,nkb->nab", by_gram.factors, by_gram.factors),
        np.einsum("ia,nki,nkj,jb->nab", by_gram.basis, jacobians, jacobians, by_gram.basis),
        atol=1e-11,
    )
    for method in (SGD(1), SGD(4, replacement=True), HeavyBall(0.8, batch_size=2)):
        assert critical_learning_rate(problem, method) == pytest.approx(
            critical_learning_rate(Quadratic.from_hessians(_dense(jacobians)), method), rel=1e-10
        )


def test_large_factored_reduction_keeps_factors_and_names_the_limit(monkeypatch):
    """Beyond the size where (n, r, r) reduced Hessians are formed, the reduction keeps its
    spectrum and factors (all the thresholds need); what needs the expanded Hessians says
    why it cannot."""
    rng = np.random.default_rng(18)
    jacobians = rng.standard_normal((5, 3, 8))
    small = Quadratic.from_jacobians(jacobians)
    expanded = small.reduced().per_sample_hessians()
    monkeypatch.setattr(problems, "_DENSE_REDUCED_ENTRIES", 10)
    large = Quadratic.from_jacobians(jacobians)
    reduced = large.reduced()
    assert reduced.hessians is None and reduced.factors.shape == (5, 3, 8)
    assert critical_learning_rate(large, GD()) == critical_learning_rate(small, GD())
    matrix = rng.standard_normal((8, 8))
    matrix = matrix + matrix.T
    expected = np.mean([h @ matrix @ h for h in expanded], axis=0)
    np.testing.assert_allclose(reduced.sample_sandwich(matrix), expected, atol=1e-11)
    with pytest.raises(SizeLimitError, match=r"5 × 8 × 8.*factored"):
        reduced.per_sample_hessians()
    # the one operator reads the factors: stochastic thresholds need no expanded Hessians
    for method in (SGD(2), SGD(3, replacement=True), HeavyBall(0.5, batch_size=2)):
        assert critical_learning_rate(large, method) == pytest.approx(
            critical_learning_rate(small, method), rel=1e-10
        )
