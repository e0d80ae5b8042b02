"""Same seed, same table; one device's draws do not depend on the others."""
from __future__ import annotations

import pandas as pd
import pytest

from simulation import run
from simulation.scenario import load_scenario

RESULT_COLUMNS = ["updated", "t_first_contact_s", "t_updated_s", "download_s", "energy_j",
                  "bytes_up", "bytes_down", "msgs_up", "msgs_down", "retransmissions",
                  "failed_attempts"]


def baseline(**sets):
    base = {"fleet.size": 60, "fleet.cells": 6, "update.image_bytes": 20480,
            "sim.horizon_s": 12000.0}
    base.update(sets)
    return load_scenario("baseline", base)


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
def test_same_seed_gives_identical_devices_table(fidelity):
    a = run(baseline(**{"sim.fidelity": fidelity})).devices
    b = run(baseline(**{"sim.fidelity": fidelity})).devices
    pd.testing.assert_frame_equal(a, b)
    c = run(baseline(**{"sim.fidelity": fidelity, "sim.seed": 2})).devices
    assert not a["energy_j"].equals(c["energy_j"])


def test_adding_a_device_leaves_the_others_unchanged():
    """Devices alone in their cells share nothing but the manager, whose queue couples
    them: with a manager that takes no time, their rows must not change when the fleet
    grows."""
    sets = {"fleet.cells": 40, "manager.service_s": 0.0}
    small = run(baseline(**{"fleet.size": 20}, **sets)).devices
    large = run(baseline(**{"fleet.size": 21}, **sets)).devices
    pd.testing.assert_frame_equal(small[RESULT_COLUMNS],
                                  large[RESULT_COLUMNS].iloc[:20].reset_index(drop=True))


def test_trace_does_not_change_results():
    a = run(baseline()).devices
    b = run(baseline(), trace_devices=3)
    pd.testing.assert_frame_equal(a, b.devices)
    assert "D<--M: CoAP POST /sw" in b.trace


@pytest.mark.parametrize("strategy", ["device-initiated", "mqtt-http"])
def test_devices_table_does_not_depend_on_the_number_of_processes(strategy):
    """Flow-fidelity runs split by cells over processes where cells do not interact (a
    manager that takes no time): every draw belongs to one device, so the table is the
    same for 1, 2 or 3 processes."""
    sc = baseline(**{"fleet.size": 90, "fleet.cells": 9, "strategy.name": strategy,
                     "link.loss": 0.02, "manager.service_s": 0.0})
    one = run(sc, workers=1)
    for workers in (2, 3):
        other = run(sc, workers=workers)
        assert other.summary["workers"] == workers
        pd.testing.assert_frame_equal(one.devices, other.devices)
        pd.testing.assert_frame_equal(one.manager, other.manager, rtol=1e-9)


def test_partitions_on_a_dask_cluster_give_the_devices_table_of_one_process():
    """`run(..., dask=)`: the cells split into partitions, each simulated on a worker of a
    LocalCluster of 2 processes, make the table of one process; a run whose cells are
    coupled by the manager's queue stays one partition there too."""
    sc = baseline(**{"fleet.size": 60, "fleet.cells": 6, "link.loss": 0.02,
                     "manager.service_s": 0.0})
    one = run(sc, workers=1)
    parted = run(sc, workers=3, dask="local")
    assert parted.summary["workers"] == 3
    pd.testing.assert_frame_equal(one.devices, parted.devices)
    pd.testing.assert_frame_equal(one.manager, parted.manager, rtol=1e-9)
    coupled = baseline(**{"fleet.size": 20, "fleet.cells": 2, "manager.service_s": 0.001})
    assert run(coupled, workers=2, dask="local").summary["workers"] == 1


def test_cells_coupled_by_the_managers_queue_run_in_one_process():
    """The manager's queue makes every cell's devices wait behind the others': a run whose
    devices talk to a manager that takes time is not split, whatever it is asked; one
    whose devices talk to their cell's gateway is."""
    sc = baseline(**{"fleet.size": 30, "fleet.cells": 3, "manager.service_s": 0.001})
    assert run(sc, workers=3).summary["workers"] == 1


def test_a_manager_on_servers_splits_into_parts_that_divide_them():
    """With `manager.servers`, server c mod servers serves cell c: parts that divide the
    servers hold every cell of a server, so they do not interact, and their table is that
    of one process, with a queue that makes messages wait (a release storm); asked for
    more parts, the run takes the most that divide the servers."""
    sc = baseline(**{"fleet.size": 80, "fleet.cells": 8, "manager.service_s": 0.02,
                     "manager.servers": 4, "device.wake_interval_s": 600.0,
                     "update.release_s": 1200.0})
    one = run(sc, workers=1)
    assert one.summary["manager_wait_max_s"] > 0.02     # one waited over a service time
    for asked, parts in ((2, 2), (3, 2), (4, 4)):
        other = run(sc, workers=asked)
        assert other.summary["workers"] == parts
        pd.testing.assert_frame_equal(one.devices, other.devices)
        pd.testing.assert_frame_equal(one.manager, other.manager, rtol=1e-9)
    gw = baseline(**{"fleet.size": 30, "fleet.cells": 3, "manager.service_s": 0.001,
                     "strategy.name": "delegated", "gateway.devices_per_gateway": 10})
    assert run(gw, workers=3).summary["workers"] == 3
