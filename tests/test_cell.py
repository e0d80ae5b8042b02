"""The cell's shared downlink: processor sharing with a per-device rate cap. With a
capacity of m device rates, n packets in the cell are each stretched by max(1, n / m)
(exact); transfers that alternate latency and serialization meet the Schweitzer
mean-value fixed point k_j = max(1, (1 + S - Q_j) / m), S = sum Q_i, which is checked
here on random job sets; packet-level jobs through `Cell` finish when the rule says."""
from __future__ import annotations

import numpy as np
import pytest
import simpy

from simulation.world.cell import Cell, stretches


@pytest.mark.parametrize("m", [1.0, 4.0, 9.41])
@pytest.mark.parametrize("n", [1, 3, 4, 12, 40])
def test_n_packets_are_stretched_by_n_over_the_capacity(n, m):
    zeros = np.zeros(n)
    k, s = stretches(zeros, np.ones(n), np.ones(n), servers=m)
    assert s == pytest.approx(n)
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
    cell = Cell(env, servers=m)
    done = [cell.transfer(0.0, 1.0, 1.0) for _ in range(jobs)]
    env.run()
    assert [d.value for d in done] == pytest.approx([expected] * jobs)
