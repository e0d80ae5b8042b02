"""An MQTT command published to a keep-alive device in PSM, as Linux and the network treat
it: the broker's PUBLISH is lost in the sleep (or held by the network, with extended
buffering) and resent on Linux's timer; it arrives only with a resend that finds the
device reachable, with the PINGRESP queued behind it; the client's PINGRESP timeout and
Linux's give-up end the connection, and the persistent session delivers the command on
the next one. Both fidelities."""
from __future__ import annotations

import numpy as np
import pytest

from simulation import load_scenario, run
from simulation.engine import World
from simulation.protocols import tcp

K = 60.0            # keep alive (s)
R = 0.05            # fixed round trip (s)
INACTIVITY, ACTIVE = 20.0, 10.0     # the device is reachable this long after a packet


def scenario(fidelity="flow", **sets):
    sc = load_scenario("closed-form", {
        "strategy.name": "mqtt-coap", "fleet.size": 1, "fleet.cells": 1,
        "mqtt.keepalive_s": K, "device.wake_interval_s": 5000.0, "link.rtt_s": R,
        "sim.horizon_s": 5000.0, "sim.fidelity": fidelity,
        "device.inactivity_s": INACTIVITY, "device.active_timer_s": ACTIVE,
        "mqtt.pingresp_timeout_s": 4000.0, **sets})
    phase = float(World(sc).wake_phases()[0])
    # released 100 s after the first wake-up (in the sleep after a PINGREQ); no other
    # wake-up before the horizon
    return sc.with_overrides({"update.release_s": phase + 100.0,
                              "sim.horizon_s": phase + 2500.0}), phase + 100.0


def lines(res):
    return [(float(ln.split()[0]), ln) for ln in res.trace.splitlines()]


def copies(trace):
    return [(t, ln) for t, ln in trace if "MQTT PUBLISH devices/0/cmd" in ln]


def contacts(trace):
    """When the device sent something (each opens a window of reachability)."""
    return [t for t, ln in trace if "D-->M" in ln]


def reachable(t, sent):
    return any(s <= t <= s + INACTIVITY + ACTIVE for s in sent)


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
def test_without_buffering_the_command_arrives_with_a_resend_inside_a_window(fidelity):
    sc, release = scenario(fidelity)
    res = run(sc, trace_devices=1)
    trace = lines(res)
    sent = copies(trace)
    lost = [t for t, ln in sent if "[lost: device in PSM]" in ln]
    delivered = [t for t, ln in sent if "payload:" in ln]
    # the first transmission goes at the release, into the sleep, and is lost
    assert sent[0][0] == pytest.approx(release) and lost[0] == pytest.approx(release)
    assert len(delivered) == 1 and len(lost) >= 2
    # Linux's timer: the gaps between copies double (below the 120 s cap)
    times = [t for t, _ in sent]
    gaps = np.diff(times[:len(lost)])              # (the trace rounds to 1 ms)
    assert np.allclose(gaps[1:] / gaps[:-1], 2.0, rtol=0.01)
    # the copy that arrives is the schedule's next one, and the first inside a window
    # where the device can be reached; every earlier one fell in the sleep
    expected_next = times[len(lost) - 1] + 2 * gaps[-1]
    assert delivered[0] == pytest.approx(expected_next, abs=0.005)
    before = [t for t in contacts(trace) if t < delivered[0]]
    assert reachable(delivered[0], before)
    assert not any(reachable(t, [s for s in before if s <= t]) for t in lost)
    # the PINGREQ that opened the window got no PINGRESP of its own: it came with the
    # command (the broker's answers queue behind the unacknowledged PUBLISH)
    ping = max(t for t, ln in trace if "PINGREQ" in ln and t < delivered[0])
    assert ping > release
    assert not [t for t, ln in trace if "PINGRESP" in ln and ping < t < delivered[0]]
    assert "with the answers queued behind it" in dict(sent)[delivered[0]]
    assert res.devices["t_first_contact_s"].iloc[0] > delivered[0]
    assert res.devices["updated"].all()
    assert res.summary["command_copies_lost"] == len(lost)


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
def test_with_buffering_the_command_arrives_at_the_next_reachability(fidelity):
    sc, release = scenario(fidelity, **{"network.extended_buffering_s": 600.0})
    res = run(sc, trace_devices=1)
    trace = lines(res)
    sent = copies(trace)
    held = [t for t, ln in sent if "[held by the network" in ln]
    delivered = [t for t, ln in sent if "payload:" in ln]
    assert held[0] == pytest.approx(release) and len(delivered) == 1
    ping = min(t for t, ln in trace if "PINGREQ" in ln and t > release)
    # it arrives just after the device's next PINGREQ: half a round trip and the
    # serializations later, not at a resend
    assert 0 < delivered[0] - ping < R
    # every copy held beyond the first reaches the device as a duplicate
    dups = [t for t, ln in trace if "held by the network (duplicate)" in ln]
    assert len(dups) == len(held) - 1


