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


# --- the study's analysis API, on the shared quick study

from test_reproduce import quick_study  # noqa: E402,F401 - the shared quick study

from simulation import analysis  # noqa: E402


def test_study_summary_derives_fields_with_their_intervals(quick_study):  # noqa: F811
    summary = analysis.study_summary(quick_study, "cell-contention")
    stored = analysis.load_sweep(quick_study / "cell-contention")["summary"]
    pd_cols = ["strategy.name", "fleet.cells"]
    assert summary[pd_cols].equals(stored[pd_cols])
    assert np.allclose(summary["ttu_p50_s_mean"], stored["ttu_p50_s_mean"], equal_nan=True)
    assert np.allclose(summary["devices_per_cell_mean"],
                       summary["fleet_size_mean"] / summary["fleet.cells"])
    assert np.allclose(summary["manager_msgs_mean"],
                       summary["manager_msgs_in_mean"] + summary["manager_msgs_out_mean"])
    assert (summary["manager_msgs_ci95"] >= 0).all()


def test_select_nearest_and_kept_runs(quick_study):  # noqa: F811
    kept = analysis.kept_runs(quick_study, "fleet-size")
    sizes = sorted(kept["fleet.size"].unique())
    assert analysis.nearest(sizes, 1000) == sizes[-1]
    assert analysis.nearest([100, 1000, 10000], 2000) == 1000
    one = analysis.select(kept, {"strategy.name": "device-initiated",
                                 "fleet.size": float(sizes[0])})
    assert len(one) == 1
    run = analysis.point_run(quick_study, "fleet-size",
                             {"strategy.name": "device-initiated", "fleet.size": sizes[0]})
    assert len(run["devices"]) == sizes[0]
    with pytest.raises(KeyError):
        analysis.point_run(quick_study, "fleet-size", {"strategy.name": "device-initiated"})


def test_notebooks_find_the_results_through_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("IOTSU_RESULTS", raising=False)
    assert str(analysis.results_dir()) == "../results"
    monkeypatch.setenv("IOTSU_RESULTS", str(tmp_path))
    assert analysis.results_dir() == tmp_path
    with pytest.raises(Exception, match="no study.json"):
        analysis.load_study(tmp_path)
