"""Tables and summary of a run, built once at the end from the fleet's arrays.

A run may be split into parts (the devices of disjoint sets of cells, simulated in
separate processes); each part is reduced to a `Part`, and `assemble` builds the run's
tables from the parts, so that the result does not depend on how the run was split.
"""
from __future__ import annotations

import math
import resource
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulation import __version__
from simulation.scenario import Scenario
from simulation.strategies import strategy_class
from simulation.trace import format_lines
from simulation.validity import validity_warnings
from simulation.world.radio import PARTS
from simulation.world.topology import GATEWAY


@dataclass
class RunResult:
    """What a run produced: tables, summary and what it was asked."""

    scenario: Scenario
    devices: pd.DataFrame
    manager: pd.DataFrame
    summary: dict
    trace: str | None = None


@dataclass
class Part:
    """What one world (all devices, or some cells' devices) contributes to a run."""

    devices: pd.DataFrame
    bin_s: float
    wait_max_s: float     # the longest wait in the manager's queue
    queued: np.ndarray    # messages booked in the manager's queue, per bin
    msgs_in: np.ndarray
    msgs_out: np.ndarray
    bytes_out: np.ndarray
    counts: dict          # failures by reason, polls, NAT drops, events
    peak_stretch: float
    trace: list           # (t, device id, order, text)
    rss_start_kib: float  # process memory before the world was built
    rss_peak_kib: float   # peak process memory at the end of the simulation
    aborted_at_s: float | None = None   # when the manager stopped the rollout


def part_of(world, rss_start_kib: float = math.nan) -> Part:
    """Reduce a finished world to its Part (`rss_start_kib`: memory before building it)."""
    rss_peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    f, sc = world.fleet, world.scenario
    energy = world.radios.close(world.horizon_s)      # J, per device and part
    t_upd = f.t_updated_s.copy()
    updated = ~np.isnan(t_upd) & (t_upd <= world.horizon_s)
    t_upd[~updated] = np.nan
    download = np.where(updated, f.t_download_end_s - f.t_download_start_s, np.nan)

    def within(t: np.ndarray) -> np.ndarray:
        """Times before the horizon; NaN for the others."""
        return np.where(t < world.horizon_s, t, np.nan)

    started = within(f.t_download_start_s)
    failed = np.where(f.t_install_failed_s <= world.horizon_s, f.t_install_failed_s, np.nan)
    devices = pd.DataFrame({
        "device_id": f.ids,
        "cell": f.cell.astype(np.int64),
        # the device's coverage class: its link preset (`fleet.coverage_mix`)
        "coverage": pd.Categorical.from_codes(f.coverage.astype(np.int64),
                                              [c.name for c in world.topology.classes]),
        "updated": updated,
        "t_first_contact_s": f.t_first_contact_s,
        "t_updated_s": t_upd,
        "time_to_update_s": t_upd - sc.update.release_s,
        # the rollout (`world/rollout.py`): the device's wave (1 = the first) and when the
        # manager released the update to it (notified; NaN if not within the horizon)
        "rollout_wave": world.rollout.wave + 1,
        "t_released_s": within(world.rollout.released_s),
        # when the manager first gave it the go-ahead (`Manager.offers`)
        "t_offered_s": within(world.manager.offered_s),
        # the release reached it: its download started (a bad release's blast radius)
        "exposed": ~np.isnan(started),
        "t_download_start_s": started,
        "t_download_end_s": within(f.t_download_end_s),
        # its install failed and it rolled back (`update.failure_rate`), within the horizon
        # as `updated` counts
        "install_failed": ~np.isnan(failed),
        "t_install_failed_s": failed,
        "download_s": download,
        "energy_j": energy.sum(axis=1),
        # the same energy split by radio state (`world/radio.py` PARTS)
        **{f"energy_{part}_j": energy[:, k] for k, part in enumerate(PARTS)},
        "bytes_up": f.bytes_up, "bytes_down": f.bytes_down,
        # the same bytes split four ways (`exchange.Outcome`); headers are the rest
        "payload_bytes": f.payload_bytes,
        "header_bytes": (f.bytes_up + f.bytes_down - f.payload_bytes - f.security_bytes
                         - f.wasted_bytes),
        "security_bytes": f.security_bytes, "wasted_bytes": f.wasted_bytes,
        "msgs_up": f.msgs_up, "msgs_down": f.msgs_down,
        "retransmissions": f.retransmissions, "failed_attempts": f.failed_attempts,
        "wakeups": f.wakeups, "blocks_held": f.blocks_done,
        "seed": np.full(f.n, sc.sim.seed, dtype=np.int64),
    })
    load = world.manager.load
    counts = {f"failed_{k}": v for k, v in world.failures.items()}
    counts.update(polls_sent=world.polls_sent, polls_answered=world.polls_answered,
                  nat_drops=int(world.nat.dropped), events=world.events,
                  dtls_handshakes=world.security.handshakes,
                  tls_handshakes=world.tls_sessions.full,
                  tls_resumptions=world.tls_sessions.resumed,
                  blocks_discarded=world.blocks_discarded, **world.strategy.counts())
    queues = world.manager.queues
    counts.update(manager_queue_served=sum(q.served for q in queues),
                  manager_queue_late=sum(q.late for q in queues),
                  manager_queue_wait_s=sum(q.wait_total_s for q in queues))
    return Part(devices, load.bin_s, max(q.wait_max_s for q in queues), load.queued,
                load.msgs_in, load.msgs_out, load.bytes_out, counts,
                max((c.peak_stretch for c in world.cells), default=1.0),
                world.tracer.lines, rss_start_kib, rss_peak, world.manager.aborted_at_s)


