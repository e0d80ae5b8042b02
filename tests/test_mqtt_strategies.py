"""mqtt-http and mqtt-coap in the engine: the keep-alive vs reconnect energy break-even
against its closed form, the persistent session's delivery of the command, the NAT's TCP
timeout, the download times of the two stacks, and refused values."""
from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest

from simulation import load_scenario, run
from simulation.engine import World
from simulation.protocols import mqtt
from simulation.world import broker

K = 300.0          # keep alive (s)
R = 2.0            # fixed RTT (s): above Linux's 1 s SYN-ACK timer (one spurious resend)
INACTIVITY = 2.5   # RRC inactivity (s): longer than an RTT, so answers find the radio on
BPS = 100_000.0    # the closed-form scenario's link rate (both ways)


def one_device(strategy="mqtt-http", **sets):
    return load_scenario("closed-form", {
        "strategy.name": strategy, "fleet.size": 1, "fleet.cells": 1,
        "link.rtt_s": R, "device.inactivity_s": INACTIVITY, "device.active_timer_s": 0.5,
        "mqtt.keepalive_s": K, "update.release_s": 1e9, "sim.fidelity": "flow", **sets})


def ser(n):
    return 8 * n / BPS


def energy_per_interval(session: str, interval: float) -> float:
    """Energy (J) of one steady wake interval: the difference between two horizons at the
    same offset in the interval, 6 and 2 intervals after the first wake-up."""
    def energy(n):
        sc = one_device(**{"mqtt.session": session, "device.wake_interval_s": interval})
        phase = float(World(sc).wake_phases()[0])
        sc = sc.with_overrides({"sim.horizon_s": phase + (n + 0.5) * interval})
        return float(run(sc).devices["energy_j"].iloc[0])
    return (energy(6) - energy(2)) / 4


def closed_form_energies(scenario):
    """(E_ka, E_rc) in J from the power keys and the packets' sizes (RFC 9293 headers,
    MQTT 3.1.1 encodings), on the fixed link: a PINGREQ / PINGRESP from PSM with its ACK
    and radio tail, and what a reconnection (TCP handshake, CONNECT / CONNACK,
    DISCONNECT, close) adds to a wake-up's report over an open connection."""
    power, paging_s = scenario.power, scenario.device.paging_cycle_s
    # idle: deep sleep plus a paging occasion every paging cycle
    p_idle = (power.idle_mw + power.paging_occasion_mj / paging_s) / 1e3
    p_tx, p_rx, p_psm = power.tx_mw / 1e3, power.rx_mw / 1e3, power.psm_mw / 1e3
    inact, active = INACTIVITY, 0.5

    def busy(duration, tx):
        return p_tx * tx + p_rx * (duration - tx) - p_psm * duration

    ping = 40 + len(mqtt.pingreq())
    dur_ka = ser(ping) + R + ser(40 + len(mqtt.pingresp()))
    e_ka = (busy(dur_ka, ser(ping) + ser(40)) + (p_rx - p_psm) * inact
            + (p_idle - p_psm) * active)
    publish = 40 + len(mqtt.publish(broker.report_topic(0), 64, 1, 1))
    puback = 40 + len(mqtt.puback(1))
    connect = 40 + len(mqtt.connect("dev0", keepalive_s=int(K), clean_session=False))
    connack = 40 + len(mqtt.connack(True))
    disconnect = 40 + len(mqtt.disconnect())
    dur_keep = ser(publish) + R + ser(puback)
    tx_keep = ser(publish) + ser(40)
    dur_rc = (ser(52) + R + ser(52) + ser(40)                 # SYN, SYN-ACK, ACK
              + ser(connect) + R + ser(connack)               # CONNECT, CONNACK
              + ser(publish) + R + ser(puback)                # the report
              + ser(disconnect) + ser(40) + R + ser(40))      # DISCONNECT, FIN, ACK
    tx_rc = ser(52) + ser(40) + ser(connect) + ser(publish) + ser(disconnect) + ser(40)
    # Linux resends its SYN-ACK 1 s after the first (TCP_TIMEOUT_INIT), before the ACK
    # is back when R > 1 s; the device ACKs the duplicate (it delays nothing)
    resends = sum(1 for k in range(6) if 2 ** k - 1 < R + ser(52) + ser(40))
    tx_rc += (resends - 1) * ser(40)
    e_rc = busy(dur_rc, tx_rc) - busy(dur_keep, tx_keep)
    return e_ka, e_rc


