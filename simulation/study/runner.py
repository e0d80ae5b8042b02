"""`iotsu-sim reproduce`: every question's sweep, then the figures and the report.

Each question's experiment (`experiments/<name>.toml`, at the chosen size tier) runs
through the sweep machinery (`simulation.sweeps.sweep`) into `<out>/<name>/` and resumes
from the runs stored there. Completion curves and CDFs need each device's time to update,
which a sweep does not keep: so replication 0 of every grid point is simulated first by
the study itself, which keeps its run folder (the files `iotsu-sim run` writes) in
`<out>/<name>/devices/<run id>/` and stores its summary in the sweep's store, where the
sweep finds it and does not simulate it again. `<out>/<name>/devices/index.json` maps the
points to their folders. A question whose experiment names a decisive comparison
(`[experiment.robustness]`) then has it run, with the contenders its headline finding
names, into `<out>/<name>/assumptions/` (a sweep; `report.verdict` reads it). `iotsu-sim
validate`'s table goes to `<out>/validation/` (kept,
like the runs, and reused by a rerun). Then the figures go to `<out>/figures/` and the
report to `<out>/REPORT.md` (see `report.py`); `<out>/study.json` records the tier and
what was computed or reused.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from simulation import __version__, runner
from simulation.errors import ScenarioError
from simulation.feasibility import estimate
from simulation.figures.study import draw_study
from simulation.outputs import now_iso, versions, write_run, write_validation
from simulation.study.report import contenders, write_report
from simulation.study.questions import ASSUMPTIONS, QUESTIONS, Question, experiments_dir
from simulation.sweeps import SweepResult, load_experiment, sweep
from simulation.sweeps.experiment import TIERS, Experiment, Run
from simulation.sweeps.runner import run_pool
from simulation.sweeps.store import Store, write_atomic
from simulation.validation import CHECKS, FAIL, PASS, SKIPPED, run_checks

STUDY_FILE = "study.json"
VALIDATION_DIR = "validation"


@dataclass
class StudyResult:
    out: Path
    tier: str
    sweeps: dict[str, SweepResult] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    report: Path | None = None

    @property
    def failed(self) -> int:
        return sum(q["failed"] + q.get("assumptions", {}).get("failed", 0)
                   for q in self.manifest.get("questions", []))


def study_experiments(tier: str = "default") -> list[tuple[Question, Experiment]]:
    """Every question with its experiment at `tier`, checked before anything runs."""
    if tier not in TIERS:
        raise ScenarioError(f"tier {tier!r} is not allowed: expected one of {', '.join(TIERS)}")
    folder = experiments_dir()
    return [(q, load_experiment(folder / f"{q.name}.toml", tier)) for q in QUESTIONS]


def devices_folder(out: Path, name: str) -> Path:
    return Path(out) / name / "devices"


def reproduce(out: str | Path = "results", tier: str = "default", *,
              workers: int | None = None, progress: bool | None = None,
              log=None) -> StudyResult:
    """Run the study at `tier` into `out` (resuming), draw its figures, write its report.

    workers: local processes (default: every core). progress: progress bars (default: when
    stderr is a terminal). log: called with one line per finished sweep (default: none).
    """
    if workers is not None and workers < 1:
        raise ScenarioError(f"--workers {workers} is not allowed: expected N >= 1")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"--out {str(out)!r} is not allowed: it is a file, not a folder")
    study = study_experiments(tier)
    workers = workers or os.cpu_count() or 1
    show = progress if progress is not None else sys.stderr.isatty()
    kept = keep_devices(out, study, workers, show)
    result = StudyResult(out, tier)
    questions = []
    for q, exp in study:
        sw = sweep(exp, out / q.name, workers=workers, progress=show)
        result.sweeps[q.name] = sw
        m = sw.manifest
        computed = kept[q.name]
        entry = {"key": q.key, "name": q.name, "title": q.title,
                 "experiment": f"experiments/{q.name}.toml", "runs": m["runs"],
                 "computed": m["computed"] + computed,
                 "reused": len(m["reused"]) - computed, "failed": len(m["failed"]),
                 "grid": exp.grid, "set": exp.set, "replications": exp.replications}
        questions.append(entry)
        if log is not None:
            log(f"({q.key}) {q.name}: {entry['runs']} runs ({entry['computed']} computed, "
                f"{entry['reused']} reused, {entry['failed']} failed)")
        # the decisive comparison names its contenders from the question's results: only
        # once they are all there
        decisive = None if entry["failed"] else exp.decisive(contenders(out, q.key))
        if decisive is not None:
            folder = out / q.name / ASSUMPTIONS
            m = sweep(decisive, folder, workers=workers, progress=show).manifest
            entry["assumptions"] = {
                "folder": f"{q.name}/{ASSUMPTIONS}", "runs": m["runs"],
                "computed": m["computed"], "reused": len(m["reused"]),
                "failed": len(m["failed"]), "grid": decisive.grid,
                "replications": decisive.replications}
            if log is not None:
                a = entry["assumptions"]
                log(f"({q.key}) {q.name} under the assumptions: {a['runs']} runs "
                    f"({a['computed']} computed, {a['reused']} reused, {a['failed']} "
                    "failed)")
    validation = validate_model(out / VALIDATION_DIR, min(workers, len(CHECKS)), log)
    result.manifest = {"tier": tier, "iotsu_sim_version": __version__,
                       "questions": questions, "validation": validation,
                       "versions": versions()}
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / STUDY_FILE, json.dumps(result.manifest, indent=2) + "\n")
    if result.failed:
        return result
    result.figures = draw_study(out, workers)
    result.report = write_report(out)
    return result


def validate_model(folder: Path, workers: int, log=None) -> dict:
    """`iotsu-sim validate` into `folder` (`validation.md`, `validation.csv`), unless a
    stored table is there; returns its counts and whether it was computed now."""
    table = folder / "validation.csv"
    computed = not table.is_file()
    if computed:
        write_validation(run_checks(workers=workers), folder)
    verdicts = pd.read_csv(table)["verdict"]
    counts = {v: int((verdicts == v).sum()) for v in (PASS, FAIL, SKIPPED)}
    if log is not None:
        log(f"validation: {len(verdicts)} checks ({'computed' if computed else 'reused'}): "
            f"{counts[PASS]} pass, {counts[FAIL]} fail, {counts[SKIPPED]} skipped")
    return {"folder": VALIDATION_DIR, "computed": computed, **counts}


def _keep(scenario, folder: str, source: str) -> dict:
    """In a worker: simulate one run, write its run folder, return its summary or error."""
    started = now_iso()
    try:
        result = runner.run(scenario, workers=1)       # as the sweep runs it: the same summary
    except Exception as e:  # noqa: BLE001 - recorded like a failed sweep run
        return {"error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=8)}
    write_run(result, Path(folder), source=source, started=started,
              argv=["iotsu-sim", "reproduce"])
    return {"summary": result.summary}


def keep_devices(out: Path, study, workers: int, progress: bool) -> dict[str, int]:
    """Replication 0 of every point with its devices table (see the module docstring);
    returns, per question, how many of them were computed."""
    todo, counts, firsts_of = [], {}, {}
    for q, exp in study:
        store = Store(out / q.name)
        stored = store.finished()
        folder = devices_folder(out, q.name)
        firsts = firsts_of[q.name] = [r for r in exp.runs() if r.replication == 0]
        missing = [r for r in firsts if r.run_id not in stored
                   or not (folder / r.run_id / "devices.parquet").is_file()]
        todo += [(q, store, r) for r in missing]
        counts[q.name] = 0
    todo.sort(key=lambda item: -estimate(item[2].scenario).wall_s)     # longest first
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc="devices tables", unit="run")

    def finished(item, outcome: dict) -> None:
        q, store, run = item
        store.save(run.run_id, {"point": [[k, v] for k, v in run.point],
                                "replication": run.replication, "seed": run.seed, **outcome})
        if "error" not in outcome:
            counts[q.name] += 1
        if bar is not None:
            bar.update(1)

    def args(item):
        q, _, run = item
        return (run.scenario, str(devices_folder(out, q.name) / run.run_id),
                f"experiments/{q.name}.toml")

    try:
        if workers == 1 or len(todo) <= 1:
            for item in todo:
                finished(item, _keep(*args(item)))
        else:
            run_pool(todo, workers, lambda item: (_keep, *args(item)), finished)
    finally:
        if bar is not None:
            bar.close()
    for q, _ in study:
        _write_index(devices_folder(out, q.name), firsts_of[q.name])
    return counts


def _write_index(folder: Path, firsts: list[Run]) -> None:
    """`index.json`: the point, seed and run id of each kept run of this tier."""
    entries = [{"point": dict(r.point), "seed": r.seed, "run_id": r.run_id} for r in firsts
               if (folder / r.run_id / "devices.parquet").is_file()]
    write_atomic(folder / "index.json", json.dumps(entries, indent=1) + "\n")
