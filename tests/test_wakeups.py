"""Wake-ups against renewal theory: the delay from release to first contact."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import closed_form

from simulation import run


def first_contact_delays(wake, n=3000, interval=600.0, release=600.0):
    """The horizon leaves room for the first contact after the release: within one
    interval for periodic wake-ups, 15 (a miss has probability e^-15 per device) for
    Poisson ones."""
    after = 2 * interval if wake == "periodic" else 15 * interval
    sc = closed_form(**{"strategy__name": "device-polling", "strategy__poll_interval_s": 0.0,
                        "device__wake": wake, "device__wake_interval_s": interval,
                        "fleet__size": n, "fleet__cells": n, "sim__fidelity": "flow",
                        "update__release_s": release, "update__image_bytes": 512,
                        "sim__horizon_s": release + after})
    res = run(sc)
    # A version check reaches the manager a fixed time after each wake-up, so the checks
    # form the same renewal process as the wake-ups, shifted: the first one at or after
    # the release comes after the residual life of that process.
    delay = res.devices["t_first_contact_s"].to_numpy() - release
    return delay, interval


@pytest.mark.slow
def test_periodic_wakeups_meet_the_release_after_half_an_interval():
    """Random phase: the residual time to the next wake-up is uniform on [0, interval)."""
    delay, interval = first_contact_delays("periodic")
    assert (delay >= -1e-6).all() and (delay < interval + 1e-6).all()
    se = interval / math.sqrt(12 * len(delay))
    assert abs(delay.mean() - interval / 2) < 4 * se


@pytest.mark.slow
def test_poisson_wakeups_meet_the_release_after_a_whole_interval():
    """Memoryless wake-ups: the residual time is exponential with the full mean
    (the inspection paradox of renewal theory)."""
    delay, interval = first_contact_delays("poisson")
    assert np.isfinite(delay).all()
    se = interval / math.sqrt(len(delay))
    assert abs(delay.mean() - interval) < 4 * se
    # and its coefficient of variation is that of an exponential
    assert abs(np.std(delay) / np.mean(delay) - 1.0) < 0.1


@pytest.mark.parametrize("period,every", [(600.0, 1), (1800.0, 3)])
def test_device_polling_polls_once_per_polling_period_of_wakeups(period, every):
    """With wake-ups every 600 s, a 600 s period polls at every wake-up; an 1800 s period
    at wake-ups 0, 3, 6, ... of each device: ceil(wake-ups / 3)."""
    sc = closed_form(**{"strategy__name": "device-polling", "strategy__poll_interval_s": period,
                        "device__wake_interval_s": 600.0, "fleet__size": 50,
                        "fleet__cells": 50, "sim__fidelity": "flow",
                        "update__release_s": 1e9, "sim__horizon_s": 6000.0})
    res = run(sc)
    expected = ((res.devices["wakeups"] + every - 1) // every).sum()
    assert res.summary["polls_sent"] == expected
