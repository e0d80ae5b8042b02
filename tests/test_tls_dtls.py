"""Tests for simulation.protocols.tls and .dtls: record overhead against OpenSSL (Python's
ssl module) and the published example records, handshake flights against the published
totals and against byte-level encodings built here from the RFC structures, flight
order and round trips against a real OpenSSL handshake, timers against RFC 6347."""

import ssl
import struct

import pytest

from simulation.protocols import dtls, tls
from simulation.protocols.tls import CLIENT_TO_SERVER as C2S
from simulation.protocols.tls import SERVER_TO_CLIENT as S2C

# A self-signed P-256 test certificate (CN=test.invalid), valid until 2126.
KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgiRe5PRu5NobXh0IA
am0VUr8CAeXeyNkfj/V/7S3tKOahRANCAAThVmspN1esZ5YFfId4Mp7iISdwy81i
nAAXLGLoyJa9JWxcdcEq+7DIpQV33W/G+SoOCZ7VxYRn5MPO5V/oGnfj
-----END PRIVATE KEY-----
"""
CERT_PEM = """-----BEGIN CERTIFICATE-----
MIIBhjCCASugAwIBAgIUTp/b44SbF3iBPn5S3gpziayR+LswCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMdGVzdC5pbnZhbGlkMCAXDTI2MTEyODE2NDUwOVoYDzIxMjYx
MTA0MTY0NTA5WjAXMRUwEwYDVQQDDAx0ZXN0LmludmFsaWQwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAThVmspN1esZ5YFfId4Mp7iISdwy81inAAXLGLoyJa9JWxc
dcEq+7DIpQV33W/G+SoOCZ7VxYRn5MPO5V/oGnfjo1MwUTAdBgNVHQ4EFgQUOSsu
HvpmcZgyDt127lf9ifQyu4gwHwYDVR0jBBgwFoAUOSsuHvpmcZgyDt127lf9ifQy
u4gwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEA2Xxvb1XIXjVa
4syfIT2WonhD8Nn8aRfyOd/pZXPnxYECIQDh9XzkX+iZ/k+CjxcS1+HQwlrpbH/n
rn42lM6i/ZhBwQ==
-----END CERTIFICATE-----
"""

VERSION = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


# ---------------------------------------------------------------------------
# A real OpenSSL handshake over memory BIOs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    (d / "key.pem").write_text(KEY_PEM)
    (d / "cert.pem").write_text(CERT_PEM)
    return d / "cert.pem", d / "key.pem"


def contexts(cert_files, version, ciphers=None):
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*cert_files)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    for ctx in (server, client):
        ctx.minimum_version = ctx.maximum_version = VERSION[version]
        if ciphers:
            ctx.set_ciphers(ciphers)
    return server, client


def run_handshake(server_ctx, client_ctx, session=None):
    """Pump a handshake; returns (client, server, bios, flight directions, round trips):
    round trips = server flights the client received before its handshake completed."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False, session=session)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    directions, received, rtt = [], 0, None
    client_done = server_done = False
    for _ in range(10):
        if not client_done:
            try:
                client.do_handshake()
                client_done, rtt = True, received
            except ssl.SSLWantReadError:
                pass
        data = c_out.read()
        if data:
            directions.append(C2S)
            s_in.write(data)
        if not server_done:
            try:
                server.do_handshake()
                server_done = True
            except ssl.SSLWantReadError:
                pass
        data = s_out.read()
        if data:
            directions.append(S2C)
            c_in.write(data)
            received += 1
        if client_done and server_done and not data:
            break
    assert client_done and server_done
    return client, server, (c_in, c_out, s_in, s_out), directions, rtt


@pytest.mark.parametrize(
    "version, ciphers, tag",
    [
        ("1.2", "ECDHE-ECDSA-AES128-CCM8", tls.CCM8_TAG_BYTES),  # the calibration suite
        ("1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", tls.GCM_TAG_BYTES),
        ("1.3", None, tls.GCM_TAG_BYTES),  # Python's ssl cannot select TLS 1.3 CCM_8
    ],
)
def test_record_overhead_matches_openssl(cert_files, version, ciphers, tag):
    client, _, (_, c_out, _, _), _, _ = run_handshake(*contexts(cert_files, version, ciphers))
    if ciphers:
        assert client.cipher()[0] == ciphers
    for n in (1, 100, 16384, 16385, 40000):
        client.write(b"x" * n)
        assert len(c_out.read()) == tls.protected_bytes(n, version, tag_bytes=tag)
    assert tls.records(40000) == 3


