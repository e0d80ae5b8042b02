"""A TCP connection on a device's radio link, computed flight by flight (both fidelities).

The device is the client: it opens the connection (three-way handshake, RFC 9293 section
3.5), optionally runs a TLS handshake over it, then the two ends take turns sending
*flights* (a request, its answer, a TLS flight, an MQTT packet, an HTTP response with its
body). A flight's data is cut into segments of at most `mss` payload bytes, each carrying
20 B TCP + 20 B IPv4 headers (+ negotiated options), and is sent in slow-start rounds:

* Windows (RFC 5681, RFC 6928): each side has its own congestion window, starting at the
  initial window (10 segments for MSS <= 1460); each round sends min(cwnd, left) segments;
  the window doubles per loss-free round below ssthresh, else grows by one segment.
* ACK clocking: the receiver ACKs every second segment at once (RFC 1122 delayed ACK);
  the first ACK of a round reaches the sender 2 s_seg + rtt + s_ack after the round starts
  (s_seg + `delayed_ack_s` + rtt + s_ack for a one-segment round), where s_seg and s_ack
  are the segment's and the ACK's serialization. The next round starts at
  max(w s_seg, that), so a window larger than the bandwidth-delay product keeps the link
  busy (the slow-start latency model of Kurose & Ross). An odd last segment of a flight is
  ACKed by the answering flight when one follows, else by a pure ACK.
* Loss: every data segment is lost with probability `link.loss`, independently. Lost
  segments are resent in the next round (the receiver's SACK blocks say which, RFC 2018):
  by fast retransmit when at least three later segments of the round arrived (three
  duplicate ACKs; the window is halved, RFC 5681 section 3.2), else when the
  retransmission timer expires (doubled at each expiry; the window falls to one segment).
  A segment sent more than `max_retransmit` times by the device (`server_retries` by the
  server) fails the connection; everything it sent is then wasted
  (`Outcome.wasted_bytes`), but the in-order prefix of the failed flight is kept
  (`partial_bytes`: an HTTP download resumes after it).
* Each end's timer is its own stack's (`TcpParams`): the device's lwIP starts at 3 s and
  then follows RFC 6298 (1 s minimum, 60 s maximum); the server's Linux starts at 1 s,
  adds at least 200 ms to SRTT and backs off to 120 s. Every round trip draws its own
  delay, so a round whose first ACK comes later than the sender's RTO fires the timer
  though nothing was lost: the oldest segment is resent (wasted) and ACKed again; the
  device's window falls to one segment, Linux restores its own (F-RTO). The handshake
  follows the same timers (`open`). A SYN or SYN-ACK that was resent leaves the RTO at
  3 s for the data (RFC 6298 section 5.7).
* Byte split: the first copy of every segment is payload (what the caller says its flight
  carries), security (TLS records, or a whole TLS handshake flight) and headers; resent
  segments are wasted.

Approximations: recovery is resolved per round, not per segment (a round with losses
takes as long as its window plus the recovery wait); a round's segments share its round
trip's delay; pure ACKs, the handshake's last ACK and the close are not lost (cumulative
ACKs make a lost one harmless; A); the device stays connected during an exchange (no
paging inside it), so both fidelities compute a connection the same way.

Times are seconds from the connection's start; bytes are wire bytes from the IP header up.
The result is booked as an `Outcome`, like a CoAP exchange.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulation.protocols import tcp, tls
from simulation.transport.exchange import Outcome
from simulation.world.link import LinkModel

UP, DOWN = "up", "down"
#: RFC 1122 section 4.2.3.2 allows up to 0.5 s; lwIP's fast timer fires every 250 ms and
#: Linux waits at least 40 ms: 0.2 s, the classic BSD value, is an assumption (A)
DELAYED_ACK_S = 0.2
#: RFC 6298 section 5.7: the RTO once the SYN had to be resent and no sample exists
RTO_AFTER_SYN_LOSS_S = 3.0


@dataclass(frozen=True)
class TcpParams:
    """TCP settings of each end: the device's embedded stack (lwIP's defaults, RFC 6298's
    1 s minimum and 60 s maximum RTO) and the server's Linux (`tcp.LINUX_*`)."""

    mss: int = tcp.MSS_DEFAULT
    syn_retries: int = 6          # lwIP TCP_SYNMAXRTX
    max_retransmit: int = 12      # lwIP TCP_MAXRTX
    syn_options: tuple[str, ...] = tcp.SYN_OPTIONS_DEFAULT
    delayed_ack_s: float = DELAYED_ACK_S
    initial_rto_s: float = tcp.LWIP_INITIAL_RTO_S
    server_min_rto_s: float = tcp.LINUX_MIN_RTO_S
    server_max_rto_s: float = tcp.LINUX_MAX_RTO_S
    server_retries: int = tcp.LINUX_RETRIES2
    synack_retries: int = tcp.LINUX_SYNACK_RETRIES
    receive_window_bytes: int = tcp.MAX_UNSCALED_WINDOW_BYTES
    device_buffer_bytes: float = math.inf


