"""Every notebook of the study runs top to bottom on `reproduce --quick` results, and only
reads results (no model code)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_reproduce import quick_study  # noqa: F401 - the shared quick study

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
#: what would make a notebook simulate rather than read
MODEL_CODE = ("simulation.engine", "load_scenario", "import run", "sweep(", "reproduce(",
              "simulation.world", "simulation.strategies", "simulation.protocols")


def test_one_notebook_per_research_question():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{k}_" for k in "abcdefghijk"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_on_quick_results(path, quick_study, monkeypatch):  # noqa: F811
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not [m for m in MODEL_CODE if m in code]
    monkeypatch.setenv("IOTSU_RESULTS", str(quick_study))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type == "display_data" and "image/png" in o.data for o in outputs)
    # the findings cell prints the report's findings for this question
    assert any(o.output_type == "stream" and o.text.startswith("- ") for o in outputs)
