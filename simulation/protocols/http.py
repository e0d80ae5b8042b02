"""HTTP/1.1 request and response header bytes for (ranged) firmware downloads (pure functions).

References:
    RFC 9110 -- HTTP Semantics (section 5.6.7 IMF-fixdate, section 6.6.1 Date,
                section 7.2 Host, section 8.3 Content-Type, section 8.6
                Content-Length, section 10.1.5 User-Agent, section 10.2.4
                Server, section 14.1.2 byte ranges, section 14.2 Range, section
                14.4 Content-Range, section 15.3.1 200, section 15.3.7 206)
    RFC 9112 -- HTTP/1.1 (section 2.1 message format, section 3 request line,
                section 4 status line, section 5 field lines, section 9.6 close)
    RFC 2046 -- section 4.5.1 application/octet-stream

Heads are returned as exact `bytes`, CRLFs included (field lines "Name: value"
with one space, RFC 9112 section 5). Sizes are in bytes. Numbers and strings
nobody published are marked "(A) assumption".
"""

from __future__ import annotations

import time

CRLF = b"\r\n"
HTTP_VERSION = "HTTP/1.1"  # RFC 9112 section 2.3
REASON_PHRASES = {
    200: "OK",  # RFC 9110 section 15.3.1
    206: "Partial Content",  # RFC 9110 section 15.3.7
    416: "Range Not Satisfiable",  # RFC 9110 section 15.5.17
}
# (A) assumption: the image is served as application/octet-stream (RFC 2046 section 4.5.1).
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# (A) assumption: presigned-URL downloads from AWS IoT OTA (calibration "Update
# managers") are served by S3, which names itself "AmazonS3". Real S3 responses
# also carry ETag, Last-Modified, x-amz-* fields: add them with `extra_headers`.
DEFAULT_SERVER = "AmazonS3"
# RFC 9110 section 5.6.7 example. Every IMF-fixdate is 29 B, so any date gives the same sizes.
EXAMPLE_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
IMF_FIXDATE_BYTES = 29
# (A) assumption: the device closes the connection after each download (RFC 9112 section 9.6).
DEFAULT_CONNECTION = "close"

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def imf_fixdate(epoch_s: float) -> str:
    """HTTP date in IMF-fixdate form, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (29 B)
    (RFC 9110 section 5.6.7)."""
    t = time.gmtime(epoch_s)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def range_value(first: int, last: int | None = None) -> str:
    """Range field value for one byte range: "bytes=first-last", or "bytes=first-"
    to the end; positions are inclusive and 0-based (RFC 9110 sections 14.1.2, 14.2)."""
    if first < 0 or (last is not None and last < first):
        raise ValueError(f"invalid byte range {first}-{last}")
    return f"bytes={first}-" + ("" if last is None else str(last))


def content_range_value(first: int, last: int, complete_length: int | None) -> str:
    """Content-Range value "bytes first-last/complete" ("*" if unknown) (RFC 9110 section 14.4)."""
    if first < 0 or last < first or (complete_length is not None and last >= complete_length):
        raise ValueError(f"invalid range {first}-{last}/{complete_length}")
    total = "*" if complete_length is None else str(complete_length)
    return f"bytes {first}-{last}/{total}"


def _field(name: str, value: str) -> bytes:
    """One field line "Name: value" CRLF (RFC 9112 section 5)."""
    if any(c in value for c in "\r\n\0") or any(c in name for c in " :\r\n"):
        raise ValueError(f"invalid header field {name!r}: {value!r}")
    return f"{name}: {value}".encode("latin-1") + CRLF


