"""Reading results for notebooks and figures: no model code, only tables.

    from simulation.analysis import load_run, completion_curve
    run = load_run("results/run-baseline")
    t, fraction = completion_curve(run["devices"], run["scenario"]["update"]["release_s"])
"""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd


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
