"""manager-polling (draft section 3): the manager polls every device, which answers only
while it is reachable and its NAT binding admits the manager.

The manager polls device i at o_i + j x `strategy.poll_interval_s` (a random phase o_i per
device) with a CON request:

    D<--M: CoAP GET /fw/state
    D-->M: 2.05 Content, payload: 0

A poll gets through only when the device is reachable (connected, or idle within its active
timer, then paged) and the NAT admits it; otherwise every copy (the request and its
MAX_RETRANSMIT retransmissions) is dropped, at the NAT or for want of a reachable device,
and the poll counts as a failed attempt. On an answer after the release the manager pushes
the image with Block1 `POST /sw`, as in section 4; a failed push is sent again at a later
answer (from block 0, or resumed: `update.push_resume`).
The manager does not poll a device it is updating.

Between the device's wake-ups the outcome of polls is certain once the binding and the
radio have timed out: those polls are booked in bulk (the manager's messages, NAT drops,
failed attempts) without events, and only polls that may get through are simulated.
The device itself wakes, reports and registers as in the other strategies.
"""
from __future__ import annotations

import math

import numpy as np

from simulation.errors import ScenarioError
from simulation.transport import messages
from simulation.session import Session
from simulation.strategies.base import Strategy
from simulation.world.manager import ADDRESS as MANAGER

LINKS = ("</fw/state>", "</sw>", "</report>")


class ManagerPolling(Strategy):
    name = "manager-polling"

    @classmethod
    def check(cls, scenario) -> None:
        if scenario.strategy.poll_interval_s <= 0:
            raise ScenarioError(f"strategy.poll_interval_s = "
                                f"{scenario.strategy.poll_interval_s} is not allowed for "
                                "manager-polling: expected a period > 0")

    def __init__(self, world):
        super().__init__(world)
        sc = world.scenario
        self.period_s = sc.strategy.poll_interval_s
        self.wake_interval_s = sc.device.wake_interval_s
        self.phase = world.streams.uniforms("poll-phase", world.fleet.ids) * self.period_s
        self.next_poll = np.zeros(world.fleet.n, dtype=np.int64)   # first poll not booked
        self.armed = np.zeros(world.fleet.n, dtype=bool)
        spec = messages.poll(0)
        self.copies = sc.coap.max_retransmit + 1
        self.poll_bytes = int(spec.req_bytes[0])

    # -- the device's side ---------------------------------------------------------------
    def on_wake(self, session):
        w, i = self.world, session.device
        self.book_failed_polls(i, session.start)
        yield from session.connect()
        if not w.manager.is_registered(i, session.now + self.wake_interval_s):
            yield from self.register(session, LINKS)
        yield from self.send_report(session)
        self.arm(i, session.now)

    # -- the manager's polls -------------------------------------------------------------
    def poll_time(self, i: int, j: int) -> float:
        return float(self.phase[i] + j * self.period_s)

    def open_until(self, i: int) -> float:
        """Until when a poll may get through: the NAT admits it and the device can be
        reached (its radio's active timer has not run out)."""
        w = self.world
        return min(w.nat.expires_at(i, MANAGER), w.radios.reachable_until(i))

    def arm(self, i: int, t: float) -> None:
        """Simulate the next poll at or after t if it may get through; later polls are
        certain to fail until the device's next activity and are booked lazily."""
        w = self.world
        j = max(int(self.next_poll[i]), math.ceil((t - self.phase[i]) / self.period_s))
        self.book_failed_polls(i, self.poll_time(i, j))
        tp = self.poll_time(i, j)
        if self.armed[i] or tp >= self.open_until(i) or tp >= w.horizon_s:
            return
        self.armed[i] = True
        w.env.timeout(max(0.0, tp - w.env.now)).callbacks.append(
            lambda _e, i=i, j=j: w.env.process(self.poll(i, j)))

    def poll(self, i: int, j: int):
        """Process: poll j of device i (and the push it may start)."""
        w = self.world
        self.armed[i] = False
        self.next_poll[i] = j + 1
        if w.fleet.busy_until[i] > w.env.now:
            # the device is in a session or being updated: no poll; try the next one
            self.arm(i, w.env.now + 1e-9)
            return
        yield from Session(w, i, j, stream="poll").run(self._poll)

    def _poll(self, session):
        """The poll's session: the device is not held unless the manager pushes."""
        w, i = self.world, session.device
        session.poll_sent()
        out = yield from session.exchange(messages.poll(session.token()))
        if not out.completed:
            self.arm(i, session.now)
            return
        session.poll_answered()
        answered_at = out.start_s + out.first_delivery_s
        if not w.manager.offers(i, answered_at) or self.updated_or_installing(i):
            self.arm(i, session.now)
            return
        session.hold()
        yield from self.push_image(session)

    def pushed(self, session, out) -> None:
        """Book the push, then poll on (the next answer pushes again)."""
        super().pushed(session, out)
        self.arm(session.device, session.now)

    def book_failed_polls(self, i: int, until: float) -> None:
        """Book the polls from the first unbooked one up to `until` (excluded), all of
        which found the NAT closed or the device in PSM: every copy sent and lost."""
        w = self.world
        j0 = int(self.next_poll[i])
        j1 = max(j0, math.ceil((min(until, w.horizon_s) - self.phase[i]) / self.period_s))
        if j1 <= j0:
            return
        times = self.phase[i] + np.arange(j0, j1) * self.period_s
        Session(w, i, j0, stream="poll").book_lost_polls(times, self.copies, self.poll_bytes,
                                                         "CoAP GET /fw/state")
        self.next_poll[i] = j1

    def finish(self) -> None:
        for i in range(self.world.fleet.n):
            if not self.armed[i]:
                self.book_failed_polls(i, self.world.horizon_s)
