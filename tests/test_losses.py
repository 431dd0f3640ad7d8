"""Loss conventions (stability.losses) against the frameworks' own losses and autograd.

Independent references: the value and the autograd Hessian (with respect to the outputs
and with respect to the parameters of a tiny model) of the loss exactly as PyTorch
(torch.nn.MSELoss, torch.nn.CrossEntropyLoss) and optax (l2_loss, squared_error,
softmax_cross_entropy) compute it.
"""

from __future__ import annotations

import warnings

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from hypothesis import given, settings

import stability
from stability.bridges import GaussNewtonWarning
from stability.bridges import torch as torch_bridge
from stability.errors import DimensionError, InvalidInputError, InvalidTypeError
from stability.losses import (
    LOSS_ALIASES,
    LOSS_CONVENTIONS,
    CrossEntropyLoss,
    SquareLoss,
    loss_convention,
)

# ---------------------------------------------------------------- the frameworks' losses


def _torch_loss(name: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The loss called ``name``, written with the framework call it stands for."""
    if name == "half_squared_error":
        return 0.5 * ((outputs - targets) ** 2).sum(-1).mean()
    if name == "squared_error":
        return ((outputs - targets) ** 2).sum(-1).mean()
    if name == "mse":
        return torch.nn.MSELoss()(outputs, targets)
    if name == "half_mse":
        return 0.5 * torch.nn.MSELoss()(outputs, targets)
    if name == "sse":
        return torch.nn.MSELoss(reduction="sum")(outputs, targets)
    if name == "cross_entropy":
        return torch.nn.CrossEntropyLoss()(outputs, targets)
    if name == "cross_entropy_sum":
        return torch.nn.CrossEntropyLoss(reduction="sum")(outputs, targets)
    raise AssertionError(name)


def optax_loss(name: str, outputs, targets):
    """The optax expression of the conventions optax users write."""
    if name == "half_squared_error":
        return optax.l2_loss(outputs, targets).sum(-1).mean()
    if name == "squared_error":
        return optax.squared_error(outputs, targets).sum(-1).mean()
    if name == "mse":
        return optax.squared_error(outputs, targets).mean()
    if name == "half_mse":
        return optax.l2_loss(outputs, targets).mean()
    if name == "sse":
        return optax.squared_error(outputs, targets).sum()
    if name == "cross_entropy":
        return optax.softmax_cross_entropy(outputs, targets).mean()
    if name == "cross_entropy_sum":
        return optax.softmax_cross_entropy(outputs, targets).sum()
    raise AssertionError(name)


def _random_case(name: str, samples: int, outputs: int, seed: int):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((samples, outputs))
    if LOSS_CONVENTIONS[name].family == "cross_entropy":
        targets = rng.dirichlet(np.ones(outputs), size=samples)
    else:
        targets = rng.standard_normal((samples, outputs))
    return logits, targets


@pytest.mark.parametrize("name", sorted(LOSS_CONVENTIONS))
def test_value_and_gradient_match_torch_and_optax(name):
    convention = LOSS_CONVENTIONS[name]
    logits, targets = _random_case(name, 5, 3, 1)
    outputs = torch.tensor(logits, requires_grad=True)
    value = _torch_loss(name, outputs, torch.tensor(targets))
    (gradient,) = torch.autograd.grad(value, outputs)
    assert convention.value(logits, targets) == pytest.approx(value.item(), rel=1e-13)
    np.testing.assert_allclose(
        convention.output_gradients(logits, targets), gradient.numpy(), rtol=1e-12, atol=1e-15
    )
    with jax.enable_x64(True):
        optax_value = float(optax_loss(name, jnp.asarray(logits), jnp.asarray(targets)))
    assert convention.value(logits, targets) == pytest.approx(optax_value, rel=1e-13)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(LOSS_CONVENTIONS)),
    samples=st.integers(1, 5),
    outputs=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_output_hessians_are_n_times_the_autograd_hessian_in_the_outputs(
    name, samples, outputs, seed
):
    """∂²L/∂f∂f of the framework's loss is block diagonal with blocks Λ_i / n."""
    if LOSS_CONVENTIONS[name].family == "cross_entropy" and outputs == 1:
        outputs = 2
    convention = LOSS_CONVENTIONS[name]
    logits, targets = _random_case(name, samples, outputs, seed)
    target_tensor = torch.tensor(targets)
    hessian = torch.autograd.functional.hessian(
        lambda f: _torch_loss(name, f, target_tensor), torch.tensor(logits)
    ).numpy()
    expected = np.zeros((samples, outputs, samples, outputs))
    curvatures = convention.output_hessians(logits, targets)
    for index in range(samples):
        expected[index, :, index, :] = curvatures[index] / samples
    np.testing.assert_allclose(hessian, expected, rtol=1e-12, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(curvatures) > -1e-14)  # PSD


def test_aliases_name_the_framework_calls():
    logits, targets = _random_case("mse", 4, 3, 2)
    tensors = torch.tensor(logits), torch.tensor(targets)
    assert loss_convention("torch.nn.MSELoss").value(logits, targets) == pytest.approx(
        torch.nn.MSELoss()(*tensors).item(), rel=1e-13
    )
    assert loss_convention("torch.nn.MSELoss(reduction='sum')").value(
        logits, targets
    ) == pytest.approx(torch.nn.MSELoss(reduction="sum")(*tensors).item(), rel=1e-13)
    with jax.enable_x64(True):
        assert loss_convention("optax.l2_loss").value(logits, targets) == pytest.approx(
            float(optax.l2_loss(jnp.asarray(logits), jnp.asarray(targets)).mean()), rel=1e-13
        )
        labels = np.array([0, 2, 1, 1])
        integer = optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(logits), labels)
        assert loss_convention("optax.softmax_cross_entropy_with_integer_labels").value(
            logits, labels
        ) == pytest.approx(float(integer.mean()), rel=1e-13)
    for alias, name in LOSS_ALIASES.items():
        assert loss_convention(alias) is LOSS_CONVENTIONS[name]
        assert loss_convention(alias).name == name


