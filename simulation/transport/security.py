"""DTLS sessions on the devices' UDP hop (`security.mode` = `dtls-psk` or `dtls-cert`).

Every CoAP message then travels in a DTLS 1.2 record (`dtls.record_overhead`: 29 B with
AES-CCM-8, 31 B with a 1-byte Connection ID, RFC 9146), and a device (the DTLS client) must
hold a session with its peer before its first exchange. A session survives sleep, but not a
NAT rebinding: once the device's binding has expired, its next packet leaves from a new
external port and the peer cannot match it to the session, unless the records carry a
Connection ID (`security.rebind = "cid"`). The device cannot know that its binding
expired: its next protected exchange goes out as usual, and the peer, which has no
session for that address and port, drops every copy silently (RFC 6347 section 4.1.2.7:
invalid records SHOULD be silently discarded; tinydtls `dtls_handle_message`: "no peer =>
drop it"; OpenSSL `DTLSv1_listen` answers nothing but a ClientHello; mbedTLS discards
unexpected records). The device learns only when the exchange gives up (`Session.exchange`)
and then runs an abbreviated handshake (`"resumption"`, RFC 5246 section 7.3) or a full
one (`"full"`).

A handshake is an exchange of its flights (sizes from `protocols/dtls.py`: PSK, or raw
public keys with ECDHE for `dtls-cert`; a HelloVerifyRequest round with
`security.dtls_cookie`), each flight one datagram, resent by the RFC 6347 timer (1 s,
doubling; at most `HANDSHAKE_MAX_RETRANSMIT` times). A last client flight that no server
flight answers is sent once (A: its loss, which the peer's retransmission would repair, is
not modelled).

Bytes: every byte of a handshake flight, and the record overhead of every first copy of a
protected message, is security overhead (`security_bytes`); flights resent, and all of a
handshake that failed, are wasted (`exchange.Outcome`).
"""
from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np

from simulation.protocols import coap, dtls
from simulation.transport.exchange import DEVICE, ExchangeContext, ExchangeSpec

#: the DTLS handshake of each security mode on UDP hops (`tls` secures TCP hops with TLS
#: and UDP hops with DTLS and raw public keys, like `dtls-cert`)
AUTH = {"dtls-psk": "psk", "dtls-cert": "rpk_ecdhe", "tls": "rpk_ecdhe"}
#: flights resent after 1, 2, 4, 8 and 16 s: the next wait, 32 s, would be the last under
#: the RFC 6347 cap of 60 s (A: implementations differ)
HANDSHAKE_MAX_RETRANSMIT = 5
DATAGRAM_HEADERS = coap.UDP_HEADER_BYTES + coap.IPV4_HEADER_BYTES


def _text(names, _token, b):
    return names[2 * b], names[2 * b + 1]


def handshake_spec(model) -> tuple[ExchangeSpec, int, str]:
    """A handshake as an exchange of (client flight, server flight) pairs, plus the wire
    bytes and name of a last, unanswered client flight (0 and "" if none; all of its bytes
    are security overhead)."""
    flights = list(model.flights)
    tail = flights.pop() if len(flights) % 2 else None
    client = np.array([f.bytes + DATAGRAM_HEADERS for f in flights[0::2]])
    server = np.array([f.bytes + DATAGRAM_HEADERS for f in flights[1::2]])
    names = tuple(f"DTLS {f.name}" for f in flights)
    spec = ExchangeSpec(DEVICE, client, server, trace=partial(_text, names, 0),
                        name="dtls-handshake", protected=False, handshake=True)
    if tail is None:
        return spec, 0, ""
    return spec, tail.bytes + DATAGRAM_HEADERS, f"DTLS {tail.name}"


class DtlsSessions:
    """Which devices hold a DTLS session, which of them know they lost it, and what a
    (re)handshake costs."""

    def __init__(self, security, n: int):
        self.enabled = security.mode in AUTH
        self.rebind = security.rebind
        self.established = np.zeros(n, dtype=bool)
        self.lost = np.zeros(n, dtype=bool)     # the device learned its peer dropped it
        self.handshakes = 0
        cid = self.rebind == "cid"
        self.record_bytes = dtls.record_overhead("1.2", 1 if cid else 0) if self.enabled else 0
        if self.enabled:
            self.full = handshake_spec(dtls.handshake_model(
                "1.2", AUTH[security.mode], cid=cid, cookie=security.dtls_cookie))
            self.resumed = handshake_spec(dtls.handshake_model("1.2", "resumption", cid=cid))

    @staticmethod
    def timers(ctx: ExchangeContext) -> ExchangeContext:
        """The exchange context of handshake flights: RFC 6347 section 4.2.4.1 timer."""
        return dataclasses.replace(ctx, ack_timeout_s=dtls.INITIAL_TIMEOUT_S,
                                   ack_random_factor=1.0,
                                   max_retransmit=HANDSHAKE_MAX_RETRANSMIT)

    def handshake_done(self, i: int) -> None:
        """Device i completed a handshake: it holds a session its peer knows."""
        self.established[i] = True
        self.lost[i] = False
        self.handshakes += 1

    def needed(self, i: int):
        """The handshake device i runs before its next protected exchange, or None: a full
        one without a session, the `security.rebind` one once it learned its peer no
        longer knows its session (`unmatched`)."""
        if not self.enabled:
            return None
        if not self.established[i]:
            return self.full
        if self.lost[i]:
            return self.resumed if self.rebind == "resumption" else self.full
        return None

    def unmatched(self, i: int, t: float, binding_expires_s: float) -> bool:
        """Whether the peer cannot match device i's records sent at t: its session was set
        up through a NAT binding that has expired since (its packets leave from a new
        external port) and they carry no Connection ID."""
        return (self.enabled and self.established[i] and not self.lost[i]
                and self.rebind != "cid" and binding_expires_s <= t)

    def dropped(self, i: int) -> None:
        """Device i's exchange gave up unanswered after `unmatched`: it knows its session
        is gone (a timeout is all it sees) and handshakes again (`needed`)."""
        self.lost[i] = True