@pytest.mark.parametrize("buffer_s", [0.5, 1.0, 2.0, 5.0])
def test_the_network_holds_each_copy_for_its_buffering_time(buffer_s):
    """Each copy is held for `network.extended_buffering_s` from when it was sent: the
    command arrives at the next PINGREQ if a copy was sent within that time before it,
    else with the resend, as without buffering."""
    base, release = scenario()
    plain = lines(run(base, trace_devices=1))
    ping = min(t for t, ln in plain if "PINGREQ" in ln and t > release)
    recent = [t for t, ln in copies(plain) if ping - buffer_s <= t < ping]
    sc, _ = scenario(**{"network.extended_buffering_s": buffer_s})
    got = [t for t, ln in copies(lines(run(sc, trace_devices=1))) if "payload:" in ln]
    if recent:
        assert 0 < got[0] - ping < R
    else:
        assert got == [t for t, ln in copies(plain) if "payload:" in ln]


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
def test_a_missing_pingresp_makes_the_client_connect_again(fidelity):
    """Reachable for about 1 s after a packet, the device misses every resend; its client
    waits `mqtt.pingresp_timeout_s` for the PINGRESP, then connects again (paho-mqtt's
    rule) and the persistent session delivers the command after the CONNACK."""
    timeout = 200.0
    sc, release = scenario(fidelity, **{"device.inactivity_s": 1.0,
                                        "device.active_timer_s": 0.0,
                                        "mqtt.pingresp_timeout_s": timeout})
    res = run(sc, trace_devices=1)
    trace = lines(res)
    ping = min(t for t, ln in trace if "PINGREQ" in ln and t > release)
    syn = min(t for t, ln in trace if ln.endswith("TCP SYN") and t > release)
    assert syn == pytest.approx(ping + timeout, abs=R)
    connack = min(t for t, ln in trace if "session present: 1" in ln and t > syn)
    delivered = [t for t, ln in copies(trace) if "payload:" in ln]
    assert len(delivered) == 1 and connack < delivered[0] < connack + 1.0
    assert "TCP RST" not in res.trace          # the client left; nobody reset it


def test_after_linux_gives_up_the_next_packet_meets_a_reset():
    """Linux aborts about 924.6 s of resends after the publish (tcp_retries2 = 15),
    silently. The client sends no PINGREQ while one is unanswered, so the device's next
    packet on the dead connection is its next wake-up's report: it is reset, the device
    connects again, and the session delivers the command."""
    sc, release = scenario(**{"device.inactivity_s": 1.0, "device.active_timer_s": 0.0,
                              "device.wake_interval_s": 1400.0})
    res = run(sc, trace_devices=1)
    trace = lines(res)
    sent = copies(trace)
    lost = [t for t, ln in sent if "lost" in ln]
    resends, abort = tcp.linux_retransmissions(lost[1] - lost[0])
    assert len(lost) == 1 + len(resends)            # none reached the device
    assert np.allclose(np.array(lost[1:]) - release, resends, rtol=2e-3)
    rst = min(t for t, ln in trace if "TCP RST" in ln)
    pings = [t for t, ln in trace if "PINGREQ" in ln and release < t < rst]
    assert len(pings) == 1                           # unanswered: the client waits
    wake = release - 100.0 + 1400.0                  # the next wake-up
    assert release + abort < wake and rst == pytest.approx(wake, abs=1.0)
    delivered = [t for t, ln in sent if "payload:" in ln]
    assert len(delivered) == 1 and rst < delivered[0] < rst + 2.0


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
def test_a_resend_that_comes_during_the_devices_own_conversation_is_delivered_after_it(
        fidelity):
    """Seed 1, NB-IoT CE0, 300 s wake-ups, 20 devices: device 8 publishes its report at
    3779.7 s, 0.6 s before the broker's resend of the command (3780.3 s). In packet
    fidelity its conversation is still under way then; the resend finds the device
    connected and is delivered when the conversation is over, as in flow fidelity (the
    broker used to stop resending there, and the device never got the command)."""
    sc = load_scenario("baseline", {"strategy.name": "mqtt-http", "fleet.size": 20,
                                    "fleet.cells": 1, "device.wake_interval_s": 300.0,
                                    "sim.horizon_s": 14400.0, "sim.fidelity": fidelity,
                                    "sim.seed": 1})
    res = run(sc, trace_devices=20)
    trace = [ln for ln in res.trace.splitlines() if " dev 8 " in ln]
    report = next(float(ln.split()[0]) for ln in trace
                  if "devices/8/report" in ln and float(ln.split()[0]) > 3650)
    delivered = next(float(ln.split()[0]) for ln in trace
                     if "devices/8/cmd" in ln and "payload:" in ln)
    assert report == pytest.approx(3779.7, abs=0.05)
    assert report < delivered < report + 2.0
    assert bool(res.devices["updated"].iloc[8])
