"""Packet fidelity: an exchange run message by message as SimPy processes.

The rules are those of `transport/exchange.py` (its module docstring); here every transmission,
one-way delay, manager service, paging wait and cell serialization is an event, so queues
at the manager and in the cell, and a device's radio going idle mid-transfer, emerge
instead of being approximated.

Whatever a message changes in the world (radio time, NAT binding, the peer's load and queue,
the cell) is booked through the session's methods, as flow fidelity books a computed
exchange (`session.py`).

Bytes split as `Outcome` defines: each packet is classified when it goes on the device's
radio link. The first copy of a block's request, and of its response, is credited to
payload and security at once; when its block fails these credits turn into wasted bytes
(all of the exchange's, for a handshake). Any other copy is wasted at once.
"""
from __future__ import annotations

import math

from simulation.transport.exchange import DEVICE, ExchangeSpec, Outcome
from simulation.world.radio import IDLE


class _Block:
    """State shared by the attempts of one block."""

    __slots__ = ("done", "nat_drop", "unreachable", "first_delivery", "first_downlink",
                 "last_refresh", "delivered", "out", "start", "seen", "credit")

    def __init__(self, env, delivered, out, start):
        self.done = env.event()
        self.delivered, self.out, self.start = delivered, out, start
        self.nat_drop = self.unreachable = False
        self.first_delivery = self.first_downlink = self.last_refresh = math.nan
        self.seen = [False, False]      # a copy of the request, of the response on the link
        self.credit = [0, 0, 0]         # their bytes, payload and security bytes

    def fail(self, out, handshake: bool) -> None:
        """The block failed: what its first copies were credited is wasted (for a
        handshake, everything the exchange sent)."""
        if handshake:
            out.wasted_bytes = out.bytes_up + out.bytes_down
            out.payload_bytes = out.security_bytes = 0
            return
        nbytes, payload, security = self.credit
        out.wasted_bytes += nbytes
        out.payload_bytes -= payload
        out.security_bytes -= security


def packet_exchange(session, spec: ExchangeSpec, first_block: int, delivered, rng, ctx=None,
                    last_block: int | None = None):
    """Process body: run blocks `first_block` to `last_block` (excluded; default: all) of
    `spec`; returns an Outcome (times are relative to the start; `duration_s` is the
    actual duration) after booking it.

    `delivered`, if given, is an event that succeeds with the Outcome (still being filled)
    once the first request has reached the manager and been handled. `rng` is the
    exchange's random stream; `ctx` the timers and link (default: the run's).
    """
    env = session.world.env
    ctx = ctx or session.ctx
    start = env.now
    out = Outcome(start_s=start)
    session.world.under_way[id(out)] = (session, out)
    m = ctx.max_retransmit + 1
    for b in range(first_block, spec.blocks if last_block is None else last_block):
        blk = _Block(env, delivered, out, start)
        t0 = float(ctx.initial_timeouts(rng, 1)[0])
        attempts = 0
        for a in range(m):
            if blk.done.triggered:
                break
            attempts += 1
            journey = _device_first if spec.initiator == DEVICE else _peer_first
            env.process(journey(session, spec, b, a, blk, out, rng, ctx))
            yield blk.done | env.timeout(t0 * 2 ** a)
        out.retransmissions += attempts - 1
        for name in ("first_delivery", "first_downlink"):
            if math.isnan(getattr(out, name + "_s")) and not math.isnan(getattr(blk, name)):
                setattr(out, name + "_s", getattr(blk, name) - start)
        if not blk.done.triggered:
            out.failure = "dtls" if not ctx.peer_answers else "nat" if blk.nat_drop else (
                "unreachable" if blk.unreachable else "timeout")
            blk.fail(out, spec.handshake)
            break
        if not math.isnan(blk.last_refresh):
            out.last_nat_refresh_s = blk.last_refresh - start
        out.blocks_done += 1
    out.completed = out.failure is None
    out.duration_s = env.now - start
    del session.world.under_way[id(out)]
    session.book(out)
    if delivered is not None and not delivered.triggered:
        delivered.succeed(out)
    return out


def _lost(session, rng) -> bool:
    return rng.random() < session.ctx.link.loss


def _sizes(spec, b, ctx):
    """(wire bytes, payload bytes, security bytes) of block b's request and response."""
    record = ctx.record_bytes if spec.protected else 0
    req = int(spec.req_bytes[b]) + record
    resp = int(spec.resp_bytes[b]) + record
    return ((req, int(spec.req_payload[b]), req if spec.handshake else record),
            (resp, int(spec.resp_payload[b]), resp if spec.handshake else record))


