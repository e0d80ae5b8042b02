"""Radio cells: the downlink capacity a cell's devices share.

Packet fidelity: each downlink packet holds the cell's transmitter for its serialization
time (FIFO, one packet at a time, as an NB-IoT carrier schedules one UE at a time).

Flow fidelity: a stop-and-wait image transfer alternates latency (RTTs, timeouts, the
manager) with downlink serialization. Alone it lasts `latency + path` and keeps the cell
busy `air` seconds. When the transfers in a cell ask for more than the cell has
(sum of air_i / (latency_i + path_i) > 1), serialization slows by the factor k >= 1 that
fills the cell exactly: sum of air_i / (latency_i + k path_i) = 1 (the fluid limit of the
closed "machine repairman" queue, in which each transfer waits for its own previous block
before offering the next). Each transfer then progresses at 1 / (latency_i + k path_i)
of its length per second. Only starts and ends of transfers cost events.
"""
from __future__ import annotations

import simpy

EPS = 1e-9


def slowdown(flows) -> float:
    """The factor k >= 1 with sum(air / (latency + k path)) = 1, or 1 if the cell copes.

    The left side is convex and decreasing in k, so Newton's method started at k = 1
    (where it exceeds 1) climbs monotonically to the root.
    """
    terms = [(f.air, f.latency, f.path) for f in flows if f.air > 0]
    k = 1.0
    for _ in range(100):
        used = slope = 0.0
        for a, lat, p in terms:
            d = lat + k * p
            used += a / d
            slope += a * p / (d * d)
        if used <= 1.0 + 1e-12 or slope == 0.0:
            return k
        step = (used - 1.0) / slope
        k += step
        if step < 1e-10 * k:
            return k
    return k


class _Flow:
    __slots__ = ("latency", "path", "air", "progress", "done", "t0")

    def __init__(self, latency, path, air, done, t0):
        self.latency, self.path, self.air = latency, path, air
        self.progress, self.done, self.t0 = 0.0, done, t0

    def length(self, k: float) -> float:
        return self.latency + k * self.path


class Cell:
    """One radio cell: a FIFO transmitter (packet) and the fluid sharing model (flow)."""

    def __init__(self, env: simpy.Environment):
        self.env = env
        self.downlink = simpy.Resource(env, capacity=1)
        self._flows: list[_Flow] = []
        self._k = 1.0
        self._t = 0.0
        self._generation = 0
        self.peak_flows = 0
        self.peak_slowdown = 1.0

    def transfer(self, latency: float, path: float, air: float):
        """Process body: a flow-level transfer; returns its actual duration (s)."""
        done = self.env.event()
        if latency + path <= 0:
            return 0.0
        self._advance()
        self._flows.append(_Flow(latency, path, air, done, self.env.now))
        self.peak_flows = max(self.peak_flows, len(self._flows))
        self._reschedule()
        duration = yield done
        return duration

    def _advance(self) -> None:
        now = self.env.now
        dt = now - self._t
        if dt > 0:
            for f in self._flows:
                f.progress += dt / f.length(self._k)
        self._t = now

    def _reschedule(self) -> None:
        self._k = slowdown(self._flows)
        self.peak_slowdown = max(self.peak_slowdown, self._k)
        self._generation += 1
        if not self._flows:
            return
        dt = min((1.0 - f.progress) * f.length(self._k) for f in self._flows)
        gen = self._generation
        self.env.timeout(max(dt, 0.0)).callbacks.append(lambda _e: self._fire(gen))

    def _fire(self, generation: int) -> None:
        if generation != self._generation:
            return  # a start or end since then rescheduled
        self._advance()
        now = self.env.now
        still = []
        for f in self._flows:
            if (1.0 - f.progress) * f.length(self._k) <= EPS * max(1.0, f.length(self._k)):
                f.done.succeed(now - f.t0)
            else:
                still.append(f)
        self._flows = still
        self._reschedule()
