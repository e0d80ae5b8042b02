"""Tables and summary of a run, built once at the end from the fleet's arrays."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulation import __version__

DEVICE_COLUMNS = ("device_id", "cell", "updated", "t_first_contact_s", "t_updated_s",
                  "time_to_update_s", "download_s", "energy_j", "bytes_up", "bytes_down",
                  "msgs_up", "msgs_down", "retransmissions", "failed_attempts")


def devices_table(world, energy_j: np.ndarray) -> pd.DataFrame:
    """One row per device (interface.md), plus wake-ups, blocks held and the seed."""
    f, sc = world.fleet, world.scenario
    t_upd = f.t_updated_s.copy()
    updated = ~np.isnan(t_upd) & (t_upd <= world.horizon_s)
    t_upd[~updated] = np.nan
    download = np.where(updated, f.t_download_end_s - f.t_download_start_s, np.nan)
    return pd.DataFrame({
        "device_id": np.arange(f.n, dtype=np.int64),
        "cell": f.cell.astype(np.int64),
        "updated": updated,
        "t_first_contact_s": f.t_first_contact_s,
        "t_updated_s": t_upd,
        "time_to_update_s": t_upd - sc.update.release_s,
        "download_s": download,
        "energy_j": energy_j,
        "bytes_up": f.bytes_up, "bytes_down": f.bytes_down,
        "msgs_up": f.msgs_up, "msgs_down": f.msgs_down,
        "retransmissions": f.retransmissions, "failed_attempts": f.failed_attempts,
        "wakeups": f.wakeups, "blocks_held": f.blocks_done,
        "seed": np.full(f.n, sc.sim.seed, dtype=np.int64),
    })


def fleet_quantile(ttu: np.ndarray, q: float) -> float | None:
    """Quantile of time to update over the whole fleet, a device not updated counting as
    never: None when fewer than a fraction q of the fleet updated."""
    done = np.sort(ttu[~np.isnan(ttu)])
    need = math.ceil(q * len(ttu))
    if need == 0 or len(done) < need:
        return None
    return float(done[need - 1])


def summary(world, devices: pd.DataFrame, manager: pd.DataFrame, wall_s: float) -> dict:
    sc = world.scenario
    ttu = devices["time_to_update_s"].to_numpy()
    bin_s = world.manager.load.bin_s
    return {
        "strategy": sc.strategy.name,
        "fleet_size": sc.fleet.size,
        "seed": sc.sim.seed,
        "fidelity": sc.sim.fidelity,
        "horizon_s": sc.sim.horizon_s,
        "updated_fraction": float(devices["updated"].mean()),
        "ttu_p50_s": fleet_quantile(ttu, 0.50),
        "ttu_p95_s": fleet_quantile(ttu, 0.95),
        "ttu_p99_s": fleet_quantile(ttu, 0.99),
        "ttu_mean_s": float(np.nanmean(ttu)) if (~np.isnan(ttu)).any() else None,
        "download_mean_s": (float(devices["download_s"].mean())
                            if devices["download_s"].notna().any() else None),
        "energy_per_device_j": float(devices["energy_j"].mean()),
        "bytes_up_per_device": float(devices["bytes_up"].mean()),
        "bytes_down_per_device": float(devices["bytes_down"].mean()),
        "retransmissions": int(devices["retransmissions"].sum()),
        "failed_attempts": int(devices["failed_attempts"].sum()),
        "failed_nat": world.failures["nat"],
        "failed_unreachable": world.failures["unreachable"],
        "failed_timeout": world.failures["timeout"],
        "nat_drops": int(world.nat.dropped),
        "manager_msgs_in": float(manager["msgs_in"].sum()),
        "manager_msgs_out": float(manager["msgs_out"].sum()),
        "manager_bytes_out": float(manager["bytes_out"].sum()),
        "manager_peak_rps": float(manager["msgs_in"].max() / bin_s) if len(manager) else 0.0,
        "manager_utilization_peak": float(manager["msgs_in"].max() * sc.manager.service_s
                                          / bin_s) if len(manager) else 0.0,
        "cell_peak_stretch": float(max(c.peak_stretch for c in world.cells)),
        "polls_sent": world.polls_sent,
        "polls_answered": world.polls_answered,
        "events": world.events,
        "wall_s": wall_s,
        "version": __version__,
    }


def build_result(world, wall_s: float):
    from simulation.engine import RunResult

    energy = world.radios.close(world.horizon_s)
    devices = devices_table(world, energy)
    manager = world.manager.table()
    trace = world.tracer.text() if world.tracer.devices else None
    return RunResult(world.scenario, devices, manager,
                     summary(world, devices, manager, wall_s), trace)
