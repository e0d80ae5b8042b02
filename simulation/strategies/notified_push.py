"""What device-initiated (draft section 4) and manager-initiated (section 5) share: the
manager observes a resource of the device, and a notification, which opens the NAT, is its
cue to push the image while the binding admits it.

The device registers in the Resource Directory (RFC 9176) and the manager observes the
resource (RFC 7641). At each wake-up the device notifies. After its NAT binding expired the
notification leaves from a new port. In plain CoAP a strict observer
(`coap.endpoint_matching`) answers it with a Reset, and the device registers again and is
observed again. Over DTLS a Connection ID keeps the peer; without one the manager has no
session for the new port and drops the device's first protected message of the wake-up
silently (report, notification or registration, `Session.exchange`): the device gives up
on it, handshakes again, registers again and is observed again, as an LwM2M client
re-registers after a request timed out (Zephyr: `lwm2m_rd_client_timeout`), then the
wake-up goes on. The manager, on hearing a notification it matches, pushes
the image with Block1 `POST /sw`. A push that fails (NAT closed, device asleep, retries
exhausted) is sent again at a later wake-up, from block 0 or from the blocks the device
holds (`update.push_resume`). The registration is
renewed at the first wake-up after which the next would find it expired. First contact is
the first pushed block reaching the device.
"""
from __future__ import annotations

import math
from abc import abstractmethod

import numpy as np

from simulation.strategies.base import Strategy
from simulation.world.manager import ADDRESS as MANAGER


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
    def notification(self, session, seq: int, answer: str = "ACK"):
        """The wake-up notification of the observed resource, answered by `answer` (an
        empty ACK, or an empty RST from a manager that no longer knows the endpoint)."""

    @abstractmethod
    def observation(self, token: int):
        """The manager's GET with Observe: 0 of the observed resource."""

    def on_wake(self, session):
        w, i = self.world, session.device
        mgr = w.manager
        yield from session.connect()
        rebound = self.rebound(session)
        if not mgr.is_registered(i, session.now + self.wake_interval_s):
            yield from self.register_and_observe(session)
            rebound = False             # observed again from the new endpoint
        if self.separate_report:
            report = yield from self.send_report(session)
            if self.dropped(report):
                yield from self.register_and_observe(session)
        if not mgr.is_observing(i):
            return
        if rebound:
            # the notification leaves from a new port: a strict observer resets it, the
            # observation ends, and the device registers again to be observed again
            yield from self.notify(session, "RST", until="done")
            mgr.set_observing(i, False)
            if not (yield from self.observed_again(session)):
                return
        note = yield from self.notify(session)
        if self.dropped(note):
            if not (yield from self.observed_again(session)):
                return
            note = yield from self.notify(session)
        if math.isnan(note.first_delivery_s):
            return                      # the manager never heard the device was awake
        heard_at = note.start_s + note.first_delivery_s
        if not mgr.offers(i, heard_at) or self.updated_or_installing(i):
            return
        yield from self.push_image(session)

    def notify(self, session, answer: str = "ACK", until: str = "delivered"):
        """The wake-up notification with the device's next Observe sequence number,
        answered by `answer` (process body; returns the exchange's Outcome)."""
        i = session.device
        self.seq[i] += 1
        spec = self.notification(session, int(self.seq[i]), answer)
        return (yield from session.exchange(spec, until=until))

    def observed_again(self, session):
        """Register again and be observed again (process body); whether the manager now
        observes the device."""
        yield from self.register_and_observe(session)
        return bool(self.world.manager.is_observing(session.device))

    def rebound(self, session) -> bool:
        """Whether the device's next notification reaches a strict observer (RFC 7252
        section 5.3.2) from an endpoint its observation does not know: its NAT binding has
        expired (a new external port) and it speaks plain CoAP. (Over DTLS a Connection ID
        keeps the peer (RFC 9146), and without one the records never reach CoAP:
        `dropped`.)"""
        w, sc = self.world, self.world.scenario
        if sc.coap.endpoint_matching != "strict" or w.security.enabled:
            return False
        return w.nat.expires_at(session.device, MANAGER) <= session.now

    @staticmethod
    def dropped(out) -> bool:
        """Whether the manager dropped the exchange for want of a DTLS session for the
        device's port (`Session.exchange`; the device has handshaken again since)."""
        return out.failure == "dtls"

    def register_and_observe(self, session):
        """RD registration, then the manager's Observe of the observed resource, sent as
        soon as the manager has handled the registration (its 2.01 travels meanwhile)."""
        w, i = self.world, session.device
        reg = yield from self.register(session, self.links)
        if self.dropped(reg):           # registered again over the new session
            reg = yield from self.register(session, self.links)
        if math.isnan(reg.first_delivery_s):
            return
        w.manager.set_observing(i, False)
        token = session.token() & 0xff
        obs = yield from session.exchange(self.observation(token))
        if obs.completed:
            self.obs_token[i] = token
            self.seq[i] = 1
            w.manager.set_observing(i, True)
