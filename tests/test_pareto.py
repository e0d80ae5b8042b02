"""Pareto fronts of a sweep's summary against a brute-force definition of dominance."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from simulation.sweeps.pareto import fronts, on_front


def dominated_brute_force(v: np.ndarray, i: int) -> bool:
    return any(all(v[j] <= v[i]) and any(v[j] < v[i]) for j in range(len(v)) if j != i)


@pytest.mark.parametrize("seed", range(20))
def test_the_front_is_what_no_other_row_dominates(seed):
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 6, size=(int(rng.integers(1, 15)), int(rng.integers(1, 4)))).astype(float)
    got = on_front(v)
    assert list(got) == [not dominated_brute_force(v, i) for i in range(len(v))]
    assert got.any()                         # a finite set always has a front


def test_missing_values_are_off_the_front_and_ties_stay_on_it():
    v = np.array([[1.0, 5.0], [1.0, 5.0], [0.5, np.nan], [2.0, 6.0], [5.0, 1.0]])
    assert list(on_front(v)) == [True, True, False, False, True]


def test_fronts_are_per_profile():
    """A strategy on the front at one wake interval may be off it at another."""
    summary = pd.DataFrame(
        [(w, s, e, t) for w, rows in ((900, [("a", 1, 9), ("b", 2, 2), ("c", 3, 3)]),
                                      (3600, [("a", 1, 1), ("b", 2, 2), ("c", 3, 0.5)]))
         for s, e, t in rows],
        columns=["device.wake_interval_s", "strategy.name", "energy_per_device_j_mean",
                 "ttu_p95_s_mean"])
    f = fronts(summary, "device.wake_interval_s")
    front = {(w, s) for w, s, ok in zip(f["device.wake_interval_s"], f["strategy.name"],
                                        f["on_front"], strict=True) if ok}
    assert front == {(900, "a"), (900, "b"), (3600, "a"), (3600, "c")}
    assert list(itertools.islice(f.columns, 2)) == ["device.wake_interval_s", "strategy.name"]
