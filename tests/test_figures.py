"""Figures are drawn from stored results and show exactly the stored numbers."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from test_sweep import experiment_file  # noqa: E402

from simulation import load_scenario, run, sweep  # noqa: E402
from simulation.figures.draw import draw, plot_field, sweep_axes  # noqa: E402
from simulation.errors import ScenarioError  # noqa: E402
from simulation.outputs import write_run  # noqa: E402


@pytest.fixture(scope="module")
def stored_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    return sweep(experiment_file(tmp, replications=2), tmp / "out", workers=1,
                 progress=False)


def test_sweep_figures_show_the_summary_means(stored_sweep):
    summary = stored_sweep.summary
    x, hue = sweep_axes(stored_sweep.manifest, summary)
    assert (x, hue) == ("nat.udp_timeout_s", "strategy.name")
    fig, ax = plt.subplots()
    plot_field(ax, summary, x, "energy_per_device_j", hue)
    bars = {c.get_label(): c for c in ax.containers}      # one error-bar set per line
    assert set(bars) == set(summary[hue])
    for value in summary[hue].unique():
        line = bars[value].lines[0]
        rows = summary[summary[hue] == value].sort_values(x)
        assert np.allclose(line.get_xdata(), rows[x])
        assert np.allclose(line.get_ydata(), rows["energy_per_device_j_mean"])
    plt.close(fig)


def test_figures_command_draws_every_figure_of_a_folder_of_results(stored_sweep, tmp_path):
    result = run(load_scenario("baseline", {"fleet.size": 30, "fleet.cells": 3,
                                            "update.image_bytes": 4096}))
    write_run(result, tmp_path / "run", source="baseline", started="now")
    paths = draw(stored_sweep.out)
    assert {p.suffix for p in paths} == {".png", ".pdf"}
    assert all(p.stat().st_size > 1000 for p in paths)
    run_paths = draw(tmp_path)                 # a folder holding a run folder
    assert {p.stem for p in run_paths} == {"completion", "ttu_cdf", "manager_load"}
    with pytest.raises(ScenarioError, match="no run or sweep"):
        draw(tmp_path / "run" / "figures")
