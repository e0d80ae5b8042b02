"""What every strategy shares: the wake-up report and resumable image transfers."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from simulation.scenario import coverage_classes
from simulation.transport import messages
from simulation.world.link import LinkModel
from simulation.world.topology import Coverage, Topology

IMAGE_PATH = "/fw/image"   # Block2 pull resource
PUSH_PATH = "/sw"          # Block1 push resource (draft section 6)


class Strategy(ABC):
    """Base: a strategy reacts to each wake-up of a device (`on_wake`, a process body),
    and asks the session to book what it costs and what the device gains.

    `topology` says how the devices are connected: by default they talk to the manager
    over the scenario's link, through the carrier NAT, in `fleet.cells` cells.
    """

    name = ""
    #: whether the devices' own radio is the cellular link; False where they reach a gateway
    #: over a local radio, whose energy is not comparable with a cellular device's (the
    #: gateway, mains-powered, is not counted)
    cellular = True
    #: how far behind the simulation's clock the strategy books messages in its peer's
    #: queue (s): none where every session books from its own start on; the queues forget
    #: the busy periods that ended before (`World.settled`, `FifoQueue`)
    books_behind_s = 0.0

    @classmethod
    def topology(cls, scenario) -> Topology:
        """The devices' links (one per coverage class), NAT, cells and peer."""
        classes = tuple(Coverage(name, share, LinkModel.of_preset(name, values),
                                 bool(values["rtt_includes_cdrx"]))
                        for name, share, values in coverage_classes(scenario))
        return Topology(classes, behind_nat=True, cells=scenario.fleet.cells)

    @classmethod
    def check(cls, scenario) -> None:
        """Refuse (ScenarioError) a scenario this strategy cannot simulate."""

    def __init__(self, world):
        self.world = world
        sc = world.scenario
        self.image_bytes = sc.update.image_bytes
        self.block_bytes = sc.coap.block_bytes
        self.report_bytes = sc.device.report_bytes
        self.poll_interval_s = sc.strategy.poll_interval_s
        self.push_resume = sc.update.push_resume
        self.last_poll = np.full(world.fleet.n, -np.inf)   # wake-up of the last poll

    @abstractmethod
    def on_wake(self, session):
        """Process body run at each wake-up of `session.device`."""

    def finish(self) -> None:
        """Called once at the horizon: book what the strategy counts lazily."""

    def counts(self) -> dict[str, int]:
        """Run totals for the summary: TCP connections the devices opened (MQTT sessions,
        HTTP downloads), MQTT PINGREQs they sent and copies of the MQTT command the broker
        sent into a sleeping device; none for CoAP-only strategies."""
        return {"tcp_connections": 0, "keepalive_pings": 0, "command_copies_lost": 0}

    def poll_due(self, session) -> bool:
        """Whether the device polls at this wake-up: `strategy.poll_interval_s` or more
        since the wake-up at which it last polled (a microsecond of slack absorbs the
        rounding of periodic wake-up times). A due poll is recorded as made."""
        i = session.device
        if session.start - self.last_poll[i] < self.poll_interval_s - 1e-6:
            return False
        self.last_poll[i] = session.start
        return True

    def register(self, session, links: tuple[str, ...]):
        """RFC 9176 registration in the manager's Resource Directory; returns the exchange.
        The manager registers the device as soon as it has handled the request."""
        reg = yield from session.exchange(
            messages.rd_register(session.device_id, session.token(), links),
            until="delivered")
        if not math.isnan(reg.first_delivery_s):
            self.world.manager.register(session.device, reg.start_s + reg.first_delivery_s,
                                        messages.RD_LIFETIME_S)
        return reg

    def updated_or_installing(self, i: int) -> bool:
        """Whether device i is done with the release: it holds it (installed or
        installing), or its install failed and it rolled back (the manager does not offer
        it the release again)."""
        return not math.isnan(self.world.fleet.result_s(i))

    def send_report(self, session):
        """D-->M POST /report: the application's uplink report at each wake-up."""
        out = yield from session.exchange(messages.report(self.report_bytes, session.token()))
        return out

    def transfer_image(self, session, spec, then=None):
        """End the session with the image transfer `spec`, resumed from the blocks the
        device already holds (process body: a pull first gets its DTLS session,
        `Session.end_with_transfer`); `then` (default `transferred`) books it when it is
        over."""
        yield from session.end_with_transfer(spec, session.blocks_held,
                                             then or self.transferred)

    def push_image(self, session):
        """End the session with the image pushed to the device with Block1 `POST /sw`
        (by the manager, or a gateway), from the blocks it holds: none after a failed push
        with `update.push_resume = restart` (`pushed`). Process body."""
        yield from self.transfer_image(session, self.push_spec(session.token()), self.pushed)

    def push_spec(self, token: int):
        """The Block1 push of the image (its sizes do not depend on the token)."""
        return messages.block1_push(PUSH_PATH, self.image_bytes, self.block_bytes, token)

    def pushed(self, session, out) -> None:
        """Book a push; its first contact is the first pushed block reaching the device.
        A push that failed, with `update.push_resume = restart`, is sent again from block
        0 next time (RFC 7959 section 2.5: a client SHOULD start with block 0, a server
        may discard a partial request body; LwM2M Object 5 goes back to Idle): the device
        discards the blocks it got at once."""
        self.transferred(session, out)
        if not math.isnan(out.first_delivery_s):
            session.first_contact(out.start_s + out.first_delivery_s)
        if not out.completed and self.push_resume == "restart":
            session.discard_blocks(self.push_spec(0))

    def transferred(self, session, out) -> None:
        """Book an image transfer (or its part that got through)."""
        if not math.isnan(out.first_downlink_s):
            session.download_started(out.start_s + out.first_downlink_s)
        session.blocks_received(out.blocks_done)
        if out.completed:
            session.image_complete(out.start_s + out.duration_s,
                                   self.install_s(session.device))

    def install_s(self, i: int) -> float:
        """Time from a complete download to the device running the update (s)."""
        return self.world.scenario.device.install_s
