"""One run: the world (fleet, radios, cells, NAT, manager), device wake-ups and sessions.

A device costs nothing while it sleeps: its next wake-up is one timeout in the event queue,
whose callback starts a short-lived session process; the session runs the strategy's
wake-up logic, then schedules the next wake-up. Every exchange of a session goes through
`Session.exchange`, which runs it at packet or flow fidelity (`sim.fidelity`) and books
its bytes, energy, NAT refreshes, manager load and trace lines.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
import simpy

from simulation.protocols.exchange import DEVICE, ExchangeContext, ExchangeSpec, Outcome, \
    flow_outcome
from simulation.protocols.packet import packet_exchange
from simulation.randomness import Streams
from simulation.scenario import Scenario
from simulation.trace import FATES, Tracer
from simulation.world.cell import Cell
from simulation.world.fleet import Fleet
from simulation.world.link import LinkModel
from simulation.world.manager import ADDRESS as MANAGER, Manager
from simulation.world.nat import Nat
from simulation.world.radio import Radios


class World:
    """Everything one run simulates."""

    def __init__(self, scenario: Scenario, trace_devices: int = 0):
        from simulation.strategies import strategy_class

        sc = self.scenario = scenario
        self.env = simpy.Environment()
        self.horizon_s = sc.sim.horizon_s
        self.packet = sc.sim.fidelity == "packet"
        self.streams = Streams(sc.sim.seed)
        link = LinkModel.from_scenario(sc.link)
        self.ctx = ExchangeContext(
            link=link, ack_timeout_s=sc.coap.ack_timeout_s,
            ack_random_factor=sc.coap.ack_random_factor,
            max_retransmit=sc.coap.max_retransmit, service_s=sc.manager.service_s,
            nat_timeout_s=sc.nat.udp_timeout_s if sc.nat.enabled else math.inf,
            inbound_refresh=sc.nat.inbound_refresh, inactivity_s=sc.device.inactivity_s,
            active_timer_s=sc.device.active_timer_s, paging_cycle_s=sc.device.paging_cycle_s)
        n = sc.fleet.size
        self.fleet = Fleet(n, sc.fleet.cells)
        self.radios = Radios(n, sc.device, sc.power, link.connect_s)
        self.nat = Nat(sc.nat.udp_timeout_s, sc.nat.tcp_timeout_s, sc.nat.filtering,
                       sc.nat.inbound_refresh, enabled=sc.nat.enabled)
        self.manager = Manager(self.env, sc.manager.service_s, sc.sim.horizon_s,
                               sc.update.release_s)
        self.cells = [Cell(self.env) for _ in range(sc.fleet.cells)]
        self.tracer = Tracer(trace_devices)
        self.failures = {"nat": 0, "unreachable": 0, "timeout": 0}
        self.polls_sent = self.polls_answered = 0
        self.strategy = strategy_class(sc.strategy.name)(self)
        self.events = 0

    # -- wake-ups -----------------------------------------------------------------------
    def first_wake(self, i: int) -> float:
        d = self.scenario.device
        if d.wake == "periodic":
            return self.streams.uniform("wake-phase", i) * d.wake_interval_s
        return self._gap(i, 0)

    def _gap(self, i: int, k: int) -> float:
        u = self.streams.uniform("wake-gap", i, k)
        return -self.scenario.device.wake_interval_s * math.log1p(-u)

    def next_wake(self, i: int, k: int, t_k: float, now: float) -> tuple[int, float]:
        """The first wake-up after `now`, given that wake-up k was at t_k (skipping those
        that fell while the device was busy)."""
        d = self.scenario.device
        if d.wake == "periodic":
            skip = max(1, math.floor((now - t_k) / d.wake_interval_s) + 1)
            return k + skip, t_k + skip * d.wake_interval_s
        t = t_k
        while True:
            k += 1
            t += self._gap(i, k)
            if t > now:
                return k, t

    def schedule_wake(self, i: int, k: int, t: float) -> None:
        if t < self.horizon_s:
            self.env.timeout(t - self.env.now).callbacks.append(partial(self._wake, i, k, t))

    def _wake(self, i: int, k: int, t: float, _event) -> None:
        self.env.process(self._session(i, k, t))

    def _session(self, i: int, k: int, t: float):
        self.fleet.wakeups[i] += 1
        yield from self.strategy.on_wake(Session(self, i, k))
        self.schedule_wake(i, *self.next_wake(i, k, t, self.env.now))

    # -- the run ------------------------------------------------------------------------
    def run(self, progress=None) -> None:
        for i in range(self.fleet.n):
            self.schedule_wake(i, 0, self.first_wake(i))
        env, horizon = self.env, self.horizon_s
        step, peek = env.step, env.peek
        report_every = 50_000
        while peek() < horizon:
            step()
            self.events += 1
            if progress is not None and self.events % report_every == 0:
                progress(env.now)
        env._now = horizon  # the run stops at the horizon, wherever the last event was

    def complete_image(self, i: int, t: float) -> None:
        """The device holds the whole image at t; it counts as updated after install."""
        self.fleet.t_download_end_s[i] = t
        self.fleet.t_updated_s[i] = t + self.scenario.device.install_s


class Session:
    """One wake-up of one device: its random stream, exchanges and trace."""

    __slots__ = ("world", "device", "wake", "rng", "traced", "_tokens")

    def __init__(self, world: World, device: int, wake: int):
        self.world, self.device, self.wake = world, device, wake
        self.rng = world.streams.generator("session", device, wake)
        self.traced = world.tracer.wants(device)
        self._tokens = 0

    @property
    def now(self) -> float:
        return self.world.env.now

    def token(self) -> int:
        """A fresh CoAP token (deterministic: from device, wake-up and a counter)."""
        self._tokens += 1
        return (self.device * 7919 + self.wake * 131 + self._tokens * 17) & 0xffff

    def connect(self):
        """Set up the RRC connection if the device is not connected."""
        w, i = self.world, self.device
        delay = w.radios.uplink_delay(i, self.now)
        if delay > 0:
            w.radios.busy(i, self.now, self.now + delay)
            yield w.env.timeout(delay)

    def exchange(self, spec: ExchangeSpec, first_block: int = 0, until: str = "done"):
        """Run an exchange; returns its Outcome (times relative to `start_s`).

        until="delivered": return as soon as the first request has reached the receiver
        and been handled (the rest of the exchange, e.g. the ACK of a notification, goes
        on concurrently and is booked all the same).
        """
        if self.world.packet:
            env = self.world.env
            delivered = env.event() if until == "delivered" else None
            proc = env.process(packet_exchange(self, spec, first_block, delivered))
            out = yield (proc if delivered is None else delivered)
        else:
            out = yield from self._flow(spec, first_block, until)
        return out

    def book(self, out: Outcome) -> None:
        """Add a finished exchange's counts to the device and the run."""
        w = self.world
        w.fleet.add(self.device, out)
        if out.failure:
            w.failures[out.failure] += 1

    def _flow(self, spec, first_block, until):
        w, i, env = self.world, self.device, self.world.env
        t = env.now
        out = flow_outcome(spec, w.ctx, self.rng,
                           nat_open_s=w.nat.expires_at(i, MANAGER) - t,
                           device_gap_s=t - w.radios.last_activity[i],
                           first_block=first_block, with_events=self.traced)
        out.start_s = t
        duration = out.duration_s
        if until == "delivered" and not math.isnan(out.first_delivery_s):
            wait = out.first_delivery_s + w.ctx.service_s
        elif spec.bulk and out.air_down_s > 0:
            cell = w.cells[w.fleet.cell[i]]
            duration = yield env.process(cell.transfer(out.duration_s - out.path_down_s,
                                                       out.path_down_s, out.air_down_s))
            wait = 0.0
        else:
            wait = duration
        if wait > 0:
            yield env.timeout(wait)
        scale = duration / out.duration_s if out.duration_s > 0 else 1.0
        if scale != 1.0:
            for name in ("first_delivery_s", "first_downlink_s", "last_nat_refresh_s"):
                setattr(out, name, getattr(out, name) * scale)
            out.duration_s = duration
        if not math.isnan(out.last_nat_refresh_s):
            w.nat.outbound(i, MANAGER, t + out.last_nat_refresh_s)
        w.nat.dropped += out.nat_drops
        if out.msgs_up or out.msgs_down:
            w.radios.busy(i, t, t + duration, tx_s=out.device_tx_s)
        w.manager.load.spread(t, t + duration, out.manager_in, out.manager_out,
                              out.manager_bytes_out)
        for (te, direction, b, a, fate) in out.events:
            self.trace(t + te * scale, direction, spec, b, a, fate)
        self.book(out)
        return out

    def trace(self, t: float, direction: str, spec: ExchangeSpec, block: int, attempt: int,
              fate: str) -> None:
        if not self.traced or spec.trace is None:
            return
        req_text, resp_text = spec.trace(block)
        is_request = (direction == "up") == (spec.initiator == DEVICE)
        text = req_text if is_request else resp_text
        if is_request and attempt:
            text += f" (retransmission {attempt})"
        arrow = "D-->M" if direction == "up" else "D<--M"
        self.world.tracer.add(t, self.device, f"{arrow}: {text}{FATES[fate]}")


@dataclass
class RunResult:
    """What a run produced: tables, summary and what it was asked."""

    scenario: Scenario
    devices: "object"
    manager: "object"
    summary: dict
    trace: str | None = None


def run(scenario: Scenario, trace_devices: int = 0, progress=None) -> RunResult:
    """Simulate `scenario` (already resolved) and build its tables."""
    from simulation.results import build_result

    wall0 = time.perf_counter()
    world = World(scenario, trace_devices)
    world.run(progress)
    return build_result(world, wall_s=time.perf_counter() - wall0)
