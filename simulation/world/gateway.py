"""Gateways of the delegated strategy (draft section 6): how and when each one gets the image.

A gateway reaches the manager over an always-on backhaul (`gateway.backhaul_rtt_s`,
`gateway.backhaul_bps`; no NAT issue, no loss, not shared: assumptions) and caches the
image once for all its devices. Its fetch is computed in closed form, as nothing else
interferes with it:

* `http`: the gateway polls `GET /swupdate` every `strategy.poll_interval_s` (random phase
  per gateway), each poll a TCP connection (RFC 9293 handshake, the request, the response,
  an orderly close). Before the release the answer is `200 OK` with an empty body (A); the
  first poll after it gets `200 OK` with the image, sent by TCP slow start from an initial window of 10
  segments (RFC 6928) at the backhaul rate.
* `coap-observe`: the gateway observes `/swupdate` from the start; at the release the
  manager notifies it with the first block (RFC 7641 with RFC 7959 section 3.4) and the
  gateway fetches the other blocks with Block2, 1024 B each (A: the largest block, since the
  backhaul is not constrained).

`fetch_plan` returns when the image is complete at the gateway, and the manager's load
(packets in and out, bytes out) stamped at their times.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulation.protocols import coap, http, tcp

HOST = "manager.example"
SWUPDATE = "/swupdate"
BACKHAUL_BLOCK_BYTES = 1024


@dataclass
class FetchPlan:
    """A gateway's fetch: when the image is cached and the manager's traffic for it."""

    ready_s: float                      # image complete at the gateway (inf: never)
    load: list = field(default_factory=list)   # (t, msgs_in, msgs_out, bytes_out)


def http_poll_packets(status: int, body_bytes: int) -> tuple[int, int, int, int]:
    """Packets and bytes of one HTTP poll over a fresh TCP connection:
    (packets to the manager, packets from it, bytes from it, data segments from it)."""
    syn, synack, ack = tcp.handshake_packets()
    head = http.response_head(status, body_bytes)
    n_data = tcp.segments(len(head) + body_bytes)
    data_bytes = tcp.data_wire_bytes(len(head) + body_bytes)
    closing = tcp.close_packets()
    to_mgr = [syn, ack] + [p for p in closing if p.direction == tcp.CLIENT_TO_SERVER]
    from_mgr = [synack] + [p for p in closing if p.direction == tcp.SERVER_TO_CLIENT]
    acks = tcp.ack_count(n_data)
    msgs_in = len(to_mgr) + 1 + acks           # + the request, + ACKs of the data
    msgs_out = len(from_mgr) + n_data
    bytes_out = sum(p.wire_bytes for p in from_mgr) + data_bytes
    return msgs_in, msgs_out, bytes_out, n_data


def fetch_plan(mode: str, image_bytes: int, release_s: float, horizon_s: float,
               rtt_s: float, rate_bps: float, service_s: float, poll_s: float,
               phase_s: float) -> FetchPlan:
    """When a gateway has the image, and the manager's load of getting it there."""
    plan = FetchPlan(math.inf)
    if mode == "http":
        k = 0
        while True:
            t = phase_s + k * poll_s
            if t >= horizon_s:
                return plan
            released = t >= release_s
            body = image_bytes if released else 0
            msgs_in, msgs_out, bytes_out, _ = http_poll_packets(200, body)
            plan.load.append((t, msgs_in, msgs_out, bytes_out))
            if released:
                head = len(http.response_head(200, image_bytes))
                # handshake (1 RTT), the request (half), the manager's work, slow start
                # (its time runs to the last ACK: half an RTT after the last byte)
                plan.ready_s = (t + rtt_s + rtt_s / 2 + service_s
                                + tcp.transfer_time_s(head + image_bytes, rtt_s, rate_bps)
                                - rtt_s / 2)
                return plan
            if poll_s <= 0:
                return plan
            k += 1
    # coap-observe: registration at t = 0, then the notification and the other blocks
    szx = coap.szx_for(BACKHAUL_BLOCK_BYTES)
    n = coap.block_count(image_bytes, BACKHAUL_BLOCK_BYTES)
    first = coap.response("2.05", 0, observe=1).wire_bytes   # "no update yet"
    plan.load.append((0.0, 1, 1, first))
    t = release_s + service_s
    blocks = [coap.response("2.05", coap.block_payload(image_bytes, BACKHAUL_BLOCK_BYTES, b),
                            observe=2 if b == 0 else None,
                            block2=(b, coap.block_more(image_bytes, BACKHAUL_BLOCK_BYTES, b),
                                    szx)).wire_bytes for b in range(n)]
    request = coap.get(SWUPDATE, block2=(1, False, szx)).wire_bytes
    t += 8 * blocks[0] / rate_bps + rtt_s / 2          # the notification with block 0
    plan.load.append((release_s, 0, 1, blocks[0]))
    for b in range(1, n):
        t += 8 * request / rate_bps + rtt_s / 2 + service_s
        plan.load.append((t, 1, 1, blocks[b]))
        t += 8 * blocks[b] / rate_bps + rtt_s / 2
    plan.ready_s = t
    return plan

