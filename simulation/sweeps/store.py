"""The results store of a sweep: one small JSON file per finished run, written atomically.

`<out>/runs/<run id>.json` holds the run's point, replication, seed and summary (or its
error). A file is written to a temporary name and renamed, so a crash or SIGKILL never
leaves a half-written result; a rerun reads what is there and computes only the rest.
Failed runs are stored under `<out>/failed/` and are retried by the next sweep.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Store:
    def __init__(self, out: Path):
        self.out = Path(out)
        self.done_dir = self.out / "runs"
        self.failed_dir = self.out / "failed"

    def finished(self) -> dict[str, dict]:
        """Stored results by run id (unreadable leftovers are ignored)."""
        results = {}
        if self.done_dir.is_dir():
            for f in self.done_dir.glob("*.json"):
                try:
                    results[f.stem] = json.loads(f.read_text())
                except (OSError, ValueError):
                    continue
        return results

    def save(self, run_id: str, record: dict) -> None:
        ok = "error" not in record
        write_atomic((self.done_dir if ok else self.failed_dir) / f"{run_id}.json",
                     json.dumps(record))
        if ok:
            (self.failed_dir / f"{run_id}.json").unlink(missing_ok=True)
