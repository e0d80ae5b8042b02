"""One run: the world (fleet, radios, cells, NAT, manager), device wake-ups and sessions.

A device costs nothing while it sleeps: one process walks through every device's wake-ups
in time order (one timeout each) and starts a short-lived session process at each; the
session runs the strategy's wake-up logic. Every exchange of a session goes through
`Session.exchange` (or, for an image transfer that ends the session,
`Session.end_with_transfer`), which runs it at packet or flow fidelity (`sim.fidelity`) and
books its bytes, energy, NAT refreshes, manager load and trace lines. Flow-fidelity runs
can be split by cells over processes (`run(workers=...)`).
"""
from __future__ import annotations

import heapq
import math
import multiprocessing as mp
import os
import time
import traceback
from dataclasses import dataclass
from functools import partial
from queue import Empty

import numpy as np
import simpy

from simulation.protocols.exchange import DEVICE, ExchangeContext, ExchangeSpec, Outcome, \
    flow_outcome, merge
from simulation.protocols.packet import packet_exchange
from simulation.protocols.tcp_connection import Connection, TcpParams
from simulation.randomness import Streams
from simulation.security import DtlsSessions
from simulation.scenario import Scenario
from simulation.trace import FATES, Tracer
from simulation.world.cell import Cell
from simulation.world.fleet import Fleet
from simulation.world.manager import ADDRESS as MANAGER, LoadRecorder, Manager, Server
from simulation.world.nat import Nat
from simulation.world.radio import Radios


#: blocks of an image transfer computed at once in flow fidelity (then the cell's state is
#: looked at again): 200 blocks of 256 B take about 6 min on an idle NB-IoT CE0 cell.
BULK_CHUNK_BLOCKS = 200


