"""An Observe across a NAT rebinding, as real stacks behave.

After the device's UDP binding expires, its next notification leaves from a new external
port. aiocoap, as the observer, answers it with a Reset (checked below on loopback, with a
second socket playing the new port), and the observation ends. The model does the same
with `coap.endpoint_matching = strict`; `relaxed` (Californium's relaxed matching) and a
DTLS Connection ID keep the observation.
"""
from __future__ import annotations

import asyncio
import re
import socket

import aiocoap
import pytest
from conftest import closed_form

from simulation import run
from simulation.protocols import coap

FIDELITIES = ["flow", "packet"]


def rebinding(fidelity, **sets):
    """Device-initiated on the fixed link behind a NAT whose 60 s UDP timer expires
    between wake-ups (every 600 s): every wake-up after the first finds a new binding."""
    return closed_form(**{"strategy__name": "device-initiated", "sim__fidelity": fidelity,
                          "nat__enabled": True, "nat__udp_timeout_s": 60.0,
                          "update__release_s": 1e9, "fleet__size": 3, "fleet__cells": 3,
                          **sets})


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


def raw(mtype, mid, token, observe) -> aiocoap.Message:
    """A 2.05 Content with payload 1 as the device sends it, every header field set."""
    msg = aiocoap.Message(code=aiocoap.CONTENT, payload=b"1")
    msg.mtype, msg.mid, msg.token = mtype, mid, token
    msg.opt.observe = observe
    return msg


async def _aiocoap_resets_a_notification_from_a_new_port():
    """The manager is an aiocoap client observing the device's resource; the device is
    two UDP sockets: the one the observation was made to, and another (the new external
    port after a rebinding) that sends the next confirmable notification."""
    old, new = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for s in (old, new):
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
    loop = asyncio.get_running_loop()
    ctx = await aiocoap.Context.create_client_context()
    try:
        port = old.getsockname()[1]
        req = aiocoap.Message(code=aiocoap.GET, observe=0,
                              uri=f"coap://127.0.0.1:{port}/Radio_link_status")
        pr = ctx.request(req)
        data, manager = await asyncio.wait_for(loop.sock_recvfrom(old, 1500), 5)
        get = aiocoap.Message.decode(data)
        assert get.opt.observe == 0
        ack = raw(aiocoap.ACK, get.mid, get.token, observe=1)
        await loop.sock_sendto(old, ack.encode(), manager)
        first = await asyncio.wait_for(pr.response, 5)
        assert first.payload == b"1"
        note = raw(aiocoap.CON, (get.mid + 1) & 0xffff, get.token, observe=2)
        await loop.sock_sendto(new, note.encode(), manager)
        data, _ = await asyncio.wait_for(loop.sock_recvfrom(new, 1500), 5)
        return aiocoap.Message.decode(data), note.mid, len(data)
    finally:
        await ctx.shutdown()
        old.close()
        new.close()


def test_aiocoap_answers_a_notification_from_a_new_port_with_a_reset():
    answer, mid, size = asyncio.run(_aiocoap_resets_a_notification_from_a_new_port())
    assert answer.mtype == aiocoap.RST and answer.mid == mid
    assert size == coap.empty_rst().size == 4     # the model's empty RST
