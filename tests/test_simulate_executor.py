"""Simulations through executors: a local process pool and a dask.distributed LocalCluster.

Chunks draw from independent streams spawned from one SeedSequence, so results must be
bit-for-bit identical whichever executor runs them (docs/monte-carlo.md).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from stability import SGD, HeavyBall, Quadratic
from stability.checks import check
from stability.methods import VariationalGD
from stability.simulation import simulate
from stability.sweeps import sweep

PROBLEM = Quadratic.from_data(np.random.default_rng(0).standard_normal((8, 3)))
METHODS = [SGD(2), HeavyBall(0.5, batch_size=3), VariationalGD(0.3, samples=2, batch_size=2)]


def _serial(method):
    return simulate(PROBLEM, method, 0.2, steps=12, runs=2500, seed=5, chunk_size=600)


def _assert_same(left, right):
    assert np.array_equal(left.final_states, right.final_states)
    assert np.array_equal(left.mean_square, right.mean_square)
    assert np.array_equal(left.variance, right.variance)


@pytest.fixture(scope="module")
def process_pool():
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        yield pool


@pytest.mark.parametrize("method", METHODS, ids=lambda m: type(m).__name__)
def test_process_pool_gives_identical_results(process_pool, method):
    pooled = simulate(
        PROBLEM, method, 0.2, steps=12, runs=2500, seed=5, chunk_size=600, executor=process_pool
    )
    _assert_same(pooled, _serial(method))


def test_thread_pool_gives_identical_results():
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = simulate(
            PROBLEM, METHODS[0], 0.2, steps=12, runs=2500, seed=5, chunk_size=600, executor=pool
        )
    _assert_same(threaded, _serial(METHODS[0]))


def test_sweep_through_process_pool(process_pool):
    methods = [SGD(1), SGD(4)]
    kwargs = {"relative": True, "steps": 5, "runs": 1500, "seed": 3, "chunk_size": 500}
    pooled = sweep(PROBLEM, methods, [0.5, 1.2], executor=process_pool, **kwargs)
    serial = sweep(PROBLEM, methods, [0.5, 1.2], **kwargs)
    assert np.array_equal(pooled.mean_square, serial.mean_square)


def test_dask_local_cluster_gives_identical_results():
    import distributed  # the test extra installs dask[distributed]
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = client.get_executor()
        for method in METHODS[:2]:
            remote = simulate(
                PROBLEM,
                method,
                0.2,
                steps=12,
                runs=2500,
                seed=5,
                chunk_size=600,
                executor=executor,
            )
            _assert_same(remote, _serial(method))
        grid = sweep(
            PROBLEM,
            [SGD(2)],
            [0.1, 0.3],
            steps=4,
            runs=800,
            seed=1,
            chunk_size=300,
            executor=executor,
        )
        assert np.array_equal(
            grid.mean_square,
            sweep(
                PROBLEM, [SGD(2)], [0.1, 0.3], steps=4, runs=800, seed=1, chunk_size=300
            ).mean_square,
        )
        report = check(PROBLEM, SGD(2), 0.2, seed=2, runs=3000, executor=executor)
        serial = check(PROBLEM, SGD(2), 0.2, seed=2, runs=3000)
        assert report.agrees and serial.agrees
        assert report.rates[0].radius_estimate == serial.rates[0].radius_estimate
