"""CoAP message sizes and transmission timers (pure functions, no SimPy).

References:
    RFC 7252 -- The Constrained Application Protocol (CoAP)
    RFC 7959 -- Block-Wise Transfers in CoAP
    RFC 7641 -- Observing Resources in CoAP
    RFC 6690 -- CoRE Link Format
    RFC 768 (UDP), RFC 791 (IPv4)

All sizes are in bytes, all times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

# --- Option numbers (RFC 7252 §5.10 / §12.2, RFC 7641 §2, RFC 7959 §2.1, §4) ---
IF_MATCH = 1
URI_HOST = 3
ETAG = 4
OBSERVE = 6
URI_PORT = 7
LOCATION_PATH = 8
URI_PATH = 11
CONTENT_FORMAT = 12
MAX_AGE = 14
URI_QUERY = 15
ACCEPT = 17
LOCATION_QUERY = 20
BLOCK2 = 23
BLOCK1 = 27
SIZE2 = 28
SIZE1 = 60

# --- Transport framing ---
UDP_HEADER_BYTES = 8  # RFC 768
IPV4_HEADER_BYTES = 20  # RFC 791 §3.1, no IP options
COAP_PORT = 5683  # RFC 7252 §6.1

# --- Message layout (RFC 7252 §3) ---
FIXED_HEADER_BYTES = 4  # Ver/T/TKL, Code, Message ID
PAYLOAD_MARKER_BYTES = 1  # 0xFF
MAX_TOKEN_BYTES = 8
MAX_EXTENDED_VALUE = 269 + 0xFFFF  # largest option delta/length encodable (§3.1)
MESSAGE_TYPES = ("CON", "NON", "ACK", "RST")

# --- Content-Formats (RFC 7252 §12.3, RFC 6690 §7.3) ---
CF_TEXT_PLAIN = 0
CF_LINK_FORMAT = 40
CF_OCTET_STREAM = 42

# --- Transmission parameters, RFC 7252 §4.8 (seconds unless noted) ---
ACK_TIMEOUT = 2.0
ACK_RANDOM_FACTOR = 1.5
MAX_RETRANSMIT = 4  # count
NSTART = 1  # count
DEFAULT_LEISURE = 5.0
PROBING_RATE = 1.0  # bytes/second
MAX_LATENCY = 100.0  # RFC 7252 §4.8.2

# --- Block-wise (RFC 7959 §2.2) ---
MIN_SZX = 0
MAX_SZX = 6  # szx 7 is reserved
MAX_BLOCK_NUM = (1 << 20) - 1


# ---------------------------------------------------------------------------
# Option encoding
# ---------------------------------------------------------------------------


def uint_option_length(value: int) -> int:
    """Bytes of a uint option value in minimal encoding (RFC 7252 §3.2).

    0 -> 0 bytes, 1..255 -> 1 byte, 256..65535 -> 2 bytes, ...
    """
    if value < 0:
        raise ValueError(f"uint option value must be >= 0, got {value}")
    return (value.bit_length() + 7) // 8


def block_option_value(num: int, more: bool, szx: int) -> int:
    """Integer value of a Block1/Block2 option: NUM<<4 | M<<3 | SZX (RFC 7959 §2.2)."""
    if not 0 <= num <= MAX_BLOCK_NUM:
        raise ValueError(f"block number must be in 0..{MAX_BLOCK_NUM}, got {num}")
    if not MIN_SZX <= szx <= MAX_SZX:
        raise ValueError(f"szx must be in {MIN_SZX}..{MAX_SZX}, got {szx}")
    return (num << 4) | (int(bool(more)) << 3) | szx


def block_size(szx: int) -> int:
    """Block size in bytes for a size exponent: 2**(szx+4) (RFC 7959 §2.2)."""
    if not MIN_SZX <= szx <= MAX_SZX:
        raise ValueError(f"szx must be in {MIN_SZX}..{MAX_SZX}, got {szx}")
    return 1 << (szx + 4)


def szx_for(block_bytes: int) -> int:
    """Size exponent for a block size of 16..1024 bytes (power of two) (RFC 7959 §2.2)."""
    if (
        not isinstance(block_bytes, int)
        or not 16 <= block_bytes <= 1024
        or block_bytes & (block_bytes - 1)
    ):
        raise ValueError(f"block size must be a power of two in 16..1024, got {block_bytes}")
    return block_bytes.bit_length() - 5


def _extended_bytes(field: int) -> int:
    """Extra bytes for an option delta or length field (RFC 7252 §3.1)."""
    if field < 0 or field > MAX_EXTENDED_VALUE:
        raise ValueError(f"option delta/length must be in 0..{MAX_EXTENDED_VALUE}, got {field}")
    if field < 13:
        return 0
    if field < 269:
        return 1
    return 2


def option_header_bytes(delta: int, length: int) -> int:
    """Option header bytes: 1 + extended delta + extended length (RFC 7252 §3.1)."""
    return 1 + _extended_bytes(delta) + _extended_bytes(length)


def options_bytes(options: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> int:
    """Bytes of the encoded option sequence; `options` are (number, value length) (RFC 7252 §3.1).

    Options are sorted by number (stable, so repeated options keep their order)
    and delta-encoded.
    """
    total = 0
    previous = 0
    for number, length in sorted(options, key=lambda opt: opt[0]):
        total += option_header_bytes(number - previous, length) + length
        previous = number
    return total


def message_bytes(token_len: int, options: list[tuple[int, int]], payload_len: int) -> int:
    """Exact CoAP message size in bytes (RFC 7252 §3).

    4-byte header + token + options + (0xFF marker + payload if payload_len > 0).
    """
    if not 0 <= token_len <= MAX_TOKEN_BYTES:
        raise ValueError(f"token length must be in 0..{MAX_TOKEN_BYTES}, got {token_len}")
    if payload_len < 0:
        raise ValueError(f"payload length must be >= 0, got {payload_len}")
    size = FIXED_HEADER_BYTES + token_len + options_bytes(options)
    if payload_len > 0:
        size += PAYLOAD_MARKER_BYTES + payload_len
    return size


def datagram_bytes(coap_bytes: int) -> int:
    """Bytes on the link from the IP header up: CoAP + UDP (RFC 768) + IPv4 (RFC 791)."""
    return coap_bytes + UDP_HEADER_BYTES + IPV4_HEADER_BYTES


def link_format_bytes(links: list[str]) -> int:
    """UTF-8 bytes of a CoRE Link Format payload, links joined by ',' (RFC 6690 §2)."""
    return len(",".join(links).encode("utf-8"))


# ---------------------------------------------------------------------------
# Option list builders
# ---------------------------------------------------------------------------


def _component_length(component: str) -> int:
    """Bytes of one URI path segment or query after percent-decoding (RFC 7252 §6.4)."""
    return len(unquote_to_bytes(component))


def uri_options(path: str, queries: tuple[str, ...] = ()) -> list[tuple[int, int]]:
    """Uri-Path / Uri-Query options for `path` (may contain '?a=b&c=d') (RFC 7252 §6.4).

    One Uri-Path per segment, one Uri-Query per query argument; returns
    (option number, value length in bytes) pairs.
    """
    path, _, query = path.partition("?")
    options: list[tuple[int, int]] = []
    if path not in ("", "/"):
        relative = path[1:] if path.startswith("/") else path
        options.extend((URI_PATH, _component_length(seg)) for seg in relative.split("/"))
    all_queries = (tuple(query.split("&")) if query else ()) + tuple(queries)
    options.extend((URI_QUERY, _component_length(q)) for q in all_queries)
    return options


def _block_option(number: int, block: tuple[int, bool, int]) -> tuple[int, int]:
    """(number, length) of a Block1/Block2 option from (num, more, szx) (RFC 7959 §2.2)."""
    num, more, szx = block
    return number, uint_option_length(block_option_value(num, more, szx))


def _uint_option(number: int, value: int) -> tuple[int, int]:
    """(number, length) of a uint option (RFC 7252 §3.2)."""
    return number, uint_option_length(value)


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CoapMessage:
    """A CoAP message reduced to what determines its size (RFC 7252 §3).

    `code` is a method name ("GET", "POST") or response code ("2.05");
    `mtype` is "CON", "NON", "ACK" or "RST"; `options` are
    (option number, value length in bytes) pairs; lengths are in bytes.
    """

    code: str
    mtype: str
    token_len: int
    options: tuple[tuple[int, int], ...]
    payload_len: int

    def __post_init__(self) -> None:
        if self.mtype not in MESSAGE_TYPES:
            raise ValueError(f"mtype must be one of {MESSAGE_TYPES}, got {self.mtype!r}")
        message_bytes(self.token_len, list(self.options), self.payload_len)  # validates

    @property
    def size(self) -> int:
        """CoAP message size in bytes (RFC 7252 §3)."""
        return message_bytes(self.token_len, list(self.options), self.payload_len)

    @property
    def wire_bytes(self) -> int:
        """Size in bytes including UDP and IPv4 headers (RFC 768, RFC 791)."""
        return datagram_bytes(self.size)

    def option_numbers(self) -> tuple[int, ...]:
        """Option numbers present, in encoding order (RFC 7252 §3.1)."""
        return tuple(number for number, _ in self.options)

    def has_option(self, number: int) -> bool:
        """True if the option `number` is present."""
        return any(n == number for n, _ in self.options)


def _sorted(options: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted(options, key=lambda opt: opt[0]))


def get(
    path: str,
    *,
    token_len: int = 2,
    observe: int | None = None,
    block2: tuple[int, bool, int] | None = None,
    accept: int | None = None,
    mtype: str = "CON",
) -> CoapMessage:
    """GET request (RFC 7252 §5.8.1), optionally with Observe (RFC 7641 §2)
    and Block2 (RFC 7959 §2.4, `block2` = (num, more, szx))."""
    options = uri_options(path)
    if observe is not None:
        options.append(_uint_option(OBSERVE, observe))
    if block2 is not None:
        options.append(_block_option(BLOCK2, block2))
    if accept is not None:
        options.append(_uint_option(ACCEPT, accept))
    return CoapMessage("GET", mtype, token_len, _sorted(options), 0)


def post(
    path: str,
    payload_len: int,
    *,
    token_len: int = 2,
    block1: tuple[int, bool, int] | None = None,
    content_format: int | None = CF_OCTET_STREAM,
    queries: tuple[str, ...] = (),
    size1: int | None = None,
    mtype: str = "CON",
) -> CoapMessage:
    """POST request (RFC 7252 §5.8.2), optionally with Block1 (RFC 7959 §2.5,
    `block1` = (num, more, szx)) and Size1 (RFC 7959 §4); payload in bytes."""
    options = uri_options(path, queries)
    if content_format is not None:
        options.append(_uint_option(CONTENT_FORMAT, content_format))
    if block1 is not None:
        options.append(_block_option(BLOCK1, block1))
    if size1 is not None:
        options.append(_uint_option(SIZE1, size1))
    return CoapMessage("POST", mtype, token_len, _sorted(options), payload_len)


def response(
    code: str,
    payload_len: int,
    *,
    token_len: int = 2,
    observe: int | None = None,
    block1: tuple[int, bool, int] | None = None,
    block2: tuple[int, bool, int] | None = None,
    content_format: int | None = None,
    location_path: tuple[str, ...] = (),
    size2: int | None = None,
    mtype: str = "ACK",
) -> CoapMessage:
    """Piggybacked response (RFC 7252 §5.2.1) or notification (RFC 7641 §3.2,
    pass `mtype` "CON"/"NON"); payload in bytes."""
    options = [(LOCATION_PATH, _component_length(seg)) for seg in location_path]
    if observe is not None:
        options.append(_uint_option(OBSERVE, observe))
    if content_format is not None:
        options.append(_uint_option(CONTENT_FORMAT, content_format))
    if block2 is not None:
        options.append(_block_option(BLOCK2, block2))
    if block1 is not None:
        options.append(_block_option(BLOCK1, block1))
    if size2 is not None:
        options.append(_uint_option(SIZE2, size2))
    return CoapMessage(code, mtype, token_len, _sorted(options), payload_len)


def empty_ack() -> CoapMessage:
    """Empty ACK (code 0.00, no token/options/payload), 4 bytes (RFC 7252 §4.2)."""
    return CoapMessage("0.00", "ACK", 0, (), 0)


def empty_rst() -> CoapMessage:
    """Empty RST (code 0.00), 4 bytes (RFC 7252 §4.2, §4.3)."""
    return CoapMessage("0.00", "RST", 0, (), 0)


# ---------------------------------------------------------------------------
# Block-wise transfer (RFC 7959)
# ---------------------------------------------------------------------------


def block_count(total_bytes: int, block_bytes: int) -> int:
    """Number of blocks for a body of `total_bytes` (ceil, at least 1) (RFC 7959 §2.2)."""
    if total_bytes < 0 or block_bytes <= 0:
        raise ValueError("total_bytes must be >= 0 and block_bytes > 0")
    return max(1, -(-total_bytes // block_bytes))


def block_payload(total_bytes: int, block_bytes: int, num: int) -> int:
    """Payload bytes of block `num` (0-based); only the last may be shorter (RFC 7959 §2.2)."""
    count = block_count(total_bytes, block_bytes)
    if not 0 <= num < count:
        raise ValueError(f"block number must be in 0..{count - 1}, got {num}")
    return min(block_bytes, total_bytes - num * block_bytes)


def block_more(total_bytes: int, block_bytes: int, num: int) -> bool:
    """M flag of block `num`: True unless it is the last block (RFC 7959 §2.2)."""
    return num < block_count(total_bytes, block_bytes) - 1


# ---------------------------------------------------------------------------
# Timers (RFC 7252 §4.2, §4.8, §4.8.2); all in seconds
# ---------------------------------------------------------------------------


def initial_timeout_bounds(
    ack_timeout: float = ACK_TIMEOUT, factor: float = ACK_RANDOM_FACTOR
) -> tuple[float, float]:
    """Range (lo, hi) in s for the random initial CON timeout (RFC 7252 §4.2, §4.8)."""
    return ack_timeout, ack_timeout * factor


def timeout_before_attempt(initial: float, attempt: int) -> float:
    """Wait in s after transmission number `attempt` (0-based): initial * 2**attempt (RFC 7252 §4.2)."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return initial * 2**attempt


