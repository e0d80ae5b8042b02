"""Radio states and energy: closed-form integration of the power draw."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import closed_form

from simulation import run
from simulation.scenario import load_scenario
from simulation.world.radio import CONNECTED, IDLE, PSM, Radios, gap_energy_mj


def test_gap_energy_is_piecewise_power_times_time():
    # 20 s connected, 8 s idle, rest PSM
    e = gap_energy_mj(100.0, 20.0, 8.0, rx_mw=150.0, idle_mw=2.0, psm_mw=0.01)
    assert e == pytest.approx(150 * 20 + 2 * 8 + 0.01 * 72)
    assert gap_energy_mj(5.0, 20.0, 8.0, 150.0, 2.0, 0.01) == pytest.approx(150 * 5)
    assert gap_energy_mj(25.0, 20.0, 8.0, 150.0, 2.0, 0.01) == pytest.approx(150 * 20 + 2 * 5)


def radios(n=1):
    sc = load_scenario("baseline")
    return sc, Radios(n, sc.device, sc.power, connect_s=1.0)


def test_a_radio_that_only_sleeps_draws_psm_power():
    sc, r = radios(3)
    energy = r.close(86_400.0)
    assert np.allclose(energy, sc.power.psm_mw * 86_400.0 / 1000)


def test_one_activity_then_timers():
    sc, r = radios()
    p, d = sc.power, sc.device
    r.busy(0, 10.0, 12.0, tx_s=0.5)
    assert r.state(0, 12.0 + d.inactivity_s - 1e-6) == CONNECTED
    assert r.state(0, 12.0 + d.inactivity_s + 1e-6) == IDLE
    assert r.state(0, 12.0 + d.inactivity_s + d.active_timer_s + 1e-6) == PSM
    horizon = 1000.0
    expected = (p.psm_mw * 10 + p.tx_mw * 0.5 + p.rx_mw * 1.5 + p.rx_mw * d.inactivity_s
                + p.idle_mw * d.active_timer_s
                + p.psm_mw * (horizon - 12 - d.inactivity_s - d.active_timer_s)) / 1000
    assert r.close(horizon)[0] == pytest.approx(expected)


def test_reachability_follows_the_state():
    sc, r = radios()
    d = sc.device
    r.busy(0, 0.0, 1.0)
    assert r.downlink_delay(0, 5.0, 0.5) == 0.0
    idle_t = 1.0 + d.inactivity_s + 1.0
    assert r.downlink_delay(0, idle_t, 0.5) == pytest.approx(0.5 * d.paging_cycle_s + 1.0)
    assert r.downlink_delay(0, 1.0 + d.inactivity_s + d.active_timer_s + 1.0, 0.5) is None
    assert r.uplink_delay(0, 5.0) == 0.0 and r.uplink_delay(0, idle_t) == 1.0


def test_a_fleet_that_never_wakes_uses_psm_power_times_horizon():
    sc = closed_form(device__wake_interval_s=1e12, sim__horizon_s=50_000.0)
    res = run(sc)
    asleep = res.devices[res.devices["wakeups"] == 0]
    assert len(asleep) == sc.fleet.size
    assert np.allclose(asleep["energy_j"], sc.power.psm_mw * 50_000.0 / 1000)
    assert (res.devices[["bytes_up", "bytes_down", "msgs_up", "msgs_down"]] == 0).all().all()