def test_record_overhead_calibration():
    # calibration row "DTLS 1.3 / TLS 1.2 / TLS 1.3 record overhead": 11 / 21 / 14 B
    assert tls.record_overhead("1.2") == 21
    assert tls.record_overhead("1.3") == 14
    assert tls.protected_bytes(0, "1.3") == 0
    assert tls.protected_bytes(100, "1.2", max_fragment=64) == 100 + 2 * 21


# Example records from draft-ietf-lwig-security-protocol-comparison section 3 (6 B plaintext
# "ae a0 15 56 67 92"; the DTLS 1.2 record is RFC 7400 Figure 16).
PUBLISHED_RECORDS = {
    "TLS 1.2": "17 03 03 00 16 00 00 00 00 00 00 00 05 ae a0 15 56 67 92 4d ff 8a 24 e4 cb 35 b9",
    "TLS 1.3": "17 03 03 00 16 ae a0 15 56 67 92 ec 4d ff 8a 24 e4 cb 35 b9",
    "DTLS 1.2": "17 fe fd 00 01 00 00 00 00 00 05 00 16 00 01 00 00 00 00 00 05"
    " ae a0 15 56 67 92 4d ff 8a 24 e4 cb 35 b9",
    "DTLS 1.3": "21 05 ae a0 15 56 67 92 ec 4d ff 8a 24 e4 cb 35 b9",
    "DTLS 1.3 CID": "31 42 05 ae a0 15 56 67 92 ec 4d ff 8a 24 e4 cb 35 b9",
}


@pytest.mark.parametrize(
    "name, ours",
    [
        ("TLS 1.2", tls.record_overhead("1.2")),
        ("TLS 1.3", tls.record_overhead("1.3")),
        ("DTLS 1.2", dtls.record_overhead("1.2")),
        ("DTLS 1.3", dtls.record_overhead("1.3")),
        ("DTLS 1.3 CID", dtls.record_overhead("1.3", cid_bytes=1)),
    ],
)
def test_record_overhead_matches_published_example_records(name, ours):
    assert len(bytes.fromhex(PUBLISHED_RECORDS[name])) - 6 == ours


def test_dtls12_cid_record_follows_rfc9146():
    """RFC 9146 section 4: tls12_cid records carry DTLSInnerPlaintext (content + real_type)."""
    cid, plaintext = b"\x42", b"\xae\xa0\x15\x56\x67\x92"
    inner = plaintext + bytes([23])  # real_type = application_data, no padding
    enc = b"\x00" * 8 + inner + b"\x00" * 8  # explicit nonce + ciphertext + CCM_8 tag
    record = struct.pack("!BHH6s", 25, 0xFEFD, 1, b"\x00" * 6) + cid + struct.pack("!H", len(enc)) + enc
    assert dtls.record_overhead("1.2", cid_bytes=1) == len(record) - len(plaintext) == 31
    # The calibration's 30 B ([LWIG] section 3.2.3) predates the inner content type.
    assert dtls.record_overhead("1.2", 1) == dtls.PUBLISHED_DTLS12_CID1_OVERHEAD + 1
    assert dtls.record_overhead("1.2", 4) == 29 + 4 + 1
    assert dtls.record_overhead("1.3", 0, seq_bytes=2, length_field=True) == 11 + 3


# ---------------------------------------------------------------------------
# TLS handshakes
# ---------------------------------------------------------------------------

# draft-ietf-lwig-security-protocol-comparison section 2.1 Figure 2 (flights #1, #2, #3)
LWIG_TLS13 = {"psk": (113, 117, 50), "psk_ecdhe": (163, 157, 50), "rpk_ecdhe": (129, 322, 194)}
CALIBRATION_TLS13_TOTALS = {"psk": 280, "psk_ecdhe": 370, "rpk_ecdhe": 645}