def test_keep_alive_vs_reconnect_break_even_matches_the_closed_form():
    """Keeping the session costs ceil(T/K) - 1 pings per wake interval T, reconnecting one
    reconnection: the engine's energies cross where mqtt.keepalive_vs_reconnect_break_even_s
    (discrete) says, T* = K (floor(E_rc / E_ka) + 1)."""
    e_ka, e_rc = closed_form_energies(one_device())
    t_star = mqtt.keepalive_vs_reconnect_break_even_s(e_ka, e_rc, K, discrete=True)
    assert 2 * K <= t_star <= 6 * K      # the scenario puts the crossing mid-range

    def extra(interval):    # keeping minus reconnecting, per interval (J)
        return energy_per_interval("keep-alive", interval) - energy_per_interval(
            "reconnect", interval)

    # the per-interval difference is the closed form at a few intervals
    for interval in (1.5 * K, 2.5 * K, t_star + 0.5 * K):
        expected = mqtt.pings_per_interval(interval, K) * e_ka - e_rc
        assert extra(interval) == pytest.approx(expected, rel=1e-6, abs=1e-9)
    # bisection on the engine's energies finds the crossing
    lo, hi = K + 1.0, 8 * K
    assert extra(lo) < 0 < extra(hi)
    while hi - lo > 1.0:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if extra(mid) < 0 else (lo, mid)
    # to within a ping's radio time: a PINGREQ due just before the wake-up shares its
    # radio time with the report (the closed form counts it whole)
    e_ping_s = R + INACTIVITY + 0.5 + 0.01
    assert t_star - 1.0 <= lo and hi <= t_star + e_ping_s


def test_keep_alive_sends_a_ping_per_keepalive_period_while_asleep():
    sc = one_device(**{"device.wake_interval_s": 3.5 * K, "sim.horizon_s": 20 * K})
    res = run(sc, trace_devices=1)
    lines = res.trace.splitlines()
    pings = [float(ln.split()[0]) for ln in lines if "PINGREQ" in ln]
    reports = [float(ln.split()[0]) for ln in lines if "PUBLISH devices/0/report" in ln]
    assert len(reports) >= 5
    assert res.summary["keepalive_pings"] == len(pings)
    assert res.summary["tcp_connections"] == 1        # the session's, never closed
    for t0, t1 in zip(reports, reports[1:]):
        inside = [t for t in pings if t0 < t < t1]
        assert inside == pytest.approx([t0 + K, t0 + 2 * K, t0 + 3 * K])


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
def test_a_keep_alive_longer_than_the_nat_tcp_timeout_meets_a_reset(fidelity):
    """The binding expires between pings: each ping finds it gone, is answered by a reset
    and reconnects (session present), paying a TCP handshake each time."""
    sc = one_device(**{"nat.enabled": True, "nat.tcp_timeout_s": 0.5 * K,
                       "device.wake_interval_s": 2.5 * K, "sim.horizon_s": 12 * K,
                       "sim.fidelity": fidelity})
    lines = run(sc, trace_devices=1).trace.splitlines()
    resets = sum("TCP RST" in ln for ln in lines)
    syns = sum(ln.endswith("TCP SYN") for ln in lines)
    assert resets >= 8 and syns == resets + 1     # every contact after the first
    held = run(sc.with_overrides({"nat.tcp_timeout_s": 1.5 * K}), trace_devices=1)
    assert "TCP RST" not in held.trace
    assert sum(ln.endswith("TCP SYN") for ln in held.trace.splitlines()) == 1


@pytest.mark.parametrize("session,bound", [("keep-alive", K), ("reconnect", 1800.0)])
def test_the_persistent_session_delivers_the_command_at_the_next_contact(session, bound):
    """Published while devices sleep, the QoS 1 command waits: a keep-alive device whose
    network holds downlink data for it gets it at its next PINGREQ or wake-up (within
    K), a reconnecting device from its session at its next wake-up (within T); periodic
    phases make the wait uniform, so its mean is about half the bound. (Without
    buffering, see test_mqtt_psm.py.)"""
    sc = load_scenario("closed-form", {
        "strategy.name": "mqtt-coap", "fleet.size": 400, "fleet.cells": 40,
        "mqtt.session": session, "mqtt.keepalive_s": K, "device.wake_interval_s": 1800.0,
        "update.release_s": 3600.0, "sim.horizon_s": 9000.0, "sim.fidelity": "flow",
        "device.active_timer_s": 0.0, "device.inactivity_s": 5.0,
        "network.extended_buffering_s": 2 * K})
    res = run(sc)
    wait = res.devices["t_first_contact_s"].to_numpy() - 3600.0
    assert np.isfinite(wait).all()
    assert (wait >= 0).all() and (wait <= bound + 30).all()
    assert wait.mean() == pytest.approx(bound / 2, rel=0.15)
    assert res.devices["updated"].all()


def test_on_a_long_rtt_mqtt_http_downloads_faster_than_mqtt_coap():
    """Block2 pays one RTT per 256 B block; TCP's window grows to fill the link."""
    def download(strategy):
        sc = load_scenario("closed-form", {
            "strategy.name": strategy, "fleet.size": 10, "fleet.cells": 10,
            "link.rtt_s": 2.0, "update.image_bytes": 256 * 1024, "sim.fidelity": "flow",
            "sim.horizon_s": 20000.0})
        return res_mean(run(sc))

    def res_mean(res):
        assert res.devices["updated"].all()
        return float(res.devices["download_s"].mean())
    http_s, coap_s = download("mqtt-http"), download("mqtt-coap")
    assert coap_s > 1024 * 2.0          # at least one RTT per block
    assert http_s < coap_s / 5