def get_request(
    path: str,
    host: str,
    *,
    byte_range: tuple[int, int | None] | None = None,
    user_agent: str | None = None,
    connection: str | None = DEFAULT_CONNECTION,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """Exact bytes of `GET path HTTP/1.1` and its header section (RFC 9112 section 3).

    Fields in order: Host (RFC 9110 section 7.2; "name:port" for a non-default
    port), User-Agent if given (section 10.1.5), Range if `byte_range` =
    (first, last or None) (section 14.2), Connection if given, extras; then the
    empty line. E.g. GET /fw.bin, Host fw.example.com, Range 0-1023: 86 B.
    """
    if not path.startswith("/") or any(c in path for c in " \r\n"):
        raise ValueError(f"path must be an origin-form starting with '/', got {path!r}")
    head = f"GET {path} {HTTP_VERSION}".encode("ascii") + CRLF + _field("Host", host)
    if user_agent is not None:
        head += _field("User-Agent", user_agent)
    if byte_range is not None:
        head += _field("Range", range_value(*byte_range))
    if connection is not None:
        head += _field("Connection", connection)
    for name, value in extra_headers:
        head += _field(name, value)
    return head + CRLF


def response_head(
    status: int,
    content_length: int,
    *,
    content_type: str | None = DEFAULT_CONTENT_TYPE,
    content_range: str | None = None,
    date: str | None = EXAMPLE_DATE,
    server: str | None = DEFAULT_SERVER,
    connection: str | None = None,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """Exact bytes of a status line and header section (RFC 9112 section 4), no body.

    Fields in order (as Python's http.server writes them): Server (RFC 9110
    section 10.2.4), Date (section 6.6.1), Content-Type (section 8.3),
    Content-Length (section 8.6), Content-Range (section 14.4), Connection, extras.
    None leaves a field out.
    """
    if status not in REASON_PHRASES:
        raise ValueError(f"status must be one of {sorted(REASON_PHRASES)}, got {status}")
    if content_length < 0:
        raise ValueError(f"content_length must be >= 0, got {content_length}")
    head = f"{HTTP_VERSION} {status} {REASON_PHRASES[status]}".encode("ascii") + CRLF
    if server is not None:
        head += _field("Server", server)
    if date is not None:
        head += _field("Date", date)
    if content_type is not None:
        head += _field("Content-Type", content_type)
    head += _field("Content-Length", str(content_length))
    if content_range is not None:
        head += _field("Content-Range", content_range)
    if connection is not None:
        head += _field("Connection", connection)
    for name, value in extra_headers:
        head += _field(name, value)
    return head + CRLF


def ok_response_head(content_length: int, **fields) -> bytes:
    """200 OK head for a whole body of `content_length` bytes (RFC 9110 section 15.3.1)."""
    return response_head(200, content_length, **fields)


def partial_response_head(first: int, last: int, complete_length: int, **fields) -> bytes:
    """206 Partial Content head for bytes first..last of `complete_length`: Content-Length
    last - first + 1 and Content-Range (RFC 9110 sections 15.3.7, 14.4)."""
    return response_head(
        206,
        last - first + 1,
        content_range=content_range_value(first, last, complete_length),
        **fields,
    )


def range_requests(total_bytes: int, chunk_bytes: int) -> tuple[tuple[int, int], ...]:
    """Inclusive (first, last) ranges covering `total_bytes` in `chunk_bytes` pieces;
    only the last may be shorter (RFC 9110 section 14.1.2)."""
    if total_bytes <= 0 or chunk_bytes <= 0:
        raise ValueError("total_bytes and chunk_bytes must be > 0")
    return tuple(
        (first, min(first + chunk_bytes, total_bytes) - 1)
        for first in range(0, total_bytes, chunk_bytes)
    )


def ranged_download_bytes(
    path: str,
    host: str,
    total_bytes: int,
    chunk_bytes: int,
    *,
    request_fields: dict | None = None,
    response_fields: dict | None = None,
) -> tuple[int, int]:
    """(request bytes, response bytes) at the HTTP level for downloading `total_bytes`
    as 206 responses of `chunk_bytes` each (heads + bodies, RFC 9110 section 14).
    `request_fields` / `response_fields` are keyword arguments for `get_request` /
    `response_head`."""
    request_fields = request_fields or {}
    response_fields = response_fields or {}
    up = down = 0
    for first, last in range_requests(total_bytes, chunk_bytes):
        up += len(get_request(path, host, byte_range=(first, last), **request_fields))
        head = partial_response_head(first, last, total_bytes, **response_fields)
        down += len(head) + last - first + 1
    return up, down
