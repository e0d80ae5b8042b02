"""Exchanges against closed forms: block-wise timing, RFC 7252 timers, geometric losses."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import closed_form, run_exchange

from simulation.engine import World
from simulation.transport import messages
from simulation.transport.exchange import flow_outcome
from simulation.validation.references import coap_copies

FIDELITIES = ("packet", "flow")


def serialization(nbytes, rate):
    return 8.0 * np.asarray(nbytes, dtype=float) / rate


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_block2_pull_takes_blocks_times_rtt_plus_serialization(fidelity):
    """No loss, fixed link: each block costs RTT + request and response serialization."""
    sc = closed_form(sim__fidelity=fidelity, update__image_bytes=10240)
    spec = messages.block2_pull("/fw/image", 10240, 256, token=7)
    out, _ = run_exchange(sc, spec)
    link = sc.link
    req, resp = messages._block2_sizes("/fw/image", 10240, 256)
    expected = (len(req) * link.rtt_s + serialization(req, link.uplink_bps).sum()
                + serialization(resp, link.downlink_bps).sum())
    assert len(req) == 40
    assert out.completed and out.blocks_done == 40 and out.retransmissions == 0
    assert out.duration_s == pytest.approx(expected, rel=1e-9)
    assert out.bytes_down == resp.sum() and out.bytes_up == req.sum()


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_block1_push_takes_blocks_times_rtt_plus_serialization(fidelity):
    sc = closed_form(sim__fidelity=fidelity, manager__service_s=0.01)
    spec = messages.block1_push("/sw", 5000, 512, token=3)
    out, _ = run_exchange(sc, spec)
    req, resp = messages._block1_sizes("/sw", 5000, 512)
    link = sc.link
    # the manager handles each response (service_s) before its next block
    expected = (len(req) * (link.rtt_s + 0.01) + serialization(req, link.downlink_bps).sum()
                + serialization(resp, link.uplink_bps).sum())
    assert out.completed and out.blocks_done == 10
    assert out.duration_s == pytest.approx(expected, rel=1e-9)


def test_resumed_transfer_sends_only_the_missing_blocks():
    sc = closed_form(sim__fidelity="flow")
    spec = messages.block2_pull("/fw/image", 10240, 256, token=7)
    out, _ = run_exchange(sc, spec, first_block=30)
    req, resp = messages._block2_sizes("/fw/image", 10240, 256)
    assert out.blocks_done == 10
    assert out.bytes_down == resp[30:].sum()


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_long_rtt_gives_exactly_one_spurious_retransmission(fidelity):
    """RFC 7252: the first copy times out after T0 in [2, 3] s; with an RTT of 5 s the
    second copy goes at T0 < 5, the third would go at 3 T0 >= 6 > 5: exactly one
    retransmission, and the exchange ends with the first copy's response."""
    sc = closed_form(sim__fidelity=fidelity, link__rtt_s=5.0)
    spec = messages.report(64, token=1)
    for seed in range(20):
        out, w = run_exchange(closed_form(sim__fidelity=fidelity, link__rtt_s=5.0,
                                          sim__seed=seed), spec)
        assert out.retransmissions == 1
        # the duplicate is answered too (after the exchange ended: on the device's counters)
        assert w.fleet.msgs_up[0] == 2 and w.fleet.msgs_down[0] == 2
        expected = 5.0 + serialization(spec.req_bytes[0], sc.link.uplink_bps) + \
            serialization(spec.resp_bytes[0], sc.link.downlink_bps)
        assert out.duration_s == pytest.approx(float(expected), rel=1e-9)


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_total_loss_gives_up_after_max_transmit_wait(fidelity):
    """Every packet lost: MAX_RETRANSMIT retransmissions, then give up when the last
    timeout expires, T0 x (2^(MAX_RETRANSMIT+1) - 1) in [62, 93] s (RFC 7252 4.8.2)."""
    durations = []
    for seed in range(30):
        sc = closed_form(sim__fidelity=fidelity, link__loss=0.99, sim__seed=seed)
        out, _ = run_exchange(sc, messages.report(64, token=1))
        if out.completed:
            continue    # the 1 % chance that a copy and its answer got through
        assert out.failure == "timeout"
        assert out.retransmissions == 4
        durations.append(out.duration_s)
    assert len(durations) >= 25
    assert min(durations) >= 2.0 * 31 - 1e-9 and max(durations) <= 3.0 * 31 + 1e-9


