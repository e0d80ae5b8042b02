"""A session: one wake-up of one device (or one contact the manager or the broker starts),
and the one place that books what it costs into the world.

Every exchange of a session goes through `Session.exchange` (or, for an image transfer that
ends the session, `Session.end_with_transfer`), which first runs the DTLS handshake the
device needs (the same rule for both, `Session._secure`), then the exchange at packet or
flow fidelity (`sim.fidelity`). What an exchange costs (radio time and energy, bytes, NAT refreshes and
drops, the peer's load, trace lines, failures) and what the device gains (first contact,
image blocks, the update) are booked here only: strategies ask a session to book.

A session that holds its device (`hold`) keeps the device's other wake-ups out until it
finishes (`finish`), or, if it ends with a transfer, until the transfer is over.
"""
from __future__ import annotations

import dataclasses
import math
from functools import partial

import numpy as np
import simpy

from simulation.session.flow_transfer import FlowTransfer
from simulation.session.packet import packet_exchange
from simulation.trace import FATES
from simulation.transport.exchange import DEVICE, ExchangeContext, ExchangeSpec, Outcome, \
    credited, flow_outcome
from simulation.transport.tcp_connection import Connection
from simulation.world.manager import ADDRESS as MANAGER


class Session:
    """One wake-up of one device: its clock, random stream, exchanges, bookings and trace.

    In flow fidelity a session keeps its own clock, ahead of the simulation's: exchanges
    that nothing else can interfere with are computed one after the other without events;
    only an image transfer, which shares its cell, waits for the simulation to catch up.
    Everything a session changes (NAT binding, radio energy, manager load) is stamped with
    the session's time, so the result is the same as stepping through it.
    """

    __slots__ = ("world", "device", "device_id", "wake", "stream", "traced", "start",
                 "clock", "_exchanges", "_tokens", "transferring", "held", "booked_at",
                 "_running", "ctx", "handshake_ctx")

    def __init__(self, world, device: int, wake: int, stream: str = "session",
                 at: float | None = None):
        """`at`: the session's start when it is booked ahead of or behind the simulation
        (a PINGREQ booked lazily); default now."""
        self.world, self.device, self.wake, self.stream = world, device, wake, stream
        self.device_id = int(world.fleet.ids[device])   # identity: draws, tokens, trace
        coverage = world.fleet.coverage[device]
        self.ctx = world.contexts[coverage]             # its class's link, radio, timers
        self.handshake_ctx = world.handshake_contexts[coverage]
        self.traced = world.tracer.wants(self.device_id)
        self.start = self.clock = world.env.now if at is None else at
        self.booked_at = at is not None     # booked lazily, at its own time
        self._exchanges = 0
        self._tokens = 0
        self.transferring = False
        self.held = False
        self._running = None                # packet exchanges that go on after "delivered"

    @property
    def now(self) -> float:
        return self.world.env.now if self.world.packet else self.clock

    def next_rng(self) -> np.random.Generator:
        """The random stream of the session's next exchange (or chunk): a function of
        device, wake-up and exchange number only, and not kept while the device waits."""
        self._exchanges += 1
        return self.world.streams.generator(self.stream, self.device_id, self.wake,
                                            self._exchanges)

    def token(self) -> int:
        """A fresh CoAP token (deterministic: from device, wake-up and a counter)."""
        self._tokens += 1
        return (self.device_id * 7919 + self.wake * 131 + self._tokens * 17) & 0xffff

    # -- start and finish -----------------------------------------------------------------
    def hold(self) -> None:
        """The device is busy with this session: its wake-ups are skipped until the
        session finishes, or its final transfer is over."""
        self.held = True
        self.world.fleet.busy_until[self.device] = math.inf

    def run(self, body):
        """Process body: `body(self)` (a strategy's logic), then `finish`."""
        yield from body(self)
        self.finish()

    def finish(self) -> None:
        """The session is over: a held device is free again, unless a transfer goes on;
        a device that expects nothing more asks for release (release assistance)."""
        if self.transferring:
            return
        now = self.clock if self.booked_at else self.now
        if self.held:
            self._free(now)
        running = [p for p in self._running or () if p.is_alive]
        if running:         # it still awaits an ACK: it asks once the exchanges are over
            self.world.env.process(self._release_after(running))
        else:
            self.world.radios.ask_release(self.device, now)

    def _free(self, t: float) -> None:
        """The device is free of this session from t: what waits for it goes on
        (`wait_free`)."""
        w = self.world
        w.fleet.busy_until[self.device] = t
        for event in w.free_waiters.pop(self.device, ()):
            event.succeed()

    @staticmethod
    def wait_free(world, i: int):
        """Process body: wait until device i's session (if one holds it) is over: its end
        is known once it has finished, at the time it ends (flow fidelity books it ahead)."""
        env, fleet = world.env, world.fleet
        while env.now < fleet.busy_until[i]:
            if math.isinf(fleet.busy_until[i]):
                event = env.event()
                world.free_waiters.setdefault(i, []).append(event)
                yield event
            else:
                yield env.timeout(fleet.busy_until[i] - env.now)

    def _release_after(self, running):
        """Ask for release when the exchanges still running are over, unless another
        session has used the connection since (process body)."""
        radios, i = self.world.radios, self.device
        claimed = radios.claimed_at[i]
        yield self.world.env.all_of(running)
        if radios.claimed_at[i] == claimed:
            radios.ask_release(i, self.world.env.now)

    def transfer_over(self, then, out) -> None:
        """The session's final transfer is over: the device is free again; `then` books
        it (`out` is its Outcome, or the packet process that returned it)."""
        if isinstance(out, simpy.Event):
            out = out.value
        w = self.world
        self.clock = w.env.now
        self._free(w.env.now)
        then(self, out)
        w.radios.ask_release(self.device, w.env.now)

    # -- the radio connection ---------------------------------------------------------------
    def connect(self):
        """Set up the RRC connection if the device is not connected (process body)."""
        w = self.world
        if not w.radios.take_connection(self.device, self.now):
            return
        delay = self.ctx.radio.connect_s
        if delay > 0:
            if w.packet:
                yield w.env.timeout(delay)
            else:
                self.clock += delay

    def connect_ahead(self) -> None:
        """Set up the RRC connection in time for the device to send at the session's start
        (a PINGREQ due then: the radio wakes early)."""
        self.world.radios.take_connection(self.device, self.start, ahead=True)

    # -- exchanges --------------------------------------------------------------------------
    def exchange(self, spec: ExchangeSpec, first_block: int = 0, until: str = "done",
                 ctx: ExchangeContext | None = None):
        """Run a short exchange (process body); returns its Outcome (times relative to
        `start_s`). A device that needs a DTLS session first runs the handshake; if that
        fails, its outcome is returned instead.

        until="delivered": return as soon as the first request has reached the receiver
        and been handled (the rest of the exchange, e.g. the ACK of a notification, goes
        on concurrently and is booked all the same).

        A protected exchange the peer cannot match to the device's DTLS session (its NAT
        binding changed since the handshake, no Connection ID: `DtlsSessions.unmatched`)
        is dropped there silently; the device retransmits it, gives up, then handshakes
        again; its outcome (failure "dtls") is returned.
        """
        out = yield from self._secure(spec, first_block, ctx)
        if out is not None:
            return out
        return (yield from self._run(spec, first_block, until, ctx))

    def _secure(self, spec: ExchangeSpec, first_block: int = 0,
                ctx: ExchangeContext | None = None):
        """What a protected exchange the device starts needs before it goes (process body;
        the one rule of `exchange` and `end_with_transfer`): the handshake
        `DtlsSessions.needed` asks for, or, when the peer cannot match the device's records
        (`DtlsSessions.unmatched`), the exchange dropped there and the handshake after it
        (`_unmatched`). Returns None when `spec` may go at once, else the Outcome that
        stopped it: the failed handshake, or the dropped exchange (the device has tried
        to handshake again since: whether it holds a session is `DtlsSessions.needed`)."""
        w = self.world
        if not (spec.initiator == DEVICE and spec.protected and w.security.enabled):
            return None
        sec, i = w.security, self.device
        handshake = sec.needed(i)
        if handshake is None and sec.unmatched(i, self.now, w.nat.expires_at(i, MANAGER)):
            return (yield from self._unmatched(spec, first_block, ctx))
        if handshake is not None:
            out = yield from self._handshake(*handshake)
            if not out.completed:
                return out
        return None

    def _run(self, spec, first_block, until, ctx):
        """The exchange itself, at the run's fidelity (process body; see `exchange`). In
        flow fidelity, an exchange whose peer's queue is congested (`congested`) is run
        message by message as in packet fidelity, once the simulation has caught up with
        the session's clock: its messages then meet the queue in time order."""
        w = self.world
        env = w.env
        if not w.packet:
            if not self.congested():
                return self._flow(spec, first_block, until, ctx)
            if self.clock > env.now:
                yield env.timeout(self.clock - env.now)
        delivered = env.event() if until == "delivered" else None
        proc = env.process(packet_exchange(self, spec, first_block, delivered,
                                           self.next_rng(), ctx))
        if delivered is not None:
            self._running = [*(self._running or ()), proc]
        out = yield (proc if delivered is None else delivered)
        self.clock = env.now
        return out

    def congested(self) -> bool:
        """Whether a message the device sends now would wait in its peer's queue longer
        than `ExchangeContext.queue_tolerance_s` (flow fidelity then steps message by
        message, so that the fleet's messages meet the queue in the order they arrive)."""
        w, q = self.world, self.peer_queue
        tolerance = self.ctx.queue_tolerance_s
        return q.wait(w.env.now) > tolerance or q.wait(self.clock) > tolerance

    def _unmatched(self, spec, first_block, ctx):
        """A protected exchange the peer drops (process body): every copy goes out by the
        CoAP timers of `ctx` and is wasted, none is answered, and the device waits until
        it gives up (its radio booked as for any exchange); then, having learned its
        session is gone, it handshakes again (`DtlsSessions.needed`). Returns the dropped
        exchange's Outcome."""
        w, i = self.world, self.device
        out = yield from self._run(spec, first_block, "done",
                                   dataclasses.replace(ctx or self.ctx, peer_answers=False))
        w.security.dropped(i)
        yield from self._handshake(*w.security.needed(i))
        return out

    def _handshake(self, spec: ExchangeSpec, tail_bytes: int, tail_name: str):
        """A DTLS handshake's flight pairs, then its last client flight if any (sent once:
        all of its bytes are security overhead, never wasted)."""
        w = self.world
        out = yield from self.exchange(spec, ctx=self.handshake_ctx)
        if not out.completed:
            return out
        if tail_bytes:
            tx = self.ctx.link.up_s(tail_bytes)
            tail = Outcome(completed=True, start_s=self.now, duration_s=tx, device_tx_s=tx,
                           bytes_up=tail_bytes, security_bytes=tail_bytes, msgs_up=1,
                           last_nat_refresh_s=tx + self.ctx.link.rtt_s / 2)
            self.book_outcome(None, tail, tx, lines=[(0.0, "up", tail_name)])
            if w.packet:
                yield w.env.timeout(tx)
            else:
                self.clock += tx
        w.security.handshake_done(self.device)
        return out

    def _flow(self, spec, first_block, until, ctx=None) -> Outcome:
        """A short exchange at flow fidelity: computed at once, no event."""
        w, i = self.world, self.device
        t = self.clock
        out = flow_outcome(spec, ctx or self.ctx, self.next_rng(),
                           nat_open_s=w.nat.expires_at(i, MANAGER) - t,
                           device_gap_s=t - w.radios.last_activity[i],
                           first_block=first_block, with_events=self.traced,
                           start_s=t, queue=self.peer_queue,
                           **w.radios.connected_periods(i))
        out.start_s = t
        if until == "delivered" and not math.isnan(out.first_served_s):
            self.clock = t + out.first_served_s
        else:
            self.clock = t + out.duration_s
        self.book_outcome(spec, out, out.duration_s)
        return out

    def end_with_transfer(self, spec: ExchangeSpec, first_block: int, then):
        """End the session with an image transfer (process body). A transfer the device
        starts (a Block2 pull) first gets the DTLS session it needs, by the rule of
        `exchange` (`_secure`): a handshake if it holds no session, or, if the peer
        dropped its first request (NAT rebinding, no Connection ID), the handshake after
        it, and then the transfer at once in the new session. A transfer the peer starts
        (a push) goes in the session of the exchange that led to it.

        Then the device stays busy until the transfer is over, and `then(session,
        outcome)` runs; the session itself does not wait for it, which keeps a fleet that
        is mostly downloading small in memory. Returns None once the transfer is under
        way, or the Outcome of the handshake that failed (no transfer: `then` does not
        run)."""
        w = self.world
        stop = yield from self._secure(spec, first_block)
        if stop is not None and w.security.needed(self.device) is not None:
            return stop
        self.transferring = True
        if w.packet:
            proc = w.env.process(packet_exchange(self, spec, first_block, None,
                                                 self.next_rng()))
            proc.callbacks.append(partial(self.transfer_over, then))
        else:
            FlowTransfer(self, spec, first_block, then).start()
        return None

    def tcp_connection(self) -> Connection:
        """A fresh TCP connection from the device to its peer, on the session's stream,
        starting now (its requests wait in the peer's queue); the caller runs its flights,
        then hands it to `tcp` or `end_with_tcp_transfer`, from the same time."""
        w = self.world
        return Connection(self.ctx.link, self.next_rng(), w.tcp_params, queue=self.peer_queue,
                          origin_s=self.clock if self.booked_at else self.now,
                          trace=[] if self.traced else None)

    def book_tcp(self, conn: Connection, start_s: float) -> Outcome:
        """Book a TCP conversation computed on `conn` that began at `start_s`: its packets,
        energy, NAT refreshes (TCP binding), load and trace. Returns its Outcome."""
        out = conn.out
        out.duration_s = conn.t
        out.start_s = start_s
        self.book_outcome(None, out, out.duration_s, proto="tcp", lines=conn.trace)
        return out

    def tcp(self, conn: Connection):
        """Book a TCP conversation computed on `conn` from now (process body); the
        session's time moves on by its duration. Returns its Outcome."""
        w = self.world
        out = self.book_tcp(conn, self.now)
        if w.packet:
            yield w.env.timeout(out.duration_s)
        else:
            self.clock += out.duration_s
        return out

    def end_with_tcp_transfer(self, conn: Connection, then) -> None:
        """End the session with a download computed on `conn`, sharing its cell's downlink
        like a CoAP transfer (its downlink serialization stretched by the cell's load);
        then `then(session, outcome)` books it."""
        self.transferring = True
        env = self.world.env
        out = conn.out
        out.duration_s = conn.t
        start = self.now

        def begin(_event=None):
            out.start_s = env.now
            done = self.cell.transfer(out.duration_s - out.path_down_s, out.path_down_s,
                                      out.air_down_s, self.ctx.link.servers)
            done.callbacks.append(finish)

        def finish(event):
            self.book_outcome(None, out, event.value, proto="tcp", lines=conn.trace)
            self.transfer_over(then, out)

        if start > env.now:     # flow fidelity: the simulation catches up with the session
            env.timeout(start - env.now).callbacks.append(begin)
        else:
            begin()

    @property
    def cell(self):
        """The radio cell (or gateway channel) the device shares."""
        w = self.world
        return w.cells[w.fleet.cell[self.device]]

    # -- booking: what exchanges cost -------------------------------------------------------
    def book(self, out: Outcome, finished: bool = True) -> None:
        """Add an exchange's counts to the device, and its failure to the run's
        (`finished=False`: what an exchange still under way at the horizon has sent)."""
        w = self.world
        w.fleet.add(self.device, out, finished)
        if finished and out.failure:
            w.failures[out.failure] += 1

    def book_outcome(self, spec, out: Outcome, duration: float, proto: str = "udp",
                     lines=None) -> None:
        """Book an exchange computed at once (flow fidelity, a TCP conversation) that
        lasted `duration` (stretched by the cell or not): its NAT refresh and drops, radio
        time, the peer's load, its trace and its counts. `proto` is the NAT binding the
        device's packets refresh; a TCP conversation gives its trace `lines` ((t, "up" |
        "down", text)) instead of a spec."""
        w, t = self.world, out.start_s
        scale = duration / out.duration_s if out.duration_s > 0 else 1.0
        if scale != 1.0:
            for name in ("first_delivery_s", "first_served_s", "first_downlink_s", "last_nat_refresh_s",
                         "last_inbound_s", "woke_s"):
                setattr(out, name, getattr(out, name) * scale)
            out.duration_s = duration
        if not math.isnan(out.last_nat_refresh_s):
            w.nat.outbound(self.device, MANAGER, t + out.last_nat_refresh_s, proto)
        if not math.isnan(out.last_inbound_s):
            w.nat.admitted_inbound(self.device, MANAGER, t + out.last_inbound_s, proto)
        w.nat.count_drops(out.nat_drops)
        if out.msgs_up or out.msgs_down:
            radios, start = w.radios, t
            if not math.isnan(out.woke_s):      # paged: set up, then connected
                start = t + out.woke_s
                radios.set_up(self.device, start - self.ctx.radio.connect_s)
            # receiving: each downlink packet's time on air, and the continuous reception
            # after each packet the device sends (after a packet it receives, its own next
            # packet, or the radio's tail after the exchange, follows at once)
            radios.busy(self.device, start, t + duration, tx_s=out.device_tx_s,
                        listen_s=self.ctx.link.down_s(out.bytes_down)
                        + out.msgs_up * self.ctx.radio.drx_inactivity_s)
        w.peer_load.spread(t, t + duration, out.manager_in, out.manager_out,
                           out.manager_bytes_out)
        for (t_block, t_in, direction, b, a, fate) in out.events or ():
            # contention stretches the gaps between blocks, not a block's own timing
            self.trace(t + t_block * scale + t_in, direction, spec, b, a, fate)
        for (t_line, direction, text) in lines or ():
            self.trace_line(t + t_line * scale, direction, text)
        self.book(out)

    # packet fidelity books message by message (`session/packet.py`)
    def radio_active(self, t0: float, t1: float, tx_s: float = 0.0) -> None:
        """The device's radio is active over [t0, t1], `tx_s` of it transmitting."""
        self.world.radios.busy(self.device, t0, t1, tx_s=tx_s)

    def radio_paged(self, t0: float) -> None:
        """The device, idle, was paged: its connection is set up from t0."""
        self.world.radios.set_up(self.device, t0)

    def dropped_by_peer(self, t: float) -> None:
        """A device message reaches the peer at t, which drops it (no session for its
        records): it adds to the peer's load only. The binding the peer knows is not
        refreshed: the message opened one at a port the peer does not know."""
        self.world.peer_load.add(t, msgs_in=1)

    def reached_peer(self, t: float) -> None:
        """A device message reaches the peer at t: it refreshes the NAT binding on the way
        and adds to the peer's load."""
        w = self.world
        w.nat.outbound(self.device, MANAGER, t)
        w.peer_load.add(t, msgs_in=1)

    def peer_sends(self, t: float, nbytes: int) -> bool:
        """The peer sends a message of `nbytes` to the device at t: its load, and whether
        the NAT admits it (a drop is counted by the NAT)."""
        w = self.world
        w.peer_load.add(t, msgs_out=1, bytes_out=nbytes)
        return w.nat.inbound(self.device, MANAGER, t)

    def served_by_peer(self):
        """Process body: the message that reached the peer now goes through its queue."""
        env = self.world.env
        yield env.timeout(self.peer_queue.sojourn(env.now))

    @property
    def peer_queue(self):
        """The FIFO queue of the party the device exchanges with: its gateway's, or that
        of the manager's server for its cell (`world/manager.py` FifoQueue)."""
        w = self.world
        cell = int(w.fleet.cell[self.device])
        return w.peer_queues[cell] if w.peer_queues else w.manager.queue_of(cell)

    def late_copy(self, direction: str, nbytes: int) -> None:
        """A copy on the device's link after its exchange was booked: wasted."""
        fleet, i = self.world.fleet, self.device
        getattr(fleet, f"bytes_{direction}")[i] += nbytes
        getattr(fleet, f"msgs_{direction}")[i] += 1
        fleet.wasted_bytes[i] += nbytes

    def book_lost_polls(self, times: np.ndarray, copies: int, nbytes: int,
                        text: str) -> None:
        """Manager polls at `times` that found the NAT closed or the device in PSM, each
        sent `copies` times (`nbytes` each) and lost; `text` is the poll's trace text.
        Nothing is drawn: the copies go at the mean initial timeout's schedule, and the NAT
        judges each as it would one by one (a poll with a copy it dropped failed at the
        NAT; copies it admitted refresh the binding where inbound packets do)."""
        w, i = self.world, self.device
        n = len(times)
        ctx = self.ctx
        t0 = ctx.ack_timeout_s * (1 + ctx.ack_random_factor) / 2
        sent = (np.asarray(times, dtype=float)[:, None]
                + t0 * (2.0 ** np.arange(copies) - 1.0))          # poll x copy
        order = np.argsort(sent, axis=None, kind="stable")
        admitted = np.empty(sent.size, dtype=bool)
        admitted[order] = w.nat.rule().admitted(sent.ravel()[order][None, :],
                                                [w.nat.expires_at(i, MANAGER)])[0]
        admitted = admitted.reshape(sent.shape)
        dropped = ~admitted
        by_nat = int(dropped.any(axis=1).sum())     # a copy dropped: the NAT's failure
        w.polls_sent += n
        w.fleet.failed_attempts[i] += n
        w.failures["nat"] += by_nat
        w.failures["unreachable"] += n - by_nat
        w.nat.count_drops(int(dropped.sum()))
        if admitted.any():
            w.nat.admitted_inbound(i, MANAGER, float(sent[admitted].max()))
        if self.traced:
            for row, shut_row in zip(sent.tolist(), dropped.tolist(), strict=True):
                for k, (tp, shut) in enumerate(zip(row, shut_row, strict=True)):
                    again = f" (retransmission {k})" if k else ""
                    fate = "[dropped by NAT]" if shut else "[lost: device in PSM]"
                    self.trace_line(tp, "down", f"{text}{again} {fate}")
        w.manager.load.add_many(times, msgs_out=copies, bytes_out=copies * nbytes)

    def lost_downlink(self, t: float, nbytes: int, text: str, held: bool) -> None:
        """The peer sends a packet of `nbytes` over TCP at t to a device in PSM: its load,
        the NAT's verdict, and a trace line. It never reaches the radio (it counts on no
        link), unless the network holds it for the device (`held`: extended buffering)."""
        w = self.world
        w.peer_load.add(t, msgs_out=1, bytes_out=nbytes)
        if not w.nat.inbound(self.device, MANAGER, t, "tcp"):
            self.trace_line(t, "down", f"{text} [dropped by NAT]")
            return
        fate = "[held by the network: device in PSM]" if held else "[lost: device in PSM]"
        self.trace_line(t, "down", f"{text} {fate}")

    def book_backhaul(self, t: float, msgs_in: int, msgs_out: int, bytes_out: int) -> None:
        """The gateway relays the device's message to the manager at t (the manager's load;
        the device's own exchange was with the gateway)."""
        self.world.manager.load.add(t, msgs_in=msgs_in, msgs_out=msgs_out,
                                    bytes_out=bytes_out)

    # -- booking: what the device gains ------------------------------------------------------
    def poll_sent(self) -> None:
        self.world.polls_sent += 1

    def poll_answered(self) -> None:
        self.world.polls_answered += 1

    def first_contact(self, t: float) -> None:
        """The manager's update reaches the device's attention at t (the first time only)."""
        self.world.fleet.first_contact(self.device, t)

    def download_started(self, t: float) -> None:
        """The image's first payload leaves for the device at t (the first time only)."""
        fleet = self.world.fleet
        if math.isnan(fleet.t_download_start_s[self.device]):
            fleet.t_download_start_s[self.device] = t

    def blocks_received(self, blocks: int) -> None:
        self.world.fleet.blocks_done[self.device] += blocks

    def discard_blocks(self, spec: ExchangeSpec) -> None:
        """The device discards the image blocks it holds, blocks 0 on of `spec` (a push
        that starts again from block 0, `update.push_resume`): what one copy of each of
        their messages counted as payload and security (`Outcome`) is wasted from now."""
        w, i = self.world, self.device
        held = self.blocks_held
        if held == 0:
            return
        record = self.ctx.record_bytes if spec.protected else 0
        wire, payload, security = credited(spec, record, 0, held)
        fleet = w.fleet
        fleet.payload_bytes[i] -= payload
        fleet.security_bytes[i] -= security
        fleet.wasted_bytes[i] += wire
        fleet.blocks_done[i] = 0
        w.blocks_discarded += held

    @property
    def blocks_held(self) -> int:
        """Image blocks the device holds (a transfer resumes after them)."""
        return int(self.world.fleet.blocks_done[self.device])

    def image_complete(self, t: float, install_s: float) -> None:
        """The device holds the whole update at t; it counts as updated after install,
        unless its install fails (`World.install_fails`): then it rolls back."""
        w, i = self.world, self.device
        w.fleet.t_download_end_s[i] = t
        w.manager.download_done(i)
        ended = w.fleet.t_install_failed_s if w.install_fails[i] else w.fleet.t_updated_s
        ended[i] = t + install_s

    # -- trace ------------------------------------------------------------------------------
    def trace(self, t: float, direction: str, spec: ExchangeSpec, block: int, attempt: int,
              fate: str) -> None:
        if not self.traced or spec.trace is None:
            return
        req_text, resp_text = spec.trace(block)
        is_request = (direction == "up") == (spec.initiator == DEVICE)
        text = req_text if is_request else resp_text
        if is_request and attempt:
            text += f" (retransmission {attempt})"
        self.trace_line(t, direction, text + FATES[fate])

    def trace_line(self, t: float, direction: str, text: str) -> None:
        """One message of the trace, between the device and its peer."""
        if not self.traced:
            return
        peer = self.world.topology.peer_letter
        arrow = f"D-->{peer}" if direction == "up" else f"D<--{peer}"
        self.world.tracer.add(t, self.device_id, f"{arrow}: {text}")
