"""Tests for simulation.protocols.http against Python's http.client (request bytes written to a
socket pair, responses parsed), http.server (response bytes), email.utils (dates) and the
RFC 9110 examples."""

import email.utils
import io
from http.client import HTTPResponse
from http.server import BaseHTTPRequestHandler

import pytest

from simulation.protocols import http
from simulation.validation.stacks import http_client_request

HOST = "fw.example.com"


@pytest.mark.parametrize(
    "kwargs, fields",
    [
        ({}, [("Connection", "close")]),
        ({"byte_range": (0, 1023)}, [("Range", "bytes=0-1023"), ("Connection", "close")]),
        ({"byte_range": (4096, None), "connection": None}, [("Range", "bytes=4096-")]),
        (
            {"byte_range": (1024, 2047), "user_agent": "iotsu/0.1", "connection": "keep-alive"},
            [("User-Agent", "iotsu/0.1"), ("Range", "bytes=1024-2047"), ("Connection", "keep-alive")],
        ),
        ({"extra_headers": (("Accept", "*/*"),)}, [("Connection", "close"), ("Accept", "*/*")]),
    ],
)
def test_get_request_matches_http_client(kwargs, fields):
    ours = http.get_request("/fw/image.bin", HOST, **kwargs)
    assert ours == http_client_request("/fw/image.bin", HOST, fields)


def test_get_request_byte_count():
    req = http.get_request("/fw.bin", HOST, byte_range=(0, 1023))
    assert req.endswith(b"\r\n\r\n") and req.count(b"\r\n") == 5
    assert len(req) == 86  # the example in the docstring
    assert http.get_request("/fw.bin", "fw.example.com:8080") == http_client_request(
        "/fw.bin", "fw.example.com:8080", [("Connection", "close")]
    )


class Handler(BaseHTTPRequestHandler):
    """http.server's response writer with a fixed Server and Date."""

    protocol_version = "HTTP/1.1"

    def version_string(self):
        return http.DEFAULT_SERVER

    def date_time_string(self, timestamp=None):
        return http.EXAMPLE_DATE

    def log_message(self, *args):
        pass


def http_server_head(status, fields) -> bytes:
    h = Handler.__new__(Handler)
    h.wfile, h.request_version, h.requestline = io.BytesIO(), "HTTP/1.1", "GET / HTTP/1.1"
    h.command, h.client_address, h.close_connection = "GET", ("127.0.0.1", 0), False
    h.send_response(status)
    for name, value in fields:
        h.send_header(name, value)
    h.end_headers()
    return h.wfile.getvalue()


def test_ok_response_matches_http_server():
    ours = http.ok_response_head(380_000)
    theirs = http_server_head(
        200, [("Content-Type", "application/octet-stream"), ("Content-Length", "380000")]
    )
    assert ours == theirs


def test_partial_response_matches_http_server():
    ours = http.partial_response_head(1024, 2047, 380_000, connection="close")
    theirs = http_server_head(
        206,
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "1024"),
            ("Content-Range", "bytes 1024-2047/380000"),
            ("Connection", "close"),
        ],
    )
    assert ours == theirs


class FakeSocket:
    def __init__(self, data):
        self.data = data

    def makefile(self, mode):
        return io.BytesIO(self.data)


@pytest.mark.parametrize(
    "first, last, total", [(0, 0, 1), (0, 1023, 380_000), (379_904, 379_999, 380_000)]
)
def test_partial_response_is_parsed_by_http_client(first, last, total):
    body = bytes(range(256)) * 4
    body = body[: last - first + 1]
    head = http.partial_response_head(first, last, total)
    resp = HTTPResponse(FakeSocket(head + body + b"TRAILING"))
    resp.begin()
    assert (resp.status, resp.reason) == (206, "Partial Content")
    assert resp.getheader("Content-Range") == f"bytes {first}-{last}/{total}"
    assert int(resp.getheader("Content-Length")) == len(body)
    assert resp.getheader("Date") == http.EXAMPLE_DATE
    assert resp.read() == body  # Content-Length delimits the body exactly


def test_minimal_response_without_optional_fields():
    head = http.response_head(200, 5, content_type=None, date=None, server=None)
    assert head == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    resp = HTTPResponse(FakeSocket(head + b"hello"))
    resp.begin()
    assert resp.read() == b"hello"


def test_rfc9110_examples():
    # section 5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http.imf_fixdate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT" == http.EXAMPLE_DATE
    # section 14.1.2 / 14.2: the first 500 bytes, from byte 9500 on
    assert http.range_value(0, 499) == "bytes=0-499"
    assert http.range_value(9500) == "bytes=9500-"
    # section 14.4: "Content-Range: bytes 42-1233/1234", unknown length "bytes 42-1233/*"
    assert http.content_range_value(42, 1233, 1234) == "bytes 42-1233/1234"
    assert http.content_range_value(42, 1233, None) == "bytes 42-1233/*"


@pytest.mark.parametrize("t", [0, 784111777, 951782400, 1_700_000_000, 4_102_444_799])
def test_imf_fixdate_matches_email_utils(t):
    assert http.imf_fixdate(t) == email.utils.formatdate(t, usegmt=True)
    assert len(http.imf_fixdate(t)) == http.IMF_FIXDATE_BYTES


def test_range_requests_and_download_bytes():
    assert http.range_requests(10, 4) == ((0, 3), (4, 7), (8, 9))
    up, down = http.ranged_download_bytes("/fw.bin", HOST, 10, 4)
    heads = [http.partial_response_head(a, b, 10) for a, b in http.range_requests(10, 4)]
    assert down == 10 + sum(len(h) for h in heads)
    assert up == sum(
        len(http.get_request("/fw.bin", HOST, byte_range=r)) for r in http.range_requests(10, 4)
    )


def test_invalid_values():
    with pytest.raises(ValueError):
        http.get_request("/a", "host\r\nX: y")
    with pytest.raises(ValueError):
        http.range_value(10, 5)
    with pytest.raises(ValueError):
        http.content_range_value(0, 10, 10)
    with pytest.raises(ValueError):
        http.response_head(404, 0)
