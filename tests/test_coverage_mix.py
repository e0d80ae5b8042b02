"""A fleet of mixed coverage (`fleet.coverage_mix`): each device's class by its own draw,
each class with its preset's link and radio timers, `link.*` overrides applying to every
class, and cells whose devices of every class share the airtime.

The cell's rule with classes: a packet of a device whose rate the cell holds m times takes
1 / m of the airtime; packets are slowed only when their demand exceeds the airtime, all by
the same factor, the demand (`world/cell.py`). So n_a packets of class a and n_b of class b
are each stretched by max(1, n_a / m_a + n_b / m_b), and a device's row in a fleet whose
cells do not interact is the one it has in a fleet of its class alone.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simpy

from simulation import load_scenario, run
from simulation.engine import World
from simulation.errors import ScenarioError
from simulation.scenario import coverage_classes
from simulation.scenario.presets import PRESETS
from simulation.strategies import check_supported
from simulation.world.cell import Cell, stretches

MIX = "nbiot-ce0=0.7,nbiot-ce1=0.2,nbiot-ce2=0.1"


@pytest.mark.parametrize("n_a,m_a,n_b,m_b", [(4, 4.0, 2, 1.0), (3, 9.41, 5, 9.38),
                                             (1, 2.0, 1, 8.0), (10, 4.0, 0, 1.0)])
def test_packets_of_two_classes_share_the_airtime(n_a, m_a, n_b, m_b):
    """Single packets of 1 s each arriving together: each takes max(1, n_a / m_a +
    n_b / m_b) s, in `stretches` and through a `Cell`."""
    n = n_a + n_b
    servers = np.array([m_a] * n_a + [m_b] * n_b)
    expected = max(1.0, n_a / m_a + n_b / m_b)
    k, s = stretches(np.zeros(n), np.ones(n), np.ones(n), servers=servers, unit=m_a)
    assert k == pytest.approx(np.full(n, expected), rel=1e-12)
    assert s == pytest.approx(m_a * (n_a / m_a + n_b / m_b), rel=1e-12)
    env = simpy.Environment()
    cell = Cell(env, unit=m_a)
    done = [cell.transfer(0.0, 1.0, 1.0, m) for m in servers.tolist()]
    env.run()
    assert [d.value for d in done] == pytest.approx([expected] * n, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_transfers_of_mixed_classes_meet_the_airtime_fixed_point(seed):
    """Random jobs of three classes: k_j = max(1, (1 - Q_j) / m_j + A) with A = sum_i
    Q_i / m_i, and S = A x unit; giving every job the same m as an array is the one-class
    rule to rounding."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 50))
    latency = rng.uniform(0.0, 50.0, n) * (rng.random(n) < 0.8)
    path = rng.uniform(0.5, 40.0, n)
    air = path * rng.uniform(1.0, 1.5, n)
    m = rng.choice([1.0, 2.5, 9.41], n)
    k, s = stretches(latency, path, air, servers=m, unit=9.41)
    flow = latency > 0
    q = np.where(flow, k * air / np.where(flow, latency + k * path, 1.0), 1.0)
    a = float((q / m).sum())
    assert s == pytest.approx(9.41 * a, rel=1e-8)
    assert k == pytest.approx(np.maximum(1.0, (1.0 - q) / m + a), rel=1e-8)
    one, s_one = stretches(latency, path, air, servers=2.5)
    same, s_same = stretches(latency, path, air, servers=np.full(n, 2.5), unit=2.5)
    assert same == pytest.approx(one, rel=1e-9) and s_same == pytest.approx(s_one, rel=1e-9)


def test_each_device_draws_its_class_and_keeps_it_in_any_fleet():
    """20,000 devices: each class's share within 4 standard errors of the mix; the first
    500 devices have the same classes in a fleet of 500."""
    big = World(load_scenario("baseline", {"fleet.size": 20_000, "fleet.coverage_mix": MIX}))
    shares = dict(big.scenario.fleet.mix)
    names = [c.name for c in big.topology.classes]
    for code, name in enumerate(names):
        p = shares[name]
        got = float((big.fleet.coverage == code).mean())
        assert abs(got - p) < 4 * np.sqrt(p * (1 - p) / 20_000), (name, got)
    small = World(load_scenario("baseline", {"fleet.size": 500, "fleet.coverage_mix": MIX}))
    assert (small.fleet.coverage == big.fleet.coverage[:500]).all()


def test_each_class_has_its_presets_link_and_an_override_applies_to_every_class():
    sc = load_scenario("baseline", {"fleet.coverage_mix": MIX})
    w = World(sc)
    for ctx, cls in zip(w.contexts, w.topology.classes, strict=True):
        preset = PRESETS[cls.name]
        assert ctx.link.rtt_s == preset["rtt_s"] and ctx.link.loss == preset["loss"]
        assert ctx.link.servers == pytest.approx(preset["cell_downlink_bps"]
                                                 / preset["downlink_bps"])
        assert ctx.radio.connect_s == preset["connect_s"]
    changed = load_scenario("baseline", {"fleet.coverage_mix": MIX, "link.loss": 0.3})
    classes = coverage_classes(changed)
    assert [values["loss"] for _, _, values in classes] == [0.3, 0.3, 0.3]
    assert [values["rtt_s"] for _, _, values in classes] == [1.5, 7.0, 20.0]
    # a scenario written out (every link value resolved) reads back with the same classes
    again = load_scenario(None, {**{f"link.{k}": v for k, v in
                                    changed.to_dict()["link"].items()},
                                 "fleet.coverage_mix": changed.fleet.coverage_mix})
    assert coverage_classes(again) == classes


