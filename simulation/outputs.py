"""Writing a run's files: all or nothing.

Files are written into a temporary folder beside the destination, then moved into place;
an error or an interruption leaves no half-written file behind.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pandas as pd

from simulation import __version__
from simulation.scenario import to_toml
from simulation.validation import counted

PACKAGES = ("simpy", "numpy", "pandas", "pyarrow", "scipy", "matplotlib")


RUN_FILES = ("devices.parquet", "manager.parquet", "summary.json", "scenario.toml",
             "manifest.json", "trace.txt")


@contextmanager
def staged(out: Path, owned: tuple[str, ...] = RUN_FILES):
    """Yield a temporary folder; on success its files replace those of `out`, and files
    named in `owned` that this write did not produce (an old trace.txt) are removed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        out.mkdir(parents=True, exist_ok=True)
        written = {f.name for f in tmp.iterdir()}
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
        for name in owned:
            if name not in written and (out / name).is_file():
                (out / name).unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def git_commit() -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def versions() -> dict[str, str | None]:
    out = {"python": platform.python_version(), "iotsu-sim": __version__}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    return v


VALIDATION_FILES = ("validation.md", "validation.csv")


def write_validation(checks, out: Path) -> str:
    """`out/validation.md` (the table of `iotsu-sim validate` and its count line) and
    `out/validation.csv` (one row per check), all or nothing; returns the Markdown."""
    text = counted(checks)
    with staged(out, owned=VALIDATION_FILES) as tmp:
        (tmp / "validation.md").write_text(text)
        pd.DataFrame([c.row() for c in checks]).to_csv(tmp / "validation.csv", index=False)
    return text


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n")


def write_run(result, out: Path, *, source: str, started: str, argv=None) -> None:
    """devices.parquet, summary.json, manager.parquet, scenario.toml, manifest.json (and
    trace.txt when traced) into `out`."""
    with staged(out) as tmp:
        result.devices.to_parquet(tmp / "devices.parquet", index=False)
        result.manager.to_parquet(tmp / "manager.parquet", index=False)
        write_json(tmp / "summary.json", result.summary)
        (tmp / "scenario.toml").write_text(to_toml(result.scenario))
        if result.trace is not None:
            (tmp / "trace.txt").write_text(result.trace)
        write_json(tmp / "manifest.json", {
            "iotsu_sim_version": __version__,
            "git_commit": git_commit(),
            "scenario": source,
            "seed": result.scenario.sim.seed,
            "command": list(argv if argv is not None else sys.argv),
            "started": started,
            "finished": now_iso(),
            "wall_s": result.summary.get("wall_s"),
            "versions": versions(),
            "platform": platform.platform(),
        })