def _device_first(session, spec, b, a, blk, out, rng, ctx):
    """Device -> manager request, manager -> device response."""
    req, resp = _sizes(spec, b, ctx)
    rtt = float(session.ctx.link.sample_rtt(rng))
    if not (yield from _up(session, spec, b, a, blk, out, rng, req, rtt, request=True,
                           answers=ctx.peer_answers)):
        return
    if blk.delivered is not None and not blk.delivered.triggered:
        blk.out.first_delivery_s = blk.first_delivery - blk.start
        blk.delivered.succeed(blk.out)
    if (yield from _down(session, spec, b, a, blk, out, rng, resp, rtt)):
        if not blk.done.triggered:
            blk.done.succeed()


def _peer_first(session, spec, b, a, blk, out, rng, ctx):
    """Manager -> device request, device -> manager response."""
    req, resp = _sizes(spec, b, ctx)
    rtt = float(session.ctx.link.sample_rtt(rng))
    if not (yield from _down(session, spec, b, a, blk, out, rng, req, rtt)):
        return
    if math.isnan(blk.first_delivery):
        blk.first_delivery = session.world.env.now
    if (yield from _up(session, spec, b, a, blk, out, rng, resp, rtt, request=False)):
        if not blk.done.triggered:
            blk.done.succeed()


def _up(session, spec, b, a, blk, out, rng, packet, rtt, request, answers=True):
    """A device packet (`_sizes`): transmitted, lost on the radio or carried rtt/2 to the
    manager, refreshing the NAT binding on the way, then served. True if the manager
    handled it; a manager that cannot match the device's records (`answers` false) drops
    it on arrival (`Session.dropped_by_peer`)."""
    w, env = session.world, session.world.env
    s_up = session.ctx.link.up_s(packet[0])
    session.radio_active(env.now, env.now + s_up, tx_s=s_up)
    _count(session, out, blk, "up", packet, request)
    lost = _lost(session, rng)
    session.trace(env.now, "up", spec, b, a, "lost" if lost else "" if answers
                  else "unmatched")
    yield env.timeout(s_up)
    if lost:
        return False
    yield env.timeout(rtt / 2)
    if not answers:
        session.dropped_by_peer(env.now)
        return False
    session.reached_peer(env.now)
    blk.last_refresh = env.now
    if request and math.isnan(blk.first_delivery):
        blk.first_delivery = env.now
    yield from session.served_by_peer()
    return True


def _down(session, spec, b, a, blk, out, rng, packet, rtt):
    """A manager packet (`_sizes`): through the NAT (or dropped), rtt/2, paging if the
    device is idle, the cell's downlink, then lost on the radio or received. True if
    received."""
    env = session.world.env
    admitted = session.peer_sends(env.now, packet[0])
    if math.isnan(blk.first_downlink):
        blk.first_downlink = env.now
    if not admitted:
        out.nat_drops += 1
        blk.nat_drop = True
        session.trace(env.now, "down", spec, b, a, "dropped")
        return False
    yield env.timeout(rtt / 2)
    if not (yield from _reach(session, blk, rng)):
        return False
    yield from _downlink(session, packet, out, blk, spec.initiator != DEVICE)
    lost = _lost(session, rng)
    session.trace(env.now, "down", spec, b, a, "lost" if lost else "")
    return not lost


def _count(session, out, blk, direction: str, packet, request: bool) -> None:
    """Count a packet (`_sizes`) on the device's radio: in its exchange's outcome while that
    is under way, straight in the device's counters once the exchange has been booked (a
    late copy, or the answer to one, still travels after the exchange ended: wasted)."""
    w = session.world
    nbytes = packet[0]
    if id(out) in w.under_way:
        setattr(out, f"bytes_{direction}", getattr(out, f"bytes_{direction}") + nbytes)
        setattr(out, f"msgs_{direction}", getattr(out, f"msgs_{direction}") + 1)
        which = 0 if request else 1
        if blk.seen[which]:
            out.wasted_bytes += nbytes
        else:                       # the message's first copy on the link
            blk.seen[which] = True
            for k in range(3):
                blk.credit[k] += packet[k]
            out.payload_bytes += packet[1]
            out.security_bytes += packet[2]
    else:
        session.late_copy(direction, nbytes)


def _reach(session, blk, rng):
    """Wait for paging if the device is idle; False if it is in PSM (packet lost)."""
    w, env, i = session.world, session.world.env, session.device
    idle = w.radios.state(i, env.now) == IDLE
    rng.random()        # the draw of the former paging model: kept, so no other draw moves
    delay = w.radios.downlink_delay(i, env.now)
    if delay is None:
        blk.unreachable = True
        return False
    if idle:
        session.radio_paged(env.now + delay - session.ctx.radio.connect_s)
    if delay > 0:
        yield env.timeout(delay)
    return True


def _downlink(session, packet, out, blk, request):
    """Send a packet (`_sizes`) through the device's cell downlink, shared with the packets
    of the cell's other devices (processor sharing, `world/cell.py`)."""
    env = session.world.env
    s = session.ctx.link.down_s(packet[0])
    t0 = env.now
    _count(session, out, blk, "down", packet, request)
    out.air_down_s += s
    yield session.cell.transfer(0.0, s, s, session.ctx.link.servers)
    session.radio_active(t0, env.now)
