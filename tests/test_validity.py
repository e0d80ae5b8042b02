"""Validity warnings: a flow-fidelity run outside the range over which flow fidelity was
checked against packet fidelity says so (`simulation/validity.py`), in `summary.json` and
on the command line; a run inside it, or at packet fidelity, does not."""
from __future__ import annotations

import json

from simulation import load_scenario, run
from simulation.validity import CHECKED, validity_warnings
from test_cli import cli


def summary(**fields):
    base = {"fidelity": "flow", "manager_utilization_peak": 0.5, "cell_peak_stretch": 1.0,
            "manager_queue_late": 0}
    return {**base, **fields}


def test_each_condition_beyond_its_range_is_named_with_the_range():
    assert validity_warnings(summary()) == []
    for c in CHECKED:
        got = validity_warnings(summary(**{c.field: c.up_to * 1.5}))
        assert len(got) == 1 and got[0].startswith(f"{c.field} = ")
        assert f"beyond {c.up_to:g}" in got[0]
        assert validity_warnings(summary(**{c.field: c.up_to})) == []


def test_gateway_channels_have_their_own_range_and_packet_fidelity_none():
    stretch = next(c for c in CHECKED if c.field == "cell_peak_stretch")
    beyond_cells = summary(cell_peak_stretch=(stretch.up_to + stretch.gateway_up_to) / 2)
    assert validity_warnings(beyond_cells) and not validity_warnings(beyond_cells,
                                                                     gateway=True)
    assert validity_warnings(summary(fidelity="packet", manager_utilization_peak=9.0)) == []


def test_messages_booked_too_late_warn_at_either_fidelity():
    got = validity_warnings(summary(fidelity="packet", manager_queue_late=3))
    assert len(got) == 1 and "manager_queue_late = 3" in got[0]


def test_an_overloaded_manager_warns_in_the_summary_and_on_the_command_line(tmp_path):
    sets = {"fleet.size": 30, "fleet.cells": 3, "manager.service_s": 1.0,
            "sim.horizon_s": 7200.0, "update.image_bytes": 4096}
    s = run(load_scenario("baseline", sets)).summary
    assert s["manager_utilization_peak"] > 2.0
    assert any(w.startswith("manager_utilization_peak") for w in s["validity_warnings"])
    proc = cli(tmp_path, "run", "baseline", "--quiet", "--out", str(tmp_path / "out"),
               *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")])
    assert proc.returncode == 0, proc.stderr
    assert "warning: manager_utilization_peak" in proc.stderr
    stored = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert stored["validity_warnings"] == s["validity_warnings"]
