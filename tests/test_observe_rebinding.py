"""An Observe across a NAT rebinding, as real stacks behave.

After the device's UDP binding expires, its next notification leaves from a new external
port. aiocoap, as the observer, answers it with a Reset (checked below on loopback, with a
second socket playing the new port), and the observation ends. The model does the same
with `coap.endpoint_matching = strict`; `relaxed` (Californium's relaxed matching) and a
DTLS Connection ID keep the observation. Over DTLS without a Connection ID the manager has
no session for the new port and drops the device's records silently (RFC 6347 section
4.1.2.7; tinydtls, OpenSSL, mbedTLS): the device retransmits by the CoAP timers, gives
up, handshakes again, registers again and is observed again.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import clear_horizon, closed_form

from simulation import run
from simulation.protocols import coap, dtls
from simulation.transport import messages
from simulation.validation.stacks import aiocoap_answer_to_a_rebound_notification

FIDELITIES = ["flow", "packet"]


def rebinding(fidelity, **sets):
    """Device-initiated on the fixed link behind a NAT whose 60 s UDP timer expires
    between wake-ups (every 600 s): every wake-up after the first finds a new binding."""
    return closed_form(**{"strategy__name": "device-initiated", "sim__fidelity": fidelity,
                          "nat__enabled": True, "nat__udp_timeout_s": 60.0,
                          "update__release_s": 1e9, "fleet__size": 3, "fleet__cells": 3,
                          **sets})


def dtls_rebinding(fidelity, strategy="manager-initiated", rebind="resumption", **sets):
    """`rebinding` over DTLS (PSK) without a Connection ID, with an RTT of 0.5 s (below the
    1 s DTLS timer, so that no handshake flight is resent), and a horizon that leaves every
    last wake-up 150 s to finish (the longest CoAP wait is 93 s)."""
    return clear_horizon(rebinding(fidelity, strategy__name=strategy, link__rtt_s=0.5,
                                   security__mode="dtls-psk", security__rebind=rebind,
                                   **sets), 150.0)


def lines(trace: str, device: int) -> list[tuple[float, str]]:
    """The device's trace lines: (time, message)."""
    out = []
    for ln in trace.splitlines():
        m = re.match(r"\s*([\d.]+)\s+dev (\d+)\s+(.*)$", ln)
        if m and int(m.group(2)) == device:
            out.append((float(m.group(1)), m.group(3)))
    return out


def count(trace: str, pattern: str, device: int) -> int:
    return sum(1 for ln in trace.splitlines()
               if re.search(rf"dev {device}\s.*{pattern}", ln))


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_strict_observer_resets_the_notification_from_a_new_port(fidelity):
    """Each wake-up after the first: the notification is answered with a Reset, the
    device registers again and the manager observes again."""
    res = run(rebinding(fidelity), trace_devices=3)
    for dev, wakeups in enumerate(res.devices["wakeups"]):
        assert wakeups >= 10
        assert count(res.trace, r"D<--M: RST", dev) == wakeups - 1
        assert count(res.trace, r"D-->M: CoAP POST /rd", dev) == wakeups
        assert count(res.trace, r"D<--M: CoAP GET /Radio_link_status, .*Observe: 0",
                     dev) == wakeups


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_binding_that_lives_keeps_the_observation(fidelity):
    """A 7200 s UDP binding outlives the 600 s between wake-ups: every notification
    leaves from the port the observation knows; no Reset, one registration."""
    res = run(rebinding(fidelity, nat__udp_timeout_s=7200.0), trace_devices=3)
    for dev, wakeups in enumerate(res.devices["wakeups"]):
        assert wakeups >= 10
        assert count(res.trace, r"D<--M: RST", dev) == 0
        assert count(res.trace, r"D-->M: CoAP POST /rd", dev) == 1


@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize("sets", [{"coap__endpoint_matching": "relaxed"},
                                  {"security__mode": "dtls-psk", "security__rebind": "cid"}])
