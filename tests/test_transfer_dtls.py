"""An image pull runs DTLS by the rule of every CoAP exchange (`Session.end_with_transfer`).

mqtt-coap's wake-up conversation is MQTT over TCP, so its Block2 pull of the image is the
device's first exchange with its DTLS peer (the manager's CoAP endpoint): it handshakes
first, once per session; a later pull in the same session does not, unless the peer can no
longer match the device's records (a NAT rebinding without a Connection ID).
"""
from __future__ import annotations

import math
import re
from collections import defaultdict

import pytest
from conftest import closed_form

from simulation import run
from simulation.engine import World
from simulation.protocols import coap, dtls
from simulation.session import Session
from simulation.transport import messages
from simulation.transport.security import DATAGRAM_HEADERS
from simulation.world import broker as brk

FIDELITIES = ["packet", "flow"]
MODES = [("dtls-psk", "psk"), ("dtls-cert", "rpk_ecdhe")]
IMAGE, BLOCK = 10240, 256           # closed-form's image, the default block
BLOCKS = math.ceil(IMAGE / BLOCK)


def handshake_bytes(auth: str, cid: bool) -> tuple[int, int, int]:
    """(all, up, down) wire bytes of one DTLS 1.2 handshake of the model, each flight one
    datagram (UDP and IPv4 headers)."""
    flights = dtls.handshake_model("1.2", auth, cid=cid).flights
    up = sum(f.bytes + DATAGRAM_HEADERS for f in flights if f.direction == "client->server")
    down = sum(f.bytes + DATAGRAM_HEADERS for f in flights if f.direction == "server->client")
    return up + down, up, down


def mqtt_coap(fidelity, **sets):
    """mqtt-coap on the closed-form link (no NAT, no loss), RTT 0.5 s: below the DTLS
    (1 s) and CoAP (2 s) timers, so that nothing is resent."""
    return run(closed_form(**{"strategy__name": "mqtt-coap", "sim__fidelity": fidelity,
                              "link__rtt_s": 0.5, **sets}), trace_devices=10)


@pytest.mark.parametrize("mode,auth", MODES)
def test_the_pull_pays_one_handshake_in_both_fidelities(mode, auth):
    """Every device downloads once: its security bytes are one full handshake of the model
    (PSK 468 B, raw public keys 1044 B, with a Connection ID) plus the 31 B record of each
    of the pull's 2 x 40 messages; its messages and bytes are those without security plus
    the handshake's flights, the records and the 1 B of the `coaps` scheme in the command. One handshake per device that started a pull,
    and both fidelities agree. Exact."""
    record = dtls.record_overhead("1.2", 1)
    total, up, down = handshake_bytes(auth, cid=True)
    flights = dtls.handshake_model("1.2", auth, cid=True).flights
    n_up = sum(f.direction == "client->server" for f in flights)
    # the command's URL says coaps rather than coap: 1 B more in its PUBLISH
    url = len(brk.command_payload("coaps")) - len(brk.command_payload("coap"))
    assert url == 1
    runs = {}
    for fidelity in FIDELITIES:
        plain = mqtt_coap(fidelity, security__mode="none")
        secure = mqtt_coap(fidelity, security__mode=mode)
        d, p = secure.devices, plain.devices
        assert d["updated"].all() and p["updated"].all()
        pulled = int(d["download_s"].notna().sum())
        assert pulled == len(d)
        assert secure.summary["dtls_handshakes"] == pulled
        assert plain.summary["dtls_handshakes"] == 0 and (p["security_bytes"] == 0).all()
        assert (d["security_bytes"] == total + 2 * BLOCKS * record).all()
        assert (d["msgs_up"] == p["msgs_up"] + n_up).all()
        assert (d["msgs_down"] == p["msgs_down"] + len(flights) - n_up).all()
        assert (d["bytes_up"] == p["bytes_up"] + up + BLOCKS * record).all()
        assert (d["bytes_down"] == p["bytes_down"] + down + BLOCKS * record + url).all()
        assert (d["wasted_bytes"] == 0).all() and (d["retransmissions"] == 0).all()
        # the handshake comes before the first GET of the pull, after the MQTT command
        dev0 = [ln for ln in secure.trace.splitlines() if "dev 0 " in ln]
        hello = next(k for k, ln in enumerate(dev0) if "DTLS ClientHello" in ln)
        get = next(k for k, ln in enumerate(dev0) if "CoAP GET" in ln)
        cmd = next(k for k, ln in enumerate(dev0) if "devices/0/cmd, QoS 1, payload" in ln)
        assert cmd < hello < get
        assert "DTLS" not in plain.trace
        runs[fidelity] = (secure.summary["dtls_handshakes"], d["security_bytes"].tolist(),
                          d["msgs_up"].tolist(), d["msgs_down"].tolist())
    assert runs["packet"] == runs["flow"]