def give_up_after(initial: float, max_retransmit: int = MAX_RETRANSMIT) -> float:
    """Time in s from first transmission until the sender gives up:
    initial * (2**(max_retransmit+1) - 1) (RFC 7252 §4.2)."""
    return initial * (2 ** (max_retransmit + 1) - 1)


def max_transmit_span(
    ack_timeout: float = ACK_TIMEOUT,
    factor: float = ACK_RANDOM_FACTOR,
    max_retransmit: int = MAX_RETRANSMIT,
) -> float:
    """MAX_TRANSMIT_SPAN in s, first to last transmission of a CON (45 s default) (RFC 7252 §4.8.2)."""
    return ack_timeout * (2**max_retransmit - 1) * factor


def max_transmit_wait(
    ack_timeout: float = ACK_TIMEOUT,
    factor: float = ACK_RANDOM_FACTOR,
    max_retransmit: int = MAX_RETRANSMIT,
) -> float:
    """MAX_TRANSMIT_WAIT in s, first transmission until giving up (93 s default) (RFC 7252 §4.8.2)."""
    return ack_timeout * (2 ** (max_retransmit + 1) - 1) * factor


def processing_delay(ack_timeout: float = ACK_TIMEOUT) -> float:
    """PROCESSING_DELAY in s, set to ACK_TIMEOUT (RFC 7252 §4.8.2)."""
    return ack_timeout


