"""DTLS 1.2 / 1.3 record overhead, handshake flights and retransmission timer (pure functions).

References:
    RFC 6347 -- DTLS 1.2 (record layer section 4.1, handshake section 4.2,
                HelloVerifyRequest section 4.2.1, timer section 4.2.4.1)
    RFC 9147 -- DTLS 1.3 (unified header section 4, HelloRetryRequest cookie
                section 5.1, timer section 5.8)
    RFC 9146 -- Connection Identifiers for DTLS 1.2
    RFC 7925 -- TLS/DTLS profiles for the IoT (section 4.2 PSK, 4.4 ECDHE-ECDSA)
    RFC 7250 -- Raw public keys in TLS/DTLS (section 3)
    RFC 8422 -- ECC cipher suites for TLS 1.2 (section 5.4 ServerKeyExchange)
    [LWIG]   -- draft-ietf-lwig-security-protocol-comparison, editor's copy of
                the 2022 revision citing RFC 9146/9147 (section 2.1 Figures 1-2,
                section 2.2 per-field calculations, section 3 record overhead).

All sizes are in bytes, times in seconds. Flights are DTLS-level bytes
(records with their headers); UDP/IP headers are left to the caller
(`coap.datagram_bytes`). Handshake fragmentation is not modelled.
Numbers nobody published are marked "(A) assumption".
"""

from __future__ import annotations

from simulation.protocols import tls
from simulation.protocols.tls import (
    CCM8_TAG_BYTES,
    CLIENT_TO_SERVER,
    MAX_FRAGMENT_BYTES,
    SERVER_TO_CLIENT,
    Flight,
    Handshake,
)

VERSIONS = ("1.2", "1.3")
C2S, S2C = CLIENT_TO_SERVER, SERVER_TO_CLIENT

# --- Record layer ---
DTLS12_RECORD_HEADER_BYTES = 13  # RFC 6347 section 4.1: type, version, epoch, seq 48 bit, length
EXPLICIT_NONCE_BYTES = 8  # RFC 6655 section 3 / RFC 7925 section 3.3 (AES_128_CCM_8)
CID_INNER_TYPE_BYTES = 1  # RFC 9146 section 4: DTLSInnerPlaintext.real_type (no padding)
DTLS13_UNIFIED_FIRST_BYTE = 1  # RFC 9147 section 4 Fig. 3
DTLS13_INNER_TYPE_BYTES = 1  # RFC 9147 section 4: DTLSInnerPlaintext.type (no padding)
HANDSHAKE_HEADER_BYTES = 12  # RFC 6347 section 4.2.2 (adds message_seq, fragment offset/length)
CCS_RECORD_BYTES = DTLS12_RECORD_HEADER_BYTES + 1  # ChangeCipherSpec
RANDOM_BYTES = 32
VERIFY_DATA_BYTES_DTLS12 = 12  # RFC 5246 section 7.4.9
# Calibration row "DTLS 1.2 record overhead ... 30 B with 1-byte CID" ([LWIG] section 3.2.3).
# That example has no DTLSInnerPlaintext.real_type byte, which RFC 9146 section 4 adds:
# `record_overhead("1.2", cid_bytes=1)` follows the RFC and gives 31.
PUBLISHED_DTLS12_CID1_OVERHEAD = 30

# --- Timer, RFC 6347 section 4.2.4.1 (also RFC 9147 section 5.8.2) ---
INITIAL_TIMEOUT_S = 1.0
MAX_TIMEOUT_S = 60.0  # "up to no less than the RFC 6298 maximum of 60 seconds"

# --- Cookie exchange ---
COOKIE_BYTES = 32  # (A) assumption: mbed TLS's default cookie (4 B time + 28 B HMAC)


