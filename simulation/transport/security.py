"""Security sessions: DTLS on the devices' UDP hop (`DtlsSessions`), TLS on TCP hops
(`TlsSessions`).

DTLS (`security.mode` = `dtls-psk` or `dtls-cert`).

Every CoAP message then travels in a DTLS 1.2 record (`dtls.record_overhead`: 29 B with
AES-CCM-8, 31 B with a 1-byte Connection ID, RFC 9146), and a device (the DTLS client) must
hold a session with its peer before its first exchange. A session survives sleep, but not a
NAT rebinding: once the device's binding has expired, its next packet leaves from a new
external port and the peer cannot match it to the session, unless the records carry a
Connection ID (`security.rebind = "cid"`). A device has one DTLS peer, the endpoint all of
its CoAP exchanges go to (the manager's CoAP endpoint, `world/manager.py` `ADDRESS`, which
also serves mqtt-coap's image; a gateway for delegated), and its session is matched
through the device's UDP binding to that address. The device cannot know that its binding
expired: its next protected exchange goes out as usual, and the peer, which has no
session for that address and port, drops every copy silently (RFC 6347 section 4.1.2.7:
invalid records SHOULD be silently discarded; tinydtls `dtls_handle_message`: "no peer =>
drop it"; OpenSSL `DTLSv1_listen` answers nothing but a ClientHello; mbedTLS discards
unexpected records). The device learns only when the exchange (or the first request of an
image pull) gives up (`Session.exchange`, `Session.end_with_transfer`) and then runs an
abbreviated handshake (`"resumption"`, RFC 5246 section 7.3) or a full one (`"full"`).

A handshake is an exchange of its flights (sizes from `protocols/dtls.py`: PSK, or raw
public keys with ECDHE for `dtls-cert`; a HelloVerifyRequest round with
`security.dtls_cookie`), each flight one datagram, resent by the RFC 6347 timer (1 s,
doubling; at most `HANDSHAKE_MAX_RETRANSMIT` times). A last client flight that no server
flight answers is sent once (A: its loss, which the peer's retransmission would repair, is
not modelled).

Bytes: every byte of a handshake flight, and the record overhead of every first copy of a
protected message, is security overhead (`security_bytes`); flights resent, and all of a
handshake that failed, are wasted (`exchange.Outcome`).

TLS (`security.mode = "tls"`, `tls.*`). Every new TCP connection runs a TLS handshake. A
client (a device, or a gateway on its backhaul) that holds a session with that server
which it may still resume runs the abbreviated handshake (`"resumption"`: RFC 8446 section
2.2 with a ticket, RFC 5246 section 7.3 with a session ID), else the full `tls.auth` one,
which starts a new session (`tls.resumption`; certificate and raw-public-key handshakes
only, `tls.RESUMABLE`). How long a session lasts (`tls.session_lifetime_s`, L):

* TLS 1.2 (session ID in the server's cache): L from the full handshake; resuming does not
  extend it (OpenSSL stores the session's creation time, SSL_CTX_set_timeout(3)).
* TLS 1.3: every connection brings new tickets (`tls.TICKETS_AFTER_FULL` or
  `TICKETS_AFTER_RESUMPTION` NewSessionTicket records after the handshake), each valid L
  from its issuance (RFC 8446 section 4.6.1), so a session used at least every L lives on,
  up to `tls.TLS13_AUTH_LIFETIME_S` after the full handshake.

A session starts (or renews) when its handshake completes (its last flight's arrival); a
handshake that failed leaves the client's sessions as they were. Without
resumption the server sends no ticket (RFC 8446 section 4.2.9: the client offers no PSK
mode).
"""
from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np

from simulation.protocols import coap, dtls, tls
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

class TlsSessions:
    """The TLS sessions `n` clients hold with their servers (any hashable name), and the
    handshake each new connection runs. Times are absolute simulated seconds."""

    def __init__(self, n: int, version: str, auth: str, resumption: bool = True,
                 lifetime_s: float = 7200.0, enabled: bool = True):
        self.n, self.enabled = n, enabled
        self.version, self.auth = version, auth
        self.resumes = enabled and resumption and auth in tls.RESUMABLE
        self.lifetime_s = lifetime_s
        self.cap_s = tls.TLS13_AUTH_LIFETIME_S if version == "1.3" else lifetime_s
        self.until: dict = {}    # server -> when each client's session can last resume
        self.cap: dict = {}      # server -> the latest its session's renewals may reach
        self.full = self.resumed = 0     # handshakes completed

    @classmethod
    def from_scenario(cls, scenario, n: int) -> "TlsSessions":
        t = scenario.tls
        return cls(n, t.version, t.auth, t.resumption, t.session_lifetime_s,
                   enabled=scenario.security.mode == "tls")

    def _arrays(self, server):
        if server not in self.until:
            self.until[server] = np.full(self.n, -np.inf)
            self.cap[server] = np.full(self.n, -np.inf)
        return self.until[server], self.cap[server]

    def resumable(self, i: int, server, t: float) -> bool:
        """Whether client i may resume its session with `server` at t (an expired one, no
        later than its creation plus the timeout, is not reused: SSL_CTX_set_timeout(3))."""
        return self.resumes and t <= self._arrays(server)[0][i]

    def handshake(self, conn, i: int, server, t0: float) -> bool:
        """Run client i's TLS handshake with `server` on `conn` (a connection that started at
        t0 s, its TCP handshake done): abbreviated if the session may be resumed when the
        ClientHello leaves, else full. False if the connection failed."""
        if not self.enabled:
            return True
        resume = self.resumable(i, server, t0 + conn.t)
        tickets = 0
        if self.resumes and self.version == "1.3":
            tickets = tls.TICKETS_AFTER_RESUMPTION if resume else tls.TICKETS_AFTER_FULL
        if not conn.tls_handshake(self.version, "resumption" if resume else self.auth,
                                  tickets):
            return False
        issued = t0 + conn.t            # the client's last flight reached the server
        until, cap = self._arrays(server)
        if resume:
            self.resumed += 1
            if self.version == "1.3":   # the new ticket
                until[i] = min(issued + self.lifetime_s, cap[i])
        else:
            self.full += 1
            if self.resumes:
                until[i] = issued + self.lifetime_s
                cap[i] = issued + self.cap_s
        return True
