"""Tests of simulation.world.nat: timeouts, refresh, filtering (RFC 4787 / RFC 5382)."""
import math

import pytest
from hypothesis import given, strategies as st

from simulation.world.nat import FILTERING, Nat

MGR = ("203.0.113.1", 5683)
SAME_ADDR_OTHER_PORT = ("203.0.113.1", 9999)
OTHER_ADDR = ("198.51.100.7", 5683)


def make(filtering="address-port-dependent", inbound_refresh=False, **kw):
    """A NAT with a 30 s UDP timeout and a 100 s TCP timeout."""
    return Nat(udp_timeout_s=30.0, tcp_timeout_s=100.0, filtering=filtering,
               inbound_refresh=inbound_refresh, **kw)


@pytest.mark.parametrize("filtering", FILTERING)
def test_inbound_before_any_outbound_is_dropped(filtering):
    nat = make(filtering)
    assert not nat.inbound(1, MGR, 0.0)
    assert not nat.inbound(1, MGR, 0.0, proto="tcp")
    assert nat.dropped == 2
    assert nat.expires_at(1, MGR) == -math.inf


@pytest.mark.parametrize("proto,timeout", [("udp", 30.0), ("tcp", 100.0)])
def test_timeout_is_strict_and_chosen_by_proto(proto, timeout):
    nat = make()
    nat.outbound(1, MGR, 10.0, proto=proto)
    assert nat.inbound(1, MGR, 10.0 + timeout - 1e-6, proto=proto)
    assert not nat.inbound(1, MGR, 10.0 + timeout, proto=proto)
    assert not nat.inbound(1, MGR, 10.0 + timeout + 5.0, proto=proto)
    assert nat.expires_at(1, MGR, proto=proto) == 10.0 + timeout


def test_protocols_have_separate_mappings():
    nat = make()
    nat.outbound(1, MGR, 0.0, proto="udp")
    assert not nat.admits(1, MGR, 1.0, proto="tcp")


def test_outbound_refresh_extends_life():
    nat = make()
    nat.outbound(1, MGR, 0.0)
    nat.outbound(1, MGR, 20.0)
    assert nat.inbound(1, MGR, 45.0)
    assert nat.expires_at(1, MGR) == 50.0


@pytest.mark.parametrize("inbound_refresh", [False, True])
@pytest.mark.parametrize("filtering", FILTERING)
def test_inbound_refresh_extends_life_only_when_enabled(filtering, inbound_refresh):
    nat = make(filtering, inbound_refresh)
    nat.outbound(1, MGR, 0.0)
    assert nat.inbound(1, MGR, 20.0)
    assert nat.admits(1, MGR, 40.0) is inbound_refresh
    assert nat.expires_at(1, MGR) == (50.0 if inbound_refresh else 30.0)


def test_dropped_inbound_refreshes_nothing():
    nat = make("address-dependent", inbound_refresh=True)
    nat.outbound(1, MGR, 0.0)
    assert not nat.inbound(1, OTHER_ADDR, 20.0)
    assert not nat.admits(1, MGR, 30.0)


@pytest.mark.parametrize("filtering,same,other_port,other_addr", [
    ("endpoint-independent", True, True, True),
    ("address-dependent", True, True, False),
    ("address-port-dependent", True, False, False),
])
def test_filtering_matrix(filtering, same, other_port, other_addr):
    nat = make(filtering)
    nat.outbound(1, MGR, 0.0)
    assert nat.inbound(1, MGR, 1.0) is same
    assert nat.inbound(1, SAME_ADDR_OTHER_PORT, 1.0) is other_port
    assert nat.inbound(1, OTHER_ADDR, 1.0) is other_addr
    assert nat.dropped == [same, other_port, other_addr].count(False)
    assert not nat.admits(2, MGR, 1.0)  # another device has no mapping


def test_filter_entry_has_its_own_life():
    nat = make("address-port-dependent")
    nat.outbound(1, MGR, 0.0)
    nat.outbound(1, OTHER_ADDR, 20.0)  # refreshes the mapping, not MGR's entry
    assert not nat.admits(1, MGR, 35.0)
    assert nat.admits(1, OTHER_ADDR, 35.0)


def test_dropped_counts_and_admits_has_no_side_effects():
    nat = make(inbound_refresh=True)
    assert not nat.admits(1, MGR, 0.0)
    assert nat.dropped == 0
    nat.outbound(1, MGR, 0.0)
    assert nat.admits(1, MGR, 29.0)
    assert nat.expires_at(1, MGR) == 30.0  # admits did not refresh
    for t in (30.0, 31.0, 40.0):
        nat.inbound(1, MGR, t)
    assert nat.dropped == 3


def test_disabled_nat_admits_everything():
    nat = make(enabled=False)
    for t in (0.0, 1e9):
        assert nat.inbound(1, OTHER_ADDR, t)
        assert nat.inbound(7, MGR, t, proto="tcp")
    assert nat.dropped == 0
    assert nat.expires_at(1, MGR) == math.inf
    assert len(nat) == 0