def _check_version(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")


def record_overhead(
    version: str,
    cid_bytes: int = 0,
    tag_bytes: int = CCM8_TAG_BYTES,
    *,
    seq_bytes: int = 1,
    length_field: bool = False,
) -> int:
    """Bytes a protected DTLS record adds to its plaintext (calibration rows "DTLS 1.2
    record overhead" and "DTLS 1.3 ... record overhead", [LWIG] section 3).

    DTLS 1.2 (RFC 6347 section 4.1, AES_128_CCM_8): 13 B header + 8 B explicit nonce
    + 8 B tag = 29 B. With a CID (RFC 9146 section 4) the header grows by the CID and
    the plaintext by the 1 B real content type: 31 B for a 1 B CID.
    DTLS 1.3 (RFC 9147 section 4): 1 B unified header + CID + 1 or 2 B sequence number
    (+ 2 B length unless omitted, allowed for the last record of a datagram) + 1 B
    inner content type + tag = 11 B minimal, 12 B with a 1 B CID.
    """
    _check_version(version)
    if cid_bytes < 0 or cid_bytes > 255:
        raise ValueError(f"cid_bytes must be in 0..255, got {cid_bytes}")
    if tag_bytes <= 0:
        raise ValueError(f"tag_bytes must be > 0, got {tag_bytes}")
    if version == "1.2":
        cid = cid_bytes + CID_INNER_TYPE_BYTES if cid_bytes else 0
        return DTLS12_RECORD_HEADER_BYTES + EXPLICIT_NONCE_BYTES + tag_bytes + cid
    if seq_bytes not in (1, 2):
        raise ValueError(f"seq_bytes must be 1 or 2, got {seq_bytes}")
    header = DTLS13_UNIFIED_FIRST_BYTE + cid_bytes + seq_bytes + (2 if length_field else 0)
    return header + DTLS13_INNER_TYPE_BYTES + tag_bytes


def records(payload_bytes: int, max_fragment: int = MAX_FRAGMENT_BYTES) -> int:
    """Records for `payload_bytes` of application data, as TLS counts them (`tls.records`).
    Each DTLS record must fit in one datagram (RFC 6347 section 4.1.1), so pass the
    plaintext that fits the path MTU as `max_fragment`."""
    return tls.records(payload_bytes, max_fragment)


def protected_bytes(
    payload_bytes: int,
    version: str,
    cid_bytes: int = 0,
    max_fragment: int = MAX_FRAGMENT_BYTES,
) -> int:
    """DTLS bytes carrying `payload_bytes`: payload + records * overhead (RFC 6347 section 4.1,
    RFC 9147 section 4)."""
    return payload_bytes + records(payload_bytes, max_fragment) * record_overhead(version, cid_bytes)


# ---------------------------------------------------------------------------
# DTLS 1.3 flights, from [LWIG] section 2.1 (AES_128_CCM_8, x25519, ECDSA P-256,
# 1 B key identifiers and CID, no handshake fragmentation, no ACK records)
# ---------------------------------------------------------------------------

_LWIG = "draft-ietf-lwig-security-protocol-comparison section 2.1"
# Figure 1 (with a 1 B CID); totals 351 and 441 B are the calibration row
# "DTLS 1.3 handshake totals".
_DTLS13_CID = {
    "psk": (136, 156, 59),
    "psk_ecdhe": (186, 196, 59),
    # Figure 1 gives 152 + 385 + 219 = 756 B with point-compressed 59 B RPKs. The
    # calibration total 820 B = 756 + 2 * 32: the same flights with uncompressed
    # 91 B P-256 SubjectPublicKeyInfo RPKs ([LWIG] section 2.2.7), one in flight #2
    # (server) and one in flight #3 (client). Derived split:
    "rpk_ecdhe": (152, 385 + 32, 219 + 32),
}
# Figure 2 (no CID): PSK and PSK+ECDHE as published; RPK+ECDHE as above (+32 B in
# flights #2 and #3). Figure 2 prints the RPK total as 722 B while its flights
# add up to 720 B; the flights are used.
_DTLS13_NO_CID = {
    "psk": (128, 143, 56),
    "psk_ecdhe": (178, 183, 56),
    "rpk_ecdhe": (144, 364 + 32, 212 + 32),
}
_DTLS13_PUBLISHED_TOTALS_CID = {"psk": 351, "psk_ecdhe": 441, "rpk_ecdhe": 820}


def _dtls13_hello_retry_request(cookie_bytes: int) -> int:
    """HelloRetryRequest carrying a cookie (RFC 9147 section 5.1, RFC 8446 section 4.1.4):
    13 B record + 12 B handshake header + legacy_version 2 + random 32 + session_id echo 1
    + cipher suite 2 + compression 1 + extensions length 2 + supported_versions 6
    + cookie extension (4 + 2 + cookie)."""
    return (
        DTLS12_RECORD_HEADER_BYTES
        + HANDSHAKE_HEADER_BYTES
        + 2
        + RANDOM_BYTES
        + 1
        + 2
        + 1
        + 2
        + 6
        + 4
        + 2
        + cookie_bytes
    )


# ---------------------------------------------------------------------------
# DTLS 1.2 flights, built field by field (RFC 6347, RFC 7925 profile); nobody
# published them. (A) assumptions: one cipher suite offered; extensions only as
# listed (no extended_master_secret, no ec_point_formats); the server assigns a
# 32 B session ID; all epoch-0 handshake messages of a flight share one record;
# no NewSessionTicket; 1 B PSK identity (as [LWIG]); P-256 points uncompressed
# (65 B); RPK = 91 B SubjectPublicKeyInfo ([LWIG] section 2.2.7); DER ECDSA
# signature 71 B (average of 70-72 B).
# ---------------------------------------------------------------------------

DTLS12_SESSION_ID_BYTES = 32  # (A) assumption
PSK_IDENTITY_BYTES = 1  # (A) assumption, as [LWIG]
P256_POINT_BYTES = 65  # uncompressed, RFC 8422 section 5.4.1
RPK_SPKI_BYTES = 91  # [LWIG] section 2.2.7 (P-256 SubjectPublicKeyInfo, uncompressed)
ECDSA_DER_SIGNATURE_BYTES = 71  # (A) assumption: average DER ECDSA P-256 signature


def _ext(body: int) -> int:
    """One extension: type 2 + length 2 + body (RFC 5246 section 7.4.1.4)."""
    return 4 + body


def _cid_ext(cid_bytes: int) -> int:
    """connection_id extension: cid<0..255> (RFC 9146 section 3)."""
    return _ext(1 + cid_bytes)


def _extensions_block(*extensions: int) -> int:
    """Extensions with their 2 B list length; nothing when there are none."""
    return 2 + sum(extensions) if extensions else 0


def _dtls12_client_hello(
    extensions: tuple[int, ...], session_id_bytes: int = 0, cookie_bytes: int = 0
) -> int:
    """ClientHello record: 13 + 12 + version 2 + random 32 + session_id<0..32>
    + cookie<0..2^8-1> + one suite (2 + 2) + null compression (1 + 1) + extensions
    (RFC 6347 section 4.2.1)."""
    body = 2 + RANDOM_BYTES + 1 + session_id_bytes + 1 + cookie_bytes + 2 + 2 + 1 + 1
    return DTLS12_RECORD_HEADER_BYTES + HANDSHAKE_HEADER_BYTES + body + _extensions_block(*extensions)


def _dtls12_server_hello(
    extensions: tuple[int, ...], session_id_bytes: int = DTLS12_SESSION_ID_BYTES
) -> int:
    """ServerHello message (no record header): 12 + version 2 + random 32 + session_id
    + suite 2 + compression 1 + extensions (RFC 5246 section 7.4.1.3)."""
    return (
        HANDSHAKE_HEADER_BYTES
        + 2
        + RANDOM_BYTES
        + 1
        + session_id_bytes
        + 2
        + 1
        + _extensions_block(*extensions)
    )


def hello_verify_request_bytes(cookie_bytes: int = COOKIE_BYTES) -> int:
    """HelloVerifyRequest record: 13 + 12 + server_version 2 + cookie<0..2^8-1>
    (RFC 6347 section 4.2.1): 60 B with a 32 B cookie."""
    if not 0 <= cookie_bytes <= 255:
        raise ValueError(f"cookie_bytes must be in 0..255, got {cookie_bytes}")
    return DTLS12_RECORD_HEADER_BYTES + HANDSHAKE_HEADER_BYTES + 2 + 1 + cookie_bytes


def _dtls12_finished_record(cid_bytes: int) -> int:
    """Encrypted Finished record (epoch 1): 12 + 12 B verify_data, protected (RFC 6347 section 4.1)."""
    return HANDSHAKE_HEADER_BYTES + VERIFY_DATA_BYTES_DTLS12 + record_overhead("1.2", cid_bytes)


def _dtls12_full(auth: str, cid_bytes: int, psk_identity_bytes: int) -> list[tuple[str, str, int]]:
    """(name, direction, bytes) of the flights of a DTLS 1.2 full handshake."""
    cid_ext = (_cid_ext(cid_bytes),) if cid_bytes else ()
    finished = _dtls12_finished_record(cid_bytes)
    if auth == "psk":  # RFC 7925 section 4.2, RFC 4279: no ServerKeyExchange without a hint
        ch = _dtls12_client_hello(cid_ext)
        server = DTLS12_RECORD_HEADER_BYTES + _dtls12_server_hello(cid_ext) + HANDSHAKE_HEADER_BYTES
        cke = DTLS12_RECORD_HEADER_BYTES + HANDSHAKE_HEADER_BYTES + 2 + psk_identity_bytes
        return [
            ("ClientHello", C2S, ch),
            ("ServerHello, ServerHelloDone", S2C, server),
            ("ClientKeyExchange, CCS, Finished", C2S, cke + CCS_RECORD_BYTES + finished),
            ("CCS, Finished", S2C, CCS_RECORD_BYTES + finished),
        ]
    if auth == "rpk_ecdhe":  # RFC 7925 section 4.4: TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, RFC 7250 RPKs
        client_exts = (
            _ext(2 + 2),  # supported_groups: secp256r1 (RFC 8422 section 5.1.1)
            _ext(2 + 2),  # signature_algorithms: ecdsa_secp256r1_sha256 (RFC 5246 section 7.4.1.4.1)
            _ext(1 + 1),  # client_certificate_type: RawPublicKey (RFC 7250 section 3)
            _ext(1 + 1),  # server_certificate_type: RawPublicKey
        ) + cid_ext
        server_exts = (_ext(1), _ext(1)) + cid_ext  # one selected type each (RFC 7250 section 3)
        certificate = HANDSHAKE_HEADER_BYTES + 3 + RPK_SPKI_BYTES  # RFC 7250 section 3
        signature = 2 + 2 + ECDSA_DER_SIGNATURE_BYTES  # SignatureAndHashAlgorithm + sig<0..2^16-1>
        server_key_exchange = (
            HANDSHAKE_HEADER_BYTES + 1 + 2 + 1 + P256_POINT_BYTES + signature
        )  # RFC 8422 5.4
        certificate_request = HANDSHAKE_HEADER_BYTES + (1 + 1) + (2 + 2) + 2  # RFC 5246 section 7.4.4
        server = (
            DTLS12_RECORD_HEADER_BYTES
            + _dtls12_server_hello(server_exts)
            + certificate
            + server_key_exchange
            + certificate_request
            + HANDSHAKE_HEADER_BYTES
        )
        client_key_exchange = HANDSHAKE_HEADER_BYTES + 1 + P256_POINT_BYTES  # RFC 8422 section 5.7
        certificate_verify = HANDSHAKE_HEADER_BYTES + signature  # RFC 5246 section 7.4.8
        client = DTLS12_RECORD_HEADER_BYTES + certificate + client_key_exchange + certificate_verify
        return [
            ("ClientHello", C2S, _dtls12_client_hello(client_exts)),
            ("ServerHello..ServerHelloDone", S2C, server),
            ("Certificate..Finished", C2S, client + CCS_RECORD_BYTES + finished),
            ("CCS, Finished", S2C, CCS_RECORD_BYTES + finished),
        ]
    raise ValueError(f"no DTLS 1.2 handshake {auth!r}; known: 'psk', 'rpk_ecdhe', 'resumption'")


def _dtls12_resumption(cid_bytes: int) -> list[tuple[str, str, int]]:
    """Abbreviated handshake resuming a session ID (RFC 5246 section 7.3 Fig. 2 over RFC 6347)."""
    cid_ext = (_cid_ext(cid_bytes),) if cid_bytes else ()
    finished = _dtls12_finished_record(cid_bytes)
    server_hello = DTLS12_RECORD_HEADER_BYTES + _dtls12_server_hello(cid_ext)
    return [
        ("ClientHello(session_id)", C2S, _dtls12_client_hello(cid_ext, DTLS12_SESSION_ID_BYTES)),
        ("ServerHello, CCS, Finished", S2C, server_hello + CCS_RECORD_BYTES + finished),
        ("CCS, Finished", C2S, CCS_RECORD_BYTES + finished),
    ]


def handshake_model(
    version: str,
    auth: str,
    *,
    cid: bool = True,
    cookie: bool = False,
    cookie_bytes: int = COOKIE_BYTES,
    psk_identity_bytes: int = PSK_IDENTITY_BYTES,
) -> Handshake:
    """A DTLS handshake: flights, round trips and sources.

    auth: "psk", "psk_ecdhe" (1.3 only), "rpk_ecdhe", "resumption".
    cid: negotiate a 1 B Connection ID (RFC 9146 / RFC 9147 section 9).
    cookie: the server first answers the ClientHello with a cookie
    (HelloVerifyRequest, RFC 6347 section 4.2.1; HelloRetryRequest with a cookie
    extension, RFC 9147 section 5.1) and the client repeats its ClientHello with
    the cookie: two more flights and one more round trip.
    DTLS 1.3 full and resumed handshakes take 1 RTT (3 flights; the server's ACK
    of flight #3 is not counted); DTLS 1.2 full 2 RTT (4 flights), resumed 1 RTT.
    DTLS 1.3 resumption (A): the [LWIG] PSK handshake (1 B ticket identity).
    """
    _check_version(version)
    cid_bytes = 1 if cid else 0
    if version == "1.3":
        key = "psk" if auth == "resumption" else auth
        table = _DTLS13_CID if cid else _DTLS13_NO_CID
        if key not in table:
            raise ValueError(f"no DTLS 1.3 handshake {auth!r}; known: {sorted(table) + ['resumption']}")
        f1, f2, f3 = table[key]
        spec = [
            ("ClientHello", C2S, f1),
            ("ServerHello..Finished", S2C, f2),
            ("Finished" if key != "rpk_ecdhe" else "Certificate..Finished", C2S, f3),
        ]
        rtt = 1
        source = _LWIG + (" Fig. 1 (CID)" if cid else " Fig. 2 (no CID)")
        if key == "rpk_ecdhe":
            source += "; uncompressed RPKs (+32 B in flights #2, #3), derived"
        published = _DTLS13_PUBLISHED_TOTALS_CID.get(key) if cid else None
        retry = (
            "HelloRetryRequest(cookie)",
            _dtls13_hello_retry_request(cookie_bytes),
            _ext(2 + cookie_bytes),
        )
    else:
        if psk_identity_bytes < 0:
            raise ValueError("psk_identity_bytes must be >= 0")
        if auth == "resumption":
            spec, rtt = _dtls12_resumption(cid_bytes), 1
        else:
            spec, rtt = _dtls12_full(auth, cid_bytes, psk_identity_bytes), 2
        source = "RFC 6347, RFC 7925, RFC 9146; (A) assumptions in dtls.py"
        published = None
        retry = ("HelloVerifyRequest", hello_verify_request_bytes(cookie_bytes), cookie_bytes)
    flights = [Flight(name, direction, size) for name, direction, size in spec]
    if cookie:
        name, size, extra = retry
        first = flights[0]
        flights[:1] = [
            first,
            Flight(name, S2C, size),
            Flight(first.name + " with cookie", C2S, first.bytes + extra),
        ]
        rtt += 1
    return Handshake("DTLS", version, auth, tuple(flights), rtt, source, None if cookie else published)


def handshake(version: str, auth: str, **options) -> tuple[Flight, ...]:
    """Flights of a DTLS handshake (see `handshake_model` for `auth` and options)."""
    return handshake_model(version, auth, **options).flights


def flight_count(version: str, auth: str, **options) -> int:
    """Number of flights of a DTLS handshake (RFC 6347 section 4.2.4, RFC 9147 section 5.8)."""
    return len(handshake(version, auth, **options))


def round_trips(version: str, auth: str, **options) -> int:
    """Round trips before the client may send application data."""
    return handshake_model(version, auth, **options).round_trips


def handshake_after_nat_rebinding(
    version: str,
    *,
    cid: bool,
    resumption: bool = True,
    auth: str = "psk",
    cookie: bool = False,
) -> Handshake | None:
    """What a device must do after its NAT binding changed (new source address/port).

    With a CID the peer keeps matching records to the association: no handshake
    (RFC 9146 section 1, RFC 9147 section 9) -> None. Without one the server
    cannot find the session: an abbreviated handshake if a session is cached
    (`resumption`), else a full `auth` handshake.
    """
    if cid:
        return None
    return handshake_model(version, "resumption" if resumption else auth, cid=False, cookie=cookie)


# ---------------------------------------------------------------------------
# Retransmission timer (RFC 6347 section 4.2.4.1, RFC 9147 section 5.8.2)
# ---------------------------------------------------------------------------


def flight_timeouts(
    n: int,
    initial_s: float = INITIAL_TIMEOUT_S,
    max_s: float = MAX_TIMEOUT_S,
) -> tuple[float, ...]:
    """The first `n` retransmission timer values in s for one flight: initial 1 s, doubled
    at each retransmission, capped at 60 s (RFC 6347 section 4.2.4.1):
    1, 2, 4, 8, 16, 32, 60, 60, ..."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if initial_s <= 0 or max_s < initial_s:
        raise ValueError("need 0 < initial_s <= max_s")
    return tuple(min(initial_s * 2**i, max_s) for i in range(n))


def flight_wait_s(
    transmissions: int, initial_s: float = INITIAL_TIMEOUT_S, max_s: float = MAX_TIMEOUT_S
) -> float:
    """Time in s from the first transmission of a flight until the timer of transmission
    number `transmissions` expires with no answer (sum of `flight_timeouts`)."""
    return sum(flight_timeouts(transmissions, initial_s, max_s))
