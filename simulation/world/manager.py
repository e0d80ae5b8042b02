"""The manager: resource directory, update store, a request queue and its load over time.

Every application message the manager receives (a CoAP message, an HTTP request, an MQTT
control packet, a TLS client flight it answers; not TCP segments and ACKs, which are the
kernel's) is served in FIFO order at `service_s` each, by the server of the device's cell
(`servers` of them, each one queue, `FifoQueue`; one by default). Load, of all servers, is
binned per second of simulated time (coarser when the horizon would need more than
`MAX_BINS` bins): packets in (TCP segments included), packets out, bytes out, and the
messages booked in the queue.
"""
from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right

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
        self.queued = np.zeros(n)       # messages booked in the manager's queue

    def _bin(self, t: float) -> int:
        return min(int(t // self.bin_s), len(self.msgs_in) - 1)

    def add(self, t: float, msgs_in: float = 0, msgs_out: float = 0, bytes_out: float = 0,
            queued: float = 0):
        if t >= self.horizon_s or t < 0:
            return
        b = self._bin(t)
        self.msgs_in[b] += msgs_in
        self.msgs_out[b] += msgs_out
        self.bytes_out[b] += bytes_out
        self.queued[b] += queued

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


class FifoQueue:
    """One server handling one message at a time, `service_s` each, in arrival order: the
    manager's queue, or a gateway's. A message is booked by its arrival time and learns at
    once when it leaves (`sojourn`), so both fidelities use the same queue: packet fidelity
    books each message as its event happens; flow fidelity books the messages of an
    exchange it computes ahead of the simulation.

    Booked in time order, this is FIFO exactly (Lindley's recursion: a message starts at
    its arrival or when the one before leaves). A message booked after others that arrived
    later (flow fidelity computes sessions ahead) cannot delay them any more: it waits for
    the busy period it arrives in to end, and its work fills the server's idle time from
    then on (a gap shorter than one service pushes the next busy period on by the rest).
    It is charged, on top, the delay that push would have caused each message of the
    pushed busy periods. So whatever the booking order, the busy periods are exactly
    FIFO's over the same arrivals, and so is the total (and mean) sojourn; only who waits
    within a busy period can differ (`tests/test_manager_queue.py` measures how much).

    The busy periods are kept as flat arrays of start and end times (s) and message
    counts, 24 bytes each. Those that ended more than `keep_s` before the latest arrival
    are forgotten, and the oldest beyond `keep_max`; so are those that ended before
    `settled()`, the time before which the owner books no more messages (a busy period
    that ended before a message arrives changes nothing for it: this forgets exactly).
    A message that arrives before the last forgotten end is served at once (its wait is
    not known), and counted (`late`).
    """

    def __init__(self, service_s: float, keep_s: float = 86_400.0, keep_max: int = 1 << 22,
                 load: LoadRecorder | None = None, settled=None):
        """`load`: where to count each message booked, in the bin of its arrival (the
        offered load whose busiest bin is the manager's peak utilisation). `settled`: a
        function of no argument, the time (s) before which no message will be booked any
        more (default: none known)."""
        self.service_s = float(service_s)
        self.keep_s, self.keep_max = keep_s, keep_max
        self.load = load
        self.settled = settled or (lambda: -math.inf)
        self._starts = array("d")
        self._ends = array("d")
        self._counts = array("q")         # messages served in each busy period
        self._floor = -math.inf           # end of the last forgotten busy period
        self._latest = -math.inf          # latest arrival booked
        self._limit = min(4096, keep_max)  # prune when there are more busy periods
        self.served = 0
        self.wait_total_s = 0.0
        self.wait_max_s = 0.0
        self.late = 0

    def sojourn(self, t: float) -> float:
        """Book a message arriving at t; seconds until it leaves (wait and service)."""
        if self.load is not None:
            self.load.add(t, queued=1)
        self.served += 1
        if self.service_s <= 0.0:
            return 0.0
        if t < self._floor:
            self.late += 1
            return self.service_s
        s = self._fill(t, book=True)
        wait = s - self.service_s
        self.wait_total_s += wait
        self.wait_max_s = max(self.wait_max_s, wait)
        if t > self._latest:
            self._latest = t
        if len(self._ends) > self._limit:
            self._prune()
        return s

    def wait(self, t: float) -> float:
        """Seconds a message arriving at t would wait before its service, given what is
        booked (nothing is booked)."""
        if self.service_s <= 0.0 or t < self._floor:
            return 0.0
        return self._fill(t, book=False) - self.service_s

    def _fill(self, t: float, book: bool) -> float:
        """Seconds from t until a message arriving at t leaves, as `FifoQueue` says; with
        `book`, its work goes into the server's idle time."""
        d, starts, ends, counts = self.service_s, self._starts, self._ends, self._counts
        n = len(ends)
        if n == 0 or t >= ends[-1]:           # the server is idle from t on
            if book:
                if n and t == ends[-1]:
                    ends[-1] = t + d
                    counts[-1] += 1
                else:
                    starts.append(t)
                    ends.append(t + d)
                    counts.append(1)
            return d
        i = bisect_right(ends, t)             # the first busy period ending after t
        if starts[i] <= t:                    # t falls in it: wait for its end
            first, begin, pos, j = i, starts[i], ends[i], i + 1
        else:
            first, begin, pos, j = i, t, t, i
        leaves = pos + d
        if not book:
            return leaves - t
        rem, pushed = d, 0.0
        while True:
            gap = (starts[j] if j < n else math.inf) - pos
            if gap >= rem:
                pos += rem
                break
            rem -= gap                        # the next busy period starts `rem` later:
            pushed += rem * counts[j]         # each of its messages leaves that much later
            pos = ends[j]
            j += 1
        end = pos
        if j < n and starts[j] <= pos:        # it ends where the next one starts
            end = ends[j]
            j += 1
        merged = 1 + sum(counts[first:j])
        del starts[first:j]
        del ends[first:j]
        del counts[first:j]
        starts.insert(first, begin)
        ends.insert(first, end)
        counts.insert(first, merged)
        return leaves - t + pushed

    def _prune(self) -> None:
        k = max(bisect_right(self._ends, self._latest - self.keep_s),
                bisect_left(self._ends, self.settled()), len(self._ends) - self.keep_max)
        if k:
            self._floor = max(self._floor, self._ends[k - 1])
            del self._starts[:k]
            del self._ends[:k]
            del self._counts[:k]
        self._limit = max(min(4096, self.keep_max), 2 * len(self._ends))


class Manager:
    """The update manager as the devices see it."""

    def __init__(self, env: simpy.Environment, service_s: float, horizon_s: float,
                 release_s: float, devices: int, abort_threshold: float = 1.0,
                 abort_min_finished: int = 1, rollout=None, queue_settled=None,
                 servers: int = 1):
        """`rollout`: to which devices the release is offered and from when
        (`world/rollout.py`); None: to every device from `release_s`. `queue_settled`:
        the queues' `settled` (`FifoQueue`). `servers`: how many servers, each with its
        own queue, share the cells (`queue_of`)."""
        self.env = env
        self.rollout = rollout
        self.service_s = service_s
        self.release_s = release_s
        self.abort_threshold = abort_threshold
        self.abort_min_finished = abort_min_finished
        self.finished = 0               # results reported: updated or failed installs
        self.failed = 0
        self.aborted_at_s: float | None = None
        self.load = LoadRecorder(horizon_s)
        self.queues = [FifoQueue(service_s, load=self.load, settled=queue_settled)
                       for _ in range(servers)]
        self.registered = np.full(devices, -np.inf)    # RD: registration expiry (s)
        self.offered_s = np.full(devices, np.inf)      # first go-ahead given (`offers`)
        self.observing = np.zeros(devices, dtype=bool)  # observes /Radio_link_status

    def queue_of(self, cell: int) -> FifoQueue:
        """The queue of the server that serves the devices of `cell`: server cell mod
        servers."""
        return self.queues[cell % len(self.queues)]

    def has_release(self, t: float) -> bool:
        """Whether the release is out at t: from `update.release_s` until the rollout is
        stopped (`record_result`)."""
        return t >= self.release_s and (self.aborted_at_s is None or t < self.aborted_at_s)

    def offers(self, device: int, t: float) -> bool:
        """Whether the manager gives `device` the go-ahead at t (its answer to a poll, a
        push, the broker's command): the release is out, and the rollout has reached the
        device (a push strategy holds its push back otherwise, a poll is answered that
        there is no update yet). The first go-ahead is recorded (`offered_s`). A device
        given it before an abort may still download after: the abort reaches it at its
        next contact (an image URL the device holds stays valid)."""
        if not (self.has_release(t) and (self.rollout is None
                                         or self.rollout.offers(device, t))):
            return False
        if t < self.offered_s[device]:
            self.offered_s[device] = t
        return True

    def download_done(self, device: int) -> None:
        """`device` holds the whole image: the download slot it held is free."""
        if self.rollout is not None:
            self.rollout.download_done(device)

    def record_result(self, device: int, t: float, failed: bool) -> list[str]:
        """`device` reports at t that its install succeeded or failed. A success may open
        the rollout's next wave; the rollout stops when the share of failures among the
        results exceeds `rollout.abort_threshold`, with at least
        `rollout.abort_min_finished` results. Returns the trace texts of the decisions."""
        self.finished += 1
        self.failed += int(failed)
        said = []
        if not failed and self.rollout is not None and self.aborted_at_s is None:
            opened = self.rollout.succeeded_at(device, t)
            if opened:
                said.append(opened)
        if (self.aborted_at_s is None and self.finished >= self.abort_min_finished
                and self.failed / self.finished > self.abort_threshold):
            self.aborted_at_s = t
            if self.rollout is not None:
                self.rollout.stop()
            said.append(f"M: rollout aborted, {self.failed} of {self.finished} failed")
        return said

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