class World:
    """Everything one run simulates."""

    def __init__(self, scenario: Scenario, trace_devices: int = 0, ids=None):
        from simulation.strategies import strategy_class

        sc = self.scenario = scenario
        strategy = strategy_class(sc.strategy.name)
        self.env = simpy.Environment()
        self.horizon_s = sc.sim.horizon_s
        self.packet = sc.sim.fidelity == "packet"
        self.streams = Streams(sc.sim.seed)
        link = strategy.device_link(sc)
        behind_nat = sc.nat.enabled and strategy.device_behind_nat
        cells = strategy.cell_count(sc)
        self.fleet = Fleet(np.arange(sc.fleet.size) if ids is None else ids, cells)
        n = self.fleet.n
        self.security = DtlsSessions(sc.security, n)
        self.ctx = ExchangeContext(
            link=link, ack_timeout_s=sc.coap.ack_timeout_s,
            ack_random_factor=sc.coap.ack_random_factor,
            max_retransmit=sc.coap.max_retransmit, service_s=sc.manager.service_s,
            nat_timeout_s=sc.nat.udp_timeout_s if behind_nat else math.inf,
            inbound_refresh=sc.nat.inbound_refresh, inactivity_s=sc.device.inactivity_s,
            active_timer_s=sc.device.active_timer_s, paging_cycle_s=sc.device.paging_cycle_s,
            record_bytes=self.security.record_bytes)
        self.handshake_ctx = DtlsSessions.timers(self.ctx)
        self.tcp_params = TcpParams(mss=sc.tcp.mss_bytes, syn_retries=sc.tcp.syn_retries,
                                    max_retransmit=sc.tcp.max_retransmit)
        self.radios = Radios(n, sc.device, sc.power, link.connect_s)
        self.nat = Nat(sc.nat.udp_timeout_s, sc.nat.tcp_timeout_s, sc.nat.filtering,
                       sc.nat.inbound_refresh, enabled=behind_nat, devices=n)
        self.manager = Manager(self.env, sc.manager.service_s, sc.sim.horizon_s,
                               sc.update.release_s, n)
        self.cells = [Cell(self.env) for _ in range(cells)]
        # the party a device exchanges with: the manager, or (delegated) its gateway,
        # whose load is not the manager's
        self.peer_load = (self.manager.load if strategy.peer_is_manager
                          else LoadRecorder(sc.sim.horizon_s))
        self.peer_servers: dict[int, Server] = {}   # cell -> its gateway's queue
        self.tracer = Tracer(trace_devices)
        self.failures = {"nat": 0, "unreachable": 0, "timeout": 0}
        self.polls_sent = self.polls_answered = 0
        self.strategy = strategy(self)
        self.busy_until = np.full(n, -np.inf)   # end of each device's running session
        self.under_way: dict[int, tuple] = {}   # packet-fidelity exchanges not yet booked
        self.events = 0

    # -- wake-ups -----------------------------------------------------------------------
    def wake_phases(self) -> np.ndarray:
        """First wake-up of every device: uniform phase in [0, interval) (periodic) or an
        exponential gap (poisson), each from the device's own draw."""
        d = self.scenario.device
        if d.wake == "periodic":
            return self.streams.uniforms("wake-phase", self.fleet.ids) * d.wake_interval_s
        return np.array([self._gap(i, 0) for i in range(self.fleet.n)])

    def _gap(self, i: int, k: int) -> float:
        u = self.streams.uniform("wake-gap", int(self.fleet.ids[i]), k)
        return -self.scenario.device.wake_interval_s * math.log1p(-u)

    def _periodic_wakes(self, phases: np.ndarray):
        """Process: every device's wake-ups in time order, one timeout each. Devices keep
        their order within each interval, so one sorted pass per interval serves all."""
        env, interval = self.env, self.scenario.device.wake_interval_s
        order = np.argsort(phases, kind="stable")
        ordered = phases[order].tolist()
        order = order.tolist()
        k = 0
        while True:
            base = k * interval
            for t_phase, i in zip(ordered, order, strict=True):
                t = base + t_phase
                if t >= self.horizon_s:
                    return
                if t > env.now:
                    yield env.timeout(t - env.now)
                self._wake(i, k, t)
            k += 1

    def _poisson_wakes(self, phases: np.ndarray):
        """Process: Poisson wake-ups from a heap of (time, device, wake index)."""
        env = self.env
        heap = [(t, i, 0) for i, t in enumerate(phases.tolist())]
        heapq.heapify(heap)
        while heap and heap[0][0] < self.horizon_s:
            t, i, k = heapq.heappop(heap)
            if t > env.now:
                yield env.timeout(t - env.now)
            self._wake(i, k, t)
            heapq.heappush(heap, (t + self._gap(i, k + 1), i, k + 1))

    def _wake(self, i: int, k: int, t: float) -> None:
        """Wake-up k of device i at t: a session, unless one is still running (a wake-up
        that falls inside a session is skipped: the device is awake anyway)."""
        if t < self.busy_until[i]:
            return
        self.busy_until[i] = math.inf
        self.env.process(self._session(i, k))

    def _session(self, i: int, k: int):
        self.fleet.wakeups[i] += 1
        session = Session(self, i, k)
        yield from self.strategy.on_wake(session)
        if not session.transferring:
            self.busy_until[i] = session.now
        # else the device is busy until its transfer ends (Session.end_with_transfer)

    # -- the run ------------------------------------------------------------------------
    def run(self, progress=None) -> None:
        phases = self.wake_phases()
        self.env.process(self._periodic_wakes(phases) if self.scenario.device.wake == "periodic"
                         else self._poisson_wakes(phases))
        env, horizon = self.env, self.horizon_s
        step, peek = env.step, env.peek
        report_every = 50_000
        while peek() < horizon:
            step()
            self.events += 1
            if progress is not None and self.events % report_every == 0:
                progress(env.now)
        for i, out in self.under_way.values():   # what in-flight exchanges sent so far
            self.fleet.add(i, out, finished=False)
        self.under_way.clear()
        self.strategy.finish()

    def peer_serve(self, i: int):
        """Process: a message of device i through its peer's queue (packet fidelity)."""
        server = self.peer_servers.get(int(self.fleet.cell[i]), self.manager.queue)
        yield from server.serve()

    def complete_image(self, i: int, t: float, install_s: float) -> None:
        """The device holds the whole update at t; it counts as updated after install."""
        self.fleet.t_download_end_s[i] = t
        self.fleet.t_updated_s[i] = t + install_s


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

    def __init__(self, world: World, device: int, wake: int, stream: str = "session"):
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
            proc.callbacks.append(partial(_transfer_over, self, then))
        else:
            _FlowTransfer(self, spec, first_block, then).start()

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
            _transfer_over(self, then, out)

        if start > env.now:     # flow fidelity: the simulation catches up with the session
            env.timeout(start - env.now).callbacks.append(begin)
        else:
            begin()

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