def test_cross_entropy_class_indices_and_label_smoothing_match_torch():
    rng = np.random.default_rng(3)
    logits, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, size=6)
    for smoothing in (0.0, 0.1, 0.5):
        convention = CrossEntropyLoss(label_smoothing=smoothing)
        reference = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)(
            torch.tensor(logits), torch.tensor(labels)
        )
        assert convention.value(logits, labels) == pytest.approx(reference.item(), rel=1e-13)
        with jax.enable_x64(True):
            smoothed = optax.smooth_labels(jax.nn.one_hot(labels, 4, dtype=jnp.float64), smoothing)
            optax_value = optax.softmax_cross_entropy(jnp.asarray(logits), smoothed).mean()
        assert convention.value(logits, labels) == pytest.approx(float(optax_value), rel=1e-13)


def test_sum_conventions_scale_with_the_samples_per_step():
    outputs = np.zeros((6, 2))
    for name in ("sse", "cross_entropy_sum"):
        convention = LOSS_CONVENTIONS[name]
        full = convention.output_hessians(outputs)
        per_step = convention.output_hessians(outputs, batch_size=2)
        np.testing.assert_allclose(full, 3 * per_step)
    mean = LOSS_CONVENTIONS["mse"]
    np.testing.assert_array_equal(
        mean.output_hessians(outputs), mean.output_hessians(outputs, batch_size=2)
    )


# ------------------------------------------------- thresholds from the autograd Hessian

SAMPLES, INPUTS, WIDTH, OUTPUTS = 4, 3, 4, 2


def _tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(INPUTS, WIDTH), torch.nn.Tanh(), torch.nn.Linear(WIDTH, OUTPUTS)
    )
    return model.double()


