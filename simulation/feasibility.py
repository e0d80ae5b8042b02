"""Whether a run can be done on this machine, said before it starts: its memory and wall
time estimated from the scenario, against the memory available.

The estimate is linear in what the engine builds and processes (measured, see the
constants): memory per device, routine wake-ups (a report, its NAT refresh, a keep-alive
ping, no update) per second and core, and the cost of each device's update session, by
strategy, on the secured `deployment`. It is a guide, not a promise: a run without security
is faster; retransmissions, poor coverage, cell contention and a congested manager make
one slower. A run that would not fit in memory is refused in one
line; a run estimated to take hours says so first (`iotsu-sim run`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from simulation.errors import ScenarioError

#: resident memory per device of a run (bytes), plus per wake-up of that device: the
#: largest `memory_per_device_bytes` measured on the `deployment` at 10^4 devices over 6
#: wake-ups (M: mqtt-coap 7,953 B, device-initiated 4,644 B), rounded up; and the growth
#: from 6 to 72 wake-ups of a device-initiated device while the manager's queue kept a
#: day of history (M: 11,954 B over 3 days, about 110 B a wake-up), which the MQTT
#: strategies still keep (`Strategy.books_behind_s`); the CoAP strategies' queue forgets
#: it, and grows about 5 B a wake-up (M: 1,988 B over 6 h, 2,308 B over 3 days,
#: benchmarks/campaign.md): an upper bound for them
BYTES_PER_DEVICE = 8_000
BYTES_PER_WAKEUP = 110
#: routine wake-ups (no update session) simulated per second on one core, and the wall time
#: of one device's update session on one core (s), by strategy (M: the `deployment`, 2,000
#: devices in 100 cells, 6 h of hourly wake-ups, with the release at 1 h and with none:
#: the second run's wake-ups over its wall time; the difference of the wall times over the
#: devices updated; manager-polling updates too few devices to say, and takes the most
#: expensive session); a strategy not listed takes the slowest of each. A session's cost
#: is for the deployment's 100 blocks of 1,024 B and scales with the number of CoAP blocks
#: (but mqtt-http's, an HTTP download)
WAKEUPS_PER_CORE_S = {"device-polling": 2_800.0, "manager-polling": 3_100.0,
                      "device-initiated": 2_300.0, "manager-initiated": 3_300.0,
                      "discovery": 2_300.0, "delegated": 5_200.0, "mqtt-http": 1_300.0,
                      "mqtt-coap": 1_200.0}
SESSION_S = {"device-polling": 0.0019, "manager-polling": 0.0037,
             "device-initiated": 0.0014, "manager-initiated": 0.0016, "discovery": 0.0020,
             "delegated": 0.0007, "mqtt-http": 0.0022, "mqtt-coap": 0.0037}
#: the blocks of the deployment's update (100 KiB in 1,024 B blocks), for which SESSION_S
#: was measured, and the strategies whose devices download the image over HTTP
DEPLOYMENT_BLOCKS = 100
HTTP_DOWNLOADS = ("mqtt-http",)
#: packet fidelity makes every message an event: its cost over flow fidelity's, for routine
#: wake-ups and for update sessions (M: the deployment, 400 devices, 20 per cell, 6 h:
#: 1.78 s against 0.80 s without the release; with it, the sessions' 14.96 s against
#: 0.23 s). A congested manager makes flow fidelity's sessions go message by message too
#: (A: at packet fidelity's cost)
PACKET_WAKEUP_FACTOR = 2.2
PACKET_SESSION_FACTOR = 65.0
#: an estimate of more than this is printed before the run starts (s)
LONG_S = 3600.0


@dataclass(frozen=True)
class Estimate:
    devices: int
    wakeups: float            # routine wake-ups over the horizon, every device
    memory_bytes: float       # resident memory the run will add
    wall_s: float             # on one core

    @property
    def text(self) -> str:
        return (f"about {_bytes(self.memory_bytes)} of memory and {_duration(self.wall_s)} "
                f"on one core ({self.devices:,} devices, {self.wakeups:,.0f} wake-ups)")


def estimate(scenario) -> Estimate:
    """The memory and one-core wall time of simulating `scenario` (see the module
    docstring); in packet fidelity, or where the manager is congested (`manager_load`),
    update sessions cost `PACKET_SESSION_FACTOR` times more."""
    n = scenario.fleet.size
    wakeups = n * scenario.sim.horizon_s / scenario.device.wake_interval_s
    updating = n if scenario.update.release_s < scenario.sim.horizon_s else 0
    name = scenario.strategy.name
    rate = WAKEUPS_PER_CORE_S.get(name, min(WAKEUPS_PER_CORE_S.values()))
    session = SESSION_S.get(name, max(SESSION_S.values()))
    if name not in HTTP_DOWNLOADS:
        session *= blocks(scenario) / DEPLOYMENT_BLOCKS
    packet = scenario.sim.fidelity == "packet"
    if packet or manager_load(scenario) > 1.0:
        session *= PACKET_SESSION_FACTOR        # message by message
    if packet:
        rate /= PACKET_WAKEUP_FACTOR
    wall = wakeups / rate + updating * session
    return Estimate(n, wakeups, n * BYTES_PER_DEVICE + wakeups * BYTES_PER_WAKEUP, wall)


def manager_load(scenario) -> float:
    """The manager's utilisation while the fleet downloads, roughly: every device fetches
    the image, a request per CoAP block, within one wake interval of the release (A), each
    request `manager.service_s`, spread over its `manager.servers`. Above 1 the flow
    engine goes message by message."""
    rate = scenario.fleet.size * blocks(scenario) / scenario.device.wake_interval_s
    return rate * scenario.manager.service_s / scenario.manager.servers


def blocks(scenario) -> int:
    """CoAP blocks of the update."""
    return math.ceil(scenario.update.image_bytes * scenario.update.delta_ratio
                     / scenario.coap.block_bytes)


def available_memory_bytes() -> float:
    """Memory this machine can give a new run (bytes): /proc/meminfo's MemAvailable, else
    the physical memory; NaN where neither is known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return math.nan


def check_fits(scenario, available: float | None = None, partitions: int = 1,
               where: str = "this machine's memory") -> Estimate:
    """The run's estimate; ScenarioError (one line) if one of its `partitions` (the
    fleet's cells split evenly) needs more memory than is available (`available` bytes;
    default: this machine's), `where` saying whose memory that is."""
    est = estimate(scenario)
    free = available_memory_bytes() if available is None else available
    need = est.memory_bytes / max(1, partitions)
    if math.isfinite(free) and need > free:
        split = (f"split over {partitions:,} partitions, one needs" if partitions > 1
                 else "it needs")
        raise ScenarioError(
            f"fleet.size = {scenario.fleet.size:,} does not fit in {where}: {split} "
            f"{_bytes(need)} ({BYTES_PER_DEVICE:,} B per device and "
            f"{BYTES_PER_WAKEUP} B per wake-up), {_bytes(free)} are available; simulate "
            "fewer devices, or split its cells over a cluster's workers with --dask "
            "ADDRESS (and --workers N partitions)")
    return est


def _bytes(b: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if b >= size:
            return f"{b / size:,.1f} {unit}"
    return f"{b / 1e3:,.0f} kB"


def _duration(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:,.1f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"