def test_relaxed_matching_or_a_connection_id_keeps_the_observation(fidelity, sets):
    res = run(rebinding(fidelity, **sets), trace_devices=3)
    strict = run(rebinding(fidelity, **{k: v for k, v in sets.items()
                                        if k != "coap__endpoint_matching"}))
    for dev in range(3):
        assert count(res.trace, r"D<--M: RST", dev) == 0
        assert count(res.trace, r"D-->M: CoAP POST /rd", dev) == 1
    if "coap__endpoint_matching" in sets:   # the Resets and registrations cost bytes
        assert (strict.devices["bytes_up"] > res.devices["bytes_up"]).all()


DROPPED = "[dropped by the manager: no DTLS session for this port]"
FIRST = {"manager-initiated": r"D-->M: 2\.05 Content, Token: 0x[0-9a-f]+, Observe: \d+",
         "device-initiated": r"D-->M: CoAP POST /report"}


@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize("strategy", ["manager-initiated", "device-initiated"])
@pytest.mark.parametrize("rebind", ["resumption", "full"])
@pytest.mark.parametrize("timers", [(2.0, 1.5, 4), (1.0, 2.0, 2)])
def test_without_a_connection_id_the_first_message_is_dropped_then_a_handshake(
        fidelity, strategy, rebind, timers):
    """At every wake-up after the first, the first protected message (manager-initiated:
    the notification; device-initiated: the report) is dropped by the manager: it goes
    1 + MAX_RETRANSMIT times, the k-th copy t0 (2^k - 1) after the first with t0 in
    [ACK_TIMEOUT, ACK_TIMEOUT x ACK_RANDOM_FACTOR] (RFC 7252 section 4.2), and the
    device gives up t0 (2^(MAX_RETRANSMIT+1) - 1) after it, at most MAX_TRANSMIT_WAIT
    (section 4.8.2). Its first handshake flight goes at once (abbreviated with
    `resumption`, full with `full`), then the registration, the manager's Observe, and a
    notification the manager acknowledges. Tolerance: the trace's 1 ms rounding (t0 is
    taken from the last copy, so the give-up time is within 5 ms)."""
    ack, factor, retransmit = timers
    res = run(dtls_rebinding(fidelity, strategy, rebind, coap__ack_timeout_s=ack,
                             coap__ack_random_factor=factor,
                             coap__max_retransmit=retransmit), trace_devices=3)
    hello = "DTLS ClientHello(session_id)" if rebind == "resumption" else "DTLS ClientHello"
    after = ("DTLS ServerHello, CCS, Finished" if rebind == "resumption"
             else "DTLS ServerHello, ServerHelloDone")
    wait = 2 ** (retransmit + 1) - 1
    for dev, wakeups in enumerate(res.devices["wakeups"]):
        seq = [(t, text) for t, text in lines(res.trace, dev)
               if "(retransmission" not in text or DROPPED in text]
        starts = [k for k, (_, text) in enumerate(seq) if DROPPED in text
                  and "(retransmission" not in text]
        assert wakeups >= 10 and len(starts) == wakeups - 1
        for k in starts:
            copies = seq[k:k + retransmit + 1]
            assert all(re.search(FIRST[strategy], text) and DROPPED in text
                       for _, text in copies)
            t = np.array([c[0] for c in copies]) - copies[0][0]
            t0 = t[-1] / (2 ** retransmit - 1)
            assert ack - 1e-3 <= t0 <= ack * factor + 1e-3
            assert t == pytest.approx(t0 * (2.0 ** np.arange(retransmit + 1) - 1), abs=2e-3)
            nxt = seq[k + retransmit + 1:k + retransmit + 8]
            assert DROPPED not in nxt[0][1] and nxt[0][1] == f"D-->M: {hello}"
            assert nxt[0][0] - copies[0][0] == pytest.approx(t0 * wait, abs=5e-3)
            assert ack * wait - 5e-3 <= nxt[0][0] - copies[0][0] <= ack * factor * wait + 5e-3
            texts = [text for _, text in nxt]
            assert f"D<--M: {after}" in texts
            order = [next(j for j, x in enumerate(texts) if re.search(p, x)) for p in (
                r"D-->M: CoAP POST /rd", r"D<--M: 2\.01 Created",
                r"D<--M: CoAP GET /\S+, Token: 0x[0-9a-f]+, Observe: 0")]
            assert order == sorted(order)
        assert count(res.trace, r"D-->M: CoAP POST /rd", dev) == wakeups
        assert count(res.trace, r"D<--M: ACK", dev) == wakeups     # notifications heard
        assert count(res.trace, r"D<--M: RST", dev) == 0
    s = res.summary
    assert s["failed_dtls"] == (res.devices["wakeups"] - 1).sum()
    assert s["dtls_handshakes"] == res.devices["wakeups"].sum()


