"""Figures are drawn from stored results and show exactly the stored numbers."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from test_sweep import experiment_file  # noqa: E402

from simulation import load_scenario, run, sweep  # noqa: E402
from simulation.figures.draw import draw, plot_field, sweep_axes  # noqa: E402
from simulation.figures.study import FIGURES, tier_note  # noqa: E402
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


def error_bar_ends(container) -> np.ndarray:
    """(points, 2): the low and high ends of an error-bar container's vertical bars."""
    return np.array([[seg[0][1], seg[1][1]] for seg in container.lines[2][0].get_segments()])


def test_sweep_error_bars_are_the_bootstrap_interval_or_the_ci_of_older_summaries(
        stored_sweep):
    summary = stored_sweep.summary
    x, hue = sweep_axes(stored_sweep.manifest, summary)
    older = summary.drop(columns=[c for c in summary if c.endswith(("_lo", "_hi"))])
    for table, low, high in ((summary, "ttu_p95_s_lo", "ttu_p95_s_hi"), (older, None, None)):
        fig, ax = plt.subplots()
        plot_field(ax, table, x, "ttu_p95_s", hue)
        for container in ax.containers:
            rows = table[table[hue] == container.get_label()].sort_values(x)
            mean, half = rows["ttu_p95_s_mean"], rows["ttu_p95_s_ci95"]
            ends = np.column_stack([rows[low], rows[high]] if low else [mean - half,
                                                                        mean + half])
            assert np.allclose(error_bar_ends(container), ends)
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


# --- the study's figures (simulation/figures/study.py) on the shared quick study

from test_reproduce import quick_study  # noqa: E402,F401 - the shared quick study


def test_study_lines_show_the_means_and_intervals_over_replications(quick_study):  # noqa: F811
    from simulation.analysis import study_runs, study_summary
    from simulation.figures.study import lines

    summary = study_summary(quick_study, "fleet-size")
    runs = study_runs(quick_study, "fleet-size")
    fig, ax = plt.subplots()
    lines(ax, summary, "fleet.size", "manager_msgs")
    bars = {c.get_label(): c for c in ax.containers}
    assert set(bars) == set(summary["strategy.name"])
    for strategy, container in bars.items():
        mine = runs[runs["strategy.name"] == strategy]
        means = mine.groupby("fleet.size")[["manager_msgs_in", "manager_msgs_out"]].mean()
        line = container.lines[0]
        assert np.allclose(line.get_xdata(), means.index)
        assert np.allclose(line.get_ydata(), means.sum(axis=1))
        rows = summary[summary["strategy.name"] == strategy].sort_values("fleet.size")
        assert np.allclose(error_bar_ends(container),              # the bootstrap interval
                           rows[["manager_msgs_lo", "manager_msgs_hi"]], equal_nan=True)
    plt.close(fig)
    entry = next(q for q in json.loads((quick_study / "study.json").read_text())["questions"]
                 if q["key"] == "a")
    note = f"quick tier: {entry['replications']} replications, intervals indicative"
    fig = FIGURES["a_manager_load"][1](quick_study)
    assert note in [t.get_text() for t in fig.texts]
    plt.close(fig)


def test_only_the_quick_tier_notes_that_its_intervals_are_indicative(tmp_path):
    study = {"tier": "quick", "questions": [{"key": "a", "replications": 2}]}
    (tmp_path / "study.json").write_text(json.dumps(study))
    assert tier_note(tmp_path, "a") == "quick tier: 2 replications, intervals indicative"
    (tmp_path / "study.json").write_text(json.dumps({**study, "tier": "default"}))
    assert tier_note(tmp_path, "a") is None


def test_bytes_split_figure_waits_for_the_split_with_a_note(quick_study, tmp_path,  # noqa: F811
                                                            caplog):
    import logging
    import shutil

    import pandas as pd

    from simulation.figures.study import BYTE_PARTS, bytes_split, draw_study

    copy = tmp_path / "results"
    shutil.copytree(quick_study, copy)
    runs_path = copy / "security" / "runs.parquet"
    runs = pd.read_parquet(runs_path)
    if "payload_bytes_per_device" in runs:
        fig = bytes_split(copy)
        widths = [p.get_width() for p in fig.axes[0].patches[:len(runs["strategy.name"].unique())]]
        assert max(widths) > 50                          # the payload: kB of the image
        plt.close(fig)
    runs.drop(columns=[c for c in (*BYTE_PARTS, "bytes_per_device") if c in runs]).to_parquet(
        runs_path)
    with caplog.at_level(logging.INFO, logger="simulation.figures.study"):
        assert bytes_split(copy) is None
    assert "bytes split figure skipped" in caplog.text
    draw_study(copy)
    assert not list((copy / "figures").glob("g_bytes_split.*"))
    assert (copy / "figures" / "g_security.pdf").is_file()


def test_pareto_panels_join_exactly_the_strategies_no_other_beats(quick_study):  # noqa: F811
    """Each panel of a Pareto figure: one marker per strategy with a p95, the dashed front
    through exactly the non-dominated ones (checked here by brute force on the runs), each
    point labelled with the manager's messages per device."""
    from simulation.analysis import study_runs
    from simulation.figures.study import PROFILES, pareto

    name, by = PROFILES["c"]
    runs = study_runs(quick_study, name)
    fig = pareto(quick_study, "c")
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
    values = sorted(set(runs[by]))
    assert len(panels) == len(values)
    for ax, value in zip(panels, values, strict=True):
        means = runs[runs[by] == value].groupby("strategy.name")[
            ["energy_per_device_j", "ttu_p95_s", "manager_msgs_per_device"]].mean()
        means = means.dropna()
        front = {s for s, e, t in zip(means.index, means["energy_per_device_j"],
                                      means["ttu_p95_s"], strict=True)
                 if not any((e2 <= e and t2 <= t and (e2 < e or t2 < t))
                            for e2, t2 in zip(means["energy_per_device_j"],
                                              means["ttu_p95_s"], strict=True))}
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"][0]
        drawn = set(zip(np.round(dashed.get_xdata(), 9), np.round(dashed.get_ydata(), 9)))
        assert drawn == {(round(means.loc[s, "energy_per_device_j"], 9),
                          round(means.loc[s, "ttu_p95_s"], 9)) for s in front}
        labels = sorted(t.get_text() for t in ax.texts)
        assert labels == sorted(f"{v:.0f}" for v in means["manager_msgs_per_device"])
    plt.close(fig)
