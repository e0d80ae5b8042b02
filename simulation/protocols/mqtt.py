"""MQTT 3.1.1 control packets and the keep-alive vs reconnect trade-off (pure functions).

References:
    [MQTT] -- MQTT Version 3.1.1, OASIS Standard, 29 October 2014
              (section 1.5.3 UTF-8 strings, 2.2 fixed header, 2.2.3 remaining
              length, 3.1-3.14 control packets, 3.1.2.10 keep alive)
    RFC 5382 REQ-5 and calibration rows "NATs and firewalls" (TCP NAT timeouts)

Encoders return the exact packet `bytes`. Sizes are in bytes, times in seconds,
energies in joules. TCP/IP headers are left to the caller (`tcp.segment_bytes`).
"""

from __future__ import annotations

import math
import struct

# --- Control packet types, [MQTT] section 2.2.1 Table 2.1 ---
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

PROTOCOL_NAME = b"MQTT"  # [MQTT] section 3.1.2.1
PROTOCOL_LEVEL = 4  # 3.1.1, [MQTT] section 3.1.2.2
MAX_REMAINING_LENGTH = 268_435_455  # [MQTT] section 2.2.3 (4 bytes of 7 bits)
MAX_STRING_BYTES = 65_535  # [MQTT] section 1.5.3
MAX_PACKET_ID = 65_535  # [MQTT] section 2.3.1
MAX_KEEPALIVE_S = 65_535  # [MQTT] section 3.1.2.10 (16-bit seconds)
KEEPALIVE_GRACE_FACTOR = 1.5  # [MQTT] section 3.1.2.10: server disconnects after 1.5 x keep alive
SUBACK_FAILURE = 0x80  # [MQTT] section 3.9.3
FIXED_HEADER_MIN_BYTES = 2  # calibration row "MQTT fixed header 2-5 B"
FIXED_HEADER_MAX_BYTES = 5

# CONNECT flags, [MQTT] section 3.1.2.3
_CLEAN_SESSION = 0x02
_WILL = 0x04
_WILL_RETAIN = 0x20
_PASSWORD = 0x40
_USERNAME = 0x80


# ---------------------------------------------------------------------------
# Encoding helpers
# ---------------------------------------------------------------------------


def encode_remaining_length(n: int) -> bytes:
    """Remaining Length as 1-4 bytes of 7 bits, least significant first, top bit =
    continuation ([MQTT] section 2.2.3): 127 -> 7F, 128 -> 80 01, 16383 -> FF 7F, ..."""
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length must be in 0..{MAX_REMAINING_LENGTH}, got {n}")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def decode_remaining_length(data: bytes, offset: int = 1) -> tuple[int, int]:
    """(value, bytes used) of a Remaining Length starting at `offset` ([MQTT] section 2.2.3)."""
    value, multiplier = 0, 1
    for used in range(1, 5):
        digit = data[offset + used - 1]
        value += (digit & 0x7F) * multiplier
        if not digit & 0x80:
            return value, used
        multiplier *= 128
    raise ValueError("malformed remaining length (more than 4 bytes)")


def remaining_length_bytes(n: int) -> int:
    """Bytes of the Remaining Length field: 1 up to 127, 2 up to 16383, 3 up to 2097151,
    4 up to 268435455 ([MQTT] section 2.2.3 Table 2.4)."""
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length must be in 0..{MAX_REMAINING_LENGTH}, got {n}")
    return 1 if n < 128 else 2 if n < 16_384 else 3 if n < 2_097_152 else 4


def fixed_header_bytes(remaining_length: int) -> int:
    """Fixed header size, 2-5 B: 1 type/flags byte + Remaining Length ([MQTT] section 2.2)."""
    return 1 + remaining_length_bytes(remaining_length)


def packet_bytes(remaining_length: int) -> int:
    """Size of a whole packet with `remaining_length` ([MQTT] section 2.2)."""
    return fixed_header_bytes(remaining_length) + remaining_length


def _string(value: str | bytes) -> bytes:
    """UTF-8 string with a 2-byte big-endian length prefix ([MQTT] section 1.5.3)."""
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(data) > MAX_STRING_BYTES:
        raise ValueError(f"MQTT strings are at most {MAX_STRING_BYTES} B, got {len(data)}")
    return struct.pack("!H", len(data)) + data


def _packet(packet_type: int, flags: int, body: bytes) -> bytes:
    """Fixed header (type << 4 | flags, Remaining Length) + variable header and payload."""
    return bytes([packet_type << 4 | flags]) + encode_remaining_length(len(body)) + body


def _packet_id(packet_id: int) -> bytes:
    if not 1 <= packet_id <= MAX_PACKET_ID:
        raise ValueError(f"packet identifier must be in 1..{MAX_PACKET_ID}, got {packet_id}")
    return struct.pack("!H", packet_id)


