"""Figures from stored results, without simulating: `iotsu-sim figures RESULTS_DIR`.

* A sweep folder (`runs.parquet`, `summary.parquet`): each main summary field against the
  grid's numeric key, one line per value of its other key (e.g. the strategy), every point
  its mean with its 95 % interval over replications as an error bar (the bootstrap
  interval `_lo`/`_hi`, else the Student-t `_ci95` of older summaries: study.interval).
* A run folder (`devices.parquet`): the campaign's completion curve, the CDF of time to
  update and the manager's load over time.
* The folder of `iotsu-sim reproduce` (`study.json`): the study's figures (see study.py),
  into `<folder>/figures/`.

Figures go to `<folder>/figures/` as PNG and PDF, in the style of `style.py`.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from simulation.analysis import completion_curve, load_run, load_sweep, ttu_cdf
from simulation.errors import ScenarioError
from simulation.figures import style
from simulation.figures.study import draw_study, interval

SWEEP_FIELDS = {
    "updated_fraction": "updated fraction",
    "ttu_p50_s": "median time to update (s)",
    "ttu_p95_s": "p95 time to update (s)",
    "energy_per_device_j": "energy per device (J)",
    "bytes_down_per_device": "downlink bytes per device",
    "manager_msgs_out": "manager messages sent",
    "manager_peak_rps": "manager peak messages/s",
}


def _save(fig, folder: Path, name: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return paths


def plot_field(ax, summary: pd.DataFrame, x: str, field: str, hue: str | None) -> None:
    """Mean and 95 % interval of `field` against grid key `x`, one line per value of
    `hue`."""
    groups = summary.groupby(hue, sort=False) if hue else [(None, summary)]
    for value, group in groups:
        group = group.sort_values(x)
        kw = style.strategy_style(value) if hue == "strategy.name" else {"label": value}
        ax.errorbar(group[x], group[f"{field}_mean"], yerr=interval(group, field),
                    capsize=2, **kw)
    xs = summary[x].to_numpy(dtype=float)
    if xs.min() > 0 and xs.max() / xs.min() >= 100:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(SWEEP_FIELDS.get(field, field))
    if hue:
        ax.legend(title=None)


def sweep_axes(manifest: dict, summary: pd.DataFrame) -> tuple[str, str | None]:
    """The x key (the numeric grid key with the most values) and the hue key (another)."""
    grid = manifest["grid"]
    numeric = [k for k in grid if pd.api.types.is_numeric_dtype(summary[k])]
    if not numeric:
        raise ScenarioError("the sweep's grid has no numeric key to plot against")
    x = max(numeric, key=lambda k: len(grid[k]))
    others = [k for k in grid if k != x]
    return x, (others[0] if others else None)


def draw_sweep(folder: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style.apply()
    data = load_sweep(folder)
    summary = data["summary"]
    x, hue = sweep_axes(data["manifest"], summary)
    paths = []
    for field in SWEEP_FIELDS:
        if f"{field}_mean" not in summary or summary[f"{field}_mean"].isna().all():
            continue
        fig, ax = plt.subplots()
        plot_field(ax, summary, x, field, hue)
        paths += _save(fig, folder / "figures", field)
    return paths


def draw_run(folder: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style.apply()
    run = load_run(folder)
    devices, summary = run["devices"], run["summary"]
    release = run["scenario"]["update"]["release_s"]
    colour = style.strategy_style(summary["strategy"])
    paths = []
    fig, ax = plt.subplots()
    t, frac = completion_curve(devices, release)
    ax.step(t / 3600, frac, where="post", color=colour["color"], label=summary["strategy"])
    ax.set_xlabel("time since release (h)")
    ax.set_ylabel("fraction of the fleet updated")
    ax.set_ylim(0, 1.02)
    ax.legend()
    paths += _save(fig, folder / "figures", "completion")
    fig, ax = plt.subplots()
    x, f = ttu_cdf(devices)
    ax.step(x, f, where="post", color=colour["color"])
    ax.set_xlabel("time to update (s)")
    ax.set_ylabel("CDF over the fleet")
    paths += _save(fig, folder / "figures", "ttu_cdf")
    fig, ax = plt.subplots()
    m = run["manager"]
    ax.plot(m["t_s"] / 3600, m["rps_in"] + m["rps_out"], color=style.OKABE_ITO[4],
            linewidth=0.6)
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("manager messages/s")
    paths += _save(fig, folder / "figures", "manager_load")
    return paths


def draw(folder: str | Path) -> list[Path]:
    """Every figure of the results in `folder` (a run, a sweep, or folders of them)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScenarioError(f"results folder {str(folder)!r} does not exist")
    if (folder / "study.json").is_file():
        return draw_study(folder)
    if (folder / "summary.parquet").is_file():
        return draw_sweep(folder)
    if (folder / "devices.parquet").is_file():
        return draw_run(folder)
    paths = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (sub / "summary.parquet").is_file() or (sub / "devices.parquet").is_file():
            paths += draw(sub)
    if not paths:
        raise ScenarioError(f"no run or sweep results in {str(folder)!r}")
    return paths
