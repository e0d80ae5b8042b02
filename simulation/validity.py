"""The range over which flow fidelity was checked against packet fidelity, and the
warnings a run gets when it leaves it (`summary.json` `validity_warnings`).

The range is the agreement matrix's (`benchmarks/fidelity_agreement.py`, table in
`benchmarks/fidelity_agreement.md`): over it every strategy's p50 and p95 time to update
agree within 10 % and energy and bytes per device within 5 % (README, "Two fidelities").
Beyond it flow fidelity's numbers are extrapolations. Whatever the fidelity, a message
booked in the manager's queue before the history it keeps was served at once, its wait
unknown (`world/manager.py` FifoQueue): that is a warning too.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Checked:
    """A summary field and the largest value at which flow fidelity was checked."""

    field: str
    up_to: float
    what: str


#: the conditions the agreement matrix covers, and how far
CHECKED = (
    Checked("manager_utilization_peak", 1.5,
            "the manager's busiest second (its queue's load, service time x arrivals)"),
    Checked("cell_peak_stretch", 3.0,
            "the most a cell's contention stretched a download's time in the cell"),
)


def validity_warnings(summary: dict) -> list[str]:
    """One line per condition the run left the validated range of."""
    out = []
    if summary["fidelity"] == "flow":
        for c in CHECKED:
            value = summary[c.field]
            if value > c.up_to:
                out.append(f"{c.field} = {value:.3g} is beyond {c.up_to:g}, the largest "
                           f"value at which flow fidelity was checked against packet "
                           f"fidelity ({c.what})")
    late = summary["manager_queue_late"]
    if late:
        out.append(f"manager_queue_late = {late}: messages reached the manager's queue "
                   "after the history it keeps and were served without waiting")
    return out