def _qos(qos: int) -> int:
    if qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, got {qos}")
    return qos


# ---------------------------------------------------------------------------
# Control packets
# ---------------------------------------------------------------------------


def connect(
    client_id: str,
    keepalive_s: int = 60,
    clean_session: bool = True,
    *,
    username: str | None = None,
    password: str | bytes | None = None,
    will_topic: str | None = None,
    will_message: bytes = b"",
    will_qos: int = 0,
    will_retain: bool = False,
) -> bytes:
    """CONNECT ([MQTT] section 3.1): fixed header, protocol name "MQTT", level 4, flags,
    keep alive (s), then client id, will topic/message, user name, password.

    2 B fixed header + 10 B variable header + 2 B + client id without will or
    credentials (while the remaining length stays below 128).
    """
    if not 0 <= keepalive_s <= MAX_KEEPALIVE_S:
        raise ValueError(f"keepalive_s must be in 0..{MAX_KEEPALIVE_S}, got {keepalive_s}")
    if password is not None and username is None:
        raise ValueError("a password needs a user name ([MQTT] section 3.1.2.9)")
    flags = _CLEAN_SESSION if clean_session else 0
    payload = _string(client_id)
    if will_topic is not None:
        flags |= _WILL | _qos(will_qos) << 3 | (_WILL_RETAIN if will_retain else 0)
        payload += _string(will_topic) + _string(will_message)
    elif will_qos or will_retain:
        raise ValueError("will_qos / will_retain need a will_topic ([MQTT] section 3.1.2.6-7)")
    if username is not None:
        flags |= _USERNAME
        payload += _string(username)
    if password is not None:
        flags |= _PASSWORD
        payload += _string(password)
    variable = _string(PROTOCOL_NAME) + bytes([PROTOCOL_LEVEL, flags]) + struct.pack("!H", keepalive_s)
    return _packet(CONNECT, 0, variable + payload)


def connack(session_present: bool = False, return_code: int = 0) -> bytes:
    """CONNACK, 4 B: acknowledge flags, return code 0-5 ([MQTT] section 3.2)."""
    if not 0 <= return_code <= 5:
        raise ValueError(f"return_code must be in 0..5, got {return_code}")
    if session_present and return_code:
        raise ValueError(
            "session_present must be 0 with a non-zero return code ([MQTT] section 3.2.2.2)"
        )
    return _packet(CONNACK, 0, bytes([1 if session_present else 0, return_code]))


def publish(
    topic: str,
    payload: bytes | int = b"",
    qos: int = 0,
    packet_id: int | None = None,
    *,
    retain: bool = False,
    dup: bool = False,
) -> bytes:
    """PUBLISH ([MQTT] section 3.3): flags DUP/QoS/RETAIN, topic, packet id if QoS > 0,
    payload. An int `payload` stands for that many zero bytes."""
    _qos(qos)
    if qos == 0 and (packet_id is not None or dup):
        raise ValueError("QoS 0 PUBLISH has no packet id and DUP 0 ([MQTT] sections 3.3.1.1, 3.3.2.2)")
    if not topic or any(c in topic for c in "+#"):
        raise ValueError(
            "PUBLISH topic names are non-empty, without wildcards ([MQTT] sections 3.3.2.1, 4.7.3)"
        )
    body = _string(topic)
    if qos:
        if packet_id is None:
            raise ValueError("QoS > 0 PUBLISH needs a packet_id")
        body += _packet_id(packet_id)
    body += bytes(payload) if isinstance(payload, int) else payload
    flags = (0x08 if dup else 0) | qos << 1 | (0x01 if retain else 0)
    return _packet(PUBLISH, flags, body)


def publish_bytes(topic_bytes: int, payload_bytes: int, qos: int = 0) -> int:
    """Size of a PUBLISH without building it: fixed header + 2 + topic + (2 if QoS > 0)
    + payload ([MQTT] section 3.3)."""
    _qos(qos)
    remaining = 2 + topic_bytes + (2 if qos else 0) + payload_bytes
    return packet_bytes(remaining)


def puback(packet_id: int) -> bytes:
    """PUBACK, 4 B ([MQTT] section 3.4)."""
    return _packet(PUBACK, 0, _packet_id(packet_id))


def subscribe(topic_filter: str, qos: int, packet_id: int) -> bytes:
    """SUBSCRIBE for one topic filter, fixed-header flags 0010 ([MQTT] section 3.8)."""
    if not topic_filter:
        raise ValueError("topic filters are at least one character ([MQTT] section 4.7.3)")
    return _packet(
        SUBSCRIBE, 0b0010, _packet_id(packet_id) + _string(topic_filter) + bytes([_qos(qos)])
    )


