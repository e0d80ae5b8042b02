"""Replication statistics: the bootstrap interval (`_lo`, `_hi`) never leaves the range of
the values, is reproducible whatever the order of the rows, and covers the mean about as
often as a percentile bootstrap should."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulation.sweeps.stats import bootstrap_bounds, summarize

KEYS = ["strategy.name", "nat.udp_timeout_s"]


def runs_table(seed: int = 1, replications: int = 3) -> pd.DataFrame:
    """A runs table of 2 x 2 points: a fraction in [0, 1], a time and an energy >= 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for strategy in ("device-initiated", "device-polling"):
        for timeout in (15, 60):
            for r in range(replications):
                rows.append({"strategy.name": strategy, "nat.udp_timeout_s": timeout,
                             "replication": r,
                             "updated_fraction": min(1.0, rng.uniform(0.9, 1.1)),
                             "ttu_p95_s": rng.exponential(3000.0),
                             "energy_per_device_j": rng.lognormal(1.0, 1.0)})
    return pd.DataFrame(rows)


FIELDS = ["updated_fraction", "ttu_p95_s", "energy_per_device_j"]


@pytest.mark.parametrize("replications", [2, 3, 5, 10])
def test_interval_holds_the_mean_and_stays_within_the_values(replications):
    runs = runs_table(seed=replications, replications=replications)
    summary = summarize(runs, KEYS, FIELDS)
    for _, row in summary.iterrows():
        group = runs[(runs[KEYS] == row[KEYS]).all(axis=1)]
        for f in FIELDS:
            lo, mean, hi = row[f"{f}_lo"], row[f"{f}_mean"], row[f"{f}_hi"]
            assert lo <= mean * (1 + 1e-12) and mean <= hi * (1 + 1e-12)   # mean: rounding
            assert group[f].min() <= lo <= hi <= group[f].max()
        assert 0.0 <= row["updated_fraction_lo"] <= row["updated_fraction_hi"] <= 1.0
        assert row["ttu_p95_s_lo"] >= 0.0


def test_bootstrap_stays_non_negative_where_student_t_goes_below_zero():
    runs = pd.DataFrame({"x": [1, 1], "ttu_p95_s": [10.0, 4000.0]})
    row = summarize(runs, ["x"], ["ttu_p95_s"]).iloc[0]
    assert row["ttu_p95_s_mean"] - row["ttu_p95_s_ci95"] < -20000     # Student-t, 2 values
    assert (row["ttu_p95_s_lo"], row["ttu_p95_s_hi"]) == (10.0, 4000.0)   # their range


def test_summary_is_reproducible_whatever_the_order_of_rows_keys_and_fields():
    runs = runs_table(replications=4)
    one = summarize(runs, KEYS, FIELDS)
    pd.testing.assert_frame_equal(one, summarize(runs, KEYS, FIELDS))
    shuffled = runs.sample(frac=1.0, random_state=7)
    other = summarize(shuffled, list(reversed(KEYS)), FIELDS)
    other = other.set_index(KEYS).reindex(one.set_index(KEYS).index).reset_index()
    for f in FIELDS:
        for s in ("lo", "hi"):
            assert np.array_equal(other[f"{f}_{s}"], one[f"{f}_{s}"])
    alone = summarize(runs, KEYS, ["ttu_p95_s"])                 # without the other fields
    assert np.array_equal(alone["ttu_p95_s_lo"], one["ttu_p95_s_lo"])
    as_float = runs.astype({"nat.udp_timeout_s": float})        # 15 and 15.0: one point
    assert np.array_equal(summarize(as_float, KEYS, FIELDS)["ttu_p95_s_hi"],
                          one["ttu_p95_s_hi"])


def test_interval_is_nan_with_fewer_than_two_finite_values_and_exact_when_constant():
    b = bootstrap_bounds({"one": np.array([3.0]), "gaps": np.array([2.0, np.nan, np.inf]),
                          "same": np.array([0.1, 0.1, 0.1]), "none": np.array([])},
                         {"k": 1})
    assert all(math.isnan(v) for f in ("one", "gaps", "none") for v in b[f])
    assert b["same"] == (0.1, 0.1)
    row = summarize(pd.DataFrame({"k": [1], "x": [5.0]}), ["k"], ["x"]).iloc[0]
    assert math.isnan(row["x_lo"]) and math.isnan(row["x_hi"]) and row["x_mean"] == 5.0


def test_percentile_interval_covers_the_true_mean_as_often_as_it_should():
    """Coverage over 400 seeded trials of n = 10 normal replications.

    The percentile bootstrap of a mean is about mean +- z_0.975 x s_plugin / sqrt(n), with
    the plug-in s (ddof 0) = s x sqrt((n - 1) / n): its coverage is about
    P(|t_{n-1}| < z_0.975 x sqrt((n - 1) / n)) = 0.904 for n = 10, below 95 % (the t
    interval's). The test accepts that value +- 3 binomial standard deviations of 400
    trials (0.86 to 0.95): it fails for [min, max] (coverage 0.998), for an interval far
    too narrow, or for one that misses the mean's centre.
    """
    n, trials, mu = 10, 400, 5.0
    rng = np.random.default_rng(12345)
    covered = 0
    for trial in range(trials):
        x = rng.normal(mu, 2.0, n)
        lo, hi = bootstrap_bounds({"x": x}, {"trial": trial})["x"]
        covered += lo <= mu <= hi
    expected = 2 * stats.t.cdf(stats.norm.ppf(0.975) * math.sqrt((n - 1) / n), n - 1) - 1
    sd = math.sqrt(expected * (1 - expected) / trials)
    assert expected == pytest.approx(0.904, abs=0.001)
    assert expected - 3 * sd <= covered / trials <= expected + 3 * sd
