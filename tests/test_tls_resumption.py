"""TLS session resumption on TCP hops (`tls.resumption`, `tls.session_lifetime_s`,
`transport/security.py` TlsSessions): a reconnecting MQTT device's bytes per wake-up against
the closed form of its flights, full against abbreviated handshakes, the lifetime rules of
TLS 1.2 (from the full handshake) and 1.3 (from the last ticket, capped), the gateway's
polls, and OpenSSL on loopback (Python's ssl): NewSessionTicket size and count, the default
session timeout, resumed handshakes smaller on the wire, and the lifetime rules."""
from __future__ import annotations

import ctypes
import selectors
import socket
import ssl
import threading
import time

import numpy as np
import pytest

from simulation import load_scenario, run
from simulation.engine import World
from simulation.protocols import mqtt, tcp, tls
from simulation.scenario import Scenario
from simulation.transport.backhaul import fetch_plan
from simulation.transport.security import TlsSessions
from simulation.transport.tcp_connection import Connection
from simulation.world import broker
from simulation.world.link import LinkModel
from test_tls_dtls import cert_files, contexts, run_handshake  # noqa: F401 (fixture)

MSS = tcp.MSS_DEFAULT
SEG = tcp.segment_bytes(0, tcp.established_options_bytes())   # 40 B: TCP + IPv4, no options
IW = tcp.initial_window_segments(MSS)
SYN, SYNACK, ACK = (p.wire_bytes for p in tcp.handshake_packets())
K = 900                                        # mqtt.keepalive_s default
RECORD = tls.record_overhead("1.3")            # on every MQTT packet (14 B)


def reconnecting(interval=3600.0, **sets) -> Scenario:
    return load_scenario("closed-form", {
        "strategy.name": "mqtt-http", "fleet.size": 1, "fleet.cells": 1,
        "mqtt.session": "reconnect", "security.mode": "tls", "update.release_s": 1e9,
        # a round trip below Linux's 1 s SYN-ACK timer: no spurious resend in the way
        "device.wake_interval_s": interval, "link.rtt_s": 0.5, **sets})


def wake_bytes(sc: Scenario, k: int) -> dict:
    """What device 0's k-th wake-up (0-based) adds to its devices.parquet byte columns: the
    difference between horizons half an interval after wake-ups k and k - 1."""
    phase = float(World(sc).wake_phases()[0])
    interval = sc.device.wake_interval_s

    def cols(n):
        res = run(sc.with_overrides({"sim.horizon_s": phase + (n + 0.5) * interval}))
        d = res.devices.iloc[0]
        return np.array([d["bytes_up"], d["bytes_down"], d["security_bytes"]]), res.summary

    (after, summary), (before, _) = cols(k), cols(k - 1)
    up, down, sec = (int(x) for x in after - before)
    return {"up": up, "down": down, "security": sec, "summary": summary}


