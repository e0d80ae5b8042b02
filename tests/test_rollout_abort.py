"""A release that goes wrong: installs that fail (`update.failure_rate`), the results the
devices report at their next wake-up, and the manager's abort rule (`rollout.*`).

The closed form: the manager learns result j at the first wake-up of its device at or
after the install ended; ordering the results by that time, the rollout stops at the
first k with k >= `abort_min_finished` and failed_k / k > `abort_threshold`. After it, no
device starts the release.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import closed_form
from simulation import load_scenario, run
from simulation.engine import World
from simulation.randomness import Streams
from simulation.scenario import STRATEGIES


def reports(scenario, devices) -> list[tuple[float, int, bool]]:
    """(time the manager learns it, device id, failed) of every install that ended, in
    the order the manager learns them: the device's first periodic wake-up at or after
    the end of its install."""
    period = scenario.device.wake_interval_s
    phases = World(scenario).wake_phases()
    out = []
    for row in devices.itertuples():
        ended = row.t_updated_s if row.updated else row.t_install_failed_s
        if math.isnan(ended):
            continue
        phase = phases[row.device_id]
        t = phase + max(0, math.ceil((ended - phase) / period - 1e-12)) * period
        if t < scenario.sim.horizon_s:
            out.append((t, int(row.device_id), bool(row.install_failed)))
    return sorted(out)


def closed_form_abort(results, threshold: float, min_finished: int):
    """The first result that stops the rollout: (time, device id), or None."""
    failed = 0
    for k, (t, device, bad) in enumerate(results, start=1):
        failed += bad
        if k >= min_finished and failed / k > threshold:
            return t, device
    return None


@pytest.mark.parametrize("strategy", ["device-polling", "device-initiated", "mqtt-http"])
def test_the_rollout_stops_at_the_result_the_closed_form_names(strategy):
    """40 devices, 30 % of installs failing, stop above 20 % after 5 results: the abort
    time and the device whose report triggers it are the closed form's, and so are the
    failed installs (each device's own draw)."""
    sc = closed_form(strategy__name=strategy, sim__fidelity="flow", fleet__size=40,
                     fleet__cells=4, update__failure_rate=0.3,
                     rollout__abort_threshold=0.2, rollout__abort_min_finished=5,
                     device__install_s=30.0, update__release_s=1200.0)
    res = run(sc, trace_devices=40)
    d = res.devices
    fails = Streams(sc.sim.seed).uniforms("install-failure", d["device_id"]) < 0.3
    ended = d["updated"] | d["install_failed"]
    assert ended.sum() >= 10
    assert (d["install_failed"][ended] == fails[ended]).all()
    assert not (d["updated"] & d["install_failed"]).any()
    expected = closed_form_abort(reports(sc, d), 0.2, 5)
    assert expected is not None
    assert res.summary["aborted_at_s"] == pytest.approx(expected[0], abs=1e-9)
    line = next(ln for ln in res.trace.splitlines() if "rollout aborted" in ln)
    assert int(line.split()[2]) == expected[1]
    assert (d["t_download_start_s"].dropna() < res.summary["aborted_at_s"]).all()


def test_without_an_abort_every_failure_is_counted_and_no_device_updates_at_rate_one():
    sc = closed_form(sim__fidelity="flow", fleet__size=20, fleet__cells=2,
                     update__failure_rate=1.0)
    res = run(sc)
    s, d = res.summary, res.devices
    assert s["aborted_at_s"] is None and s["updated_fraction"] == 0.0
    assert s["failed_installs"] == int(d["install_failed"].sum()) > 0
    assert s["exposed_devices"] == int(d["exposed"].sum()) >= s["failed_installs"]


def test_a_good_release_is_unchanged_by_the_abort_rule():
    """No failures: an abort threshold of 0 never fires (no share exceeds it), and the
    run is the run without it."""
    base = closed_form(sim__fidelity="flow", fleet__size=20, fleet__cells=2)
    strict = base.with_overrides({"rollout.abort_threshold": 0.0})
    a, b = run(base), run(strict)
    assert b.summary["aborted_at_s"] is None and b.summary["failed_installs"] == 0
    assert a.devices.equals(b.devices)


def test_a_fleet_wide_abort_rule_runs_in_one_process():
    sc = load_scenario("baseline", {"fleet.size": 40, "fleet.cells": 4,
                                    "manager.service_s": 0.0,
                                    "rollout.abort_threshold": 0.5})
    assert run(sc, workers=2).summary["workers"] == 1
    assert run(sc.with_overrides({"rollout.abort_threshold": 1.0}),
               workers=2).summary["workers"] == 2


@settings(max_examples=16, deadline=None)
@given(strategy=st.sampled_from(STRATEGIES), rate=st.sampled_from([0.2, 0.5, 1.0]),
       threshold=st.sampled_from([0.0, 0.1, 0.3]), min_finished=st.integers(1, 6),
       seed=st.integers(0, 1000))
def test_after_an_abort_no_device_starts_the_release(strategy, rate, threshold,
                                                     min_finished, seed):
    """Devices that learn of the release at different times (Poisson wake-ups, mean
    2 h, over 2 days): whenever the rollout stops, every device that downloads had its
    go-ahead before (one given just before may start its download just after: the abort
    reaches it at its next contact), and no download starts long after. In packet
    fidelity, where every session steps with the simulation (in flow fidelity a session
    computed ahead of it, by seconds, learns of the abort at its next contact)."""
    sc = load_scenario("baseline", {
        "strategy.name": strategy, "fleet.size": 16, "fleet.cells": 2, "sim.seed": seed,
        "sim.fidelity": "packet",
        "device.wake": "poisson", "device.wake_interval_s": 7200.0,
        "strategy.poll_interval_s": 7200.0, "sim.horizon_s": 2 * 86400.0,
        "update.image_bytes": 20480, "update.failure_rate": rate,
        "rollout.abort_threshold": threshold, "rollout.abort_min_finished": min_finished})
    res = run(sc)
    s, d = res.summary, res.devices
    if s["aborted_at_s"] is None:
        return
    exposed = d[d["exposed"]]
    assert (exposed["t_offered_s"] < s["aborted_at_s"]).all()
    assert (d["t_offered_s"].dropna() < s["aborted_at_s"]).all()
    # a download that starts after the abort follows a go-ahead given before it, within
    # one exchange (RFC 7252 EXCHANGE_LIFETIME, 247 s)
    assert (exposed["t_download_start_s"] < s["aborted_at_s"] + 247.0).all()
    assert s["exposed_devices"] == len(exposed)
    assert np.isfinite(s["aborted_at_s"])


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50), st.integers(0, 50),
                               st.booleans()), max_size=30))
