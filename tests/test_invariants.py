"""Invariants that hold for any scenario (Hypothesis over strategies, links, timers, NATs)."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation import load_scenario, run
from simulation.engine import World
from simulation.protocols.coap import IPV4_HEADER_BYTES, UDP_HEADER_BYTES

STRATEGIES = ["device-polling", "manager-polling", "device-initiated", "manager-initiated",
              "discovery", "delegated"]


@st.composite
def scenarios(draw):
    sets = {
        "strategy.name": draw(st.sampled_from(STRATEGIES)),
        "sim.fidelity": draw(st.sampled_from(["flow", "packet"])),
        "sim.seed": draw(st.integers(0, 2 ** 32)),
        "fleet.size": draw(st.integers(1, 12)),
        "fleet.cells": draw(st.integers(1, 4)),
        "link.preset": draw(st.sampled_from(["nbiot-ce0", "nbiot-ce1", "ltem", "fixed"])),
        "link.loss": draw(st.sampled_from([0.0, 0.05, 0.3])),
        "nat.udp_timeout_s": draw(st.sampled_from([10.0, 60.0, 600.0])),
        "nat.inbound_refresh": draw(st.booleans()),
        "device.wake": draw(st.sampled_from(["periodic", "poisson"])),
        "device.wake_interval_s": draw(st.sampled_from([300.0, 1800.0])),
        "device.inactivity_s": draw(st.sampled_from([0.0, 5.0, 20.0])),
        "strategy.poll_interval_s": draw(st.sampled_from([60.0, 900.0])),
        "update.image_bytes": draw(st.integers(1, 6000)),
        "update.release_s": draw(st.sampled_from([0.0, 1000.0])),
        "update.delta_ratio": draw(st.sampled_from([0.2, 1.0])),
        "security.mode": draw(st.sampled_from(["none", "dtls-psk"])),
        "sim.horizon_s": 5000.0,
    }
    return load_scenario("baseline", sets)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_invariants(sc):
    res = run(sc, workers=1)
    d, s = res.devices, res.summary
    horizon, release = sc.sim.horizon_s, sc.update.release_s
    assert len(d) == sc.fleet.size and (d["device_id"] == np.arange(sc.fleet.size)).all()
    assert 0.0 <= s["updated_fraction"] <= 1.0
    # energy: at least sleeping the whole horizon, at most transmitting all of it, at the
    # powers of the devices' radio (a gateway's devices have their local one)
    radio = World(sc).radios.models[0]
    floor_mw = min(radio.psm_mw, radio.idle_mw, radio.light_sleep_mw)
    assert (d["energy_j"] >= floor_mw * horizon / 1000 * (1 - 1e-9)).all()
    assert (d["energy_j"] <= max(radio.tx_mw, radio.connect_mw) * horizon / 1000 * 1.2).all()
    for col in ("bytes_up", "bytes_down", "msgs_up", "msgs_down", "retransmissions",
                "failed_attempts", "wakeups"):
        assert (d[col] >= 0).all(), col
    # every packet carries at least its UDP and IP headers
    headers = UDP_HEADER_BYTES + IPV4_HEADER_BYTES
    assert (d["bytes_up"] >= d["msgs_up"] * headers).all()
    assert (d["bytes_down"] >= d["msgs_down"] * headers).all()
    # times are ordered: release <= first contact <= update <= horizon
    up = d[d["updated"]]
    assert (up["t_updated_s"] <= horizon).all()
    assert (up["t_first_contact_s"] >= release - 1e-9).all()
    assert (up["t_updated_s"] >= up["t_first_contact_s"]).all()
    assert (up["download_s"] >= 0).all()
    assert np.isnan(d.loc[~d["updated"], "t_updated_s"]).all()
    if sc.strategy.name != "delegated":
        # what reaches the manager was sent by a device (loss and the NAT only take away;
        # the manager's load table stops at the horizon)
        assert res.manager["msgs_in"].sum() <= d["msgs_up"].sum() + 1e-6
    assert s["polls_answered"] <= s["polls_sent"]


def test_a_download_never_ends_before_it_starts():
    """Found by test_invariants: with jittered RTTs, a retransmitted request's answer can
    leave before the first request's; the download starts with the earliest payload."""
    sc = load_scenario("baseline", {
        "sim.seed": 5354, "sim.horizon_s": 5000.0, "fleet.size": 8, "fleet.cells": 1,
        "device.wake_interval_s": 300.0, "device.inactivity_s": 5.0,
        "link.preset": "nbiot-ce1", "link.rtt_s": 7.0, "nat.udp_timeout_s": 10.0,
        "update.release_s": 0.0, "update.image_bytes": 1, "strategy.name": "device-polling",
        "strategy.poll_interval_s": 60.0})
    d = run(sc).devices
    assert d["updated"].all() and (d["download_s"] >= 0).all()
