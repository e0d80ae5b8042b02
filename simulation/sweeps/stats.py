"""Replication statistics: mean and the half-width of the 95 % Student-t interval."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


def ci95_half_width(values) -> float:
    """t_{0.975, n-1} x s / sqrt(n) of the finite values; NaN with fewer than two."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n))


def summarize(runs: pd.DataFrame, keys: list[str], fields: list[str]) -> pd.DataFrame:
    """One row per point: its grid values, then `<field>_mean` and `<field>_ci95` for each
    numeric field (over the replications that have a value), and `replications`."""
    rows = []
    groups = runs.groupby(keys, sort=False, dropna=False) if keys else [((), runs)]
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        row = dict(zip(keys, values, strict=True))
        row["replications"] = len(group)
        for f in fields:
            col = pd.to_numeric(group[f], errors="coerce").astype(float)
            row[f"{f}_mean"] = float(col.mean()) if col.notna().any() else math.nan
            row[f"{f}_ci95"] = ci95_half_width(col)
        rows.append(row)
    return pd.DataFrame(rows)