@pytest.mark.parametrize("auth", sorted(LWIG_TLS13))
def test_tls13_flights_are_the_published_ones(auth):
    flights = tls.handshake("1.3", auth)
    assert tuple(f.bytes for f in flights) == LWIG_TLS13[auth]
    assert [f.direction for f in flights] == [C2S, S2C, C2S]
    assert sum(f.bytes for f in flights) == CALIBRATION_TLS13_TOTALS[auth]
    assert tls.handshake_model("1.3", auth).published_total == CALIBRATION_TLS13_TOTALS[auth]


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("auth, total", [("x509_low", 6500), ("x509_high", 10000)])
def test_certificate_handshakes_sum_to_the_calibration_totals(version, auth, total):
    model = tls.handshake_model(version, auth)
    assert model.total_bytes == total == model.published_total
    assert model.flights[1].direction == S2C and model.flights[1].bytes == max(
        f.bytes for f in model.flights
    )
    # the client's certificate is only in the mutual (AWS IoT) case
    assert model.bytes_in(C2S) > 800 if auth == "x509_high" else model.bytes_in(C2S) < 400


@pytest.mark.parametrize(
    "version, auth, resume",
    [
        ("1.2", "x509_low", False),
        ("1.3", "x509_low", False),
        ("1.2", "resumption", True),
        ("1.3", "resumption", True),
    ],
)
def test_flight_order_and_round_trips_match_openssl(cert_files, version, auth, resume):
    server_ctx, client_ctx = contexts(cert_files, version)
    session = None
    if resume:
        client, server, (c_in, _, _, s_out), _, _ = run_handshake(server_ctx, client_ctx)
        server.write(b"y")  # lets the TLS 1.3 client read the NewSessionTicket
        c_in.write(s_out.read())
        client.read()
        session = client.session
    client, _, _, directions, rtt = run_handshake(server_ctx, client_ctx, session)
    assert client.session_reused == resume
    model = tls.handshake_model(version, auth)
    n = len(model.flights)
    # TLS 1.3 servers send NewSessionTicket after the handshake: not a handshake flight
    assert directions[:n] == [f.direction for f in model.flights]
    assert rtt == model.round_trips == tls.round_trips(version, auth)


def _tls_record(content_type, body):
    return struct.pack("!BHH", content_type, 0x0303, len(body)) + body


def _tls_hs(msg_type, body):
    return struct.pack("!B", msg_type) + len(body).to_bytes(3, "big") + body


def _aead12(plaintext):  # explicit nonce + ciphertext + CCM_8 tag
    return b"\x00" * 8 + plaintext + b"\x00" * 8


def test_tls12_psk_flights_match_an_rfc_encoding():
    """RFC 5246 section 7.4 / RFC 4279 structures encoded here byte by byte."""
    client_hello = _tls_hs(1, b"\x03\x03" + b"\x00" * 32 + b"\x00" + b"\x00\x02\xc0\xa8" + b"\x01\x00")
    server_hello = _tls_hs(
        2, b"\x03\x03" + b"\x00" * 32 + b"\x20" + b"\x00" * 32 + b"\xc0\xa8" + b"\x00"
    )
    done = _tls_hs(14, b"")
    cke = _tls_hs(16, b"\x00\x01" + b"I")  # psk_identity<0..2^16-1>, 1 B
    ccs = _tls_record(20, b"\x01")
    finished = _tls_record(22, _aead12(_tls_hs(20, b"\x00" * 12)))
    expected = [
        len(_tls_record(22, client_hello)),
        len(_tls_record(22, server_hello + done)),
        len(_tls_record(22, cke) + ccs + finished),
        len(ccs + finished),
    ]
    flights = tls.handshake("1.2", "psk")
    assert [f.bytes for f in flights] == expected
    assert [f.direction for f in flights] == [C2S, S2C, C2S, S2C]
    resumed = tls.handshake("1.2", "resumption")
    ch_with_id = _tls_hs(
        1, b"\x03\x03" + b"\x00" * 32 + b"\x20" + b"\x00" * 32 + b"\x00\x02\xc0\xa8" + b"\x01\x00"
    )
    assert [f.bytes for f in resumed] == [
        len(_tls_record(22, ch_with_id)),
        len(_tls_record(22, server_hello) + ccs + finished),
        len(ccs + finished),
    ]


def test_unknown_tls_handshake():
    with pytest.raises(ValueError):
        tls.handshake("1.2", "psk_ecdhe")
    with pytest.raises(ValueError):
        tls.record_overhead("1.1")


# ---------------------------------------------------------------------------
# DTLS handshakes
# ---------------------------------------------------------------------------

# draft-ietf-lwig-security-protocol-comparison section 2.1 Figure 1 (with a 1 B CID)
LWIG_DTLS13_CID = {"psk": (136, 156, 59), "psk_ecdhe": (186, 196, 59), "rpk_ecdhe": (152, 385, 219)}
CALIBRATION_DTLS13_TOTALS = {"psk": 351, "psk_ecdhe": 441, "rpk_ecdhe": 820}


