"""The cell's shared downlink: processor sharing with a per-device rate cap. With a
capacity of m device rates, n packets in the cell are each stretched by max(1, n / m)
(exact); transfers that alternate latency and serialization meet the Schweitzer
mean-value fixed point k_j = max(1, (1 + S - Q_j) / m), S = sum Q_i, which is checked
here on random job sets; packet-level jobs through `Cell` finish when the rule says. In
flow fidelity a block's downlink finds a bounded number of others in the cell, their mean
the cell's queue, and a cell with room for every device delays none of them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simpy

from simulation import run
from simulation.scenario import load_scenario
from simulation.world.cell import Cell, stretches


@pytest.mark.parametrize("m", [1.0, 4.0, 9.41])
@pytest.mark.parametrize("n", [1, 3, 4, 12, 40])
def test_n_packets_are_stretched_by_n_over_the_capacity(n, m):
    zeros = np.zeros(n)
    k, s = stretches(zeros, np.ones(n), np.ones(n), servers=m)
    assert s == pytest.approx(n)          # counted in packets of the one class
    assert k == pytest.approx(np.full(n, max(1.0, n / m)))


@pytest.mark.parametrize("m", [1.0, 2.5, 9.41])
@pytest.mark.parametrize("seed", range(5))
def test_transfers_meet_the_mean_value_fixed_point(m, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    latency = rng.uniform(0.0, 50.0, n) * (rng.random(n) < 0.8)   # some plain packets
    path = rng.uniform(0.5, 40.0, n)
    air = path * rng.uniform(1.0, 1.5, n)                            # duplicates on air
    k, s = stretches(latency, path, air, servers=m)
    flow = latency > 0
    q = np.where(flow, k * air / np.where(flow, latency + k * path, 1.0), 1.0)
    assert s == pytest.approx(q.sum(), rel=1e-8)
    expected = np.maximum(1.0, (1.0 + s - q) / m)
    assert k == pytest.approx(expected, rel=1e-8)
    # a larger cell never slows anyone more
    k_big, _ = stretches(latency, path, air, servers=2 * m)
    assert (k_big <= k + 1e-9).all()


@pytest.mark.parametrize("jobs,m,expected", [(2, 4.0, 1.0), (8, 4.0, 2.0), (8, 1.0, 8.0)])
def test_packets_through_the_cell_finish_when_processor_sharing_says(jobs, m, expected):
    """`jobs` packets of 1 s each arrive together in a cell of m device rates: each takes
    max(1, jobs / m) s."""
    env = simpy.Environment()
    cell = Cell(env, unit=m)
    done = [cell.transfer(0.0, 1.0, 1.0, m) for _ in range(jobs)]
    env.run()
    assert [d.value for d in done] == pytest.approx([expected] * jobs)


def test_a_block_finds_the_cells_mean_queue_and_never_more_than_its_jobs():
    """Six transfers, each with a packet in the cell about 30 % of the time: what a packet
    sent now finds is N others with mean the cell's queue S (within 4 standard errors of
    200,000 draws), never more than the six; its stretch is max(1, (1 + N) / m), the
    processor-sharing rule of packet fidelity, for the same draws at any capacity m."""
    env = simpy.Environment()
    cell = Cell(env, unit=1.0)
    assert cell.found_stretches(np.random.default_rng(1), 10, 1.0) is None   # empty
    for _ in range(6):
        cell.transfer(7.0, 3.0, 3.0, 1.0)
    s = cell.queue
    found = cell.found_stretches(np.random.default_rng(1), 200_000, 1.0) - 1.0
    assert abs(found.mean() - s) < 4 * found.std() / np.sqrt(len(found))
    assert 0 <= found.min() and found.max() <= 6
    cell.unit = 2.5
    wide = cell.found_stretches(np.random.default_rng(1), 200_000, 2.5)
    assert wide == pytest.approx(np.maximum(1.0, (1.0 + found) / 2.5))


@pytest.mark.parametrize("strategy", ["device-polling", "device-initiated"])
def test_a_cell_with_room_for_every_device_delays_none(strategy):
    """Ten devices released together in one cell of ten device rates (a stop-and-wait
    download has one packet in the cell at a time): no packet shares the cell's rate, so
    every device's row equals the one it has in a cell of its own, timers and
    retransmissions included. An open queue's geometric count of others would stretch a
    third of the blocks here, and fire CoAP timers packet fidelity never fires."""
    sets = {"strategy.name": strategy, "fleet.size": 10, "update.image_bytes": 30720,
            "device.wake_interval_s": 300.0, "strategy.poll_interval_s": 300.0,
            "sim.horizon_s": 9000.0, "manager.service_s": 0.0}
    rate = load_scenario("baseline").link.downlink_bps
    shared = run(load_scenario("baseline", {**sets, "fleet.cells": 1,
                                            "link.cell_downlink_bps": 10 * rate}))
    alone = run(load_scenario("baseline", {**sets, "fleet.cells": 10}))
    columns = ["updated", "t_updated_s", "download_s", "energy_j", "bytes_down",
               "retransmissions"]
    assert shared.devices["updated"].all()
    pd.testing.assert_frame_equal(shared.devices[columns], alone.devices[columns])
