"""TLS 1.2 / 1.3 record overhead and handshake flights (pure functions, no SimPy).

References:
    RFC 5246 -- TLS 1.2 (record layer section 6.2, handshake section 7.3-7.4)
    RFC 8446 -- TLS 1.3 (record layer section 5, handshake section 2 and 4)
    RFC 6655 -- AES-CCM cipher suites for TLS (CCM_8: 8 B tag, 8 B explicit nonce)
    RFC 5288 -- AES-GCM cipher suites for TLS (8 B explicit nonce, 16 B tag)
    RFC 4279 -- Pre-Shared Key cipher suites for TLS
    RFC 7925 -- TLS/DTLS profiles for the IoT (TLS_PSK_WITH_AES_128_CCM_8)
    RFC 8446 section 2.2 / 4.6.1 -- TLS 1.3 resumption and NewSessionTicket
    [LWIG]   -- draft-ietf-lwig-security-protocol-comparison, editor's copy of
                the 2022 revision citing RFC 9146/9147 (section 2.1 Figures 1-2,
                per-field calculations in sections 2.2-2.3). Source of the
                calibration rows "TLS 1.3 handshake totals" and "DTLS 1.3
                handshake totals"; its record-overhead summary gives the rows
                "DTLS 1.3 / TLS 1.2 / TLS 1.3 record overhead".

All sizes are in bytes. Handshake flights are TLS-level bytes (records with
their 5 B headers): TCP/IP headers, TCP segmentation and ACKs are left to the
caller. Numbers nobody published are marked "(A) assumption".
"""

from __future__ import annotations

from dataclasses import dataclass

VERSIONS = ("1.2", "1.3")

# --- Record layer ---
RECORD_HEADER_BYTES = 5  # RFC 5246 section 6.2.1, RFC 8446 section 5.1
EXPLICIT_NONCE_BYTES = (
    8  # TLS 1.2 AEAD explicit nonce: RFC 6655 section 3 (CCM), RFC 5288 section 3 (GCM)
)
CCM8_TAG_BYTES = 8  # RFC 6655 section 3 (AES_128_CCM_8)
GCM_TAG_BYTES = 16  # RFC 5288 section 3
INNER_CONTENT_TYPE_BYTES = 1  # TLS 1.3 TLSInnerPlaintext.type, RFC 8446 section 5.2 (no padding)
MAX_FRAGMENT_BYTES = 2**14  # RFC 5246 section 6.2.1, RFC 8446 section 5.1
HANDSHAKE_HEADER_BYTES = 4  # RFC 5246 section 7.4, RFC 8446 section 4
CCS_RECORD_BYTES = RECORD_HEADER_BYTES + 1  # ChangeCipherSpec, RFC 5246 section 7.1
RANDOM_BYTES = 32  # RFC 5246 section 7.4.1.2
VERIFY_DATA_BYTES_TLS12 = 12  # RFC 5246 section 7.4.9

CLIENT_TO_SERVER = "client->server"
SERVER_TO_CLIENT = "server->client"


