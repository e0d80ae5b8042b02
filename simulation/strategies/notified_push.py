"""What device-initiated (draft section 4) and manager-initiated (section 5) share: the
manager observes a resource of the device, and a notification, which opens the NAT, is its
cue to push the image while the binding admits it.

The device registers in the Resource Directory (RFC 9176) and the manager observes the
resource (RFC 7641). At each wake-up the device notifies; the manager, on hearing it, pushes
the image with Block1 `POST /sw`. Whatever fails (NAT closed, device asleep, retries
exhausted) resumes from the blocks the device holds at a later wake-up. The registration is
renewed at the first wake-up after which the next would find it expired. First contact is
the first pushed block reaching the device.
"""
from __future__ import annotations

import math
from abc import abstractmethod

import numpy as np

from simulation.protocols import messages
from simulation.strategies.base import PUSH_PATH, Strategy


class NotifiedPush(Strategy):
    """Push the image when a notification of `observed` shows the device is awake."""

    observed = ""               # the resource the manager observes
    separate_report = True      # the report is also POSTed (it is not the notification)
    links: tuple[str, ...] = ()  # what the device registers in the RD (RFC 6690)

    def __init__(self, world):
        super().__init__(world)
        self.wake_interval_s = world.scenario.device.wake_interval_s
        self.seq = np.zeros(world.fleet.n, dtype=np.int32)   # Observe sequence numbers
        self.obs_token = np.zeros(world.fleet.n, dtype=np.int32)

    @abstractmethod
    def notification(self, session, seq: int):
        """The wake-up notification of the observed resource."""

    @abstractmethod
    def observation(self, token: int):
        """The manager's GET with Observe: 0 of the observed resource."""

    def on_wake(self, session):
        w, i = self.world, session.device
        mgr = w.manager
        yield from session.connect()
        if not mgr.is_registered(i, session.now + self.wake_interval_s):
            yield from self.register(session)
        if self.separate_report:
            yield from self.send_report(session)
        if not mgr.observing[i]:
            return
        self.seq[i] += 1
        note = yield from session.exchange(self.notification(session, int(self.seq[i])),
                                           until="delivered")
        if math.isnan(note.first_delivery_s):
            return                      # the manager never heard the device was awake
        heard_at = note.start_s + note.first_delivery_s
        if not mgr.has_release(heard_at) or self.updated_or_installing(i):
            return
        self.transfer_image(session, messages.block1_push(
            PUSH_PATH, self.image_bytes, self.block_bytes, session.token()))

    def transferred(self, session, out) -> None:
        """First contact is the first pushed block reaching the device."""
        super().transferred(session, out)
        if not math.isnan(out.first_delivery_s):
            self.world.fleet.first_contact(session.device, out.start_s + out.first_delivery_s)

    def register(self, session):
        """RD registration, then the manager's Observe of the observed resource."""
        w, i = self.world, session.device
        # The manager registers the device, then observes it, as soon as it has handled the
        # registration request; the 2.01 Created travels back meanwhile.
        reg = yield from session.exchange(
            messages.rd_register(session.device_id, session.token(), self.links),
            until="delivered")
        if math.isnan(reg.first_delivery_s):
            return
        w.manager.register(i, reg.start_s + reg.first_delivery_s, messages.RD_LIFETIME_S)
        w.manager.observing[i] = False
        token = session.token() & 0xff
        obs = yield from session.exchange(self.observation(token))
        if obs.completed:
            self.obs_token[i] = token
            self.seq[i] = 1
            w.manager.observing[i] = True