def test_the_peak_of_concurrent_downloads_is_the_largest_overlap_in_a_cell(rows):
    """Against a brute force: at each download's start, the downloads of its cell under
    way (started, not yet ended; one without an end lasts to the horizon, 100 s)."""
    import pandas as pd

    from simulation.results import peak_concurrent_downloads

    horizon = 100.0
    cell = [c for c, _, _, _ in rows]
    start = [float(a) for _, a, _, _ in rows]
    end = [float(a + b) if done else np.nan for _, a, b, done in rows]
    table = pd.DataFrame({"cell": np.array(cell, dtype=np.int64),
                          "t_download_start_s": np.array(start, dtype=float),
                          "t_download_end_s": np.array(end, dtype=float)})
    ends = [horizon if math.isnan(e) else e for e in end]
    brute = max((sum(1 for c2, s2, e2 in zip(cell, start, ends)
                     if c2 == c and s2 <= s < e2) for c, s in zip(cell, start)), default=0)
    assert peak_concurrent_downloads(table, horizon) == brute


def test_every_device_downloading_at_once_is_the_peak():
    """All at once in one cell: the fleet downloads together (the per-cell figure a cap
    would bound)."""
    sc = closed_form(sim__fidelity="flow", fleet__size=12, fleet__cells=1,
                     update__image_bytes=200_000, device__wake_interval_s=10.0)
    s = run(sc).summary
    assert s["cell_peak_concurrent_downloads"] == 12


# -- rollout policies ---------------------------------------------------------------------
def policy_run(fidelity="flow", **sets):
    """device-polling on the closed-form link, 200 devices polling every 10 min, the
    release at 10 min, 6 h."""
    base = dict(sim__fidelity=fidelity, strategy__name="device-polling", fleet__size=200,
                fleet__cells=10, strategy__poll_interval_s=0.0, update__release_s=600.0,
                sim__horizon_s=6 * 3600.0, device__install_s=30.0)
    base.update(sets)
    sc = closed_form(**base)
    return sc, run(sc, trace_devices=200)


@settings(max_examples=12, deadline=None)
@given(base=st.integers(1, 12), factor=st.sampled_from([1.0, 1.5, 2.0]),
       every=st.integers(0, 40), cap=st.integers(1, 30),
       on=st.sampled_from(["notified", "succeeded"]))
def test_the_release_rate_never_exceeds_its_cap_in_any_minute(base, factor, every, cap, on):
    """Exponential rollouts: in every minute (a sliding 60 s window from each release), at most
    `max_per_min` releases; in each minute of the rollout, as many as the minute's rate
    min(cap, floor(base x factor^steps)) allows, steps counting the devices notified
    before it (`notified`) by `increase_every`, while devices remain."""
    sc, res = policy_run(rollout__base_rate_per_min=base, rollout__increment_factor=factor,
                         rollout__increase_every=every, rollout__max_per_min=cap,
                         rollout__increase_on=on)
    t = np.sort(res.devices["t_released_s"].dropna().to_numpy())
    assert len(t) > 0
    # releases 60 s apart are in different minutes: a microsecond of slack for the
    # rounding of 60 j / r
    per_window = np.searchsorted(t, t + 60.0 - 1e-6, side="left") - np.arange(len(t))
    assert per_window.max() <= cap
    if on == "notified":
        minute = np.floor((t - 600.0) / 60.0 + 1e-9).astype(int)
        counts = np.bincount(minute)
        released = 0
        for m, got in enumerate(counts[:-1]):      # the last minute may be cut short
            steps = released // every if every else 0
            rate = min(cap, math.floor(base * factor ** steps + 1e-9))
            assert got == min(rate, 200 - released), (m, got, rate)
            released += got


