"""The study's questions that involve load, checked against packet fidelity at their
largest point that packet fidelity can run here, and the manager-load example of the
README. Writes `study_load_check.md`; keeps every run's summary in
`study_load_check.jsonl` (an interrupted run carries on).

    python benchmarks/study_load_check.py [--workers 2]

- (a) `fleet-size`, at flow fidelity in the study: every strategy at 1,000 devices (the
  default tier's middle point; its largest, 10^4, would take about an hour per strategy
  at packet fidelity on this machine), seed 1, in both fidelities.
- (h) `cell-contention`, at packet fidelity in the study: both strategies at its largest
  point, 40 devices in one cell, seeds 1-3, in both fidelities.
- the manager-load example: mqtt-coap, 1,000 devices, `manager.service_s` = 0.005 s,
  seed 1, in both fidelities.
- the benchmark campaign (`large-fleet`, 100 devices per cell) at 1,000 devices, seed 1,
  in both fidelities.
- a saturated cell: the baseline, 100 devices in 2 cells whose capacity is one device's
  rate (`link.cell_downlink_bps` = 21,250, the assumption before cells had a capacity of
  their own), seeds 1-3, in both fidelities.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from fidelity_agreement import Store, run_jobs  # noqa: E402

ROOT = HERE.parent
FIELDS = (("updated", "updated_fraction", "{:.2f}"), ("p50 s", "ttu_p50_s", "{:,.0f}"),
          ("p95 s", "ttu_p95_s", "{:,.0f}"), ("J/device", "energy_per_device_j", "{:.1f}"),
          ("bytes/device", "bytes_per_device", "{:,.0f}"),
          ("retransmissions", "retransmissions", "{:,.0f}"),
          ("utilisation", "manager_utilization_peak", "{:.2f}"),
          ("mean wait ms", "manager_wait_mean_s", "{:.3g}"),
          ("stretch", "cell_peak_stretch", "{:.2f}"), ("download s", "download_mean_s", "{:,.0f}"),
          ("wall s", "wall_s", "{:.1f}"))


def experiment_sets(name: str) -> dict:
    exp = tomllib.loads((ROOT / "experiments" / f"{name}.toml").read_text())["experiment"]
    return dict(exp.get("set", {}))


def groups() -> dict[str, list[tuple[str, dict]]]:
    """Per check, its runs: (key, overrides of the baseline)."""
    out = {"(a) fleet-size, 1,000 devices": [], "(h) cell-contention, 40 devices in one cell":
           [], "manager-load example": [],
           "large-fleet (the benchmark), 1,000 devices": [],
           "saturated cells: 50 devices per cell of one device's rate": []}
    a = experiment_sets("fleet-size")
    for strategy in ("device-polling", "manager-polling", "device-initiated",
                     "manager-initiated", "discovery", "delegated", "mqtt-http", "mqtt-coap"):
        for fid in ("flow", "packet"):
            out["(a) fleet-size, 1,000 devices"].append(
                (f"a|{strategy}|{fid}|1", {**a, "strategy.name": strategy, "fleet.size": 1000,
                                           "sim.fidelity": fid, "sim.seed": 1}))
    h = experiment_sets("cell-contention")
    for strategy in ("device-polling", "device-initiated"):
        for fid in ("flow", "packet"):
            for seed in (1, 2, 3):
                out["(h) cell-contention, 40 devices in one cell"].append(
                    (f"h|{strategy}|{fid}|{seed}", {**h, "strategy.name": strategy,
                                                    "fleet.cells": 1, "sim.fidelity": fid,
                                                    "sim.seed": seed}))
    for fid in ("flow", "packet"):
        out["manager-load example"].append(
            (f"m|mqtt-coap|{fid}|1", {"strategy.name": "mqtt-coap", "fleet.size": 1000,
                                      "manager.service_s": 0.005, "sim.fidelity": fid,
                                      "sim.seed": 1}))
        out["large-fleet (the benchmark), 1,000 devices"].append(
            (f"b|device-initiated|{fid}|1", {"scenario": "large-fleet", "fleet.size": 1000,
                                             "fleet.cells": 10, "sim.fidelity": fid,
                                             "sim.seed": 1}))
        for seed in (1, 2, 3):
            out["saturated cells: 50 devices per cell of one device's rate"].append(
                (f"s|device-initiated|{fid}|{seed}", {"fleet.size": 100, "fleet.cells": 2,
                                                      "link.cell_downlink_bps": 21250.0,
                                                      "sim.fidelity": fid, "sim.seed": seed}))
    return out


def table(store: Store) -> str:
    parts = []
    for title, runs in groups().items():
        rows = {}
        for key, _ in runs:
            if key not in store.done:
                continue
            kind, strategy, fid, _seed = key.split("|")
            rows.setdefault((strategy, fid), []).append(store.done[key])
        lines = [f"## {title}\n", "| strategy | fidelity | runs | "
                 + " | ".join(f[0] for f in FIELDS) + " | warnings |",
                 "|" + " --- |" * (len(FIELDS) + 4)]
        for (strategy, fid), got in rows.items():
            cells = []
            for _, field, fmt in FIELDS:
                vals = [np.nan if r[field] is None else r[field] for r in got]
                v = float(np.mean(vals)) * (1e3 if field == "manager_wait_mean_s" else 1)
                cells.append("n/a" if np.isnan(v) else fmt.format(v))
            warned = sum(bool(r["validity_warnings"]) for r in got)
            lines.append(f"| {strategy} | {fid} | {len(got)} | " + " | ".join(cells)
                         + f" | {warned} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    store = Store(HERE / "study_load_check.jsonl")
    jobs = [(key, {"fleet.size": 100, **sets}) for runs in groups().values()
            for key, sets in runs]
    jobs.sort(key=lambda j: (j[1].get("sim.fidelity") != "packet",
                             -j[1].get("fleet.size", 0), j[0]))
    run_jobs(jobs, store, args.workers)
    text = ("# The study's load questions against packet fidelity\n\n"
            "`python benchmarks/study_load_check.py` (see its docstring). Means over the "
            "runs; p50 and p95 are the fleet's times to update after the release.\n\n"
            + table(store))
    (HERE / "study_load_check.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