@pytest.mark.parametrize("auth", sorted(LWIG_DTLS13_CID))
def test_dtls13_flights_sum_to_the_calibration_totals(auth):
    model = dtls.handshake_model("1.3", auth, cid=True)
    flights = [f.bytes for f in model.flights]
    assert sum(flights) == CALIBRATION_DTLS13_TOTALS[auth] == model.published_total
    assert [f.direction for f in model.flights] == [C2S, S2C, C2S]
    assert model.round_trips == 1
    published = LWIG_DTLS13_CID[auth]
    if auth == "rpk_ecdhe":  # 820 = the published 756 with two uncompressed RPKs (91 - 59 = 32 B each)
        assert flights == [published[0], published[1] + 32, published[2] + 32]
    else:
        assert tuple(flights) == published


def test_dtls13_without_cid_is_figure_2():
    assert [f.bytes for f in dtls.handshake("1.3", "psk", cid=False)] == [128, 143, 56]
    assert [f.bytes for f in dtls.handshake("1.3", "psk_ecdhe", cid=False)] == [178, 183, 56]


def test_dtls_client_hello_shares_the_published_field_sizes():
    # [LWIG] DTLS 1.3 PSK flight #1 = 136 B; its extensions are 2 (length) + 6 (psk modes)
    # + 48 (pre_shared_key) + 7 (supported_versions) + 6 (CID). What remains is the
    # DTLS ClientHello skeleton shared with DTLS 1.2 (one suite, no extensions).
    assert dtls.handshake("1.2", "psk", cid=False)[0].bytes == 136 - (2 + 6 + 48 + 7 + 6) == 67


def _dtls_record(content_type, body, epoch=0, cid=b""):
    header = struct.pack("!BHH6s", content_type, 0xFEFD, epoch, b"\x00" * 6)
    return header + cid + struct.pack("!H", len(body)) + body


def _dtls_hs(msg_type, body):
    n = len(body).to_bytes(3, "big")
    # msg_type, length, message_seq, fragment_offset, fragment_length (RFC 6347 section 4.2.2)
    return struct.pack("!B", msg_type) + n + b"\x00\x00" + b"\x00\x00\x00" + n + body


def _ext(ext_type, data):
    return struct.pack("!HH", ext_type, len(data)) + data


def _exts(*exts):
    data = b"".join(exts)
    return struct.pack("!H", len(data)) + data if exts else b""


def _dtls_flights_by_encoding(auth, cid):
    """DTLS 1.2 flights encoded from RFC 6347 / 7250 / 8422 / 9146 structures."""
    cid_ext = (_ext(54, b"\x01\x42"),) if cid else ()
    cid_bytes = b"\x42" if cid else b""
    suite = b"\xc0\xa8" if auth == "psk" else b"\xc0\xae"
    hello_prefix = b"\xfe\xfd" + b"\x00" * 32

    def finished():
        inner = _dtls_hs(20, b"\x00" * 12) + (b"\x16" if cid else b"")
        return _dtls_record(
            25 if cid else 22, b"\x00" * 8 + inner + b"\x00" * 8, epoch=1, cid=cid_bytes
        )

    ccs = _dtls_record(20, b"\x01")
    if auth == "psk":
        client_exts, server_exts = cid_ext, cid_ext
    else:
        client_exts = (
            _ext(10, b"\x00\x02\x00\x17"),
            _ext(13, b"\x00\x02\x04\x03"),
            _ext(19, b"\x01\x02"),
            _ext(20, b"\x01\x02"),
        ) + cid_ext
        server_exts = (_ext(19, b"\x02"), _ext(20, b"\x02")) + cid_ext
    client_hello = _dtls_hs(
        1, hello_prefix + b"\x00" + b"\x00" + b"\x00\x02" + suite + b"\x01\x00" + _exts(*client_exts)
    )
    server_hello = _dtls_hs(
        2, hello_prefix + b"\x20" + b"\x00" * 32 + suite + b"\x00" + _exts(*server_exts)
    )
    done = _dtls_hs(14, b"")
    if auth == "psk":
        server = server_hello + done
        client = _dtls_record(22, _dtls_hs(16, b"\x00\x01" + b"I"))
    else:
        rpk = b"\x30\x59" + b"\x00" * 89  # 91 B SubjectPublicKeyInfo
        certificate = _dtls_hs(11, len(rpk).to_bytes(3, "big") + rpk)  # RFC 7250 section 3
        signature = b"\x04\x03" + struct.pack("!H", 71) + b"\x30" * 71
        point = b"\x41\x04" + b"\x00" * 64
        ske = _dtls_hs(12, b"\x03\x00\x17" + point + signature)
        cert_request = _dtls_hs(13, b"\x01\x40" + b"\x00\x02\x04\x03" + b"\x00\x00")
        server = server_hello + certificate + ske + cert_request + done
        client = _dtls_record(22, certificate + _dtls_hs(16, point) + _dtls_hs(15, signature))
    return [
        len(_dtls_record(22, client_hello)),
        len(_dtls_record(22, server)),
        len(client + ccs + finished()),
        len(ccs + finished()),
    ]


