"""The manager's FIFO queue (`world/manager.py` FifoQueue) against independent references:
a SimPy resource served in arrival order (exact), the M/D/1 waiting time of
Pollaczek-Khinchine, the backlog of an overloaded server, and, for bookings out of time
order (flow fidelity computes sessions ahead), the busy periods of the in-order queue."""
from __future__ import annotations

import numpy as np
import pytest
import simpy

from simulation.world.manager import FifoQueue

D = 0.005       # service time (s)


def poisson_arrivals(rate: float, n: int, seed: int = 1) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, n))


def simpy_departures(arrivals: np.ndarray, service_s: float) -> np.ndarray:
    """Departures of a one-server SimPy resource fed the arrivals in order."""
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    out = np.empty(len(arrivals))

    def message(k, t):
        yield env.timeout(t)
        with server.request() as req:
            yield req
            yield env.timeout(service_s)
        out[k] = env.now

    for k, t in enumerate(arrivals.tolist()):
        env.process(message(k, t))
    env.run()
    return out


def busy_periods(q: FifoQueue) -> list[tuple[float, float]]:
    return list(zip(q._starts.tolist(), q._ends.tolist(), strict=True))


def test_in_time_order_it_is_the_fifo_of_a_simpy_resource():
    arrivals = poisson_arrivals(0.9 / D, 20_000)
    q = FifoQueue(D)
    got = np.array([t + q.sojourn(t) for t in arrivals.tolist()])
    np.testing.assert_allclose(got, simpy_departures(arrivals, D), rtol=0, atol=1e-9)


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_mean_wait_is_pollaczek_khinchine(rho):
    """M/D/1: W = rho D / (2 (1 - rho)). 400,000 arrivals: the sample mean's error is under
    2 % at rho = 0.5 and 6 % at 0.9 (batch means, measured over seeds 1-5: under 1 % and
    3 %)."""
    n = 400_000
    q = FifoQueue(D)
    for t in poisson_arrivals(rho / D, n).tolist():
        q.sojourn(t)
    expected = rho * D / (2 * (1 - rho))
    tolerance = 0.02 if rho == 0.5 else 0.06
    assert q.served == n
    assert abs(q.wait_total_s / n / expected - 1) < tolerance


def test_an_overloaded_queue_grows_its_backlog():
    """Arrivals at 1.5 times the service rate: the n-th waits about n D (1 - 1/1.5)."""
    n = 30_000
    q = FifoQueue(D)
    for t in poisson_arrivals(1.5 / D, n).tolist():
        last = q.sojourn(t)
    expected = n * D * (1 - 1 / 1.5)
    assert abs((last - D) / expected - 1) < 0.05
    assert len(q._ends) < 50        # one long busy period, not one per message


