"""The CoAP exchanges of the strategies, as `ExchangeSpec`s with exact wire sizes.

Each builder names the draft's resources (`/Radio_link_status`, `/sw`, ...) and returns the
request and response of every block, sized by `coap.py` (header, token, options, payload
marker, payload, then UDP and IPv4), the application payload each carries (the CoAP
payload: image block, report, notification, version, link-format body), and the
draft-notation text shown by `--trace`.
"""
from __future__ import annotations

from functools import lru_cache, partial

import numpy as np

from simulation.protocols import coap
from simulation.transport.exchange import DEVICE, PEER, ExchangeSpec

#: RFC 9176 registration lifetime when none is given (calibration.md: 90000 s).
RD_LIFETIME_S = 90_000
VERSION_BYTES = 8          # a version string such as "1.0.1+b7" (A)
CF_CBOR = 60               # report payload format (RFC 7049 / 8949)


def _arrays(reqs, resps) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wire bytes of the requests and responses of every block, then their payload bytes."""
    return (np.array([m.wire_bytes for m in reqs]), np.array([m.wire_bytes for m in resps]),
            np.array([m.payload_len for m in reqs]), np.array([m.payload_len for m in resps]))


@lru_cache(maxsize=4096)
def _wire(req: coap.CoapMessage, resp: coap.CoapMessage) -> tuple[np.ndarray, ...]:
    return _arrays((req,), (resp,))


def _spec(initiator, arrays, **kwargs) -> ExchangeSpec:
    req_b, resp_b, req_p, resp_p = arrays
    return ExchangeSpec(initiator, req_b, resp_b, req_payload=req_p, resp_payload=resp_p,
                        **kwargs)


def _one(initiator, req: coap.CoapMessage, resp: coap.CoapMessage, text, *args,
         name) -> ExchangeSpec:
    """A one-block exchange; `text(*args, block)` gives its trace lines when asked."""
    return _spec(initiator, _wire(req, resp), trace=partial(text, *args), name=name)


def _tok(token: int) -> str:
    return f"0x{token & 0xffff:04x}"


def _rd_text(device, token, links, _block):
    query = f"ep=dev{device}&lt={RD_LIFETIME_S}"
    return (f"CoAP POST /rd?{query}, Token: {_tok(token)}, payload: {','.join(links)}",
            f"2.01 Created, Token: {_tok(token)}, Location-Path: /rd/{device:x}")


def rd_register(device: int, token: int, links: tuple[str, ...]) -> ExchangeSpec:
    """D-->M POST /rd?ep=..&lt=.. with the device's links (RFC 9176 §5, RFC 6690 link
    format), 2.01 Created."""
    query = (f"ep=dev{device}", f"lt={RD_LIFETIME_S}")
    req = coap.post("/rd", coap.link_format_bytes(list(links)), queries=query,
                    content_format=coap.CF_LINK_FORMAT)
    resp = coap.response("2.01", 0, location_path=("rd", f"{device:x}"))
    return _one(DEVICE, req, resp, _rd_text, device, token, links, name="rd-register")


def _observe_text(path, token, payload, _block):
    return (f"CoAP GET {path}, Token: 0x{token & 0xff:02x}, Observe: 0",
            f"2.05 Content, Token: 0x{token & 0xff:02x}, payload: {payload}")


def observe(path: str, token: int, payload_len: int = 1, payload: str = "1") -> ExchangeSpec:
    """D<--M GET path, Observe: 0; D-->M 2.05 Content with the current state (RFC 7641):
    the manager's observation of /Radio_link_status (draft section 4) or of an application
    resource (section 5)."""
    req = coap.get(path, observe=0, token_len=1)
    resp = coap.response("2.05", payload_len, observe=1, content_format=coap.CF_TEXT_PLAIN,
                         token_len=1)
    return _one(PEER, req, resp, _observe_text, path, token, payload, name="observe")


def observe_link_status(token: int) -> ExchangeSpec:
    """D<--M GET /Radio_link_status, Observe: 0; D-->M 2.05 Content, payload 1 (draft §4)."""
    return observe("/Radio_link_status", token)


def _notify_text(token, seq, payload, answer, _block):
    return (f"2.05 Content, Token: 0x{token & 0xff:02x}, Observe: {seq}, payload: {payload}",
            answer)


def notify(token: int, seq: int, payload_len: int = 1, payload: str = "1",
           answer: str = "ACK") -> ExchangeSpec:
    """D-->M 2.05 Content (CON notification of an observed resource), D<--M empty ACK; or
    empty RST (`answer`) when it comes from an endpoint the manager does not know: a strict
    observer matches a notification by endpoint and token (RFC 7252 section 5.3.2, RFC 7641
    section 3.6), so after a NAT rebinding it rejects it and the observation ends."""
    req = coap.response("2.05", payload_len, observe=seq, content_format=coap.CF_TEXT_PLAIN,
                        token_len=1, mtype="CON")
    resp = coap.empty_ack() if answer == "ACK" else coap.empty_rst()
    return _one(DEVICE, req, resp, _notify_text, token, seq, payload, answer,
                name="notify" if answer == "ACK" else "notify-reset")


def notify_link_status(token: int, seq: int, answer: str = "ACK") -> ExchangeSpec:
    """D-->M 2.05 Content, payload 1 (radio on): the wake-up notification of draft §4."""
    return notify(token, seq, answer=answer)


def _report_text(report_bytes, token, _block):
    return (f"CoAP POST /report, Token: {_tok(token)}, payload: {report_bytes} B",
            f"2.04 Changed, Token: {_tok(token)}")


def report(report_bytes: int, token: int) -> ExchangeSpec:
    """D-->M POST /report with the application payload; D<--M 2.04 Changed."""
    req = coap.post("/report", report_bytes, content_format=CF_CBOR)
    resp = coap.response("2.04", 0)
    return _one(DEVICE, req, resp, _report_text, report_bytes, token, name="report")


def _version_text(token, version, _block):
    return (f"CoAP GET /fw/version, Token: {_tok(token)}",
            f"2.05 Content, Token: {_tok(token)}, payload: {version}")


def version_check(token: int, version: str) -> ExchangeSpec:
    """D-->M GET /fw/version; D<--M 2.05 Content with the current version."""
    req = coap.get("/fw/version")
    resp = coap.response("2.05", VERSION_BYTES, content_format=coap.CF_TEXT_PLAIN)
    return _one(DEVICE, req, resp, _version_text, token, version, name="version")


def _poll_text(token, _block):
    return (f"CoAP GET /fw/state, Token: {_tok(token)}",
            f"2.05 Content, Token: {_tok(token)}, payload: 0")


def poll(token: int) -> ExchangeSpec:
    """D<--M GET /fw/state; D-->M 2.05 Content with the update state (one byte, as LwM2M
    Firmware Update State): the manager's poll of draft section 3."""
    req = coap.get("/fw/state")
    resp = coap.response("2.05", 1, content_format=coap.CF_TEXT_PLAIN)
    return _one(PEER, req, resp, _poll_text, token, name="poll")


