"""Per-device counters of the whole fleet, as arrays (lean at 10^6 devices)."""
from __future__ import annotations

import numpy as np

#: bytes_up + bytes_down = payload + security + wasted + header bytes (`exchange.Outcome`
#: defines the split; header bytes are the rest)
COUNTS = ("bytes_up", "bytes_down", "payload_bytes", "security_bytes", "wasted_bytes",
          "msgs_up", "msgs_down", "retransmissions", "failed_attempts")
#: when the device first heard of the update, began and finished its download, runs the
#: update, or rolled back from an install that failed (`update.failure_rate`), in s
TIMES = ("t_first_contact_s", "t_download_start_s", "t_download_end_s", "t_updated_s",
         "t_install_failed_s")


class Fleet:
    """Counters and update state of the devices a world simulates (all of the fleet, or
    the devices of some cells when a run is split across processes). Arrays are indexed
    by local index; `ids` gives each one's device id."""

    def __init__(self, ids: np.ndarray, cells: int):
        self.ids = np.asarray(ids, dtype=np.int64)
        n = self.n = len(self.ids)
        self.cell = self.ids % cells
        self.coverage = np.zeros(n, dtype=np.int8)   # coverage class (`Topology.classes`)
        for name in COUNTS:
            setattr(self, name, np.zeros(n, dtype=np.int64))
        for name in TIMES:
            setattr(self, name, np.full(n, np.nan))
        self.blocks_done = np.zeros(n, dtype=np.int64)   # image blocks held so far
        self.wakeups = np.zeros(n, dtype=np.int64)
        self.result_reported = np.zeros(n, dtype=bool)   # the manager knows the outcome
        # until when each device is busy with a session (written by `Session` only)
        self.busy_until = np.full(n, -np.inf)

    def add(self, i: int, out, finished: bool = True) -> None:
        """Add an exchange outcome's counts to device i (`finished=False`: what an exchange
        still under way at the horizon has sent so far; it has not failed, and the first
        copies of its block under way are not wasted)."""
        self.bytes_up[i] += out.bytes_up
        self.bytes_down[i] += out.bytes_down
        self.payload_bytes[i] += out.payload_bytes
        self.security_bytes[i] += out.security_bytes
        self.wasted_bytes[i] += out.wasted_bytes
        self.msgs_up[i] += out.msgs_up
        self.msgs_down[i] += out.msgs_down
        self.retransmissions[i] += out.retransmissions
        if finished and not out.completed:
            self.failed_attempts[i] += 1

    def result_s(self, i: int) -> float:
        """When device i's install ended, updated or rolled back (NaN before)."""
        t = self.t_updated_s[i]
        return float(self.t_install_failed_s[i] if np.isnan(t) else t)

    def first_contact(self, i: int, t: float) -> None:
        if np.isnan(self.t_first_contact_s[i]):
            self.t_first_contact_s[i] = t