def flights_on_the_wire(flights) -> tuple[int, int]:
    """Bytes (up, down) of consecutive loss-free TCP flights [(direction, payload bytes)]:
    each cut into MSS segments (+40 B each) sent in slow-start rounds (IW, then doubling
    per round that is not a flight's last, RFC 5681 / RFC 6928); the receiver ACKs every
    second segment at once, a non-final round's odd one too (RFC 1122 section 4.2.3.2); a
    flight's odd last segment is ACKed by the next flight if the other side sends it, else
    by a pure ACK. The same rule as `tcp_connection.py`, derived here on its own."""
    out = {"up": 0, "down": 0}
    other = {"up": "down", "down": "up"}
    cwnd = {"up": IW, "down": IW}
    owed = None
    for d, n in flights:
        if owed == d:
            out[other[d]] += SEG
        owed = None
        segs = max(1, -(-n // MSS))
        out[d] += n + segs * SEG
        left = segs
        while left:
            w = min(cwnd[d], left)
            left -= w
            if left:
                out[other[d]] += SEG * -(-w // 2)
                cwnd[d] *= 2
            else:
                out[other[d]] += SEG * (w // 2)
                owed = d if w % 2 else None
    return out["up"], out["down"]


def reconnect_closed_form(version: str, auth: str, tickets: int) -> dict:
    """A reconnect with the broker's session present: SYN, SYN-ACK, ACK; the TLS flights
    and `tickets` NewSessionTickets; CONNECT, CONNACK, the report PUBLISH and its PUBACK,
    DISCONNECT, each in a TLS record; the client's FIN-ACK and the server's ACK."""
    tls_flights = [("up" if f.direction == tls.CLIENT_TO_SERVER else "down", f.bytes)
                   for f in tls.handshake_model(version, auth).flights]
    if tickets:
        tls_flights.append(("down", tickets * tls.new_session_ticket_bytes()))
    record = tls.record_overhead(version)
    mqtt_flights = [("up", len(mqtt.connect("dev0", keepalive_s=K, clean_session=False))),
                    ("down", len(mqtt.connack(True))),
                    ("up", len(mqtt.publish(broker.report_topic(0), 64, 1, 1))),
                    ("down", len(mqtt.puback(1))),
                    ("up", len(mqtt.disconnect()))]
    up, down = flights_on_the_wire(tls_flights + [(d, n + record) for d, n in mqtt_flights])
    handshake = sum(n + max(1, -(-n // MSS)) * SEG for _, n in tls_flights)
    return {"up": SYN + ACK + up + SEG, "down": SYNACK + down + SEG,
            "security": handshake + record * len(mqtt_flights)}


# ---------------------------------------------------------------------------
# A reconnecting device in the engine
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fidelity", ["flow", "packet"])
def test_a_reconnect_within_the_lifetime_resumes_byte_for_byte(fidelity):
    """The third wake-up of a device reconnecting hourly (session lifetime 7200 s, TLS 1.3,
    x509_low) runs the abbreviated handshake and gets one ticket: its bytes up, down and
    security equal the closed form exactly (tolerance 0); without resumption the same
    wake-up runs the full handshake, and the difference is the handshakes' sizes in
    tls.py plus their segment headers and ACKs."""
    resumed = wake_bytes(reconnecting(**{"sim.fidelity": fidelity}), 2)
    full = wake_bytes(reconnecting(**{"sim.fidelity": fidelity, "tls.resumption": False}), 2)
    want_resumed = reconnect_closed_form("1.3", "resumption", tls.TICKETS_AFTER_RESUMPTION)
    want_full = reconnect_closed_form("1.3", "x509_low", 0)
    for part in ("up", "down", "security"):
        assert resumed[part] == want_resumed[part], part
        assert full[part] == want_full[part], part
    assert resumed["summary"]["tls_handshakes"] == 1
    assert resumed["summary"]["tls_resumptions"] == 2
    assert full["summary"]["tls_resumptions"] == 0
    # the difference: TLS bytes, then segment headers (12 + 1 + 1 against 1 + 1 + 1 + 1
    # segments) and ACKs (6 pure ACKs for the server's certificate flight and one for the
    # client's Finished, against none: the ticket flight carries the Finished's ACK)
    x509, resumption = tls.handshake_model("1.3", "x509_low"), tls.handshake_model(
        "1.3", "resumption")
    tls_saving = x509.total_bytes - resumption.total_bytes - tls.new_session_ticket_bytes()
    saved = full["up"] + full["down"] - resumed["up"] - resumed["down"]
    assert saved == tls_saving + (14 - 4) * SEG + (6 + 1) * SEG


def test_a_lifetime_shorter_than_the_wake_interval_makes_every_reconnect_full():
    """tls.session_lifetime_s = 1800 s with hourly wake-ups: no session survives to the next
    wake-up, so every reconnect runs the full handshake (and gets two tickets it never
    uses): the third wake-up's bytes are the full closed form plus the tickets."""
    got = wake_bytes(reconnecting(**{"tls.session_lifetime_s": 1800.0}), 2)
    want = reconnect_closed_form("1.3", "x509_low", tls.TICKETS_AFTER_FULL)
    assert {p: got[p] for p in want} == want
    assert got["summary"]["tls_handshakes"] == 3 and got["summary"]["tls_resumptions"] == 0


def test_without_resumption_every_reconnect_is_the_full_handshake():
    """tls.resumption = false: no ticket, every wake-up's connection is the full handshake's
    closed form (no NewSessionTicket, the client's Finished ACKed by a pure ACK), at the
    second and the third wake-up alike."""
    sc = reconnecting(**{"tls.resumption": False})
    want = reconnect_closed_form("1.3", "x509_low", 0)
    for k in (1, 2):
        got = wake_bytes(sc, k)
        assert {p: got[p] for p in want} == want
        assert got["summary"]["tls_handshakes"] == k + 1


@pytest.mark.parametrize("version, pattern", [("1.2", (1, 0, 1, 0)), ("1.3", (1, 0, 0, 0))])
def test_tls12_sessions_expire_from_the_full_handshake_tls13_tickets_renew(version, pattern):
    """Wake-ups every 4000 s, lifetime 7200 s: in TLS 1.2 the session ID expires 7200 s after
    its full handshake, so every other reconnect is full; in TLS 1.3 each connection's
    ticket lives 7200 s from its issuance, so all reconnects after the first resume.
    `pattern`: 1 for a full handshake at each of 4 wake-ups."""
    sc = reconnecting(4000.0, **{"tls.version": version})
    phase = float(World(sc).wake_phases()[0])
    fulls = []
    for n in range(4):
        res = run(sc.with_overrides({"sim.horizon_s": phase + (n + 0.5) * 4000.0}))
        fulls.append(res.summary["tls_handshakes"])
    assert tuple(np.diff([0, *fulls])) == pattern
    assert res.summary["tls_handshakes"] + res.summary["tls_resumptions"] == 4


# ---------------------------------------------------------------------------
# The session cache itself
# ---------------------------------------------------------------------------

def fast_link(loss=0.0) -> LinkModel:
    return LinkModel(rtt_s=0.01, uplink_bps=1e7, downlink_bps=1e7, loss=loss, connect_s=0.0,
                     rtt_sigma=0.0)


def connect(sessions, t, server="broker", loss=0.0) -> bool:
    conn = Connection(fast_link(), np.random.default_rng(0))
    assert conn.open()
    conn.link = fast_link(loss)       # the path dies (or not) after the TCP handshake
    return sessions.handshake(conn, 0, server, t)


def test_tls13_renewals_stop_seven_days_after_the_full_handshake():
    """Reconnecting every 7000 s (< 7200 s lifetime) renews the ticket each time, but not
    past tls.TLS13_AUTH_LIFETIME_S (7 days) after the full handshake: the 87th reconnect
    (at 609,000 s > 604,800 s) is full again; 86 in between resume."""
    s = TlsSessions(1, "1.3", "x509_low")
    for k in range(88):
        assert connect(s, k * 7000.0)
    assert (s.full, s.resumed) == (2, 86)
    assert not s.resumable(0, "other-server", 7000.0)     # sessions are per server


def test_a_failed_handshake_starts_no_session_and_psk_never_resumes():
    s = TlsSessions(1, "1.3", "x509_low")
    assert not connect(s, 0.0, loss=1.0)     # every TLS segment lost: the connection fails
    assert (s.full, s.resumed) == (0, 0) and not s.resumable(0, "broker", 1.0)
    assert connect(s, 10.0) and connect(s, 20.0)
    assert (s.full, s.resumed) == (1, 1)
    assert not connect(s, 30.0, loss=1.0)    # a failed resumption keeps the session
    assert s.resumable(0, "broker", 40.0)
    psk = TlsSessions(1, "1.3", "psk")       # an external PSK: its own handshake each time
    assert connect(psk, 0.0) and connect(psk, 10.0) and (psk.full, psk.resumed) == (2, 0)


def test_the_gateways_polls_follow_the_same_rule():
    """fetch_plan's HTTP polls every 600 s: without resumption (or with a lifetime shorter
    than the poll period) each poll pays the same full handshake as the first; with it the
    later polls cost the manager less."""
    def tls_bytes(**kw):
        args = dict(image_bytes=20_000, release_s=1e4, horizon_s=2000.0, rtt_s=0.05,
                    rate_bps=10e6, service_s=0.0, poll_s=600.0, phase_s=0.0)
        plain = fetch_plan("http", security="none", **args)
        secure = fetch_plan("http", security="tls", **args, **kw)
        return [s[3] - p[3] for s, p in zip(secure.load, plain.load, strict=True)]

    off = tls_bytes(tls_resumption=False)
    short = tls_bytes(tls_lifetime_s=300.0)
    on = tls_bytes()
    assert len(on) == 4 and off[0] == off[1] == off[3] and short[0] == short[1] == short[3]
    assert short[0] - off[0] == tls.TICKETS_AFTER_FULL * tls.new_session_ticket_bytes()
    assert on[0] == short[0] and on[1] == on[3] < off[1] / 5


# ---------------------------------------------------------------------------
# OpenSSL (Python's ssl) on loopback
# ---------------------------------------------------------------------------

def _records(data: bytes) -> list[int]:
    """Lengths of the TLS records in `data`, headers included (RFC 8446 section 5.1)."""
    out, i = [], 0
    while i + 5 <= len(data):
        out.append(5 + int.from_bytes(data[i + 3:i + 5], "big"))
        i += out[-1]
    return out


def test_openssl_sends_two_tickets_after_a_full_handshake_one_after_a_resumption(cert_files):
    """OpenSSL 3 (AES-GCM suites): NewSessionTicket records of the size
    tls.new_session_ticket_bytes gives with a 16 B tag, up to the ticket's own length
    (within 32 B: OpenSSL versions encode the session differently; 3.0.19 gives 208 B, the
    model's TICKET_BYTES), two after a full handshake, one after a resumption."""
    server_ctx, client_ctx = contexts(cert_files, "1.3")
    expected = tls.new_session_ticket_bytes(tag_bytes=tls.GCM_TAG_BYTES)
    sizes = []
    session = None
    for _ in range(2):
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        client = client_ctx.wrap_bio(c_in, c_out, session=session)
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        after = []
        server_done = False
        for _ in range(10):
            try:
                client.do_handshake()
            except ssl.SSLWantReadError:
                pass
            s_in.write(c_out.read())
            try:
                server.do_handshake()
                if not server_done:
                    server_done = True
                    after = []          # records from here on follow the handshake
            except ssl.SSLWantReadError:
                pass
            data = s_out.read()
            if server_done:
                after += _records(data)
            c_in.write(data)
        server.write(b"y")
        c_in.write(s_out.read())
        assert client.read() == b"y"
        sizes.append(after)
        session = client.session
    assert client.session_reused
    full, resumed = sizes
    assert len(full) == tls.TICKETS_AFTER_FULL and len(resumed) == tls.TICKETS_AFTER_RESUMPTION
    for size in full + resumed:
        assert abs(size - expected) <= 32, (size, expected)


def test_openssl_default_session_timeout_is_the_default_lifetime(cert_files):
    """Python's ssl reports the session's timeout and the ticket's lifetime hint: 7200 s,
    OpenSSL's default (tls1_default_timeout; its man pages still say 300 s), the default
    of tls.session_lifetime_s."""
    default = Scenario().tls.session_lifetime_s
    for version in ("1.2", "1.3"):
        client, server, (c_in, _, _, s_out), _, _ = run_handshake(*contexts(cert_files, version))
        server.write(b"y")
        c_in.write(s_out.read())
        client.read()
        assert client.session.timeout == default == 7200
        assert client.session.ticket_lifetime_hint == default


def _through_relay(server_ctx, client_ctx, session):
    """One TLS connection on loopback through a relay that counts the bytes each way: the
    client sends 2 B, the server answers 2 B, both close (close_notify). Returns (client
    session, reused, bytes client -> server, bytes server -> client)."""
    server_sock = socket.create_server(("127.0.0.1", 0))
    relay_sock = socket.create_server(("127.0.0.1", 0))
    counts = {"up": 0, "down": 0}
    errors = []

    def serve():
        try:
            conn, _ = server_sock.accept()
            conn.settimeout(10)
            with server_ctx.wrap_socket(conn, server_side=True) as s:
                s.sendall(s.recv(2))
                s.unwrap()
        except Exception as e:          # reported by the test
            errors.append(e)

    def relay():
        a, _ = relay_sock.accept()
        b = socket.create_connection(server_sock.getsockname())
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, (b, "up"))
        sel.register(b, selectors.EVENT_READ, (a, "down"))
        open_ends = 2
        while open_ends:
            for key, _ in sel.select(timeout=10):
                peer, way = key.data
                data = key.fileobj.recv(65536)
                if data:
                    counts[way] += len(data)
                    peer.sendall(data)
                else:
                    sel.unregister(key.fileobj)
                    peer.shutdown(socket.SHUT_WR)
                    open_ends -= 1
        a.close()
        b.close()

    threads = [threading.Thread(target=f, daemon=True) for f in (serve, relay)]
    for th in threads:
        th.start()
    raw = socket.create_connection(relay_sock.getsockname(), timeout=10)
    with client_ctx.wrap_socket(raw, session=session) as c:
        c.sendall(b"hi")
        assert c.recv(2) == b"hi"        # the tickets came before it
        reused, session = c.session_reused, c.session
        c.unwrap()
    raw.close()
    for th in threads:
        th.join(10)
    server_sock.close()
    relay_sock.close()
    assert not errors, errors
    return session, reused, counts["up"], counts["down"]


def test_a_resumed_openssl_connection_is_smaller_on_the_wire(cert_files):
    """TLS 1.3 on loopback through a byte-counting relay: the second connection, offering
    the first one's ticket (`session=`), is resumed (`session_reused`) and moves fewer
    bytes (no certificate chain, one ticket instead of two); as in the model, its client
    sends more (the ticket in its ClientHello) and its server far less."""
    server_ctx, client_ctx = contexts(cert_files, "1.3")
    session, reused, up_full, down_full = _through_relay(server_ctx, client_ctx, None)
    assert not reused
    _, reused, up_resumed, down_resumed = _through_relay(server_ctx, client_ctx, session)
    assert reused
    assert up_resumed + down_resumed < up_full + down_full
    assert up_resumed > up_full and down_resumed < down_full
    model_full = tls.handshake_model("1.3", "x509_low")
    model_resumed = tls.handshake_model("1.3", "resumption")
    assert model_resumed.bytes_in(tls.CLIENT_TO_SERVER) > model_full.bytes_in(
        tls.CLIENT_TO_SERVER)
    assert model_resumed.total_bytes < model_full.total_bytes


def _set_timeout(ctx: ssl.SSLContext, seconds: int) -> bool:
    """SSL_CTX_set_timeout on a Python SSLContext (its SSL_CTX pointer follows the object
    header); False if the pointer does not read back OpenSSL's default timeout."""
    try:
        lib = ctypes.CDLL(ssl._ssl.__file__)
        get, put = lib.SSL_CTX_get_timeout, lib.SSL_CTX_set_timeout
    except (OSError, AttributeError):
        return False
    get.argtypes, get.restype = [ctypes.c_void_p], ctypes.c_long
    put.argtypes, put.restype = [ctypes.c_void_p, ctypes.c_long], ctypes.c_long
    ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not ptr or get(ptr) != 7200:
        return False
    put(ptr, seconds)
    return get(ptr) == seconds


def test_openssl_lifetime_rules_are_the_models(cert_files):
    """With a 2 s session timeout, connections at 0, 1.5 and 3 s (wall clock; OpenSSL
    counts whole seconds, so the 1.5 s steps leave a second's margin): TLS 1.3 resumes at
    3 s (the 1.5 s ticket is 1.5 s old), TLS 1.2 with session IDs does not (the session
    is 3 s old), as TlsSessions decides on the same timeline."""
    setups = {}
    for version in ("1.3", "1.2"):
        server_ctx, client_ctx = contexts(cert_files, version)
        if version == "1.2":
            server_ctx.options |= ssl.OP_NO_TICKET      # session IDs, the model's 1.2
        if not _set_timeout(server_ctx, 2):
            pytest.skip("SSL_CTX_set_timeout is not reachable through ctypes here")
        setups[version] = {"ctx": (server_ctx, client_ctx), "session": None, "openssl": [],
                           "model": TlsSessions(1, version, "x509_low", lifetime_s=2.0),
                           "decided": []}
    start = time.monotonic()
    for at in (0.0, 1.5, 3.0):
        time.sleep(max(0.0, start + at - time.monotonic()))
        for setup in setups.values():
            client, server, (c_in, c_out, s_in, s_out), _, _ = run_handshake(
                *setup["ctx"], setup["session"])
            server.write(b"y")
            c_in.write(s_out.read())
            client.read()
            for end, out, peer in ((client, c_out, s_in), (server, s_out, c_in)):
                try:        # close_notify: OpenSSL forgets a session closed without one
                    end.unwrap()
                except ssl.SSLWantReadError:
                    pass
                peer.write(out.read())
            setup["openssl"].append(client.session_reused)
            setup["session"] = client.session
            model = setup["model"]
            before = model.resumed
            assert connect(model, at)
            setup["decided"].append(model.resumed > before)
    assert setups["1.3"]["openssl"] == setups["1.3"]["decided"] == [False, True, True]
    assert setups["1.2"]["openssl"] == setups["1.2"]["decided"] == [False, True, False]
