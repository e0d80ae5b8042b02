"""The NAT against the manager's reply delay (draft section 4, RFC 4787 timers)."""
from __future__ import annotations

import pytest
from conftest import closed_form

from simulation import run


def push_campaign(fidelity, nat_timeout, reply_delay, seed, nat=True):
    """device-initiated on a fixed link; the manager answers `reply_delay` after the
    device's notification refreshed the binding (its service time); the device stays
    reachable far longer, and CoAP waits long enough not to retransmit meanwhile (a
    retransmission would queue at the manager behind the original). One device, so that
    nobody else queues at the manager either."""
    return run(closed_form(**{
        "sim__fidelity": fidelity, "strategy__name": "device-initiated",
        "nat__enabled": nat, "nat__udp_timeout_s": nat_timeout,
        "manager__service_s": reply_delay, "device__inactivity_s": 300.0,
        "coap__ack_timeout_s": 2 * reply_delay,
        "fleet__size": 1, "sim__seed": seed, "update__release_s": 100.0,
        "update__image_bytes": 2048, "device__wake_interval_s": 1200.0,
        "sim__horizon_s": 6000.0}))


@pytest.mark.parametrize("fidelity", ["packet", "flow"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_push_is_dropped_when_the_binding_expires_before_the_manager_replies(fidelity, seed):
    res = push_campaign(fidelity, nat_timeout=20.0, reply_delay=30.0, seed=seed)
    assert not res.devices["updated"].any()
    assert res.summary["nat_drops"] > 0 and res.summary["failed_nat"] > 0
    assert res.devices["bytes_down"].sum() < 2048   # no image got through


@pytest.mark.parametrize("fidelity", ["packet", "flow"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_push_is_never_dropped_when_the_binding_outlives_the_reply(fidelity, seed):
    res = push_campaign(fidelity, nat_timeout=40.0, reply_delay=30.0, seed=seed)
    assert res.devices["updated"].all()
    assert res.summary["nat_drops"] == 0 and res.summary["failed_nat"] == 0


@pytest.mark.parametrize("fidelity", ["packet", "flow"])
def test_without_nat_nothing_is_dropped(fidelity):
    res = push_campaign(fidelity, nat_timeout=1.0, reply_delay=30.0, seed=1, nat=False)
    assert res.summary["nat_drops"] == 0 and res.devices["updated"].all()


def test_device_polling_is_not_hurt_by_a_short_nat_timeout():
    """Pulls refresh the binding with each request: a timeout longer than the manager's
    service time is enough."""
    res = run(closed_form(**{"strategy__name": "device-polling", "nat__enabled": True,
                             "nat__udp_timeout_s": 5.0, "strategy__poll_interval_s": 0.0,
                             "fleet__size": 3, "update__release_s": 100.0,
                             "update__image_bytes": 2048}))
    assert res.devices["updated"].all() and res.summary["nat_drops"] == 0


@pytest.mark.parametrize("fidelity", ["flow", "packet"])
@pytest.mark.parametrize("refresh", [True, False])
def test_manager_packets_the_nat_admits_refresh_the_binding_only_with_inbound_refresh(
        fidelity, refresh):
    """The manager's Observe GET to a device in PSM: every copy passes the NAT (the
    binding admits until 50 s) and is lost at the radio. Copies go at 0, t0, 3 t0, 7 t0
    and 15 t0 with t0 in [2, 3] s (RFC 7252). With inbound refresh each admitted copy
    renews the 30 s binding, so it lives until 15 t0 + 30 in [60, 75] s; without, until
    50 s. Flow fidelity computes the copies ahead and must book the same refresh as the
    NAT does packet by packet."""
    from conftest import run_exchange

    from simulation.transport import messages
    from simulation.world.manager import ADDRESS

    sc = closed_form(sim__fidelity=fidelity, nat__enabled=True, nat__udp_timeout_s=30.0,
                     nat__inbound_refresh=refresh)
    out, w = run_exchange(sc, messages.observe_link_status(3), connected=False,
                          nat_open_until=50.0)
    assert not out.completed and out.failure == "unreachable" and out.nat_drops == 0
    expires = w.nat.expires_at(0, ADDRESS)
    if refresh:
        assert 60.0 <= expires <= 75.0
    else:
        assert expires == 50.0
