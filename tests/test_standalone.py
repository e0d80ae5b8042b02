"""The repository stands alone: no tracked file points at material outside it.

Material handed to the team once lived in a folder beside the project; a user who clones
the repository does not have it. What users need of it is in `docs/interface.md` (the
contract) and `docs/calibration.md` (the source of every preset number).
"""
from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Built by concatenation so that this file does not match itself.
_SHARED = "shared"
FORBIDDEN = (
    ".." + "/" + _SHARED,
    _SHARED + "/" + "seed",
    _SHARED + "/" + "calibration",
    _SHARED + "/" + "interface",
)

#: CI may run the contract checker handed to the team, when it lies beside the clone (an
#: extra step: the tests never need it)
ALLOWED = {".ci/run"}

#: folders never walked when git cannot list the tracked files (`results/` only at the top)
SKIP_DIRS = {".git", "__pycache__"}


def tracked_files() -> list[Path]:
    """The files git tracks, or, without git or a .git folder, every file of the tree
    except .git, results/, .venv* and __pycache__."""
    if shutil.which("git") and (ROOT / ".git").exists():
        r = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           timeout=60)
        if r.returncode == 0:
            names = [n for n in r.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
            return [ROOT / n for n in names if (ROOT / n).is_file()]
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".venv")
                   and not (Path(folder) == ROOT and d == "results")]
        files += [Path(folder) / n for n in names]
    return files


def text_of(path: Path) -> str | None:
    """The file's text, or None for a binary file (a NUL byte, or not UTF-8)."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_no_tracked_file_points_outside_the_repository():
    hits = []
    for path in tracked_files():
        if path.relative_to(ROOT).as_posix() in ALLOWED:
            continue
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            found = [needle for needle in FORBIDDEN if needle in line]
            if found:
                hits.append(f"{path.relative_to(ROOT)}:{number}: {', '.join(found)}: "
                            f"{line.strip()[:120]}")
    assert not hits, ("files point at material outside the repository:\n"
                      + "\n".join(hits))


def test_the_project_documents_exist():
    for name in ("interface.md", "calibration.md"):
        path = DOCS / name
        assert path.is_file(), f"docs/{name} is missing"
        assert path.read_text().strip(), f"docs/{name} is empty"


def _preset_tables() -> tuple[dict, dict]:
    """PRESETS and LOCAL_PRESETS, wherever the code keeps them."""
    errors = []
    for module in ("simulation.scenario.presets", "simulation.world.link"):
        try:
            m = importlib.import_module(module)
            return m.PRESETS, m.LOCAL_PRESETS
        except (ImportError, AttributeError) as e:
            errors.append(f"{module}: {e}")
    raise AssertionError("no PRESETS / LOCAL_PRESETS found: " + "; ".join(errors))


def test_every_link_preset_is_in_the_calibration_document():
    presets, local = _preset_tables()
    text = (DOCS / "calibration.md").read_text()
    missing = [name for name in (*presets, *local) if f"`{name}`" not in text]
    assert not missing, f"docs/calibration.md does not cover the presets {missing}"
