"""Pareto fronts over a sweep's summary: the strategies no other beats on every criterion
at once (both minimised: energy per device and p95 time to update, by default).

A strategy whose criterion is missing (no p95 because fewer than 95 % were updated within
the horizon) is not on the front; ties keep both."""
from __future__ import annotations

import numpy as np
import pandas as pd


def on_front(values: np.ndarray) -> np.ndarray:
    """Rows of `values` (n x k, every column minimised) that no other row dominates: one
    row dominates another when it is no worse in every column and better in one. Rows
    with a NaN are never on the front."""
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v).all(axis=1)
    front = ok.copy()
    for i in np.flatnonzero(ok):
        others = v[ok]
        no_worse = (others <= v[i]).all(axis=1)
        better = (others < v[i]).any(axis=1)
        if (no_worse & better).any():
            front[i] = False
    return front


def fronts(summary: pd.DataFrame, by: str | None, criteria: tuple[str, ...] = (
        "energy_per_device_j_mean", "ttu_p95_s_mean"), who: str = "strategy.name"
           ) -> pd.DataFrame:
    """For each value of the grid key `by` (a fleet profile: one wake interval, coverage,
    NAT timeout or fleet size; None: the whole summary), which rows (`who`) are on the
    Pareto front of `criteria`. Returns `by`, `who`, the criteria and `on_front`, in the
    summary's order."""
    out = []
    groups = summary.groupby(by, sort=False) if by else [(None, summary)]
    for _, group in groups:
        g = group[[c for c in (by, who) if c] + list(criteria)].copy()
        g["on_front"] = on_front(g[list(criteria)].to_numpy())
        out.append(g)
    return pd.concat(out, ignore_index=True)
