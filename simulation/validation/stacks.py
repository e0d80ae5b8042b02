"""Real implementations the model's byte counts and behaviour are checked against, run
in-process or on the loopback interface: aiocoap (CoAP), paho-mqtt (MQTT), the standard
library's http.client (HTTP) and scapy (TCP/IPv4 headers). Each optional package is
imported inside its function, so that a missing one raises ImportError there and the
check that needs it is reported as skipped."""
from __future__ import annotations

import asyncio
import socket

UDP_IPV4 = 8 + 20           # UDP and IPv4 headers (RFC 768, RFC 791)


def aiocoap_block2_pull_bytes(path: str, total: int, block: int) -> tuple[int, int]:
    """Wire bytes (CoAP + UDP + IPv4) of a block-wise GET of `total` bytes in `block`-byte
    blocks as aiocoap encodes it: every block's request (Uri-Path, Block2 n/0/size) and
    response (2.05, Content-Format octet-stream, Block2 n/more/size, Size2 on the first).
    Tokens of 2 bytes, as the model's. Returns (request bytes, response bytes)."""
    import aiocoap
    from aiocoap.optiontypes import BlockOption
    szx = block.bit_length() - 5
    n = -(-total // block)
    up = down = 0
    for b in range(n):
        req = aiocoap.Message(code=aiocoap.GET, mtype=aiocoap.CON, mid=1, token=b"\x01\x02",
                              uri_path=tuple(path.strip("/").split("/")),
                              block2=BlockOption.BlockwiseTuple(b, False, szx))
        payload = min(block, total - b * block)
        resp = aiocoap.Message(code=aiocoap.CONTENT, mtype=aiocoap.ACK, mid=1,
                               token=b"\x01\x02", payload=b"\x00" * payload,
                               content_format=42,
                               block2=BlockOption.BlockwiseTuple(b, b < n - 1, szx))
        if b == 0:
            resp.opt.size2 = total
        up += len(req.encode()) + UDP_IPV4
        down += len(resp.encode()) + UDP_IPV4
    return up, down


def http_client_request(path: str, host: str, fields: list[tuple[str, str]]) -> bytes:
    """The bytes http.client writes for GET `path` with Host `host` then `fields`."""
    from http.client import HTTPConnection
    a, b = socket.socketpair()
    try:
        conn = HTTPConnection(host)
        conn.sock = a
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in fields:
            conn.putheader(name, value)
        conn.endheaders()
        b.settimeout(2.0)
        return b.recv(65536)
    finally:
        a.close()
        b.close()


def paho_connect(client_id: str, keepalive_s: int, clean_session: bool = True) -> bytes:
    """The CONNECT packet paho-mqtt (MQTT 3.1.1) writes to a server on loopback."""
    import paho.mqtt.client as paho
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv311, clean_session=clean_session)
    try:
        client.connect("127.0.0.1", listener.getsockname()[1], keepalive=keepalive_s)
        server, _ = listener.accept()
        server.settimeout(0.2)
        data = b""
        try:
            while chunk := server.recv(65536):
                data += chunk
        except TimeoutError:
            pass
        server.close()
        return data
    finally:
        client._sock_close()
        listener.close()


def scapy_segment_bytes(payload: int, timestamps: bool = False) -> int:
    """An IPv4/TCP data segment's bytes as scapy builds it."""
    from scapy.layers.inet import IP, TCP
    from scapy.packet import Raw
    options = [("Timestamp", (0, 0))] if timestamps else []
    pkt = IP() / TCP(flags="A", options=options)
    if payload:
        pkt = pkt / Raw(b"\x00" * payload)
    return len(bytes(pkt))


def aiocoap_answer_to_a_rebound_notification() -> tuple[str, int]:
    """An aiocoap client observes a resource on a loopback UDP socket; the next
    confirmable notification comes from another socket (the device's new external port
    after its NAT binding expired). Returns the answer's message type and its size (B)."""
    return asyncio.run(_rebound_notification())


def _notification(mtype, mid, token, observe):
    import aiocoap
    msg = aiocoap.Message(code=aiocoap.CONTENT, payload=b"1")
    msg.mtype, msg.mid, msg.token = mtype, mid, token
    msg.opt.observe = observe
    return msg


async def _rebound_notification() -> tuple[str, int]:
    import aiocoap
    old, new = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for s in (old, new):
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
    loop = asyncio.get_running_loop()
    ctx = await aiocoap.Context.create_client_context()
    try:
        port = old.getsockname()[1]
        pr = ctx.request(aiocoap.Message(code=aiocoap.GET, observe=0,
                                         uri=f"coap://127.0.0.1:{port}/Radio_link_status"))
        data, manager = await asyncio.wait_for(loop.sock_recvfrom(old, 1500), 5)
        get = aiocoap.Message.decode(data)
        ack = _notification(aiocoap.ACK, get.mid, get.token, observe=1)
        await loop.sock_sendto(old, ack.encode(), manager)
        await asyncio.wait_for(pr.response, 5)
        note = _notification(aiocoap.CON, (get.mid + 1) & 0xffff, get.token, observe=2)
        await loop.sock_sendto(new, note.encode(), manager)
        data, _ = await asyncio.wait_for(loop.sock_recvfrom(new, 1500), 5)
        answer = aiocoap.Message.decode(data)
        if answer.mid != note.mid:
            raise AssertionError("the answer is not to the notification")
        return answer.mtype.name, len(data)
    finally:
        await ctx.shutdown()
        old.close()
        new.close()
