"""Rankings of strategies across the variants of a sweep (one modelling assumption changed
at a time): who is first by a field as configured, and by how much it leads, or trails,
the best other strategy under each variant."""
from __future__ import annotations

import math

import pandas as pd

from simulation.strategies import CELLULAR

COMPLETE = 0.99         # the share of the fleet updated that counts as updating it
#: summary fields compared among the cellular strategies only (a device on a gateway's
#: local radio spends a fraction of a cellular device's energy; the gateway is not counted)
CELLULAR_FIELDS = ("energy_per_device_j",)


def comparable(summary: pd.DataFrame, field: str,
               who: str = "strategy.name") -> pd.DataFrame:
    """The rows of `summary` whose strategies may be ranked by `field`."""
    if field in CELLULAR_FIELDS:
        return summary[summary[who].isin(CELLULAR)]
    return summary


def leads(summary: pd.DataFrame, field: str, base: str = "as-configured",
          who: str = "strategy.name", variant: str = "variant") -> tuple[str, pd.DataFrame]:
    """The strategy first (smallest `<field>_mean`) in variant `base`, and per variant:
    `first` (who is first there), `winner` (that strategy's mean), `other` (the best other
    strategy) and `other_mean`, and `lead` = other_mean / winner - 1 (negative: the base's
    winner is beaten; NaN: it has no value there). Only strategies that update the fleet
    (`updated_fraction_mean` >= COMPLETE) rank in a variant: one that updates few devices
    spends little. ("", empty) when fewer than two strategies rank as configured."""
    mean = f"{field}_mean"
    ok = summary[summary["updated_fraction_mean"] >= COMPLETE].dropna(subset=[mean])
    ranked = ok[ok[variant] == base].sort_values(mean, kind="stable")
    if len(ranked) < 2:
        return "", pd.DataFrame()
    winner = ranked[who].iloc[0]
    rows = []
    for v in dict.fromkeys(summary[variant]):
        here = ok[ok[variant] == v].sort_values(mean, kind="stable")
        others = here[here[who] != winner]
        if others.empty:
            continue
        mine = here.loc[here[who] == winner, mean]
        w = float(mine.iloc[0]) if len(mine) else math.nan
        o = float(others[mean].iloc[0])
        rows.append({variant: v, "first": here[who].iloc[0], "winner": w,
                     "other": others[who].iloc[0], "other_mean": o, "lead": o / w - 1})
    return winner, pd.DataFrame(rows)