class _FlowTransfer:
    """An image transfer at flow fidelity, driven by callbacks rather than a process:
    `BULK_CHUNK_BLOCKS` blocks at a time, each chunk computed with the queue its cell has
    when it starts (so a busy cell provokes spurious retransmissions), then progressing
    through the cell at the cell's changing pace."""

    __slots__ = ("session", "spec", "block", "total", "part", "then")

    def __init__(self, session: Session, spec: ExchangeSpec, first_block: int, then):
        self.session, self.spec, self.block, self.then = session, spec, first_block, then
        self.total = self.part = None

    def start(self) -> None:
        s = self.session
        env = s.world.env
        self.total = Outcome(completed=True, start_s=s.clock)
        if s.clock > env.now:   # let the simulation catch up with the session's clock
            env.timeout(s.clock - env.now).callbacks.append(self._next_chunk)
        else:
            self._next_chunk()

    def _next_chunk(self, _event=None) -> None:
        s, spec = self.session, self.spec
        w, i, env = s.world, s.device, s.world.env
        if self.block >= spec.blocks:
            self._finish()
            return
        t = env.now
        cell = w.cells[w.fleet.cell[i]]
        queue = cell.queue
        part = flow_outcome(spec, w.ctx, s.next_rng(),
                            nat_open_s=w.nat.expires_at(i, MANAGER) - t,
                            device_gap_s=t - w.radios.last_activity[i],
                            first_block=self.block,
                            last_block=min(self.block + BULK_CHUNK_BLOCKS, spec.blocks),
                            cell_queue=queue, with_events=s.traced)
        part.start_s = t
        self.part = part
        # the chunk lasts part.duration_s if the cell's stretch stays 1 + queue; its time
        # in the cell scales with the stretch the cell actually has
        done = cell.transfer(part.duration_s - part.path_down_s,
                             part.path_down_s / (1.0 + queue), part.air_down_s)
        done.callbacks.append(self._chunk_done)

    def _chunk_done(self, event) -> None:
        part, self.part = self.part, None
        self.session._book_flow(self.spec, part, event.value)
        merge(self.total, part)
        self.block += part.blocks_done
        if part.completed and self.block < self.spec.blocks:
            self._next_chunk()
        else:
            self._finish()

    def _finish(self) -> None:
        _transfer_over(self.session, self.then, self.total)


def _transfer_over(session: Session, then, out) -> None:
    """A session's final transfer is over: the device is free again; `then` books it."""
    if isinstance(out, simpy.Event):
        out = out.value
    w = session.world
    session.clock = w.env.now
    w.busy_until[session.device] = w.env.now
    then(session, out)


@dataclass
class RunResult:
    """What a run produced: tables, summary and what it was asked."""

    scenario: Scenario
    devices: "object"
    manager: "object"
    summary: dict
    trace: str | None = None


def rss_kib() -> float:
    """Resident memory of this process now (KiB), from /proc; NaN where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024
    except (OSError, ValueError, IndexError):
        return math.nan


def default_workers(scenario: Scenario) -> int:
    """Processes a run uses by default: one per core for large flow-fidelity fleets (whose
    cells do not interact), else one."""
    if scenario.sim.fidelity != "flow" or scenario.fleet.size < 20_000:
        return 1
    return max(1, min(os.cpu_count() or 1, scenario.fleet.cells))


def shard_ids(scenario: Scenario, workers: int) -> list[np.ndarray]:
    """Device ids of each process: the devices of cells c with c mod workers = s."""
    from simulation.strategies import strategy_class

    ids = np.arange(scenario.fleet.size)
    cell = ids % strategy_class(scenario.strategy.name).cell_count(scenario)
    return [ids[cell % workers == s] for s in range(workers)]


def run(scenario: Scenario, trace_devices: int = 0, progress=None,
        workers: int | None = None) -> RunResult:
    """Simulate `scenario` (already resolved) and build its tables.

    workers: processes to split the cells over (flow fidelity only, where cells do not
    interact); the result is the same for any number. Default: `default_workers`.
    """
    from simulation.results import assemble, part_of

    wall0 = time.perf_counter()
    if workers is None:
        workers = default_workers(scenario)
    workers = max(1, min(workers, scenario.fleet.cells))
    if workers == 1 or scenario.sim.fidelity != "flow":
        rss0 = rss_kib()
        world = World(scenario, trace_devices)
        world.run(progress)
        parts = [part_of(world, rss0)]
    else:
        parts = _run_processes(scenario, trace_devices, progress, workers)
    return assemble(scenario, parts, time.perf_counter() - wall0, traced=trace_devices > 0)


def _part_in_process(scenario, ids, trace_devices, slot, clocks, queue):
    """Child process: simulate the devices `ids`, send back their Part (or the error)."""
    from simulation.results import part_of

    try:
        rss0 = rss_kib()
        world = World(scenario, trace_devices, ids)

        def tick(t):
            clocks[slot] = t
        world.run(tick)
        queue.put((slot, part_of(world, rss0), None))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        queue.put((slot, None, traceback.format_exc()))


def _run_processes(scenario, trace_devices, progress, workers):
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    clocks = ctx.Array("d", workers, lock=False)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_part_in_process, daemon=True,
                         args=(scenario, ids, trace_devices, s, clocks, queue))
             for s, ids in enumerate(shard_ids(scenario, workers))]
    for p in procs:
        p.start()
    parts = [None] * workers
    try:
        for _ in range(workers):
            while True:
                try:
                    slot, part, error = queue.get(timeout=0.5)
                    break
                except Empty:
                    if progress is not None:
                        progress(min(clocks))
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(f"a simulation process died (exit "
                                           f"{dead[0].exitcode})") from None
            if error:
                raise RuntimeError(f"simulation process {slot} failed:\n{error}")
            parts[slot] = part
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    return parts