def fleet_quantile(ttu: np.ndarray, q: float) -> float | None:
    """Quantile of time to update over the whole fleet, a device not updated counting as
    never: None when fewer than a fraction q of the fleet updated."""
    done = np.sort(ttu[~np.isnan(ttu)])
    need = math.ceil(q * len(ttu))
    if need == 0 or len(done) < need:
        return None
    return float(done[need - 1])


def peak_concurrent_downloads(devices: pd.DataFrame, horizon_s: float) -> int:
    """The most devices of one cell downloading at once: each from its download's start
    to its end (the horizon if it has none), a device asleep mid-download included (it
    holds its place, as a per-cell cap counts it). A download that ends when another
    starts does not overlap it."""
    start = devices["t_download_start_s"].to_numpy()
    has = ~np.isnan(start)
    if not has.any():
        return 0
    end = np.nan_to_num(devices["t_download_end_s"].to_numpy(), nan=horizon_s)[has]
    cell = devices["cell"].to_numpy()[has]
    # +1 at each start, -1 at each end, by cell then time (at equal times the end first);
    # each cell's changes add up to 0, so one running sum serves every cell
    n = int(has.sum())
    times = np.concatenate((start[has], end))
    delta = np.concatenate((np.ones(n, dtype=np.int64), -np.ones(n, dtype=np.int64)))
    cells = np.concatenate((cell, cell))
    order = np.lexsort((delta, times, cells))
    return int(np.cumsum(delta[order]).max())


def manager_table(parts: list[Part]) -> pd.DataFrame:
    """Manager load over time (bins of `bin_s` seconds, 1 s unless the horizon is long)."""
    bin_s = parts[0].bin_s
    msgs_in = sum(p.msgs_in for p in parts)
    msgs_out = sum(p.msgs_out for p in parts)
    return pd.DataFrame({
        "t_s": np.arange(len(msgs_in)) * bin_s,
        "msgs_in": msgs_in, "msgs_out": msgs_out,
        "bytes_out": sum(p.bytes_out for p in parts),
        "rps_in": msgs_in / bin_s, "rps_out": msgs_out / bin_s,
    })


