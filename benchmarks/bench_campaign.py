"""Benchmark: 3-day update campaigns, against a bare SimPy loop and a numpy draw.

For each fleet size (10^4, 10^5 and 10^6 devices by default) it runs the built-in
`large-fleet` scenario set to the reference campaign: NB-IoT CE0, 20 devices per cell
(below saturation), hourly wake-ups, a 100 KiB release at 1 h, 3 days; device-initiated
unless `--strategy`. Each size runs in a fresh subprocess (`--one N --json`), so that its
memory is its own, and reports: wall time, wake-ups per second, peak memory per device,
and two ratios measured in the same process on the same machine, right after the run:
to a bare SimPy loop (one process per device, one timeout per wake-up) and to a numpy
draw of the wake-up times. A size whose estimate (`simulation.feasibility`) exceeds
`--max-hours` is not run: its row gives the estimate instead.

    python benchmarks/bench_campaign.py                            # 10^4, 10^5, 10^6
    python benchmarks/bench_campaign.py --sizes 10000 --out /tmp/bench.json

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
DEVICES_PER_CELL = 20
HORIZON_S = 3 * 86400.0
RELEASE_S = 3600.0
WAKE_S = 3600.0
DEFAULT_SIZES = "10000,100000,1000000"
DEFAULT_OUT = "results/benchmarks/campaign.json"
#: the bare loops run at most this many events (wake-ups, draws): enough for a stable rate
BARE_EVENTS = 2_000_000

SUMMARY_FIELDS = ("fleet_size", "events", "wall_s", "updated_fraction", "ttu_p50_s",
                  "ttu_p95_s", "energy_per_device_j", "strategy", "fidelity", "seed",
                  "workers", "memory_per_device_bytes", "peak_rss_mib", "cell_peak_stretch")


def campaign(n: int, strategy: str, seed: int, servers: int = 1):
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from simulation import load_scenario

    return load_scenario(SCENARIO, {
        "fleet.size": n, "fleet.cells": max(1, n // DEVICES_PER_CELL),
        "sim.horizon_s": HORIZON_S, "update.release_s": RELEASE_S,
        "device.wake_interval_s": WAKE_S, "strategy.name": strategy, "sim.seed": seed,
        "manager.servers": servers})


def bare_simpy_rate(n: int) -> float:
    """Events per second of n SimPy processes, each a loop of one timeout per wake-up."""
    import simpy

    env = simpy.Environment()

    def device(phase):
        yield env.timeout(phase)
        while True:
            yield env.timeout(WAKE_S)

    wakes = max(1, BARE_EVENTS // n)
    t0 = time.perf_counter()
    for i in range(n):
        env.process(device(WAKE_S * i / n))
    env.run(until=WAKE_S * wakes)
    return n * wakes / (time.perf_counter() - t0)


def numpy_draw_rate(n: int) -> float:
    """Wake-up times drawn per second by numpy: a phase per device plus whole intervals."""
    import numpy as np

    rng = np.random.default_rng(1)
    wakes = max(1, BARE_EVENTS // n)
    t0 = time.perf_counter()
    phase = rng.random(n) * WAKE_S
    times = phase[:, None] + WAKE_S * np.arange(wakes)[None, :]
    times.sum()                                        # touch every value
    return n * wakes / (time.perf_counter() - t0)


def run_one(n: int, strategy: str, seed: int, servers: int = 1,
            workers: int | None = None) -> dict:
    """Simulate one fleet size in this process (and `workers` child processes, as far as
    the run splits) and measure it, then the bare loops."""
    from simulation import run

    scenario = campaign(n, strategy, seed, servers)
    result = run(scenario, workers=workers)
    s = result.summary
    row = {k: s.get(k) for k in SUMMARY_FIELDS}
    wakeups = n * HORIZON_S / WAKE_S
    row.update(devices=n, cells=scenario.fleet.cells, wakeups=wakeups,
               wakeups_per_s=wakeups / s["wall_s"])
    row["simpy_events_per_s"] = bare_simpy_rate(n)
    row["numpy_draws_per_s"] = numpy_draw_rate(n)
    row["ratio_to_simpy"] = row["wakeups_per_s"] / row["simpy_events_per_s"]
    row["ratio_to_numpy"] = row["wakeups_per_s"] / row["numpy_draws_per_s"]
    return row


def estimated(n: int, strategy: str, seed: int, servers: int = 1) -> dict:
    from simulation.feasibility import estimate

    est = estimate(campaign(n, strategy, seed, servers))
    return {"devices": n, "strategy": strategy, "skipped": True,
            "estimated_wall_s": est.wall_s, "estimated_memory_bytes": est.memory_bytes,
            "estimate": est.text}


def run_subprocess(n: int, strategy: str, seed: int, servers: int = 1,
                   workers: int | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(n), "--json",
           "--strategy", strategy, "--seed", str(seed), "--servers", str(servers)]
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
    head = ["devices", "strategy", "processes", "wake-ups", "wall s", "wake-ups/s",
            "memory B/device",
            "peak RSS MiB", "bare SimPy events/s", "x SimPy", "numpy draws/s", "x numpy",
            "updated fraction"]
    out = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in rows:
        if r.get("skipped"):
            out.append(f"| {r['devices']:,} | {r['strategy']} | | not run: {r['estimate']} |"
                       + " |" * (len(head) - 4))
            continue
        out.append("| " + " | ".join([
            f"{r['devices']:,}", r["strategy"], str(r["workers"]), f"{r['wakeups']:,.0f}",
            _fmt(r["wall_s"], ",.1f"), _fmt(r["wakeups_per_s"], ",.0f"),
            _fmt(r["memory_per_device_bytes"], ",.0f"), _fmt(r["peak_rss_mib"], ",.0f"),
            _fmt(r["simpy_events_per_s"], ",.0f"), _fmt(r["ratio_to_simpy"], ".3f"),
            _fmt(r["numpy_draws_per_s"], ",.0f"), _fmt(r["ratio_to_numpy"], ".5f"),
            _fmt(r["updated_fraction"], ".4f")]) + " |")
    return "\n".join(out)


def _loadavg() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def machine_info() -> dict:
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "loadavg": _loadavg()}


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
    ap.add_argument("--strategy", default="device-initiated", help="strategy.name")
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help=f"JSON results file (default {DEFAULT_OUT}; parent dirs created)")
    ap.add_argument("--seed", type=int, default=1, help="sim.seed (default 1)")
    ap.add_argument("--max-hours", type=float, default=1.0,
                    help="sizes estimated to take longer on one core are not run (default 1)")
    ap.add_argument("--servers", type=int, default=1,
                    help="manager.servers (default 1: one queue, the run is one process)")
    ap.add_argument("--workers", type=int,
                    help="processes, as far as the run splits (parts that divide the "
                         "servers; default: the engine's)")
    ap.add_argument("--one", type=int, metavar="N", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one is not None:  # child: one size, one JSON line on stdout
        row = run_one(args.one, args.strategy, args.seed, args.servers, args.workers)
        print(json.dumps(row) if args.json else markdown_table([row]))
        return 0

    info = machine_info()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows = []
    for n in args.sizes:
        skip = estimated(n, args.strategy, args.seed, args.servers)
        if skip["estimated_wall_s"] > 3600 * args.max_hours:
            print(f"bench_campaign: {n:,} devices not run: {skip['estimate']}",
                  file=sys.stderr, flush=True)
            rows.append(skip)
            continue
        print(f"bench_campaign: {n:,} devices ({skip['estimate']}) ...", file=sys.stderr,
              flush=True)
        row = run_subprocess(n, args.strategy, args.seed, args.servers, args.workers)
        row["estimated_wall_s"] = skip["estimated_wall_s"]
        rows.append(row)
        print(f"bench_campaign: {n:,} devices done in {row['process_wall_s']:.1f} s "
              f"(sim {row['wall_s']:.1f} s)", file=sys.stderr, flush=True)

    print(markdown_table(rows))
    info["loadavg_end"] = _loadavg()
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "campaign", "scenario": SCENARIO, "devices_per_cell": DEVICES_PER_CELL,
           "horizon_s": HORIZON_S, "release_s": RELEASE_S, "wake_interval_s": WAKE_S,
           "strategy": args.strategy, "seed": args.seed, "servers": args.servers,
           "workers": args.workers, "started": started,
           "machine": info, "rows": rows}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"bench_campaign: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
