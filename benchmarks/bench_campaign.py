"""Benchmark: device-initiated update campaigns of 10^3, 10^4 and 10^5 devices.

Runs the built-in `large-fleet` scenario (device-initiated, NB-IoT CE0, 100 KiB image,
hourly wake-ups, release at 3600 s, horizon 14400 s) at several fleet sizes, 100 devices
per cell, and reports events per second, wall time, peak memory and memory per device.

Each size runs in a fresh subprocess (`--one N --json`), so that its memory is its own.

    python benchmarks/bench_campaign.py                       # 1000,10000,100000
    python benchmarks/bench_campaign.py --sizes 1000,3000 --out /tmp/bench.json

See benchmarks/README.md for what is measured and the targets.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIO = "large-fleet"
DEVICES_PER_CELL = 100
DEFAULT_SIZES = "1000,10000,100000"
DEFAULT_OUT = "results/benchmarks/campaign.json"

# Summary fields copied into each row, besides the measured ones.
SUMMARY_FIELDS = ("fleet_size", "events", "wall_s", "updated_fraction", "ttu_p50_s",
                  "ttu_p95_s", "energy_per_device_j", "strategy", "fidelity", "seed",
                  "workers", "memory_per_device_bytes", "peak_rss_mib", "cell_peak_stretch")


def run_one(n: int, fidelity: str, seed: int, workers: int | None) -> dict:
    """Simulate one fleet size in this process and measure it (no output in here)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from simulation import load_scenario, run

    scenario = load_scenario(SCENARIO, {
        "fleet.size": n,
        "fleet.cells": max(1, n // DEVICES_PER_CELL),
        "sim.fidelity": fidelity,
        "sim.seed": seed,
    })
    # The simulation measures its memory in each process it runs in (one, or one per
    # worker): resident memory before its world is built and at the peak of the run;
    # `memory_per_device_bytes` is the largest increment per device simulated.
    result = run(scenario, workers=workers)

    s = result.summary
    row = {k: s.get(k) for k in SUMMARY_FIELDS}
    row["devices"] = n
    row["cells"] = scenario.fleet.cells
    row["events_per_s"] = s["events"] / s["wall_s"] if s["wall_s"] > 0 else None
    return row


def run_subprocess(n: int, fidelity: str, seed: int, workers: int | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(n), "--json",
           "--fidelity", fidelity, "--seed", str(seed)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench_campaign: size {n} failed (exit {proc.returncode})")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines:
        raise SystemExit(f"bench_campaign: size {n} printed no result")
    row = json.loads(lines[-1])
    row["process_wall_s"] = elapsed
    return row


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def markdown_table(rows: list[dict]) -> str:
    head = ["devices", "processes", "events", "wall s", "events/s", "peak RSS MiB",
            "memory B/device", "updated fraction", "p50 TTU s", "process wall s"]
    out = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in rows:
        cells = [
            f"{r['devices']:,}",
            f"{r['workers']}",
            f"{r['events']:,}",
            _fmt(r["wall_s"], ".2f"),
            _fmt(r["events_per_s"], ",.0f"),
            _fmt(r["peak_rss_mib"], ".1f"),
            _fmt(r["memory_per_device_bytes"], ",.0f"),
            _fmt(r["updated_fraction"], ".4f"),
            _fmt(r["ttu_p50_s"], ".1f"),
            _fmt(r.get("process_wall_s"), ".2f"),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _loadavg() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def machine_info() -> dict:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "loadavg": _loadavg(),
    }


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be integers >= 1: {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                    help=f"comma-separated fleet sizes (default {DEFAULT_SIZES})")
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help=f"JSON results file (default {DEFAULT_OUT}; parent dirs created)")
    ap.add_argument("--fidelity", default="flow", help="sim.fidelity: flow or packet (default flow)")
    ap.add_argument("--seed", type=int, default=1, help="sim.seed (default 1)")
    ap.add_argument("--workers", type=int, default=None,
                    help="processes per run (default: the simulator's choice, one per core "
                         "from 20,000 devices)")
    ap.add_argument("--one", type=int, metavar="N", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one is not None:  # child: one size, one JSON line on stdout
        row = run_one(args.one, args.fidelity, args.seed, args.workers)
        if args.json:
            print(json.dumps(row))
        else:
            print(markdown_table([row]))
        return 0

    info = machine_info()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows = []
    for n in args.sizes:
        print(f"bench_campaign: {n:,} devices ...", file=sys.stderr, flush=True)
        row = run_subprocess(n, args.fidelity, args.seed, args.workers)
        rows.append(row)
        print(f"bench_campaign: {n:,} devices done in {row['process_wall_s']:.1f} s "
              f"(sim {row['wall_s']:.1f} s)", file=sys.stderr, flush=True)

    print(markdown_table(rows))

    info["loadavg_end"] = _loadavg()
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "campaign",
        "scenario": SCENARIO,
        "devices_per_cell": DEVICES_PER_CELL,
        "fidelity": args.fidelity,
        "seed": args.seed,
        "workers": args.workers,
        "started": started,
        "machine": info,
        "rows": rows,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"bench_campaign: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
