"""Radio cells: the downlink capacity a cell's devices share.

The downlink of a cell is a processor-sharing server: every packet in it progresses at the
cell's rate divided by the number of packets being sent (an NB-IoT carrier serves one UE
per subframe, round robin). Both fidelities use this one rule:

* Packet fidelity: each downlink packet is a job of `serialization` seconds in the cell;
  with n packets in the cell each takes n times longer. Exact.
* Flow fidelity: an image transfer alternates latency (RTTs, timeouts, the manager) with
  downlink serialization. Alone it lasts `latency + path` and keeps the cell busy `air`
  seconds (every copy sent, duplicates included). Among others, its serialization is
  stretched by k_j = 1 + sum over the other transfers of Q_i, where Q_i = k_i air_i /
  (latency_i + k_i path_i) is the mean number of packets transfer i has in the cell.
  This is Schweitzer's approximate mean value analysis of a closed network with one
  processor-sharing station (Schweitzer 1979; Bard 1979); a job with no latency has
  Q = 1, which gives back the exact rule above.

Each job progresses at 1 / (latency + k path) of its length per second; only starts and
ends of jobs cost events.
"""
from __future__ import annotations

import math

import simpy

EPS = 1e-9


def _k_given(total: float, lat: float, w: float, a: float) -> float:
    """k = 1 + total - Q(k) for one job with latency: the positive root of
    w k^2 + (lat - (1 + total) w + a) k - (1 + total) lat = 0."""
    one = 1.0 + total
    if w <= 0.0:
        return one
    b = lat - one * w + a
    return (-b + math.sqrt(b * b + 4.0 * w * one * lat)) / (2.0 * w)


def stretches(jobs, total: float = 0.0) -> float:
    """Set every job's k to the fixed point k_j = 1 + S - Q_j(k_j), S = sum_i Q_i(k_i),
    Q(k) = k air / (latency + k path); returns S.

    Jobs without latency (single packets) have Q = 1. For the others, k_j given S is the
    root of a quadratic, and S solves g(S) = sum_j Q_j(k_j(S)) - S = 0. g is concave and
    positive at S = 0, so Newton's method started right of the root (from `total`, the
    previous solution, when it lies there, else from an upper bound) descends to it
    monotonically.
    """
    packets = sum(1 for j in jobs if j.latency <= 0.0 and j.air > 0.0)
    flows = [j for j in jobs if j.latency > 0.0 and j.air > 0.0]

    def g_and_slope(s):
        g, dg = float(packets) - s, -1.0
        for j in flows:
            k = _k_given(s, j.latency, j.path, j.air)
            d = j.latency + k * j.path
            dq = j.air * j.latency / (d * d)       # dQ/dk
            g += k * j.air / d
            dg += dq / (1.0 + dq)                  # dk/dS = 1 / (1 + dQ/dk)
        return g, dg

    s = max(total, float(packets))
    g, dg = g_and_slope(s)
    if dg >= 0.0:
        # left of g's maximum: restart from an upper bound (each Q is below air / path);
        # past the maximum a Newton step from the left lands right of the root
        # (the tangent of a concave function lies above it)
        s = packets + sum(j.air / j.path for j in flows if j.path > 0) + 1.0
        g, dg = g_and_slope(s)
    for _ in range(100):
        if abs(g) <= 1e-10 * max(1.0, s) or dg >= 0.0:
            break
        s = max(s - g / dg, float(packets))
        g, dg = g_and_slope(s)
    for j in jobs:
        if j.air <= 0.0:
            j.k = 1.0 + s
        elif j.latency <= 0.0:
            j.k = s                                 # 1 + S - Q with Q = 1
        else:
            j.k = _k_given(s, j.latency, j.path, j.air)
    return s


class Job:
    """A transfer (or a single packet) in a cell."""

    __slots__ = ("latency", "path", "air", "progress", "done", "t0", "k")

    def __init__(self, latency, path, air, done, t0):
        self.latency, self.path, self.air = latency, path, air
        self.progress, self.done, self.t0, self.k = 0.0, done, t0, 1.0

    def length(self) -> float:
        """Seconds this job would take from start to end at its current stretch."""
        return self.latency + self.k * self.path


class Cell:
    """One radio cell's downlink, shared by the packets and transfers of its devices."""

    def __init__(self, env: simpy.Environment):
        self.env = env
        self._jobs: list[Job] = []
        self._t = 0.0
        self._total = 0.0
        self._generation = 0
        self.peak_jobs = 0
        self.peak_stretch = 1.0

    @property
    def queue(self) -> float:
        """Mean number of packets in the cell now (sum of Q over its jobs)."""
        return self._total

    def transfer(self, latency: float, path: float, air: float) -> simpy.Event:
        """Start a job; the event's value is its actual duration (s)."""
        done = self.env.event()
        if latency + path <= 0:
            return done.succeed(0.0)
        self._advance()
        self._jobs.append(Job(latency, path, air, done, self.env.now))
        self.peak_jobs = max(self.peak_jobs, len(self._jobs))
        self._reschedule()
        return done

    def _advance(self) -> None:
        now = self.env.now
        dt = now - self._t
        if dt > 0:
            for j in self._jobs:
                j.progress += dt / j.length()
        self._t = now

    def _reschedule(self) -> None:
        self._total = stretches(self._jobs, self._total) if self._jobs else 0.0
        self._generation += 1
        if not self._jobs:
            return
        self.peak_stretch = max(self.peak_stretch, max(j.k for j in self._jobs))
        dt = min((1.0 - j.progress) * j.length() for j in self._jobs)
        gen = self._generation
        self.env.timeout(max(dt, 0.0)).callbacks.append(lambda _e: self._fire(gen))

    def _fire(self, generation: int) -> None:
        if generation != self._generation:
            return  # a start or end since then rescheduled
        self._advance()
        now = self.env.now
        still = []
        for j in self._jobs:
            length = j.length()
            if (1.0 - j.progress) * length <= EPS * max(1.0, length):
                j.done.succeed(now - j.t0)
            else:
                still.append(j)
        self._jobs = still
        self._reschedule()
