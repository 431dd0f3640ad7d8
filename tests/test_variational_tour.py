"""``stability tour`` shows variational GD's threshold and its flatter edge next to GD's."""

from __future__ import annotations

import json

import pytest

from stability import GD, SGD, critical_learning_rate
from stability._examples import regression_example
from stability.cli import main
from stability.cli.tour import EDGE_SETTINGS, edge_rows
from stability.numeric import variational_edge


def test_tour_json_has_variational_rows_and_edges(capsys):
    assert main(["tour", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    problem = regression_example()
    rates = {
        (row["method"], row["batch"]): row["critical_learning_rate"] for row in payload["rates"]
    }
    # posterior noise is additive: the thresholds are GD's and SGD's
    assert rates[("VariationalGD σ²=0.01 S=1", "full batch")] == critical_learning_rate(
        problem, GD()
    )
    assert rates[("VariationalSGD σ²=0.01 S=4", "B=4 without replacement")] == (
        critical_learning_rate(problem, SGD(4))
    )
    edges = payload["variational_edges"]
    lr = edges["lr"]
    assert lr == pytest.approx(1 / problem.sharpness, rel=1e-15)
    assert edges["gd_edge"] == pytest.approx(2 / lr, rel=1e-15)
    assert len(edges["rows"]) == len(EDGE_SETTINGS)
    for row in edges["rows"]:
        # mean = v_1: c = λ_max², so z = S λ_max² / σ²
        z = row["samples"] * problem.sharpness**2 / row["posterior_variance"]
        assert row["z"] == pytest.approx(z, rel=1e-12)
        assert row["edge"] == pytest.approx(variational_edge(lr, z), rel=1e-12)
        assert row["edge"] < edges["gd_edge"]
        # at η = 1/λ_max, u = S/(4σ²): λ_max descends iff VF > ½ iff S > σ²
        assert row["sharpest_direction_descends"] == (row["samples"] > row["posterior_variance"])


def test_tour_table_shows_the_edge_next_to_gd(capsys):
    assert main(["tour"]) == 0
    out = capsys.readouterr().out
    assert "VariationalGD σ²=0.01 S=1" in out and "Expected-descent edge" in out
    _, gd_edge, rows = edge_rows()
    assert f"{gd_edge:.8g}" in out
    for _, _, _, edge in rows:
        assert f"{edge:.8g}" in out
    # more posterior variance → flatter edge; more samples → back towards 2/η
    by_setting = {(variance, samples): edge for variance, samples, _, edge in rows}
    assert by_setting[(0.01, 1)] > by_setting[(0.1, 1)] > by_setting[(2.0, 1)]
    assert by_setting[(2.0, 1)] < by_setting[(2.0, 16)] < by_setting[(2.0, 256)] < gd_edge
