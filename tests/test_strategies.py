"""Each strategy's flow from the draft, and how the strategies compare on the same fleet."""
from __future__ import annotations

import re

import pytest

from simulation import load_scenario, run
from simulation.validation.harness import manager_polls

FLOWS = {
    "device-initiated": [r"D-->M: CoAP POST /rd\?ep=dev\d+&lt=90000",
                         r"D<--M: CoAP GET /Radio_link_status, Token: 0x[0-9a-f]{2}, Observe: 0",
                         r"D-->M: 2\.05 Content, Token: 0x[0-9a-f]{2}, payload: 1",
                         r"D-->M: 2\.05 Content, Token: 0x[0-9a-f]{2}, Observe: \d+, payload: 1",
                         r"D<--M: CoAP POST /sw, Token: 0x[0-9a-f]{4}, Block1: 0/1/256",
                         r"D-->M: 2\.31 Continue, Token: 0x[0-9a-f]{4}, Block1: 0/1/256",
                         r"D-->M: 2\.04 Changed, Token: 0x[0-9a-f]{4}, Block1: \d+/0/256"],
    "manager-initiated": [r"D<--M: CoAP GET /report, Token: 0x[0-9a-f]{2}, Observe: 0",
                          r"D-->M: 2\.05 Content, Token: 0x[0-9a-f]{2}, Observe: \d+, "
                          r"payload: 64 B",
                          r"D<--M: CoAP POST /sw, Token: 0x[0-9a-f]{4}, Block1: 0/1/256"],
    "mqtt-http": [r"D-->M: TCP SYN$", r"D<--M: TCP SYN-ACK",
                  r"D-->M: MQTT CONNECT, clean session: 0",
                  r"D<--M: MQTT CONNACK, session present: 0",
                  r"D-->M: MQTT SUBSCRIBE devices/\d+/cmd, QoS 1",
                  r"D-->M: MQTT PUBLISH devices/\d+/report, QoS 1, payload: 64 B",
                  r"D<--M: MQTT PUBLISH devices/\d+/cmd, QoS 1, payload: .*\"url\":"
                  r"\"http://company/devicetype/version00.zip\"",
                  r"D-->M: MQTT PUBACK",
                  r"D-->M: HTTP GET /devicetype/version00.zip",
                  r"D<--M: HTTP/1.1 200 OK, payload: 8192 B"],
    "mqtt-coap": [r"D<--M: MQTT PUBLISH devices/\d+/cmd, QoS 1, payload: .*\"url\":"
                  r"\"coap://company/devicetype/version00.zip\"",
                  r"D-->M: CoAP GET /devicetype/version00.zip, Token: 0x[0-9a-f]{4}, "
                  r"Block2: 0/0/256",
                  r"D<--M: 2\.05 Content, Token: 0x[0-9a-f]{4}, Block2: 0/1/256"],
    "device-polling": [r"D-->M: CoAP GET /fw/version",
                       r"D<--M: 2\.05 Content, Token: 0x[0-9a-f]{4}, payload: 2\.0\.0",
                       r"D-->M: CoAP GET /fw/image, Token: 0x[0-9a-f]{4}, Block2: 0/0/256",
                       r"D<--M: 2\.05 Content, Token: 0x[0-9a-f]{4}, Block2: 0/1/256"],
}


def small(strategy, **sets):
    return load_scenario("baseline", {"strategy.name": strategy, "fleet.size": 40,
                                      "fleet.cells": 10, "update.image_bytes": 8192,
                                      "sim.horizon_s": 12000.0, **sets})


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
@pytest.mark.parametrize("strategy", sorted(FLOWS))
def test_trace_shows_the_drafts_flow(strategy, fidelity):
    res = run(small(strategy, **{"sim.fidelity": fidelity}), trace_devices=2)
    assert res.devices["updated"].all()
    lines = res.trace.splitlines()
    assert {int(re.search(r"dev (\d+)", ln).group(1)) for ln in lines} == {0, 1}
    for pattern in FLOWS[strategy]:
        assert any(re.search(pattern, ln) for ln in lines), pattern
    times = [float(ln.split()[0]) for ln in lines]
    assert times == sorted(times)