def _discover_text(token, links, _block):
    return (f"CoAP GET /fw, Token: {_tok(token)}",
            f"2.05 Content, Token: {_tok(token)}, payload: {','.join(links)}")


def discover(token: int, links: tuple[str, ...]) -> ExchangeSpec:
    """D-->M GET /fw; D<--M 2.05 Content in CoRE link format (RFC 6690): the single entry
    point of runtime discovery (draft section 8)."""
    req = coap.get("/fw", accept=coap.CF_LINK_FORMAT)
    resp = coap.response("2.05", coap.link_format_bytes(list(links)),
                         content_format=coap.CF_LINK_FORMAT)
    return _one(DEVICE, req, resp, _discover_text, token, links, name="discover")


@lru_cache(maxsize=64)
def _block2(path: str, total: int, block: int) -> tuple[np.ndarray, ...]:
    szx, n = coap.szx_for(block), coap.block_count(total, block)
    return _arrays([coap.get(path, block2=(b, False, szx)) for b in range(n)],
                   [coap.response("2.05", coap.block_payload(total, block, b),
                                  block2=(b, coap.block_more(total, block, b), szx),
                                  content_format=coap.CF_OCTET_STREAM,
                                  size2=total if b == 0 else None) for b in range(n)])


def _block2_sizes(path: str, total: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Wire bytes of every block's request and response."""
    return _block2(path, total, block)[:2]


def _block2_text(path, total, block, token, b):
    more = int(coap.block_more(total, block, b))
    return (f"CoAP GET {path}, Token: {_tok(token)}, Block2: {b}/0/{block}",
            f"2.05 Content, Token: {_tok(token)}, Block2: {b}/{more}/{block}, "
            f"payload: {coap.block_payload(total, block, b)} B")


def block2_pull(path: str, total: int, block: int, token: int) -> ExchangeSpec:
    """D-->M GET path, Block2: n/0/size; D<--M 2.05 Content, Block2: n/more/size (RFC 7959)."""
    return _spec(DEVICE, _block2(path, total, block),
                 trace=partial(_block2_text, path, total, block, token), bulk=True,
                 name="block2")


@lru_cache(maxsize=64)
def _block1(path: str, total: int, block: int) -> tuple[np.ndarray, ...]:
    szx, n = coap.szx_for(block), coap.block_count(total, block)
    return _arrays([coap.post(path, coap.block_payload(total, block, b),
                              block1=(b, coap.block_more(total, block, b), szx),
                              size1=total if b == 0 else None) for b in range(n)],
                   [coap.response("2.31" if b < n - 1 else "2.04", 0,
                                  block1=(b, b < n - 1, szx)) for b in range(n)])


def _block1_sizes(path: str, total: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Wire bytes of every block's request and response."""
    return _block1(path, total, block)[:2]


def _block1_text(path, total, block, token, b):
    more = int(coap.block_more(total, block, b))
    code = "2.31 Continue" if more else "2.04 Changed"
    return (f"CoAP POST {path}, Token: {_tok(token)}, Block1: {b}/{more}/{block}, "
            f"payload: {coap.block_payload(total, block, b)} B",
            f"{code}, Token: {_tok(token)}, Block1: {b}/{more}/{block}")


def block1_push(path: str, total: int, block: int, token: int) -> ExchangeSpec:
    """D<--M POST path, Block1: n/more/size; D-->M 2.31 Continue (2.04 Changed at the end)."""
    return _spec(PEER, _block1(path, total, block),
                 trace=partial(_block1_text, path, total, block, token), bulk=True,
                 name="block1")
