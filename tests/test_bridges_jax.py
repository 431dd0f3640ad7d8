"""JAX bridge: Jacobians against a hand-written derivative and the PyTorch bridge, problems
against jax.hessian of optax's losses, polish, block order, missing extra."""

from __future__ import annotations

import sys
import warnings

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import stability
from stability.bridges import GaussNewtonWarning, OptionalDependencyError
from stability.bridges import jax as bridge
from stability.bridges import torch as torch_bridge
from stability.errors import InvalidInputError, InvalidTypeError
from stability.losses import LOSS_CONVENTIONS, CrossEntropyLoss
from tests.test_losses import METHODS, optax_loss

SAMPLES, INPUTS, WIDTH, OUTPUTS = 5, 3, 4, 2


def apply(params, inputs):
    """f(x) = V tanh(W x + b) + c for a batch of inputs."""
    hidden = jnp.tanh(inputs @ params["W"].T + params["b"])
    return hidden @ params["V"].T + params["c"]


def _params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "W": rng.standard_normal((WIDTH, INPUTS)),
        "b": rng.standard_normal(WIDTH),
        "V": rng.standard_normal((OUTPUTS, WIDTH)) / 2,
        "c": rng.standard_normal(OUTPUTS),
    }


def _inputs(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((SAMPLES, INPUTS))


def _outputs(params, inputs) -> np.ndarray:
    hidden = np.tanh(inputs @ params["W"].T + params["b"])
    return hidden @ params["V"].T + params["c"]


def _hand_blocks(params, inputs) -> dict[str, np.ndarray]:
    """∂f_c/∂(W, b, V, c) by hand, each of shape (n, k, *parameter shape)."""
    hidden = np.tanh(inputs @ params["W"].T + params["b"])
    slope = 1.0 - hidden**2
    V, k = params["V"], OUTPUTS
    return {
        "W": np.einsum("ch,nh,nj->nchj", V, slope, inputs),
        "b": np.einsum("ch,nh->nch", V, slope),
        "V": np.einsum("cd,nh->ncdh", np.eye(k), hidden),
        "c": np.broadcast_to(np.eye(k), (len(inputs), k, k)),
    }


def test_jacobians_match_the_hand_computed_derivative_in_key_order():
    params, inputs = _params(), _inputs()
    computed = bridge.jacobians(apply, params, inputs)
    assert [block.name for block in computed.blocks] == ["['V']", "['W']", "['b']", "['c']"]
    hand = _hand_blocks(params, inputs)
    for key in "VWbc":
        np.testing.assert_allclose(computed.block(f"['{key}']"), hand[key], rtol=0, atol=1e-12)
    assert computed.jacobians.dtype == np.float64
    np.testing.assert_allclose(computed.outputs, _outputs(params, inputs), atol=1e-14)
    chunked = bridge.jacobians(apply, params, inputs, chunk_size=2)
    np.testing.assert_allclose(chunked.jacobians, computed.jacobians, rtol=0, atol=1e-15)


def test_jax_and_torch_bridges_agree_on_the_same_network():
    params, inputs = _params(), _inputs()
    model = torch.nn.Sequential(
        torch.nn.Linear(INPUTS, WIDTH), torch.nn.Tanh(), torch.nn.Linear(WIDTH, OUTPUTS)
    ).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(params["W"]))
        model[0].bias.copy_(torch.tensor(params["b"]))
        model[2].weight.copy_(torch.tensor(params["V"]))
        model[2].bias.copy_(torch.tensor(params["c"]))
    by_jax = bridge.jacobians(apply, params, inputs)
    by_torch = torch_bridge.jacobians(model, inputs)
    for torch_name, key in (("0.weight", "W"), ("0.bias", "b"), ("2.weight", "V"), ("2.bias", "c")):
        np.testing.assert_allclose(
            by_torch.block(torch_name), by_jax.block(f"['{key}']"), rtol=0, atol=1e-13
        )
    targets = _outputs(params, inputs)
    jax_problem = bridge.build_problem(apply, params, inputs, targets, "mse")
    torch_problem = torch_bridge.build_problem(model, inputs, targets, "torch.nn.MSELoss")
    for method in METHODS:
        assert stability.critical_learning_rate(jax_problem, method) == pytest.approx(
            stability.critical_learning_rate(torch_problem, method), rel=1e-9
        )


