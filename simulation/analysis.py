"""Reading results for notebooks and figures: no model code, only tables.

    from simulation.analysis import load_run, completion_curve
    run = load_run("results/run-baseline")
    t, fraction = completion_curve(run["devices"], run["scenario"]["update"]["release_s"])
"""
from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.errors import ScenarioError
from simulation.sweeps.stats import summarize


def load_run(folder: str | Path) -> dict:
    """A run's files: devices and manager tables, summary, scenario, manifest."""
    folder = Path(folder)
    return {
        "devices": pd.read_parquet(folder / "devices.parquet"),
        "manager": pd.read_parquet(folder / "manager.parquet"),
        "summary": json.loads((folder / "summary.json").read_text()),
        "scenario": tomllib.loads((folder / "scenario.toml").read_text()),
        "manifest": json.loads((folder / "manifest.json").read_text()),
    }


def load_sweep(folder: str | Path) -> dict:
    """A sweep's tables: runs, summary (means and 95 % CI half-widths), manifest."""
    folder = Path(folder)
    return {
        "runs": pd.read_parquet(folder / "runs.parquet"),
        "summary": pd.read_parquet(folder / "summary.parquet"),
        "manifest": json.loads((folder / "manifest.json").read_text()),
    }


def completion_curve(devices: pd.DataFrame, release_s: float,
                     t: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of the whole fleet updated against time since the release (s).

    Without `t`, the curve's own steps: one point per updated device, plus the origin."""
    ttu = np.sort(devices["t_updated_s"].dropna().to_numpy() - release_s)
    n = len(devices)
    if t is None:
        t = np.concatenate(([0.0], ttu))
        return t, np.arange(len(t)) / n
    t = np.asarray(t, dtype=float)
    return t, np.searchsorted(ttu, t, side="right") / n


def ttu_cdf(devices: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF of time to update over the whole fleet (devices not updated never
    reach it, so the curve ends at the updated fraction)."""
    ttu = np.sort(devices["time_to_update_s"].dropna().to_numpy())
    return ttu, np.arange(1, len(ttu) + 1) / len(devices)


# --- the study (`iotsu-sim reproduce`): its folder holds study.json and a folder per
# question's sweep; see simulation/study/runner.py.

#: per-run quantities the study derives from the summary fields (pandas.eval expressions;
#: dotted grid keys in backticks). Their means and 95 % intervals are taken over
#: replications like those of the stored fields.
DERIVED = {
    "manager_msgs": "manager_msgs_in + manager_msgs_out",
    "manager_msgs_per_device": "(manager_msgs_in + manager_msgs_out) / fleet_size",
    "backhaul_bytes_per_device": "manager_bytes_out / fleet_size",
    "radio_bytes_per_device": "bytes_up_per_device + bytes_down_per_device",
    "devices_per_cell": "fleet_size / `fleet.cells`",
}


def results_dir(default: str | Path = "../results") -> Path:
    """The study's results folder for a notebook: $IOTSU_RESULTS, else `default`."""
    return Path(os.environ.get("IOTSU_RESULTS") or default)


def load_study(folder: str | Path) -> dict:
    """The study's manifest (`study.json`): tier, and per question its grid and counts."""
    path = Path(folder) / "study.json"
    if not path.is_file():
        raise ScenarioError(f"{str(folder)!r} holds no study results (no study.json): run "
                            "iotsu-sim reproduce first")
    return json.loads(path.read_text())


def grid_keys(folder: str | Path, name: str) -> list[str]:
    """The grid keys of a question's sweep, in the experiment's order."""
    return list(load_sweep(Path(folder) / name)["manifest"]["grid"])


def study_runs(folder: str | Path, name: str) -> pd.DataFrame:
    """A question's runs table (one row per point and replication) with the DERIVED
    columns whose inputs it has."""
    runs = pd.read_parquet(Path(folder) / name / "runs.parquet")
    for column, expr in DERIVED.items():
        try:
            runs[column] = runs.eval(expr)
        except (KeyError, NameError):        # an input this question lacks
            continue
    return runs


def study_summary(folder: str | Path, name: str) -> pd.DataFrame:
    """Per point of a question: `<field>_mean`, `<field>_ci95` (half-width of the 95 %
    Student-t interval) and `<field>_lo`, `<field>_hi` (95 % bootstrap percentile interval,
    within the values' range) of every numeric field, the DERIVED ones included, and
    `replications` (`simulation.sweeps.stats.summarize`)."""
    runs = study_runs(folder, name)
    keys = grid_keys(folder, name)
    fields = [c for c in runs.columns if c not in (*keys, "replication", "seed")
              and pd.api.types.is_numeric_dtype(runs[c])
              and not pd.api.types.is_bool_dtype(runs[c])]
    return summarize(runs, keys, fields)


def select(table: pd.DataFrame, where: dict) -> pd.DataFrame:
    """The rows of `table` whose columns equal `where`'s values (numbers within 1e-9)."""
    mask = np.ones(len(table), dtype=bool)
    for key, value in where.items():
        column = table[key]
        if isinstance(value, str) or not pd.api.types.is_numeric_dtype(column):
            mask &= (column == value).to_numpy()
        else:
            mask &= np.isclose(column.to_numpy(dtype=float), float(value), rtol=1e-9,
                               atol=0.0)
    return table[mask]


def nearest(values, target: float):
    """The value closest to `target` on a log scale (e.g. the fleet size nearest 1000)."""
    values = sorted(set(values))
    return min(values, key=lambda v: abs(np.log(v / target)))


def kept_runs(folder: str | Path, name: str) -> pd.DataFrame:
    """The runs of a question whose devices tables the study kept (replication 0 of every
    point): the point's grid values, `seed`, `run_id` and `folder` (a run folder that
    `load_run` reads)."""
    base = Path(folder) / name / "devices"
    entries = json.loads((base / "index.json").read_text())
    return pd.DataFrame([{**e["point"], "seed": e["seed"], "run_id": e["run_id"],
                          "folder": str(base / e["run_id"])} for e in entries])


def point_run(folder: str | Path, name: str, where: dict) -> dict:
    """The kept run (replication 0) of the one point of a question matching `where`, as
    `load_run` gives it."""
    rows = select(kept_runs(folder, name), where)
    if len(rows) != 1:
        raise KeyError(f"{len(rows)} kept runs of {name} match {where}")
    return load_run(rows["folder"].iloc[0])


def findings(folder: str | Path, key: str | None = None) -> list[dict]:
    """The report's findings (`report.json`), each with its text and the source of each of
    its numbers; those of question `key` only if given."""
    data = json.loads((Path(folder) / "report.json").read_text())
    return [f for f in data["findings"] if key is None or f["question"] == key]