def test_a_mix_is_read_from_a_toml_table_and_refused_when_it_does_not_add_up(tmp_path):
    path = tmp_path / "mixed.toml"
    path.write_text('[fleet]\ncoverage_mix = { "nbiot-ce0" = 0.7, "nbiot-ce2" = 0.3 }\n'
                    '[rollout]\ncell_cap = { "nbiot-ce0" = 50, "nbiot-ce2" = 1 }\n')
    sc = load_scenario(str(path))
    assert sc.fleet.coverage_mix == "nbiot-ce0=0.7,nbiot-ce2=0.3"
    assert (sc.rollout.cap_of("nbiot-ce0"), sc.rollout.cap_of("nbiot-ce2"),
            sc.rollout.cap_of("nbiot-ce1")) == (50, 1, 0)
    for bad in ("nbiot-ce0=0.7", "nbiot-ce0=0.5,nbiot-ce0=0.5", "bogus=1", "nbiot-ce0"):
        with pytest.raises(ScenarioError, match="fleet.coverage_mix"):
            load_scenario("baseline", {"fleet.coverage_mix": bad})


def test_the_slowest_class_bounds_the_wake_interval():
    """connect_s + rtt_s is 2.5 s on CE0 and 28 s on CE2: a 10 s interval is allowed for
    a CE0 fleet and refused for a fleet with CE2 devices, naming the class."""
    check_supported(load_scenario("baseline", {"device.wake_interval_s": 10.0}))
    with pytest.raises(ScenarioError, match="nbiot-ce2"):
        check_supported(load_scenario("baseline", {"device.wake_interval_s": 10.0,
                                                   "fleet.coverage_mix": MIX}))


@pytest.mark.parametrize("strategy,fidelity", [("device-initiated", "flow"),
                                               ("mqtt-http", "flow"),
                                               ("device-polling", "packet")])
def test_a_device_in_a_mixed_fleet_behaves_as_in_a_fleet_of_its_class(strategy, fidelity):
    """Every device in a cell of its own and a manager that takes no time: nothing couples
    the devices, so each row of the mixed fleet equals that device's row in a fleet of
    its class alone (same ids, same draws), to rounding."""
    sets = {"strategy.name": strategy, "sim.fidelity": fidelity, "fleet.size": 30,
            "fleet.cells": 30, "manager.service_s": 0.0, "update.image_bytes": 20_000,
            "sim.horizon_s": 4 * 3600.0}
    mixed = run(load_scenario("baseline", {**sets, "fleet.coverage_mix": MIX})).devices
    assert mixed["coverage"].nunique() == 3
    for name in ("nbiot-ce0", "nbiot-ce1", "nbiot-ce2"):
        alone = run(load_scenario("baseline", {**sets, "link.preset": name})).devices
        mine = mixed["coverage"] == name
        pd.testing.assert_frame_equal(
            mixed[mine].reset_index(drop=True).astype({"coverage": str}),
            alone[mine].reset_index(drop=True).astype({"coverage": str}),
            check_exact=False, rtol=1e-9)


def peak_per_class(devices: pd.DataFrame, horizon_s: float) -> dict[str, int]:
    """The most devices of one cell and class downloading at once, per class."""
    from simulation.results import peak_concurrent_downloads
    return {name: peak_concurrent_downloads(group, horizon_s)
            for name, group in devices.groupby("coverage", observed=True)}


def test_each_class_of_a_cell_has_its_own_download_slots():
    """Caps of 3 for CE0 and 1 for CE1 in 2 cells, every device waking each minute: at
    most (and, as all want to download, exactly) that many of a cell and class download
    at once, and every device updates all the same; without caps more do."""
    sets = {"fleet.size": 40, "fleet.cells": 2,
            "fleet.coverage_mix": "nbiot-ce0=0.6,nbiot-ce1=0.4",
            "update.image_bytes": 20_000, "device.wake_interval_s": 60.0,
            "manager.service_s": 0.0, "sim.horizon_s": 6 * 3600.0}
    caps = {"nbiot-ce0": 3, "nbiot-ce1": 1}
    capped = run(load_scenario("baseline", {
        **sets, "rollout.cell_cap": "nbiot-ce0=3,nbiot-ce1=1",
        "rollout.download_timeout_s": 1e6}))
    assert peak_per_class(capped.devices, 6 * 3600.0) == caps
    assert capped.devices["updated"].all()
    free = run(load_scenario("baseline", sets))
    assert all(v > caps[k] for k, v in peak_per_class(free.devices, 6 * 3600.0).items())


def test_a_mixed_fleet_split_over_processes_gives_the_same_devices_table():
    """Cells that do not interact (a manager that takes no time, no fleet-wide rule), per
    class caps included: two processes, each with the devices of its cells, give the
    table one process gives, classes and all."""
    from simulation.runner import cells_coupled
    sc = load_scenario("baseline", {"fleet.size": 200, "fleet.cells": 4,
                                    "manager.service_s": 0.0, "fleet.coverage_mix": MIX,
                                    "rollout.cell_cap": "nbiot-ce0=3,nbiot-ce1=1"})
    assert not cells_coupled(sc)
    one = run(sc, workers=1)
    two = run(sc, workers=2)
    assert two.summary["workers"] == 2
    pd.testing.assert_frame_equal(one.devices, two.devices)
