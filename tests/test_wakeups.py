"""Wake-ups against renewal theory: the delay from release to first contact."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import closed_form

from simulation import run
from simulation.validation.harness import first_contact_delays as harness_delays


def first_contact_delays(wake, n=3000, interval=600.0):
    """`harness.first_contact_delays` of `n` devices, and the interval."""
    return harness_delays(wake, n, interval), interval


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
