"""Small harnesses the checks (and the tests) run the model in: one exchange in a fresh
world, and the energy of one report wake-up."""
from __future__ import annotations

from ..engine import World
from ..runner import run
from ..scenario import load_scenario
from ..session import Session
from ..world.manager import ADDRESS
from ..world.radio import PARTS


def run_exchange(scenario, spec, *, first_block=0, connected=True, nat_open_until=None,
                 device=0, until="done"):
    """Run one exchange of `spec` for `device` in a fresh world; returns (outcome, world).

    connected: the device's radio was active just before (so it is reachable).
    nat_open_until: time (s) until which the NAT admits the manager (refreshed at
        nat_open_until - udp_timeout); None leaves the NAT untouched.
    """
    w = World(scenario)
    if connected:
        w.radios.last_activity[device] = 0.0
    if nat_open_until is not None:
        w.nat.outbound(device, ADDRESS, nat_open_until - scenario.nat.udp_timeout_s)
    session = Session(w, device, 0)
    box = {}

    def body():
        if spec.bulk:
            yield from session.end_with_transfer(
                spec, first_block, lambda _session, out: box.setdefault("out", out))
        else:
            box["out"] = yield from session.exchange(spec, first_block=first_block,
                                                     until=until)
    w.env.process(body())
    w.env.run()
    return box["out"], w


def energy_per_report_wakeup(scenario: str, wakeups: int = 10, sets: dict | None = None
                             ) -> float:
    """Mean energy (J) of one report wake-up of the built-in `scenario`, PSM excluded: the
    difference between two horizons `wakeups` wake intervals apart, each 30 s before a
    wake-up (every tail over), per device and per wake-up, so that the first wake-up's
    registration and handshake drop out."""
    sets = dict(sets or {})
    interval = load_scenario(scenario, sets).device.wake_interval_s
    a, b = (run(load_scenario(scenario, {**sets, "sim.horizon_s": k * interval - 30.0}),
                workers=1).devices for k in (2, 2 + wakeups))
    if not (b["wakeups"] - a["wakeups"] == wakeups).all():
        raise AssertionError("the two horizons are not `wakeups` wake-ups apart")
    event = [f"energy_{p}_j" for p in PARTS if p != "psm"]
    return float(((b[event].sum(axis=1) - a[event].sum(axis=1)) / wakeups).mean())
