"""delegated (draft section 6): a gateway fetches the image once and pushes it to each
of its devices when they wake.

Devices reach their gateway over a local low-power hop (`gateway.local_link`: 6LoWPAN or
BLE, shared by the gateway's devices like a cell; no NAT on it) and the gateway reaches the
manager over an always-on backhaul. The gateway gets the image by HTTP or by a CoAP Observe
(`gateway.fetch`, see `transport/backhaul.py`):

    G-->M: HTTP GET /swupdate                        G-->M: COAP GET /swupdate, Observe: 0
    G<--M: 200 Content, payload: swpackage           G<--M: 2.05 Content, payload: swpackage

caches it, and when one of its devices wakes (its report reaches the gateway, which proxies
it to the manager) pushes it:

    D<--G: COAP POST /sw, Token: 0xbb, Block1: n/1/256, payload: 256 B

The manager's image traffic then scales with the gateways, not the devices. Security is
per hop: the gateway holds the devices' credentials as a CoAP proxy, so each device's DTLS
session (`security.mode`) ends at its gateway, over the local hop, and the gateway keeps
one session of its own with the manager (TLS for the HTTP fetch with `security.mode =
"tls"`, resumed at each poll while it lasts, `tls.resumption`; DTLS for the Observe; see
`transport/backhaul.py`): the manager sets up one session per gateway instead of one per
device. First contact is the first pushed block reaching the device. The trace shows the
device's exchanges with its gateway (`D<--G`); the backhaul's are in the manager's load.
"""
from __future__ import annotations

import math

import numpy as np

from simulation.errors import ScenarioError
from simulation.protocols import dtls
from simulation.transport import messages
from simulation.transport.security import AUTH
from simulation.strategies.base import Strategy
from simulation.transport.backhaul import fetch_plan
from simulation.world.link import LinkModel
from simulation.world.radio import RadioModel
from simulation.world.topology import GATEWAY, Coverage, Topology


class Delegated(Strategy):
    name = "delegated"
    cellular = False

    @classmethod
    def topology(cls, scenario) -> Topology:
        """The local hop, no NAT on it, and one gateway per `gateway.devices_per_gateway`
        devices, whose local channel its devices share (device i belongs to gateway i mod
        count); the peer is the gateway."""
        gateways = math.ceil(scenario.fleet.size / scenario.gateway.devices_per_gateway)
        local = scenario.gateway.local_link
        link = LinkModel.local(local)
        return Topology((Coverage(local, 1.0, link),), behind_nat=False, cells=gateways,
                        peer=GATEWAY, radio=RadioModel.local(local, link.connect_s))

    @classmethod
    def check(cls, scenario) -> None:
        if scenario.fleet.mix:
            raise ScenarioError("fleet.coverage_mix is not allowed with strategy.name = "
                                "delegated: its devices reach their gateway over "
                                "gateway.local_link, not a cellular link")

    def __init__(self, world):
        super().__init__(world)
        sc = world.scenario
        gw = sc.gateway
        self.ready_s = np.full(len(world.cells), math.inf)
        gateways = np.unique(world.fleet.cell)       # the gateways of this world's devices
        phases = world.streams.uniforms("gateway-phase", gateways) * \
            max(sc.strategy.poll_interval_s, 0.0)
        load = world.manager.load
        for g, phase in zip(gateways.tolist(), phases.tolist(), strict=True):
            plan = fetch_plan(gw.fetch, sc.update.image_bytes, sc.update.release_s,
                              sc.sim.horizon_s, gw.backhaul_rtt_s, gw.backhaul_bps,
                              sc.manager.service_s, sc.strategy.poll_interval_s, phase,
                              sc.security.mode, sc.tls.version, sc.tls.auth,
                              sc.tls.resumption, sc.tls.session_lifetime_s)
            self.ready_s[g] = plan.ready_s
            for t, msgs_in, msgs_out, bytes_out in plan.load:
                load.add(t, msgs_in, msgs_out, bytes_out)
        self.report_out = messages.report(self.report_bytes, 0)
        self.backhaul_record = (dtls.record_overhead("1.2", 0) if sc.security.mode in AUTH
                                else 0)

    def on_wake(self, session):
        w, i = self.world, session.device
        yield from session.connect()
        report = yield from self.send_report(session)
        if not math.isnan(report.first_delivery_s):
            # the gateway, a CoAP proxy, forwards the report to the manager (in its own
            # session's records)
            session.book_backhaul(report.start_s + report.first_delivery_s, msgs_in=1,
                                  msgs_out=1, bytes_out=int(self.report_out.resp_bytes[0])
                                  + self.backhaul_record)
        g = int(w.fleet.cell[i])
        # the gateway pushes once the manager's rollout has reached the device, and stops
        # at once when the manager stops the rollout (A: a gateway stays connected to it)
        if (session.now < self.ready_s[g] or self.updated_or_installing(i)
                or not w.manager.offers(i, session.now)):
            return
        yield from self.push_image(session)
