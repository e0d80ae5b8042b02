"""Shared helpers: small scenarios and one exchange run in isolation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulation.engine import World
from simulation.session import Session
from simulation.scenario import load_scenario


def closed_form(**overrides):
    """The `closed-form` scenario (fixed link, no NAT, no loss) with dotted overrides,
    given as keyword arguments with `__` for the dot: link__loss=0.1."""
    return load_scenario("closed-form", {k.replace("__", "."): v for k, v in overrides.items()})


def clear_horizon(scenario, margin_s):
    """`scenario` with its horizon moved later (by less than a wake-up interval) so that
    every device's last periodic wake-up comes at least `margin_s` before it: what a
    wake-up does then is over before the run stops, at either fidelity."""
    period = scenario.device.wake_interval_s
    phases = np.sort(World(scenario).wake_phases() % period)
    gaps = np.diff(np.concatenate((phases, [phases[0] + period])))
    k = int(np.argmax(gaps))
    assert gaps[k] > margin_s, "no wake-up gap leaves the margin"
    h0 = scenario.sim.horizon_s
    base = math.floor((h0 - phases[k]) / period) * period + phases[k]
    horizon = base + margin_s + 1e-3
    if horizon < h0:
        horizon += period
    return scenario.with_overrides({"sim.horizon_s": horizon})


def run_exchange(scenario, spec, *, first_block=0, connected=True, nat_open_until=None,
                 device=0, until="done"):
    """Run one exchange of `spec` for `device` in a fresh world; returns (outcome, world).

    connected: the device's radio was active just before (so it is reachable).
    nat_open_until: time until which the NAT admits the manager (refreshed at
        nat_open_until - udp_timeout); None leaves the NAT untouched.
    """
    w = World(scenario)
    if connected:
        w.radios.last_activity[device] = 0.0
    if nat_open_until is not None:
        from simulation.world.manager import ADDRESS
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


@pytest.fixture
def approx_rel():
    def check(a, b, rel):
        assert math.isclose(a, b, rel_tol=rel), f"{a} vs {b} (rel {rel})"
    return check


@pytest.hookimpl(tryfirst=True)     # before xdist reads the groups
def pytest_collection_modifyitems(items):
    """Tests on the study's quick tier (the `quick_study` fixture runs `reproduce --quick`,
    about 3 minutes) are slow; so are those marked slow by hand (long statistical checks).
    They also share one xdist group, so that under `-n` one worker runs the quick study once
    and serves every test that reads it (`--dist loadgroup`, set in pyproject.toml)."""
    for item in items:
        if "quick_study" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group("quick_study"))