def summary(scenario, devices: pd.DataFrame, manager: pd.DataFrame, counts: dict,
            peak_stretch: float, wall_s: float, parts: list[Part]) -> dict:
    ttu = devices["time_to_update_s"].to_numpy()
    bin_s = float(manager["t_s"].iloc[1] - manager["t_s"].iloc[0]) if len(manager) > 1 else 1.0
    peak_queued = float(sum(p.queued for p in parts).max())
    peak_all = float((manager["msgs_in"] + manager["msgs_out"]).max()) if len(manager) else 0.0
    out = {
        "strategy": scenario.strategy.name,
        "fleet_size": scenario.fleet.size,
        "seed": scenario.sim.seed,
        "fidelity": scenario.sim.fidelity,
        "horizon_s": scenario.sim.horizon_s,
        "updated_fraction": float(devices["updated"].mean()),
        "ttu_p50_s": fleet_quantile(ttu, 0.50),
        "ttu_p95_s": fleet_quantile(ttu, 0.95),
        "ttu_p99_s": fleet_quantile(ttu, 0.99),
        "ttu_mean_s": float(np.nanmean(ttu)) if (~np.isnan(ttu)).any() else None,
        "download_mean_s": (float(devices["download_s"].mean())
                            if devices["download_s"].notna().any() else None),
        # the rollout: devices the release reached, installs that failed, and when the
        # manager stopped it (a run with an abort threshold is one process)
        "exposed_devices": int(devices["exposed"].sum()),
        "failed_installs": int(devices["install_failed"].sum()),
        "aborted_at_s": min((p.aborted_at_s for p in parts if p.aborted_at_s is not None),
                            default=None),
        "cell_peak_concurrent_downloads": peak_concurrent_downloads(
            devices, scenario.sim.horizon_s),
        "energy_per_device_j": float(devices["energy_j"].mean()),
        **{f"energy_{part}_per_device_j": float(devices[f"energy_{part}_j"].mean())
           for part in PARTS},
        "bytes_up_per_device": float(devices["bytes_up"].mean()),
        "bytes_down_per_device": float(devices["bytes_down"].mean()),
        "bytes_per_device": float((devices["bytes_up"] + devices["bytes_down"]).mean()),
        **{f"{part}_bytes_per_device": float(devices[f"{part}_bytes"].mean())
           for part in ("payload", "header", "security", "wasted")},
        "retransmissions": int(devices["retransmissions"].sum()),
        "failed_attempts": int(devices["failed_attempts"].sum()),
        "failed_nat": counts["failed_nat"],
        "failed_unreachable": counts["failed_unreachable"],
        "failed_timeout": counts["failed_timeout"],
        "failed_dtls": counts["failed_dtls"],
        "nat_drops": counts["nat_drops"],
        "manager_msgs_in": float(manager["msgs_in"].sum()),
        "manager_msgs_out": float(manager["msgs_out"].sum()),
        "manager_bytes_out": float(manager["bytes_out"].sum()),
        # messages the manager handles (receives and sends) per second, at the peak
        "manager_peak_rps": peak_all / bin_s,
        # the queues' offered load in their busiest bin: messages booked x service / bin,
        # over the servers (their mean: the cells split evenly between them)
        "manager_utilization_peak": peak_queued * scenario.manager.service_s / bin_s
        / scenario.manager.servers,
        # the manager's FIFO queue: mean and largest wait of the messages it served, and
        # those booked too late to know their wait (`world/manager.py` FifoQueue)
        "manager_wait_mean_s": counts["manager_queue_wait_s"]
        / max(1, counts["manager_queue_served"]),
        "manager_wait_max_s": max(p.wait_max_s for p in parts),
        "manager_queue_late": counts["manager_queue_late"],
        "cell_peak_stretch": peak_stretch,
        "dtls_handshakes": counts["dtls_handshakes"],
        "tls_handshakes": counts["tls_handshakes"],
        "tls_resumptions": counts["tls_resumptions"],
        "blocks_discarded": counts["blocks_discarded"],
        "tcp_connections": counts["tcp_connections"],
        "keepalive_pings": counts["keepalive_pings"],
        "command_copies_lost": counts["command_copies_lost"],
        "polls_sent": counts["polls_sent"],
        "polls_answered": counts["polls_answered"],
        "events": counts["events"],
        "wall_s": wall_s,
        "workers": len(parts),
        # memory the simulation added per device simulated, in its largest process
        "memory_per_device_bytes": max(
            (p.rss_peak_kib - p.rss_start_kib) * 1024 / max(1, len(p.devices))
            for p in parts),
        "peak_rss_mib": max(p.rss_peak_kib for p in parts) / 1024,
        "version": __version__,
    }
    topology = strategy_class(scenario.strategy.name).topology(scenario)
    out["validity_warnings"] = validity_warnings(out, gateway=topology.peer == GATEWAY)
    return out


def assemble(scenario, parts: list[Part], wall_s: float, traced: bool = False):
    """The run's result from its parts (one per process)."""
    devices = (pd.concat([p.devices for p in parts], ignore_index=True)
               .sort_values("device_id", kind="stable").reset_index(drop=True))
    manager = manager_table(parts)
    counts = {k: sum(p.counts[k] for p in parts) for k in parts[0].counts}
    peak = max(p.peak_stretch for p in parts)
    trace = format_lines([line for p in parts for line in p.trace]) if traced else None
    return RunResult(scenario, devices, manager,
                     summary(scenario, devices, manager, counts, peak, wall_s, parts),
                     trace)