def test_waves_open_when_the_wave_before_reaches_its_success_threshold():
    """Waves of 5 %, 25 % and the rest, threshold 50 %: wave sizes are the shares of 200
    (10, 40, 150); each wave is released at once when it opens, at the report of the
    wave before's ceil(0.5 x size)-th success (the closed form of `reports`), and the
    trace says so."""
    sc, res = policy_run(rollout__waves="0.05,0.25,1", rollout__success_threshold=0.5)
    d = res.devices
    assert np.bincount(d["rollout_wave"])[1:].tolist() == [10, 40, 150]
    opened = [600.0]
    for w, size in ((1, 10), (2, 40)):
        ids = set(d.loc[d["rollout_wave"] == w, "device_id"])
        successes = [t for t, dev, bad in reports(sc, d) if dev in ids and not bad]
        opened.append(successes[math.ceil(0.5 * size) - 1])
    for w in (1, 2, 3):
        released = d.loc[d["rollout_wave"] == w, "t_released_s"]
        assert released.notna().all() and (released == opened[w - 1]).all()
    lines = [ln for ln in res.trace.splitlines() if "M: wave" in ln]
    assert [ln.split("M: ")[1] for ln in lines] == ["wave 2 opens (25 %)",
                                                     "wave 3 opens (100 %)"]
    assert float(lines[0].split()[0]) == pytest.approx(opened[1])


def test_a_randomised_start_spreads_the_first_contacts_over_the_window():
    """A 30 min window: no device hears of the update before its own draw within the
    window after its release; the draws are uniform over the window."""
    sc, res = policy_run(rollout__start_window_s=1800.0)
    d = res.devices
    delay = Streams(sc.sim.seed).uniforms("rollout-start", d["device_id"]) * 1800.0
    contact = d["t_first_contact_s"].to_numpy()
    heard = ~np.isnan(contact)
    assert heard.sum() > 150
    assert (contact[heard] >= d["t_released_s"].to_numpy()[heard] + delay[heard]).all()
    assert (d["t_released_s"] == 600.0).all()
    from scipy import stats
    assert stats.kstest(delay / 1800.0, "uniform").pvalue > 1e-4


def test_all_at_once_and_one_wave_release_everyone_at_the_release():
    sc, res = policy_run()
    assert (res.devices["t_released_s"] == 600.0).all()
    assert (res.devices["rollout_wave"] == 1).all()


@pytest.mark.parametrize("text", ["0.5,0.2,1", "0.1,0.5", "0,1", "x", "0.2,,1"])
def test_wave_shares_that_are_not_increasing_to_one_are_refused(text):
    from simulation.errors import ScenarioError

    with pytest.raises(ScenarioError, match="rollout.waves"):
        closed_form(rollout__waves=text)


def capped(strategy: str, cap: int, timeout_s: float = 1e6):
    """24 devices in 2 cells waking (and polling) every minute, a 200 kB image on the
    closed-form link (16 s alone, longer shared): all at once, twelve of a cell download
    together."""
    sc = closed_form(sim__fidelity="flow", strategy__name=strategy, fleet__size=24,
                     fleet__cells=2, update__image_bytes=200_000, strategy__poll_interval_s=0.0,
                     device__wake_interval_s=60.0, sim__horizon_s=4 * 3600.0,
                     rollout__cell_cap=cap, rollout__download_timeout_s=timeout_s)
    return run(sc).summary


@settings(max_examples=12, deadline=None)
@given(strategy=st.sampled_from([s for s in STRATEGIES if s != "manager-polling"]),
       cap=st.integers(1, 4))
def test_no_cell_has_more_downloads_at_once_than_its_cap(strategy, cap):
    """Slots that never lapse: at most `cell_cap` devices of a cell between the start
    and the end of their download, exactly that many when all want to download at once,
    and the whole fleet updated all the same (each completed download frees its slot)."""
    s = capped(strategy, cap)
    assert s["cell_peak_concurrent_downloads"] == cap
    assert s["updated_fraction"] == 1.0
    assert capped(strategy, 0)["cell_peak_concurrent_downloads"] > cap


def test_a_slot_held_longer_than_the_timeout_is_given_to_another_device():
    """Slots that lapse after 30 s, shorter than a shared download: the manager gives a
    lapsed slot to the next device while the first still downloads, so more than the cap
    download at once."""
    assert capped("device-initiated", 3, timeout_s=30.0)["cell_peak_concurrent_downloads"] > 3