def _check_version(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")


def record_overhead(version: str, tag_bytes: int = CCM8_TAG_BYTES) -> int:
    """Bytes a protected record adds to its plaintext (calibration row "DTLS 1.3 / TLS 1.2 /
    TLS 1.3 record overhead", [LWIG] section 3).

    TLS 1.2 AEAD: 5 B header + 8 B explicit nonce + tag = 21 B with CCM_8
    (RFC 5246 section 6.2.3.3, RFC 6655). TLS 1.3: 5 B header + 1 B inner content
    type + tag = 14 B with CCM_8 (RFC 8446 section 5.2, no padding).
    `tag_bytes` = 16 gives AES-GCM (29 / 22 B).
    """
    _check_version(version)
    if tag_bytes <= 0:
        raise ValueError(f"tag_bytes must be > 0, got {tag_bytes}")
    if version == "1.2":
        return RECORD_HEADER_BYTES + EXPLICIT_NONCE_BYTES + tag_bytes
    return RECORD_HEADER_BYTES + INNER_CONTENT_TYPE_BYTES + tag_bytes


def records(payload_bytes: int, max_fragment: int = MAX_FRAGMENT_BYTES) -> int:
    """Records needed for `payload_bytes` of application data: ceil(payload / max_fragment),
    0 for 0 B (RFC 5246 section 6.2.1, RFC 8446 section 5.1; `max_fragment` smaller with
    RFC 6066 max_fragment_length or RFC 8449 record_size_limit)."""
    if payload_bytes < 0:
        raise ValueError(f"payload_bytes must be >= 0, got {payload_bytes}")
    if not 0 < max_fragment <= MAX_FRAGMENT_BYTES:
        raise ValueError(f"max_fragment must be in 1..{MAX_FRAGMENT_BYTES}, got {max_fragment}")
    return -(-payload_bytes // max_fragment)


def protected_bytes(
    payload_bytes: int,
    version: str,
    max_fragment: int = MAX_FRAGMENT_BYTES,
    tag_bytes: int = CCM8_TAG_BYTES,
) -> int:
    """TLS bytes carrying `payload_bytes` of application data: payload + records * overhead
    (RFC 5246 section 6.2, RFC 8446 section 5)."""
    return payload_bytes + records(payload_bytes, max_fragment) * record_overhead(version, tag_bytes)


# ---------------------------------------------------------------------------
# Handshakes
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Flight:
    """One handshake flight: the messages one side sends before it waits for the other.

    `bytes` is (D)TLS-level: records with their headers, no transport headers.
    """

    name: str
    direction: str
    bytes: int

    def __post_init__(self) -> None:
        if self.direction not in (CLIENT_TO_SERVER, SERVER_TO_CLIENT):
            raise ValueError(f"direction must be {CLIENT_TO_SERVER!r} or {SERVER_TO_CLIENT!r}")
        if self.bytes < 0:
            raise ValueError(f"flight bytes must be >= 0, got {self.bytes}")


@dataclass(frozen=True)
class Handshake:
    """A handshake model: its flights, the round trips the client waits before it may
    send application data, and where the numbers come from."""

    protocol: str
    version: str
    auth: str
    flights: tuple[Flight, ...]
    round_trips: int
    source: str
    published_total: int | None = None

    @property
    def total_bytes(self) -> int:
        """Sum of all flights in bytes."""
        return sum(f.bytes for f in self.flights)

    def bytes_in(self, direction: str) -> int:
        """Bytes of the flights sent in `direction`."""
        return sum(f.bytes for f in self.flights if f.direction == direction)


def _flights(*spec: tuple[str, str, int]) -> tuple[Flight, ...]:
    return tuple(Flight(name, direction, size) for name, direction, size in spec)


C2S, S2C = CLIENT_TO_SERVER, SERVER_TO_CLIENT

# --- TLS 1.3 from [LWIG] section 2.1 Figure 2 (AES_128_CCM_8, x25519, ECDSA P-256,
# 1 B key identifiers, RPK with point compression, mandatory extensions only).
# The draft itself gives the split into flights #1 / #2 / #3; the totals are the
# calibration row "TLS 1.3 handshake totals".
_LWIG = "draft-ietf-lwig-security-protocol-comparison section 2.1 Fig. 2 / section 2.3"
_TLS13_PSK = _flights(
    ("ClientHello", C2S, 113),
    ("ServerHello..Finished", S2C, 117),
    ("Finished", C2S, 50),
)
_TLS13_PSK_ECDHE = _flights(
    ("ClientHello", C2S, 163),
    ("ServerHello..Finished", S2C, 157),
    ("Finished", C2S, 50),
)
_TLS13_RPK_ECDHE = _flights(
    ("ClientHello", C2S, 129),
    ("ServerHello..Finished", S2C, 322),
    ("Certificate..Finished", C2S, 194),
)

# --- TLS 1.3 session resumption (RFC 8446 section 2.2): the server sends NewSessionTicket
# records after the handshake (section 4.6.1); the client's next ClientHello offers the
# ticket as its PSK identity. Sizes of OpenSSL's server, the model's cloud broker:
#: (M) OpenSSL 3.0's stateless ticket of a server-authenticated session (tests); with a
#: client certificate OpenSSL's ticket also holds it (A: not modelled)
TICKET_BYTES = 208
TICKET_NONCE_BYTES = 8  # OpenSSL TICKET_NONCE_SIZE (ssl/statem/statem_srvr.c)
TICKETS_AFTER_FULL = 2  # OpenSSL default, SSL_CTX_set_num_tickets(3)
TICKETS_AFTER_RESUMPTION = 1  # OpenSSL: never more than one after a resumption, same page
#: RFC 8446 section 4.6.1: a ticket lifetime of at most 7 days
MAX_TICKET_LIFETIME_S = 604800
#: TLS 1.3 tickets renew at each resumption; RFC 8446 section 4.6.1 RECOMMENDS a limit on
#: the total lifetime since the full handshake: BoringSSL's SSL_DEFAULT_SESSION_AUTH_TIMEOUT
#: (7 days; OpenSSL 3.0 sets none, A)
TLS13_AUTH_LIFETIME_S = 604800
#: handshakes a session may replace: certificate and raw-public-key ones (A: a device
#: holding an external PSK runs its PSK handshake each time)
RESUMABLE = ("x509_low", "x509_high", "rpk_ecdhe")


def new_session_ticket_bytes(
    ticket_bytes: int = TICKET_BYTES,
    nonce_bytes: int = TICKET_NONCE_BYTES,
    tag_bytes: int = CCM8_TAG_BYTES,
) -> int:
    """One protected NewSessionTicket record (RFC 8446 section 4.6.1): 4 B header +
    ticket_lifetime 4 + ticket_age_add 4 + ticket_nonce<0..255> + ticket<1..2^16-1> +
    no extensions (2 B), in a TLS 1.3 record: 233 + 14 = 247 B with the defaults
    (255 B with AES-GCM, as OpenSSL sends it)."""
    if not 1 <= ticket_bytes < 2**16 or not 0 <= nonce_bytes < 2**8:
        raise ValueError(f"ticket {ticket_bytes} B / nonce {nonce_bytes} B out of range")
    body = 4 + 4 + 1 + nonce_bytes + 2 + ticket_bytes + 2
    return HANDSHAKE_HEADER_BYTES + body + record_overhead("1.3", tag_bytes)


def _tls13_resumption_flights(ticket_bytes: int = TICKET_BYTES) -> tuple[Flight, ...]:
    """TLS 1.3 resumption (RFC 8446 section 2.2) with psk_dhe_ke, the only mode OpenSSL
    offers and accepts by default (section 4.2.9): [LWIG]'s PSK + ECDHE flights, the
    ClientHello's 1 B PSK identity replaced by the ticket: 370 + 157 + 50 = 577 B."""
    (hello, server, finished) = _TLS13_PSK_ECDHE
    grown = hello.bytes - PSK_IDENTITY_BYTES + ticket_bytes
    return (Flight("ClientHello(pre_shared_key)", C2S, grown), server, finished)

# --- TLS 1.2 PSK, built field by field (RFC 5246 section 7.4, RFC 4279 section 2,
# RFC 7925 section 4.2: TLS_PSK_WITH_AES_128_CCM_8); nobody published it.
# (A) assumptions: ClientHello offers one cipher suite and no extensions, the
# server assigns a 32 B session ID and sends no identity hint (so no
# ServerKeyExchange), all handshake messages of a flight share one record, no
# NewSessionTicket, 1 B PSK identity as in [LWIG].
TLS12_SESSION_ID_BYTES = 32  # (A) assumption: a full-length session ID from the server
PSK_IDENTITY_BYTES = 1  # (A) assumption, as [LWIG] section 2 (1 B key identifiers)


def _tls12_client_hello(session_id_bytes: int = 0) -> int:
    """ClientHello message: 4 B header + version 2 + random 32 + session_id<0..32> + one
    cipher suite (2 + 2) + null compression (1 + 1), no extensions (RFC 5246 section 7.4.1.2)."""
    return HANDSHAKE_HEADER_BYTES + 2 + RANDOM_BYTES + 1 + session_id_bytes + 2 + 2 + 1 + 1


def _tls12_server_hello(session_id_bytes: int = TLS12_SESSION_ID_BYTES) -> int:
    """ServerHello: version 2 + random 32 + session_id + suite 2 + compression 1, no
    extensions (RFC 5246 section 7.4.1.3)."""
    return HANDSHAKE_HEADER_BYTES + 2 + RANDOM_BYTES + 1 + session_id_bytes + 2 + 1


def _tls12_finished_record(tag_bytes: int = CCM8_TAG_BYTES) -> int:
    """Encrypted Finished record: 12 B verify_data + 4 B header, protected (RFC 5246 section 7.4.9)."""
    return HANDSHAKE_HEADER_BYTES + VERIFY_DATA_BYTES_TLS12 + record_overhead("1.2", tag_bytes)


def tls12_psk_flights(psk_identity_bytes: int = PSK_IDENTITY_BYTES) -> tuple[Flight, ...]:
    """TLS 1.2 PSK full handshake flights (RFC 5246 section 7.3 Fig. 1, RFC 4279 section 2):
    50 + 83 + 55 + 43 = 231 B with the module's assumptions."""
    client_key_exchange = HANDSHAKE_HEADER_BYTES + 2 + psk_identity_bytes  # RFC 4279 section 2
    server_hello_done = HANDSHAKE_HEADER_BYTES
    finished = _tls12_finished_record()
    return _flights(
        ("ClientHello", C2S, RECORD_HEADER_BYTES + _tls12_client_hello()),
        (
            "ServerHello, ServerHelloDone",
            S2C,
            RECORD_HEADER_BYTES + _tls12_server_hello() + server_hello_done,
        ),
        (
            "ClientKeyExchange, CCS, Finished",
            C2S,
            RECORD_HEADER_BYTES + client_key_exchange + CCS_RECORD_BYTES + finished,
        ),
        ("CCS, Finished", S2C, CCS_RECORD_BYTES + finished),
    )


def tls12_resumption_flights(session_id_bytes: int = TLS12_SESSION_ID_BYTES) -> tuple[Flight, ...]:
    """TLS 1.2 abbreviated handshake resuming a session ID (RFC 5246 section 7.3 Fig. 2):
    82 + 122 + 43 = 247 B; the client sends data with its Finished after 1 RTT."""
    finished = _tls12_finished_record()
    return _flights(
        ("ClientHello(session_id)", C2S, RECORD_HEADER_BYTES + _tls12_client_hello(session_id_bytes)),
        (
            "ServerHello, CCS, Finished",
            S2C,
            RECORD_HEADER_BYTES + _tls12_server_hello(session_id_bytes) + CCS_RECORD_BYTES + finished,
        ),
        ("CCS, Finished", C2S, CCS_RECORD_BYTES + finished),
    )


# --- Certificate-based handshakes to a cloud broker (calibration row "TLS set-up with a
# cloud MQTT broker": about 6.5 kB (Pushy support article) to about 10 kB (AWS IoT with
# a certificate chain, Nordic webinar 2020)). Only the totals are published; the split:
# (A) assumptions: ClientHello 200 B (SNI, a few suites, groups and signature
# algorithms); the 6.5 kB case authenticates the server only (Pushy devices use a
# token), the 10 kB case is mutual (AWS IoT requires a client certificate); the
# client's device certificate 600 B (one certificate, no chain);
# ECDSA P-256 signatures 72 B (DER); AES-GCM (16 B tag) records; no
# NewSessionTicket. The small flights are built from those; the server's flight
# (certificate chain) is the published total minus the rest.
X509_LOW_TOTAL_BYTES = 6500  # calibration, Pushy: about 6.5 kB
X509_HIGH_TOTAL_BYTES = 10000  # calibration, AWS IoT / Nordic webinar 2020: about 10 kB
CLIENT_HELLO_X509_BYTES = 200  # (A) assumption
CLIENT_CERTIFICATE_BYTES = 600  # (A) assumption: one DER device certificate
ECDSA_P256_DER_SIGNATURE_BYTES = 72  # (A) assumption: DER ECDSA P-256, 70-72 B


def _x509_client_flight(version: str, mutual: bool) -> int:
    """Bytes of the client's last flight in a certificate handshake (RFC 5246 section 7.4.7-7.4.9,
    RFC 8422 section 5.7 for 1.2; RFC 8446 section 4.4 for 1.3), AES-GCM, P-256."""
    sig = HANDSHAKE_HEADER_BYTES + 2 + 2 + ECDSA_P256_DER_SIGNATURE_BYTES  # CertificateVerify
    if version == "1.2":
        cke = HANDSHAKE_HEADER_BYTES + 1 + 65  # ECPoint, uncompressed P-256
        cert = HANDSHAKE_HEADER_BYTES + 3 + 3 + CLIENT_CERTIFICATE_BYTES
        hs = cke + ((cert + sig) if mutual else 0)
        return (
            RECORD_HEADER_BYTES
            + hs
            + CCS_RECORD_BYTES
            + HANDSHAKE_HEADER_BYTES
            + VERIFY_DATA_BYTES_TLS12
            + record_overhead("1.2", GCM_TAG_BYTES)
        )
    finished = HANDSHAKE_HEADER_BYTES + 32  # SHA-256 verify_data, RFC 8446 section 4.4.4
    cert = HANDSHAKE_HEADER_BYTES + 1 + 3 + 3 + CLIENT_CERTIFICATE_BYTES + 2  # RFC 8446 section 4.4.2
    hs = finished + ((cert + sig) if mutual else 0)
    return hs + record_overhead("1.3", GCM_TAG_BYTES)


def x509_flights(version: str, total_bytes: int, mutual: bool) -> tuple[Flight, ...]:
    """Certificate-based handshake flights summing to a published `total_bytes`: 4 flights
    (2 RTT) for TLS 1.2 (RFC 5246 section 7.3), 3 flights (1 RTT) for TLS 1.3 (RFC 8446
    section 2). The server flight is the remainder after the assumed small flights."""
    _check_version(version)
    client_last = _x509_client_flight(version, mutual)
    server_last = (
        (
            CCS_RECORD_BYTES
            + HANDSHAKE_HEADER_BYTES
            + VERIFY_DATA_BYTES_TLS12
            + record_overhead("1.2", GCM_TAG_BYTES)
        )
        if version == "1.2"
        else 0
    )
    server_main = total_bytes - CLIENT_HELLO_X509_BYTES - client_last - server_last
    if server_main <= 0:
        raise ValueError(f"total_bytes {total_bytes} too small for the assumed client flights")
    if version == "1.2":
        return _flights(
            ("ClientHello", C2S, CLIENT_HELLO_X509_BYTES),
            ("ServerHello..ServerHelloDone (certificate chain)", S2C, server_main),
            ("Certificate..Finished" if mutual else "ClientKeyExchange..Finished", C2S, client_last),
            ("CCS, Finished", S2C, server_last),
        )
    return _flights(
        ("ClientHello", C2S, CLIENT_HELLO_X509_BYTES),
        ("ServerHello..Finished (certificate chain)", S2C, server_main),
        ("Finished" if not mutual else "Certificate..Finished", C2S, client_last),
    )


_CERT_SRC = "calibration 'TLS set-up with a cloud MQTT broker' (total); split (A) assumptions"

HANDSHAKES: dict[tuple[str, str], Handshake] = {
    ("1.3", "psk"): Handshake("TLS", "1.3", "psk", _TLS13_PSK, 1, _LWIG, 280),
    ("1.3", "psk_ecdhe"): Handshake("TLS", "1.3", "psk_ecdhe", _TLS13_PSK_ECDHE, 1, _LWIG, 370),
    ("1.3", "rpk_ecdhe"): Handshake("TLS", "1.3", "rpk_ecdhe", _TLS13_RPK_ECDHE, 1, _LWIG, 645),
    # RFC 8446 section 2.2: PSK resumption takes 1 RTT (0-RTT not modelled); the server's
    # NewSessionTicket records come after it (`new_session_ticket_bytes`)
    ("1.3", "resumption"): Handshake(
        "TLS",
        "1.3",
        "resumption",
        _tls13_resumption_flights(),
        1,
        _LWIG + " (PSK + ECDHE); ticket size of OpenSSL (M)",
    ),
    ("1.3", "x509_low"): Handshake(
        "TLS",
        "1.3",
        "x509_low",
        x509_flights("1.3", X509_LOW_TOTAL_BYTES, mutual=False),
        1,
        _CERT_SRC + " (Pushy)",
        X509_LOW_TOTAL_BYTES,
    ),
    ("1.3", "x509_high"): Handshake(
        "TLS",
        "1.3",
        "x509_high",
        x509_flights("1.3", X509_HIGH_TOTAL_BYTES, mutual=True),
        1,
        _CERT_SRC + " (AWS IoT, Nordic)",
        X509_HIGH_TOTAL_BYTES,
    ),
    ("1.2", "psk"): Handshake(
        "TLS",
        "1.2",
        "psk",
        tls12_psk_flights(),
        2,
        "RFC 5246 section 7.3/7.4, RFC 4279; (A) assumptions in tls.py",
    ),
    ("1.2", "resumption"): Handshake(
        "TLS",
        "1.2",
        "resumption",
        tls12_resumption_flights(),
        1,
        "RFC 5246 section 7.3 Fig. 2; (A) assumptions in tls.py",
    ),
    ("1.2", "x509_low"): Handshake(
        "TLS",
        "1.2",
        "x509_low",
        x509_flights("1.2", X509_LOW_TOTAL_BYTES, mutual=False),
        2,
        _CERT_SRC + " (Pushy)",
        X509_LOW_TOTAL_BYTES,
    ),
    ("1.2", "x509_high"): Handshake(
        "TLS",
        "1.2",
        "x509_high",
        x509_flights("1.2", X509_HIGH_TOTAL_BYTES, mutual=True),
        2,
        _CERT_SRC + " (AWS IoT, Nordic)",
        X509_HIGH_TOTAL_BYTES,
    ),
}


def handshake_model(version: str, auth: str) -> Handshake:
    """The `Handshake` for (version, auth) from `HANDSHAKES` (sources cited there)."""
    _check_version(version)
    try:
        return HANDSHAKES[(version, auth)]
    except KeyError:
        known = sorted(a for v, a in HANDSHAKES if v == version)
        raise ValueError(f"no TLS {version} handshake {auth!r}; known: {known}") from None


def handshake(version: str, auth: str) -> tuple[Flight, ...]:
    """Flights of a TLS handshake: direction and TLS-level bytes each, in order.

    TLS 1.3 ("psk", "psk_ecdhe", "rpk_ecdhe", "resumption", "x509_low",
    "x509_high"): 3 flights, 1 RTT (RFC 8446 section 2). TLS 1.2 ("psk",
    "x509_low", "x509_high"): 4 flights, 2 RTT; "resumption": 3 flights, 1 RTT
    (RFC 5246 section 7.3).
    """
    return handshake_model(version, auth).flights


def round_trips(version: str, auth: str) -> int:
    """Round trips before the client may send application data (RFC 5246 section 7.3, RFC 8446 section 2)."""
    return handshake_model(version, auth).round_trips