def _flat_loss(model, inputs, name, targets):
    """The framework's loss as a function of one flat parameter vector."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]

    def loss(flat: torch.Tensor, rows=slice(None)) -> torch.Tensor:
        pieces = torch.split(flat, sizes)
        params = {n: piece.reshape(s) for n, piece, s in zip(names, pieces, shapes, strict=True)}
        outputs = torch.func.functional_call(model, params, (inputs[rows],))
        return _torch_loss(name, outputs, targets[rows])

    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return loss, flat


def _autograd_problem(model, inputs, name, targets, batch_size=None):
    """Per-sample Hessians by autograd: H_i = B ∇²(sample i's term of a step's loss).

    A step's loss over a batch S of B samples is the framework's loss on S; its Hessian is
    the mean over S of the H_i. With B = 1 the step's loss is sample i's own term.
    """
    loss, flat = _flat_loss(model, inputs, name, targets)
    hessians = []
    for index in range(len(inputs)):
        rows = slice(index, index + 1)
        single = torch.autograd.functional.hessian(lambda p, rows=rows: loss(p, rows), flat)
        convention = LOSS_CONVENTIONS[name]
        # a step's loss is the framework's loss over its B samples: a sum weights each
        # sample 1 (so H_i = B ∇²ℓ_i), a mean weights it 1/B (so H_i = ∇²ℓ_i)
        factor = (batch_size or len(inputs)) if convention.samples == "sum" else 1.0
        hessians.append(factor * single.numpy())
    full = torch.autograd.functional.hessian(loss, flat).numpy()
    return stability.Quadratic.from_hessians(np.array(hessians)), full


METHODS = [
    stability.GD(),
    stability.SGD(1),
    stability.SGD(2),
    stability.SGD(2, replacement=True),
    stability.HeavyBall(0.5),
    stability.HeavyBall(0.5, batch_size=2),
]


@pytest.mark.parametrize("name", sorted(LOSS_CONVENTIONS))
def test_each_convention_gives_the_thresholds_of_the_autograd_hessian_at_a_minimum(name):
    """At an interpolating minimum (square: y = f; cross-entropy: y = softmax f) the problem
    the bridge builds has the Hessian and the thresholds of the loss's autograd Hessian."""
    model = _tiny_model()
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(SAMPLES, INPUTS, dtype=torch.float64, generator=generator)
    with torch.no_grad():
        outputs = model(inputs)
    convention = LOSS_CONVENTIONS[name]
    targets = torch.softmax(outputs, -1) if convention.family == "cross_entropy" else outputs
    batch_size = 2 if convention.samples == "sum" else None
    with warnings.catch_warnings():
        warnings.simplefilter("error", GaussNewtonWarning)
        problem = torch_bridge.build_problem(model, inputs, targets, name)
        per_step = torch_bridge.build_problem(model, inputs, targets, name, batch_size=2)
    reference, full_hessian = _autograd_problem(model, inputs, name, targets)
    np.testing.assert_allclose(problem.hessian, full_hessian, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(reference.hessian, full_hessian, rtol=1e-10, atol=1e-12)
    for method in METHODS:
        expected = stability.critical_learning_rate(reference, method)
        assert stability.critical_learning_rate(problem, method) == pytest.approx(
            expected, rel=1e-8
        ), method
    if batch_size is not None:  # a summed loss: thresholds of steps of B samples
        reference_step, _ = _autograd_problem(model, inputs, name, targets, batch_size)
        for method in (stability.SGD(2), stability.HeavyBall(0.5, batch_size=2)):
            expected = stability.critical_learning_rate(reference_step, method)
            assert stability.critical_learning_rate(per_step, method) == pytest.approx(
                expected, rel=1e-8
            )


def test_cross_entropy_with_hard_labels_hessian_is_gauss_newton_plus_residual_term():
    """With one-hot labels there is no minimum; at a point of small loss the Hessian is
    the Gauss–Newton matrix plus Σ_i w Σ_c (p_ic − y_ic) ∇²f_c(x_i), and that term is of
    the same order as the Gauss–Newton matrix (both vanish like the loss)."""
    model = _tiny_model(2)
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(SAMPLES, INPUTS, dtype=torch.float64, generator=generator)
    labels = torch.tensor([0, 1, 1, 0])
    optimiser = torch.optim.SGD(model.parameters(), lr=1.0)
    for _ in range(5000):  # train to a small loss (0.05), as after long training
        optimiser.zero_grad()
        value = torch.nn.CrossEntropyLoss()(model(inputs), labels)
        if value.item() < 0.05:
            break
        value.backward()
        optimiser.step()
    loss, flat = _flat_loss(model, inputs, "cross_entropy", labels)
    assert loss(flat).item() < 0.05
    exact = torch.autograd.functional.hessian(loss, flat).numpy()
    with pytest.warns(GaussNewtonWarning, match="one-hot"):
        problem = torch_bridge.build_problem(model, inputs, labels, "cross_entropy")
    # the residual term from second derivatives of the outputs, by autograd
    computed = torch_bridge.jacobians(model, inputs)
    residuals = LOSS_CONVENTIONS["cross_entropy"].output_gradients(computed.outputs, labels.numpy())
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]

    def weighted_outputs(vector):
        pieces = torch.split(vector, sizes)
        params = {n: piece.reshape(s) for n, piece, s in zip(names, pieces, shapes, strict=True)}
        outputs = torch.func.functional_call(model, params, (inputs,))
        return (outputs * torch.tensor(residuals)).sum()

    residual_term = torch.autograd.functional.hessian(weighted_outputs, flat).numpy()
    np.testing.assert_allclose(problem.hessian + residual_term, exact, atol=1e-12)
    relative = np.linalg.norm(residual_term) / np.linalg.norm(problem.hessian)
    assert relative > 0.01  # not negligible: the warning is needed
    gauss_newton_edge = stability.critical_learning_rate(problem, stability.GD())
    exact_eigenvalues = np.linalg.eigvalsh(exact)
    exact_edge = 2 / exact_eigenvalues[-1]
    assert gauss_newton_edge != pytest.approx(exact_edge, rel=1e-3)


