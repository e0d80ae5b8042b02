"""mqtt-http (draft section 7): the MQTT command carries an HTTPS URL; the device opens a
connection of its own to the image server and downloads the image with HTTP/1.1 GET.

    D<--M: MQTT PUBLISH devices/0/cmd, QoS 1, payload: {"version":"2.0.0","url":"https://company/devicetype/version00.zip"}
    D-->M: MQTT PUBACK
    D-->M: TCP SYN
    D<--M: TCP SYN-ACK
    D-->M: TLS ClientHello ...                       (with security.mode = "tls")
    D-->M: HTTP GET /devicetype/version00.zip
    D<--M: HTTP/1.1 200 OK, payload: 102400 B        (slow start: 10, 20, 40 ... segments)

The URL's scheme is `https` when `security.mode = "tls"` (TLS per `tls.*`), else `http`.
The image server is not the broker: the device's first download pays a full handshake; a
download resumed within `tls.session_lifetime_s` an abbreviated one (`tls.resumption`,
see `transport/security.py`).
A download that fails keeps the bytes received in order; at a later wake-up the device
asks for the rest with `Range: bytes=<held>-` and gets `206 Partial Content`
(RFC 9110 section 14). The server closes the connection after the response
(`Connection: close`). See `mqtt_command.py` for the MQTT session.
"""
from __future__ import annotations

import math

import numpy as np

from simulation.protocols import http
from simulation.transport.tcp_connection import DOWN, UP
from simulation.strategies.mqtt_command import MqttCommand
from simulation.world import broker as brk


class MqttHttp(MqttCommand):
    name = "mqtt-http"

    def __init__(self, world):
        self.scheme = "https" if world.scenario.security.mode == "tls" else "http"
        super().__init__(world)
        self.bytes_held = np.zeros(world.fleet.n, dtype=np.int64)   # image bytes in order
        self.close_s = np.zeros(world.fleet.n)   # from the body's last byte to the close
        self.body_sent_s = np.full(world.fleet.n, np.nan)  # body's start in its connection

    def fetch_image(self, session):
        i = session.device
        total, held = self.image_bytes, int(self.bytes_held[i])
        conn = session.tcp_connection()
        body = None
        self.connections += 1
        if conn.open() and self.tls_sessions.handshake(conn, i, brk.IMAGE_HOST, session.now):
            get = http.get_request(brk.IMAGE_PATH, brk.IMAGE_HOST,
                                   byte_range=(held, None) if held else None)
            rng = f", Range: bytes={held}-" if held else ""
            if conn.message(UP, len(get), text=f"HTTP GET {brk.IMAGE_PATH}{rng}",
                            served=True) is not None:
                head = (http.partial_response_head(held, total - 1, total) if held
                        else http.ok_response_head(total))
                status = "206 Partial Content" if held else "200 OK"
                body = conn.message(DOWN, len(head) + total - held, total - held,
                                    text=f"HTTP/1.1 {status}, payload: {total - held} B")
                if body is None:    # keep what arrived in order, past the head
                    overhead = conn.wire_payload(len(head)) - len(head)
                    kept = max(0, min(total - held, conn.partial_bytes - len(head) - overhead))
                    self.bytes_held[i] += kept
                    conn.out.payload_bytes += kept      # not wasted: the resume skips it
                    conn.out.wasted_bytes -= kept
                else:
                    t_body = conn.t
                    conn.close()
                    self.close_s[i] = conn.t - t_body
        self.body_sent_s[i] = body.sent_s if body is not None else math.nan
        session.end_with_tcp_transfer(conn, self.downloaded)
        yield from ()       # a process body like every `fetch_image`; nothing to wait for

    def downloaded(self, session, out) -> None:
        i = session.device
        # the cell's contention lengthens the body, not what comes before it
        if not math.isnan(self.body_sent_s[i]):
            session.download_started(out.start_s + self.body_sent_s[i])
        if out.completed:   # the image is in when its last byte is, before the close
            self.bytes_held[i] = self.image_bytes
            session.image_complete(out.start_s + out.duration_s - self.close_s[i],
                                   self.install_s(i))
