"""TCP connections on the device's link: closed-form times on a fixed link, RFC 6298 timers
under scripted losses, geometric retransmission counts, and header sizes from the RFCs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulation.protocols import http, tcp, tls
from simulation.transport.tcp_connection import DOWN, UP, Connection, TcpParams
from simulation.validation.references import slow_start_s as ref_slow_start_s
from simulation.validation.references import tcp_handshake_s
from simulation.world.link import LinkModel

#: below the server's 1 s SYN-ACK timer (Linux), so no handshake segment is resent spuriously
RTT, UP_BPS, DOWN_BPS = 0.8, 20_000.0, 25_000.0
IMAGE = 102_400
MSS = 536


def fixed(loss=0.0) -> LinkModel:
    return LinkModel(rtt_s=RTT, uplink_bps=UP_BPS, downlink_bps=DOWN_BPS, loss=loss,
                     connect_s=0.0, rtt_sigma=0.0)


class Script:
    """An rng whose uniform draws are scripted, for a link with loss 0.5 (`SCRIPTED`):
    draw k is 0.0 (lost) if k is in `lost`, else 0.99 (kept)."""

    def __init__(self, lost=()):
        self.lost, self.k = set(lost), 0

    def random(self, size=None):
        n = 1 if size is None else size
        out = np.array([0.0 if self.k + j in self.lost else 0.99 for j in range(n)])
        self.k += n
        return float(out[0]) if size is None else out


SCRIPTED = 0.5


def up(n):
    return 8 * n / UP_BPS


def down(n):
    return 8 * n / DOWN_BPS


def handshake_s() -> float:
    return tcp_handshake_s(RTT, UP_BPS, DOWN_BPS)


def slow_start_s(payload: int, rate_ser, ack_ser, iw: int = 10) -> float:
    """`references.slow_start_s` on this file's link; `rate_ser` carries the data."""
    data_bps, ack_bps = (DOWN_BPS, UP_BPS) if rate_ser is down else (UP_BPS, DOWN_BPS)
    return ref_slow_start_s(payload, RTT, data_bps, ack_bps, mss=MSS, iw=iw)


def http_download(link, rng, tls_version=None, auth="x509_low"):
    c = Connection(link, rng, TcpParams(), trace=[])
    assert c.open()
    if tls_version:
        assert c.tls_handshake(tls_version, auth)
    get = http.get_request("/fw.bin", "company")
    assert c.message(UP, len(get), served=True) is not None
    head = http.ok_response_head(IMAGE)
    body = c.message(DOWN, len(head) + IMAGE, IMAGE)
    assert body is not None
    return c, body


def test_http_download_time_is_handshake_request_then_slow_start():
    _, body = http_download(fixed(), Script())
    get = len(http.get_request("/fw.bin", "company"))
    head = len(http.ok_response_head(IMAGE))
    expected = (handshake_s() + up(get + 40) + RTT / 2
                + slow_start_s(head + IMAGE, down, up))
    assert body.arrived_s == pytest.approx(expected, rel=1e-12)
    # the link is busy from the second round on: the image's 192 segments (35.4 s at
    # 25 kbit/s) plus the handshake, the request and the first round's stall
    assert 8 * 192 * (MSS + 40) / DOWN_BPS < body.arrived_s < 38


def test_https_adds_the_tls_flights_and_record_overhead():
    plain, _ = http_download(fixed(), Script())
    c, body = http_download(fixed(), Script(), tls_version="1.3")
    model = tls.handshake_model("1.3", "x509_low")
    # TLS 1.3: ClientHello, the server's flight, the client's Finished (1 RTT), then the
    # request right behind the Finished; each flight is delivered like data (the
    # server's in slow-start rounds)
    flights = 0.0
    for f in model.flights:
        ser, ack = (up, down) if f.direction == tls.CLIENT_TO_SERVER else (down, up)
        flights += slow_start_s(f.bytes, ser, ack)
    flights -= RTT / 2          # the request need not wait for the Finished to arrive
    get = len(http.get_request("/fw.bin", "company"))
    head = len(http.ok_response_head(IMAGE))
    wire_body = tls.protected_bytes(head + IMAGE, "1.3")
    expected = (handshake_s() + flights + up(tls.protected_bytes(get, "1.3") + 40)
                + RTT / 2 + slow_start_s(wire_body, down, up))
    assert body.arrived_s == pytest.approx(expected, rel=1e-12)
    # the body's records: 7 of at most 16 KiB, 14 B each (RFC 8446 section 5.2, CCM_8)
    assert wire_body - (head + IMAGE) == 7 * 14
    assert c.out.security_bytes >= model.total_bytes + 7 * 14
    assert plain.out.security_bytes == 0
    assert c.out.payload_bytes == plain.out.payload_bytes == IMAGE


