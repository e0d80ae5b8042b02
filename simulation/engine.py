"""One run's world: the fleet, radios, cells, NAT and manager assembled for a strategy,
the devices' wake-ups, and the run loop.

A device costs nothing while it sleeps: one process walks through every device's wake-ups
in time order (one timeout each) and starts a short-lived session (`session/`) at each;
the session runs the strategy's wake-up logic and books what it costs into the world.
`runner.py` runs a world (or several, split by cells over processes) and builds the tables.
"""
from __future__ import annotations

import numpy as np
import simpy

from simulation.randomness import Streams
from simulation.scenario import Scenario
from simulation.session import Session
from simulation.strategies import strategy_class
from simulation.trace import Tracer
from simulation.transport.exchange import ExchangeContext
from simulation.transport.security import DtlsSessions, TlsSessions
from simulation.transport.tcp_connection import TcpParams
from simulation.world.cell import Cell
from simulation.world.fleet import Fleet
from simulation.world.manager import FifoQueue, LoadRecorder, Manager
from simulation.world.nat import Nat
from simulation.world.radio import RadioModel, Radios
from simulation.world.rollout import Rollout
from simulation.world.topology import GATEWAY


class World:
    """Everything one run simulates."""

    def __init__(self, scenario: Scenario, trace_devices: int = 0, ids=None):
        sc = self.scenario = scenario
        strategy = strategy_class(sc.strategy.name)
        topo = self.topology = strategy.topology(sc)
        self.env = simpy.Environment()
        self.horizon_s = sc.sim.horizon_s
        self.packet = sc.sim.fidelity == "packet"
        self.streams = Streams(sc.sim.seed)
        self.fleet = Fleet(np.arange(sc.fleet.size) if ids is None else ids, topo.cells)
        n = self.fleet.n
        self.nat = Nat(sc.nat.udp_timeout_s, sc.nat.tcp_timeout_s, sc.nat.filtering,
                       sc.nat.inbound_refresh, enabled=sc.nat.enabled and topo.behind_nat,
                       devices=n)
        self.security = DtlsSessions(sc.security, n)
        self.tls_sessions = TlsSessions.from_scenario(sc, n)   # TCP hops' TLS
        # each coverage class's radio and exchange context; device i uses those of its
        # class `fleet.coverage[i]`, drawn by the device ("coverage-class")
        self.fleet.coverage = topo.classes_of(self.streams.uniforms("coverage-class",
                                                                    self.fleet.ids))
        radios = [topo.radio or RadioModel.from_scenario(sc.device, sc.power, c.link.connect_s,
                                                         c.rtt_includes_cdrx)
                  for c in topo.classes]
        self.contexts = [ExchangeContext(
            link=c.link, ack_timeout_s=sc.coap.ack_timeout_s,
            ack_random_factor=sc.coap.ack_random_factor,
            max_retransmit=sc.coap.max_retransmit, service_s=sc.manager.service_s,
            nat=self.nat.rule("udp"), radio=radio, record_bytes=self.security.record_bytes)
            for c, radio in zip(topo.classes, radios, strict=True)]
        self.handshake_contexts = [DtlsSessions.timers(ctx) for ctx in self.contexts]
        self.ctx = self.contexts[0]     # the first class's (the only one without a mix)
        self.tcp_params = TcpParams(
            mss=sc.tcp.mss_bytes, syn_retries=sc.tcp.syn_retries,
            max_retransmit=sc.tcp.max_retransmit, initial_rto_s=sc.tcp.initial_rto_s,
            server_min_rto_s=sc.tcp.server_min_rto_s,
            server_max_rto_s=sc.tcp.server_max_rto_s, server_retries=sc.tcp.server_retries,
            synack_retries=sc.tcp.synack_retries,
            receive_window_bytes=sc.tcp.receive_window_bytes,
            device_buffer_bytes=sc.link.device_buffer_bytes)
        self.radios = Radios(radios, self.fleet.coverage,
                             self.streams.uniforms("paging-phase", self.fleet.ids))
        self.rollout = Rollout(self.env, sc.rollout, sc.update.release_s, self.fleet,
                               [c.name for c in topo.classes], self.streams)
        self.manager = Manager(self.env, sc.manager.service_s, sc.sim.horizon_s,
                               sc.update.release_s, n, sc.rollout.abort_threshold,
                               sc.rollout.abort_min_finished, self.rollout,
                               queue_settled=self.settled, servers=sc.manager.servers)
        # whose install of the release fails, each by its own draw
        self.install_fails = (self.streams.uniforms("install-failure", self.fleet.ids)
                              < sc.update.failure_rate)
        self.cells = [Cell(self.env, unit=self.ctx.link.servers) for _ in range(topo.cells)]
        # the party a device exchanges with: the manager, or its gateway, whose load is
        # not the manager's and whose queue is its own (A: as fast as the manager's)
        if topo.peer == GATEWAY:
            self.peer_load = LoadRecorder(sc.sim.horizon_s)
            self.peer_queues = {int(g): FifoQueue(sc.manager.service_s,
                                                  settled=self.settled)
                                 for g in np.unique(self.fleet.cell)}
        else:
            self.peer_load = self.manager.load
            self.peer_queues = {}
        self.tracer = Tracer(trace_devices)
        self.failures = {"nat": 0, "unreachable": 0, "timeout": 0, "dtls": 0}
        self.polls_sent = self.polls_answered = 0
        self.blocks_discarded = 0       # image blocks devices received, then discarded
        self.under_way: dict[int, tuple] = {}   # packet-fidelity exchanges not yet booked
        self.free_waiters: dict[int, list] = {}  # events for when a device's session ends
        self.events = 0
        self.strategy = strategy(self)

    def settled(self) -> float:
        """The time (s) before which no message will be booked in a queue any more: the
        simulation's clock, less how far behind it the strategy books (its sessions book
        from their own start on, which is never before the clock)."""
        return self.env.now - self.strategy.books_behind_s

    # -- wake-ups -----------------------------------------------------------------------
    def wake_phases(self) -> np.ndarray:
        """First wake-up of every device: uniform phase in [0, interval) (periodic) or an
        exponential gap (poisson), each from the device's own draw."""
        d = self.scenario.device
        if d.wake == "periodic":
            return self.streams.uniforms("wake-phase", self.fleet.ids) * d.wake_interval_s
        return self._gaps(np.arange(self.fleet.n), np.zeros(self.fleet.n, dtype=np.int64))

    def _gaps(self, devices: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Exponential gaps before wake-up k of each of `devices` (s): mean
        `device.wake_interval_s`, from the device's draw ("wake-gap", id, k)."""
        u = self.streams.draws_at("wake-gap", self.fleet.ids[devices], k)
        return -self.scenario.device.wake_interval_s * np.log1p(-u)

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
        """Process: Poisson wake-ups in time order (ties by device), one timeout each.
        They are drawn a window of one mean interval at a time: every wake-up that falls
        in the window, each device's next gap drawn for all devices at once, then sorted."""
        env, window = self.env, self.scenario.device.wake_interval_s
        t_next = phases.astype(float)            # each device's next wake-up
        k_next = np.zeros(self.fleet.n, dtype=np.int64)
        start = 0.0
        while start < self.horizon_s:
            end = min(start + window, self.horizon_s)
            times, devices, wakes = [], [], []
            due = np.flatnonzero(t_next < end)
            while len(due):
                times.append(t_next[due])
                devices.append(due)
                wakes.append(k_next[due])
                k_next[due] += 1
                t_next[due] += self._gaps(due, k_next[due])
                due = due[t_next[due] < end]
            if times:
                t, i, k = (np.concatenate(a) for a in (times, devices, wakes))
                order = np.lexsort((i, t))
                for t_w, i_w, k_w in zip(t[order].tolist(), i[order].tolist(),
                                         k[order].tolist(), strict=True):
                    if t_w > env.now:
                        yield env.timeout(t_w - env.now)
                    self._wake(i_w, k_w, t_w)
            start = end

    def _wake(self, i: int, k: int, t: float) -> None:
        """Wake-up k of device i at t: a session, unless one is still running (a wake-up
        that falls inside a session is skipped: the device is awake anyway)."""
        if t < self.fleet.busy_until[i]:
            return
        self.fleet.wakeups[i] += 1
        self._report_result(i, t)
        session = Session(self, i, k)
        session.hold()
        self.env.process(session.run(self.strategy.on_wake))

    def _report_result(self, i: int, t: float) -> None:
        """At its first wake-up after its install ended, the device reports the result
        (LwM2M Object 5 Update Result) to the manager, which may stop the rollout then;
        the report's own uplink delay, under a second, is not added."""
        fleet = self.fleet
        if fleet.result_reported[i] or not fleet.result_s(i) <= t:
            return
        fleet.result_reported[i] = True
        for text in self.manager.record_result(i, t, bool(self.install_fails[i])):
            if self.tracer.devices:
                self.tracer.add(t, int(fleet.ids[i]), text)

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
        for session, out in self.under_way.values():   # what in-flight exchanges sent
            session.book(out, finished=False)
        self.under_way.clear()
        self.strategy.finish()