@pytest.mark.parametrize("auth", ["psk", "rpk_ecdhe"])
@pytest.mark.parametrize("cid", [False, True])
def test_dtls12_flights_match_an_rfc_encoding(auth, cid):
    model = dtls.handshake_model("1.2", auth, cid=cid)
    assert [f.bytes for f in model.flights] == _dtls_flights_by_encoding(auth, cid)
    assert [f.direction for f in model.flights] == [C2S, S2C, C2S, S2C]
    assert model.round_trips == 2


def test_hello_verify_request_rfc6347_4_2_1():
    cookie = b"\x00" * 32
    hvr = _dtls_record(22, _dtls_hs(3, b"\xfe\xfd" + bytes([len(cookie)]) + cookie))
    assert dtls.hello_verify_request_bytes(32) == len(hvr) == 60


@pytest.mark.parametrize(
    "version, auth, flights, rtt",
    [
        ("1.2", "rpk_ecdhe", 6, 3),  # RFC 6347 section 4.2.4 Figure 1: flights 1-6
        ("1.2", "psk", 6, 3),
        ("1.2", "resumption", 5, 2),
        ("1.3", "psk", 5, 2),  # RFC 9147 section 5.1: HelloRetryRequest with a cookie
    ],
)
def test_cookie_exchange_adds_two_flights_and_a_round_trip(version, auth, flights, rtt):
    plain = dtls.handshake_model(version, auth, cid=False)
    model = dtls.handshake_model(version, auth, cid=False, cookie=True)
    assert len(model.flights) == flights == dtls.flight_count(version, auth, cid=False, cookie=True)
    assert model.round_trips == rtt == plain.round_trips + 1
    first, retry, second = model.flights[:3]
    assert (first.direction, retry.direction, second.direction) == (C2S, S2C, C2S)
    if version == "1.2":
        assert retry.bytes == 60 and second.bytes == first.bytes + 32  # cookie<0..2^8-1> filled
    else:
        assert second.bytes == first.bytes + 4 + 2 + 32  # cookie extension
    assert model.flights[3:] == plain.flights[1:]


def test_dtls12_abbreviated_handshake_rfc6347_figure_2():
    flights = dtls.handshake("1.2", "resumption", cid=False)
    assert [f.direction for f in flights] == [C2S, S2C, C2S]
    assert dtls.round_trips("1.2", "resumption", cid=False) == 1


def test_nat_rebinding_needs_no_handshake_with_cid():
    assert dtls.handshake_after_nat_rebinding("1.2", cid=True) is None
    assert dtls.handshake_after_nat_rebinding("1.3", cid=True) is None
    resumed = dtls.handshake_after_nat_rebinding("1.2", cid=False)
    assert resumed.auth == "resumption" and resumed.round_trips == 1
    full = dtls.handshake_after_nat_rebinding("1.2", cid=False, resumption=False, auth="rpk_ecdhe")
    assert full.round_trips == 2 and full.total_bytes > resumed.total_bytes


def test_flight_timeouts_rfc6347_4_2_4_1():
    assert dtls.flight_timeouts(9) == (1, 2, 4, 8, 16, 32, 60, 60, 60)
    assert dtls.flight_timeouts(0) == ()
    assert dtls.flight_wait_s(6) == 63.0
    assert dtls.flight_timeouts(3, initial_s=2.0) == (2, 4, 8)


def test_unknown_dtls_handshake():
    with pytest.raises(ValueError):
        dtls.handshake("1.2", "psk_ecdhe")
    with pytest.raises(ValueError):
        dtls.handshake("1.3", "x509")
    with pytest.raises(ValueError):
        dtls.record_overhead("1.0")
