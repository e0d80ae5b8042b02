"""The gateways' backhaul (delegated strategy, draft section 6): how and when each gateway
gets the image.

A gateway reaches the manager over an always-on backhaul (`gateway.backhaul_rtt_s`,
`gateway.backhaul_bps`; no NAT issue, no loss, not shared: assumptions) and caches the
image once for all its devices. Its fetch is computed in closed form, as nothing else
interferes with it:

* `http`: the gateway polls `GET /swupdate` every `strategy.poll_interval_s` (random phase
  per gateway), each poll a TCP connection computed like a device's
  (`transport/tcp_connection.py`: handshake, TLS with `security.mode = "tls"` (full, or
  resumed while the gateway's session lasts, `transport/security.py`), the request,
  the response in slow-start rounds, the close). Before the release the answer is `200 OK`
  with an empty body (A); the first poll after it gets `200 OK` with the image.
* `coap-observe`: the gateway observes `/swupdate` from the start; at the release the
  manager notifies it with the first block (RFC 7641 with RFC 7959 section 3.4) and the
  gateway fetches the other blocks with Block2, 1024 B each (A: the largest block, since the
  backhaul is not constrained).

`fetch_plan` returns when the image is complete at the gateway, and the manager's load
(packets in and out, bytes out) stamped at their times. Security is per hop (see
`fetch_plan`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulation.protocols import coap, dtls, http, tcp
from simulation.transport.tcp_connection import DOWN, UP, Connection, TcpParams
from simulation.transport.security import AUTH, DATAGRAM_HEADERS, TlsSessions
from simulation.world.link import LinkModel

HOST = "manager.example"
SWUPDATE = "/swupdate"
BACKHAUL_BLOCK_BYTES = 1024


@dataclass
class FetchPlan:
    """A gateway's fetch: when the image is cached and the manager's traffic for it."""

    ready_s: float                      # image complete at the gateway (inf: never)
    load: list = field(default_factory=list)   # (t, msgs_in, msgs_out, bytes_out)


#: the gateway runs Linux, as the manager does: its SYN timer starts at 1 s and it delays
#: an ACK by 40 ms (TCP_DELACK_MIN), not an embedded stack's 3 s and 200 ms
GATEWAY_TCP = TcpParams(initial_rto_s=tcp.LINUX_INITIAL_RTO_S,
                        delayed_ack_s=tcp.LINUX_DELACK_MIN_S)

def backhaul_link(rtt_s: float, rate_bps: float) -> LinkModel:
    """The always-on backhaul: fixed RTT, the same rate both ways, no loss (A)."""
    return LinkModel(rtt_s=rtt_s, uplink_bps=rate_bps, downlink_bps=rate_bps, loss=0.0,
                     connect_s=0.0, rtt_sigma=0.0)


def http_poll(link: LinkModel, image_bytes: int, service_s: float,
              tls_sessions: TlsSessions | None = None,
              t0: float = 0.0) -> tuple[Connection, float]:
    """One `GET /swupdate` over a fresh TCP connection (TLS first with `tls_sessions`: the
    gateway's session with the manager, full or resumed), its `200 OK` carrying
    `image_bytes` (0 before the release), and the close; the gateway is the client, its
    poll starts at t0 (s). Returns the connection (its `out` counts the manager's packets)
    and when the image's last byte reached the gateway (s from the poll's start)."""
    conn = Connection(link, np.random.default_rng(0), GATEWAY_TCP, service_s=service_s)
    conn.open()
    if tls_sessions is not None:
        tls_sessions.handshake(conn, 0, HOST, t0)
    conn.message(UP, len(http.get_request(SWUPDATE, HOST)), served=True)
    head = http.ok_response_head(image_bytes)
    body = conn.message(DOWN, len(head) + image_bytes, image_bytes)
    conn.close()
    return conn, body.arrived_s


def fetch_plan(mode: str, image_bytes: int, release_s: float, horizon_s: float,
               rtt_s: float, rate_bps: float, service_s: float, poll_s: float,
               phase_s: float, security: str = "none", tls_version: str = "1.3",
               tls_auth: str = "x509_low", tls_resumption: bool = True,
               tls_lifetime_s: float = 7200.0) -> FetchPlan:
    """When a gateway has the image, and the manager's load of getting it there.

    Security is per hop: the gateway, a proxy holding the devices' credentials, keeps its
    own session with the manager. With `security = "tls"` each HTTP poll runs TLS
    (`tls_version`) as a device's connection does (`TlsSessions`): a full `tls_auth`
    handshake at the first poll, then abbreviated ones while the session lasts
    (`tls_resumption`, `tls_lifetime_s`; RFC 8446 section 2.2 / RFC 5246 section 7.3);
    with a DTLS mode the CoAP Observe runs over one DTLS 1.2 session set up at t = 0, 29 B
    on every record.
    """
    plan = FetchPlan(math.inf)
    if mode == "http":
        link = backhaul_link(rtt_s, rate_bps)
        sessions = (TlsSessions(1, tls_version, tls_auth, tls_resumption, tls_lifetime_s)
                    if security == "tls" else None)
        k = 0
        while True:
            t = phase_s + k * poll_s
            if t >= horizon_s:
                return plan
            released = t >= release_s
            conn, arrived = http_poll(link, image_bytes if released else 0, service_s,
                                      sessions, t)
            out = conn.out
            # the manager's packets: in = the gateway's (up), out = its own (down)
            plan.load.append((t, out.msgs_up, out.msgs_down, out.manager_bytes_out))
            if released:
                plan.ready_s = t + arrived
                return plan
            if poll_s <= 0:
                return plan
            k += 1
    # coap-observe: registration at t = 0, then the notification and the other blocks
    record = 0
    if security in AUTH:
        model = dtls.handshake_model("1.2", AUTH[security])
        server = [f.bytes + DATAGRAM_HEADERS for f in model.flights
                  if f.direction == dtls.SERVER_TO_CLIENT]
        clients = sum(1 for f in model.flights if f.direction == dtls.CLIENT_TO_SERVER)
        plan.load.append((0.0, clients, len(server), sum(server)))
        record = dtls.record_overhead("1.2", 0)
    szx = coap.szx_for(BACKHAUL_BLOCK_BYTES)
    n = coap.block_count(image_bytes, BACKHAUL_BLOCK_BYTES)
    first = coap.response("2.05", 0, observe=1).wire_bytes + record  # "no update yet"
    plan.load.append((0.0, 1, 1, first))
    t = release_s + service_s
    blocks = [record + coap.response(
        "2.05", coap.block_payload(image_bytes, BACKHAUL_BLOCK_BYTES, b),
        observe=2 if b == 0 else None,
        block2=(b, coap.block_more(image_bytes, BACKHAUL_BLOCK_BYTES, b), szx)).wire_bytes
        for b in range(n)]
    request = record + coap.get(SWUPDATE, block2=(1, False, szx)).wire_bytes
    t += 8 * blocks[0] / rate_bps + rtt_s / 2          # the notification with block 0
    plan.load.append((release_s, 0, 1, blocks[0]))
    for b in range(1, n):
        t += 8 * request / rate_bps + rtt_s / 2 + service_s
        plan.load.append((t, 1, 1, blocks[b]))
        t += 8 * blocks[b] / rate_bps + rtt_s / 2
    plan.ready_s = t
    return plan
