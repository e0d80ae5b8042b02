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

When the release exists the manager publishes the command. A device that connects (at
its next wake-up in reconnect mode, or after losing its connection) gets it right after
its CONNACK, from its session. On a keep-alive connection the broker's PUBLISH goes at
once into a device that is, most of the time, in PSM:

* It is lost there, unless the network holds it (`network.extended_buffering_s`: then it
  arrives at the device's next PINGREQ or wake-up, if that comes soon enough).
* Linux resends it on its own timer (`protocols/tcp.py` `linux_retransmissions`: the RTO
  from the connection's round trips, doubling to 120 s); the device's PINGREQs and
  reports do not trigger a resend. The first resend that finds the device reachable (in
  the connected or idle time after one of its packets, paged if idle) delivers it,
  together with the PINGRESP and PUBACKs queued behind it.
* Meanwhile the device's PINGREQ gets no PINGRESP: its client closes the connection
  `mqtt.pingresp_timeout_s` later and connects again; the session then delivers the
  command.
* After about 924.6 s of resends Linux aborts the connection silently; the device's next
  packet on it meets a reset, and it connects again.

      D<--M: MQTT PUBLISH devices/0/cmd, QoS 1, payload: {"version":"2.0.0","url":...}
      D-->M: MQTT PUBACK

First contact is the command reaching the device. The device then downloads the image
(`fetch_image`), resuming at later wake-ups if the download fails.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from functools import partial

import numpy as np

from simulation.protocols import mqtt, tcp, tls
from simulation.transport.tcp_connection import DOWN, UP
from simulation.session import Session
from simulation.strategies.base import Strategy
from simulation.world import broker as brk
from simulation.world.manager import ADDRESS as MANAGER


class MqttCommand(Strategy):
    """The device's MQTT session, the command's delivery, and a download to finish."""

    scheme = ""     # URL scheme of the command ("https", "coaps", ...)
    #: the PINGREQs of a sleeping device are booked lazily, when it is next in contact
    #: (`book_pings`), which can be hours behind the simulation's clock
    books_behind_s = float("inf")

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
        self.pingresp_timeout_s = sc.mqtt.pingresp_timeout_s
        self.buffering_s = sc.network.extended_buffering_s
        self.lost_copies = 0        # command copies sent into a sleeping device (or held)
        self.waiting: dict[int, list[int]] = {}   # per cell: commands held for a slot
        if self.keep_alive:
            world.rollout.subscribe(self._publish)
            world.rollout.on_slot_free(self._publish_waiting)

    # -- the conversation at a wake-up ---------------------------------------------------
    def on_wake(self, session):
        i = session.device
        if self.keep_alive:
            self.book_pings(i, session.now)   # before the wake-up's own radio activity
        yield from session.connect()
        yield from self.converse(session, report=True)
        if self._fetches(session):
            yield from self.fetch_image(session)

    def converse(self, session, report: bool, ping: bool = False, resend: bool = False):
        """One MQTT conversation (process body): (re)connect if needed; the report (or a
        PINGREQ), answered unless the command is stuck in the broker's TCP; the command,
        if the session holds it for a new connection, if the network held a copy, or if
        the broker's resend reached the device (`resend`); in reconnect mode the goodbye.
        Returns the conversation's Outcome."""
        i, b = session.device, self.broker
        conn = session.tcp_connection()
        t0 = session.now
        live = (self.keep_alive and b.connected[i] and not b.aborted[i]
                and self._binding_alive(i, t0))
        if live:
            self._resume(conn, i)
            ok = True
        else:
            if self.keep_alive and b.connected[i]:
                self._reset(conn)   # binding expired or socket gone: the first segment meets a reset
            ok = self.connect(conn, session, t0)
        stuck = live and b.stuck(i)
        delivered_at = math.nan
        if ok and resend:
            delivered_at = self.deliver_command(conn, session, stuck)
            ok = not math.isnan(delivered_at)
        else:
            if ok and report:
                ok = self.publish_report(conn, session, answered=not stuck)
            elif ok and ping and live:
                ok = self._ping(conn, i, answered=not stuck)
                if ok and stuck:
                    b.ping_unanswered_at(i, t0 + conn.last_message_up_s)
            held = self._held_copies(i, t0) if stuck else 0
            if ok and (held or (not stuck and self._command_waiting(i, t0 + conn.t))):
                delivered_at = self.deliver_command(conn, session, stuck, held)
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
        if ok:
            b.keep_estimators(i, conn.estimators())
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
        b.new_connection(i)
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

    def publish_report(self, conn, session, answered: bool = True) -> bool:
        """The report PUBLISH, and its PUBACK at QoS 1 (queued behind a stuck command
        unless `answered`)."""
        topic = brk.report_topic(session.device_id)
        qos = self.report_qos
        pid = self.broker.next_packet_id(session.device) if qos else None
        pub = mqtt.publish(topic, self.report_bytes, qos, pid)
        if conn.message(UP, len(pub), self.report_bytes, served=True,
                        text=f"MQTT PUBLISH {topic}, QoS {qos}, "
                             f"payload: {self.report_bytes} B") is None:
            return False
        if qos and not answered:
            self.broker.answer_queued(session.device, len(mqtt.puback(pid)))
        elif qos:
            return conn.message(DOWN, len(mqtt.puback(pid)), text="MQTT PUBACK") is not None
        return True

    def deliver_command(self, conn, session, stuck: bool = False, held: int = 0) -> float:
        """The command and the device's PUBACK; the time it reached the device (s from the
        connection's start), nan if the connection failed. A command `stuck` in the
        broker's TCP arrives with the answers queued behind it; of the copies the network
        `held`, all but the first arrive as duplicates."""
        b, i = self.broker, session.device
        topic = brk.command_topic(session.device_id)
        pid = b.next_packet_id(i)
        pub = mqtt.publish(topic, self.command, 1, pid)
        owed = int(b.owed_bytes[i]) if stuck else 0
        queued = " (with the answers queued behind it)" if owed else ""
        flight = conn.message(DOWN, len(pub) + owed, len(self.command),
                              text=f"MQTT PUBLISH {topic}, QoS 1, "
                                   f"payload: {self.command.decode()}{queued}")
        if flight is None:
            return math.nan
        if held:
            wire = self._copy_bytes(i)
            for _ in range(held - 1):
                conn.duplicate(DOWN, wire, flight.arrived_s,
                               "TCP retransmission held by the network (duplicate)")
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

    def _fetches(self, session) -> bool:
        """Whether the device downloads the image now: it knows the command, is not done
        with the release, and the manager still offers it (a rollout stopped since
        cancels the job: the device learns it at this contact, AWS IoT Jobs' CANCEL)."""
        i = session.device
        return (bool(self.knows_command[i]) and not self.updated_or_installing(i)
                and self.world.manager.offers(i, session.now))

    def _command_waiting(self, i: int, t: float) -> bool:
        return (self.world.manager.offers(i, t) and not self.broker.command_delivered[i])

    # -- keep-alive ------------------------------------------------------------------------
    def book_pings(self, i: int, until: float) -> None:
        """Book the PINGREQs device i sent while asleep, before `until`, as long as they
        interact with nothing: the device is alone on its connection. Once the command is
        on it, each of its contacts is a session of `_push`'s."""
        b, w = self.broker, self.world
        while (b.connected[i] and self._device_contact(i) is None
               and b.next_ping(i) < until):
            t = b.next_ping(i)          # the PINGREQ is due: the radio wakes in time
            self.pings += 1
            ping = Session(w, i, b.ping_sent(i), stream="mqtt-ping", at=t)
            ping.connect_ahead()
            conn = ping.tcp_connection()
            if self._binding_alive(i, t):
                self._resume(conn, i)
                ok = self._ping(conn, i)
            else:
                self._reset(conn)
                ok = self.connect(conn, ping, t)
            conn.settle()
            ping.book_tcp(conn, t)
            ping.finish()
            b.conversation_over(i, ok, t + conn.last_message_up_s if ok else None)
            if not ok:
                return
            b.keep_estimators(i, conn.estimators())

    def _ping(self, conn, i: int, answered: bool = True) -> bool:
        """PINGREQ, and its PINGRESP unless it waits behind a stuck command (the broker's
        TCP then only ACKs the PINGREQ)."""
        if conn.message(UP, len(mqtt.pingreq()), text="MQTT PINGREQ", served=True) is None:
            return False
        if not answered:
            self.broker.answer_queued(i, len(mqtt.pingresp()))
            return True
        return conn.message(DOWN, len(mqtt.pingresp()), text="MQTT PINGRESP") is not None

    def _resume(self, conn, i: int) -> None:
        """Go on with the device's open connection (in its TLS session, if any), each end
        with the RTT estimators it had."""
        conn.resume(self.broker.estimators[i])
        if self.tls:
            conn.tls_version = self.tls[0]

    def _publish(self, devices: np.ndarray, go_s: np.ndarray) -> None:
        """The rollout released `devices`: the broker publishes the command to each one's
        session when the release is offered to it (`go_s`; all at once: at the release)."""
        self.world.env.process(self._publish_batch(devices, go_s))

    def _publish_batch(self, devices: np.ndarray, go_s: np.ndarray):
        """Process: at each device's time (in time order, then by device), the command to
        its session; on an open connection the broker's TCP sends it at once (`_push`)."""
        w = self.world
        env = w.env
        order = np.lexsort((devices, go_s))
        t_prev = None
        for t, i in zip(go_s[order].tolist(), devices[order].tolist(), strict=True):
            if t != t_prev:
                yield env.timeout(max(0.0, t - env.now))
                t_prev = t
            if not self.broker.connected[i]:
                continue
            if w.manager.offers(i, env.now):
                env.process(self._push(i))
            elif w.manager.has_release(env.now):    # no slot free in its cell: it waits
                self.waiting.setdefault(int(w.fleet.cell[i]), []).append(i)

    def _publish_waiting(self, cell: int) -> None:
        """A download slot of `cell` may be free: the commands held for one go, in the
        order they were held, while slots are given."""
        w, queue = self.world, self.waiting.get(cell, [])
        while queue and w.manager.has_release(w.env.now):
            i = queue[0]
            if not w.manager.offers(i, w.env.now):
                return
            queue.pop(0)
            if self.broker.connected[i]:
                w.env.process(self._push(i))

    def _push(self, i: int):
        """Process: the broker's TCP sends the command on device i's open connection now,
        then resends it on Linux's timer until a copy finds the device reachable; between
        the copies, the device's client may give up on its PINGREQ and connect again, or
        take a copy the network held at its next PINGREQ. After Linux gave up, the device
        learns it at its next packet. Ends once the command is delivered or the device's
        connection is no longer the one it was sent on."""
        w, env, b, p = self.world, self.world.env, self.broker, self.world.tcp_params
        t0 = env.now
        self.book_pings(i, t0)
        b.command_sent(i, t0)
        epoch = int(b.connections[i])
        rto = b.rto(i, p.server_min_rto_s, p.server_max_rto_s)
        resends, abort = tcp.linux_retransmissions(rto, p.server_retries, p.server_min_rto_s,
                                                   p.server_max_rto_s)
        for k, dt in enumerate((0.0, *resends)):
            t = t0 + dt
            if (yield from self._contacts_before(i, epoch, t)):
                return
            if t >= w.horizon_s:
                return
            yield env.timeout(max(t - env.now, 0.0))    # (late after a session's wait)
            if self._settled(i, epoch):
                return
            if env.now < w.fleet.busy_until[i]:      # a session is under way: connected
                yield from Session.wait_free(w, i)
                if self._settled(i, epoch):
                    return
            if (w.radios.state(i, env.now) != "psm"
                    and w.nat.admits(i, MANAGER, env.now, "tcp")):
                yield from self._resent(i, k)
                return
            self._lost_copy(i, env.now, k)
        t_abort = t0 + abort
        if t_abort >= w.horizon_s:
            return
        yield env.timeout(max(t_abort - env.now, 0.0))
        if self._settled(i, epoch):
            return
        b.gave_up(i)                # the broker's socket is gone, silently
        yield from self._contacts_before(i, epoch, math.inf)   # the device learns later

    def _contacts_before(self, i: int, epoch: int, t: float):
        """Process body: run the device's contacts (`_device_contact`) due before t, in
        order; returns True once the push is settled, or the horizon is reached."""
        w, env = self.world, self.world.env
        while True:
            t_dev = self._device_contact(i)
            if t_dev is None or t_dev >= t:
                return False
            if t_dev >= w.horizon_s:
                return True
            yield env.timeout(max(t_dev - env.now, 0.0))
            if self._settled(i, epoch):
                return True
            yield from self._contact(i)
            if self._settled(i, epoch):
                return True

    def _settled(self, i: int, epoch: int) -> bool:
        """The command was delivered, or the connection it was sent on is over."""
        b = self.broker
        return bool(b.command_delivered[i] or not b.connected[i]
                    or b.connections[i] != epoch)

    def _device_contact(self, i: int) -> float | None:
        """When device i next does something `_push` must run as a session (None: nothing
        while the command is not on its connection): give up on an unanswered PINGREQ,
        or send a PINGREQ while the command is in flight (it goes unanswered, or takes a
        copy the network held) or after the broker's socket is gone (it meets a reset)."""
        b = self.broker
        if not math.isnan(b.ping_unanswered[i]):
            return float(b.ping_unanswered[i] + self.pingresp_timeout_s)
        if b.aborted[i] or b.stuck(i):
            return b.next_ping(i)
        return None

    def _contact(self, i: int):
        """Process body: the device's contact at `_device_contact`, as a session of its
        own: it connects again after an unanswered PINGREQ (closing the old connection),
        else sends its PINGREQ; the command follows if it gets it."""
        w, env, b = self.world, self.world.env, self.broker
        if env.now < w.fleet.busy_until[i]:
            yield from Session.wait_free(w, i)
            return                  # the session just over may have changed everything
        gave_up = not math.isnan(b.ping_unanswered[i])
        if gave_up:
            b.conversation_over(i, False, None)   # the client closes its connection
        session = Session(w, i, int(b.pings[i]), stream="mqtt-push")
        session.hold()
        if not gave_up:
            b.ping_sent(i)
            self.pings += 1
        yield from session.run(partial(self._pushed_contact, ping=not gave_up))

    def _resent(self, i: int, k: int):
        """Process body: the broker's copy k of the command reaches device i, connected or
        idle (paged, then set up): the session that delivers it, then the download."""
        w, env = self.world, self.world.env
        if w.radios.state(i, env.now) == "idle":
            yield env.timeout(w.radios.paging_delay(i, env.now))
        else:
            yield env.timeout(w.radios.downlink_delay(i, env.now) or 0.0)
        # its draws: one stream per connection and copy (at most 31 resends, tcp.*)
        session = Session(w, i, int(self.broker.connections[i]) * 32 + k,
                          stream="mqtt-resend")
        session.hold()
        yield from session.run(partial(self._pushed_contact, resend=True))

    def _lost_copy(self, i: int, t: float, k: int) -> None:
        """Copy k of the command, sent at t into device i's sleep: lost, or held by the
        network for `network.extended_buffering_s`."""
        w, b = self.world, self.broker
        self.lost_copies += 1
        held = self.buffering_s > 0
        if held:
            b.copy_held(i, t)
        again = f" (TCP retransmission {k})" if k else ""
        topic = brk.command_topic(int(w.fleet.ids[i]))
        Session(w, i, 0, stream="mqtt-lost", at=t).lost_downlink(
            t, self._copy_bytes(i), f"MQTT PUBLISH {topic}, QoS 1{again}", held)

    def _held_copies(self, i: int, t: float) -> int:
        """How many copies the network holds for device i reach it at t."""
        return self.broker.held_copies(i, t, self.buffering_s)

    def _copy_bytes(self, i: int) -> int:
        """Wire bytes of one copy of device i's command PUBLISH: one TCP segment (with the
        connection's options), its MQTT packet in a TLS record if TLS is on."""
        topic = brk.command_topic(int(self.world.fleet.ids[i]))
        packet = len(mqtt.publish(topic, self.command, 1, 1))  # (any id: 2 B)
        if self.tls is not None:
            packet = tls.protected_bytes(packet, self.tls[0])
        options = tcp.established_options_bytes(self.world.tcp_params.syn_options)
        return tcp.segment_bytes(packet, options)

    def _pushed_contact(self, session, ping: bool = False, resend: bool = False):
        """A session the broker's traffic or the client's timers open: the conversation
        that delivers the command (with a PINGREQ, or on a resend that reached the
        device), then the download."""
        yield from session.connect()
        yield from self.converse(session, report=False, ping=ping, resend=resend)
        if self._fetches(session):
            yield from self.fetch_image(session)

    def counts(self) -> dict[str, int]:
        return {"tcp_connections": self.connections, "keepalive_pings": self.pings,
                "command_copies_lost": self.lost_copies}

    def finish(self) -> None:
        if self.keep_alive:
            for i in range(self.world.fleet.n):
                if self.world.fleet.busy_until[i] < self.world.horizon_s:
                    self.book_pings(i, self.world.horizon_s)

    @abstractmethod
    def fetch_image(self, session):
        """End the session with the image download, resumed from what the device holds
        (process body)."""
