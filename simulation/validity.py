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

#: the largest cell stretch on radio cells at which flow fidelity was checked: in every
#: agreeing run of the matrix, and in question (h) at 40 devices in one cell, flow
#: fidelity's cells never slowed a download (packet fidelity's: by up to 1.49); with cells
#: of one device's rate, flow's stretches of 8-24 come with a mean download 27 % short of
#: packet fidelity's (`benchmarks/study_load_check.md`)
CELL_STRETCH = 1.0


@dataclass(frozen=True)
class Checked:
    """A summary field and the largest value at which flow fidelity was checked: on radio
    cells (`up_to`), and on gateways' local channels (`gateway_up_to`)."""

    field: str
    up_to: float
    gateway_up_to: float
    what: str


#: the conditions the agreement runs cover, and how far (the largest value a flow run of
#: an agreeing configuration reached, rounded down): `benchmarks/fidelity_agreement.md`
#: (manager utilisation 2.0; gateways' channels, flow stretch 1.69, packet's 7.0), and
#: for radio cells `benchmarks/study_load_check.md`
CHECKED = (
    Checked("manager_utilization_peak", 2.0, 2.0,
            "the manager queue's busiest second: messages booked x service time"),
    Checked("cell_peak_stretch", CELL_STRETCH, 1.6,
            "the most a cell's contention stretched a download's time in the cell"),
)


def validity_warnings(summary: dict, gateway: bool = False) -> list[str]:
    """One line per condition the run left the checked range of (`gateway`: the devices'
    cells are gateways' local channels)."""
    out = []
    if summary["fidelity"] == "flow":
        for c in CHECKED:
            value, limit = summary[c.field], c.gateway_up_to if gateway else c.up_to
            if value > limit:
                out.append(f"{c.field} = {value:.3g} is beyond {limit:g}, the largest "
                           f"value at which flow fidelity was checked against packet "
                           f"fidelity ({c.what})")
    late = summary["manager_queue_late"]
    if late:
        out.append(f"manager_queue_late = {late}: messages reached the manager's queue "
                   "after the history it keeps and were served without waiting")
    return out
