"""DTLS on the devices' hop: record overhead on every message, a handshake per new session."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import clear_horizon, closed_form

from simulation import run
from simulation.errors import ScenarioError
from simulation.protocols import dtls
from simulation.transport.security import DATAGRAM_HEADERS
from simulation.strategies import check_supported


def polling(fidelity, **sets):
    base = {"sim__fidelity": fidelity, "strategy__name": "device-polling",
            "strategy__poll_interval_s": 0.0, "link__rtt_s": 0.5}
    base.update(sets)
    return run(closed_form(**base)).devices


@pytest.mark.parametrize("fidelity", ["packet", "flow"])
@pytest.mark.parametrize("mode,auth", [("dtls-psk", "psk"), ("dtls-cert", "rpk_ecdhe")])
@pytest.mark.parametrize("rebind,cid_bytes", [("cid", 1), ("full", 0)])
def test_every_message_pays_the_record_and_each_device_one_handshake(fidelity, mode, auth,
                                                                      rebind, cid_bytes):
    """No loss, no NAT: the same messages as without security, each longer by the DTLS
    record overhead (29 B, 31 B with a Connection ID), plus one full handshake per device."""
    plain = polling(fidelity)
    secure = polling(fidelity, security__mode=mode, security__rebind=rebind)
    overhead = dtls.record_overhead("1.2", cid_bytes)
    assert overhead == (31 if cid_bytes else 29)
    flights = dtls.handshake_model("1.2", auth, cid=rebind == "cid").flights
    up = [f.bytes + DATAGRAM_HEADERS for f in flights if f.direction == "client->server"]
    down = [f.bytes + DATAGRAM_HEADERS for f in flights if f.direction == "server->client"]
    assert (secure["msgs_up"] == plain["msgs_up"] + len(up)).all()
    assert (secure["msgs_down"] == plain["msgs_down"] + len(down)).all()
    assert (secure["bytes_up"] == plain["bytes_up"] + plain["msgs_up"] * overhead
            + sum(up)).all()
    assert (secure["bytes_down"] == plain["bytes_down"] + plain["msgs_down"] * overhead
            + sum(down)).all()
    assert secure["updated"].all()


@pytest.mark.parametrize("fidelity", ["packet", "flow"])
def test_a_nat_rebinding_costs_a_handshake_unless_a_connection_id_is_used(fidelity):
    """The binding (30 s) expires between wake-ups (600 s): without a Connection ID, at
    every wake-up after the first the manager drops the report silently (it has no
    session for the new port), and once it gives up the device handshakes again
    (abbreviated with resumption, smaller than full). The horizon leaves every last
    wake-up 120 s, more than the 93 s the device may wait for its report (RFC 7252
    MAX_TRANSMIT_WAIT)."""
    nat = {"nat__enabled": True, "nat__udp_timeout_s": 30.0, "security__mode": "dtls-psk"}
    sums = {}
    for rebind in ("cid", "resumption", "full"):
        sc = clear_horizon(closed_form(**{
            "sim__fidelity": fidelity, "strategy__name": "device-polling",
            "strategy__poll_interval_s": 0.0, "link__rtt_s": 0.5, "security__rebind": rebind,
            **nat}), 120.0)
        res = run(sc)
        wakeups = int(res.devices["wakeups"].sum())
        again = 0 if rebind == "cid" else wakeups - sc.fleet.size
        assert res.summary["failed_dtls"] == again, rebind
        assert res.summary["dtls_handshakes"] == sc.fleet.size + again, rebind
        sums[rebind] = res.devices["bytes_up"].sum() + res.devices["bytes_down"].sum()
    assert sums["cid"] < sums["resumption"] < sums["full"]


def test_a_cookie_adds_a_round_trip_and_its_bytes():
    base = {"security__mode": "dtls-psk", "sim__fidelity": "flow"}
    without = polling("flow", **base)
    with_cookie = polling("flow", **base, security__dtls_cookie=True)
    extra = with_cookie["bytes_up"] + with_cookie["bytes_down"] - without["bytes_up"] - \
        without["bytes_down"]
    model = dtls.handshake_model("1.2", "psk", cid=True, cookie=True)
    plain = dtls.handshake_model("1.2", "psk", cid=True, cookie=False)
    assert np.all(extra == sum(f.bytes for f in model.flights)
                  - sum(f.bytes for f in plain.flights) + 2 * DATAGRAM_HEADERS)


@pytest.mark.parametrize("fidelity", ["packet", "flow"])
def test_tls_mode_secures_coap_hops_with_certificate_dtls(fidelity):
    """`security.mode = tls` is TLS on TCP hops; a CoAP-only strategy has none, so its
    devices pay exactly what `dtls-cert` costs them."""
    tls_mode = polling(fidelity, security__mode="tls")
    cert = polling(fidelity, security__mode="dtls-cert")
    cols = ["bytes_up", "bytes_down", "msgs_up", "msgs_down", "security_bytes"]
    assert (tls_mode[cols].to_numpy() == cert[cols].to_numpy()).all()
    assert (tls_mode["security_bytes"] > 0).all()


def test_tls_1_2_refuses_handshakes_only_tls_1_3_has():
    with pytest.raises(ScenarioError, match="tls.auth"):
        check_supported(closed_form(security__mode="tls", tls__version="1.2",
                                    tls__auth="rpk_ecdhe"))