def max_rtt(ack_timeout: float = ACK_TIMEOUT, max_latency: float = MAX_LATENCY) -> float:
    """MAX_RTT in s: 2 * MAX_LATENCY + PROCESSING_DELAY (202 s default) (RFC 7252 §4.8.2)."""
    return 2 * max_latency + processing_delay(ack_timeout)


def exchange_lifetime(
    ack_timeout: float = ACK_TIMEOUT,
    factor: float = ACK_RANDOM_FACTOR,
    max_retransmit: int = MAX_RETRANSMIT,
    max_latency: float = MAX_LATENCY,
) -> float:
    """EXCHANGE_LIFETIME in s: MAX_TRANSMIT_SPAN + MAX_RTT (247 s default) (RFC 7252 §4.8.2)."""
    return max_transmit_span(ack_timeout, factor, max_retransmit) + max_rtt(ack_timeout, max_latency)


def non_lifetime(
    ack_timeout: float = ACK_TIMEOUT,
    factor: float = ACK_RANDOM_FACTOR,
    max_retransmit: int = MAX_RETRANSMIT,
    max_latency: float = MAX_LATENCY,
) -> float:
    """NON_LIFETIME in s: MAX_TRANSMIT_SPAN + MAX_LATENCY (145 s default) (RFC 7252 §4.8.2)."""
    return max_transmit_span(ack_timeout, factor, max_retransmit) + max_latency