@dataclass
class Flight:
    """What one flight cost and when it arrived (s from the connection's start)."""

    sent_s: float
    arrived_s: float = math.nan   # last segment at the receiver (nan: failed)
    first_arrival_s: float = math.nan
    segments: int = 0
    retransmissions: int = 0


@dataclass
class Connection:
    """One TCP connection, its timers and windows, and what it has cost so far (`out`).

    `t` is the connection's clock: when the next flight can start. Methods advance it and
    return False once the connection has failed (`out.failure = "timeout"`).
    """

    link: LinkModel
    rng: np.random.Generator
    params: TcpParams = field(default_factory=TcpParams)
    tls_version: str | None = None      # records protect application data when set
    service_s: float = 0.0              # server think time per request it answers ...
    queue: object = None                # ... or the wait and service of its FIFO queue
    origin_s: float = 0.0               # absolute time of `t` = 0 (to book in `queue`)
    trace: list | None = None           # (t, direction, text) when traced
    t: float = 0.0
    out: Outcome = field(default_factory=lambda: Outcome(completed=True))
    rtt: float = field(init=False)
    rto: dict = field(init=False)       # each end's retransmission timeout (s)
    est: dict = field(init=False)       # each end's (SRTT, RTTVAR), None before a sample
    pending_ack: str | None = None      # direction whose odd last segment awaits an ACK
    partial_bytes: int = 0              # of a flight that failed: payload got in order
    last_message_up_s: float = math.nan  # when the device last sent an application message
    last_direction: str | None = None   # of the last flight
    sent_end: float = 0.0               # when the last flight's last segment was sent

    def __post_init__(self):
        self.rtt = float(self.link.sample_rtt(self.rng))
        self.rto = {UP: self.params.initial_rto_s, DOWN: tcp.LINUX_INITIAL_RTO_S}
        self.est = {UP: None, DOWN: None}
        iw = tcp.initial_window_segments(self.params.mss)
        self.cwnd = {UP: float(iw), DOWN: float(iw)}
        self.ssthresh = {UP: math.inf, DOWN: math.inf}
        self.options = tcp.established_options_bytes(self.params.syn_options)
        self.seg_overhead = tcp.segment_bytes(0, self.options)

    # -- bookkeeping --------------------------------------------------------------------
    def _ser(self, direction: str, nbytes: float) -> float:
        return self.link.up_s(nbytes) if direction == UP else self.link.down_s(nbytes)

    def _book(self, direction: str, nbytes: int, count: int = 1, at: float | None = None):
        """Book `count` packets of `nbytes` each sent in `direction` (at time `at`: a
        device's packet reaches the NAT one serialization and rtt/2 later, the server's
        passes it as it leaves)."""
        o = self.out
        total = nbytes * count
        if direction == UP:
            o.bytes_up += total
            o.msgs_up += count
            o.device_tx_s += self._ser(UP, total)
            if at is not None:
                reach = at + self._ser(UP, nbytes) + self.rtt / 2
                if not reach <= o.last_nat_refresh_s:   # nan compares False
                    o.last_nat_refresh_s = reach
        else:
            o.bytes_down += total
            o.msgs_down += count
            o.manager_out += count
            o.manager_bytes_out += total
            o.air_down_s += self._ser(DOWN, total)
            if at is not None and not at <= o.last_inbound_s:   # nan compares False
                o.last_inbound_s = at

    def note(self, t: float, direction: str, text: str) -> None:
        if self.trace is not None:
            self.trace.append((t, direction, text))

    def fail(self) -> bool:
        """The connection failed: everything it sent was wasted."""
        o = self.out
        o.completed = False
        o.failure = "timeout"
        o.wasted_bytes = o.bytes_up + o.bytes_down
        o.payload_bytes = o.security_bytes = 0
        return False

    def _sample(self, direction: str, r: float) -> None:
        """An RTT sample r (s) of the sender in `direction`, from a segment sent once
        (Karn's rule), RFC 6298 section 2."""
        srtt, rttvar = self.est[direction] or (None, None)
        srtt, rttvar, _ = tcp.rto_update(srtt, rttvar, r)
        self.est[direction] = (srtt, rttvar)
        self.rto[direction] = self._rto_from(direction, srtt, rttvar)

    def _rto_from(self, direction: str, srtt: float, rttvar: float) -> float:
        """Each end's timer by its own stack's rule: the device's RFC 6298, the server's
        Linux (`linux_rto_s`)."""
        if direction == UP:
            return tcp.rto_s(srtt, rttvar)
        p = self.params
        return tcp.linux_rto_s(srtt, rttvar, p.server_min_rto_s, p.server_max_rto_s)

    def _draw_rtt(self) -> float:
        """A fresh round-trip delay for the next round trip (each has its own)."""
        self.rtt = float(self.link.sample_rtt(self.rng))
        return self.rtt

    def _max_rto(self, direction: str) -> float:
        return tcp.MAX_RTO_S if direction == UP else self.params.server_max_rto_s

    # -- the handshake --------------------------------------------------------------------
    def _first_through(self, n: int) -> int | None:
        """Which of `n` copies of a segment is the first the radio does not lose (one draw
        per copy tried)."""
        for k in range(n):
            if not self.rng.random() < self.link.loss:
                return k
        return None

    def open(self) -> bool:
        """SYN, SYN-ACK, ACK (RFC 9293 section 3.5), each end on its own timer: the device
        resends its SYN after `initial_rto_s` (doubling) until a SYN-ACK arrives; the
        server resends its SYN-ACK after Linux's 1 s (doubling) until the ACK arrives, and
        at once for every SYN copy that reaches it later (`tcp_check_req`). A round trip
        longer than a timer therefore resends a segment nothing lost (91 % of the NB-IoT
        CE0 preset's round trips exceed 1 s). The client's ACK is a segment of its own; a duplicate
        SYN-ACK that reaches the device is ACKed again. After any resend the data's RTO
        starts at 3 s (RFC 6298 section 5.7). Copies are lost independently."""
        p = self.params
        syn, synack, ack = tcp.handshake_packets(p.syn_options)
        t0, r = self.t, self._draw_rtt()
        s_syn, s_synack = self._ser(UP, syn.wire_bytes), self._ser(DOWN, synack.wire_bytes)
        s_ack = self._ser(UP, ack.wire_bytes)
        syn_at = np.array([t0, *(t0 + x for x in tcp.retransmission_times_s(
            p.syn_retries, p.initial_rto_s))])
        give_up = syn_at[-1] + tcp.backoff(p.initial_rto_s, p.syn_retries)
        j = self._first_through(len(syn_at))
        if j is None:
            self._copies(UP, syn.wire_bytes, syn_at, "TCP SYN")
            self.t = give_up
            return self.fail()
        at_server = syn_at[j] + s_syn + r / 2
        # the server's SYN-ACKs: its timer's, and one per later SYN copy that arrives
        timer = at_server + np.array([0.0, *tcp.retransmission_times_s(
            p.synack_retries, tcp.LINUX_INITIAL_RTO_S, p.server_max_rto_s)])
        later = np.arange(j + 1, len(syn_at))
        sends = np.concatenate((timer, syn_at[later] + s_syn + r / 2))
        trigger = np.concatenate((np.full(len(timer), -1), later))  # SYN copy behind it
        order = np.argsort(sends, kind="stable")
        sends, trigger = sends[order], trigger[order]
        c = self._first_through(len(sends))
        if c is None:       # no SYN-ACK gets through: the device's SYNs run out
            self._copies(UP, syn.wire_bytes, syn_at, "TCP SYN")
            self._copies(DOWN, synack.wire_bytes, sends[sends < give_up], "TCP SYN-ACK")
            self.out.manager_in += len(syn_at) - j
            self.t = give_up
            return self.fail()
        at_device = sends[c] + s_synack + r / 2
        ack_at_server = at_device + s_ack + r / 2
        syn_sent = syn_at[syn_at < at_device]
        sent = (sends < ack_at_server) & ((trigger < 0) | (syn_at[np.maximum(trigger, 0)]
                                                             < at_device))
        self._copies(UP, syn.wire_bytes, syn_sent, "TCP SYN")
        self._copies(DOWN, synack.wire_bytes, sends[sent], "TCP SYN-ACK")
        self.out.manager_in += len(syn_sent) - j
        self.out.first_delivery_s = at_server
        if len(syn_sent) == 1 and sent.sum() == 1:
            self._sample(UP, at_device - t0)
            self._sample(DOWN, ack_at_server - sends[c])
        else:
            self.rto = {UP: RTO_AFTER_SYN_LOSS_S, DOWN: RTO_AFTER_SYN_LOSS_S}
        self.t = at_device
        self._book(UP, ack.wire_bytes, at=self.t)
        self.out.manager_in += 1
        self.note(self.t, UP, "TCP ACK")
        # a later SYN-ACK copy that reaches the device is answered by another ACK (copies
        # after the first through are not drawn: they arrive, A)
        for t in sends[sent & (np.arange(len(sends)) > c)]:
            self._book(UP, ack.wire_bytes, at=t + s_synack + r / 2)
            self.out.wasted_bytes += ack.wire_bytes
            self.out.manager_in += 1
        self.t += s_ack
        return True

    def _copies(self, direction: str, nbytes: int, times, text: str) -> None:
        """Book the copies of a handshake segment sent at `times`; all but the first are
        wasted retransmissions."""
        for k, t in enumerate(times):
            self._book(direction, nbytes, at=t)
            self.note(t, direction, text + (f" (retransmission {k})" if k else ""))
        extra = max(len(times) - 1, 0)
        self.out.retransmissions += extra
        self.out.wasted_bytes += extra * nbytes

    def reset_by_peer(self, payload_bytes: int) -> None:
        """The device sends `payload_bytes` on a connection the server no longer knows (its
        NAT binding expired, so the segment arrives from a new port) and is answered with
        a reset (RFC 9293 section 3.10.7.1): both packets are wasted."""
        seg = self.seg_overhead + payload_bytes
        self._book(UP, seg, at=self.t)
        self.out.manager_in += 1
        self._book(DOWN, self.seg_overhead, at=self.t + self._ser(UP, seg) + self.rtt / 2)
        self.out.wasted_bytes += seg + self.seg_overhead
        self.note(self.t, UP, "TCP segment on the stale connection")
        self.t += self._ser(UP, seg) + self.rtt + self._ser(DOWN, self.seg_overhead)
        self.note(self.t, DOWN, "TCP RST")

    def resume(self, est: dict | None = None) -> None:
        """Use a connection opened earlier and idle since: each end keeps its RTT
        estimators (`est`, as `estimators` gave them; default: one sample of the path's
        round trip) and the windows restart at the initial window (RFC 5681 section 4.1)."""
        if est is None:
            self._sample(UP, self.rtt)
            self._sample(DOWN, self.rtt)
            return
        for direction, pair in est.items():
            if pair is not None:
                self.est[direction] = pair
                self.rto[direction] = self._rto_from(direction, *pair)

    def estimators(self) -> dict:
        """Each end's (SRTT, RTTVAR) now, for `resume` on the same connection later."""
        return dict(self.est)

    def close(self) -> None:
        """The server closes after its last flight (FIN on it); the client ACKs and sends
        its FIN in one segment; the server's last ACK ends it (RFC 9293 section 3.6).
        Their loss is not modelled (A)."""
        ack = self.seg_overhead
        self.pending_ack = None           # the FIN-ACK acknowledges whatever was owed
        self.t = self._start(UP)
        self._book(UP, ack, at=self.t)
        self.out.manager_in += 1
        self.note(self.t, UP, "TCP FIN, ACK")
        self._book(DOWN, ack, at=self.t + self._ser(UP, ack) + self.rtt / 2)
        self.t += self._ser(UP, ack) + self.rtt + self._ser(DOWN, ack)
        self.note(self.t, DOWN, "TCP ACK")

    def settle(self) -> None:
        """No flight follows: the ACK still owed for an odd last segment goes alone."""
        if self.pending_ack is not None:
            self._pure_ack(self.pending_ack)

    # -- data ------------------------------------------------------------------------------
    def wire_payload(self, app_bytes: int) -> int:
        """TCP payload bytes carrying `app_bytes` of application data (TLS records if on)."""
        if self.tls_version is None:
            return app_bytes
        return tls.protected_bytes(app_bytes, self.tls_version)

    def message(self, direction: str, protocol_bytes: int, payload: int = 0, text: str = "",
                served: bool = False) -> Flight | None:
        """Send an application message of `protocol_bytes` (its own headers included, of
        which `payload` bytes are application payload), in TLS records if TLS is on."""
        wire = self.wire_payload(protocol_bytes)
        if direction == UP:
            self.last_message_up_s = self._start(direction)
        return self.send(direction, wire, text, served=served, payload=payload,
                         security=wire - protocol_bytes)

    def send(self, direction: str, payload_bytes: int, text: str = "",
             served: bool = False, payload: int = 0, security: int = 0,
             handshake: bool = False) -> Flight | None:
        """Send a flight of `payload_bytes` TCP payload bytes; None if the connection
        failed. `served`: a request the server handles before it answers: `service_s`,
        or as long as the server's `queue` says for a message arriving when the flight's
        last segment does.

        Byte split (`Outcome`): of the flight's first copies, `payload` bytes are
        application payload and `security` bytes security records (a `handshake` flight
        is security overhead whole, headers included); every resent segment is wasted.
        """
        p = self.params
        sizes = _segment_sizes(payload_bytes, p.mss, self.seg_overhead)
        flight = Flight(sent_s=self.t, segments=len(sizes))
        if self.pending_ack == direction:
            self._pure_ack(direction)     # the other side owes an ACK and has nothing to say
        self.pending_ack = None           # else this flight carries the ACK owed
        receiver = _other(direction)
        ack_bytes = self.seg_overhead
        s_ack = self._ser(receiver, ack_bytes)
        attempts = np.zeros(len(sizes), dtype=np.int64)
        got = np.zeros(len(sizes), dtype=bool)
        todo = list(range(len(sizes)))
        t = flight.sent_s = self._start(direction)
        limit = p.max_retransmit if direction == UP else p.server_retries
        window = self._window(direction)
        while todo:
            w = max(1, min(int(self.cwnd[direction]), window, len(todo)))
            batch, todo = todo[:w], todo[w:]
            self._draw_rtt()
            if attempts[batch].max() > limit:
                self.t = t
                prefix = int(np.argmin(got)) if not got.all() else len(sizes)
                self.partial_bytes = sum(sizes[:prefix]) - prefix * self.seg_overhead
                self.fail()
                return None
            again = attempts[batch] > 0
            retrans = int(np.count_nonzero(again))
            attempts[batch] += 1
            flight.retransmissions += retrans
            if retrans:
                self.out.wasted_bytes += sum(sizes[k] for k, a in zip(batch, again) if a)
            lost = (self.rng.random(w) < self.link.loss if self.link.loss > 0
                    else np.zeros(w, dtype=bool))
            nbytes = [sizes[k] for k in batch]
            if direction == DOWN:
                overflow = self._overflow(nbytes)
                if overflow:
                    lost[w - overflow:] = True
                    self.note(t, DOWN, f"TCP: {overflow} segment(s) dropped at the base "
                                       "station (the device's downlink buffer is full)")
            s_round = self._ser(direction, sum(nbytes))
            for k, size in enumerate(nbytes):
                self._book(direction, size, at=t + self._ser(direction, sum(nbytes[:k])))
            if direction == DOWN:
                self.out.path_down_s += s_round
            delivered = w - int(np.count_nonzero(lost))
            got[[k for k, gone in zip(batch, lost, strict=True) if not gone]] = True
            if direction == UP:
                self.out.manager_in += delivered
            self.note(t, direction, text + _segment_note(w, retrans))
            if delivered and math.isnan(flight.first_arrival_s):
                k = int(np.argmax(~lost))
                flight.first_arrival_s = (t + self._ser(direction, sum(nbytes[:k + 1]))
                                          + self.rtt / 2)
            final = not todo and not lost.any()
            # the receiver's pure ACKs: one per two in-order segments, one per segment
            # after a gap (duplicate ACKs, at once); a final odd segment's ACK is owed
            gap = int(np.argmax(lost)) if lost.any() else w
            acks = (gap // 2 if final else -(-gap // 2)) + (delivered - gap if gap < w else 0)
            if acks:
                self._book(receiver, ack_bytes, acks, at=t + s_round + self.rtt / 2)
                if receiver == UP:
                    self.out.manager_in += acks
            s_seg = self._ser(direction, nbytes[0])
            first_ack = (2 * s_seg if w >= 2 else s_seg + p.delayed_ack_s) + self.rtt + s_ack
            spurious = not lost.any() and first_ack > self.rto[direction]
            if spurious:
                # the timer fires before the first ACK: the oldest segment is resent
                # though nothing was lost (its duplicate is ACKed again); the window
                # falls to one segment at the device (lwIP), while Linux detects the
                # spurious timeout and restores it (F-RTO, RFC 5682; tcp_frto = 2)
                self._spurious(direction, t, nbytes[0], flight)
                if direction == UP:
                    self.ssthresh[UP] = max(w / 2, 2.0)
                    self.cwnd[UP] = 1.0
            if final:
                if not lost.any() and not spurious and attempts[batch].max() == 1:
                    self._sample(direction, first_ack)
                self.sent_end = t + s_round
                t += s_round + self.rtt / 2   # the last segment reaches the receiver
                flight.arrived_s = t
                if gap % 2:
                    self.pending_ack = direction
                break
            if not lost.any():
                if not spurious and attempts[batch].max() == 1:
                    self._sample(direction, first_ack)
                t += max(s_round, first_ack)
                if not (spurious and direction == UP):
                    self._grow(direction)
                continue
            # recovery: the lost segments go first in the next round (SACK)
            todo = [k for k, gone in zip(batch, lost, strict=True) if gone] + todo
            self.ssthresh[direction] = max(w / 2, 2.0)
            if delivered - gap >= 3:      # fast retransmit on the third duplicate ACK
                t += max(s_round, first_ack)
                self.cwnd[direction] = self.ssthresh[direction]
            else:                         # the retransmission timer expires
                t += s_round + self.rto[direction]
                self._back_off(direction)
                self.cwnd[direction] = 1.0
        self.out.retransmissions += flight.retransmissions
        self.last_direction = direction
        if handshake:
            self.out.security_bytes += sum(sizes)
        else:
            self.out.payload_bytes += payload
            self.out.security_bytes += security
        if served:
            t += (self.service_s if self.queue is None
                  else self.queue.sojourn(self.origin_s + t))
        self.t = t
        return flight

    def _window(self, direction: str) -> int:
        """The receiver's window in full segments: the device's advertised window for the
        server's flights (`receive_window_bytes`); the server's Linux window is large."""
        if direction == UP:
            return 1 << 30
        return max(1, self.params.receive_window_bytes // self.params.mss)

    def _overflow(self, nbytes: list[int]) -> int:
        """Segments of a server round the base station drops at its tail: those beyond the
        device's downlink buffer (`device_buffer_bytes`) once the path holds its
        bandwidth-delay product (the window is released into the core at once; the
        radio drains it at the device's downlink rate)."""
        buffer = self.params.device_buffer_bytes
        if math.isinf(buffer):
            return 0
        pipe = self.rtt * self.link.downlink_bps / 8
        queued, dropped = sum(nbytes) - pipe, 0
        for size in reversed(nbytes[1:]):
            if queued <= buffer:
                break
            queued -= size
            dropped += 1
        return dropped

    def _back_off(self, direction: str) -> None:
        """The retransmission timer expired: it doubles (RFC 6298 section 5.5)."""
        self.rto[direction] = min(2 * self.rto[direction], self._max_rto(direction))

    def _spurious(self, direction: str, t: float, nbytes: int, flight: Flight) -> None:
        """The round sent at t waited longer for its first ACK than the sender's timer:
        the oldest segment goes again at t + RTO, and the receiver ACKs the duplicate."""
        at = t + self.rto[direction]
        self.duplicate(direction, nbytes, at, "TCP retransmission (spurious: the ACK was late)")
        flight.retransmissions += 1
        self._back_off(direction)

    def duplicate(self, direction: str, nbytes: int, at: float, text: str) -> None:
        """A copy of a segment the receiver already has (`nbytes` on the wire) goes at
        `at`; the receiver ACKs it again (RFC 9293 section 3.10.7.4). Both are wasted."""
        self._book(direction, nbytes, at=at)
        receiver = _other(direction)
        self._book(receiver, self.seg_overhead, at=at + self._ser(direction, nbytes)
                   + self.rtt / 2)
        self.out.wasted_bytes += nbytes + self.seg_overhead
        self.out.manager_in += 1        # the copy, or the device's duplicate ACK, arrives
        self.note(at, direction, text)

    def _start(self, direction: str) -> float:
        """When a flight can start: at once after the same side's previous flight was
        sent (it waits for nothing), else when the other side's flight has arrived."""
        if direction == self.last_direction:
            return min(self.t, self.sent_end)
        return self.t

    def _pure_ack(self, acked_direction: str) -> None:
        """The pure ACK of an odd last segment, after the delayed-ACK timer."""
        d = _other(acked_direction)
        self._book(d, self.seg_overhead, at=self.t + self.params.delayed_ack_s)
        if d == UP:
            self.out.manager_in += 1
        self.pending_ack = None

    def _grow(self, direction: str) -> None:
        c = self.cwnd[direction]
        self.cwnd[direction] = (min(2 * c, max(self.ssthresh[direction], c + 1))
                                if c < self.ssthresh[direction] else c + 1)

    def tls_handshake(self, version: str, auth: str, tickets: int = 0) -> bool:
        """The TLS handshake's flights, alternating client and server (RFC 8446 section 2,
        RFC 5246 section 7.3); application data may follow the client's last flight.

        `tickets` NewSessionTicket records (TLS 1.3, RFC 8446 section 4.6.1) follow as one
        server flight, sent when the client's last flight arrives; the client does not wait
        for them (A: their segments overlap its next flight, which ACKs them)."""
        model = tls.handshake_model(version, auth)
        ups = [f.direction == tls.CLIENT_TO_SERVER for f in model.flights]
        for k, f in enumerate(model.flights):
            direction = UP if ups[k] else DOWN
            # the server handles a client flight it answers
            answered = ups[k] and k + 1 < len(ups) and not ups[k + 1]
            flight = self.send(direction, f.bytes, f"TLS {f.name}", handshake=True,
                               served=answered)
            if flight is None:
                return False
        if tickets:
            t, last, end = self.t, self.last_direction, self.sent_end
            text = "TLS NewSessionTicket" + (f" x{tickets}" if tickets > 1 else "")
            if self.send(DOWN, tickets * tls.new_session_ticket_bytes(), text,
                         handshake=True) is None:
                return False
            self.t, self.last_direction, self.sent_end = t, last, end
        self.tls_version = version
        return True


def _other(direction: str) -> str:
    return DOWN if direction == UP else UP


def _segment_sizes(payload_bytes: int, mss: int, overhead: int) -> list[int]:
    full, rest = divmod(payload_bytes, mss)
    sizes = [mss + overhead] * full
    if rest or not sizes:
        sizes.append(rest + overhead)
    return sizes


def _segment_note(n: int, retrans: int) -> str:
    seg = f" [{n} segment{'s' if n > 1 else ''}]" if n > 1 else ""
    return seg + (f" (retransmission of {retrans})" if retrans else "")