def test_manager_initiated_sends_fewer_uplink_bytes_for_the_same_reports():
    """Section 5 piggybacks on the report notification; section 4 adds a radio-link
    notification to every wake-up's report. (With a strict observer behind the baseline's
    60 s NAT every hourly wake-up is reset and observed again, and section 5 then sends
    its report three times: the reset notification, the Observe response and the new
    notification; test_observe_rebinding.py has that case.)"""
    sets = {"update.release_s": 1e9,          # reports only: no update traffic
            "coap.endpoint_matching": "relaxed"}
    di = run(small("device-initiated", **sets)).devices
    mi = run(small("manager-initiated", **sets)).devices
    assert (di["wakeups"] == mi["wakeups"]).all()
    assert mi["bytes_up"].sum() < di["bytes_up"].sum()
    assert mi["msgs_up"].sum() < di["msgs_up"].sum()
    assert mi["energy_j"].sum() < di["energy_j"].sum()


FLOWS["discovery"] = [r"D-->M: CoAP GET /fw, Token: 0x[0-9a-f]{4}",
                      r'D<--M: 2\.05 Content, Token: 0x[0-9a-f]{4}, payload: </fw/app>;rt="fw";'
                      r'v="1\.0\.0",</fw/delta/2\.0\.0>;rt="fw-delta";sz=4096',
                      r"D-->M: CoAP GET /fw/delta/2\.0\.0, Token: 0x[0-9a-f]{4}, Block2: 0/0/256"]


def test_discovery_trace_shows_the_drafts_flow():
    res = run(small("discovery", **{"update.delta_ratio": 0.5}), trace_devices=2)
    lines = res.trace.splitlines()
    for pattern in FLOWS["discovery"]:
        assert any(re.search(pattern, ln) for ln in lines), pattern


def test_discovery_downlink_bytes_scale_with_the_delta_ratio():
    """On a loss-free link the update's downlink bytes are the Block2 responses of
    delta_ratio x image: payload plus a fixed header per block, so proportional to it.
    (Continuous reception while connected: with connected-mode DRX a response that waits
    for the next on-duration can outlast the ACK timeout and be sent twice.)"""
    sets = {"link.preset": "fixed", "nat.enabled": False, "update.image_bytes": 51200,
            "strategy.poll_interval_s": 0.0, "device.cdrx_cycle_s": 0.0}
    base = run(small("discovery", **sets, **{"update.release_s": 1e9})).devices
    extra = {}
    for ratio in (0.1, 0.3, 1.0):
        d = run(small("discovery", **sets, **{"update.delta_ratio": ratio})).devices
        assert d["updated"].all()
        extra[ratio] = (d["bytes_down"] - base["bytes_down"]).mean() / (ratio * 51200)
    assert extra[0.1] == pytest.approx(extra[1.0], rel=0.03)
    assert extra[0.3] == pytest.approx(extra[1.0], rel=0.03)
    assert 1.0 < extra[1.0] < 1.25          # the payload plus CoAP/UDP/IP headers


def test_partial_updates_need_no_install_and_full_images_do():
    sets = {"device.install_s": 500.0, "strategy.poll_interval_s": 0.0}
    part = run(small("discovery", **sets, **{"update.delta_ratio": 0.2})).devices
    full = run(small("discovery", **sets, **{"update.delta_ratio": 1.0})).devices
    assert part["updated"].all() and full["updated"].all()
    # from the read of /fw to running the update: the download's start delay (one request
    # and a half RTT), the download, then the installation for a full image only
    gap_part = part["t_updated_s"] - (part["t_first_contact_s"] + part["download_s"])
    gap_full = full["t_updated_s"] - (full["t_first_contact_s"] + full["download_s"])
    assert (gap_part < 20).all()
    assert ((gap_full > 500) & (gap_full < 520)).all()


