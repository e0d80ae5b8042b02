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

import numpy as np
import simpy

EPS = 1e-9


def stretches(latency: np.ndarray, path: np.ndarray, air: np.ndarray,
              total: float = 0.0, servers: float = 1.0) -> tuple[np.ndarray, float]:
    """Every job's k at the fixed point k_j = max(1, (1 + S - Q_j(k_j)) / m),
    S = sum_i Q_i(k_i), Q(k) = k air / (latency + k path); returns (k, S).

    `servers` m is the cell's capacity in device rates (`Cell`): a job is slowed only when
    more than m packets share the cell. Jobs without latency (single packets) have Q = 1,
    so n of them are stretched by max(1, n / m), the exact processor-sharing rule with a
    per-device rate cap. For the others, k_j given S is the positive root of
    m path k^2 + (m latency - (1 + S) path + air) k - (1 + S) latency = 0 (at least 1), and
    S solves g(S) = sum_j Q_j(k_j(S)) - S = 0. With m = 1, g is concave and positive at
    S = 0: Newton's method started where g decreases (from `total`, the previous solution,
    or else from an upper bound, each Q being below air / path) lands right of the root
    after at most one step and then descends to it monotonically. With m > 1 the floor at
    1 bends g, and a bracketed Newton step (bisection where Newton leaves the bracket)
    finds the root.
    """
    busy = air > 0
    packets = float(np.count_nonzero(busy & (latency <= 0)))
    flow = busy & (latency > 0)
    lat, w, a = latency[flow], path[flow], air[flow]
    has_path = w > 0
    w_safe = np.where(has_path, w, 1.0)
    m = float(servers)

    def k_of(s):
        one = 1.0 + s
        b = m * lat - one * w + a
        root = np.where(has_path,
                        (-b + np.sqrt(b * b + 4.0 * m * w * one * lat)) / (2.0 * m * w_safe),
                        one * lat / (m * lat + a))
        return np.maximum(root, 1.0) if m > 1.0 else root

    def g_and_slope(s):
        k = k_of(s)
        d = lat + k * w
        dq = a * lat / (d * d)                       # dQ/dk
        floor = (k <= 1.0) if m > 1.0 else np.zeros(len(k), dtype=bool)
        dk = np.where(floor, 0.0, 1.0 / (m + dq))    # dk/dS off the floor
        return (packets - s + float((k * a / d).sum()),
                float((dq * dk).sum()) - 1.0)

    bound = packets + float((a[has_path] / w[has_path]).sum()) + \
        float((a[~has_path] / lat[~has_path]).sum()) + 1.0
    if m <= 1.0:
        s = max(total, packets)
        g, dg = g_and_slope(s)
        if dg >= 0.0:
            s = bound
            g, dg = g_and_slope(s)
        for _ in range(100):
            if abs(g) <= 1e-10 * max(1.0, s) or dg >= 0.0:
                break
            s = max(s - g / dg, packets)
            g, dg = g_and_slope(s)
    else:
        lo, hi = packets, max(bound, packets + 1.0)
        while g_and_slope(hi)[0] > 0.0:              # (a job without path may grow)
            hi *= 2.0
        s = min(max(total, lo), hi)
        for _ in range(200):
            g, dg = g_and_slope(s)
            if abs(g) <= 1e-10 * max(1.0, s):
                break
            if g > 0.0:
                lo = s
            else:
                hi = s
            step = s - g / dg if dg < 0.0 else math.nan
            s = step if lo < step < hi else (lo + hi) / 2.0
    k = np.full(len(latency), max(1.0, (1.0 + s) / m))
    k[busy & (latency <= 0)] = max(1.0, s / m)         # (1 + S - Q) / m with Q = 1
    k[flow] = k_of(s)
    return k, s


class Cell:
    """One radio cell's downlink, shared by the packets and transfers of its devices."""

    def __init__(self, env: simpy.Environment, servers: float = 1.0):
        """`servers`: the cell's downlink capacity over one device's downlink rate (the
        device rate that packets' serialization times assume); 1: a device alone fills
        the cell."""
        self.env = env
        self.servers = servers
        self._lat = np.zeros(0)
        self._path = np.zeros(0)
        self._air = np.zeros(0)
        self._progress = np.zeros(0)
        self._t0 = np.zeros(0)
        self._k = np.zeros(0)
        self._done: list[simpy.Event] = []
        self._t = 0.0
        self._total = 0.0
        self._generation = 0
        self.peak_stretch = 1.0

    @property
    def queue(self) -> float:
        """Mean number of packets in the cell now (sum of Q over its jobs)."""
        return self._total

    def found_stretches(self, rng: np.random.Generator, n: int) -> np.ndarray | None:
        """How many times its serialization each of `n` downlink packets sent now takes to
        get through the cell, or None when the cell is empty (then nothing is drawn).

        A packet that finds N others shares the cell's `servers` device rates with them:
        stretch max(1, (1 + N) / servers), the rule packet fidelity applies exactly. N is
        drawn per packet, binomial over the cell's jobs with mean the cell's `queue` S
        (Schweitzer's estimate of what an arriving job finds): the others are a closed
        population that can hold no more packets than there are jobs, so N is bounded, as
        it is in packet fidelity. (A geometric N, the number in an open processor-sharing
        queue, has a tail these jobs cannot produce: it fires CoAP timers that packet
        fidelity does not.)"""
        if not self._done or self._total <= 0.0:
            return None
        trials = max(len(self._done), math.ceil(self._total))
        found = rng.binomial(trials, self._total / trials, n)
        return np.maximum(1.0, (1.0 + found) / self.servers)

    def transfer(self, latency: float, path: float, air: float) -> simpy.Event:
        """Start a job; the event's value is its actual duration (s)."""
        done = self.env.event()
        if latency + path <= 0:
            return done.succeed(0.0)
        self._advance()
        self._lat = np.append(self._lat, latency)
        self._path = np.append(self._path, path)
        self._air = np.append(self._air, air)
        self._progress = np.append(self._progress, 0.0)
        self._t0 = np.append(self._t0, self.env.now)
        self._done.append(done)
        self._reschedule()
        return done

    def _length(self) -> np.ndarray:
        """Seconds each job would take from start to end at its current stretch."""
        return self._lat + self._k * self._path

    def _advance(self) -> None:
        now = self.env.now
        dt = now - self._t
        if dt > 0 and self._done:
            self._progress += dt / self._length()
        self._t = now

    def _reschedule(self) -> None:
        self._generation += 1
        if not self._done:
            self._total = 0.0
            return
        self._k, self._total = stretches(self._lat, self._path, self._air, self._total,
                                         self.servers)
        self.peak_stretch = max(self.peak_stretch, float(self._k.max()))
        dt = float(((1.0 - self._progress) * self._length()).min())
        gen = self._generation
        self.env.timeout(max(dt, 0.0)).callbacks.append(lambda _e: self._fire(gen))

    def _fire(self, generation: int) -> None:
        if generation != self._generation:
            return  # a start or end since then rescheduled
        self._advance()
        length = self._length()
        finished = (1.0 - self._progress) * length <= EPS * np.maximum(1.0, length)
        now = self.env.now
        for idx in np.flatnonzero(finished):
            self._done[idx].succeed(now - self._t0[idx])
        keep = ~finished
        self._done = [d for d, kept in zip(self._done, keep, strict=True) if kept]
        for name in ("_lat", "_path", "_air", "_progress", "_t0"):
            setattr(self, name, getattr(self, name)[keep])
        self._reschedule()
