"""Per-sample Jacobians and block NTK through the bridges (never asserted in tests).

Run ``python benchmarks/bridges.py`` (needs the ``torch`` and ``jax`` extras). The model is
the ten-class tanh MLP of the real-models tutorial (64 inputs, ``--width`` hidden units,
10 outputs) on ``--samples`` random inputs; printed as a Markdown table.

What is measured, for each framework and chunk size:

* ``jacobians_s``: ``bridge.jacobians`` (``vmap(jacrev)`` over chunks, written into one
  float64 ``(n, k, d)`` array), best of ``--repeats`` calls after one warm-up call (JAX
  compiles on the first call for each chunk shape);
* ``ntk_s``: ``build_problem(..., form="ntk")``, which recomputes Jacobians chunk pair by
  chunk pair and holds two chunks at a time;
* ``jacobian_MB`` / ``ntk_MB``: the arrays each route keeps (``n k d`` and ``(n k)²``
  float64 numbers).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def _best(function, repeats: int) -> float:
    function()  # warm-up (JAX compiles here)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunks", type=int, nargs="+", default=[0, 50])
    arguments = parser.parse_args()

    import jax.numpy as jnp
    import torch

    from stability.bridges import jax as jax_bridge
    from stability.bridges import torch as torch_bridge

    torch.set_num_threads(1)
    n, width, k = arguments.samples, arguments.width, 10
    rng = np.random.default_rng(0)
    inputs = rng.random((n, 64))
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, width), torch.nn.Tanh(), torch.nn.Linear(width, k)
    ).double()
    params = {
        "w1": rng.standard_normal((64, width)) / 8,
        "b1": np.zeros(width),
        "w2": rng.standard_normal((width, k)) / np.sqrt(width),
        "b2": np.zeros(k),
    }

    def apply(params, batch):
        return jnp.tanh(batch @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]

    d = sum(p.numel() for p in model.parameters())
    targets = model(torch.tensor(inputs)).detach().numpy()
    jax_targets = np.asarray(apply(params, inputs))
    print(f"n = {n}, k = {k}, d = {d}")
    print("| framework | chunk | jacobians_s | ntk_s | jacobian_MB | ntk_MB |")
    print("|---|---|---|---|---|---|")
    for chunk in arguments.chunks:
        size = chunk or None
        cases = {
            "torch": (
                lambda size=size: torch_bridge.jacobians(model, inputs, chunk_size=size),
                lambda size=size: torch_bridge.build_problem(
                    model, inputs, targets, form="ntk", chunk_size=size, check=False
                ),
            ),
            "jax": (
                lambda size=size: jax_bridge.jacobians(apply, params, inputs, chunk_size=size),
                lambda size=size: jax_bridge.build_problem(
                    apply, params, inputs, jax_targets, form="ntk", chunk_size=size, check=False
                ),
            ),
        }
        for framework, (jacobians, ntk) in cases.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                jacobian_time = _best(jacobians, arguments.repeats)
                ntk_time = _best(ntk, 1)
            print(
                f"| {framework} | {chunk or 'all'} | {jacobian_time:.3f} | {ntk_time:.3f} | "
                f"{n * k * d * 8 / 1e6:.1f} | {(n * k) ** 2 * 8 / 1e6:.1f} |"
            )


if __name__ == "__main__":
    main()
