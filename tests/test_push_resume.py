"""A Block1 push that failed, sent again (`update.push_resume`).

RFC 7959 section 2.5: a client without a specific mechanism SHOULD start a Block1 transfer
with block 0, and a server may discard a partial request body; an LwM2M Package write
(Object 5) goes back to Idle. With `restart` the next push starts at block 0 and the device
discards what it got (those bytes become wasted); with `blocks` it resumes after the blocks
the device holds. Pulls always resume.
"""
from __future__ import annotations

import re
from collections import defaultdict

import pandas as pd
import pytest
from conftest import closed_form, run_exchange

from simulation import run
from simulation.session import Session
from simulation.transport import messages

FIDELITIES = ["flow", "packet"]
IMAGE, BLOCK = 2048, 256
N = IMAGE // BLOCK


def lossy_push(fidelity, resume, seed=4):
    """device-initiated, one device on the fixed link, 20 % loss and one retransmission
    per block: a push of the N = 8 blocks fails about two times in three."""
    return run(closed_form(**{
        "strategy__name": "device-initiated", "sim__fidelity": fidelity, "fleet__size": 1,
        "link__loss": 0.2, "coap__max_retransmit": 1, "update__image_bytes": IMAGE,
        "sim__horizon_s": 30_000.0, "update__push_resume": resume, "sim__seed": seed}),
        trace_devices=1)


def pushes(trace: str) -> list[tuple[int, set[int]]]:
    """Each push in the trace (by token, in order): its first block, and the blocks whose
    2.31 / 2.04 answer reached the manager (not lost)."""
    first, done = {}, defaultdict(set)
    for ln in trace.splitlines():
        if m := re.search(r"D<--M: CoAP POST /sw, Token: (0x[0-9a-f]+), Block1: (\d+)/", ln):
            first.setdefault(m.group(1), int(m.group(2)))
        elif (m := re.search(r"D-->M: 2\.(?:31|04) \w+, Token: (0x[0-9a-f]+), Block1: (\d+)/",
                             ln)) and "[lost]" not in ln:
            done[m.group(1)].add(int(m.group(2)))
    return [(b, done[token]) for token, b in first.items()]


@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize("resume", ["restart", "blocks"])
def test_a_failed_push_restarts_at_block_0_or_resumes(fidelity, resume):
    """Pushes interrupted after k_1, k_2, ... blocks, then one that completes: with
    `restart` every push starts at block 0 and the blocks sent add up to sum(k) + N, of
    which sum(k) discarded; with `blocks` each push starts where the last one stopped and
    they add up to N. Exact (counts from the trace)."""
    res = lossy_push(fidelity, resume)
    d, s = res.devices.iloc[0], res.summary
    got = pushes(res.trace)
    assert d["updated"] and d["blocks_held"] == N
    interrupted = [len(blocks) for _, blocks in got[:-1]]
    assert any(k > 0 for k in interrupted)      # a push was cut after some blocks
    assert len(got[-1][1]) == N - (0 if resume == "restart" else sum(interrupted))
    total = sum(len(blocks) for _, blocks in got)
    if resume == "restart":
        assert all(b == 0 for b, _ in got)
        assert total == sum(interrupted) + N
        assert s["blocks_discarded"] == sum(interrupted)
    else:
        held = 0
        for b, blocks in got:
            assert b == held and blocks == set(range(held, held + len(blocks)))
            held += len(blocks)
        assert total == N and s["blocks_discarded"] == 0


@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize("resume", ["restart", "blocks"])
def test_the_discarded_blocks_become_wasted_bytes(fidelity, resume):
    """A push over DTLS that failed after k blocks, booked by the strategy: with `restart`
    the device holds nothing and every byte the push put on the link is wasted (its k
    blocks' payload and record overhead included); with `blocks` the k blocks still count
    as payload (256 B each) and security (a DTLS 1.2 record with a 1-byte Connection ID,
    13 + 1 header, 8 nonce, 8 tag, 1 inner type = 31 B with AES-CCM-8, on each request
    and answer; RFC 9146)."""
    spec = messages.block1_push("/sw", 5000, BLOCK, token=3)
    seen = 0
    for seed in range(20):
        sc = closed_form(sim__fidelity=fidelity, link__loss=0.4, sim__seed=seed,
                         security__mode="dtls-psk", update__push_resume=resume)
        out, w = run_exchange(sc, spec)
        k = out.blocks_done
        if out.completed or k == 0:
            continue
        seen += 1
        w.strategy.pushed(Session(w, 0, 1), out)
        f = w.fleet
        on_link = f.bytes_up[0] + f.bytes_down[0]
        if resume == "restart":
            assert f.blocks_done[0] == 0 and w.blocks_discarded == k
            assert f.payload_bytes[0] == 0 and f.security_bytes[0] == 0
            assert f.wasted_bytes[0] == on_link
        else:
            assert f.blocks_done[0] == k and w.blocks_discarded == 0
            assert f.payload_bytes[0] == BLOCK * k and f.security_bytes[0] == 2 * 31 * k
            assert f.wasted_bytes[0] < on_link - f.payload_bytes[0]
    assert seen >= 5


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_pulls_ignore_push_resume(fidelity):
    """device-polling's Block2 pulls under loss resume whatever `update.push_resume` says:
    identical tables, nothing discarded."""
    def pull(resume):
        return run(closed_form(**{
            "strategy__name": "device-polling", "sim__fidelity": fidelity, "fleet__size": 4,
            "link__loss": 0.2, "coap__max_retransmit": 1, "strategy__poll_interval_s": 0.0,
            "update__push_resume": resume, "sim__horizon_s": 20_000.0}))
    a, b = pull("restart"), pull("blocks")
    assert a.summary["blocks_discarded"] == b.summary["blocks_discarded"] == 0
    assert a.devices["updated"].any()
    pd.testing.assert_frame_equal(a.devices, b.devices)
