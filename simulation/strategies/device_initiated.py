"""device-initiated (draft section 4): an Observe on the device's radio-link status opens
the NAT for the manager.

The device registers in the Resource Directory (RFC 9176) and the manager observes its
radio-link status (RFC 7641):

    D-->M: CoAP POST /rd?ep=dev0&lt=90000, payload: </Radio_link_status>;obs,</sw>,...
    D<--M: 2.01 Created, Location-Path: /rd/0
    D<--M: CoAP GET /Radio_link_status, Token: 0x4a, Observe: 0
    D-->M: 2.05 Content, Token: 0x4a, payload: 1

At each wake-up the device notifies (payload 1: radio on). The notification refreshes the
NAT binding; while the binding admits it, the manager pushes the image with Block1:

    D-->M: 2.05 Content, Token: 0x4a, Observe: 7, payload: 1
    D<--M: CoAP POST /sw, Block1: n/1/256, payload: 256 B
    D-->M: 2.31 Continue, Block1: n/1/256

Whatever fails (NAT closed, device asleep, retries exhausted) resumes from the blocks the
device holds at a later wake-up. The registration is renewed at the first wake-up after
which the next would find it expired. First contact is the first pushed block reaching the
device.
"""
from __future__ import annotations

import math

import numpy as np

from simulation.protocols import messages
from simulation.strategies.base import PUSH_PATH, Strategy


class DeviceInitiated(Strategy):
    name = "device-initiated"

    def __init__(self, world):
        super().__init__(world)
        self.wake_interval_s = world.scenario.device.wake_interval_s
        self.seq = np.zeros(world.fleet.n, dtype=np.int32)   # Observe sequence numbers
        self.obs_token = np.zeros(world.fleet.n, dtype=np.int32)

    def on_wake(self, session):
        w, i = self.world, session.device
        mgr = w.manager
        yield from session.connect()
        if not mgr.is_registered(i, session.now + self.wake_interval_s):
            yield from self.register(session)
        yield from self.send_report(session)
        if not mgr.observing[i]:
            return
        self.seq[i] += 1
        note = yield from session.exchange(
            messages.notify_link_status(int(self.obs_token[i]), int(self.seq[i])),
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
        """RD registration, then the manager's Observe of /Radio_link_status."""
        w, i = self.world, session.device
        # The manager registers the device, then observes it, as soon as it has handled the
        # registration request; the 2.01 Created travels back meanwhile.
        reg = yield from session.exchange(messages.rd_register(session.device_id,
                                                                   session.token()),
                                          until="delivered")
        if math.isnan(reg.first_delivery_s):
            return
        w.manager.register(i, reg.start_s + reg.first_delivery_s, messages.RD_LIFETIME_S)
        w.manager.observing[i] = False
        token = session.token() & 0xff
        obs = yield from session.exchange(messages.observe_link_status(token))
        if obs.completed:
            self.obs_token[i] = token
            self.seq[i] = 1
            w.manager.observing[i] = True