@pytest.mark.slow
@pytest.mark.parametrize("nat_timeout", [15.0, 60.0])
def test_share_of_manager_polls_answered_is_the_open_window_over_the_wake_interval(
        nat_timeout):
    """A poll gets through while the device is reachable (I + A after its last packet) and
    its binding admits the manager (T after the report reached the NAT): the share of
    polls answered is about min(I + A, T) / wake interval (polls rarer than the window, at a
    period incommensurate with the wake-ups; `harness.manager_polls`)."""
    # about 85,000 polls: 8 % is over 3 binomial standard errors
    s, expected = manager_polls(nat_timeout)
    share = s["polls_answered"] / s["polls_sent"]
    assert share == pytest.approx(expected, rel=0.08)
    assert s["failed_nat"] + s["failed_unreachable"] == s["polls_sent"] - s["polls_answered"]


def test_manager_polling_costs_the_manager_every_copy_of_every_failed_poll():
    sc = small("manager-polling", **{"strategy.poll_interval_s": 300.0,
                                     "update.release_s": 1e9})
    s = run(sc).summary
    failed = s["polls_sent"] - s["polls_answered"]
    assert s["manager_msgs_out"] >= failed * (sc.coap.max_retransmit + 1)
    assert s["nat_drops"] <= s["failed_nat"] * (sc.coap.max_retransmit + 1)
    assert s["nat_drops"] >= (s["failed_nat"] - s["polls_answered"]) * 1


def test_manager_polling_trace_shows_polls_dropped_and_answered():
    res = run(small("manager-polling", **{"strategy.poll_interval_s": 60.0,
                                          "fleet.size": 10}), trace_devices=3)
    lines = res.trace.splitlines()
    assert any("D<--M: CoAP GET /fw/state" in ln and "[dropped by NAT]" in ln for ln in lines)
    assert any(re.search(r"D-->M: 2\.05 Content, Token: 0x[0-9a-f]{4}, payload: 0", ln)
               for ln in lines)
    assert any("D<--M: CoAP POST /sw" in ln for ln in lines)


def delegated(size, per_gateway, fetch="http", **sets):
    return run(load_scenario("baseline", {
        "strategy.name": "delegated", "fleet.size": size,
        "gateway.devices_per_gateway": per_gateway, "gateway.fetch": fetch,
        "strategy.poll_interval_s": 600.0, "sim.horizon_s": 14400.0, **sets}))


@pytest.mark.parametrize("fetch", ["http", "coap-observe"])
def test_delegated_manager_bytes_scale_with_gateways_not_devices(fetch):
    """Each gateway fetches the image once: the manager's bytes for the update (with the
    release minus without it) double with the gateways and do not follow the devices."""
    def update_bytes(size, per_gateway):
        with_release = delegated(size, per_gateway, fetch)
        assert with_release.devices["updated"].all()
        without = delegated(size, per_gateway, fetch, **{"update.release_s": 1e9})
        return with_release.summary["manager_bytes_out"] - without.summary["manager_bytes_out"]

    four_small = update_bytes(200, 50)      # 4 gateways, 200 devices
    four_large = update_bytes(400, 100)     # 4 gateways, 400 devices
    eight = update_bytes(400, 50)           # 8 gateways
    assert four_large == pytest.approx(four_small, rel=0.01)
    assert eight == pytest.approx(2 * four_small, rel=0.01)
    assert 4 * 102400 < four_small < 4 * 102400 * 1.2


def test_delegated_trace_shows_the_gateway_push():
    res = run(load_scenario("baseline", {"strategy.name": "delegated", "fleet.size": 20,
                                         "sim.horizon_s": 12000.0}), trace_devices=2)
    assert any(re.search(r"D<--G: CoAP POST /sw, Token: 0x[0-9a-f]{4}, Block1: 0/1/256", ln)
               for ln in res.trace.splitlines())


def test_strategy_pages_are_generated_from_the_current_model(tmp_path):
    """docs/strategies/ holds what `iotsu-sim docs` writes; run it after changing a model."""
    from pathlib import Path

    from simulation.docs import write_pages

    committed = Path(__file__).resolve().parent.parent / "docs" / "strategies"
    for path in write_pages(tmp_path):
        assert path.read_text() == (committed / path.name).read_text(), path.name
