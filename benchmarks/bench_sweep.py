"""Benchmark: a sweep of 40 small runs with 1 and with 2 local worker processes.

    python benchmarks/bench_sweep.py [--devices 300] [--out results/benchmarks/sweep.json]

Each sweep starts from an empty folder (nothing reused). Reports wall times and the speedup;
the tables of both sweeps are checked to be equal (model columns).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulation.sweeps import MEASURED, sweep  # noqa: E402

EXPERIMENT = """[experiment]
name = "bench-sweep"
scenario = "baseline"
replications = 5
seed = 1
[experiment.set]
"fleet.size" = {devices}
"fleet.cells" = {cells}
"sim.horizon_s" = 14400.0
[experiment.grid]
"strategy.name" = ["device-initiated", "device-polling"]
"nat.udp_timeout_s" = [15, 30, 60, 120]
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=300)
    ap.add_argument("--out", default="results/benchmarks/sweep.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / "bench.toml"
        exp.write_text(EXPERIMENT.format(devices=args.devices,
                                         cells=max(1, args.devices // 20)))
        tables = {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            result = sweep(exp, Path(tmp) / f"w{workers}", workers=workers, progress=False)
            wall = time.perf_counter() - t0
            assert len(result.runs) == 40 and result.failed == 0
            tables[workers] = result.runs.drop(columns=[*MEASURED, "workers"])
            rows.append({"workers": workers, "runs": len(result.runs), "wall_s": wall})
            print(f"bench_sweep: {workers} worker(s): 40 runs in {wall:.1f} s", file=sys.stderr)
        assert tables[1].equals(tables[2]), "tables differ between 1 and 2 workers"
    speedup = rows[0]["wall_s"] / rows[1]["wall_s"]
    print("| workers | runs | wall s |\n|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workers']} | {r['runs']} | {r['wall_s']:.1f} |")
    print(f"\nspeedup with 2 workers: {speedup:.2f}x (target >= 1.7x)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"devices": args.devices, "rows": rows, "speedup": speedup,
                               "cpu_count": os.cpu_count(), "loadavg": os.getloadavg()},
                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
