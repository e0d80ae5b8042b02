"""Small harnesses the checks (and the tests) run the model in: one exchange in a fresh
world, the energy of one report wake-up, the delays from a release to first contact, and
the share of manager polls a NAT lets through."""
from __future__ import annotations

from ..engine import World
from ..runner import run
from ..scenario import load_scenario
from ..session import Session
from ..transport import messages
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


def first_contact_delays(wake: str, n: int, interval_s: float = 600.0,
                         release_s: float = 600.0):
    """Seconds from the release to each of `n` devices' first contact (device-polling at
    every wake-up, `closed-form` link, one device per cell, flow fidelity). A version check
    reaches the manager a fixed time after each wake-up, so the checks form the wake-ups'
    renewal process shifted, and the first one after the release comes after its residual
    life. The horizon leaves room for every first contact: one interval after the release
    for periodic wake-ups, 15 for Poisson ones (a device misses with probability e^-15)."""
    after = 2 * interval_s if wake == "periodic" else 15 * interval_s
    sc = load_scenario("closed-form", {
        "strategy.name": "device-polling", "strategy.poll_interval_s": 0.0,
        "device.wake": wake, "device.wake_interval_s": interval_s, "fleet.size": n,
        "fleet.cells": n, "sim.fidelity": "flow", "update.release_s": release_s,
        "update.image_bytes": 512, "sim.horizon_s": release_s + after})
    return run(sc, workers=1).devices["t_first_contact_s"].to_numpy() - release_s


def manager_polls(nat_timeout_s: float, inactivity_s: float = 20.0, active_s: float = 8.0,
                  interval_s: float = 600.0, n: int = 400) -> tuple[dict, float]:
    """Manager polling through a NAT (`closed-form` link, RTT 1 s, polls every 170 s, at a
    period incommensurate with the wake-ups, over 10 h): the run's summary, and the share
    of polls the open window predicts. A poll gets through while the device is reachable
    (I + A after its last packet) and its binding admits the manager (T after the report
    reached the NAT), so the share is about min(I + A, T) / wake interval: the report
    reaches the NAT half an RTT and its answer's serialization before the device's last
    packet, and a poll must reach the device half an RTT after it is sent."""
    sc = load_scenario("closed-form", {
        "strategy.name": "manager-polling", "strategy.poll_interval_s": 170.0,
        "device.wake_interval_s": interval_s, "device.inactivity_s": inactivity_s,
        "device.active_timer_s": active_s, "nat.enabled": True,
        "nat.udp_timeout_s": nat_timeout_s, "fleet.size": n, "fleet.cells": n,
        "sim.fidelity": "flow", "update.release_s": 1e9, "sim.horizon_s": 36000.0})
    report = messages.report(sc.device.report_bytes, 1)
    s_resp = 8 * report.resp_bytes[0] / sc.link.downlink_bps
    half_rtt = sc.link.rtt_s / 2
    window = min(nat_timeout_s - half_rtt - s_resp, inactivity_s + active_s - half_rtt)
    return run(sc, workers=1).summary, window / interval_s