@pytest.mark.parametrize("strategy", ["manager-initiated", "device-initiated"])
def test_the_dropped_copies_are_wasted_and_the_wait_keeps_the_radio_on(strategy):
    """Against the same run with a Connection ID, both fidelities: every dropped copy is
    wasted, record included, and nothing else is (no loss); and the radio, connected
    from the first copy to at least inactivity_s after the last (15 x ACK_TIMEOUT + 20 s
    = 50 s; continuous reception on this link: 165.6 mW), costs at least that much more
    energy at every wake-up after the first."""
    sizes = {"manager-initiated": messages.notify(0, 1, 64, "64 B").req_bytes[0],
             "device-initiated": messages.report(64, 0).req_bytes[0]}
    record = dtls.record_overhead("1.2", 0)
    for fidelity in FIDELITIES:
        lost = run(dtls_rebinding(fidelity, strategy))
        kept = run(dtls_rebinding(fidelity, strategy).with_overrides(
            {"security.rebind": "cid"}))
        d, c = lost.devices, kept.devices
        drops = d["wakeups"] - 1
        assert (d["wakeups"] == c["wakeups"]).all() and (drops >= 9).all()
        assert (d["wasted_bytes"] == drops * 5 * (sizes[strategy] + record)).all()
        assert (c["wasted_bytes"] == 0).all() and kept.summary["failed_dtls"] == 0
        assert kept.summary["dtls_handshakes"] == len(c)
        connected_s = 15 * 2.0 + 20.0
        assert (d["energy_j"] - c["energy_j"] >= drops * connected_s * 0.1656).all()


@pytest.mark.parametrize("strategy", ["manager-initiated", "device-initiated"])
@pytest.mark.parametrize("rebind", ["resumption", "full"])
def test_both_fidelities_count_the_same_messages_across_a_lost_session(strategy, rebind):
    """No loss, fixed link: flow and packet fidelity exchange the same messages, so every
    count agrees exactly (and the trace lists the same messages)."""
    flow, packet = (run(dtls_rebinding(f, strategy, rebind), trace_devices=3)
                    for f in FIDELITIES)
    cols = ["wakeups", "msgs_up", "msgs_down", "bytes_up", "bytes_down", "payload_bytes",
            "security_bytes", "wasted_bytes", "retransmissions", "failed_attempts"]
    assert (flow.devices[cols] == packet.devices[cols]).all().all()
    for key in ("failed_dtls", "dtls_handshakes", "nat_drops", "failed_timeout"):
        assert flow.summary[key] == packet.summary[key], key
    for dev in range(3):
        assert ([text for _, text in lines(flow.trace, dev)]
                == [text for _, text in lines(packet.trace, dev)])


def test_aiocoap_answers_a_notification_from_a_new_port_with_a_reset():
    """aiocoap observes a resource on one loopback socket; the next confirmable
    notification comes from another (`stacks.aiocoap_answer_to_a_rebound_notification`):
    aiocoap answers it with a Reset of the model's size."""
    kind, size = aiocoap_answer_to_a_rebound_notification()
    assert kind == "RST"
    assert size == coap.empty_rst().size == 4     # the model's empty RST
