"""The manager's rollout: to which devices it offers the release, and from when.

The policies (`rollout.*` keys), combinable:

* **Waves.** Cumulative shares of the fleet (`rollout.waves`, "1": all at once). Every
  device has a rank by its own draw ("rollout-order"); wave w holds the ranks from
  ceil(s_{w-1} N) to ceil(s_w N). The first wave opens at `update.release_s`; the next
  opens when `rollout.success_threshold` of the current wave's devices have reported a
  successful install (hawkBit's rollout groups and success threshold).
* **Rate.** At most r devices released per minute of the rollout (minutes counted from the
  release), in rank order among the open waves, evenly spaced 60/r s apart. r starts at
  `rollout.base_rate_per_min` and is multiplied by `rollout.increment_factor` each time
  another `rollout.increase_every` devices were notified (released) or succeeded
  (`rollout.increase_on`), up to `rollout.max_per_min` (AWS IoT Jobs' exponential rollout).
  A base rate of 0: every device of a wave is released when it opens.
* **Randomised start.** A released device is offered the release from a time drawn
  uniformly (its own draw, "rollout-start") within `rollout.start_window_s` of its
  release (operator guidelines: no synchronised behaviour).
* **Per-cell caps.** At most `rollout.cell_cap` devices of a cell hold a download slot
  at once, one number for every coverage class or one per class (Huawei IoTDA's 50, 10
  and 1 at coverage levels 0, 1 and 2; A: each class of a cell has slots of its own): a
  released device is given the go-ahead only if it holds one or its cell and class have
  one free. A slot is freed when the device's download is complete, or
  `rollout.download_timeout_s` after it was taken (a device asleep mid-download,
  Huawei IoTDA); a device whose slot lapsed needs a new one to go on.

The rollout stops releasing once the manager aborts (`Manager.record_result`).
Listeners (`subscribe`) learn each batch of released devices, with the times they are
offered the release: the MQTT broker publishes its command then.
"""
from __future__ import annotations

import math

import numpy as np

MINUTE_S = 60.0


def wave_bounds(shares: tuple[float, ...], n: int) -> np.ndarray:
    """The first rank after each wave: ceil(share x n), the last wave ending at n."""
    bounds = np.array([math.ceil(s * n - 1e-9) for s in shares], dtype=np.int64)
    bounds[-1] = n
    return bounds


