"""Confirmable exchanges between a device and its peer, and their flow-level outcome.

An *exchange* is a sequence of CoAP CON request/response pairs, one per block (a plain
request is a one-block exchange), run stop-and-wait as RFC 7959 block-wise transfer does.
Either the device or its peer (the manager) initiates it. One attempt of one block goes:

    sender transmits the request -> (one-way rtt/2) -> receiver -> response -> (rtt/2) -> sender

with these rules, shared by both fidelities (`packet.py` runs them message by message):

* The initial timeout of each block is uniform in [ACK_TIMEOUT, ACK_TIMEOUT x
  ACK_RANDOM_FACTOR] and doubles at each retransmission; after MAX_RETRANSMIT
  retransmissions the sender gives up when the last timeout expires (RFC 7252 §4.2).
  A response to any copy completes the block, even after a retransmission was sent.
* Every packet is lost on the radio with probability `loss`, independently.
* The NAT sits next to the manager: a device packet refreshes the binding when it reaches
  the manager, a manager packet must find the binding alive when it leaves (the rule is
  the NAT's, `world/nat.py` `BindingRule`). Each message the manager receives waits in its
  FIFO queue, shared with the fleet (`world/manager.py` `FifoQueue`), and costs it
  `service_s` before it answers or sends the next block (without a queue, `service_s`
  alone). Each copy is a message: a retransmission that reaches the manager while the
  first copy still waits queues too.
* A packet for a device waits as its radio's state says (`world/radio.py`: the next
  on-duration of connected-mode DRX, or paging and connection set-up when idle); a device
  in PSM cannot be reached (the attempt is lost). The receiver answers at once.
* A peer that cannot match the device's records to a DTLS session
  (`ExchangeContext.peer_answers` false: the device's port changed, no Connection ID)
  drops every request silently: no answer, no alert, no service time, and the binding it
  knows is not refreshed (the copies opened a binding at a port it does not know). The
  device retransmits, gives up, and the exchange fails with "dtls".

Every byte an exchange puts on the device's radio link (`bytes_up` + `bytes_down`) is one of
payload, security, wasted or header bytes (`Outcome`): a block's request and response each
count once, from their first copy on the link, and only if the block completed; every
further copy, and every packet of a block that failed, is wasted.

`flow_outcome` computes a whole exchange from these rules with numpy, without simulation
events: the draws of every attempt of every block at once, then the first completing
attempt of each block, then the first block that fails. Its approximations, which only
matter far from the defaults, are stated where they are made.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulation.world.link import LinkModel
from simulation.world.nat import BindingRule
from simulation.world.radio import RadioModel

DEVICE, PEER = "device", "peer"

#: blocks of an exchange are computed together only if the peer's queue would make none of
#: their messages wait longer than this share of the link's mean round trip (flow_outcome)
QUEUE_TOLERANCE = 0.01


@dataclass(frozen=True)
class ExchangeContext:
    """Everything an exchange needs to know about the run, resolved once."""

    link: LinkModel
    ack_timeout_s: float
    ack_random_factor: float
    max_retransmit: int
    service_s: float
    nat: BindingRule              # the device's UDP binding (`NO_NAT` without a NAT)
    radio: RadioModel             # when a packet can reach the device
    record_bytes: int = 0         # security record overhead on every protected packet
    peer_answers: bool = True     # False: the peer drops the device's requests silently

    @property
    def queue_tolerance_s(self) -> float:
        """The longest wait in the peer's queue that flow fidelity lets a message have
        without stepping message by message: `QUEUE_TOLERANCE` of the mean round trip (s)."""
        return QUEUE_TOLERANCE * self.link.rtt_s

    def initial_timeouts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """RFC 7252 §4.2 initial timeouts, one per block (s)."""
        return rng.uniform(self.ack_timeout_s, self.ack_timeout_s * self.ack_random_factor, n)


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    """What is exchanged: wire bytes (IP header and up) of each block's request and response,
    and the application payload each carries (`req_payload`, `resp_payload`: the CoAP
    payload, without the payload marker; zeros when not given).

    `trace` gives, for a block number, the draft-notation text of its request and response.
    `bulk` marks an image transfer whose downlink share of the cell is modelled.
    `handshake` marks a security handshake: every byte of its flights is security overhead,
    and a handshake that fails wastes all of its flights (it starts again from the first),
    where a block-wise transfer that fails wastes only the block that failed (RFC 7959: each
    block is a request/response of its own, and the device resumes from the blocks it holds).
    """

    initiator: str
    req_bytes: np.ndarray
    resp_bytes: np.ndarray
    trace: object = None
    bulk: bool = False
    name: str = ""
    protected: bool = True      # carried in security records (not a handshake flight)
    req_payload: np.ndarray | None = None
    resp_payload: np.ndarray | None = None
    handshake: bool = False

    def __post_init__(self):
        for name in ("req_payload", "resp_payload"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(len(self.req_bytes), dtype=np.int64))

    @property
    def blocks(self) -> int:
        return len(self.req_bytes)

    def down_bytes_per_block(self) -> np.ndarray:
        return self.resp_bytes if self.initiator == DEVICE else self.req_bytes


@dataclass(slots=True)
class Outcome:
    """The result of an exchange (times relative to its start, seconds; bytes from the IP
    header up, on the device's radio link, in both directions).

    The bytes split four ways, `bytes_up + bytes_down = payload_bytes + security_bytes +
    wasted_bytes + header bytes` (header bytes are the rest):

    * wasted_bytes: every byte of every copy of a message after the first on the device's
      link (a retransmission, or a receiver's answer to a duplicate), and of every packet
      of a block that did not complete (NAT drop, device unreachable, retries exhausted,
      dropped by the peer; for a failed handshake, of all its flights). A copy the NAT
      dropped, or that never reached the radio of a device in PSM, is not on the link and
      counts nowhere.
      Blocks of a push the device later discards (`update.push_resume = restart`) become
      wasted, all of their first copies' bytes, when they are discarded
      (`Session.discard_blocks`; the exchange's own outcome is not changed).
    * payload_bytes: of the first copy of each message of a completed block, the
      application payload it carries (`ExchangeSpec.req_payload` / `resp_payload`).
    * security_bytes: of the same first copies, the security record overhead of a
      protected message (`ExchangeContext.record_bytes`), or every byte of a handshake
      flight.
    """

    blocks_done: int = 0
    completed: bool = False
    failure: str | None = None      # "nat", "unreachable", "timeout" or "dtls" (the peer
                                    # dropped every request: no DTLS session) when not
                                    # completed
    duration_s: float = 0.0         # uncontended duration
    path_down_s: float = 0.0        # downlink time in the cell (serialization, queueing)
                                    # on the completing path
    queued_down_s: float = 0.0      # ... of which queueing behind the cell's other
                                    # packets (flow fidelity's `Cell.found_stretches`)
    air_down_s: float = 0.0         # all downlink airtime (retransmissions, lost copies)
    first_delivery_s: float = math.nan  # first request delivered to the receiver
    first_served_s: float = math.nan    # ... and, at the manager, through its queue
    first_downlink_s: float = math.nan  # first block's payload leaves its sender
    woke_s: float = math.nan        # the radio, idle, was paged: its set-up ends then
    last_nat_refresh_s: float = math.nan  # last device packet reaching the NAT
    last_inbound_s: float = math.nan  # last peer packet the NAT admitted (it refreshes the
                                      # binding where inbound packets do, `BindingRule`)
    device_tx_s: float = 0.0
    bytes_up: int = 0
    bytes_down: int = 0
    payload_bytes: int = 0
    security_bytes: int = 0
    wasted_bytes: int = 0
    msgs_up: int = 0
    msgs_down: int = 0
    retransmissions: int = 0
    nat_drops: int = 0
    manager_in: int = 0             # messages reaching the manager
    manager_out: int = 0            # messages the manager sends
    manager_bytes_out: int = 0
    start_s: float = 0.0            # absolute start, set by the session
    events: list | None = None      # per-message trace events when asked, see _events


def flow_outcome(spec: ExchangeSpec, ctx: ExchangeContext, rng: np.random.Generator, *,
                 nat_open_s: float, device_gap_s: float, first_block: int = 0,
                 last_block: int | None = None, cell=None,
                 with_events: bool = False, scalar: bool = True,
                 connected_for_s: float | None = None,
                 connected_after_s: float | None = None,
                 paging_phase: float = 0.0, start_s: float = 0.0,
                 queue=None, partial: bool = False) -> Outcome:
    """Outcome of blocks `first_block` to `last_block` (excluded; default: all) of `spec`,
    computed without events.

    nat_open_s: seconds from the start during which the NAT admits the manager's packets
        (as `Nat.expires_at` - now); ignored for device-initiated exchanges, whose own
        requests refresh the binding.
    device_gap_s: seconds since the device's last radio activity at the start.
    connected_for_s: the device's connected period after that activity (`Radios`);
        connected_after_s: after its own next packet. Default: the inactivity timer.
    paging_phase, start_s: the device's paging phase and the exchange's absolute start
        (s): a packet for an idle device waits for its next paging occasion. (The
        paging draws of `_draws` are still made, so that no other draw moves, but not
        used.)
    cell: the device's cell (`world/cell.py` Cell), or None. Each block's downlink copies
        take `Cell.found_stretches` times their serialization to get through it (one draw
        per block: a copy sent while the cell is busy finds it still busy); the cell's
        airtime is still the serialization time of every copy sent, and `queued_down_s`
        says how much of `path_down_s` the stretch added.
    scalar: compute a one-block exchange with plain floats (the same draws and rules,
        several times faster than numpy on arrays of one row).
    queue: the peer's FIFO queue (`world/manager.py`), in which every message reaching the
        peer is booked at its absolute arrival; without one, each costs `service_s`.
        Blocks are computed together when the queue would make none of their messages
        wait longer than `QUEUE_TOLERANCE` of a round trip, else one after the other, each
        message waiting as long as the queue says (the same draws either way).
    partial: computing blocks one after the other, stop before a block (past the first)
        that would start while the queue makes a message wait longer than that: the
        outcome covers the blocks before it (`blocks_done`), and is `completed` if they
        did. The caller goes on later, when the fleet's other messages have been booked.
    """
    link, radio = ctx.link, ctx.radio
    if connected_for_s is None:
        connected_for_s = radio.inactivity_s
    if connected_after_s is None:
        connected_after_s = radio.inactivity_s
    record = ctx.record_bytes if spec.protected else 0
    req = spec.req_bytes[first_block:last_block] + record
    resp = spec.resp_bytes[first_block:last_block] + record
    n, m = len(req), ctx.max_retransmit + 1
    device_sends = spec.initiator == DEVICE
    up_rate, down_rate = link.uplink_bps, link.downlink_bps
    if n == 1 and scalar and not with_events and (cell is None or cell.queue <= 0.0):
        # the same draws, in the same layout, as the array code below
        t0, rtt, lost_req, lost_resp, _ = _draws(ctx, rng, 1, m)
        rq, rs = int(req[0]), int(resp[0])
        out = _one_block(ctx, device_sends, float(t0[0]), rtt[0].tolist(),
                         lost_req[0].tolist(), lost_resp[0].tolist(),
                         rq, rs, 8.0 * rq / (up_rate if device_sends else down_rate),
                         8.0 * rs / (down_rate if device_sends else up_rate),
                         nat_open_s, device_gap_s, connected_for_s, connected_after_s,
                         paging_phase, start_s, queue)
        _split_block(out, spec, record, first_block)
        return out
    s_req = 8.0 * req / (up_rate if device_sends else down_rate)
    s_resp = 8.0 * resp / (down_rate if device_sends else up_rate)
    t0, rtt, lost_req, lost_resp, _ = _draws(ctx, rng, n, m)
    found = cell.found_stretches(rng, n, ctx.link.servers) if cell is not None else None
    stretch = np.ones(n) if found is None else found
    args = (spec, ctx, device_sends, req, resp, s_req, s_resp, stretch, t0, rtt,
            lost_req, lost_resp, nat_open_s, device_gap_s, connected_for_s,
            connected_after_s, paging_phase, start_s, first_block, with_events)
    if queue is None or queue.service_s <= 0.0:
        return _blocks_together(*args)
    out, arrivals = _blocks_together(*args, arrivals=True)
    if all(queue.wait(t) <= ctx.queue_tolerance_s for t in arrivals):
        for t in arrivals:
            queue.sojourn(t)
        return out
    return _blocks_in_turn(*args, queue, partial)


def _split_block(out: Outcome, spec: ExchangeSpec, record: int, block: int) -> None:
    """`_split` of a one-block outcome: what one copy of each message of block `block`
    counts, if it completed."""
    if out.completed:
        nbytes, payload, security = credited(spec, record, block, block + 1)
        _split(out, nbytes, payload, security)
    else:
        _split(out, 0, 0, 0)


def _blocks_in_turn(spec, ctx, device_sends, req, resp, s_req, s_resp, stretch, t0, rtt,
                    lost_req, lost_resp, nat_open_s, device_gap_s, connected_for_s,
                    connected_after_s, paging_phase, start_s, first_block, with_events,
                    queue, partial=False) -> Outcome:
    """The blocks of `flow_outcome` one after the other (`_one_block`), each from the
    absolute time the block before it ended, so that every message the peer gets waits in
    its `queue` as long as the queue says when it is booked. The later blocks' NAT binding
    and idle gap follow the approximations of `_blocks_together`."""
    link = ctx.link
    record = ctx.record_bytes if spec.protected else 0
    total = None
    t = 0.0
    for j in range(len(req)):
        later = j > 0
        if later and partial and queue.wait(start_s + t) > ctx.queue_tolerance_s:
            break
        part = _one_block(
            ctx, device_sends, float(t0[j]), rtt[j].tolist(), lost_req[j].tolist(),
            lost_resp[j].tolist(), int(req[j]), int(resp[j]), float(s_req[j]),
            float(s_resp[j]),
            ctx.nat.refreshed(-ctx.service_s) if later else nat_open_s,
            link.rtt_s / 2 + ctx.service_s if later else device_gap_s,
            connected_after_s if later else connected_for_s, connected_after_s,
            paging_phase, start_s + t, queue, first_block + j, with_events,
            float(stretch[j]))
        _split_block(part, spec, record, first_block + j)
        if part.events:
            part.events = [(t,) + e[1:] for e in part.events]
        part.start_s = t
        if total is None:
            total = part
            total.start_s = 0.0
        else:
            merge(total, part)
            if total.events is not None:
                total.events.extend(part.events or [])
        t = total.duration_s
        if not part.completed:
            break
    if spec.handshake and not total.completed:     # a handshake that fails wastes it all
        total.wasted_bytes = total.bytes_up + total.bytes_down
        total.payload_bytes = total.security_bytes = 0
    return total


def _blocks_together(spec, ctx, device_sends, req, resp, s_req, s_resp, stretch, t0, rtt,
                     lost_req, lost_resp, nat_open_s, device_gap_s, connected_for_s,
                     connected_after_s, paging_phase, start_s, first_block, with_events,
                     arrivals: bool = False):
    """The blocks of `flow_outcome` computed together with numpy, each message the peer
    gets costing it `service_s`; with `arrivals`, also the absolute times at which those
    messages reach the peer (to book them in its queue)."""
    link, radio = ctx.link, ctx.radio
    record = ctx.record_bytes if spec.protected else 0
    n, m = len(req), ctx.max_retransmit + 1
    sq, sp = s_req[:, None], s_resp[:, None]          # per block, as columns
    if device_sends:                # the cell's queue stretches the downlink message
        sp = sp * stretch[:, None]
    else:
        sq = sq * stretch[:, None]
    off = t0[:, None] * (2.0 ** np.arange(m) - 1.0)  # send time of each attempt in a block
    give_up = t0 * (2.0 ** m - 1.0)

    svc = ctx.service_s
    answers = ctx.peer_answers or not device_sends
    if device_sends:
        # The request refreshed the binding `svc` before the response leaves the manager
        # (a peer that drops the request sends nothing for the NAT to drop).
        nat_ok = np.full((n, m), not answers or ctx.nat.inbound(svc,
                                                                 ctx.nat.refreshed(0.0))[0])
        # The device last transmitted this request; approximation: earlier copies' traffic
        # in between is ignored when deciding whether it went idle.
        gap = rtt + svc + sq
    else:
        # Block 0's copies find the binding as it is; each later block's, as the previous
        # block's response left it, `svc` before the block starts.
        open_until = np.full(n, ctx.nat.refreshed(-svc))
        open_until[0] = nat_open_s
        nat_ok = ctx.nat.admitted(off, open_until)
        # Approximation: after block 0 the device last transmitted its previous response,
        # one mean one-way delay plus `svc` before the block starts.
        since = np.full(n, link.rtt_s / 2 + svc)
        since[0] = device_gap_s
        gap = since[:, None] + off + rtt / 2
    lasting = np.full((n, 1), connected_after_s)
    if not device_sends:
        lasting[0] = connected_for_s
    # when each copy reaches the device (the blocks' starts are not known yet: past block
    # 0 the device is connected and paging does not matter)
    at_device = start_s + off + (sq + rtt + svc if device_sends else rtt / 2)
    connected, reachable, page = radio.downlink_waits(
        gap, lasting, radio.paging_positions(at_device, paging_phase))

    if device_sends:
        # request on air -> manager (NAT) -> response on air
        through = ~lost_req & nat_ok & reachable & answers   # response reaches the radio
        arrive = off + sq + rtt + svc + page + sp
        success = through & ~lost_resp
        first_at = off + sq + rtt / 2                 # request reaches the manager
        first_ok = ~lost_req
    else:
        # manager -> NAT -> request on air -> device -> response on air -> manager
        through = nat_ok & reachable                  # request goes on the radio
        arrive = off + rtt + page + sq + sp + svc     # the manager handles the response
        success = through & ~lost_req & ~lost_resp
        first_at = off + rtt / 2 + page + sq          # request reaches the device
        first_ok = through & ~lost_req

    arrival = np.where(success, arrive, np.inf)
    runmin = np.minimum.accumulate(arrival, axis=1)
    earlier = np.empty_like(runmin)
    earlier[:, 0] = np.inf
    earlier[:, 1:] = runmin[:, :-1]
    sent = off < earlier                              # no response yet when this copy is due
    done_at = np.where(sent, arrival, np.inf).min(axis=1)
    ok = done_at <= give_up

    failed = np.flatnonzero(~ok)
    last = failed[0] if len(failed) else n - 1        # last block attempted
    k = last + 1
    per_block = np.where(ok, done_at, give_up)[:k]
    starts = np.concatenate(([0.0], np.cumsum(per_block)[:-1]))

    out = Outcome()
    out.blocks_done = int(last if len(failed) else n)
    out.completed = not len(failed)
    s_, thr, fok = sent[:k], through[:k], first_ok[:k]
    n_sent = s_.sum(axis=1)
    n_req_rx = (s_ & fok).sum(axis=1) if device_sends else (s_ & thr).sum(axis=1)
    if device_sends:
        n_resp_tx = (s_ & thr).sum(axis=1)           # responses put on the radio
        out.bytes_up = int((n_sent * req[:k]).sum())
        out.msgs_up = int(n_sent.sum())
        out.bytes_down = int((n_resp_tx * resp[:k]).sum())
        out.msgs_down = int(n_resp_tx.sum())
        out.device_tx_s = float((n_sent * s_req[:k]).sum())
        out.air_down_s = float((n_resp_tx * s_resp[:k]).sum())
        out.nat_drops = int((s_ & ~lost_req[:k] & ~nat_ok[:k]).sum())
    else:
        n_resp_tx = (s_ & thr & ~lost_req[:k]).sum(axis=1)  # device answered
        out.bytes_down = int((n_req_rx * req[:k]).sum())
        out.msgs_down = int(n_req_rx.sum())
        out.bytes_up = int((n_resp_tx * resp[:k]).sum())
        out.msgs_up = int(n_resp_tx.sum())
        out.device_tx_s = float((n_resp_tx * s_resp[:k]).sum())
        out.air_down_s = float((n_req_rx * s_req[:k]).sum())
        out.nat_drops = int((s_ & ~nat_ok[:k]).sum())
    out.retransmissions = int((n_sent - 1).sum())
    # the first `kept` blocks completed: one copy of each of their messages is not wasted
    kept = 0 if (spec.handshake and not out.completed) else out.blocks_done
    _split(out, *credited(spec, record, first_block, first_block + kept))
    if device_sends:
        got = (s_ & ~lost_req[:k]).sum(axis=1)      # the manager answers every copy it gets
        out.manager_in = int(got.sum())
        out.manager_out = out.manager_in if answers else 0
        out.manager_bytes_out = int((got * resp[:k]).sum()) if answers else 0
    else:
        out.manager_out = int(n_sent.sum())
        out.manager_bytes_out = int((n_sent * req[:k]).sum())
        out.manager_in = int((s_ & success[:k]).sum())
    down_path = np.broadcast_to(sp if device_sends else sq, off.shape)[:k]
    winner = np.argmin(np.where(sent[:k], arrival[:k], np.inf), axis=1)
    out.path_down_s = float(np.where(ok[:k], down_path[np.arange(k), winner], 0.0).sum())
    bare = s_resp[:k] if device_sends else s_req[:k]
    out.queued_down_s = float(np.where(ok[:k], (stretch[:k] - 1.0) * bare, 0.0).sum())
    out.duration_s = float(per_block.sum())

    # the peer's packets the NAT admitted: its answers to the copies it got, or its own
    # requests; they pass the NAT (next to the peer) as they leave it
    if device_sends:
        admitted = s_ & ~lost_req[:k] & nat_ok[:k] & answers
        t_in = off[:k] + sq[:k] + rtt[:k] / 2 + svc
    else:
        admitted = s_ & nat_ok[:k]
        t_in = off[:k]
    if admitted.any():
        out.last_inbound_s = float((starts[:, None] + t_in)[admitted].max())
    if not device_sends:        # block 0's earliest copy that had to page the device
        paged = np.flatnonzero(s_[0] & thr[0] & ~connected[0])
        if len(paged):
            out.woke_s = float(np.min(off[0, paged] + rtt[0, paged] / 2 + page[0, paged]))
    hit0 = np.flatnonzero(s_[0] & fok[0])
    if len(hit0) and answers:
        out.first_delivery_s = float(first_at[0, hit0[0]])
        out.first_served_s = out.first_delivery_s + (svc if device_sends else 0.0)
    dl0 = np.flatnonzero(s_[0] & thr[0])
    if len(dl0):    # the earliest payload to leave (a later copy may overtake: RTTs vary)
        out.first_downlink_s = float(np.min(off[0, dl0] + (s_req[0] + rtt[0, dl0] / 2 + svc
                                                           if device_sends else 0.0)))
    # The last device packet to reach the NAT: the request or response that completed the
    # last finished block (approximation: later duplicates are ignored).
    fin = np.flatnonzero(ok[:k])
    if len(fin):
        j = fin[-1]
        a = int(np.argmin(np.where(sent[j], arrival[j], np.inf)))
        at_nat = (off[j, a] + s_req[j] + rtt[j, a] / 2 if device_sends
                  else done_at[j] - svc)
        out.last_nat_refresh_s = float(starts[j] + at_nat)
    if not out.completed:
        f = last
        drop = s_[f] & (~nat_ok[f] if not device_sends else (~lost_req[f] & ~nat_ok[f]))
        out.failure = ("dtls" if not answers else "nat" if drop.any() else
                       "unreachable" if (s_[f] & ~reachable[f]).any() else "timeout")
    if with_events:
        out.events = _events(starts, off[:k], s_, arrive[:k], rtt[:k], page[:k],
                             np.broadcast_to(sq, off.shape)[:k],
                             thr, fok, success[:k], device_sends, svc, first_block, answers)
    if not arrivals:
        return out
    # the messages the peer got: each copy of a request (device first), or of a response
    if device_sends:
        got, at_peer = s_ & ~lost_req[:k] & answers, off[:k] + sq[:k] + rtt[:k] / 2
    else:
        got, at_peer = s_ & success[:k], arrive[:k] - svc
    return out, np.sort((start_s + starts[:, None] + at_peer)[got]).tolist()


def merge(total: Outcome, part: Outcome) -> Outcome:
    """Append `part`, an exchange's continuation that started at `part.start_s`, to
    `total` (in place); returns `total`."""
    shift = part.start_s - total.start_s
    for name in ("blocks_done", "path_down_s", "queued_down_s", "air_down_s", "device_tx_s",
                 "bytes_up", "bytes_down", "payload_bytes", "security_bytes", "wasted_bytes",
                 "msgs_up", "msgs_down", "retransmissions", "nat_drops", "manager_in",
                 "manager_out", "manager_bytes_out"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for name in ("first_delivery_s", "first_served_s", "first_downlink_s", "woke_s"):
        if math.isnan(getattr(total, name)):
            setattr(total, name, shift + getattr(part, name))
    for name in ("last_nat_refresh_s", "last_inbound_s"):
        if not math.isnan(getattr(part, name)):
            setattr(total, name, shift + getattr(part, name))
    total.completed, total.failure = part.completed, part.failure
    total.duration_s = shift + part.duration_s
    return total


def credited(spec: ExchangeSpec, record: int, first: int, last: int) -> tuple[int, int, int]:
    """What one copy of each message of blocks `first` to `last` (excluded) of `spec` counts
    once those blocks completed (`Outcome`): its wire bytes (with `record` bytes of security
    record on each message), of which payload and security bytes."""
    n = last - first
    wire = int(spec.req_bytes[first:last].sum() + spec.resp_bytes[first:last].sum()) \
        + 2 * record * n
    payload = int(spec.req_payload[first:last].sum() + spec.resp_payload[first:last].sum())
    return wire, payload, wire if spec.handshake else 2 * record * n


def _split(out: Outcome, useful: int, payload: int, security: int) -> None:
    """Split an outcome's bytes (`Outcome`): `useful` are the bytes of one copy of each
    message of its completed blocks, of which `payload` and `security`; the rest of what
    it put on the link is wasted."""
    out.payload_bytes = payload
    out.security_bytes = security
    out.wasted_bytes = out.bytes_up + out.bytes_down - useful


def _draws(ctx: ExchangeContext, rng: np.random.Generator, n: int, m: int):
    """All random draws of n blocks x m attempts, in two generator calls: initial timeouts
    (n), round-trip delays, request and response losses, and paging phases (n x m each;
    unused since paging occasions are fixed per device, but drawn so that the layout,
    and every other draw, stays as it was)."""
    u = rng.random((n, 1 + 3 * m))
    lo = ctx.ack_timeout_s
    t0 = lo + (lo * ctx.ack_random_factor - lo) * u[:, 0]
    rtt = ctx.link.rtt_from_normal(rng.standard_normal((n, m)))
    loss = ctx.link.loss
    return (t0, rtt, u[:, 1:1 + m] < loss, u[:, 1 + m:1 + 2 * m] < loss, u[:, 1 + 2 * m:])


def _one_block(ctx, device_sends, t0, rtt, lost_req, lost_resp, req, resp, s_req,
               s_resp, nat_open_s, device_gap_s, connected_for_s,
               connected_after_s, paging_phase, start_s, queue=None, block=0,
               with_events=False, stretch=1.0) -> Outcome:
    """`flow_outcome` of one block with plain floats: the same rules, line by line, as the
    array code (tests check that both give identical outcomes without a queue). With the
    peer's `queue` (`world/manager.py` FifoQueue), each message reaching the peer is booked
    in it, copy after copy, at its absolute arrival (`start_s` is the block's start), and
    waits there as long as the queue says. `block`: the block's number in its spec, for
    the trace events (`with_events`); `stretch`: how many times its serialization the
    downlink message takes to get through its cell (`flow_outcome` cell_queue)."""
    m = len(rtt)
    air_req, air_resp = s_req, s_resp       # airtime; the timing below is stretched
    if device_sends:
        s_resp = s_resp * stretch
    else:
        s_req = s_req * stretch
    svc, nat, radio = ctx.service_s, ctx.nat, ctx.radio
    answers = ctx.peer_answers or not device_sends
    lasting = connected_after_s if device_sends else connected_for_s
    give_up = t0 * (2.0 ** m - 1.0)
    open_until = nat_open_s
    inf = math.inf
    arrival, offs, fates = [], [], []
    best = inf
    for i in range(m):
        off = t0 * (2.0 ** i - 1.0)
        if off >= best:         # answered before this copy was due: it is not sent
            break
        r, lq, lr = rtt[i], lost_req[i], lost_resp[i]
        if device_sends:
            # the manager serves every copy it gets (the peer that drops it, none)
            served = not lq and answers
            sv = (queue.sojourn(start_s + off + s_req + r / 2) if served and queue
                  is not None else svc)
            nat_ok = not answers or nat.inbound(sv, nat.refreshed(0.0))[0]
            gap = r + sv + s_req
        else:
            sv = svc
            nat_ok, open_until = nat.inbound(off, open_until)
            gap = device_gap_s + off + r / 2
        at_device = start_s + off + (s_req + r + sv if device_sends else r / 2)
        wait = radio.downlink_wait(gap, lasting,
                                   radio.paging_position(at_device, paging_phase))
        reachable = wait is not None
        page = wait if reachable else 0.0
        paged = reachable and gap >= lasting
        if device_sends:
            through = not lq and nat_ok and reachable and answers
            arrive = off + s_req + r + sv + page + s_resp
            ok = through and not lr
            first_at, first_ok = off + s_req + r / 2, not lq
        else:
            through = nat_ok and reachable
            ok = through and not lq and not lr
            back = off + r + page + s_req + s_resp      # the response reaches the manager
            if ok and queue is not None:
                sv = queue.sojourn(start_s + back)
            arrive = back + sv                          # ... which handles it
            first_at, first_ok = off + r / 2 + page + s_req, through and not lq
        arrival.append(arrive if ok else inf)
        offs.append(off)
        fates.append((nat_ok, reachable, through, lq, first_at, first_ok, r,
                      off + r / 2 + page if paged and through else None, sv, page, ok))
        best = min(best, arrival[-1])
    sent = list(range(len(offs)))
    out = Outcome()
    done_at = best
    completed = done_at <= give_up
    out.completed = completed
    out.blocks_done = 1 if completed else 0
    out.duration_s = done_at if completed else give_up
    out.retransmissions = len(sent) - 1
    if device_sends:
        got = [i for i in sent if not fates[i][3]]
        thr = [i for i in sent if fates[i][2]]
        out.msgs_up, out.bytes_up = len(sent), len(sent) * req
        out.msgs_down, out.bytes_down = len(thr), len(thr) * resp
        out.device_tx_s = len(sent) * air_req
        out.air_down_s = len(thr) * air_resp
        out.nat_drops = sum(1 for i in got if not fates[i][0])
        out.manager_in = len(got)
        out.manager_out = len(got) if answers else 0
        out.manager_bytes_out = out.manager_out * resp
    else:
        thr = [i for i in sent if fates[i][2]]
        answered = [i for i in thr if not fates[i][3]]
        out.msgs_down, out.bytes_down = len(thr), len(thr) * req
        out.msgs_up, out.bytes_up = len(answered), len(answered) * resp
        out.device_tx_s = len(answered) * air_resp
        out.air_down_s = len(thr) * air_req
        out.nat_drops = sum(1 for i in sent if not fates[i][0])
        out.manager_out, out.manager_bytes_out = len(sent), len(sent) * req
        out.manager_in = sum(1 for i in sent if arrival[i] < inf)
    out.path_down_s = (s_resp if device_sends else s_req) if completed else 0.0
    out.queued_down_s = (stretch - 1.0) * (air_resp if device_sends else air_req) \
        if completed else 0.0
    delivered = [i for i in sent if fates[i][5]]
    if delivered and answers:
        out.first_delivery_s = fates[delivered[0]][4]
        out.first_served_s = out.first_delivery_s + (fates[delivered[0]][8] if device_sends
                                                     else 0.0)
    woken = [fates[i][7] for i in sent if fates[i][7] is not None and not device_sends]
    if woken:
        out.woke_s = min(woken)
    if thr:         # the earliest payload to leave (a later copy may overtake: RTTs vary)
        out.first_downlink_s = min(offs[j] + (s_req + fates[j][6] / 2 + fates[j][8]
                                              if device_sends else 0.0) for j in thr)
    admitted = [offs[i] + (s_req + fates[i][6] / 2 + fates[i][8] if device_sends else 0.0)
                for i in sent if fates[i][0] and answers
                and not (device_sends and fates[i][3])]
    if admitted:
        out.last_inbound_s = max(admitted)
    if completed:
        a = min(sent, key=lambda i: arrival[i])
        out.last_nat_refresh_s = (offs[a] + s_req + fates[a][6] / 2 if device_sends
                                  else done_at - fates[a][8])
    else:
        drop = any(not fates[i][0] and (not device_sends or not fates[i][3]) for i in sent)
        out.failure = ("dtls" if not answers else "nat" if drop else
                       "unreachable" if any(not fates[i][1] for i in sent) else "timeout")
    if with_events:
        out.events = []
        req_dir, resp_dir = ("up", "down") if device_sends else ("down", "up")
        for i in sent:
            nat_ok, _, through, lq, _, first_ok, r, _, sv, page, ok = fates[i]
            if not device_sends and not through:
                out.events.append((0.0, offs[i], req_dir, block, i, "dropped"))
                continue
            fate = "lost" if not first_ok else "" if answers else "unmatched"
            out.events.append((0.0, offs[i], req_dir, block, i, fate))
            if first_ok and (through or not device_sends):
                t_resp = (offs[i] + s_req + r / 2 + sv if device_sends
                          else offs[i] + r / 2 + page + s_req)
                out.events.append((0.0, t_resp, resp_dir, block, i, "" if ok else "lost"))
    return out


def _events(starts, off, sent, arrive, rtt, page, s_req, through, first_ok, success,
            device_sends, svc, first_block, answers=True):
    """Per-message trace events of a flow outcome:
    (block start, time within the block, direction, block, attempt, fate); a request the
    peer drops (`answers` false) has the fate "unmatched"."""
    ev = []
    req_dir, resp_dir = ("up", "down") if device_sends else ("down", "up")
    for j in range(len(starts)):
        for a in np.flatnonzero(sent[j]):
            t = off[j, a]
            if not device_sends and not through[j, a]:
                ev.append((starts[j], t, req_dir, first_block + j, int(a), "dropped"))
                continue
            fate = ("lost" if not first_ok[j, a] else "" if answers else "unmatched")
            ev.append((starts[j], t, req_dir, first_block + j, int(a), fate))
            if first_ok[j, a] and (through[j, a] or not device_sends):
                t_resp = (off[j, a] + s_req[j, a] + rtt[j, a] / 2 + svc if device_sends
                          else off[j, a] + rtt[j, a] / 2 + page[j, a] + s_req[j, a])
                ev.append((starts[j], t_resp, resp_dir, first_block + j, int(a),
                           "" if success[j, a] else "lost"))
    return ev
