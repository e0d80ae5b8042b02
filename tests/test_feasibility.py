"""Runs that cannot be done here are refused before they start, in one line: a fleet that
would not fit in memory, wake-ups faster than a cellular device can connect; a run's
memory and time are estimated from the scenario."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulation.errors import ScenarioError
from simulation.feasibility import (BYTES_PER_DEVICE, BYTES_PER_WAKEUP, SESSION_S,
                                    WAKEUPS_PER_CORE_S, check_fits, estimate)
from simulation.scenario import load_scenario
from simulation.strategies import check_supported

ROOT = Path(__file__).resolve().parent.parent


def test_the_estimate_counts_wake_ups_memory_and_sessions():
    sc = load_scenario("baseline", {"fleet.size": 1000, "sim.horizon_s": 86400.0,
                                    "update.release_s": 90000.0})       # no update
    est = estimate(sc)
    assert est.wakeups == 1000 * 24
    assert est.memory_bytes == 1000 * BYTES_PER_DEVICE + 24000 * BYTES_PER_WAKEUP
    rate = WAKEUPS_PER_CORE_S["device-initiated"]
    assert est.wall_s == pytest.approx(24000 / rate)
    # 100 KiB in the baseline's 256 B blocks: 4x the deployment's 100 blocks
    released = estimate(load_scenario("baseline", {"fleet.size": 1000}))
    assert released.wall_s == pytest.approx(6000 / rate
                                            + 1000 * 4 * SESSION_S["device-initiated"])
    packet = estimate(load_scenario("baseline", {"fleet.size": 1000,
                                                 "sim.fidelity": "packet"}))
    assert packet.wall_s > 10 * released.wall_s
    assert "1,000 devices, 6,000 wake-ups" in released.text


def test_a_fleet_that_does_not_fit_is_refused_with_the_estimate():
    sc = load_scenario("baseline", {"fleet.size": 10_000})
    assert check_fits(sc, available=1e9).devices == 10_000
    with pytest.raises(ScenarioError) as e:
        check_fits(sc, available=1e6)
    assert "fleet.size = 10,000 does not fit" in str(e.value)
    assert "86.6 MB" in str(e.value) and "1.0 MB are available" in str(e.value)
    assert "--dask ADDRESS" in str(e.value)
    # split into partitions (`run --dask`), each must fit in a worker's memory
    check_fits(sc, available=50e6, partitions=2, where="a worker's memory")
    with pytest.raises(ScenarioError, match=r"a worker's memory: split over 2 partitions, "
                                            r"one needs 43.3 MB"):
        check_fits(sc, available=40e6, partitions=2, where="a worker's memory")


def test_wake_ups_faster_than_a_connection_are_refused():
    check_supported(load_scenario("baseline", {"device.wake_interval_s": 2.5}))
    with pytest.raises(ScenarioError, match=r"link.connect_s \+ link.rtt_s = 2.5 s"):
        check_supported(load_scenario("baseline", {"device.wake_interval_s": 2.4}))
    # the bound is the devices' own link: a gateway's local radio connects faster
    check_supported(load_scenario("baseline", {"device.wake_interval_s": 2.0,
                                               "strategy.name": "delegated"}))


@pytest.mark.parametrize("sets,needle", [
    ("fleet.size=10000000000", "does not fit in this machine's memory"),
    ("device.wake_interval_s=1e-9", "device.wake_interval_s = 1e-09 is not allowed"),
])
def test_the_command_line_refuses_them_in_one_line(tmp_path, sets, needle):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "simulation", "run", "baseline", "--set", sets,
                        "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


def test_a_congested_manager_makes_the_sessions_cost_message_by_message():
    """The manager's load while the fleet downloads: a request per block, every device
    within a wake interval; above 1 the sessions are estimated at packet cost."""
    from simulation.feasibility import PACKET_SESSION_FACTOR, manager_load

    light = load_scenario("deployment", {"fleet.size": 1000})
    # 100 KiB in 1,024 B blocks: 100 requests per device, 1000 devices within an hour
    assert manager_load(light) == pytest.approx(1000 * 100 / 3600 * 0.0005)
    heavy = load_scenario("deployment", {"fleet.size": 1000, "manager.service_s": 0.1})
    assert manager_load(heavy) > 1
    sessions = 1000 * SESSION_S["device-initiated"]
    routine = 6000 / WAKEUPS_PER_CORE_S["device-initiated"]
    assert estimate(heavy).wall_s == pytest.approx(routine + PACKET_SESSION_FACTOR * sessions)