def geometric_expectations(p_packet, m):
    """P(give up) and E[retransmissions] with at most m copies (`references.coap_copies`)."""
    return coap_copies(p_packet, m - 1)


def test_retransmissions_follow_the_geometric_law_flow():
    sc = closed_form(link__loss=0.2, link__rtt_s=0.1)
    w = World(sc)
    spec = messages.report(64, token=1)
    rng = np.random.default_rng(12)
    n = 20000
    outs = [flow_outcome(spec, w.ctx, rng, nat_open_s=math.inf, device_gap_s=0.0)
            for _ in range(n)]
    give_up, mean_rtx = geometric_expectations(0.2, 5)
    failed = np.mean([not o.completed for o in outs])
    rtx = np.array([o.retransmissions for o in outs])
    assert abs(failed - give_up) < 4 * math.sqrt(give_up * (1 - give_up) / n)
    assert abs(rtx.mean() - mean_rtx) < 4 * rtx.std() / math.sqrt(n)
    # RFC 7252 timer rule: a block done after a retransmissions waited T0 (2^a - 1) more,
    # with T0 uniform in [2, 3]: its mean is 2.5 (2^a - 1), bounds hold sample by sample
    d = spec.req_bytes[0] * 8 / sc.link.uplink_bps + 0.1 + spec.resp_bytes[0] * 8 / \
        sc.link.downlink_bps
    for a in (1, 2):
        wait = np.array([o.duration_s - d for o in outs if o.completed and
                         o.retransmissions == a])
        assert wait.min() >= 2.0 * (2 ** a - 1) - 1e-9
        assert wait.max() <= 3.0 * (2 ** a - 1) + 1e-9
        se = 0.5 / math.sqrt(3) * (2 ** a - 1) / math.sqrt(len(wait))
        assert abs(wait.mean() - 2.5 * (2 ** a - 1)) < 4 * se


def test_retransmissions_follow_the_geometric_law_packet():
    n = 600
    rtx, failed = [], 0
    for seed in range(n):
        sc = closed_form(sim__fidelity="packet", link__loss=0.2, link__rtt_s=0.1,
                         sim__seed=seed)
        out, _ = run_exchange(sc, messages.report(64, token=1))
        rtx.append(out.retransmissions)
        failed += not out.completed
    give_up, mean_rtx = geometric_expectations(0.2, 5)
    rtx = np.array(rtx)
    assert abs(rtx.mean() - mean_rtx) < 4 * rtx.std() / math.sqrt(n)
    assert abs(failed / n - give_up) < 4 * math.sqrt(give_up * (1 - give_up) / n) + 1 / n


@pytest.mark.parametrize("loss,rtt,nat_open,gap,refresh", [
    (0.0, 1.0, math.inf, 0.0, False), (0.3, 1.5, 5.0, 1.0, False),
    (0.5, 4.0, 20.0, 25.0, True), (0.2, 0.5, -1.0, 0.0, False),
    (0.1, 2.0, 100.0, 27.0, False)])
def test_scalar_and_array_paths_agree_exactly(loss, rtt, nat_open, gap, refresh):
    """One-block exchanges have a plain-float path; it must equal the array code."""
    sc = closed_form(link__loss=loss, link__rtt_s=rtt, nat__enabled=True,
                     nat__udp_timeout_s=10.0, nat__inbound_refresh=refresh,
                     manager__service_s=0.2, link__preset="nbiot-ce0")
    w = World(sc)
    for seed in range(300):
        for spec in (messages.report(64, 3), messages.observe_link_status(3)):
            a = flow_outcome(spec, w.ctx, np.random.default_rng(seed), nat_open_s=nat_open,
                             device_gap_s=gap)
            b = flow_outcome(spec, w.ctx, np.random.default_rng(seed), nat_open_s=nat_open,
                             device_gap_s=gap, scalar=False)
            for f in dataclasses.fields(a):
                x, y = getattr(a, f.name), getattr(b, f.name)
                if isinstance(x, float) and math.isnan(x):
                    assert math.isnan(y), f.name
                elif isinstance(x, float):
                    assert x == pytest.approx(y, abs=1e-9), f.name
                else:
                    assert x == y, f.name
