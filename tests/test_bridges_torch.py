"""PyTorch bridge: Jacobians against a hand-written derivative, problems, checks, polish."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

import stability
from stability.bridges import GaussNewtonWarning, OptionalDependencyError
from stability.bridges import torch as bridge
from stability.errors import InvalidInputError, InvalidTypeError
from stability.losses import LOSS_CONVENTIONS

SAMPLES, INPUTS, WIDTH, OUTPUTS = 6, 3, 5, 2


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(INPUTS, WIDTH), torch.nn.Tanh(), torch.nn.Linear(WIDTH, OUTPUTS)
    ).double()


def _inputs(seed: int = 1, samples: int = SAMPLES) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(samples, INPUTS, dtype=torch.float64, generator=generator)


def _hand_jacobian(model: torch.nn.Module, inputs: torch.Tensor) -> np.ndarray:
    """f(x) = V tanh(W x + b) + c, differentiated by hand, blocks in the order W, b, V, c."""
    W = model[0].weight.detach().numpy()
    b = model[0].bias.detach().numpy()
    V = model[2].weight.detach().numpy()
    x = inputs.numpy()
    hidden = np.tanh(x @ W.T + b)  # (n, h)
    slope = 1.0 - hidden**2
    n, h, k = len(x), W.shape[0], V.shape[0]
    d_W = np.einsum("ch,nh,nj->nchj", V, slope, x).reshape(n, k, -1)  # ∂f_c/∂W_hj
    d_b = np.einsum("ch,nh->nch", V, slope)  # ∂f_c/∂b_h
    d_V = np.einsum("cd,nh->ncdh", np.eye(k), hidden).reshape(n, k, -1)  # ∂f_c/∂V_dh
    d_c = np.broadcast_to(np.eye(k), (n, k, k))  # ∂f_c/∂c_d
    assert h == WIDTH
    return np.concatenate([d_W, d_b, d_V, d_c], axis=2)


METHODS = [
    stability.GD(),
    stability.SGD(1),
    stability.SGD(3),
    stability.SGD(2, replacement=True),
    stability.HeavyBall(0.6),
    stability.HeavyBall(0.6, batch_size=2),
]


def test_jacobians_match_the_hand_computed_derivative():
    model, inputs = _model(), _inputs()
    computed = bridge.jacobians(model, inputs)
    expected = _hand_jacobian(model, inputs)
    assert computed.jacobians.dtype == np.float64
    np.testing.assert_allclose(computed.jacobians, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(computed.outputs, model(inputs).detach().numpy(), atol=1e-14)
    assert [block.name for block in computed.blocks] == [
        "0.weight", "0.bias", "2.weight", "2.bias"
    ]
    assert computed.block("0.weight").shape == (SAMPLES, OUTPUTS, WIDTH, INPUTS)
    np.testing.assert_array_equal(
        computed.block("2.bias"), computed.jacobians[:, :, -OUTPUTS:]
    )
    with pytest.raises(InvalidInputError, match="parameter blocks"):
        computed.block("missing")


def test_float32_model_is_differentiated_in_float64():
    model32 = _model().float()
    inputs = _inputs()
    computed = bridge.jacobians(model32, inputs.float())
    # the parameters are the float32 ones, widened exactly; the arithmetic is float64
    widened = _model().float().double()
    expected = _hand_jacobian(widened, inputs.float().double())
    np.testing.assert_allclose(computed.jacobians, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 4, 100])
def test_chunks_give_the_same_jacobians(chunk_size):
    model, inputs = _model(), _inputs()
    whole = bridge.jacobians(model, inputs)
    chunked = bridge.jacobians(model, inputs, chunk_size=chunk_size)
    np.testing.assert_array_equal(whole.jacobians, chunked.jacobians)


@pytest.mark.parametrize("name", ["half_squared_error", "mse", "cross_entropy"])
def test_problem_has_the_thresholds_of_the_same_arrays(name):
    model, inputs = _model(), _inputs()
    with torch.no_grad():
        outputs = model(inputs)
    convention = LOSS_CONVENTIONS[name]
    targets = torch.softmax(outputs, -1) if convention.family == "cross_entropy" else outputs
    problem = bridge.build_problem(model, inputs, targets, name)
    jacobian = _hand_jacobian(model, inputs)
    curvatures = convention.output_hessians(outputs.numpy())
    reference = stability.Quadratic.from_jacobians(jacobian, output_hessians=curvatures)
    for method in METHODS:
        assert stability.critical_learning_rate(problem, method) == pytest.approx(
            stability.critical_learning_rate(reference, method), rel=1e-9
        ), method


def test_thresholds_do_not_depend_on_the_order_of_the_parameter_blocks():
    model, inputs = _model(), _inputs()
    targets = model(inputs).detach()
    forward = dict(model.named_parameters())
    backward = dict(reversed(list(forward.items())))
    computed = bridge.jacobians(model, inputs, parameters=backward)
    assert [block.name for block in computed.blocks] == list(backward)
    np.testing.assert_array_equal(
        computed.block("0.weight"), bridge.jacobians(model, inputs).block("0.weight")
    )
    one = bridge.build_problem(model, inputs, targets, "mse")
    other = bridge.build_problem(model, inputs, targets, "mse", parameters=backward)
    for method in METHODS:
        assert stability.critical_learning_rate(one, method) == pytest.approx(
            stability.critical_learning_rate(other, method), rel=1e-9
        )


def test_a_subset_of_parameters_keeps_the_others_fixed():
    model, inputs = _model(), _inputs()
    last = {name: p for name, p in model.named_parameters() if name.startswith("2.")}
    computed = bridge.jacobians(model, inputs, parameters=last)
    full = bridge.jacobians(model, inputs)
    np.testing.assert_array_equal(computed.jacobians, full.jacobians[:, :, -computed.dimension :])


def test_block_ntk_form_gives_the_same_thresholds():
    model, inputs = _model(), _inputs()
    with torch.no_grad():
        outputs = model(inputs)
    for name, targets in (("mse", outputs), ("cross_entropy", torch.softmax(outputs, -1))):
        by_jacobians = bridge.build_problem(model, inputs, targets, name)
        for chunk_size in (None, 4):
            by_ntk = bridge.build_problem(
                model, inputs, targets, name, form="ntk", chunk_size=chunk_size
            )
            for method in METHODS:
                assert stability.critical_learning_rate(by_ntk, method) == pytest.approx(
                    stability.critical_learning_rate(by_jacobians, method), rel=1e-9
                )
    summed = bridge.build_problem(model, inputs, outputs, "sse", form="ntk", chunk_size=4)
    reference = bridge.build_problem(model, inputs, outputs, "sse")
    assert summed.sharpness == pytest.approx(reference.sharpness, rel=1e-12)
    with pytest.warns(GaussNewtonWarning):
        bridge.build_problem(model, inputs, outputs + 1, "mse", form="ntk", chunk_size=4)


def test_check_minimum_warns_away_from_a_minimum_and_not_at_one():
    model, inputs = _model(), _inputs()
    targets = model(inputs).detach()
    with warnings.catch_warnings():
        warnings.simplefilter("error", GaussNewtonWarning)
        report = bridge.check_minimum(model, inputs, targets, "mse")
    assert report.gauss_newton_is_hessian and report.loss == 0.0
    shifted = targets + 0.1
    with pytest.warns(GaussNewtonWarning, match="largest residual is 0.1"):
        report = bridge.check_minimum(model, inputs, shifted, "mse")
    assert report.largest_residual == pytest.approx(0.1)
    # the gradient of MSELoss at shifted targets, by autograd
    loss = torch.nn.MSELoss()(model(inputs), shifted)
    gradients = torch.autograd.grad(loss, list(model.parameters()))
    expected = torch.sqrt(sum((g**2).sum() for g in gradients)).item()
    assert report.gradient_norm == pytest.approx(expected, rel=1e-12)
    with pytest.warns(GaussNewtonWarning):
        bridge.build_problem(model, inputs, shifted, "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GaussNewtonWarning)
        bridge.build_problem(model, inputs, shifted, "mse", check=False)
        bridge.check_minimum(model, inputs, shifted, "mse", warn=False)


def test_polish_reaches_an_interpolating_minimum_nearby():
    model, inputs = _model(), _inputs()
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        targets = model(inputs) + 0.05 * torch.randn(SAMPLES, OUTPUTS, generator=generator)
    polished, report = bridge.polish(model, inputs, targets, "mse")
    assert report.converged and report.after.largest_residual <= 1e-12
    assert report.before.largest_residual > 0.01
    assert report.after.loss < 1e-20 < report.before.loss
    assert report.after.gradient_norm < 1e-9 * report.before.gradient_norm
    assert "converged" in str(report)
    # a nearby minimum: the step is of the size of the residuals it removed
    start = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    end = torch.cat([polished[name].reshape(-1) for name, _ in model.named_parameters()])
    assert torch.linalg.norm(end - start).item() < 1.0
    model.load_state_dict(polished)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GaussNewtonWarning)
        bridge.build_problem(model, inputs, targets, "mse")
    np.testing.assert_allclose(model(inputs).detach().numpy(), targets.numpy(), atol=1e-10)


def test_polish_cross_entropy_with_label_smoothing_then_gauss_newton_is_the_hessian():
    model, inputs = _model(3), _inputs(4)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    convention = stability.losses.CrossEntropyLoss(label_smoothing=0.1)
    with pytest.raises(InvalidInputError, match="one-hot"):
        bridge.polish(model, inputs, labels, "cross_entropy")
    polished, report = bridge.polish(model, inputs, labels, convention)
    assert report.converged
    model.load_state_dict(polished)
    probabilities = torch.softmax(model(inputs), -1).detach().numpy()
    np.testing.assert_allclose(probabilities[np.arange(SAMPLES), labels.numpy()], 0.95, atol=1e-10)
    problem = bridge.build_problem(model, inputs, labels, convention)
    # the exact Hessian of torch's label-smoothed cross-entropy, by autograd
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    torch_loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

    def loss(vector, rows=slice(None)):
        pieces = torch.split(vector, sizes)
        params = {n: piece.reshape(s) for n, piece, s in zip(names, pieces, shapes, strict=True)}
        return torch_loss(torch.func.functional_call(model, params, (inputs[rows],)), labels[rows])

    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    per_sample = np.array(
        [
            torch.autograd.functional.hessian(lambda v, i=i: loss(v, slice(i, i + 1)), flat).numpy()
            for i in range(SAMPLES)
        ]
    )
    reference = stability.Quadratic.from_hessians(per_sample)
    np.testing.assert_allclose(problem.hessian, reference.hessian, atol=1e-12)
    for method in METHODS:
        assert stability.critical_learning_rate(problem, method) == pytest.approx(
            stability.critical_learning_rate(reference, method), rel=1e-8
        )


def test_missing_torch_raises_the_package_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(OptionalDependencyError, match=r"stability\[torch\]"):
        bridge.jacobians(object(), [[0.0]])
    with pytest.raises(ImportError):
        bridge.polish(object(), [[0.0]], [0.0])


def test_bad_input_is_refused():
    model, inputs = _model(), _inputs()
    targets = model(inputs).detach()
    with pytest.raises(InvalidTypeError, match=r"model must be a torch\.nn\.Module"):
        bridge.jacobians(lambda x: x, inputs)
    with pytest.raises(InvalidTypeError, match="parameters must be a mapping"):
        bridge.jacobians(model, inputs, parameters=list(model.parameters()))
    with pytest.raises(InvalidInputError, match="chunk_size must be at least 1"):
        bridge.jacobians(model, inputs, chunk_size=0)
    with pytest.raises(InvalidInputError, match="form must be"):
        bridge.build_problem(model, inputs, targets, form="hessian")
    with pytest.raises(InvalidInputError, match="targets must have one entry"):
        bridge.build_problem(model, inputs, targets[:2])
    with pytest.raises(InvalidInputError, match="steps must be"):
        bridge.polish(model, inputs, targets, steps=-1)
    with pytest.raises(InvalidInputError, match="tolerance must be a positive"):
        bridge.check_minimum(model, inputs, targets, tolerance=0.0)
    with pytest.raises(InvalidInputError, match="loss must be one of"):
        bridge.build_problem(model, inputs, targets, "huber")