def test_segments_carry_ipv4_and_tcp_headers():
    """Every data segment adds 20 B TCP (RFC 9293 section 3.1) + 20 B IPv4 (RFC 791)."""
    c = Connection(fixed(), Script(), TcpParams())
    assert c.open()
    before = c.out.bytes_down
    flight = c.send(DOWN, 5 * MSS + 100)
    assert flight.segments == 6
    # 6 segments, no pure ACK expected down: all bytes down are the segments
    assert c.out.bytes_down - before == 5 * MSS + 100 + 6 * 40
    # delayed ACKs up: one per two segments (RFC 1122 section 4.2.3.2), 40 B each
    assert c.out.msgs_up == 2 + 3   # SYN, ACK, then three ACKs of six segments


@pytest.mark.parametrize("initial", [3.0, 1.0])
def test_syn_retransmissions_follow_the_devices_timer(initial):
    """SYN lost twice: resent after the initial RTO and then twice that (lwIP's 3 s, or
    RFC 6298 section 2.1's 1 s; doubled, section 5.5); the data then starts with RTO 3 s
    (section 5.7)."""
    params = TcpParams(initial_rto_s=initial)
    c = Connection(fixed(SCRIPTED), Script(lost={0, 1}), params, trace=[])
    assert c.open()
    syns = [t for t, d, text in c.trace if text.startswith("TCP SYN") and d == UP]
    assert syns == pytest.approx([0.0, initial, 3 * initial])
    assert c.out.retransmissions == 2
    assert c.rto == {UP: 3.0, DOWN: 3.0}
    assert c.t == pytest.approx(3 * initial + handshake_s())


def test_syn_gives_up_after_syn_retries():
    c = Connection(fixed(SCRIPTED), Script(lost=set(range(100))), TcpParams(syn_retries=3), trace=[])
    assert not c.open()
    assert c.out.failure == "timeout" and not c.out.completed
    assert c.out.msgs_up == 4                       # the SYN and 3 retransmissions
    assert c.t == pytest.approx(3 * (1 + 2 + 4 + 8))  # lwIP's 3 s timer expired 4 times
    assert c.out.wasted_bytes == c.out.bytes_up


def test_a_round_trip_longer_than_the_servers_timer_resends_the_syn_ack():
    """Linux resends its SYN-ACK 1 s after sending it (TCP_TIMEOUT_INIT) unless the
    client's ACK is back: with a 1.5 s round trip nothing is lost, yet the SYN-ACK goes
    twice, the device ACKs the duplicate, and the data's RTO starts at 3 s."""
    link = LinkModel(rtt_s=1.5, uplink_bps=UP_BPS, downlink_bps=DOWN_BPS, loss=0.0,
                     connect_s=0.0, rtt_sigma=0.0)
    c = Connection(link, Script(), TcpParams(), trace=[])
    assert c.open()
    synacks = [t for t, d, text in c.trace if text.startswith("TCP SYN-ACK")]
    at_server = up(52) + 0.75
    assert synacks == pytest.approx([at_server, at_server + 1.0])
    assert c.out.msgs_down == 2 and c.out.msgs_up == 3      # SYN, ACK, ACK again
    assert c.out.retransmissions == 1
    assert c.out.wasted_bytes == 52 + 40
    assert c.rto == {UP: 3.0, DOWN: 3.0}
    # below 1 s nothing is resent
    c = Connection(fixed(), Script(), TcpParams(), trace=[])
    assert c.open() and c.out.retransmissions == 0 and c.out.msgs_down == 1


def test_a_round_trip_longer_than_the_devices_timer_resends_the_syn():
    """A 4 s round trip beats lwIP's 3 s SYN timer: the SYN goes at 0 and 3 s; the server
    answers the first (SYN-ACK at its arrival, then on its 1 s and 2 s timer) and the
    duplicate SYN at once (Linux `tcp_check_req`), until the device's ACK arrives."""
    link = LinkModel(rtt_s=4.0, uplink_bps=UP_BPS, downlink_bps=DOWN_BPS, loss=0.0,
                     connect_s=0.0, rtt_sigma=0.0)
    c = Connection(link, Script(), TcpParams(), trace=[])
    assert c.open()
    syns = [t for t, d, text in c.trace if text.startswith("TCP SYN") and d == UP]
    synacks = [t for t, d, text in c.trace if text.startswith("TCP SYN-ACK")]
    a = up(52) + 2.0                                    # the first SYN reaches the server
    ack_at_server = a + down(52) + 2.0 + up(40) + 2.0
    assert syns == pytest.approx([0.0, 3.0])
    expected = sorted([a, a + 1, a + 3, 3.0 + up(52) + 2.0])
    assert synacks == pytest.approx([t for t in expected if t < ack_at_server])
    assert c.out.retransmissions == 1 + len(synacks) - 1


