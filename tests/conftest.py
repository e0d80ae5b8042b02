"""Shared helpers: small scenarios and one exchange run in isolation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulation.engine import World
from simulation.scenario import load_scenario
from simulation.validation.harness import run_exchange  # noqa: F401 - shared helper


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