def suback(packet_id: int, granted_qos: int) -> bytes:
    """SUBACK for one topic filter, 5 B: granted QoS 0-2 or 0x80 failure ([MQTT] section 3.9)."""
    if granted_qos not in (0, 1, 2, SUBACK_FAILURE):
        raise ValueError(f"granted_qos must be 0, 1, 2 or 0x80, got {granted_qos}")
    return _packet(SUBACK, 0, _packet_id(packet_id) + bytes([granted_qos]))


def pingreq() -> bytes:
    """PINGREQ, 2 B ([MQTT] section 3.12)."""
    return _packet(PINGREQ, 0, b"")


def pingresp() -> bytes:
    """PINGRESP, 2 B ([MQTT] section 3.13)."""
    return _packet(PINGRESP, 0, b"")


def disconnect() -> bytes:
    """DISCONNECT, 2 B ([MQTT] section 3.14)."""
    return _packet(DISCONNECT, 0, b"")


# ---------------------------------------------------------------------------
# Keep the session open through a NAT, or reconnect at each wake-up?
# ---------------------------------------------------------------------------


def check_keepalive(keepalive_s: float, nat_tcp_timeout_s: float | None = None) -> None:
    """Raise unless 0 < keepalive_s < nat_tcp_timeout_s: the PINGREQs are what keep the
    NAT's TCP mapping alive (calibration: RFC 5382 REQ-5 >= 7440 s; carrier NATs
    around 20 min)."""
    if keepalive_s <= 0:
        raise ValueError(f"keepalive_s must be > 0, got {keepalive_s}")
    if nat_tcp_timeout_s is not None and not keepalive_s < nat_tcp_timeout_s:
        raise ValueError(
            f"keep alive {keepalive_s} s must be shorter than the NAT TCP timeout {nat_tcp_timeout_s} s"
        )


def reconnect_energy_j(
    e_tcp_handshake_j: float, e_connect_j: float, e_tls_handshake_j: float = 0.0
) -> float:
    """Energy in J of one reconnection: TCP handshake + optional TLS handshake
    + CONNECT/CONNACK (each including the radio wake-up it needs)."""
    if min(e_tcp_handshake_j, e_connect_j, e_tls_handshake_j) < 0:
        raise ValueError("energies must be >= 0")
    return e_tcp_handshake_j + e_tls_handshake_j + e_connect_j


def keepalive_energy_per_interval_j(
    interval_s: float, keepalive_s: float, e_keepalive_j: float
) -> float:
    """Energy in J spent on keep-alives during one wake interval: E_ka * T / K
    (continuous model: one PINGREQ/PINGRESP exchange per keep-alive period K)."""
    check_keepalive(keepalive_s)
    return e_keepalive_j * interval_s / keepalive_s


def pings_per_interval(interval_s: float, keepalive_s: float) -> int:
    """PINGREQs between two wake-ups T apart when each wake-up itself sends a control
    packet (which restarts the keep-alive timer, [MQTT] section 3.1.2.10):
    ceil(T / K) - 1, so none when T <= K."""
    check_keepalive(keepalive_s)
    if interval_s <= 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s}")
    return max(0, math.ceil(interval_s / keepalive_s) - 1)


def keepalive_vs_reconnect_break_even_s(
    e_keepalive_j: float,
    e_reconnect_j: float,
    keepalive_s: float,
    nat_tcp_timeout_s: float | None = None,
    *,
    discrete: bool = False,
) -> float:
    """Wake interval T* in s at which keeping the MQTT session open and reconnecting at each
    wake-up cost the same energy per unit time.

    Energy model. The device wakes every T seconds to exchange data; that
    exchange costs the same either way and cancels. Keeping the session means a
    PINGREQ/PINGRESP exchange every keep-alive period K (K < NAT TCP timeout, or
    the NAT drops the mapping), each costing E_ka (radio wake-up, TX, RX, tail):
    E_ka * T / K per wake interval. Reconnecting costs E_rc per wake interval
    (TCP handshake + optional TLS handshake + CONNECT/CONNACK; `reconnect_energy_j`);
    idle sleep between wake-ups costs the same either way. Per unit time:
    keep = E_ka / K, reconnect = E_rc / T. Equal when

        T* = K * E_rc / E_ka.

    For T < T* keeping the session is cheaper, for T > T* reconnecting is.
    With `discrete=True` the wake-up's own traffic restarts the keep-alive timer,
    so only ceil(T/K) - 1 pings are needed per interval (`pings_per_interval`);
    keeping then costs no more than reconnecting up to T* = K * (floor(E_rc / E_ka) + 1).
    """
    check_keepalive(keepalive_s, nat_tcp_timeout_s)
    if e_keepalive_j <= 0 or e_reconnect_j < 0:
        raise ValueError("e_keepalive_j must be > 0 and e_reconnect_j >= 0")
    if discrete:
        return keepalive_s * (math.floor(e_reconnect_j / e_keepalive_j) + 1)
    return keepalive_s * e_reconnect_j / e_keepalive_j
