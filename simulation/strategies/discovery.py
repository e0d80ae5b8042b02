"""discovery (draft section 8): the device discovers new capabilities at a single entry
point and fetches only what changed.

The device registers in the Resource Directory, then at its wake-ups (at most every
`strategy.poll_interval_s`, like device-polling) reads its firmware entry point in CoRE link
format. Once the release exists, a new link announces it:

    D-->M: CoAP GET /fw
    D<--M: 2.05 Content, payload: </fw/app>;rt="fw";v="1.0.0",</fw/delta/2.0.0>;rt="fw-delta";sz=11981
    D-->M: CoAP GET /fw/delta/2.0.0, Block2: n/0/256
    D<--M: 2.05 Content, Block2: n/1/256, payload: 256 B

A partial update (`update.delta_ratio` < 1) is `delta_ratio` x `update.image_bytes` bytes and
is applied at runtime, without a reboot: the device runs it as soon as it holds it. A full
image (`delta_ratio` = 1) needs `device.install_s` and a reboot, after which the device
registers again (its resources changed). Transfers resume from the blocks held; first
contact is when the read of /fw that shows the new link reaches the manager.
"""
from __future__ import annotations

import math

import numpy as np

from simulation.transport import messages
from simulation.strategies.base import Strategy

CURRENT = '</fw/app>;rt="fw";v="1.0.0"'
LINKS = ("</fw>;ct=40", "</report>")


class Discovery(Strategy):
    name = "discovery"

    def __init__(self, world):
        super().__init__(world)
        sc = world.scenario
        self.wake_interval_s = sc.device.wake_interval_s
        self.partial = sc.update.delta_ratio < 1.0
        self.update_bytes = max(1, math.ceil(sc.update.delta_ratio * sc.update.image_bytes))
        kind = "delta" if self.partial else "image"
        self.path = f"/fw/{kind}/2.0.0"
        self.new_link = f'<{self.path}>;rt="fw-{kind}";sz={self.update_bytes}'
        self.reregister = np.zeros(world.fleet.n, dtype=bool)

    def on_wake(self, session):
        w, i = self.world, session.device
        mgr = w.manager
        yield from session.connect()
        if self.reregister[i] or not mgr.is_registered(i, session.now + self.wake_interval_s):
            reg = yield from self.register(session, LINKS)
            if not math.isnan(reg.first_delivery_s):
                self.reregister[i] = False
        yield from self.send_report(session)
        if not self.poll_due(session):
            return
        session.poll_sent()
        links = (CURRENT, self.new_link) if mgr.offers(i, session.now) else (CURRENT,)
        out = yield from session.exchange(messages.discover(session.token(), links))
        if not out.completed:
            return
        session.poll_answered()
        asked_at = out.start_s + out.first_delivery_s
        if not mgr.offers(i, asked_at) or self.updated_or_installing(i):
            return
        session.first_contact(asked_at)
        yield from self.transfer_image(session, messages.block2_pull(
            self.path, self.update_bytes, self.block_bytes, session.token()))

    def install_s(self, i: int) -> float:
        """A partial update runs at once; a full image needs its installation and reboot."""
        return 0.0 if self.partial else self.world.scenario.device.install_s

    def transferred(self, session, out) -> None:
        super().transferred(session, out)
        if out.completed and not self.partial:
            self.reregister[session.device] = True   # rebooted with new resources
