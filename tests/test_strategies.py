"""Each strategy's flow from the draft, and how the strategies compare on the same fleet."""
from __future__ import annotations

import re

import pytest

from simulation import load_scenario, run

FLOWS = {
    "device-initiated": [r"D-->M: CoAP POST /rd\?ep=dev\d+&lt=90000",
                         r"D<--M: CoAP GET /Radio_link_status, Token: 0x[0-9a-f]{2}, Observe: 0",
                         r"D-->M: 2\.05 Content, Token: 0x[0-9a-f]{2}, payload: 1",
                         r"D-->M: 2\.05 Content, Token: 0x[0-9a-f]{2}, Observe: \d+, payload: 1",
                         r"D<--M: CoAP POST /sw, Token: 0x[0-9a-f]{4}, Block1: 0/1/256",
                         r"D-->M: 2\.31 Continue, Token: 0x[0-9a-f]{4}, Block1: 0/1/256",
                         r"D-->M: 2\.04 Changed, Token: 0x[0-9a-f]{4}, Block1: \d+/0/256"],
    "manager-initiated": [r"D<--M: CoAP GET /report, Token: 0x[0-9a-f]{2}, Observe: 0",
                          r"D-->M: 2\.05 Content, Token: 0x[0-9a-f]{2}, Observe: \d+, "
                          r"payload: 64 B",
                          r"D<--M: CoAP POST /sw, Token: 0x[0-9a-f]{4}, Block1: 0/1/256"],
    "device-polling": [r"D-->M: CoAP GET /fw/version",
                       r"D<--M: 2\.05 Content, Token: 0x[0-9a-f]{4}, payload: 2\.0\.0",
                       r"D-->M: CoAP GET /fw/image, Token: 0x[0-9a-f]{4}, Block2: 0/0/256",
                       r"D<--M: 2\.05 Content, Token: 0x[0-9a-f]{4}, Block2: 0/1/256"],
}


def small(strategy, **sets):
    return load_scenario("baseline", {"strategy.name": strategy, "fleet.size": 40,
                                      "fleet.cells": 10, "update.image_bytes": 8192,
                                      "sim.horizon_s": 12000.0, **sets})


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
@pytest.mark.parametrize("strategy", sorted(FLOWS))
def test_trace_shows_the_drafts_flow(strategy, fidelity):
    res = run(small(strategy, **{"sim.fidelity": fidelity}), trace_devices=2)
    assert res.devices["updated"].all()
    lines = res.trace.splitlines()
    assert {int(re.search(r"dev (\d+)", ln).group(1)) for ln in lines} == {0, 1}
    for pattern in FLOWS[strategy]:
        assert any(re.search(pattern, ln) for ln in lines), pattern
    times = [float(ln.split()[0]) for ln in lines]
    assert times == sorted(times)


def test_manager_initiated_sends_fewer_uplink_bytes_for_the_same_reports():
    """Section 5 piggybacks on the report notification; section 4 adds a radio-link
    notification to every wake-up's report."""
    sets = {"update.release_s": 1e9}          # reports only: no update traffic
    di = run(small("device-initiated", **sets)).devices
    mi = run(small("manager-initiated", **sets)).devices
    assert (di["wakeups"] == mi["wakeups"]).all()
    assert mi["bytes_up"].sum() < di["bytes_up"].sum()
    assert mi["msgs_up"].sum() < di["msgs_up"].sum()
    assert mi["energy_j"].sum() < di["energy_j"].sum()
