"""Delegated's per-hop security: devices' DTLS sessions end at their gateway; the gateway
keeps one session of its own with the manager."""
from __future__ import annotations

import re

from simulation import load_scenario, run
from simulation.protocols import dtls, tls
from simulation.transport.security import DATAGRAM_HEADERS
from simulation.transport.backhaul import fetch_plan

IMAGE = 20_000


def plan(mode, security, poll_s=600.0, phase_s=0.0):
    return fetch_plan(mode, IMAGE, release_s=1000.0, horizon_s=5000.0, rtt_s=0.05,
                      rate_bps=10e6, service_s=0.0, poll_s=poll_s, phase_s=phase_s,
                      security=security)


def bytes_out(p):
    return sum(b for _t, _i, _o, b in p.load)


def msgs_out(p):
    return sum(o for _t, _i, o, _b in p.load)


def test_the_gateways_observe_runs_over_one_dtls_session():
    """The manager's extra bytes for a DTLS-protected Observe: its handshake flights
    (datagrams) once, and 29 B of record on every message it sends."""
    plain, secure = plan("coap-observe", "none"), plan("coap-observe", "dtls-psk")
    model = dtls.handshake_model("1.2", "psk")
    server = [f.bytes + DATAGRAM_HEADERS for f in model.flights
              if f.direction == dtls.SERVER_TO_CLIENT]
    assert bytes_out(secure) - bytes_out(plain) == sum(server) + 29 * msgs_out(plain)
    assert secure.ready_s > plain.ready_s        # every block is 29 B longer


def test_the_gateways_https_polls_resume_their_tls_session():
    """With security.mode = tls the first poll pays the full handshake (the server's
    certificate flight), later polls an abbreviated one."""
    plain, secure = plan("http", "none"), plan("http", "tls")
    assert len(plain.load) == len(secure.load) == 3   # polls at 0, 600 and 1200 s
    first = secure.load[0][3] - plain.load[0][3]
    later = secure.load[1][3] - plain.load[1][3]
    full = tls.handshake_model("1.3", "x509_low").bytes_in(tls.SERVER_TO_CLIENT)
    resumed = tls.handshake_model("1.3", "resumption").bytes_in(tls.SERVER_TO_CLIENT)
    assert first >= full and later >= resumed and later < full


def test_devices_hold_their_dtls_sessions_with_the_gateway():
    sc = load_scenario("baseline", {"strategy.name": "delegated", "fleet.size": 40,
                                    "fleet.cells": 4, "gateway.devices_per_gateway": 10,
                                    "security.mode": "dtls-psk", "update.image_bytes": 4096,
                                    "sim.horizon_s": 12000.0})
    res = run(sc, trace_devices=2)
    assert res.summary["dtls_handshakes"] == 40
    assert res.devices["updated"].all()
    lines = res.trace.splitlines()
    assert any(re.search(r"D-->G: DTLS ClientHello", ln) for ln in lines)
    assert not any("D-->M" in ln or "D<--M" in ln for ln in lines)