def test_a_lost_lone_segment_waits_for_the_rto_doubling():
    """A one-segment request lost twice is resent after RTO, then 2 RTO (Karn: no sample
    from a resent segment); RTO from the handshake's sample R: max(1 s, R + 4 R/2)."""
    c = Connection(fixed(SCRIPTED), Script(lost={2, 3}), TcpParams(), trace=[])  # draws 0-1: SYNs
    assert c.open()
    r = up(52) + RTT + down(52)
    assert c.rto[UP] == pytest.approx(max(1.0, r + 4 * r / 2))
    r_down = down(52) + RTT + up(40)        # the server's: its SYN-ACK to the ACK
    assert c.rto[DOWN] == pytest.approx(r_down + max(4 * r_down / 2, 0.2))   # Linux: 3 R
    rto, t0 = c.rto[UP], c.t
    flight = c.send(UP, 100)
    assert flight.retransmissions == 2
    # the timer runs from the end of each copy's transmission
    assert flight.arrived_s == pytest.approx(t0 + 3 * up(140) + rto + 2 * rto + RTT / 2)


def test_fast_retransmit_beats_the_timer():
    """The first segment of a 10-segment window lost: nine duplicate ACKs, so it is resent
    as soon as the first ACK is back (RFC 5681 section 3.2). The ninth lost: one duplicate
    ACK only, so it is resent when the retransmission timer expires, with the window
    down to one segment."""
    seg = down(MSS + 40)

    def resend_time(lost_index):
        c = Connection(fixed(SCRIPTED), Script(lost={2 + lost_index}), TcpParams(),
                       trace=[])
        assert c.open()
        t0, rto = c.t, c.rto[DOWN]
        assert c.send(DOWN, 30 * MSS) is not None
        t_resend = next(t for t, d, text in c.trace if "retransmission" in text)
        return t_resend - t0, rto, c
    fast, _, c_fast = resend_time(0)
    assert fast == pytest.approx(max(10 * seg, 2 * seg + RTT + up(40)))
    # halved to 5, then congestion avoidance (one more per round): 5 + 6 + 7 segments
    # follow the first 10, and the window is 8 when the last 2 go
    assert c_fast.ssthresh[DOWN] == 5.0 and c_fast.cwnd[DOWN] == 8.0
    slow, rto, c_slow = resend_time(8)
    assert slow == pytest.approx(10 * seg + rto)
    assert c_slow.ssthresh[DOWN] == 5.0


def test_retransmissions_per_segment_are_geometric():
    """Each segment is resent until one copy arrives: the mean number of retransmissions
    is N p / (1 - p) for N segments (SYN and SYN-ACK included)."""
    p, runs = 0.1, 1500
    link = fixed(loss=p)
    counts = []
    for seed in range(runs):
        c = Connection(link, np.random.default_rng(seed), TcpParams(max_retransmit=30,
                                                                   syn_retries=30))
        assert c.open() and c.send(DOWN, 20 * MSS) is not None
        counts.append(c.out.retransmissions)
    counts = np.array(counts)
    n = 2 + 20
    expected = n * p / (1 - p)
    se = counts.std(ddof=1) / math.sqrt(runs)
    assert abs(counts.mean() - expected) < 4 * se


def test_resent_segments_are_wasted_bytes():
    c = Connection(fixed(SCRIPTED), Script(lost={2}), TcpParams())
    assert c.open()
    c.send(DOWN, 3 * MSS, payload=3 * MSS)
    assert c.out.wasted_bytes == MSS + 40
    assert c.out.payload_bytes == 3 * MSS


def test_partial_bytes_of_a_failed_flight_are_its_in_order_prefix():
    """Segments 0-4 arrive, segment 5 never does: a Range request resumes at 5 MSS."""
    lost = {2 + 5} | {2 + 10 + k for k in range(100)}   # first copy, then every resend
    c = Connection(fixed(SCRIPTED), Script(lost=lost), TcpParams(max_retransmit=2))
    assert c.open()
    assert c.send(DOWN, 10 * MSS) is None
    assert c.partial_bytes == 5 * MSS
    assert c.out.failure == "timeout"


def test_the_servers_last_packet_is_when_the_nat_last_saw_an_inbound_one():
    """`Outcome.last_inbound_s` is when the server's last packet passed the NAT, next to
    the server: the SYN-ACK leaves as the SYN arrives (fixed RTT 0.8 s, 100 kbit/s), the
    close's last ACK as the client's FIN arrives."""
    from simulation.protocols import tcp
    from simulation.world.link import LinkModel

    link = LinkModel(rtt_s=0.8, uplink_bps=100_000, downlink_bps=100_000, loss=0.0,
                     connect_s=0.0, rtt_sigma=0.0)
    conn = Connection(link, np.random.default_rng(0), TcpParams())
    assert conn.open()
    syn = tcp.handshake_packets(TcpParams().syn_options)[0].wire_bytes
    assert conn.out.last_inbound_s == pytest.approx(8 * syn / 100_000 + 0.4)
    assert conn.out.last_inbound_s == conn.out.first_delivery_s
    fin_sent = conn.t
    conn.close()
    assert conn.out.last_inbound_s == pytest.approx(
        fin_sent + 8 * conn.seg_overhead / 100_000 + 0.4)


