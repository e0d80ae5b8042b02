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
              total: float = 0.0, servers=1.0,
              unit: float | None = None) -> tuple[np.ndarray, float]:
    """Every job's k at the fixed point k_j = max(1, d_j (1 - Q_j(k_j)) + A); returns
    (k, S) with S = A x `unit`.

    `servers` m_j (a number, or one per job): the cell's capacity in job j's device rates
    (`Cell`), so that d_j = 1 / m_j is the share of the cell's airtime a packet of job j
    takes at its device's full rate. Q(k) = k air / (latency + k path) is the mean number
    of packets a job has in the cell, and A = sum_i d_i Q_i the airtime they demand
    together. A packet is slowed only when the demand, its own included, exceeds the
    cell's airtime, and then in proportion to its demand (A: the cell shares its airtime,
    not its bytes, in proportion to what each packet asks; with one class, m_j = m, this
    is processor sharing among the packets with a per-device rate cap: k_j = max(1, (1 + S
    - Q_j) / m), S = sum_i Q_i). S counts the demand in packets of a device with `unit`
    rates (default: `servers` if one number, else the largest).

    Jobs without latency (single packets) have Q = 1, so n of them of one class are
    stretched by max(1, n / m), the exact rule. For the others, with r_j = m_j / unit, k_j
    given S is the positive root of m_j path k^2 + (m_j latency - (1 + r_j S) path + air) k
    - (1 + r_j S) latency = 0 (at least 1), and S solves g(S) = sum_j Q_j(k_j(S)) / r_j - S
    = 0. With every m_j = 1, g is concave and positive at S = 0: Newton's method started
    where g decreases (from `total`, the previous solution, or else from an upper bound,
    each Q being below air / path) lands right of the root after at most one step and
    then descends to it monotonically. Otherwise the floor at 1 bends g, and a bracketed
    Newton step (bisection where Newton leaves the bracket) finds the root.
    """
    one_class = np.ndim(servers) == 0
    m_all = np.broadcast_to(np.asarray(servers, dtype=float), np.shape(latency))
    if unit is None:
        unit = float(servers) if one_class else float(m_all.max(initial=1.0))
    rel_all = m_all / unit                           # r_j, 1 for the unit's class
    busy = air > 0
    single = busy & (latency <= 0)
    packets = float((1.0 / rel_all[single]).sum())
    flow = busy & (latency > 0)
    lat, w, a = latency[flow], path[flow], air[flow]
    m, rel = m_all[flow], rel_all[flow]
    has_path = w > 0
    w_safe = np.where(has_path, w, 1.0)
    floored = m > 1.0

    def k_of(s):
        one = 1.0 + rel * s
        b = m * lat - one * w + a
        root = np.where(has_path,
                        (-b + np.sqrt(b * b + 4.0 * m * w * one * lat)) / (2.0 * m * w_safe),
                        one * lat / (m * lat + a))
        return np.where(floored, np.maximum(root, 1.0), root)

    def g_and_slope(s):
        k = k_of(s)
        d = lat + k * w
        dq = a * lat / (d * d)                       # dQ/dk
        dk = np.where(floored & (k <= 1.0), 0.0, rel / (m + dq))   # dk/dS off the floor
        return (packets - s + float((k * a / d / rel).sum()),
                float((dq * dk / rel).sum()) - 1.0)

    bound = packets + float((a[has_path] / w[has_path] / rel[has_path]).sum()) + \
        float((a[~has_path] / lat[~has_path] / rel[~has_path]).sum()) + 1.0
    if not floored.any() and np.all(m_all <= 1.0):
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
    k = np.maximum(1.0, (1.0 / rel_all + s) / unit) if not one_class else \
        np.full(len(latency), max(1.0, (1.0 + s) / unit))   # idle jobs: Q = 0
    k[single] = max(1.0, s / unit)                   # d (1 - Q) + A with Q = 1
    k[flow] = k_of(s)
    return k, s


class Cell:
    """One radio cell's downlink, shared by the packets and transfers of its devices, which
    may be of several coverage classes (each job says how many of its device's rates the
    cell holds)."""

    def __init__(self, env: simpy.Environment, unit: float = 1.0):
        """`unit`: the cell's capacity in the device rates its queue is counted in (those of
        its devices' first class; `stretches`)."""
        self.env = env
        self.unit = unit
        self._lat = np.zeros(0)
        self._path = np.zeros(0)
        self._air = np.zeros(0)
        self._servers = np.zeros(0)
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
        """Mean number of packets in the cell now, counted in packets of a device with
        `unit` rates (the airtime they demand x `unit`; `stretches`' S)."""
        return self._total

    def found_stretches(self, rng: np.random.Generator, n: int,
                        servers: float) -> np.ndarray | None:
        """How many times its serialization each of `n` downlink packets sent now takes to
        get through the cell, or None when the cell is empty (then nothing is drawn);
        `servers`: the cell's capacity in the receiving device's rates.

        A packet that finds N others (counted in packets of `unit` rates) shares the
        cell's airtime with them: stretch max(1, (unit / servers + N) / unit), the rule
        packet fidelity applies exactly ((1 + N) / servers with one class). N is drawn per
        packet, binomial over the cell's jobs with mean the cell's `queue` S (Schweitzer's
        estimate of what an arriving job finds): the others are a closed population that
        can hold no more packets than there are jobs, so N is bounded, as it is in packet
        fidelity. (A geometric N, the number in an open processor-sharing queue, has a
        tail these jobs cannot produce: it fires CoAP timers that packet fidelity does
        not.)"""
        if not self._done or self._total <= 0.0:
            return None
        trials = max(len(self._done), math.ceil(self._total))
        found = rng.binomial(trials, self._total / trials, n)
        return np.maximum(1.0, (self.unit / servers + found) / self.unit)

    def transfer(self, latency: float, path: float, air: float,
                 servers: float) -> simpy.Event:
        """Start a job (`servers`: the cell's capacity in its device's rates); the event's
        value is its actual duration (s)."""
        done = self.env.event()
        if latency + path <= 0:
            return done.succeed(0.0)
        self._advance()
        self._lat = np.append(self._lat, latency)
        self._path = np.append(self._path, path)
        self._air = np.append(self._air, air)
        self._servers = np.append(self._servers, servers)
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
        servers = (self._servers if (self._servers != self.unit).any() else self.unit)
        self._k, self._total = stretches(self._lat, self._path, self._air, self._total,
                                         servers, self.unit)
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
        for name in ("_lat", "_path", "_air", "_servers", "_progress", "_t0"):
            setattr(self, name, getattr(self, name)[keep])
        self._reschedule()
