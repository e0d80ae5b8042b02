"""Flow fidelity against packet fidelity: every strategy, across cell loads and manager
utilisations, with replications. Writes `fidelity_agreement.md` (the table) and keeps
every run's summary in `fidelity_agreement.jsonl`, so that an interrupted run carries on.

    python benchmarks/fidelity_agreement.py [--reps 3] [--workers 2]

The matrix (100 devices, an image released at 1 h, 4 h horizon, connected-mode DRX off;
delegated gateways serve one cell each), in three regimes:

- `storm`: devices wake every 300 s (and device-polling and the gateways poll at every
  wake-up), so the whole fleet asks for a 30 KiB image within 5 min of the release and
  the downloads overlap, as in the study's question (h): cells saturate, and the manager's
  peak second is its load for the whole download phase;
- `hourly`: the baseline's hourly wake-ups (gateways poll every 600 s), the downloads
  spread over the hour;
- `storm-100k`: the storm with the baseline's 100 KiB image, whose downloads overlap for
  longer (the study's image size; only the most loaded cells, 25 and 50 devices).

In `storm` and `hourly`:

- cell load: 1, 10, 25 and 50 devices per cell, at a manager utilisation of 0.1;
- manager utilisation: 0.1, 0.5, 0.9 and 1.5, at 10 devices per cell.

delegated's devices talk to their gateway, each with a queue of its own; the manager sees
only the gateways' polls. It runs the cell loads at the default service time, and has no
utilisation axis.

Utilisation is the summary's `manager_utilization_peak` (the busiest second's arrivals
times the service time). A pilot run per regime, strategy and cell load (flow fidelity, seed 1,
a manager that takes 1 us) measures the busiest second's arrivals; the service time of a
target utilisation u is u divided by them. The utilisation each run then reaches is in
the table (the queue spreads the arrivals, retransmissions add to them).

The tolerances are the README's: p50 and p95 time to update within 10 %, energy and bytes
per device within 5 %, as the relative difference of the means over the replications.
Each difference is given with its standard error (replication spread of both fidelities),
so that a reader sees whether the tolerance is wider than the noise.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from simulation import load_scenario, run  # noqa: E402
from simulation.validation.checks import AGREEMENT, agreement_sets  # noqa: E402

STRATEGIES = ("device-polling", "manager-polling", "device-initiated", "manager-initiated",
              "discovery", "delegated", "mqtt-http", "mqtt-coap")
LOADS = (1, 10, 25, 50)
UTILISATIONS = (0.1, 0.5, 0.9, 1.5)
BASE_LOAD, BASE_UTILISATION = 10, 0.1
FLEET = 100
PILOT_SERVICE_S = 1e-6
#: metric, summary field, tolerance (README "Two fidelities")
METRICS = tuple((name.split()[0], field, tol) for name, field, tol, _unit in AGREEMENT)
KEPT = ("ttu_p50_s", "ttu_p95_s", "energy_per_device_j", "bytes_per_device",
        "updated_fraction", "manager_utilization_peak", "manager_wait_mean_s",
        "cell_peak_stretch", "retransmissions", "wall_s", "events", "validity_warnings",
        "download_mean_s")


class Regime(NamedTuple):
    wake_s: float               # wake interval
    poll_s: float | None        # polling period of device-polling and gateways
    image_bytes: int
    loads: tuple[int, ...]      # devices per cell
    utilisations: tuple[float, ...]   # target manager utilisations at BASE_LOAD


REGIMES = {"storm": Regime(300.0, 300.0, 30720, LOADS, UTILISATIONS),
           "hourly": Regime(3600.0, None, 30720, LOADS, UTILISATIONS),
           "storm-100k": Regime(300.0, 300.0, 102400, (25, 50), ())}


def sets_of(strategy: str, per_cell: int, service_s: float, fidelity: str, seed: int,
            regime: str = "storm"):
    """The overrides of one run (`validation.checks.agreement_sets`) in `regime`."""
    wake, poll, image, _, _ = REGIMES[regime]
    return agreement_sets(strategy, per_cell, service_s, fidelity, seed, wake_s=wake,
                          poll_s=poll, image_bytes=image, fleet=FLEET)


def simulate(job):
    """(key, overrides): the run's kept summary fields. The overrides apply to the
    `baseline` scenario, or to the one named by a "scenario" entry."""
    key, sets = job
    sets = dict(sets)
    name = sets.pop("scenario", "baseline")
    s = run(load_scenario(name, sets), workers=1).summary
    return key, {k: s[k] for k in KEPT}


def configs() -> list[tuple[str, str, int, float]]:
    """(regime, strategy, devices per cell, target utilisation), each once."""
    out = []
    for regime, spec in REGIMES.items():
        for strategy in STRATEGIES:
            gateway = strategy == "delegated"
            for per_cell in spec.loads:
                out.append((regime, strategy, per_cell,
                            math.nan if gateway else BASE_UTILISATION))
            for u in () if gateway else spec.utilisations:
                if u != BASE_UTILISATION:
                    out.append((regime, strategy, BASE_LOAD, u))
    return out


class Store:
    """Finished runs, one JSON line each (`key` -> summary), read back on a new start."""

    def __init__(self, path: Path):
        self.path = path
        self.done = {}
        if path.exists():
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                self.done[rec["key"]] = rec["summary"]

    def add(self, key: str, summary: dict) -> None:
        self.done[key] = summary
        with self.path.open("a") as f:
            f.write(json.dumps({"key": key, "summary": summary}) + "\n")


def run_jobs(jobs, store: Store, workers: int) -> None:
    todo = [j for j in jobs if j[0] not in store.done]
    if not todo:
        return
    with mp.get_context("fork").Pool(workers) as pool:
        for n, (key, summary) in enumerate(pool.imap_unordered(simulate, todo), 1):
            store.add(key, summary)
            print(f"[{n}/{len(todo)}] {key}: {summary['wall_s']:.1f} s", flush=True)


def pilot_key(regime, strategy, per_cell):
    return f"pilot|{strategy}|{per_cell}|{regime}"


def run_key(regime, strategy, per_cell, u, fidelity, seed):
    return f"{strategy}|{per_cell}|{u}|{fidelity}|{seed}|{regime}"


def service_for(store: Store, regime: str, strategy: str, per_cell: int, u: float) -> float:
    """The service time (s) of target utilisation u (NaN: the default)."""
    if math.isnan(u):
        return load_scenario("baseline", {}).manager.service_s
    peak = store.done[pilot_key(regime, strategy, per_cell)]["manager_utilization_peak"]
    return u * PILOT_SERVICE_S / peak


def relative(flow: list[float], packet: list[float]) -> tuple[float, float]:
    """Relative difference of the means (flow / packet - 1) and its standard error."""
    f, p = np.array(flow, dtype=float), np.array(packet, dtype=float)
    if np.isnan(f).any() or np.isnan(p).any() or p.mean() == 0:
        return math.nan, math.nan
    n = len(f)
    se = math.sqrt(f.var(ddof=1) / n + p.var(ddof=1) / n) / p.mean() if n > 1 else math.nan
    return f.mean() / p.mean() - 1, se


def table(store: Store, reps: int) -> str:
    rows = []
    worst = {}
    for regime, strategy, per_cell, u in configs():
        svc = service_for(store, regime, strategy, per_cell, u)
        got = {fid: [store.done.get(run_key(regime, strategy, per_cell, u, fid, s))
                     for s in range(1, reps + 1)] for fid in ("flow", "packet")}
        if any(r is None for rs in got.values() for r in rs):
            continue
        cells = []
        verdict = "agree"
        for name, field, tol in METRICS:
            vals = {fid: [math.nan if r[field] is None else r[field] for r in rs]
                    for fid, rs in got.items()}
            err, se = relative(vals["flow"], vals["packet"])
            if math.isnan(err):
                cells.append("n/a")
                continue
            cells.append(f"{err:+.1%} ± {se:.1%}")
            worst[name] = max(worst.get(name, 0.0), abs(err))
            if abs(err) > tol:
                verdict = "differs" if abs(err) > tol + 2 * se else "within noise"
        util = {fid: np.mean([r["manager_utilization_peak"] for r in rs])
                for fid, rs in got.items()}
        stretch = np.mean([r["cell_peak_stretch"] for r in got["packet"]])
        upd = {fid: np.mean([r["updated_fraction"] for r in rs]) for fid, rs in got.items()}
        warned = sum(bool(r["validity_warnings"]) for r in got["flow"])
        wall = {fid: np.mean([r["wall_s"] for r in rs]) for fid, rs in got.items()}
        target = "default" if math.isnan(u) else f"{u:g}"
        wait = np.mean([r["manager_wait_mean_s"] for r in got["packet"]])
        rows.append(f"| {regime} | {strategy} | {per_cell} | {target} | {svc * 1e3:.3g} | "
                    f"{wait * 1e3:.3g} | "
                    f"{util['flow']:.2f} / {util['packet']:.2f} | {stretch:.2f} | "
                    f"{upd['flow']:.2f} / {upd['packet']:.2f} | " + " | ".join(cells)
                    + f" | {warned}/{reps} | {wall['flow']:.1f} / {wall['packet']:.1f} | "
                    f"{verdict} |")
    head = ("| regime | strategy | devices per cell | target utilisation | service (ms) | "
            "mean wait (ms, packet) | "
            "utilisation flow / packet | cell stretch (packet) | updated flow / packet | "
            "p50 | p95 | energy | bytes | flow runs warned | wall s flow / packet | "
            "verdict |\n|" + " --- |" * 17)
    summary = ", ".join(f"{k} {v:.1%}" for k, v in worst.items())
    return head + "\n" + "\n".join(rows) + f"\n\nLargest differences: {summary}.\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--store", type=Path, default=HERE / "fidelity_agreement.jsonl")
    args = ap.parse_args(argv)
    store = Store(args.store)
    pilots = [(pilot_key(r, s, c), sets_of(s, c, PILOT_SERVICE_S, "flow", 1, r))
              for r, spec in REGIMES.items() for s in STRATEGIES if s != "delegated"
              for c in spec.loads]
    run_jobs(pilots, store, args.workers)
    jobs = []
    for regime, strategy, per_cell, u in configs():
        svc = service_for(store, regime, strategy, per_cell, u)
        for seed in range(1, args.reps + 1):
            for fid in ("packet", "flow"):
                jobs.append((run_key(regime, strategy, per_cell, u, fid, seed),
                             sets_of(strategy, per_cell, svc, fid, seed, regime)))
    # the slowest first, so that the pool ends evenly
    jobs.sort(key=lambda j: (j[1]["sim.fidelity"] != "packet", -j[1]["manager.service_s"],
                             j[0]))
    run_jobs(jobs, store, args.workers)
    (HERE / "fidelity_agreement.md").write_text(
        "# Flow against packet fidelity\n\n"
        "`python benchmarks/fidelity_agreement.py --reps "
        f"{args.reps}` ({FLEET} devices per run; see the script's docstring). Each "
        "difference is flow / packet - 1 of the means over the replications, ± its "
        "standard error. Verdict: *agree* when every difference is within its tolerance "
        "(p50 and p95 10 %, energy and bytes 5 %), *within noise* when one is beyond "
        "it by less than two standard errors, else *differs*.\n\n"
        + table(store, args.reps))
    print((HERE / "fidelity_agreement.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