class Delays(Script):
    """A scripted rng that also scripts the round trips: `rtts` in order, then the last."""

    def __init__(self, rtts, lost=()):
        super().__init__(lost)
        self.rtts = list(rtts)

    def lognormal(self, mu, sigma, size=None):
        return self.rtts.pop(0) if len(self.rtts) > 1 else self.rtts[0]


@pytest.mark.parametrize("direction", [UP, DOWN])
def test_a_late_ack_fires_the_timer_and_resends_what_was_not_lost(direction):
    """Each round trip has its own delay: a 0.5 s handshake sets both timers near 1.5 s
    (the device's RFC 6298 max(1 s, 3 R), Linux's R + max(2 R, 0.2 s)); a 3 s round trip
    then outlasts them and the oldest segment is resent at RTO, and ACKed again. The
    device's window falls to one segment (lwIP); Linux undoes it (F-RTO, RFC 5682)."""
    link = LinkModel(rtt_s=0.5, uplink_bps=UP_BPS, downlink_bps=DOWN_BPS, loss=0.0,
                     connect_s=0.0, rtt_sigma=0.3)
    c = Connection(link, Delays([0.5, 0.5, 3.0, 0.5]), TcpParams(), trace=[])
    assert c.open()
    rto, t0 = c.rto[direction], c.t
    assert 1.0 < rto < 2.0
    before = c.out.bytes_up + c.out.bytes_down
    flight = c.send(direction, 4 * MSS)             # one round of 4 segments
    assert flight is not None and flight.retransmissions == 1
    resent = [t for t, d, text in c.trace if "spurious" in text]
    assert resent == pytest.approx([t0 + rto])
    assert c.out.wasted_bytes == (MSS + 40) + 40    # the copy and its duplicate ACK
    assert c.out.bytes_up + c.out.bytes_down - before == 4 * (MSS + 40) + 2 * 40 + c.out.wasted_bytes
    assert c.cwnd[direction] == (1.0 if direction == UP else 10.0)
    assert c.rto[direction] == pytest.approx(2 * rto)   # backed off, no sample (Karn)


def test_a_window_beyond_the_devices_buffer_loses_its_tail_at_the_base_station():
    """The server releases a round at once; the radio drains it at the device's rate.
    What exceeds the bandwidth-delay product (here 1 s x 25 kbit/s = 3125 B) queues at the
    base station, and what exceeds the device's buffer (10,000 B) is dropped from the
    tail: of 60 segments, rounds 10 and 20 fit (2,635 B and 8,395 B queued); round 3's
    30 (14,155 B) loses 8, which then come back by the usual recovery."""
    params = TcpParams(device_buffer_bytes=10_000)
    c = Connection(LinkModel(rtt_s=1.0, uplink_bps=UP_BPS, downlink_bps=DOWN_BPS,
                             loss=0.0, connect_s=0.0, rtt_sigma=0.0),
                   Script(), params, trace=[])
    assert c.open()
    flight = c.send(DOWN, 60 * MSS)
    assert flight is not None
    drops = [text for _, _, text in c.trace if "dropped at the base station" in text]
    assert drops == ["TCP: 8 segment(s) dropped at the base station (the device's "
                     "downlink buffer is full)"]
    assert flight.retransmissions == 8
    # an unbounded buffer drops nothing
    c = Connection(fixed(), Script(), TcpParams(), trace=[])
    assert c.open() and c.send(DOWN, 60 * MSS).retransmissions == 0


def test_the_devices_receive_window_caps_every_round():
    """With lwIP's default 4 x 536 B window the server sends 4 segments per round trip:
    the flight takes its 10 rounds of 4, each the longer of its serialization and the
    first ACK's return (two segments, the RTT, the ACK), the last until it arrives."""
    params = TcpParams(receive_window_bytes=tcp.LWIP_TCP_WND_BYTES)
    assert tcp.LWIP_TCP_WND_BYTES == 4 * MSS
    c = Connection(fixed(), Script(), params, trace=[])
    assert c.open()
    t0 = c.t
    flight = c.send(DOWN, 40 * MSS)
    s = down(MSS + 40)
    first_ack = 2 * s + RTT + up(40)
    expected = 9 * max(4 * s, first_ack) + 4 * s + RTT / 2
    assert flight.arrived_s - t0 == pytest.approx(expected, rel=1e-12)
    assert flight.segments == 40 and flight.retransmissions == 0
