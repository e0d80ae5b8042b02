"""device-polling: the device asks the manager at its wake-ups (hawkBit, Mender, LwM2M pull).

At a wake-up, after its report, a device that last polled at a wake-up at least
`strategy.poll_interval_s` earlier asks for the current version:

    D-->M: CoAP GET /fw/version
    D<--M: 2.05 Content, payload: <version>

On a version newer than its own it pulls the image block by block (RFC 7959 Block2),
resuming at a later wake-up from the last block it holds if the transfer fails:

    D-->M: CoAP GET /fw/image, Block2: n/0/256
    D<--M: 2.05 Content, Block2: n/1/256, payload: 256 B

First contact is when the version check that learns of the release reaches the manager.
"""
from __future__ import annotations

import math

from simulation.transport import messages
from simulation.strategies.base import IMAGE_PATH, Strategy


class DevicePolling(Strategy):
    name = "device-polling"

    def on_wake(self, session):
        w, i = self.world, session.device
        yield from session.connect()
        yield from self.send_report(session)
        if not self.poll_due(session):
            return
        session.poll_sent()
        new = w.manager.offers(i, session.now)
        out = yield from session.exchange(messages.version_check(
            session.token(), "2.0.0" if new else "1.0.0"))
        if math.isnan(out.first_delivery_s):
            return
        asked_at = out.start_s + out.first_delivery_s
        if not out.completed:
            return
        session.poll_answered()
        if not w.manager.offers(i, asked_at) or self.updated_or_installing(i):
            return
        session.first_contact(asked_at)
        yield from self.transfer_image(session, messages.block2_pull(
            IMAGE_PATH, self.image_bytes, self.block_bytes, session.token()))
