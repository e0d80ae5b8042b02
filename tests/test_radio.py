"""Radio states and energy: closed-form integration of the power draw, connected-mode DRX,
paging and eDRX, release assistance, and the energy split."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import closed_form
from hypothesis import given, settings, strategies as st

from simulation import run
from simulation.scenario import load_scenario
from simulation.world.radio import CONNECTED, IDLE, PARTS, PSM, RadioModel, Radios

RX, TX, LS, IDLE_MW, PSM_MW = 150.0, 500.0, 3.0, 0.5, 0.01
PLAIN = RadioModel(inactivity_s=20.0, active_s=8.0, paging_cycle_s=2.56, connect_s=1.0,
                   tx_mw=TX, rx_mw=RX, idle_mw=IDLE_MW, psm_mw=PSM_MW, connect_mw=100.0)
#: connected-mode DRX as Martinez et al. 2019 measured it (2.048 s cycle with the 20 s
#: timer), with a 40 ms on-duration and a 100 ms DRX inactivity timer
CDRX = dataclasses.replace(PLAIN, drx_inactivity_s=0.1, cdrx_cycle_s=2.048, cdrx_on_s=0.04,
                           light_sleep_mw=LS, paging_occasion_mj=1.8)


def part(name: str) -> int:
    return PARTS.index(name)


def test_quiet_gap_without_drx_is_piecewise_power_times_time():
    e = PLAIN.quiet_energy_mj(100.0, 20.0)      # 20 s connected, 8 s idle, rest PSM
    assert e.sum() == pytest.approx(RX * 20 + IDLE_MW * 8 + PSM_MW * 72)
    assert e[part("rx")] == pytest.approx(RX * 20) and e[part("psm")] == pytest.approx(0.72)
    assert PLAIN.quiet_energy_mj(5.0, 20.0).sum() == pytest.approx(RX * 5)
    assert PLAIN.quiet_energy_mj(25.0, 20.0).sum() == pytest.approx(RX * 20 + IDLE_MW * 5)


def test_connected_drx_tail_counts_on_durations_and_light_sleep():
    """20 s tail: 0.1 s continuous, then 19.9 s of 2.048 s cycles: 9 whole cycles and a
    part longer than the on-duration, so 10 on-durations of 40 ms."""
    e = CDRX.quiet_energy_mj(20.0, 20.0)
    on = 10 * 0.04
    assert e[part("rx")] == pytest.approx(RX * 0.1)
    assert e[part("cdrx")] == pytest.approx(RX * on + LS * (19.9 - on))
    # the mean C-DRX power is the cycle's average
    assert CDRX.cdrx_mean_mw == pytest.approx((0.04 * RX + 2.008 * LS) / 2.048)


def test_idle_energy_follows_the_paging_cycle_and_edrx():
    e = CDRX.quiet_energy_mj(28.0, 20.0)[part("idle")]
    assert e == pytest.approx((IDLE_MW + 1.8 / 2.56) * 8.0)
    edrx = dataclasses.replace(CDRX, paging_cycle_s=1.28, edrx_cycle_s=20.48, ptw_s=2.56)
    # two paging occasions per 20.48 s eDRX cycle
    assert edrx.paging_occasions_per_s() == pytest.approx(2 / 20.48)
    longer = dataclasses.replace(edrx, edrx_cycle_s=81.92)
    assert longer.paging_occasions_per_s() < edrx.paging_occasions_per_s()
    # each window's first occasion costs the wake-up from the long sleep instead
    windowed = dataclasses.replace(edrx, edrx_window_mj=9.4)
    e = windowed.quiet_energy_mj(28.0, 20.0)[part("idle")]
    assert e == pytest.approx((IDLE_MW + (9.4 + 1.8) / 20.48) * 8.0)


def test_the_nrf9160_edrx_figures_give_the_default_window_charge():
    """The default `power.edrx_window_mj` reproduces the nRF9160 product specification's
    Cat-NB1 eDRX averages (37 uA at 81.92 s, 9 uA at 655.36 s, one occasion per window,
    3.6 V) within their 2-digit rounding, with a 5 uA floor between windows."""
    from simulation.scenario.schema import Power

    v, floor_mw = 3.6, 0.005 * 3.6
    model = dataclasses.replace(PLAIN, idle_mw=floor_mw, paging_cycle_s=2.56, ptw_s=2.56,
                                edrx_window_mj=Power().edrx_window_mj,
                                paging_occasion_mj=Power().paging_occasion_mj)
    for cycle, published_ua in ((81.92, 37.0), (655.36, 9.0)):
        mean_ua = dataclasses.replace(model, edrx_cycle_s=cycle).idle_power_mw / v * 1000
        assert mean_ua == pytest.approx(published_ua, abs=0.5)


def test_a_downlink_packet_in_the_drx_tail_waits_for_the_next_on_duration():
    assert CDRX.downlink_wait(0.05, 20.0, 0.3) == 0.0            # DRX inactivity timer
    assert CDRX.downlink_wait(0.1 + 2.048 + 0.02, 20.0, 0.3) == 0.0   # inside an on-duration
    assert CDRX.downlink_wait(0.1 + 1.0, 20.0, 0.3) == pytest.approx(1.048)
    assert PLAIN.downlink_wait(1.1, 20.0, 0.3) == 0.0             # continuous reception
    r = Radios.alike(1, CDRX)
    r.busy(0, 0.0, 1.0)
    assert r.state(0, 2.1) == CONNECTED                           # an uplink packet goes at once


def test_paging_waits_for_the_next_occasion_and_with_edrx_for_the_next_window():
    assert PLAIN.downlink_wait(21.0, 20.0, 0.5) == pytest.approx(0.5 * 2.56 + 1.0)
    assert PLAIN.downlink_wait(29.0, 20.0, 0.5) is None           # PSM
    edrx = dataclasses.replace(PLAIN, paging_cycle_s=1.28, edrx_cycle_s=20.48, ptw_s=2.56)
    u = (np.arange(200_000) + 0.5) / 200_000
    waits = np.array([edrx.paging_wait(x) for x in u[::50]])
    # mean wait: inside the window half a paging cycle, outside half of the rest of the cycle
    p_in = 2.56 / 20.48
    mean = p_in * 1.28 / 2 + (1 - p_in) * (20.48 - 2.56) / 2
    assert waits.mean() == pytest.approx(mean, rel=1e-3)
    assert waits.max() <= 20.48 - 2.56 + 1e-9


radio_models = st.builds(
    lambda cycle, on, inact, edrx, ptw_share: dataclasses.replace(
        CDRX, cdrx_cycle_s=cycle, cdrx_on_s=on * cycle, drx_inactivity_s=inact,
        paging_cycle_s=1.28, edrx_cycle_s=edrx, ptw_s=1.28 + ptw_share * max(edrx - 1.28, 0)),
    st.sampled_from([0.0, 0.32, 2.048]), st.floats(0, 1), st.floats(0, 0.5),
    st.sampled_from([0.0, 20.48, 163.84]), st.floats(0, 1))


@settings(max_examples=200, deadline=None)
@given(model=radio_models, since=st.lists(st.floats(0, 40), min_size=1, max_size=6),
       lasting=st.sampled_from([0.5, 20.0]), u=st.floats(0, 0.999))
def test_vector_and_scalar_downlink_waits_agree(model, since, lasting, u):
    """Flow fidelity's arrays and packet fidelity's scalar follow one rule."""
    connected, reachable, wait = model.downlink_waits(np.array(since), lasting,
                                                      np.full(len(since), u))
    for k, s in enumerate(since):
        one = model.downlink_wait(s, lasting, u)
        assert reachable[k] == (one is not None)
        assert connected[k] == (s < lasting)
        if one is not None:
            assert wait[k] == pytest.approx(one, abs=1e-9)


def test_one_activity_then_timers_and_energy_split():
    r = Radios.alike(1, CDRX)
    r.busy(0, 10.0, 12.0, tx_s=0.5)
    assert r.state(0, 12.0 + 20.0 - 1e-6) == CONNECTED
    assert r.state(0, 12.0 + 20.0 + 1e-6) == IDLE
    assert r.state(0, 12.0 + 28.0 + 1e-6) == PSM
    horizon = 1000.0
    energy = r.close(horizon)[0] * 1000
    tail = CDRX.quiet_energy_mj(horizon - 12.0, 20.0)
    assert energy[part("tx")] == pytest.approx(TX * 0.5)
    assert energy[part("rx")] == pytest.approx(RX * 1.5 + tail[part("rx")])
    assert energy[part("psm")] == pytest.approx(PSM_MW * 10 + tail[part("psm")])
    assert energy.sum() == pytest.approx(PSM_MW * 10 + TX * 0.5 + RX * 1.5 + tail.sum())


def test_release_assistance_ends_the_connection_release_s_after_the_last_packet():
    model = dataclasses.replace(CDRX, release_assistance=True, release_s=0.5)
    r = Radios.alike(1, model)
    r.set_up(0, 0.0)
    r.busy(0, 1.0, 2.0)
    r.ask_release(0, 2.0)
    assert r.state(0, 2.4) == CONNECTED and r.state(0, 2.6) == IDLE
    assert r.reachable_until(0) == pytest.approx(2.5 + 8.0)
    r.busy(0, 2.3, 2.4)                 # traffic before the release moves it on
    assert r.state(0, 2.8) == CONNECTED and r.state(0, 3.0) == IDLE
    r.set_up(0, 50.0)                   # a new connection: the normal inactivity timer
    assert r.state(0, 51.0 + 19.0) == CONNECTED
    without = Radios.alike(1, CDRX)
    without.busy(0, 1.0, 2.0)
    without.ask_release(0, 2.0)         # no release assistance: nothing changes
    assert without.state(0, 2.6) == CONNECTED


def test_set_up_is_charged_at_the_connect_power():
    r = Radios.alike(1, PLAIN)
    r.set_up(0, 5.0)
    e = r.close(6.0)[0] * 1000
    assert e[part("setup")] == pytest.approx(100.0 * 1.0)
    assert e[part("psm")] == pytest.approx(PSM_MW * 5.0)


def test_a_radio_that_only_sleeps_draws_psm_power():
    sc = load_scenario("baseline")
    r = Radios.alike(3, RadioModel.from_scenario(sc.device, sc.power, 1.0))
    energy = r.close(86_400.0)
    assert np.allclose(energy.sum(axis=1), sc.power.psm_mw * 86_400.0 / 1000)
    assert np.allclose(energy[:, part("psm")], energy.sum(axis=1))


def test_a_fleet_that_never_wakes_uses_psm_power_times_horizon():
    sc = closed_form(device__wake_interval_s=1e12, sim__horizon_s=50_000.0)
    res = run(sc)
    asleep = res.devices[res.devices["wakeups"] == 0]
    assert len(asleep) == sc.fleet.size
    assert np.allclose(asleep["energy_j"], sc.power.psm_mw * 50_000.0 / 1000)
    assert (res.devices[["bytes_up", "bytes_down", "msgs_up", "msgs_down"]] == 0).all().all()


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
def test_the_energy_split_sums_to_the_energy_of_every_device(fidelity):
    res = run(load_scenario("baseline", {"fleet.size": 20, "fleet.cells": 2,
                                         "sim.horizon_s": 9000.0, "sim.fidelity": fidelity,
                                         "device.cdrx_cycle_s": 2.048,
                                         "device.cdrx_on_s": 0.04,
                                         "device.drx_inactivity_s": 0.1,
                                         "power.light_sleep_mw": 21.6}))
    d = res.devices
    split = d[[f"energy_{p}_j" for p in PARTS]].sum(axis=1)
    assert np.allclose(split, d["energy_j"], rtol=1e-12)
    assert (d[[f"energy_{p}_j" for p in PARTS]] >= 0).all().all()
    assert d["energy_cdrx_j"].min() > 0
    for p in PARTS:
        assert res.summary[f"energy_{p}_per_device_j"] == pytest.approx(
            d[f"energy_{p}_j"].mean())
    assert math.isclose(sum(res.summary[f"energy_{p}_per_device_j"] for p in PARTS),
                        res.summary["energy_per_device_j"], rel_tol=1e-12)


@pytest.mark.parametrize("sets,named", [
    (["device.cdrx_cycle_s=0.32", "device.cdrx_on_s=0.5"], "device.cdrx_on_s"),
    (["device.edrx_cycle_s=20.48", "device.ptw_s=40"], "device.ptw_s"),
    (["device.edrx_cycle_s=20.48", "device.ptw_s=1"], "device.ptw_s"),
    (["device.release_s=-1"], "device.release_s"),
])
def test_inconsistent_radio_timers_are_refused_with_one_line(sets, named, tmp_path, capsys):
    from simulation.cli import main

    args = ["run", "baseline", "--out", str(tmp_path / "out")]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
def test_release_assistance_saves_the_tail_at_every_report_wake_up(fidelity):
    """device-polling before the release: each wake-up reports and polls, then the radio
    runs its tail. With release assistance the device, expecting nothing more, is
    released `release_s` after its last packet: each wake-up saves the C-DRX tail from
    `release_s` to the inactivity timer, less the PSM power over that time (closed form
    from `RadioModel.quiet_energy_mj`). The horizon falls 60 s after the sixth wake-up,
    so that every tail is whole. A 3 s ACK timeout outlasts every answer (the longest
    waits 1.6 s for the next on-duration after a 0.5 s round trip): no draw of the CoAP
    timer sends a retransmission, which would add a packet and its tail to one run."""
    from simulation.engine import World

    sets = dict(sim__fidelity=fidelity, strategy__name="device-polling", fleet__size=1,
                fleet__cells=1, update__release_s=1e9, device__cdrx_cycle_s=2.048,
                device__cdrx_on_s=0.04, device__drx_inactivity_s=0.1,
                power__light_sleep_mw=21.6, device__release_s=0.5, coap__ack_timeout_s=3.0)
    phase = float(World(closed_form(**sets)).wake_phases()[0])
    sets["sim__horizon_s"] = phase + 5 * 600.0 + 60.0
    off = run(closed_form(**sets)).devices
    on = run(closed_form(device__release_assistance=True, **sets)).devices
    sc = closed_form(**sets)
    model = RadioModel.from_scenario(sc.device, sc.power, 0.0)
    tail = model.quiet_energy_mj(20.0, 20.0).sum() - model.quiet_energy_mj(0.5, 20.0).sum()
    saved_mj = tail - sc.power.psm_mw * 19.5
    assert off["wakeups"].iloc[0] == on["wakeups"].iloc[0] == 6
    assert (off["energy_j"] - on["energy_j"]).iloc[0] * 1000 == pytest.approx(6 * saved_mj,
                                                                             rel=1e-9)
    assert (off["bytes_up"] == on["bytes_up"]).all()


def test_paging_occasions_are_fixed_per_device():
    """A packet for an idle device waits for that device's next paging occasion: its
    occasions come every cycle from its phase, so two copies sent into the same cycle
    meet the same occasion (TS 36.304: occasions follow from the UE identity)."""
    r = Radios.alike(2, PLAIN, paging_phase=np.array([0.25, 0.75]))
    occasion = 0.25 * 2.56 + 40 * 2.56                  # device 0's occasion after 102 s
    for t in (102.5, 102.8, 103.0):
        assert r.paging_delay(0, t) == pytest.approx(occasion - t)
    assert r.paging_delay(1, 103.0) == pytest.approx(0.75 * 2.56 + 40 * 2.56 - 103.0)
    r.busy(0, 80.0, 81.0)                               # idle from 101 s to 109 s
    assert r.downlink_delay(0, 103.0) == pytest.approx(occasion - 103.0 + PLAIN.connect_s)
    assert r.downlink_delay(0, 110.0) is None
    edrx = dataclasses.replace(PLAIN, paging_cycle_s=1.28, edrx_cycle_s=20.48, ptw_s=2.56)
    e = Radios.alike(1, edrx, paging_phase=np.array([0.5]))    # windows open at 10.24 + k 20.48
    assert e.paging_delay(0, 11.0) == pytest.approx(11.52 - 11.0)   # inside the window
    assert e.paging_delay(0, 15.0) == pytest.approx(30.72 - 15.0)   # the next window
    assert np.allclose(edrx.paging_positions(np.array([11.0, 15.0]), 0.5),
                       [edrx.paging_position(11.0, 0.5), edrx.paging_position(15.0, 0.5)])


def _delegated(local_link: str, **sets):
    from simulation.scenario import load_scenario
    return load_scenario("baseline", {"strategy.name": "delegated", "fleet.size": 20,
                                      "fleet.cells": 20, "gateway.devices_per_gateway": 4,
                                      "gateway.local_link": local_link,
                                      "strategy.poll_interval_s": 600.0,
                                      "update.image_bytes": 20480, **sets})


@pytest.mark.parametrize("local_link", ["6lowpan", "ble"])
def test_a_gateways_devices_use_their_local_radio_not_the_cellular_one(local_link):
    """Delegated devices draw their local radio's power (nRF52840, LOCAL_RADIOS): the
    cellular power keys and radio timers change nothing for them, and a 6LoWPAN end device
    is never in PSM (it stays attached, polling its parent), a BLE one never idle."""
    base = run(_delegated(local_link)).devices
    cellular = run(_delegated(local_link, **{
        "power.rx_mw": 999.0, "power.tx_mw": 999.0, "power.connect_mw": 999.0,
        "device.inactivity_s": 60.0, "device.cdrx_cycle_s": 0.0,
        "device.release_assistance": True})).devices
    assert base["updated"].all()
    assert base.equals(cellular)
    if local_link == "6lowpan":
        assert (base["energy_psm_j"] == 0).all() and (base["energy_setup_j"] == 0).all()
    else:
        assert (base["energy_idle_j"] == 0).all()


def test_an_attached_end_device_pays_its_slow_polls_between_wake_ups():
    """6LoWPAN: between activities the device sleeps at 6 uW and polls its parent every
    240 s (0.117 mJ each), so its idle energy is (0.006 mW + 0.117 mJ / 240 s) x its idle
    time, which is the horizon less its connected time (2 s after each activity, at most
    a few seconds per wake-up)."""
    from simulation.scenario.presets import LOCAL_RADIOS

    r = LOCAL_RADIOS["6lowpan"]
    sc = _delegated("6lowpan", **{"update.release_s": 1e9})
    d = run(sc).devices
    idle_mw = r["idle_mw"] + r["paging_occasion_mj"] / r["paging_cycle_s"]
    most = sc.sim.horizon_s * idle_mw / 1000
    least = (sc.sim.horizon_s - d["wakeups"] * 10.0) * idle_mw / 1000
    assert ((least <= d["energy_idle_j"]) & (d["energy_idle_j"] <= most)).all()
    assert (d["energy_j"] / d["wakeups"] < 0.05).all()   # J per wake-up, a 1000th of NB-IoT