def test_problem_has_the_thresholds_of_the_same_arrays_and_any_block_order():
    params, inputs = _params(), _inputs()
    targets = _outputs(params, inputs)
    problem = bridge.build_problem(apply, params, inputs, targets, "optax.l2_loss")
    hand = _hand_blocks(params, inputs)
    jacobian = np.concatenate([hand[key].reshape(SAMPLES, OUTPUTS, -1) for key in "WbVc"], 2)
    curvatures = LOSS_CONVENTIONS["half_mse"].output_hessians(targets)
    reference = stability.Quadratic.from_jacobians(jacobian, output_hessians=curvatures)

    def apply_list(blocks, batch):  # the same network, parameters as a list in another order
        c, V, b, W = blocks
        return apply({"W": W, "b": b, "V": V, "c": c}, batch)

    blocks = {key: hand[key] for key in "WbVc"}  # from_jacobians reads the blocks itself
    from_blocks = stability.Quadratic.from_jacobians(blocks, output_hessians=curvatures)
    listed = [params["c"], params["V"], params["b"], params["W"]]
    reordered = bridge.build_problem(apply_list, listed, inputs, targets, "optax.l2_loss")
    for method in METHODS:
        expected = stability.critical_learning_rate(reference, method)
        assert stability.critical_learning_rate(problem, method) == pytest.approx(
            expected, rel=1e-9
        )
        assert stability.critical_learning_rate(reordered, method) == pytest.approx(
            expected, rel=1e-9
        )
        assert stability.critical_learning_rate(from_blocks, method) == pytest.approx(
            expected, rel=1e-9
        )


@pytest.mark.parametrize("name", sorted(LOSS_CONVENTIONS))
def test_each_convention_gives_the_thresholds_of_jax_hessian_at_a_minimum(name):
    params, inputs = _params(2), _inputs(3)
    outputs = _outputs(params, inputs)
    convention = LOSS_CONVENTIONS[name]
    if convention.family == "cross_entropy":
        targets = np.exp(outputs) / np.exp(outputs).sum(1, keepdims=True)
    else:
        targets = outputs
    with warnings.catch_warnings():
        warnings.simplefilter("error", GaussNewtonWarning)
        problem = bridge.build_problem(apply, params, inputs, targets, name)
    with jax.enable_x64(True):
        flat, unravel = jax.flatten_util.ravel_pytree(params)
        assert flat.dtype == jnp.float64

        def loss(vector, batch, batch_targets):
            return optax_loss(name, apply(unravel(vector), batch), batch_targets)

        # the Hessian of each sample's own term (a step of one sample), one vmapped call
        hessians = jax.jit(jax.vmap(jax.hessian(loss), in_axes=(None, 0, 0)))
        single = np.asarray(hessians(flat, inputs[:, None, :], targets[:, None, :]))
    # the loss over all samples: the mean (or the sum) of the samples' terms
    full = single.mean(0) if convention.samples == "mean" else single.sum(0)
    # a summed loss over a step of B = n samples weighs each sample n times the mean's weight
    per_sample = SAMPLES * single if convention.samples == "sum" else single
    np.testing.assert_allclose(problem.hessian, full, rtol=1e-10, atol=1e-12)
    symmetric = 0.5 * (per_sample + per_sample.transpose(0, 2, 1))
    reference = stability.Quadratic.from_hessians(symmetric)
    for method in METHODS:
        assert stability.critical_learning_rate(problem, method) == pytest.approx(
            stability.critical_learning_rate(reference, method), rel=1e-8
        ), method


def test_polish_square_and_smoothed_cross_entropy():
    params, inputs = _params(4), _inputs(5)
    rng = np.random.default_rng(6)
    targets = _outputs(params, inputs) + 0.05 * rng.standard_normal((SAMPLES, OUTPUTS))
    with pytest.warns(GaussNewtonWarning):
        bridge.check_minimum(apply, params, inputs, targets, "optax.squared_error")
    polished, report = bridge.polish(apply, params, inputs, targets, "optax.squared_error")
    assert report.converged and report.after.largest_residual <= 1e-12
    assert sorted(polished) == ["V", "W", "b", "c"] and polished["W"].shape == (WIDTH, INPUTS)
    np.testing.assert_allclose(_outputs(polished, inputs), targets, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GaussNewtonWarning)
        bridge.check_minimum(apply, polished, inputs, targets, "optax.squared_error")

    labels = np.array([0, 1, 1, 0, 1])
    smoothed = CrossEntropyLoss(label_smoothing=0.2)
    polished, report = bridge.polish(apply, params, inputs, labels, smoothed)
    assert report.converged
    with jax.enable_x64(True):
        one_hot = optax.smooth_labels(jax.nn.one_hot(labels, OUTPUTS, dtype=jnp.float64), 0.2)
        gradient = jax.grad(
            lambda p: optax.softmax_cross_entropy(apply(p, inputs), one_hot).mean()
        )(polished)
    leaves = jax.tree_util.tree_leaves(gradient)
    assert max(float(np.max(np.abs(np.asarray(leaf)))) for leaf in leaves) < 1e-10
    assert report.after.gradient_norm < 1e-10


def test_missing_jax_raises_the_package_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(OptionalDependencyError, match=r"stability\[jax\]"):
        bridge.jacobians(apply, _params(), _inputs())


def test_bad_input_is_refused():
    params, inputs = _params(), _inputs()
    with pytest.raises(InvalidTypeError, match="apply must be a function"):
        bridge.jacobians("apply", params, inputs)
    with pytest.raises(InvalidInputError, match="targets must have one entry"):
        bridge.build_problem(apply, params, inputs, np.zeros((2, OUTPUTS)))
    with pytest.raises(InvalidInputError, match="form must be"):
        bridge.build_problem(apply, params, inputs, _outputs(params, inputs), form="gram")
