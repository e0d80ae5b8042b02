"""What mqtt-http and mqtt-coap share (draft section 7): an MQTT session carries the update
command, a URL; the device fetches the image over another stack.

The device is an MQTT 3.1.1 client of the manager's broker with a persistent session
(clean session false) subscribed at QoS 1 to its command topic, over TCP (and TLS with
`security.mode = "tls"`: each new connection runs a full `tls.auth` handshake, or the
abbreviated one while the device's TLS session with the broker lasts, `tls.resumption`
and `tls.session_lifetime_s`; see `transport/security.py`). `mqtt.session` chooses how it
lives with the carrier NAT:

* `keep-alive`: the connection stays open while the device sleeps. The device sends a
  PINGREQ whenever `mqtt.keepalive_s` pass without a control packet (one radio wake-up
  each, when it would be asleep), which also refreshes the NAT's TCP binding. If the
  binding expired anyway (keep alive not shorter than `nat.tcp_timeout_s`), the device's
  next segment leaves from a new port and the broker answers it with a reset: the device
  reconnects. At each wake-up it publishes its report on the open connection:

      D-->M: MQTT PUBLISH devices/0/report, QoS 1, payload: 64 B
      D<--M: MQTT PUBACK

* `reconnect`: at each wake-up the device opens a connection, CONNECTs (the broker finds
  its session: session present 1), publishes its report, DISCONNECTs and closes:

      D-->M: TCP SYN ... D-->M: MQTT CONNECT, clean session: 0
      D<--M: MQTT CONNACK, session present: 1

When the release exists the manager publishes the command; the broker delivers it as soon
as the device is reachable on a live connection (at once if it is awake; in keep-alive
mode else at its next PINGREQ or wake-up, whichever is first; in reconnect mode at its
next connection), and the device acknowledges it:

      D<--M: MQTT PUBLISH devices/0/cmd, QoS 1, payload: {"version":"2.0.0","url":...}
      D-->M: MQTT PUBACK

Assumption (A): a command published while a keep-alive device sleeps waits until the
device's next packet shows the path is back; the broker's TCP retransmission timer would
add up to one RTO (at most 60 s) to that. First contact is the command reaching the device.
The device then downloads the image (`fetch_image`), resuming at later wake-ups if the
download fails.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from functools import partial

import numpy as np

from simulation.protocols import mqtt
from simulation.transport.tcp_connection import DOWN, UP
from simulation.session import Session
from simulation.strategies.base import Strategy
from simulation.world import broker as brk
from simulation.world.manager import ADDRESS as MANAGER


class MqttCommand(Strategy):
    """The device's MQTT session, the command's delivery, and a download to finish."""

    scheme = ""     # URL scheme of the command ("https", "coaps", ...)

    def __init__(self, world):
        super().__init__(world)
        sc = world.scenario
        n = world.fleet.n
        self.keep_alive = sc.mqtt.session == "keep-alive"
        self.keepalive_s = sc.mqtt.keepalive_s
        self.report_qos = sc.mqtt.report_qos
        self.tls = (sc.tls.version, sc.tls.auth) if sc.security.mode == "tls" else None
        self.tls_sessions = world.tls_sessions
        self.broker = brk.Broker(n, self.keepalive_s)
        self.knows_command = np.zeros(n, dtype=bool)   # the device holds the URL
        self.pings = 0
        self.connections = 0        # TCP connections opened (MQTT sessions, downloads)
        self.command = brk.command_payload(self.scheme)
        if self.keep_alive:
            world.env.process(self._publish_at_release())

    # -- the conversation at a wake-up ---------------------------------------------------
    def on_wake(self, session):
        i = session.device
        if self.keep_alive:
            self.book_pings(i, session.now)   # before the wake-up's own radio activity
        yield from session.connect()
        yield from self.converse(session, report=True)
        if self.knows_command[i] and not self.updated_or_installing(i):
            self.fetch_image(session)

    def converse(self, session, report: bool, ping: bool = False):
        """One MQTT conversation (process body): (re)connect if needed, the report (or a
        PINGREQ), the command if the broker holds it for the device, and in reconnect
        mode the goodbye. Returns the conversation's Outcome."""
        w, i, b = self.world, session.device, self.broker
        conn = session.tcp_connection()
        t0 = session.now
        live = self.keep_alive and b.connected[i] and self._binding_alive(i, t0)
        if live:
            self._resume(conn)
            ok = True
        else:
            if self.keep_alive and b.connected[i]:
                self._reset(conn)   # the binding expired: the first segment meets a reset
            ok = self.connect(conn, session, t0)
        if ok and report:
            ok = self.publish_report(conn, session)
        elif ok and ping and live:
            ok = self._ping(conn)
        delivered_at = math.nan
        if ok and self._command_waiting(i, t0 + conn.t):
            delivered_at = self.deliver_command(conn, session)
            ok = not math.isnan(delivered_at)
        if ok and not self.keep_alive:
            d = mqtt.disconnect()
            ok = conn.message(UP, len(d), text="MQTT DISCONNECT") is not None
            if ok:
                conn.close()
        elif ok:
            conn.settle()
        b.conversation_over(i, ok and self.keep_alive,
                            t0 + conn.last_message_up_s if ok else None)
        out = yield from session.tcp(conn)
        if not math.isnan(delivered_at):
            b.command_acknowledged(i)
            self.knows_command[i] = True
            session.first_contact(out.start_s + delivered_at)
        return out

    def connect(self, conn, session, t0: float) -> bool:
        """TCP, TLS if asked (full or resumed), CONNECT / CONNACK; SUBSCRIBE / SUBACK for a
        new session. `t0`: when the connection starts (s)."""
        b, i = self.broker, session.device
        self.connections += 1
        if not conn.open():
            return False
        if not self.tls_sessions.handshake(conn, i, MANAGER, t0):
            return False
        c = mqtt.connect(f"dev{session.device_id}", keepalive_s=int(self.keepalive_s),
                         clean_session=False)
        if conn.message(UP, len(c), text="MQTT CONNECT, clean session: 0",
                        served=True) is None:
            return False
        present = bool(b.session[i])
        if conn.message(DOWN, len(mqtt.connack(present)),
                        text=f"MQTT CONNACK, session present: {int(present)}") is None:
            return False
        if not present:
            topic = brk.command_topic(session.device_id)
            pid = b.next_packet_id(i)
            if conn.message(UP, len(mqtt.subscribe(topic, 1, pid)),
                            text=f"MQTT SUBSCRIBE {topic}, QoS 1", served=True) is None:
                return False
            if conn.message(DOWN, len(mqtt.suback(pid, 1)), text="MQTT SUBACK") is None:
                return False
            b.subscribed(i)
        return True

    def publish_report(self, conn, session) -> bool:
        topic = brk.report_topic(session.device_id)
        qos = self.report_qos
        pid = self.broker.next_packet_id(session.device) if qos else None
        pub = mqtt.publish(topic, self.report_bytes, qos, pid)
        if conn.message(UP, len(pub), self.report_bytes, served=True,
                        text=f"MQTT PUBLISH {topic}, QoS {qos}, "
                             f"payload: {self.report_bytes} B") is None:
            return False
        if qos:
            return conn.message(DOWN, len(mqtt.puback(pid)), text="MQTT PUBACK") is not None
        return True

    def deliver_command(self, conn, session) -> float:
        """The queued command and its PUBACK; the time it reached the device (s from the
        connection's start), nan if the connection failed."""
        topic = brk.command_topic(session.device_id)
        pid = self.broker.next_packet_id(session.device)
        pub = mqtt.publish(topic, self.command, 1, pid)
        flight = conn.message(DOWN, len(pub), len(self.command),
                              text=f"MQTT PUBLISH {topic}, QoS 1, "
                                   f"payload: {self.command.decode()}")
        if flight is None:
            return math.nan
        if conn.message(UP, len(mqtt.puback(pid)), text="MQTT PUBACK", served=True) is None:
            return math.nan
        return flight.arrived_s

    @staticmethod
    def _reset(conn) -> None:
        """The connection's NAT binding is gone: the device's first MQTT packet (2 B at
        least) leaves from a new port and the broker resets it."""
        conn.reset_by_peer(mqtt.packet_bytes(0))

    def _binding_alive(self, i: int, t: float) -> bool:
        """Whether the connection's NAT binding still lives at t (else the device's next
        segment leaves from a new port)."""
        return bool(self.world.nat.admits(i, MANAGER, t, "tcp"))

    def _command_waiting(self, i: int, t: float) -> bool:
        return (self.world.manager.has_release(t) and not self.broker.command_delivered[i])

    # -- keep-alive ------------------------------------------------------------------------
    def book_pings(self, i: int, until: float) -> None:
        """Book the PINGREQs device i sent while asleep, before `until` (they interact with
        nothing: the device is alone on its connection, and no command waited, or it would
        have been delivered at the first of them)."""
        b, w = self.broker, self.world
        if not b.connected[i]:
            return
        while b.next_ping(i) < until:
            t = b.next_ping(i)          # the PINGREQ is due: the radio wakes in time
            self.pings += 1
            ping = Session(w, i, b.ping_sent(i), stream="mqtt-ping", at=t)
            ping.connect_ahead()
            conn = ping.tcp_connection()
            if self._binding_alive(i, t):
                self._resume(conn)
                ok = self._ping(conn)
            else:
                self._reset(conn)
                ok = self.connect(conn, ping, t)
            conn.settle()
            ping.book_tcp(conn, t)
            ping.finish()
            b.conversation_over(i, ok, t + conn.last_message_up_s if ok else None)
            if not ok:
                return

    def _ping(self, conn) -> bool:
        if conn.message(UP, len(mqtt.pingreq()), text="MQTT PINGREQ", served=True) is None:
            return False
        return conn.message(DOWN, len(mqtt.pingresp()), text="MQTT PINGRESP") is not None

    def _resume(self, conn) -> None:
        """Go on with the device's open connection (in its TLS session, if any)."""
        conn.resume()
        if self.tls:
            conn.tls_version = self.tls[0]

    def _publish_at_release(self):
        """Process: at the release, the command goes to every device's session; each
        device with a live connection gets it at its next contact (`_deliver`)."""
        w = self.world
        yield w.env.timeout(w.manager.release_s)
        for i in range(w.fleet.n):
            if self.broker.connected[i]:
                w.env.process(self._deliver(i))

    def _deliver(self, i: int):
        """Process: device i gets the command at once if it is connected, at its next
        paging occasion if it is idle, else with the broker's answer to its next PINGREQ,
        unless a wake-up brings it first."""
        w, env, b = self.world, self.world.env, self.broker
        busy_until = w.fleet.busy_until
        paged = False
        while True:
            if b.command_delivered[i] or not b.connected[i]:
                return
            if env.now < busy_until[i]:             # a session is under way
                if math.isinf(busy_until[i]):
                    return                          # it ends with the download
                yield env.timeout(busy_until[i] - env.now)
                continue
            asleep = w.radios.state(i, env.now) == "psm"
            if asleep:
                self.book_pings(i, env.now)
                t_ping = b.next_ping(i)
                if t_ping > env.now:
                    if t_ping >= w.horizon_s:
                        return
                    yield env.timeout(t_ping - env.now)
                    continue                        # look again: a wake-up may be first
            elif w.radios.state(i, env.now) == "idle" and not paged:
                paged = True                        # idle: the next paging occasion
                yield env.timeout(w.radios.paging_delay(i, env.now))
                continue
            break
        session = Session(w, i, int(b.pings[i]), stream="mqtt-push")
        session.hold()
        if asleep:
            b.ping_sent(i)
            self.pings += 1
        yield from session.run(partial(self._pushed_contact, ping=asleep))

    def _pushed_contact(self, session, ping: bool):
        """The session the broker's push opens: the conversation that delivers the
        command (with the PINGREQ it answers, if the device was asleep), then the
        download."""
        i = session.device
        yield from session.connect()
        yield from self.converse(session, report=False, ping=ping)
        if self.knows_command[i] and not self.updated_or_installing(i):
            self.fetch_image(session)

    def counts(self) -> dict[str, int]:
        return {"tcp_connections": self.connections, "keepalive_pings": self.pings}

    def finish(self) -> None:
        if self.keep_alive:
            for i in range(self.world.fleet.n):
                if self.world.fleet.busy_until[i] < self.world.horizon_s:
                    self.book_pings(i, self.world.horizon_s)

    @abstractmethod
    def fetch_image(self, session) -> None:
        """End the session with the image download (resumed from what the device holds)."""
