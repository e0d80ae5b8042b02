"""The manager: resource directory, update store, a request queue and its load over time.

Every message the manager receives is served in FIFO order at `service_s` each (one
server). Load is binned per second of simulated time (coarser when the horizon would need
more than `MAX_BINS` bins): messages in, messages out and bytes out.
"""
from __future__ import annotations

import math

import numpy as np
import simpy

MAX_BINS = 1_000_000
ADDRESS = ("manager.example", 5683)


class LoadRecorder:
    """Messages in / out and bytes out of the manager, binned over simulated time from 0 to
    the horizon; what falls after the horizon is not recorded."""

    def __init__(self, horizon_s: float):
        self.horizon_s = horizon_s
        self.bin_s = max(1.0, math.ceil(horizon_s / MAX_BINS))
        n = max(1, int(math.ceil(horizon_s / self.bin_s)))
        self.msgs_in = np.zeros(n)
        self.msgs_out = np.zeros(n)
        self.bytes_out = np.zeros(n)

    def _bin(self, t: float) -> int:
        return min(int(t // self.bin_s), len(self.msgs_in) - 1)

    def add(self, t: float, msgs_in: float = 0, msgs_out: float = 0, bytes_out: float = 0):
        if t >= self.horizon_s:
            return
        b = self._bin(t)
        self.msgs_in[b] += msgs_in
        self.msgs_out[b] += msgs_out
        self.bytes_out[b] += bytes_out

    def add_many(self, times: np.ndarray, msgs_in: float = 0, msgs_out: float = 0,
                 bytes_out: float = 0) -> None:
        """`add` at each of `times` (the same amounts each)."""
        times = np.asarray(times, dtype=float)
        times = times[times < self.horizon_s]
        bins = np.minimum((times // self.bin_s).astype(np.int64), len(self.msgs_in) - 1)
        for series, amount in ((self.msgs_in, msgs_in), (self.msgs_out, msgs_out),
                               (self.bytes_out, bytes_out)):
            if amount:
                np.add.at(series, bins, amount)

    def spread(self, t0: float, t1: float, msgs_in: float, msgs_out: float, bytes_out: float):
        """Spread a flow-level exchange's load evenly over [t0, t1]."""
        if t0 >= self.horizon_s:
            return
        if t1 > self.horizon_s:
            kept = (self.horizon_s - t0) / (t1 - t0)
            msgs_in, msgs_out, bytes_out = msgs_in * kept, msgs_out * kept, bytes_out * kept
            t1 = self.horizon_s
        b0, b1 = self._bin(t0), self._bin(t1)
        if b0 == b1:
            self.add(t0, msgs_in, msgs_out, bytes_out)
            return
        edges = np.arange(b0, b1 + 2) * self.bin_s
        edges[0], edges[-1] = t0, max(t1, t0)
        w = np.diff(edges) / (t1 - t0)
        self.msgs_in[b0:b1 + 1] += msgs_in * w
        self.msgs_out[b0:b1 + 1] += msgs_out * w
        self.bytes_out[b0:b1 + 1] += bytes_out * w


class Server:
    """A FIFO server handling one message at a time, `service_s` each (packet fidelity):
    the manager's queue, or a gateway's."""

    def __init__(self, env: simpy.Environment, service_s: float):
        self.env = env
        self.service_s = service_s
        self.resource = simpy.Resource(env, capacity=1)

    def serve(self):
        """Process: one message through the queue."""
        with self.resource.request() as req:
            yield req
            yield self.env.timeout(self.service_s)


class Manager:
    """The update manager as the devices see it."""

    def __init__(self, env: simpy.Environment, service_s: float, horizon_s: float,
                 release_s: float, devices: int):
        self.env = env
        self.service_s = service_s
        self.release_s = release_s
        self.queue = Server(env, service_s)
        self.load = LoadRecorder(horizon_s)
        self.registered = np.full(devices, -np.inf)    # RD: registration expiry (s)
        self.observing = np.zeros(devices, dtype=bool)  # observes /Radio_link_status

    def has_release(self, t: float) -> bool:
        return t >= self.release_s

    def register(self, device: int, t: float, lifetime_s: float) -> None:
        """RFC 9176 registration (or its update) of `device` for `lifetime_s`."""
        self.registered[device] = t + lifetime_s

    def is_registered(self, device: int, t: float) -> bool:
        return bool(self.registered[device] > t)

    def set_observing(self, device: int, observing: bool) -> None:
        """Whether the manager observes the device's resource (RFC 7641)."""
        self.observing[device] = observing

    def is_observing(self, device: int) -> bool:
        return bool(self.observing[device])
