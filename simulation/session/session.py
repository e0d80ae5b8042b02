"""A session: one wake-up of one device (or one contact the manager starts), and the one
place that books what its exchanges cost into the world.

Every exchange of a session goes through `Session.exchange` (or, for an image transfer that
ends the session, `Session.end_with_transfer`), which runs it at packet or flow fidelity
(`sim.fidelity`) and books its bytes, energy, NAT refreshes, manager load and trace lines.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import simpy

from simulation.session.flow_transfer import FlowTransfer
from simulation.session.packet import packet_exchange
from simulation.trace import FATES
from simulation.transport.exchange import DEVICE, ExchangeContext, ExchangeSpec, Outcome, \
    flow_outcome
from simulation.transport.tcp_connection import Connection
from simulation.world.manager import ADDRESS as MANAGER


class Session:
    """One wake-up of one device: its clock, random stream, exchanges and trace.

    In flow fidelity a session keeps its own clock, ahead of the simulation's: exchanges
    that nothing else can interfere with are computed one after the other without events;
    only an image transfer, which shares its cell, waits for the simulation to catch up.
    Everything a session changes (NAT binding, radio energy, manager load) is stamped with
    the session's time, so the result is the same as stepping through it.
    """

    __slots__ = ("world", "device", "device_id", "wake", "stream", "traced", "start",
                 "clock", "_exchanges", "_tokens", "transferring")

    def __init__(self, world, device: int, wake: int, stream: str = "session"):
        self.world, self.device, self.wake, self.stream = world, device, wake, stream
        self.device_id = int(world.fleet.ids[device])   # identity: draws, tokens, trace
        self.traced = world.tracer.wants(self.device_id)
        self.start = self.clock = world.env.now     # the wake-up (or the manager's poll)
        self._exchanges = 0
        self._tokens = 0
        self.transferring = False

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

    def connect(self):
        """Set up the RRC connection if the device is not connected."""
        w, i, t = self.world, self.device, self.now
        delay = w.radios.uplink_delay(i, t)
        if delay > 0:
            w.radios.busy(i, t, t + delay)
            if w.packet:
                yield w.env.timeout(delay)
            else:
                self.clock += delay

    def exchange(self, spec: ExchangeSpec, first_block: int = 0, until: str = "done",
                 ctx: ExchangeContext | None = None):
        """Run a short exchange (process body); returns its Outcome (times relative to
        `start_s`). A device that needs a DTLS session first runs the handshake; if that
        fails, its outcome is returned instead.

        until="delivered": return as soon as the first request has reached the receiver
        and been handled (the rest of the exchange, e.g. the ACK of a notification, goes
        on concurrently and is booked all the same).
        """
        w = self.world
        if spec.initiator == DEVICE and spec.protected and w.security.enabled:
            handshake = w.security.needed(self.device, self.now,
                                          w.nat.expires_at(self.device, MANAGER))
            if handshake is not None:
                out = yield from self._handshake(*handshake)
                if not out.completed:
                    return out
        if w.packet:
            env = w.env
            delivered = env.event() if until == "delivered" else None
            proc = env.process(packet_exchange(self, spec, first_block, delivered,
                                               self.next_rng(), ctx))
            return (yield (proc if delivered is None else delivered))
        return self._flow(spec, first_block, until, ctx)

    def _handshake(self, spec: ExchangeSpec, tail_bytes: int, tail_name: str):
        """A DTLS handshake's flight pairs, then its last client flight if any."""
        w, i = self.world, self.device
        out = yield from self.exchange(spec, ctx=w.handshake_ctx)
        if not out.completed:
            return out
        if tail_bytes:
            t = self.now
            tx = w.ctx.link.up_s(tail_bytes)
            w.radios.busy(i, t, t + tx, tx_s=tx)
            w.fleet.bytes_up[i] += tail_bytes
            w.fleet.security_bytes[i] += tail_bytes    # sent once, never wasted
            w.fleet.msgs_up[i] += 1
            w.nat.outbound(i, MANAGER, t + tx + w.ctx.link.rtt_s / 2)
            if self.traced:
                peer = "M" if w.strategy.peer_is_manager else "G"
                w.tracer.add(t, self.device_id, f"D-->{peer}: {tail_name}")
            if w.packet:
                yield w.env.timeout(tx)
            else:
                self.clock += tx
        w.security.established[i] = True
        w.security.handshakes += 1
        return out

    def end_with_transfer(self, spec: ExchangeSpec, first_block: int, then) -> None:
        """End the session with an image transfer: the device stays busy until it is over,
        then `then(session, outcome)` runs. Nothing of the session waits meanwhile, which
        keeps a fleet that is mostly downloading small in memory."""
        self.transferring = True
        w = self.world
        if w.packet:
            proc = w.env.process(packet_exchange(self, spec, first_block, None,
                                                 self.next_rng()))
            proc.callbacks.append(partial(self.transfer_over, then))
        else:
            FlowTransfer(self, spec, first_block, then).start()

    def tcp_connection(self) -> Connection:
        """A fresh TCP connection from the device to its peer, on the session's stream;
        the caller runs its flights, then hands it to `tcp` or `end_with_tcp_transfer`."""
        w = self.world
        return Connection(w.ctx.link, self.next_rng(), w.tcp_params,
                          service_s=w.ctx.service_s, trace=[] if self.traced else None)

    def book_tcp(self, conn: Connection, start_s: float) -> Outcome:
        """Book a TCP conversation computed on `conn` that began at `start_s`: its packets,
        energy, NAT refreshes (TCP binding), load and trace. Returns its Outcome."""
        out = conn.out
        out.duration_s = conn.t
        out.start_s = start_s
        self._book_flow(None, out, out.duration_s, proto="tcp", lines=conn.trace)
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
        w, env = self.world, self.world.env
        out = conn.out
        out.duration_s = conn.t
        start = self.now

        def begin(_event=None):
            out.start_s = env.now
            cell = w.cells[w.fleet.cell[self.device]]
            done = cell.transfer(out.duration_s - out.path_down_s, out.path_down_s,
                                 out.air_down_s)
            done.callbacks.append(finish)

        def finish(event):
            self._book_flow(None, out, event.value, proto="tcp", lines=conn.trace)
            self.transfer_over(then, out)

        if start > env.now:     # flow fidelity: the simulation catches up with the session
            env.timeout(start - env.now).callbacks.append(begin)
        else:
            begin()

    def transfer_over(self, then, out) -> None:
        """The session's final transfer is over: the device is free again; `then` books
        it (`out` is its Outcome, or the packet process that returned it)."""
        if isinstance(out, simpy.Event):
            out = out.value
        w = self.world
        self.clock = w.env.now
        w.busy_until[self.device] = w.env.now
        then(self, out)

    def book(self, out: Outcome) -> None:
        """Add a finished exchange's counts to the device and the run."""
        w = self.world
        w.fleet.add(self.device, out)
        if out.failure:
            w.failures[out.failure] += 1

    def _flow(self, spec, first_block, until, ctx=None) -> Outcome:
        """A short exchange at flow fidelity: computed at once, no event."""
        w, i = self.world, self.device
        t = self.clock
        out = flow_outcome(spec, ctx or w.ctx, self.next_rng(),
                           nat_open_s=w.nat.expires_at(i, MANAGER) - t,
                           device_gap_s=t - w.radios.last_activity[i],
                           first_block=first_block, with_events=self.traced)
        out.start_s = t
        if until == "delivered" and not math.isnan(out.first_delivery_s):
            self.clock = t + out.first_delivery_s + w.ctx.service_s
        else:
            self.clock = t + out.duration_s
        self._book_flow(spec, out, out.duration_s)
        return out

    def _book_flow(self, spec, out: Outcome, duration: float, proto: str = "udp",
                   lines=None) -> None:
        """Book a flow outcome that lasted `duration` (stretched by the cell or not).
        `proto` is the NAT binding the device's packets refresh; a TCP conversation gives
        its trace `lines` ((t, "up"|"down", text)) instead of a spec."""
        w, i, t = self.world, self.device, out.start_s
        scale = duration / out.duration_s if out.duration_s > 0 else 1.0
        if scale != 1.0:
            for name in ("first_delivery_s", "first_downlink_s", "last_nat_refresh_s"):
                setattr(out, name, getattr(out, name) * scale)
            out.duration_s = duration
        if not math.isnan(out.last_nat_refresh_s):
            w.nat.outbound(i, MANAGER, t + out.last_nat_refresh_s, proto)
        w.nat.dropped += out.nat_drops
        if out.msgs_up or out.msgs_down:
            w.radios.busy(i, t, t + duration, tx_s=out.device_tx_s)
        w.peer_load.spread(t, t + duration, out.manager_in, out.manager_out,
                              out.manager_bytes_out)
        for (t_block, t_in, direction, b, a, fate) in out.events or ():
            # contention stretches the gaps between blocks, not a block's own timing
            self.trace(t + t_block * scale + t_in, direction, spec, b, a, fate)
        for (t_line, direction, text) in lines or ():
            self.trace_line(t + t_line * scale, direction, text)
        self.book(out)

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
        peer = "M" if self.world.strategy.peer_is_manager else "G"
        arrow = f"D-->{peer}" if direction == "up" else f"D<--{peer}"
        self.world.tracer.add(t, self.device_id, f"{arrow}: {text}")
