"""Packet fidelity: an exchange run message by message as SimPy processes.

The rules are those of `exchange.py` (its module docstring); here every transmission,
one-way delay, manager service, paging wait and cell serialization is an event, so queues
at the manager and in the cell, and a device's radio going idle mid-transfer, emerge
instead of being approximated.
"""
from __future__ import annotations

import math

from simulation.protocols.exchange import DEVICE, ExchangeSpec, Outcome
from simulation.world.manager import ADDRESS as MANAGER


class _Block:
    """State shared by the attempts of one block."""

    __slots__ = ("done", "nat_drop", "unreachable", "first_delivery", "first_downlink",
                 "last_refresh", "delivered", "out", "start")

    def __init__(self, env, delivered, out, start):
        self.done = env.event()
        self.delivered, self.out, self.start = delivered, out, start
        self.nat_drop = self.unreachable = False
        self.first_delivery = self.first_downlink = self.last_refresh = math.nan


def packet_exchange(session, spec: ExchangeSpec, first_block: int, delivered, rng, ctx=None):
    """Process body: run blocks `first_block`.. of `spec`; returns an Outcome (times are
    relative to the start; `duration_s` is the actual duration) after booking it.

    `delivered`, if given, is an event that succeeds with the Outcome (still being filled)
    once the first request has reached the manager and been handled. `rng` is the
    exchange's random stream; `ctx` the timers and link (default: the run's).
    """
    env = session.world.env
    ctx = ctx or session.world.ctx
    start = env.now
    out = Outcome(start_s=start)
    session.world.under_way[id(out)] = (session.device, out)
    m = ctx.max_retransmit + 1
    for b in range(first_block, spec.blocks):
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
            out.failure = "nat" if blk.nat_drop else (
                "unreachable" if blk.unreachable else "timeout")
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
    return rng.random() < session.world.ctx.link.loss


def _sizes(spec, b, ctx):
    record = ctx.record_bytes if spec.protected else 0
    return int(spec.req_bytes[b]) + record, int(spec.resp_bytes[b]) + record


def _device_first(session, spec, b, a, blk, out, rng, ctx):
    """Device -> manager request, manager -> device response."""
    req, resp = _sizes(spec, b, ctx)
    rtt = float(session.world.ctx.link.sample_rtt(rng))
    if not (yield from _up(session, spec, b, a, blk, out, rng, req, rtt, request=True)):
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
    rtt = float(session.world.ctx.link.sample_rtt(rng))
    if not (yield from _down(session, spec, b, a, blk, out, rng, req, rtt)):
        return
    if math.isnan(blk.first_delivery):
        blk.first_delivery = session.world.env.now
    if (yield from _up(session, spec, b, a, blk, out, rng, resp, rtt, request=False)):
        if not blk.done.triggered:
            blk.done.succeed()


def _up(session, spec, b, a, blk, out, rng, nbytes, rtt, request):
    """A device packet: transmitted, lost on the radio or carried rtt/2 to the manager,
    refreshing the NAT binding on the way, then served. True if the manager handled it."""
    w, env, i = session.world, session.world.env, session.device
    s_up = w.ctx.link.up_s(nbytes)
    w.radios.busy(i, env.now, env.now + s_up, tx_s=s_up)
    _count(session, out, "up", nbytes)
    lost = _lost(session, rng)
    session.trace(env.now, "up", spec, b, a, "lost" if lost else "")
    yield env.timeout(s_up)
    if lost:
        return False
    yield env.timeout(rtt / 2)
    w.nat.outbound(i, MANAGER, env.now)
    blk.last_refresh = env.now
    if request and math.isnan(blk.first_delivery):
        blk.first_delivery = env.now
    w.peer_load.add(env.now, msgs_in=1)
    yield from w.peer_serve(i)
    return True


def _down(session, spec, b, a, blk, out, rng, nbytes, rtt):
    """A manager packet: through the NAT (or dropped), rtt/2, paging if the device is idle,
    the cell's downlink, then lost on the radio or received. True if received."""
    w, env, i = session.world, session.world.env, session.device
    w.peer_load.add(env.now, msgs_out=1, bytes_out=nbytes)
    if math.isnan(blk.first_downlink):
        blk.first_downlink = env.now
    if not w.nat.inbound(i, MANAGER, env.now):
        out.nat_drops += 1
        blk.nat_drop = True
        session.trace(env.now, "down", spec, b, a, "dropped")
        return False
    yield env.timeout(rtt / 2)
    if not (yield from _reach(session, blk, rng)):
        return False
    yield from _downlink(session, nbytes, out)
    lost = _lost(session, rng)
    session.trace(env.now, "down", spec, b, a, "lost" if lost else "")
    return not lost


def _count(session, out, direction: str, nbytes: int) -> None:
    """Count a packet on the device's radio: in its exchange's outcome while that is under
    way, straight in the device's counters once the exchange has been booked (a late copy,
    or the answer to one, still travels after the exchange ended)."""
    w = session.world
    if id(out) in w.under_way:
        setattr(out, f"bytes_{direction}", getattr(out, f"bytes_{direction}") + nbytes)
        setattr(out, f"msgs_{direction}", getattr(out, f"msgs_{direction}") + 1)
    else:
        getattr(w.fleet, f"bytes_{direction}")[session.device] += nbytes
        getattr(w.fleet, f"msgs_{direction}")[session.device] += 1


def _reach(session, blk, rng):
    """Wait for paging if the device is idle; False if it is in PSM (packet lost)."""
    w, env, i = session.world, session.world.env, session.device
    delay = w.radios.downlink_delay(i, env.now, rng.random())
    if delay is None:
        blk.unreachable = True
        return False
    if delay > 0:
        w.radios.busy(i, env.now + delay - w.ctx.connect_s, env.now + delay)
        yield env.timeout(delay)
    return True


def _downlink(session, nbytes, out):
    """Send a packet through the device's cell downlink, shared with the packets of the
    cell's other devices (processor sharing, `world/cell.py`)."""
    w, env, i = session.world, session.world.env, session.device
    s = w.ctx.link.down_s(nbytes)
    t0 = env.now
    _count(session, out, "down", nbytes)
    out.air_down_s += s
    yield w.cells[w.fleet.cell[i]].transfer(0.0, s, s)
    w.radios.busy(i, t0, env.now)
