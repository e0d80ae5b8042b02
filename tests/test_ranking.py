"""Rankings across variants: who is first as configured, and its lead over the next under
each assumption changed (`sweeps/ranking.py`)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from simulation.sweeps.ranking import leads


def summary(rows):
    return pd.DataFrame(rows, columns=["variant", "strategy.name", "ttu_p95_s_mean",
                                       "updated_fraction_mean"])


def test_the_lead_is_the_next_strategys_value_over_the_winners():
    s = summary([("as-configured", "a", 100.0, 1.0), ("as-configured", "b", 150.0, 1.0),
                 ("as-configured", "c", 120.0, 1.0),
                 ("slow-a", "a", 200.0, 1.0), ("slow-a", "b", 150.0, 1.0),
                 ("slow-a", "c", 160.0, 1.0)])
    winner, table = leads(s, "ttu_p95_s")
    assert winner == "a"
    base, other = (table.set_index("variant").loc[v] for v in ("as-configured", "slow-a"))
    assert base["other"] == "c" and base["lead"] == pytest.approx(120 / 100 - 1)
    assert other["first"] == "b" and other["lead"] == pytest.approx(150 / 200 - 1)
    assert other["lead"] < 0          # the winner as configured is beaten there


def test_a_strategy_that_does_not_update_the_fleet_does_not_rank():
    """One that updates few devices is fast (or frugal) for the few: it is left out, and a
    winner that stops updating the fleet under a variant has no lead there."""
    s = summary([("as-configured", "a", 100.0, 1.0), ("as-configured", "few", 10.0, 0.2),
                 ("as-configured", "b", 130.0, 1.0),
                 ("lossy", "a", 90.0, 0.5), ("lossy", "b", 140.0, 1.0),
                 ("lossy", "c", 150.0, 1.0)])
    winner, table = leads(s, "ttu_p95_s")
    assert winner == "a"
    lossy = table.set_index("variant").loc["lossy"]
    assert lossy["first"] == "b" and math.isnan(lossy["lead"])


def test_fewer_than_two_ranked_strategies_have_no_ranking():
    s = summary([("as-configured", "a", 100.0, 1.0), ("as-configured", "b", math.nan, 1.0)])
    winner, table = leads(s, "ttu_p95_s")
    assert winner == "" and table.empty


def test_energy_ranks_only_strategies_whose_devices_are_on_the_cellular_radio():
    """A device behind a gateway spends its local radio's energy (the gateway is not
    counted): ranked by energy it would always win, so energy compares cellular devices;
    time to update compares every strategy."""
    from simulation.strategies import CELLULAR, IMPLEMENTED
    from simulation.sweeps.ranking import comparable

    assert set(IMPLEMENTED) - set(CELLULAR) == {"delegated"}
    s = pd.DataFrame({"strategy.name": ["delegated", "mqtt-http"], "variant": "as-configured",
                      "energy_per_device_j_mean": [0.25, 21.0],
                      "ttu_p95_s_mean": [6000.0, 1800.0], "updated_fraction_mean": 1.0})
    assert list(comparable(s, "energy_per_device_j")["strategy.name"]) == ["mqtt-http"]
    assert list(comparable(s, "ttu_p95_s")["strategy.name"]) == ["delegated", "mqtt-http"]