def pulls(trace: str) -> dict[int, int]:
    """Per device, the pulls in the trace (distinct tokens of its Block2 GETs)."""
    tokens = defaultdict(set)
    for ln in trace.splitlines():
        if m := re.search(rf"dev (\d+)\s+D-->M: CoAP GET {brk.IMAGE_PATH}, Token: (0x\w+)", ln):
            tokens[int(m.group(1))].add(m.group(2))
    return {d: len(t) for d, t in tokens.items()}


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_pull_resumed_in_the_same_session_does_not_handshake_again(fidelity):
    """15 % loss and 2 retransmissions per block: a pull of 40 blocks fails more often
    than not and resumes at a later wake-up, without a NAT in the way, so in the same DTLS
    session. Every device that updated holds exactly one handshake's bytes (plus the record
    of the first copy of each of the image's 80 messages), whatever number of pulls it
    made; some made several; one handshake per device that pulled. Exact."""
    res = run(closed_form(**{"strategy__name": "mqtt-coap", "sim__fidelity": fidelity,
                             "security__mode": "dtls-psk", "link__loss": 0.15,
                             "coap__max_retransmit": 2, "sim__horizon_s": 14_400.0}),
              trace_devices=10)
    d = res.devices
    made = pulls(res.trace)
    total = handshake_bytes("psk", cid=True)[0]
    record = dtls.record_overhead("1.2", 1)
    updated = d[d["updated"]]
    assert len(updated) >= 8
    assert (updated["security_bytes"] == total + 2 * BLOCKS * record).all()
    assert max(made[int(i)] for i in updated["device_id"]) >= 2
    assert sum(made[int(i)] >= 2 for i in updated["device_id"]) >= 3
    assert res.summary["dtls_handshakes"] == len(made) == len(d)


def two_pulls(fidelity, gap_s, **sets):
    """Device 0 pulls the image, then pulls it again in a session `gap_s` after the first
    ended (the pieces directly: two sessions, each ending with the transfer). Returns the
    world, and the handshakes, failures "dtls", security and wasted bytes the second pull
    added, and its outcome."""
    sc = closed_form(**{"sim__fidelity": fidelity, "link__rtt_s": 0.5,
                        "security__mode": "dtls-psk", **sets})
    w = World(sc)
    spec = messages.block2_pull(brk.IMAGE_PATH, IMAGE, BLOCK, 1)
    box = {}

    def pull(k):
        session = Session(w, 0, k)
        yield from session.connect()
        done = w.env.event()
        stop = yield from session.end_with_transfer(spec, 0, lambda _s, out: done.succeed(out))
        assert stop is None
        return (yield done)

    def body():
        first = yield from pull(0)
        assert first.completed
        yield w.env.timeout(gap_s)
        f = w.fleet
        box["before"] = (w.security.handshakes, w.failures["dtls"], int(f.security_bytes[0]),
                         int(f.wasted_bytes[0]))
        box["out"] = yield from pull(1)

    w.env.process(body())
    w.env.run()
    f = w.fleet
    after = (w.security.handshakes, w.failures["dtls"], int(f.security_bytes[0]),
             int(f.wasted_bytes[0]))
    return w, tuple(a - b for a, b in zip(after, box["before"], strict=True)), box["out"]


@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize("sets", [{}, {"nat__enabled": True, "nat__udp_timeout_s": 30.0,
                                       "security__rebind": "cid"}],
                         ids=["no-nat", "rebound-with-cid"])
def test_a_second_pull_in_a_live_session_runs_no_handshake(fidelity, sets):
    """10 min after the first pull: no NAT (the session is matched), or a NAT whose 30 s
    binding expired but records with a Connection ID: the second pull adds no handshake,
    no failure, only the 31 B record of its 80 messages, nothing wasted. Exact."""
    w, (hs, failed, security, wasted), out = two_pulls(fidelity, 600.0, **sets)
    assert w.security.handshakes == 1
    assert out.completed and out.blocks_done == BLOCKS
    assert (hs, failed, wasted) == (0, 0, 0)
    assert security == 2 * BLOCKS * dtls.record_overhead("1.2", 1)


@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize("rebind,auth", [("resumption", "resumption"), ("full", "psk")])
def test_a_pull_after_a_rebinding_without_cid_is_dropped_then_handshakes(fidelity, rebind,
                                                                         auth):
    """The 30 s binding expired in the 10 min between the pulls and the records carry no
    Connection ID: the manager drops the second pull's first GET silently (all of its
    MAX_RETRANSMIT + 1 = 5 copies wasted, one failure "dtls"), the device then runs the
    `security.rebind` handshake (abbreviated: 3 flights; or full) and pulls all 40 blocks
    in the new session (29 B records). Exact."""
    w, (hs, failed, security, wasted), out = two_pulls(
        fidelity, 600.0, nat__enabled=True, nat__udp_timeout_s=30.0, security__rebind=rebind)
    record = dtls.record_overhead("1.2", 0)
    get0 = int(messages.block2_pull(brk.IMAGE_PATH, IMAGE, BLOCK, 1).req_bytes[0]) + record
    copies = w.scenario.coap.max_retransmit + 1
    assert copies == coap.MAX_RETRANSMIT + 1 == 5
    assert out.completed and out.blocks_done == BLOCKS
    assert (hs, failed) == (1, 1)
    assert wasted == copies * get0
    assert security == handshake_bytes(auth, cid=False)[0] + 2 * BLOCKS * record
