"""Running a sweep: executors, the results store, progress and the tables.

Every run's result depends only on its resolved scenario (seed included), so the tables do
not depend on the executor (in-process, a local process pool, a Dask cluster), on the
number of workers, or on the order in which runs finish. Finished runs are stored as they
finish; a rerun of an interrupted sweep computes only what is missing.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simulation import runner
from simulation.cluster import dask_client
from simulation.outputs import now_iso, staged, versions, write_json
from simulation.sweeps.experiment import Experiment, Run, load_experiment
from simulation.sweeps.stats import summarize
from simulation.sweeps.store import Store

#: summary fields that measure the machine, not the model: they differ between executors.
MEASURED = ("wall_s", "memory_per_device_bytes", "peak_rss_mib")
SWEEP_FILES = ("runs.parquet", "summary.parquet", "manifest.json")


@dataclass
class SweepResult:
    """The tables of a sweep, as written to its folder."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    manifest: dict
    out: Path

    @property
    def failed(self) -> int:
        return len(self.manifest["failed"])


def simulate(scenario) -> dict:
    """One run (in whatever process the executor chose); its summary, or its error."""
    try:
        return {"summary": runner.run(scenario, workers=1).summary}
    except Exception as e:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        return {"error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=8)}


def _record(run: Run, outcome: dict) -> dict:
    return {"point": [[k, v] for k, v in run.point], "replication": run.replication,
            "seed": run.seed, **outcome}


def sweep(experiment: str | Path | Experiment, out: str | Path | None = None, *,
          workers: int | None = None, dask: str | None = None,
          progress: bool | None = None) -> SweepResult:
    """Run (or finish) an experiment; returns its tables. See the module docstring.

    workers: local processes (default: every core); ignored with `dask`.
    dask: address of a dask.distributed scheduler, or "local" for a LocalCluster.
    progress: show a progress bar (default: when stderr is a terminal).
    """
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    out = Path(out) if out is not None else Path("results") / exp.name
    started = now_iso()
    runs = exp.runs()
    store = Store(out)
    stored = store.finished()
    todo = [r for r in runs if r.run_id not in stored]
    reused = [r.run_id for r in runs if r.run_id in stored]
    workers = workers or os.cpu_count() or 1
    errors: dict[str, str] = {}

    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm import tqdm
        bar = tqdm(total=len(runs), initial=len(reused), desc=exp.name, unit="run")

    def finished(run: Run, outcome: dict) -> None:
        record = _record(run, outcome)
        store.save(run.run_id, record)
        if "error" in outcome:
            errors[run.run_id] = outcome["error"]
        else:
            stored[run.run_id] = record
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=len(errors))

    try:
        if dask:
            executor = f"dask {dask}"
            _run_dask(todo, dask, workers, finished)
        elif workers == 1 or len(todo) <= 1:
            executor = "in-process"
            for run in todo:
                finished(run, simulate(run.scenario))
        else:
            executor = f"{workers} local processes"
            run_pool(todo, workers, lambda run: (simulate, run.scenario), finished)
    finally:
        if bar is not None:
            bar.close()

    runs_table = _runs_table(exp, runs, stored)
    fields = [c for c in runs_table.columns if c not in (*exp.grid, "replication", "seed")
              and pd.api.types.is_numeric_dtype(runs_table[c])
              and not pd.api.types.is_bool_dtype(runs_table[c])]
    summary_table = summarize(runs_table, list(exp.grid), fields) if len(runs_table) else \
        pd.DataFrame()
    manifest = {
        "experiment": exp.source, "name": exp.name, "scenario": exp.scenario,
        "seed": exp.seed, "replications": exp.replications, "grid": exp.grid,
        "set": exp.set, "variants": exp.variants, "when": exp.when, "runs": len(runs),
        "computed": len(todo) - len(errors),
        "reused": reused, "failed": errors, "executor": executor,
        "started": started, "finished": now_iso(), "versions": versions(),
        "measured_fields": list(MEASURED),
    }
    with staged(out, owned=SWEEP_FILES) as tmp:
        runs_table.to_parquet(tmp / "runs.parquet", index=False)
        summary_table.to_parquet(tmp / "summary.parquet", index=False)
        write_json(tmp / "manifest.json", manifest)
    return SweepResult(runs_table, summary_table, manifest, out)


def _runs_table(exp: Experiment, runs: list[Run], stored: dict) -> pd.DataFrame:
    """One row per finished run, in the experiment's order (not the order of finishing)."""
    rows = []
    for run in runs:
        record = stored.get(run.run_id)
        if record is None or "summary" not in record:
            continue
        # a list (the validity warnings) becomes one text cell, its lines joined by "; "
        summary = {k: (math.nan if v is None else "; ".join(v) if isinstance(v, list) else v)
                   for k, v in record["summary"].items()}
        rows.append({**dict(run.point), "replication": run.replication, "seed": run.seed,
                     **{k: v for k, v in summary.items() if k != "seed"}})
    return pd.DataFrame(rows)


def run_pool(items: list, workers: int, call, finished) -> None:
    """Run every item on a pool of `workers` local processes: `call(item)` gives the
    function and its arguments, `finished(item, result)` runs here as each one ends (in
    the order they end). On an error or an interrupt the items not started are cancelled."""
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending = {pool.submit(*call(item)): item for item in items}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(pending.pop(future), future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _run_dask(todo: list[Run], address: str, workers: int, finished) -> None:
    from distributed import as_completed

    with dask_client(address, workers) as client:
        futures = {client.submit(simulate, run.scenario, key=f"iotsu-{run.run_id}",
                                 pure=False): run for run in todo}
        for future in as_completed(futures):
            finished(futures[future], future.result())
