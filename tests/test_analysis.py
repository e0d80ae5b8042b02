"""The analysis API reads what `run` writes and agrees with its summary."""
from __future__ import annotations

import numpy as np
import pytest

from simulation import load_scenario, run
from simulation.analysis import completion_curve, load_run, ttu_cdf
from simulation.figures.style import OKABE_ITO, STRATEGY_ORDER, strategy_style
from simulation.outputs import write_run


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    result = run(load_scenario("baseline", {"fleet.size": 60, "fleet.cells": 6,
                                            "update.image_bytes": 8192}))
    out = tmp_path_factory.mktemp("run")
    write_run(result, out, source="baseline", started="now")
    return result, out


def test_load_run_reads_the_files_back(stored):
    result, out = stored
    loaded = load_run(out)
    assert loaded["summary"]["ttu_p50_s"] == pytest.approx(result.summary["ttu_p50_s"])
    assert loaded["scenario"]["fleet"]["size"] == 60
    assert len(loaded["devices"]) == 60


def test_completion_curve_ends_at_the_updated_fraction_and_rises(stored):
    result, _ = stored
    release = result.scenario.update.release_s
    t, frac = completion_curve(result.devices, release)
    assert frac[0] == 0 and np.all(np.diff(frac) >= 0)
    assert frac[-1] == pytest.approx(result.summary["updated_fraction"])
    grid = np.linspace(0, 20000, 50)
    _, on_grid = completion_curve(result.devices, release, grid)
    p50 = result.summary["ttu_p50_s"]
    assert on_grid[grid < p50].max() < 0.5 <= on_grid[grid >= p50 + 1e-9].min()


def test_cdf_quantiles_equal_the_summary(stored):
    result, _ = stored
    x, f = ttu_cdf(result.devices)
    assert x[np.searchsorted(f, 0.5)] == pytest.approx(result.summary["ttu_p50_s"])
    assert x[np.searchsorted(f, 0.95)] == pytest.approx(result.summary["ttu_p95_s"])


def test_every_strategy_keeps_its_own_colour_and_marker():
    styles = [strategy_style(s) for s in STRATEGY_ORDER]
    assert len({s["color"] for s in styles}) == len(STRATEGY_ORDER) == len(OKABE_ITO)
    assert len({s["marker"] for s in styles}) == len(STRATEGY_ORDER)
