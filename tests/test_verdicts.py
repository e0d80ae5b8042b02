"""A headline finding's verdict under the modelling assumptions, on stored tables made
here: a claim holds under a variant where the same claim comes out, a leader's where the
leader is still among the tied leaders; the verdict names the variant that breaks it with
its `when` phrase; a measure gets its range."""
from __future__ import annotations

import json

import pandas as pd

from simulation.study.report import Results, headline, verdict

STRATEGIES = ("device-initiated", "manager-polling", "mqtt-http")
NAT = "nat.udp_timeout_s"
WHEN = {"as-configured": "the comparison is re-run with other seeds",
        "field-timers": "CoAP clients use the longer ACK timeout of NB-IoT field practice"}


def store(folder, rows, grid, replications):
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / "runs.parquet", index=False)
    (folder / "manifest.json").write_text(json.dumps(
        {"grid": grid, "replications": replications, "when": WHEN, "runs": len(rows)}))


def nat_rows(updated, variant=None, nats=(15, 900)):
    """Two replications per point; `updated[s]` the fraction updated of strategy s at the
    shortest NAT (all update at the longest)."""
    rows = []
    for s in STRATEGIES:
        for nat in nats:
            for rep in range(2):
                u = updated[s] if nat == min(nats) else 1.0
                row = {"strategy.name": s, NAT: float(nat), "replication": rep,
                       "updated_fraction": u, "ttu_p95_s": 1000.0 + 10 * rep if u >= 0.95
                       else float("nan"), "energy_per_device_j": 20.0}
                if variant is not None:
                    row["variant"] = variant
                rows.append(row)
    return rows


def study(tmp_path, field_timers):
    """nat-timeout: device-initiated and mqtt-http update the fleet at 15 s, manager
    polling does not; under field-timers device-initiated gets `field_timers`."""
    good = {"device-initiated": 1.0, "manager-polling": 0.1, "mqtt-http": 1.0}
    store(tmp_path / "nat-timeout", nat_rows(good),
          {"strategy.name": list(STRATEGIES), NAT: [15.0, 900.0]}, 2)
    varied = dict(good, **{"device-initiated": field_timers})
    rows = nat_rows(good, "as-configured", (15,)) + nat_rows(varied, "field-timers", (15,))
    store(tmp_path / "nat-timeout" / "assumptions", rows,
          {"strategy.name": list(STRATEGIES), NAT: [15.0],
           "variant": ["as-configured", "field-timers"]}, 2)
    return Results(tmp_path)


def test_a_claim_that_survives_every_assumption_is_stated_plainly(tmp_path):
    r = study(tmp_path, field_timers=1.0)
    head = headline(r, "b")
    assert head.claim_text == "`device-initiated` and `mqtt-http` update the fleet"
    v = verdict(r, "b", "nat-timeout")
    assert v.text.endswith("it holds under every one.")
    assert "at `nat.udp_timeout_s` = 15 with other seeds and under `field-timers`" in v.text


def test_a_claim_an_assumption_breaks_carries_its_condition(tmp_path):
    r = study(tmp_path, field_timers=0.4)
    v = verdict(r, "b", "nat-timeout")
    assert v.text.endswith(
        "it holds unless CoAP clients use the longer ACK timeout of NB-IoT field practice "
        "(`field-timers`: `mqtt-http` updates the fleet).")
    # every number of the verdict names its sweep: the decisive one, or its grid
    sources = [n.source for n in v.numbers]
    assert sources == [{"study": "nat-timeout/assumptions", "grid": NAT, "value": 15.0}]


def test_no_decisive_sweep_no_verdict(tmp_path):
    r = study(tmp_path, field_timers=1.0)
    for f in (tmp_path / "nat-timeout" / "assumptions").iterdir():
        f.unlink()
    assert headline(r, "b") is not None and verdict(r, "b", "nat-timeout") is None


WAKE = "device.wake_interval_s"


def wake_rows(p95, variant=None):
    """Two replications per strategy at 900 s and 3600 s wake-ups; `p95[s]` the two
    replications' p95 time to update at 900 s (at 3600 s each is 4x)."""
    rows = []
    for s, reps in p95.items():
        for wake, scale in ((900.0, 1.0), (3600.0, 4.0)):
            for rep, t in enumerate(reps):
                row = {"strategy.name": s, WAKE: wake, "replication": rep,
                       "ttu_p95_s": t * scale, "energy_per_device_j": 10.0 + rep,
                       "updated_fraction": 1.0}
                if variant is not None:
                    row["variant"] = variant
                rows.append(row)
    return rows


def test_a_leader_is_kept_while_its_replications_overlap_the_new_leaders(tmp_path):
    main = {"device-initiated": (1000.0, 1010.0), "mqtt-http": (1005.0, 1100.0),
            "mqtt-coap": (2000.0, 2100.0)}
    grid = {"strategy.name": list(main), WAKE: [900.0, 3600.0]}
    store(tmp_path / "wake-interval", wake_rows(main), grid, 2)
    close = dict(main, **{"device-initiated": (1000.0, 1010.0),
                          "mqtt-http": (990.0, 1005.0)})
    beaten = dict(main, **{"device-initiated": (1500.0, 1510.0)})
    store(tmp_path / "wake-interval" / "assumptions",
          wake_rows(close, "as-configured") + wake_rows(beaten, "field-timers"),
          {**grid, "variant": ["as-configured", "field-timers"]}, 2)
    r = Results(tmp_path)
    head = headline(r, "c")
    # mqtt-http's fastest replication (1005 s) is below device-initiated's slowest (1010 s)
    assert head.leaders == ("device-initiated", "mqtt-http")
    assert head.claim_text == ("`device-initiated` has the shortest p95 time to update, "
                               "tied with `mqtt-http`")
    assert "(tied with `mqtt-http`: their replications overlap)" in head.text
    text = verdict(r, "c", "wake-interval").text
    # re-run: mqtt-http leads by a hair, device-initiated is tied with it (kept); with the
    # field timers device-initiated is clearly behind (lost)
    assert text.endswith("it holds unless CoAP clients use the longer ACK timeout of "
                         "NB-IoT field practice (`field-timers`: `mqtt-http` has the "
                         "shortest p95 time to update).")
