"""Running a scenario: one world, or the cells of a flow-fidelity fleet split over
processes, and the run's tables built from their parts (`results.py`)."""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
import traceback
from queue import Empty

import numpy as np

from simulation.cluster import dask_client
from simulation.engine import World
from simulation.feasibility import check_fits
from simulation.results import RunResult, assemble, part_of
from simulation.scenario import Scenario
from simulation.strategies import strategy_class
from simulation.world.topology import MANAGER


def rss_kib() -> float:
    """Resident memory of this process now (KiB), from /proc; NaN where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024
    except (OSError, ValueError, IndexError):
        return math.nan


def cells_coupled(scenario: Scenario) -> bool:
    """Whether the devices of every cell interact with every other's: through a
    fleet-wide rule of the rollout (an abort threshold below 1: one cell's failures stop
    every cell's downloads; waves, ranked over the fleet and opened by its successes; a
    release rate, shared by the fleet)."""
    r = scenario.rollout
    return r.abort_threshold < 1.0 or len(r.wave_shares) > 1 or r.base_rate_per_min > 0


def queue_shared(scenario: Scenario) -> bool:
    """Whether the devices of the cells one manager's server serves interact through its
    queue: the devices talk to the manager (not to their cell's gateway, whose queue is
    its own) and it takes time (`manager.service_s` > 0)."""
    topology = strategy_class(scenario.strategy.name).topology(scenario)
    return scenario.manager.service_s > 0 and topology.peer == MANAGER


def default_workers(scenario: Scenario) -> int:
    """Processes a run uses by default: one per core for flow-fidelity fleets of 20,000
    devices or more, as far as they split (`partitions`), else one."""
    if scenario.fleet.size < 20_000:
        return 1
    return partitions(scenario, os.cpu_count() or 1)


def shard_ids(scenario: Scenario, workers: int) -> list[np.ndarray]:
    """Device ids of each process: the devices of cells c with c mod workers = s."""
    ids = np.arange(scenario.fleet.size)
    cell = ids % strategy_class(scenario.strategy.name).topology(scenario).cells
    return [ids[cell % workers == s] for s in range(workers)]


def run(scenario: Scenario, trace_devices: int = 0, progress=None,
        workers: int | None = None, dask: str | None = None) -> RunResult:
    """Simulate `scenario` (already resolved) and build its tables.

    workers: processes to split the cells over, as far as parts that do not interact
    allow (`partitions`); the result is the same for any number. Default:
    `default_workers`.
    dask: the address of a dask.distributed scheduler, or "local" for a LocalCluster of
    `workers` processes: the cells are split into `workers` partitions (default: one per
    thread of the cluster), each simulated on a worker, under the same rule.
    """
    if dask:
        return _run_dask(scenario, trace_devices, progress, workers, dask)
    check_fits(scenario)          # refuse what would not fit in memory, before building it
    wall0 = time.perf_counter()
    if workers is None:
        workers = default_workers(scenario)
    workers = partitions(scenario, workers)
    if workers == 1:
        parts = [simulate_part(scenario, None, trace_devices, progress)]
    else:
        parts = _run_processes(scenario, trace_devices, progress, workers)
    return assemble(scenario, parts, time.perf_counter() - wall0, traced=trace_devices > 0)


def partitions(scenario: Scenario, asked: int) -> int:
    """How many parts the fleet splits into when `asked` for (at most one per cell), so
    that no two parts interact: one where every cell interacts with every other
    (`cells_coupled`) or in packet fidelity; where the manager's queues couple the cells
    each server serves (`queue_shared`), the largest number that divides
    `manager.servers` (part s holds the cells c with c mod parts = s, and server c mod
    servers serves cell c: a server's cells are all in one part)."""
    if cells_coupled(scenario) or scenario.sim.fidelity != "flow":
        return 1
    most = max(1, min(asked, scenario.fleet.cells))
    if not queue_shared(scenario):
        return most
    return max(p for p in range(1, most + 1) if scenario.manager.servers % p == 0)


def simulate_part(scenario: Scenario, ids: np.ndarray | None, trace_devices: int = 0,
                  progress=None):
    """Simulate the devices `ids` of `scenario` (a partition of its cells; None: all of
    them); their Part. `progress(t)` is told the simulated time now and then."""
    rss0 = rss_kib()
    world = World(scenario, trace_devices, ids)
    world.run(progress)
    return part_of(world, rss0)


def _run_dask(scenario, trace_devices, progress, workers, address):
    """`run` with the partitions on a dask.distributed cluster (see `run`); each must fit
    in the memory of the cluster's smallest worker."""
    wall0 = time.perf_counter()
    with dask_client(address, workers or 2) as client:
        info = client.scheduler_info()["workers"].values()
        limits = [w.get("memory_limit") or math.inf for w in info]
        asked = workers or sum(w.get("nthreads", 1) for w in info) or 1
        parts_n = partitions(scenario, asked)
        check_fits(scenario, min(limits, default=math.inf), parts_n,
                   "a worker's memory")
        futures = [client.submit(simulate_part, scenario, ids, trace_devices, pure=False)
                   for ids in shard_ids(scenario, parts_n)]
        parts = []
        for done, future in enumerate(futures, start=1):
            parts.append(future.result())
            if progress is not None:
                progress(scenario.sim.horizon_s * done / parts_n)
    return assemble(scenario, parts, time.perf_counter() - wall0, traced=trace_devices > 0)


def _part_in_process(scenario, ids, trace_devices, slot, clocks, queue):
    """Child process: simulate the devices `ids`, send back their Part (or the error)."""
    try:
        def tick(t):
            clocks[slot] = t
        queue.put((slot, simulate_part(scenario, ids, trace_devices, tick), None))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        queue.put((slot, None, traceback.format_exc()))


def _run_processes(scenario, trace_devices, progress, workers):
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    clocks = ctx.Array("d", workers, lock=False)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_part_in_process, daemon=True,
                         args=(scenario, ids, trace_devices, s, clocks, queue))
             for s, ids in enumerate(shard_ids(scenario, workers))]
    for p in procs:
        p.start()
    parts = [None] * workers
    try:
        for _ in range(workers):
            while True:
                try:
                    slot, part, error = queue.get(timeout=0.5)
                    break
                except Empty:
                    if progress is not None:
                        progress(min(clocks))
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(f"a simulation process died (exit "
                                           f"{dead[0].exitcode})") from None
            if error:
                raise RuntimeError(f"simulation process {slot} failed:\n{error}")
            parts[slot] = part
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    return parts
