"""The baseline of every strategy, measured: time to update, energy, bytes and
retransmissions per device, at 200 devices (the `baseline` scenario otherwise).

    python benchmarks/baseline_table.py                      # about 1 minute
    python benchmarks/baseline_table.py --devices 1000 --out /tmp/baseline.md

Each strategy runs at flow fidelity (the default) with seeds 1-3; the table gives the
means over seeds, and the spread of p50 across seeds. With `--repo PATH` it runs the
package found at PATH instead (to measure another commit from its worktree).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

STRATEGIES = ("manager-polling", "device-polling", "device-initiated", "manager-initiated",
              "delegated", "mqtt-http", "mqtt-coap", "discovery")
COLUMNS = ("updated_fraction", "ttu_p50_s", "ttu_p95_s", "energy_per_device_j",
           "bytes_per_device", "wasted_bytes_per_device", "retransmissions")


def measure(strategy: str, devices: int, seeds, sets: dict) -> dict:
    from simulation import load_scenario, run
    rows = []
    for seed in seeds:
        sc = load_scenario("baseline", {"strategy.name": strategy, "fleet.size": devices,
                                        **sets}, seed=seed)
        rows.append(run(sc).summary)
    out = {}
    for c in COLUMNS:
        vals = [r[c] for r in rows if r[c] is not None]
        out[c] = statistics.fmean(vals) if vals else None
    p50 = [r["ttu_p50_s"] for r in rows if r["ttu_p50_s"] is not None]
    out["p50_spread"] = (max(p50) - min(p50)) if len(p50) > 1 else None
    out["retransmissions"] = out["retransmissions"] / devices
    return out


def fmt(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--repo", default=str(Path(__file__).resolve().parent.parent))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, args.repo)
    sets = dict(s.split("=", 1) for s in args.set)
    lines = [f"Baseline, {args.devices} devices, seeds 1-{args.seeds} (means; p50 spread = "
             "max - min over seeds)" + (f", {', '.join(args.set)}" if args.set else ""), "",
             "| strategy | updated | p50 s | p50 spread s | p95 s | energy J/device | "
             "bytes/device | wasted bytes/device | retransmissions/device |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in STRATEGIES:
        m = measure(s, args.devices, range(1, args.seeds + 1), sets)
        lines.append(f"| {s} | {fmt(m['updated_fraction'], 3)} | {fmt(m['ttu_p50_s'])} | "
                     f"{fmt(m['p50_spread'])} | {fmt(m['ttu_p95_s'])} | "
                     f"{fmt(m['energy_per_device_j'], 1)} | {fmt(m['bytes_per_device'])} | "
                     f"{fmt(m['wasted_bytes_per_device'])} | "
                     f"{fmt(m['retransmissions'], 1)} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