def test_the_engine_download_is_the_connection_models(tmp_path):
    """On an uncontended fixed link, devices.parquet's download_s of mqtt-http is the HTTP
    body's time from its first segment to its last byte (tested in closed form in
    test_tcp_connection.py), at both fidelities."""
    from simulation.protocols import http
    from simulation.transport.tcp_connection import DOWN, UP, Connection, TcpParams
    from simulation.world.link import LinkModel

    link = LinkModel(rtt_s=1.0, uplink_bps=BPS, downlink_bps=BPS, loss=0.0, connect_s=0.0,
                     rtt_sigma=0.0)
    c = Connection(link, np.random.default_rng(0), TcpParams())
    c.open()
    c.message(UP, len(http.get_request(broker.IMAGE_PATH, broker.IMAGE_HOST)), served=True)
    head = http.ok_response_head(102_400)
    body = c.message(DOWN, len(head) + 102_400)
    expected = body.arrived_s - body.sent_s
    for fidelity in ("flow", "packet"):
        sc = load_scenario("closed-form", {
            "strategy.name": "mqtt-http", "fleet.size": 3, "fleet.cells": 3,
            "update.image_bytes": 102_400, "sim.fidelity": fidelity})
        res = run(sc)
        assert res.devices["updated"].all()
        assert res.devices["download_s"].to_numpy() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("setting,needle", [
    ("tcp.mss_bytes=10", "tcp.mss_bytes"),
    ("tcp.syn_retries=-1", "tcp.syn_retries"),
    ("mqtt.session=forever", "mqtt.session"),
    ("mqtt.keepalive_s=0", "mqtt.keepalive_s"),
    ("mqtt.report_qos=2", "mqtt.report_qos"),
    ("tls.version=1.4", "tls.version"),
    ("tls.auth=rpk_ecdhe", "tls.auth"),
])
def test_bad_stack_values_are_refused(setting, needle, tmp_path):
    sets = ["--set", setting]
    if setting.startswith("tls.auth"):
        sets += ["--set", "tls.version=1.2"]
    p = subprocess.run([sys.executable, "-m", "simulation", "run", "baseline", *sets,
                        "--set", "strategy.name=mqtt-http", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and needle in p.stderr
    assert not (tmp_path / "o").exists()


def test_mqtt_sizes_on_the_wire_add_tcp_and_ip_headers():
    """A reconnecting device's first wake-up, byte for byte: the TCP handshake (52 + 40 B
    up), then CONNECT, SUBSCRIBE, the report PUBLISH and DISCONNECT, each in one segment
    (+40 B), the FIN (40 B); the MQTT packets are paho-checked in test_mqtt.py. With a
    2 s round trip Linux resends its SYN-ACK once (52 B down, after 1 s) and the device
    ACKs the duplicate (40 B up)."""
    sc = one_device(**{"mqtt.session": "reconnect", "device.wake_interval_s": 3600.0,
                       "sim.horizon_s": 3600.0})
    dev = run(sc).devices.iloc[0]
    up = (52 + 40 + 40 + len(mqtt.connect("dev0", keepalive_s=int(K), clean_session=False))
          + 40 + len(mqtt.subscribe(broker.command_topic(0), 1, 1))
          + 40 + len(mqtt.publish(broker.report_topic(0), 64, 1, 2))
          + 40 + len(mqtt.disconnect()) + 40 + 40)
    down = (52 + 52 + 40 + len(mqtt.connack(False)) + 40 + len(mqtt.suback(1, 1))
            + 40 + len(mqtt.puback(2)) + 40)
    assert (dev["bytes_up"], dev["bytes_down"]) == (up, down)
    assert math.isnan(dev["t_first_contact_s"])


def test_an_interrupted_http_download_resumes_with_a_range_request():
    """Segments lost beyond tcp.server_retries break downloads; at a later wake-up the
    device asks for the rest (`Range: bytes=N-`) and gets exactly it in a 206 (RFC 9110
    section 14); what it kept counts once as payload."""
    image = 51_200
    sc = load_scenario("closed-form", {
        "strategy.name": "mqtt-http", "fleet.size": 20, "fleet.cells": 20,
        "link.loss": 0.15, "tcp.server_retries": 1, "update.image_bytes": image,
        "sim.fidelity": "flow", "sim.horizon_s": 20000.0})
    res = run(sc, trace_devices=20)
    assert res.devices["updated"].all()
    resumed = 0
    pending = {}
    for ln in res.trace.splitlines():
        dev = ln.split()[2]
        if m := re.search(r"Range: bytes=(\d+)-$", ln):
            pending[dev] = int(m.group(1))
        elif (m := re.search(r"206 Partial Content, payload: (\d+) B", ln)) and dev in pending:
            assert pending.pop(dev) + int(m.group(1)) == image
            resumed += 1
    assert resumed >= 5
    d = res.devices
    assert (d["payload_bytes"] >= image).all()
    # the image once, the reports (64 B each at most once a wake-up) and the command
    assert (d["payload_bytes"] <= image + 64 * d["wakeups"] + 100).all()