@pytest.mark.parametrize("filtering", FILTERING)
def test_forget_removes_state(filtering):
    nat = make(filtering)
    for proto in ("udp", "tcp"):
        nat.outbound(1, MGR, 0.0, proto=proto)
        nat.outbound(1, OTHER_ADDR, 0.0, proto=proto)
        nat.outbound(2, MGR, 0.0, proto=proto)
    nat.forget(1)
    assert not nat.admits(1, MGR, 1.0) and not nat.admits(1, MGR, 1.0, proto="tcp")
    assert nat.expires_at(1, OTHER_ADDR) == -math.inf
    assert nat.admits(2, MGR, 1.0, proto="tcp")
    nat.forget(2)
    assert len(nat) == 0


def test_state_is_bounded_by_devices_and_remotes():
    """However many packets pass, a device holds one mapping and one entry per remote."""
    nat = make("address-port-dependent")
    for i in range(1000):
        nat.outbound(1, ("198.51.100.1", i % 3), 10.0 * i)
        nat.inbound(1, ("198.51.100.1", i % 3), 10.0 * i + 1)
    assert len(nat) == 1 + 3
    assert nat.expires_at(1, ("198.51.100.1", 0)) == 10.0 * 999 + 30.0


@pytest.mark.parametrize("kwargs,match", [
    (dict(filtering="symmetric"), "filtering"),
    (dict(udp_timeout_s=0.0), "udp_timeout_s"),
    (dict(tcp_timeout_s=-1.0), "tcp_timeout_s"),
    (dict(udp_timeout_s=math.nan), "udp_timeout_s"),
])
def test_bad_arguments(kwargs, match):
    args = dict(udp_timeout_s=30.0, tcp_timeout_s=100.0,
                filtering="endpoint-independent", inbound_refresh=False) | kwargs
    with pytest.raises(ValueError, match=match):
        Nat(**args)
    with pytest.raises(ValueError, match="proto"):
        make().outbound(1, MGR, 0.0, proto="sctp")


remotes = st.sampled_from([MGR, SAME_ADDR_OTHER_PORT, OTHER_ADDR])
times = st.floats(0.0, 200.0, allow_nan=False)


@given(filtering=st.sampled_from(FILTERING), inbound_refresh=st.booleans(),
       events=st.lists(st.tuples(st.booleans(), remotes, times), max_size=12),
       query=times, remote=remotes, proto=st.sampled_from(["udp", "tcp"]))
def test_expires_at_is_consistent_with_admits(filtering, inbound_refresh, events, query,
                                               remote, proto):
    nat = make(filtering, inbound_refresh)
    for is_outbound, r, t in sorted(events, key=lambda e: e[2]):
        (nat.outbound if is_outbound else nat.inbound)(1, r, t, proto=proto)
    before = nat.expires_at(1, remote, proto)
    assert nat.admits(1, remote, query, proto) == (query < before)
    # outbound-only history: life ends one timeout after the last send to the filter key
    outs = [t for is_out, r, t in events if is_out and (
        filtering == "endpoint-independent"
        or (filtering == "address-dependent" and r[0] == remote[0])
        or r == remote)]
    if not inbound_refresh or all(is_out for is_out, _, _ in events):
        timeout = 30.0 if proto == "udp" else 100.0
        expected = max(outs) + timeout if outs else -math.inf
        assert before == expected
    assert nat.inbound(1, remote, query, proto) == (query < before)


@given(inbound_refresh=st.booleans(), start=times,
       arrivals=st.lists(times, min_size=1, max_size=8))
def test_binding_rule_ahead_of_time_matches_the_nat_packet_by_packet(inbound_refresh, start,
                                                                    arrivals):
    """Flow fidelity computes which inbound copies a binding admits ahead of the
    simulation (`BindingRule.admitted`, and its scalar `inbound`); that must be what the
    NAT does when the same packets pass it one by one."""
    nat = make("address-port-dependent", inbound_refresh)
    nat.outbound(1, MGR, start)
    arrivals = sorted(arrivals)
    rule = nat.rule("udp")
    ahead = rule.admitted([arrivals], [nat.expires_at(1, MGR)])[0].tolist()
    until, scalar = nat.expires_at(1, MGR), []
    for t in arrivals:
        ok, until = rule.inbound(t, until)
        scalar.append(ok)
    one_by_one = [nat.inbound(1, MGR, t) for t in arrivals]
    assert ahead == scalar == one_by_one


def test_binding_rule_refresh_moves_the_expiry_only_when_admitted_and_asked():
    refreshing = make(inbound_refresh=True).rule("udp")
    assert refreshing.inbound(10.0, 20.0) == (True, 40.0)
    assert refreshing.inbound(20.0, 20.0) == (False, 20.0)    # at the expiry: dropped
    assert make().rule("udp").inbound(10.0, 20.0) == (True, 20.0)
    assert Nat(30.0, 100.0, "endpoint-independent", True, enabled=False).rule("tcp").timeout_s \
        == math.inf