class Rollout:
    """Which devices the manager offers the release to, and from when (s)."""

    def __init__(self, env, rollout, release_s: float, fleet, classes: list[str], streams):
        """`fleet`: the devices (their ids, cells and coverage classes); `classes`: the
        classes' presets, in `fleet.coverage`'s numbering."""
        self.env = env
        self.release_s = release_s
        self.shares = rollout.wave_shares
        self.success_threshold = rollout.success_threshold
        self.base_rate = rollout.base_rate_per_min
        self.factor = rollout.increment_factor
        self.increase_every = rollout.increase_every
        self.increase_on = rollout.increase_on
        self.max_rate = rollout.max_per_min
        self.window_s = rollout.start_window_s
        ids = fleet.ids
        self.cap = np.array([rollout.cap_of(name) for name in classes],
                            dtype=np.int32)[fleet.coverage]    # per device, 0: none
        self.timeout_s = rollout.download_timeout_s
        self.cell = fleet.cell
        self.coverage = fleet.coverage
        n = len(ids)
        self.slot_s = np.full(n, np.nan)            # when the device took its slot
        self.downloaded = np.zeros(n, dtype=bool)   # the manager served it the whole image
        # per (cell, class), the devices holding a slot
        self.holders: dict[tuple[int, int], list[int]] = {}
        self.slot_listeners: list = []
        u = streams.uniforms("rollout-order", ids)
        self.order = np.lexsort((ids, u))           # devices in rank order
        rank = np.empty(n, dtype=np.int64)
        rank[self.order] = np.arange(n)
        self.bounds = wave_bounds(self.shares, n)
        self.wave = np.searchsorted(self.bounds, rank, side="right").astype(np.int64)
        self.start_delay_s = streams.uniforms("rollout-start", ids) * self.window_s
        self.released_s = np.full(n, np.nan)        # go-ahead (notified)
        self.go_s = np.full(n, np.inf)              # offered the release from then
        self.opened = 1                             # waves open
        self.succeeded = np.zeros(len(self.bounds), dtype=np.int64)  # per wave
        self.next_rank = 0                          # the next device to release
        self.stopped = False
        self.listeners: list = []
        self.batches: list[tuple[np.ndarray, np.ndarray]] = []
        if self.base_rate > 0:
            env.process(self._releases_per_minute())
        else:
            self._release_open(release_s)

    def offers(self, i: int, t: float) -> bool:
        """Whether the release is offered to device i at t (abort aside): it was released,
        and it holds a download slot or takes one (`rollout.cell_cap`)."""
        if t < self.go_s[i]:
            return False
        return self.cap[i] <= 0 or self._slot(i, t)

    def _slot(self, i: int, t: float) -> bool:
        """Whether device i holds a slot of its cell and class at t, taking a free one if
        not (a device that has the whole image needs none)."""
        if self.downloaded[i] or t < self.slot_s[i] + self.timeout_s:
            return True
        c = int(self.cell[i])
        holders = self.holders.setdefault((c, int(self.coverage[i])), [])
        lapsed = [j for j in holders if t >= self.slot_s[j] + self.timeout_s]
        for j in lapsed:
            holders.remove(j)
            self.slot_s[j] = np.nan
        if len(holders) >= self.cap[i]:
            return False
        holders.append(i)
        self.slot_s[i] = t
        if self.slot_listeners:         # tell them when this slot lapses
            self.env.timeout(max(0.0, t + self.timeout_s - self.env.now)).callbacks.append(
                lambda _event, c=c: self._slot_free(c))
        return True

    def download_done(self, i: int) -> None:
        """Device i holds the whole image: its slot is free."""
        self.downloaded[i] = True
        if self.cap[i] <= 0 or np.isnan(self.slot_s[i]):
            return
        c = int(self.cell[i])
        self.holders[(c, int(self.coverage[i]))].remove(i)
        self.slot_s[i] = np.nan
        self._slot_free(c)

    def _slot_free(self, c: int) -> None:
        for listener in self.slot_listeners:
            listener(c)

    def on_slot_free(self, listener) -> None:
        """`listener(cell)` when a slot of the cell may have become free."""
        self.slot_listeners.append(listener)

    def subscribe(self, listener) -> None:
        """`listener(devices, go_s)` for each batch released, those before included."""
        self.listeners.append(listener)
        for devices, go in self.batches:
            listener(devices, go)

    def stop(self) -> None:
        """The manager aborted: no device is released from now."""
        self.stopped = True

    def succeeded_at(self, i: int, t: float) -> str | None:
        """Device i reported a successful install at t; returns the trace text of a wave
        that opens then, if one does."""
        w = int(self.wave[i])
        self.succeeded[w] += 1
        if w != self.opened - 1 or self.opened == len(self.bounds) or self.stopped:
            return None
        size = self.bounds[w] - (self.bounds[w - 1] if w else 0)
        if self.succeeded[w] < math.ceil(self.success_threshold * size - 1e-9):
            return None
        self.opened += 1
        if self.base_rate <= 0:
            self._release_open(t)
        share = self.shares[self.opened - 1]
        return f"M: wave {self.opened} opens ({100 * share:g} %)"

    # -- releasing ----------------------------------------------------------------------
    def _release(self, devices: np.ndarray, times: np.ndarray) -> None:
        self.released_s[devices] = times
        go = times + self.start_delay_s[devices]
        self.go_s[devices] = go
        self.batches.append((devices, go))
        for listener in self.listeners:
            listener(devices, go)

    def _release_open(self, t: float) -> None:
        """Every device of the open waves not yet released, at t."""
        end = int(self.bounds[self.opened - 1])
        if self.stopped or end <= self.next_rank:
            return
        devices = self.order[self.next_rank:end]
        self.next_rank = end
        self._release(devices, np.full(len(devices), t))

    def rate_per_min(self) -> int:
        """Devices released in the coming minute."""
        count = self.next_rank if self.increase_on == "notified" else int(
            self.succeeded.sum())
        # past 200 steps of at least 1.1 every rate is above the cap (1.1^200 > 10^8), and
        # 5^200 is still a finite float
        steps = min(200, count // self.increase_every) if self.increase_every > 0 else 0
        return int(min(self.max_rate, math.floor(self.base_rate * self.factor ** steps
                                                 + 1e-9)))

    def _releases_per_minute(self):
        """Process: at the start of each minute from the release, the next devices of the
        open waves, at most the minute's rate, evenly spaced over it."""
        env = self.env
        yield env.timeout(self.release_s)
        n = len(self.order)
        while self.next_rank < n and not self.stopped:
            rate = max(1, self.rate_per_min())
            end = min(int(self.bounds[self.opened - 1]), self.next_rank + rate)
            if end > self.next_rank:
                devices = self.order[self.next_rank:end]
                self.next_rank = end
                self._release(devices, env.now + MINUTE_S * np.arange(len(devices)) / rate)
            yield env.timeout(MINUTE_S)