# ---------------------------------------------------------------- bad input


def test_bad_names_and_types_are_refused():
    with pytest.raises(InvalidInputError, match="loss must be one of"):
        loss_convention("huber")
    with pytest.raises(InvalidTypeError, match="loss must be a loss name"):
        loss_convention(3)
    with pytest.raises(InvalidInputError, match="outputs must be 'mean' or 'sum'"):
        SquareLoss(outputs="max")
    with pytest.raises(InvalidInputError, match="samples must be"):
        CrossEntropyLoss(samples="none")
    with pytest.raises(InvalidInputError, match="label_smoothing must lie in"):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(InvalidTypeError, match="half must be"):
        SquareLoss(half="yes")
    with pytest.raises(DimensionError, match="targets must have the shape"):
        SquareLoss().value(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(DimensionError, match="outputs must have shape"):
        SquareLoss().output_hessians(np.zeros((2, 3, 1)))
    with pytest.raises(InvalidInputError, match="class indices"):
        CrossEntropyLoss().value(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(InvalidInputError, match="sum to one"):
        CrossEntropyLoss().value(np.zeros((2, 2)), np.ones((2, 2)))
    with pytest.raises(InvalidInputError, match="batch_size must be at least 1"):
        LOSS_CONVENTIONS["sse"].output_hessians(np.zeros((2, 2)), batch_size=0)
    with pytest.raises(InvalidTypeError, match="batch_size must be an integer"):
        LOSS_CONVENTIONS["sse"].output_hessians(np.zeros((2, 2)), batch_size=1.5)
