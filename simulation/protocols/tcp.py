"""TCP segment sizes, slow start, delayed ACKs and retransmission timers (pure functions, no SimPy).

References:
    RFC 9293 -- Transmission Control Protocol (TCP)
    RFC 5681 -- TCP Congestion Control
    RFC 6928 -- Increasing TCP's Initial Window
    RFC 6298 -- Computing TCP's Retransmission Timer
    RFC 1122 -- Requirements for Internet Hosts, section 4.2.3.2 (delayed ACK)
    RFC 2018 -- TCP Selective Acknowledgment Options (SACK-permitted)
    RFC 7323 -- TCP Extensions for High Performance (window scale, timestamps)
    RFC 791  -- Internet Protocol (IPv4 header)

All sizes are in bytes, all times in seconds, all rates in bits per second.
"Wire bytes" means from the IPv4 header up (no link-layer framing), like
`coap.datagram_bytes`. Numbers nobody published are marked "(A) assumption".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulation.protocols.coap import IPV4_HEADER_BYTES

# --- Header sizes ---
TCP_HEADER_BYTES = 20  # RFC 9293 section 3.1, data offset 5 (no options)
MAX_OPTION_BYTES = 40  # RFC 9293 section 3.1: data offset is 4 bits, so at most 60 B of header

# --- Option sizes (kind + length + value), RFC 9293 section 3.2 and the RFCs named ---
OPTION_BYTES = {
    "mss": 4,  # RFC 9293 section 3.2, kind 2
    "sack_permitted": 2,  # RFC 2018 section 2, kind 4
    "window_scale": 3,  # RFC 7323 section 2.2, kind 3
    "timestamps": 10,  # RFC 7323 section 3.2, kind 8
}
# (A) assumption: a typical embedded stack without timestamps offers MSS,
# SACK-permitted and window scale (9 B, padded with NOPs to 12 B). lwIP with its
# default options sends MSS only (4 B); Linux adds timestamps (20 B).
SYN_OPTIONS_DEFAULT = ("mss", "sack_permitted", "window_scale")
# NOP NOP + timestamps option carried in every segment once both SYNs had it (RFC 7323 section 3.2)
TIMESTAMP_OPTION_PADDED_BYTES = 12

# --- MSS ---
# RFC 9293 section 3.7.1: without an MSS option the send MSS is 536 B (IPv4).
# Calibration (Nordic webinar 2020): MQTT energy on NB-IoT jumps once the
# payload passes the 536 B default MSS.
MSS_DEFAULT = 536

# --- Receive window, RFC 9293 section 3.1: 16 bits without window scaling (bytes) ---
MAX_UNSCALED_WINDOW_BYTES = 65535
LWIP_TCP_WND_BYTES = 4 * 536  # lwIP opt.h: TCP_WND (4 * TCP_MSS)

# --- Initial window, RFC 6928 section 2 (bytes) ---
IW_BYTES_CAP = 14600
IW_MAX_SEGMENTS = 10
IW_MIN_SEGMENTS = 2

# --- Retransmission timer, RFC 6298 (seconds unless noted) ---
INITIAL_RTO_S = 1.0  # section 2.1
MIN_RTO_S = 1.0  # section 2.4
MAX_RTO_S = 60.0  # section 2.5: a maximum may be placed on RTO provided it is at least 60 s
ALPHA = 1 / 8  # section 2.3
BETA = 1 / 4  # section 2.3
K = 4  # section 2.2
CLOCK_GRANULARITY_S = 0.001  # G in section 2; (A) assumption: a 1 ms timer tick

# --- The manager's and broker's stack: Linux (include/net/tcp.h, ip-sysctl.rst) ---
LINUX_INITIAL_RTO_S = 1.0  # TCP_TIMEOUT_INIT: SYN-ACK and data before an RTT sample
LINUX_MIN_RTO_S = 0.2  # TCP_RTO_MIN
LINUX_MAX_RTO_S = 120.0  # TCP_RTO_MAX
LINUX_RETRIES2 = 15  # net.ipv4.tcp_retries2: give-up, about 924.6 s of retransmissions
LINUX_SYNACK_RETRIES = 5  # net.ipv4.tcp_synack_retries
LINUX_DELACK_MIN_S = 0.04  # TCP_DELACK_MIN: a Linux receiver's shortest delayed-ACK wait
# --- The device's embedded stack: lwIP (src/core/tcp.c, opt.h) ---
LWIP_INITIAL_RTO_S = 3.0  # tcp_alloc: pcb->rto = 3000 / TCP_SLOW_INTERVAL

# --- Delayed ACK, RFC 1122 section 4.2.3.2 / RFC 5681 section 4.2 ---
DELAYED_ACK_MAX_S = 0.5  # an ACK must not be delayed by more than 0.5 s
SEGMENTS_PER_DELAYED_ACK = 2  # an ACK for at least every second full-sized segment

CLIENT_TO_SERVER = "client->server"
SERVER_TO_CLIENT = "server->client"


# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------


def option_bytes(options: tuple[str, ...] | list[str] = SYN_OPTIONS_DEFAULT) -> int:
    """Bytes of a TCP option block: sum of option sizes, padded with NOPs to a
    multiple of 4 (RFC 9293 section 3.1 data offset in 32-bit words, section 3.2 option kinds).

    Option names are the keys of `OPTION_BYTES`. Default: MSS + SACK-permitted
    + window scale = 9 B -> 12 B.
    """
    unknown = set(options) - set(OPTION_BYTES)
    if unknown:
        raise ValueError(f"unknown TCP options {sorted(unknown)}; known: {sorted(OPTION_BYTES)}")
    raw = sum(OPTION_BYTES[name] for name in options)
    padded = -(-raw // 4) * 4
    if padded > MAX_OPTION_BYTES:
        raise ValueError(f"TCP options need {padded} B, more than {MAX_OPTION_BYTES} B")
    return padded


def segment_bytes(payload_bytes: int, options_bytes: int = 0) -> int:
    """Wire bytes of one segment: payload + 20 B TCP (RFC 9293 section 3.1) + options
    + 20 B IPv4 (RFC 791 section 3.1)."""
    if payload_bytes < 0 or options_bytes < 0:
        raise ValueError("payload_bytes and options_bytes must be >= 0")
    if options_bytes % 4 or options_bytes > MAX_OPTION_BYTES:
        raise ValueError(f"options_bytes must be a multiple of 4 up to {MAX_OPTION_BYTES}")
    return payload_bytes + TCP_HEADER_BYTES + options_bytes + IPV4_HEADER_BYTES


def segments(payload_bytes: int, mss: int = MSS_DEFAULT) -> int:
    """Number of segments for `payload_bytes` of data at `mss` bytes each (ceil; 0 for 0 B)
    (RFC 9293 section 3.7.1: no segment carries more than the send MSS)."""
    if payload_bytes < 0 or mss <= 0:
        raise ValueError("payload_bytes must be >= 0 and mss > 0")
    return -(-payload_bytes // mss)


def data_wire_bytes(payload_bytes: int, mss: int = MSS_DEFAULT, options_bytes: int = 0) -> int:
    """Wire bytes of all data segments carrying `payload_bytes` (payload + 40 B headers
    + options per segment) (RFC 9293 section 3.1, RFC 791 section 3.1)."""
    n = segments(payload_bytes, mss)
    return payload_bytes + n * segment_bytes(0, options_bytes)


@dataclass(frozen=True)
class Packet:
    """One TCP/IP packet of a control exchange: name, direction and wire bytes."""

    name: str
    direction: str
    wire_bytes: int


def handshake_packets(
    syn_options: tuple[str, ...] = SYN_OPTIONS_DEFAULT,
    synack_options: tuple[str, ...] | None = None,
) -> tuple[Packet, Packet, Packet]:
    """SYN, SYN-ACK, ACK of the three-way handshake with wire sizes (RFC 9293 section 3.5).

    `synack_options` defaults to the same set as the SYN (a server answers only
    options the client offered). The final ACK carries the 12 B timestamps
    option only if both SYNs had it (RFC 7323 section 3.2). With the default
    options: 52 + 52 + 40 = 144 B.
    """
    if synack_options is None:
        synack_options = tuple(syn_options)
    ack_opts = (
        TIMESTAMP_OPTION_PADDED_BYTES
        if "timestamps" in syn_options and "timestamps" in synack_options
        else 0
    )
    return (
        Packet("SYN", CLIENT_TO_SERVER, segment_bytes(0, option_bytes(syn_options))),
        Packet("SYN-ACK", SERVER_TO_CLIENT, segment_bytes(0, option_bytes(synack_options))),
        Packet("ACK", CLIENT_TO_SERVER, segment_bytes(0, ack_opts)),
    )


def established_options_bytes(
    syn_options: tuple[str, ...] = SYN_OPTIONS_DEFAULT,
    synack_options: tuple[str, ...] | None = None,
) -> int:
    """Option bytes in every segment after the handshake: 12 if timestamps were
    negotiated by both sides, else 0 (RFC 7323 section 3.2)."""
    if synack_options is None:
        synack_options = tuple(syn_options)
    both = "timestamps" in syn_options and "timestamps" in synack_options
    return TIMESTAMP_OPTION_PADDED_BYTES if both else 0


def close_packets(options_bytes: int = 0) -> tuple[Packet, ...]:
    """FIN, ACK, FIN, ACK of an orderly close started by the client, wire sizes
    (RFC 9293 section 3.6). Implementations often merge the middle ACK and FIN; not modelled."""
    size = segment_bytes(0, options_bytes)
    return (
        Packet("FIN", CLIENT_TO_SERVER, size),
        Packet("ACK", SERVER_TO_CLIENT, size),
        Packet("FIN", SERVER_TO_CLIENT, size),
        Packet("ACK", CLIENT_TO_SERVER, size),
    )


# ---------------------------------------------------------------------------
# Windows and ACKs
# ---------------------------------------------------------------------------


def initial_window_bytes(mss: int = MSS_DEFAULT) -> int:
    """Initial congestion window in bytes: min(10*MSS, max(2*MSS, 14600)) (RFC 6928 section 2)."""
    if mss <= 0:
        raise ValueError(f"mss must be > 0, got {mss}")
    return min(IW_MAX_SEGMENTS * mss, max(IW_MIN_SEGMENTS * mss, IW_BYTES_CAP))


def initial_window_segments(mss: int = MSS_DEFAULT) -> int:
    """Full-sized segments in the initial window: floor(IW / MSS) (RFC 6928 section 2).

    10 for MSS <= 1460, 2 for MSS >= 7300, floor(14600 / MSS) in between.
    """
    return initial_window_bytes(mss) // mss


def slow_start_rounds(
    n_segments: int,
    iw: int = IW_MAX_SEGMENTS,
    ssthresh: float = math.inf,
    max_window: float = math.inf,
) -> tuple[int, ...]:
    """Segments sent in each RTT round of a loss-free transfer (RFC 5681 section 3.1).

    Round 1 sends min(iw, max_window) segments. While cwnd < ssthresh the window
    doubles per round (slow start; one segment per ACKed segment, as with
    RFC 3465 byte counting or an ACK per segment), capped at ssthresh; at or above
    ssthresh it grows by one segment per round (congestion avoidance).
    `max_window` (segments) caps what is sent per round, e.g. the receiver's
    window (RFC 9293 section 3.8.6). The last round sends the remainder.
    """
    if n_segments < 0:
        raise ValueError(f"n_segments must be >= 0, got {n_segments}")
    if iw < 1 or max_window < 1 or ssthresh < 1:
        raise ValueError("iw, ssthresh and max_window must be >= 1")
    rounds = []
    remaining = n_segments
    cwnd: float = iw
    while remaining > 0:
        sent = int(min(cwnd, max_window, remaining))
        rounds.append(sent)
        remaining -= sent
        cwnd = min(2 * cwnd, max(ssthresh, cwnd + 1)) if cwnd < ssthresh else cwnd + 1
    return tuple(rounds)


def ack_count(n_segments: int, delayed_ack: bool = True) -> int:
    """Pure ACKs the receiver sends for `n_segments` full-sized data segments.

    With delayed ACKs, one ACK per two full segments, plus one (after the
    delayed-ACK timer, at most 0.5 s) for an odd last segment: ceil(n/2)
    (RFC 1122 section 4.2.3.2, RFC 5681 section 4.2). Without: one per segment.
    """
    if n_segments < 0:
        raise ValueError(f"n_segments must be >= 0, got {n_segments}")
    if not delayed_ack:
        return n_segments
    return -(-n_segments // SEGMENTS_PER_DELAYED_ACK)


def serialization_s(wire_bytes: int, rate_bps: float) -> float:
    """Time in s to put `wire_bytes` on a link of `rate_bps` bit/s."""
    if rate_bps <= 0:
        raise ValueError(f"rate_bps must be > 0, got {rate_bps}")
    return 8 * wire_bytes / rate_bps


def _rounds(payload_bytes, rtt_s, mss, iw, ssthresh, max_window):
    """Segments per slow-start round of a transfer (checks shared by the time models)."""
    if rtt_s < 0:
        raise ValueError(f"rtt_s must be >= 0, got {rtt_s}")
    if iw is None:
        iw = initial_window_segments(mss)
    n = segments(payload_bytes, mss)
    return slow_start_rounds(n, iw, ssthresh, max_window) if n else []


def transfer_time_s(
    payload_bytes: int,
    rtt_s: float,
    rate_bps: float,
    mss: int = MSS_DEFAULT,
    iw: int | None = None,
    *,
    options_bytes: int = 0,
    ssthresh: float = math.inf,
    max_window: float = math.inf,
) -> float:
    """Loss-free bulk transfer time in s after the handshake: rounds * rtt_s + serialization
    of all data segments at the bottleneck rate (RFC 5681 slow start, RFC 6928 IW).

    Measured from the sender starting the first data segment until it receives
    the ACK of the last one. Model: each round (see `slow_start_rounds`) sends
    its window back to back at `rate_bps`, then waits one `rtt_s` for the ACKs
    before the next round starts.

    Included: serialization of every data segment with its 20 B TCP + 20 B IPv4
    headers (+ `options_bytes`, e.g. 12 with timestamps); one RTT per round
    (`rtt_s` = propagation and queueing there and back, excluding the data's own
    serialization, including the ACK's return).
    Excluded: the handshake and close, the request that starts the transfer, ACK
    serialization on the reverse link, delayed-ACK timer waits, link-layer
    framing, processing, losses. Once a round's window exceeds the
    bandwidth-delay product the ACKs of a round return while it is still being
    sent, and this is an upper bound; see `ack_clocked_transfer_time_s`.
    `iw` defaults to `initial_window_segments(mss)`.
    """
    rounds = _rounds(payload_bytes, rtt_s, mss, iw, ssthresh, max_window)
    return len(rounds) * rtt_s + serialization_s(
        data_wire_bytes(payload_bytes, mss, options_bytes), rate_bps
    )


def ack_clocked_transfer_time_s(
    payload_bytes: int,
    rtt_s: float,
    rate_bps: float,
    mss: int = MSS_DEFAULT,
    iw: int | None = None,
    *,
    options_bytes: int = 0,
    ssthresh: float = math.inf,
    max_window: float = math.inf,
) -> float:
    """Loss-free transfer time in s with ACK clocking (same start, end and inclusions as
    `transfer_time_s`), after the slow-start latency model of Kurose & Ross
    ("Computer Networking", TCP latency modelling).

    The sender stalls after round k only if the first ACK of that round (one
    full-segment time s plus rtt_s after the round starts) comes back after the
    window of w_k segments has been sent:

        T = serialization(all segments) + sum_{k < last} max(0, s + rtt_s - w_k * s) + rtt_s

    With s -> 0 this equals `transfer_time_s`; once w_k * s >= s + rtt_s the
    link stays busy. Assumes an ACK per segment (no delayed-ACK wait).
    """
    rounds = _rounds(payload_bytes, rtt_s, mss, iw, ssthresh, max_window)
    if not rounds:
        return 0.0
    s = serialization_s(segment_bytes(mss, options_bytes), rate_bps)
    stalls = sum(max(0.0, s + rtt_s - w * s) for w in rounds[:-1])
    total = serialization_s(data_wire_bytes(payload_bytes, mss, options_bytes), rate_bps)
    return total + stalls + rtt_s


# ---------------------------------------------------------------------------
# Retransmission timer (RFC 6298); all in seconds
# ---------------------------------------------------------------------------


def initial_rto_s() -> float:
    """RTO before any RTT sample: 1 s (RFC 6298 section 2.1)."""
    return INITIAL_RTO_S


def rto_s(
    srtt: float,
    rttvar: float,
    g_s: float = CLOCK_GRANULARITY_S,
    *,
    min_rto_s: float = MIN_RTO_S,
    max_rto_s: float = MAX_RTO_S,
) -> float:
    """RTO = SRTT + max(G, K*RTTVAR), rounded up to 1 s and capped at `max_rto_s`
    (RFC 6298 sections 2.2-2.5)."""
    if srtt < 0 or rttvar < 0 or g_s < 0:
        raise ValueError("srtt, rttvar and g_s must be >= 0")
    if max_rto_s < 60.0:
        raise ValueError("RFC 6298 section 2.5: the maximum RTO must be at least 60 s")
    return min(max(srtt + max(g_s, K * rttvar), min_rto_s), max_rto_s)


def rto_update(
    srtt: float | None,
    rttvar: float | None,
    r_s: float,
    g_s: float = CLOCK_GRANULARITY_S,
) -> tuple[float, float, float]:
    """(SRTT, RTTVAR, RTO) after an RTT sample `r_s` (RFC 6298 sections 2.2-2.3).

    First sample (srtt is None): SRTT = R, RTTVAR = R/2. Later samples:
    RTTVAR = (1 - 1/4) RTTVAR + 1/4 |SRTT - R| (with the old SRTT), then
    SRTT = (1 - 1/8) SRTT + 1/8 R. RTO from `rto_s`.
    """
    if r_s < 0:
        raise ValueError(f"r_s must be >= 0, got {r_s}")
    if srtt is None:
        srtt, rttvar = r_s, r_s / 2
    else:
        if rttvar is None:
            raise ValueError("rttvar must be given with srtt")
        rttvar = (1 - BETA) * rttvar + BETA * abs(srtt - r_s)
        srtt = (1 - ALPHA) * srtt + ALPHA * r_s
    return srtt, rttvar, rto_s(srtt, rttvar, g_s)


def linux_rto_s(srtt: float, rttvar: float, min_rto_s: float = LINUX_MIN_RTO_S,
                max_rto_s: float = LINUX_MAX_RTO_S) -> float:
    """Linux's RTO from the RFC 6298 estimators (`__tcp_set_rto`, `tcp_bound_rto`): SRTT
    plus the variance term, which is at least the minimum RTO (not the RTO as a whole);
    capped at `max_rto_s`. One sample r gives 3 r above 100 ms."""
    if srtt < 0 or rttvar < 0:
        raise ValueError("srtt and rttvar must be >= 0")
    return min(srtt + max(K * rttvar, min_rto_s), max_rto_s)


def backoff(rto: float, n: int, max_rto_s: float = MAX_RTO_S) -> float:
    """RTO after `n` expirations: rto * 2**n, capped at `max_rto_s` (RFC 6298 sections 5.5, 2.5)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return min(rto * 2**n, max_rto_s)


def retransmission_times_s(
    n: int, rto: float = INITIAL_RTO_S, max_rto_s: float = MAX_RTO_S
) -> tuple[float, ...]:
    """Times in s after the first transmission at which retransmissions 1..n are
    sent if nothing is ACKed (cumulative sums of `backoff`) (RFC 6298 section 5)."""
    out, t = [], 0.0
    for i in range(n):
        t += backoff(rto, i, max_rto_s)
        out.append(t)
    return tuple(out)


def linux_give_up_s(retries: int = LINUX_RETRIES2, rto_base_s: float = LINUX_MIN_RTO_S,
                    max_rto_s: float = LINUX_MAX_RTO_S) -> float:
    """How long Linux retransmits unacknowledged data before it aborts the connection, from
    the first transmission (s): `tcp_model_timeout`, the time `retries` doublings of the
    minimum RTO would take, capped per interval at the maximum (ip-sysctl.rst: 15
    retries give "a hypothetical timeout of 924.6 seconds")."""
    if retries < 0 or rto_base_s <= 0 or max_rto_s < rto_base_s:
        raise ValueError("retries must be >= 0 and 0 < rto_base_s <= max_rto_s")
    boundary = int(math.floor(math.log2(max_rto_s / rto_base_s)))
    if retries <= boundary:
        return ((2 << retries) - 1) * rto_base_s
    return ((2 << boundary) - 1) * rto_base_s + (retries - boundary) * max_rto_s


def linux_retransmissions(rto_s: float, retries: int = LINUX_RETRIES2,
                          min_rto_s: float = LINUX_MIN_RTO_S,
                          max_rto_s: float = LINUX_MAX_RTO_S) -> tuple[tuple[float, ...], float]:
    """When Linux resends a segment nobody acknowledges, and when it gives up (s after the
    first transmission): the timer starts at `rto_s` and doubles up to `max_rto_s`
    (`tcp_retransmit_timer`); at an expiry `linux_give_up_s` or more after the first
    transmission it aborts instead (`tcp_write_timeout`, `retransmits_timed_out`), without
    a reset. Returns (resend times, abort time)."""
    if rto_s <= 0:
        raise ValueError(f"rto_s must be > 0, got {rto_s}")
    limit = linux_give_up_s(retries, min_rto_s, max_rto_s)
    times: list[float] = []
    t, rto = 0.0, min(rto_s, max_rto_s)
    while True:
        t += rto
        if times and t >= limit:
            return tuple(times), t
        times.append(t)
        rto = min(2 * rto, max_rto_s)

