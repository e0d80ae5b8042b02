"""Every byte on a device's radio link is payload, header, security or wasted (the split
`exchange.Outcome` defines), checked against numbers counted independently of it."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from conftest import clear_horizon, closed_form, run_exchange

from simulation import load_scenario, run
from simulation.engine import World
from simulation.protocols import dtls
from simulation.transport import messages
from simulation.transport.exchange import flow_outcome
from simulation.transport.security import DtlsSessions

FIDELITIES = ("packet", "flow")
STRATEGIES = ["device-polling", "manager-polling", "device-initiated", "manager-initiated",
              "discovery", "delegated", "mqtt-http", "mqtt-coap"]

PARTS = ["payload_bytes", "header_bytes", "security_bytes", "wasted_bytes"]
UDP_IP = 8 + 20            # UDP and IPv4 headers (RFC 768, RFC 791)
VERSION_PAYLOAD = 8        # the version string the manager answers /fw/version with
DTLS12_RECORD = 13 + 8 + 8  # record header, explicit nonce, CCM-8 tag (RFC 6347, RFC 6655)


def poll_s(strategy):
    """A polling period at which every strategy updates devices within a few hours (the
    manager's polls must hit the short windows in which a device is reachable)."""
    return 60.0 if strategy == "manager-polling" else 600.0


def polling(fidelity, trace=0, **sets):
    """device-polling on the closed-form scenario (fixed link, no NAT, no loss), with an
    RTT of 0.5 s (the closed-form 1 s would make the 1 s DTLS timer resend every flight)."""
    base = {"sim__fidelity": fidelity, "strategy__name": "device-polling",
            "strategy__poll_interval_s": 0.0, "link__rtt_s": 0.5}
    base.update(sets)
    return run(closed_form(**base), trace_devices=trace)


def count_lines(trace: str, pattern: str, devices: int) -> np.ndarray:
    """First copies of a message per device in a trace (retransmissions left out)."""
    n = np.zeros(devices, dtype=np.int64)
    for line in trace.splitlines():
        if re.search(pattern, line) and "(retransmission" not in line:
            n[int(re.search(r"dev (\d+)", line).group(1))] += 1
    return n


@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize("period", [0.0, 1500.0])
def test_payload_is_the_image_the_reports_and_the_versions(fidelity, period):
    """No loss, no NAT: an updated device carried the image once, a report at every
    wake-up and a version string at every poll; nothing was wasted."""
    res = polling(fidelity, trace=10, strategy__poll_interval_s=period)
    sc, d = res.scenario, res.devices
    assert d["updated"].all()
    reports = count_lines(res.trace, r"D-->M: CoAP POST /report", len(d))
    versions = count_lines(res.trace, r"D-->M: CoAP GET /fw/version", len(d))
    assert (reports == d["wakeups"]).all()
    if period:
        assert (versions < reports).all()       # not every wake-up polls
    expected = sc.update.image_bytes + reports * sc.device.report_bytes \
        + versions * VERSION_PAYLOAD
    assert (d["payload_bytes"] == expected).all()
    assert (d["wasted_bytes"] == 0).all() and (d["security_bytes"] == 0).all()
    assert (d["header_bytes"] == d["bytes_up"] + d["bytes_down"] - expected).all()


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_security_is_the_handshake_and_a_record_per_protected_packet(fidelity):
    """DTLS 1.2 PSK without a Connection ID: one full handshake per device (4 flights, each
    a datagram), and 29 B of record on every other packet; payload unchanged, and headers
    too (the records are security, not headers)."""
    plain = polling(fidelity).devices
    res = polling(fidelity, security__mode="dtls-psk", security__rebind="full")
    d = res.devices
    flights = dtls.handshake_model("1.2", "psk", cid=False).flights
    assert [f.bytes for f in flights] == [67, 107, 95, 67]
    handshake = sum(f.bytes for f in flights) + len(flights) * UDP_IP
    assert handshake == 448
    assert res.summary["dtls_handshakes"] == len(d)
    protected = d["msgs_up"] + d["msgs_down"] - len(flights)
    assert (d["security_bytes"] == handshake + DTLS12_RECORD * protected).all()
    assert (d["payload_bytes"] == plain["payload_bytes"]).all()
    assert (d["header_bytes"] == plain["header_bytes"]).all()
    assert (d["wasted_bytes"] == 0).all()


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_each_rebinding_wastes_a_report_and_adds_a_resumption_handshake(fidelity):
    """A 30 s NAT binding expires between wake-ups (600 s): at every wake-up after the
    first the manager drops the report, all 1 + MAX_RETRANSMIT = 5 copies of it (wasted,
    record included), then the device resumes the session (3 flights; the last,
    unanswered, booked on its own). The horizon leaves every last wake-up 120 s."""
    sc = clear_horizon(closed_form(
        sim__fidelity="flow", strategy__name="device-polling", strategy__poll_interval_s=0.0,
        link__rtt_s=0.5, security__mode="dtls-psk", security__rebind="resumption",
        nat__enabled=True, nat__udp_timeout_s=30.0), 120.0)
    res = polling(fidelity, security__mode="dtls-psk", security__rebind="resumption",
                  nat__enabled=True, nat__udp_timeout_s=30.0,
                  sim__horizon_s=sc.sim.horizon_s)
    d = res.devices
    full = dtls.handshake_model("1.2", "psk", cid=False).flights
    resumed = dtls.handshake_model("1.2", "resumption", cid=False).flights
    assert len(resumed) == 3
    again = d["wakeups"] - 1
    copies = again * (1 + sc.coap.max_retransmit)
    report = int(messages.report(64, 0).req_bytes[0]) + DTLS12_RECORD
    handshake_bytes = (sum(f.bytes for f in full) + len(full) * UDP_IP
                       + again * (sum(f.bytes for f in resumed) + len(resumed) * UDP_IP))
    protected = d["msgs_up"] + d["msgs_down"] - len(full) - again * len(resumed) - copies
    assert res.summary["dtls_handshakes"] == d["wakeups"].sum()
    assert res.summary["failed_dtls"] == again.sum()
    assert (d["security_bytes"] == handshake_bytes + DTLS12_RECORD * protected).all()
    assert (d["wasted_bytes"] == copies * report).all()


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_wasted_bytes_grow_with_loss(fidelity):
    wasted = []
    for loss in (0.0, 0.05, 0.2):
        d = polling(fidelity, link__loss=loss, link__rtt_s=0.2, fleet__size=20,
                    fleet__cells=20).devices
        wasted.append(d["wasted_bytes"].mean())
        # an updated device's payload holds its image, whatever got lost (exactly once:
        # test_under_loss_the_payload_is_what_completed_exchanges_carried)
        assert (d.loc[d["updated"], "payload_bytes"] >= 10240).all()
    assert wasted[0] == 0 and 0 < wasted[1] < wasted[2]


def expected_waste(p, m, req, resp):
    """Mean wasted bytes of a one-block exchange the device starts, with packet loss p and at
    most m copies, without spurious retransmissions. A copy fails unless both its request
    and its response survive (q = (1-p)^2); every failed copy wastes its request, and its
    response if the request got through (every copy, if the exchange fails). The k-th copy
    is sent and fails with probability (1-q)^k."""
    q = (1.0 - p) ** 2
    per_failed_copy = req + resp * (1.0 - p) * p / (1.0 - q)
    return per_failed_copy * sum((1.0 - q) ** k for k in range(1, m + 1))


def report_outcomes(fidelity, loss, rtt_s):
    """(completed, payload bytes, wasted bytes) of many one-block reports: 20000 flow
    outcomes from one stream, or 600 packet-fidelity runs with their own seeds (read from
    the device's counters, which also hold the copies that travel after the exchange)."""
    spec = messages.report(64, token=1)
    if fidelity == "flow":
        w = World(closed_form(link__loss=loss, link__rtt_s=rtt_s))
        rng = np.random.default_rng(5)
        for _ in range(20000):
            out = flow_outcome(spec, w.ctx, rng, nat_open_s=math.inf, device_gap_s=0.0)
            yield out.completed, out.payload_bytes, out.wasted_bytes
        return
    for seed in range(600):
        out, w = run_exchange(closed_form(sim__fidelity="packet", link__loss=loss,
                                          link__rtt_s=rtt_s, sim__seed=seed), spec)
        yield out.completed, w.fleet.payload_bytes[0], w.fleet.wasted_bytes[0]


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_wasted_bytes_follow_the_geometric_law(fidelity):
    spec = messages.report(64, token=1)
    wasted = []
    for completed, payload, waste in report_outcomes(fidelity, 0.2, 0.1):
        wasted.append(waste)
        assert payload == (64 if completed else 0)
    wasted = np.array(wasted)
    mean = expected_waste(0.2, 5, int(spec.req_bytes[0]), int(spec.resp_bytes[0]))
    assert abs(wasted.mean() - mean) < 4 * wasted.std() / math.sqrt(len(wasted))


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_spurious_retransmission_and_its_answer_are_wasted(fidelity):
    """RTT 5 s against a 2-3 s timeout: one duplicate request, answered again; both wasted,
    and the exchange's own request and response are its payload and headers."""
    spec = messages.report(64, token=1)
    _, w = run_exchange(closed_form(sim__fidelity=fidelity, link__rtt_s=5.0), spec)
    req, resp = int(spec.req_bytes[0]), int(spec.resp_bytes[0])
    assert w.fleet.wasted_bytes[0] == req + resp
    assert w.fleet.payload_bytes[0] == 64
    assert w.fleet.bytes_up[0] + w.fleet.bytes_down[0] == 2 * (req + resp)


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_failed_exchange_wastes_every_byte_it_sent(fidelity):
    failed = 0
    for seed in range(30):
        sc = closed_form(sim__fidelity=fidelity, link__loss=0.9, sim__seed=seed)
        out, w = run_exchange(sc, messages.report(64, token=1))
        if out.completed:
            continue
        failed += 1
        f = w.fleet
        assert f.wasted_bytes[0] == f.bytes_up[0] + f.bytes_down[0] > 0
        assert f.payload_bytes[0] == f.security_bytes[0] == 0
    assert failed > 20


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_failed_handshake_wastes_all_its_flights(fidelity):
    """Every packet lost: the handshake gives up, each of its flights sent and wasted;
    only a handshake still under way at the horizon (its last copy less than the 63 s
    DTLS give-up time before it: 1 s doubled five times) keeps its first copy's bytes as
    security (`Fleet.add`)."""
    horizon = 1000.0
    res = polling(fidelity, trace=3, security__mode="dtls-psk", link__loss=0.99,
                  fleet__size=3, fleet__cells=3, sim__horizon_s=horizon)
    d = res.devices
    last = {}
    for line in res.trace.splitlines():
        t, dev = float(line.split()[0]), int(line.split()[2])
        last[dev] = max(last.get(dev, 0.0), t)
    under_way = np.array([horizon - last[i] < 63.0 for i in range(3)])
    assert (d["wasted_bytes"] > 0).all() and (d["payload_bytes"] == 0).all()
    assert (d["security_bytes"][~under_way] == 0).all()


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_handshake_failing_at_its_second_round_trip_wastes_the_first_too(fidelity):
    """Unlike the blocks of a transfer, a handshake's flights are worth nothing unless all
    of them arrive: one that gives up after its first round trip wasted that as well."""
    spec = DtlsSessions(closed_form(security__mode="dtls-psk").security, 1).full[0]
    assert spec.blocks == 2
    seen = 0
    for seed in range(200):
        sc = closed_form(sim__fidelity=fidelity, link__loss=0.5, link__rtt_s=0.5,
                         sim__seed=seed)
        out, w = run_exchange(sc, spec)
        if out.completed or out.blocks_done == 0:
            continue
        seen += 1
        f = w.fleet
        assert f.wasted_bytes[0] == f.bytes_up[0] + f.bytes_down[0]
        assert f.security_bytes[0] == 0
    assert seen >= 3


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_failed_transfer_keeps_the_blocks_it_got(fidelity):
    """A Block1 push that gives up at block b: blocks 0..b-1 (which the device holds when
    the exchange ends) count once each, the rest of what it sent is wasted."""
    req, resp = messages._block1_sizes("/sw", 5000, 256)
    failed = 0
    for seed in range(20):
        sc = closed_form(sim__fidelity=fidelity, link__loss=0.4, sim__seed=seed)
        out, w = run_exchange(sc, messages.block1_push("/sw", 5000, 256, token=3))
        if out.completed:
            continue
        failed += 1
        b, f = out.blocks_done, w.fleet
        assert f.payload_bytes[0] == 256 * b
        assert f.wasted_bytes[0] == f.bytes_up[0] + f.bytes_down[0] - req[:b].sum() \
            - resp[:b].sum()
    assert failed >= 15


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_under_loss_the_payload_is_what_completed_exchanges_carried(fidelity):
    """With loss: an updated device's payload is its image once, plus the payload of every
    report and version check that completed (an answer that was not lost, in the trace)."""
    res = polling(fidelity, trace=10, link__loss=0.1, link__rtt_s=0.2)
    d = res.devices
    assert d["updated"].sum() >= 8 and (d["wasted_bytes"] > 0).all()
    lines = [ln for ln in res.trace.splitlines() if "[lost]" not in ln]
    expected = np.full(len(d), 10240)
    for pattern, payload in ((r"D<--M: 2\.04 Changed, Token: (0x[0-9a-f]+)", 64),
                             (r"D<--M: 2\.05 Content, Token: (0x[0-9a-f]+), payload: \d",
                              VERSION_PAYLOAD)):
        done = {(int(re.search(r"dev (\d+)", ln).group(1)), m.group(1))
                for ln in lines if (m := re.search(pattern, ln))}   # answered exchanges
        for i, _token in done:
            expected[i] += payload
    up = d["updated"].to_numpy()
    assert (d["payload_bytes"].to_numpy()[up] == expected[up]).all()


@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_four_parts_sum_to_every_byte_on_the_link(strategy, fidelity):
    """With loss, a NAT and DTLS (TLS for mqtt-http): each part is >= 0 and together they
    are the total; an updated device's payload holds at least its image."""
    sets = {"strategy.name": strategy, "sim.fidelity": fidelity, "fleet.size": 30,
            "fleet.cells": 6, "update.image_bytes": 8192, "sim.horizon_s": 12000.0,
            "security.mode": "tls" if strategy == "mqtt-http" else "dtls-psk",
            "security.rebind": "resumption",
            "link.loss": 0.05, "strategy.poll_interval_s": poll_s(strategy)}
    res = run(load_scenario("baseline", sets))   # (mqtt-http has no UDP hop for DTLS)
    d, s = res.devices, res.summary
    assert d["updated"].any()
    assert (d[PARTS] >= 0).all().all()
    assert (d[PARTS].sum(axis=1) == d["bytes_up"] + d["bytes_down"]).all()
    assert (d.loc[d["updated"], "payload_bytes"] >= 8192).all()
    assert (d["security_bytes"] > 0).all() and (d["header_bytes"] > 0).all()
    assert s["bytes_per_device"] == pytest.approx(
        sum(s[f"{p}_per_device"] for p in PARTS), rel=1e-12)
    assert s["bytes_per_device"] == pytest.approx(
        s["bytes_up_per_device"] + s["bytes_down_per_device"], rel=1e-12)


@pytest.mark.parametrize("security", ["none", "dtls-psk"])
@pytest.mark.parametrize("strategy", ["device-polling", "device-initiated",
                                      "manager-initiated", "discovery"])
def test_both_fidelities_split_the_same_messages_identically(strategy, security):
    """No loss: both fidelities exchange the same messages (as the exact tests of
    test_security.py find), so every device's split is the same."""
    sets = {"strategy__name": strategy, "security__mode": security,
            "strategy__poll_interval_s": 0.0, "link__rtt_s": 0.5}
    flow = run(closed_form(sim__fidelity="flow", **sets)).devices
    packet = run(closed_form(sim__fidelity="packet", **sets)).devices
    assert flow["updated"].all() and packet["updated"].all()
    for col in ["bytes_up", "bytes_down", *PARTS]:
        assert (flow[col] == packet[col]).all(), col


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_both_fidelities_split_alike_under_loss(strategy, cdrx_cycle_s=0.0, cdrx_waits=False):
    """With loss (and spurious retransmissions from the RTT's jitter) the fleet means agree
    within sampling noise (or 5 %). The radio listens continuously while connected, or its
    C-DRX waits are inside the measured round trips (the baseline's): where they come on
    top, they do not (the next tests)."""
    sets = {"fleet.size": 60, "fleet.cells": 60, "strategy.name": strategy,
            "update.image_bytes": 20480, "sim.horizon_s": 12000.0, "link.loss": 0.05,
            "security.mode": "dtls-psk", "strategy.poll_interval_s": poll_s(strategy),
            "gateway.devices_per_gateway": 1, "device.cdrx_cycle_s": cdrx_cycle_s,
            "link.rtt_includes_cdrx": not cdrx_waits}
    flow = run(load_scenario("baseline", sets)).devices
    packet = run(load_scenario("baseline", {**sets, "sim.fidelity": "packet"})).devices
    for col in PARTS:
        f, p = flow[col].mean(), packet[col].mean()
        se = np.hypot(flow[col].std(), packet[col].std()) / np.sqrt(len(flow))
        assert abs(f - p) <= max(0.05 * abs(p), 4 * se), (col, f, p)


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="known gap: with connected-mode DRX, flow fidelity "
                   "sends about 17 % fewer wasted bytes than packet fidelity, because it "
                   "ignores how a block's spurious copies re-phase the next block's DRX "
                   "cycles")
def test_both_fidelities_split_alike_under_loss_with_connected_drx_waits():
    """The same agreement with the default connected-mode DRX (2.048 s) whose waits come
    on top of the round trips: a response that waits for the next on-duration outlasts the
    2 s ACK timeout and is sent again."""
    test_both_fidelities_split_alike_under_loss("device-polling", cdrx_cycle_s=2.048,
                                                cdrx_waits=True)


def test_both_fidelities_split_alike_with_connected_drx_inside_the_round_trips():
    """With the default connected-mode DRX and the NB-IoT presets' round trips, which
    include its waits, the fidelities agree."""
    test_both_fidelities_split_alike_under_loss("device-polling", cdrx_cycle_s=2.048)
