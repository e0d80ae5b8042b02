"""Closed forms the model is checked against, written from their sources and not from the
model's code: renewal theory, RFC 7252's retransmission rules under independent losses,
serialization, and TCP slow start with delayed ACKs (Kurose & Ross). Times in seconds,
rates in bit/s, sizes in bytes."""
from __future__ import annotations

import math

#: RFC 7252 section 4.8 defaults: ACK_TIMEOUT, ACK_RANDOM_FACTOR, MAX_RETRANSMIT
ACK_TIMEOUT_S, ACK_RANDOM_FACTOR, MAX_RETRANSMIT = 2.0, 1.5, 4


def residual_life(wake: str, interval_s: float) -> tuple[float, float]:
    """Mean and standard deviation of the time from an instant unrelated to the wake-ups
    to the next one: uniform on [0, I) for periodic wake-ups with a random phase (mean
    I/2, sd I/sqrt(12)); exponential for Poisson ones (mean I, sd I: the inspection
    paradox; Cox, Renewal Theory, 1962)."""
    if wake == "periodic":
        return interval_s / 2.0, interval_s / math.sqrt(12.0)
    if wake == "poisson":
        return interval_s, interval_s
    raise ValueError(f"no residual life for wake-ups {wake!r}")


def coap_copies(loss: float, max_retransmit: int = MAX_RETRANSMIT) -> tuple[float, float]:
    """A confirmable exchange whose request and response are each lost with probability
    `loss`, independently: a copy succeeds with q = (1 - loss)^2, at most
    max_retransmit + 1 = m copies are sent (RFC 7252 section 4.2). Returns P(give up) =
    (1 - q)^m and E[retransmissions] = sum_{k=1}^{m-1} (1 - q)^k."""
    q = (1.0 - loss) ** 2
    m = max_retransmit + 1
    return (1.0 - q) ** m, sum((1.0 - q) ** k for k in range(1, m))


def coap_give_up_s(max_retransmit: int = MAX_RETRANSMIT, ack_timeout_s: float = ACK_TIMEOUT_S,
                   factor: float = ACK_RANDOM_FACTOR) -> tuple[float, float, float, float]:
    """When a sender gives up after every copy went unanswered: T0 (2^m - 1), m =
    max_retransmit + 1, with T0 uniform on [ACK_TIMEOUT, ACK_TIMEOUT x ACK_RANDOM_FACTOR]
    (RFC 7252 section 4.2). Returns (mean, sd, least, most); the most is MAX_TRANSMIT_WAIT,
    93 s at the defaults (section 4.8.2)."""
    span = 2.0 ** (max_retransmit + 1) - 1.0
    lo, hi = ack_timeout_s * span, ack_timeout_s * factor * span
    return (lo + hi) / 2.0, (hi - lo) / math.sqrt(12.0), lo, hi


def serialization_s(nbytes: float, rate_bps: float) -> float:
    """Time to put `nbytes` on a link of `rate_bps`."""
    return 8.0 * nbytes / rate_bps


def stop_and_wait_s(requests: list[int], responses: list[int], rtt_s: float,
                    up_bps: float, down_bps: float) -> float:
    """A lossless stop-and-wait block-wise transfer (RFC 7959): each block costs one round
    trip plus its request's and its response's serialization."""
    return sum(rtt_s + serialization_s(q, up_bps) + serialization_s(p, down_bps)
               for q, p in zip(requests, responses, strict=True))


def slow_start_s(payload: int, rtt_s: float, data_bps: float, ack_bps: float,
                 mss: int = 536, header: int = 40, iw: int = 10) -> float:
    """Slow-start latency with delayed ACKs, from the first data segment's start to the
    last one's arrival (Kurose & Ross's model, with RFC 6928's initial window of 10
    segments and RFC 1122's ACK of every second segment): windows iw, 2 iw, 4 iw...; the
    next round starts when the window is sent or the first ACK is back, whichever is
    later. Segments carry `header` bytes of TCP and IPv4 headers."""
    n = math.ceil(payload / mss)
    sizes = [mss + header] * (n - 1) + [payload - (n - 1) * mss + header]
    t, w, k = 0.0, iw, 0
    while True:
        batch = sizes[k:k + w]
        k += len(batch)
        if k >= n:
            return t + serialization_s(sum(batch), data_bps) + rtt_s / 2
        first_ack = 2 * serialization_s(mss + header, data_bps) + rtt_s + \
            serialization_s(header, ack_bps)
        t += max(serialization_s(sum(batch), data_bps), first_ack)
        w *= 2


def tcp_handshake_s(rtt_s: float, up_bps: float, down_bps: float,
                    syn_bytes: int = 52, ack_bytes: int = 40) -> float:
    """SYN and SYN-ACK (20 B TCP + 20 B IPv4 + 12 B options: RFC 9293, RFC 791, RFC 7323)
    and the client's ACK (40 B), each crossing half a round trip, the ACK's serialization
    last."""
    return (serialization_s(syn_bytes, up_bps) + rtt_s / 2 + serialization_s(syn_bytes, down_bps)
            + rtt_s / 2 + serialization_s(ack_bytes, up_bps))