def test_booked_out_of_order_the_busy_periods_are_those_of_fifo():
    """Messages booked in shuffled order within windows of 2 s (far more disorder than
    flow fidelity's sessions computed ahead make) leave the server busy over exactly the
    same periods as in time order, and the mean sojourn is FIFO's: a message booked late
    is charged the delay it would have caused the messages behind it. Only who waits
    differs (the 95th percentile: 0.051 s against FIFO's 0.038 s at this load)."""
    arrivals = poisson_arrivals(0.8 / D, 20_000, seed=3)
    rng = np.random.default_rng(4)
    window = 2.0
    order = np.lexsort((rng.random(len(arrivals)), arrivals // window))
    shuffled = arrivals[order]
    assert not np.all(np.diff(shuffled) >= 0)
    fifo, fill = FifoQueue(D), FifoQueue(D)
    in_order = np.array([fifo.sojourn(t) for t in arrivals.tolist()])
    booked = np.array([fill.sojourn(t) for t in shuffled.tolist()])
    np.testing.assert_allclose(np.array(busy_periods(fill)), np.array(busy_periods(fifo)),
                               rtol=0, atol=1e-9)
    assert booked.min() >= D - 1e-12
    assert abs(booked.mean() / in_order.mean() - 1) < 1e-9
    assert sum(fill._counts) == len(arrivals)


def test_waiting_is_asked_without_booking():
    q = FifoQueue(1.0)
    q.sojourn(0.0)
    q.sojourn(0.5)              # waits 0.5 s, leaves at 2
    assert q.wait(1.0) == pytest.approx(1.0)
    assert q.wait(3.0) == 0.0
    assert q.served == 2
    # booked late: it leaves after the busy period it arrived in (1.8 -> 3.0); its work
    # fills the gap too short for it, the next busy period is pushed on by the rest, and
    # it is charged what that costs the one message there (0.5 s)
    q.sojourn(2.5)              # busy 2.5-3.5
    assert q.sojourn(1.8) == pytest.approx(1.2 + 0.5)
    assert busy_periods(q) == [(0.0, 4.0)]


def test_a_message_older_than_the_kept_history_is_served_at_once_and_counted():
    q = FifoQueue(1.0, keep_s=10.0, keep_max=2)
    for t in range(0, 100, 5):
        q.sojourn(float(t))
    q.sojourn(95.5)             # busy: waits 0.5 s
    assert q.late == 0
    assert q.sojourn(1.0) == 1.0
    assert q.late == 1


def test_what_ended_before_the_settled_time_is_forgotten_and_changes_nothing():
    arrivals = poisson_arrivals(150.0, 20_000, seed=3)
    kept, forgetting = FifoQueue(D), FifoQueue(D, settled=lambda: now)
    now = 0.0
    for t in arrivals.tolist():
        now = t                 # booked in time order: nothing arrives before now
        assert forgetting.sojourn(t) == kept.sojourn(t)
    assert forgetting.late == 0
    assert len(forgetting._ends) < len(kept._ends) / 2   # it did forget
    assert forgetting.wait_total_s == kept.wait_total_s


@pytest.mark.parametrize("sets", [
    {"strategy.name": "device-initiated"},
    {"strategy.name": "device-initiated", "sim.fidelity": "packet", "fleet.size": 30,
     "sim.horizon_s": 7200.0},
    {"strategy.name": "device-polling", "strategy.poll_interval_s": 900.0},
    {"strategy.name": "delegated", "fleet.cells": 1},
], ids=["device-initiated", "packet", "device-polling", "delegated"])
def test_a_run_forgetting_the_queues_past_is_the_run_that_keeps_it(sets, monkeypatch):
    """The engine lets the queues forget what ended before the simulation's clock
    (`World.settled`): with enough messages for the queues to prune (over 4096 busy
    periods), the tables are those of a run that keeps the whole day, and no message was
    booked late."""
    from pandas.testing import assert_frame_equal

    from simulation import load_scenario, run
    from simulation import runner
    from simulation.engine import World

    worlds = []

    class Recorded(World):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            worlds.append(self)

    monkeypatch.setattr(runner, "World", Recorded)
    sc = load_scenario("baseline", {"fleet.size": 60, "fleet.cells": 3,
                                    "sim.horizon_s": 14_400.0, "update.release_s": 1800.0,
                                    "update.image_bytes": 51_200,
                                    "device.wake_interval_s": 900.0, **sets})
    forgetting = run(sc, workers=1)
    monkeypatch.setattr(World, "settled", lambda self: -np.inf)
    kept = run(sc, workers=1)
    queues = [[*w.manager.queues, *w.peer_queues.values()] for w in worlds]
    assert max(q.served for q in queues[0]) > 4096      # the most a queue keeps unpruned
    assert sum(q.late for q in queues[0]) == 0
    assert sum(len(q._ends) for q in queues[0]) < sum(len(q._ends) for q in queues[1]) / 2
    assert_frame_equal(forgetting.devices, kept.devices)
    assert_frame_equal(forgetting.manager, kept.manager)
