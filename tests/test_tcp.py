"""Tests for simulation.protocols.tcp against scapy's TCP/IP encoder, RFC formulas and calibration."""

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.packet import Raw

from simulation.protocols import coap, tcp

# scapy option tuples, in the order Linux sends them
SCAPY_OPTIONS = {
    "mss": ("MSS", 536),
    "sack_permitted": ("SAckOK", b""),
    "timestamps": ("Timestamp", (12345, 0)),
    "window_scale": ("WScale", 7),
}
OPTION_SETS = [
    (),
    ("mss",),
    ("mss", "sack_permitted"),
    ("mss", "window_scale"),
    ("mss", "sack_permitted", "window_scale"),
    ("mss", "sack_permitted", "timestamps", "window_scale"),
    ("mss", "timestamps"),
]


def scapy_len(options=(), payload=0, flags="S") -> int:
    pkt = IP() / TCP(flags=flags, options=[SCAPY_OPTIONS[o] for o in options])
    if payload:
        pkt = pkt / Raw(b"\x00" * payload)
    return len(bytes(pkt))


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "+".join(o) or "none")
def test_option_block_matches_scapy(options):
    assert tcp.segment_bytes(0, tcp.option_bytes(options)) == scapy_len(options)


@pytest.mark.parametrize("payload", [0, 1, 535, 536, 1460])
def test_segment_bytes_matches_scapy(payload):
    assert tcp.segment_bytes(payload) == scapy_len((), payload, flags="A")
    assert tcp.segment_bytes(payload, 12) == scapy_len(("timestamps",), payload, flags="A")


def test_option_sizes_are_the_rfc_kind_length_values():
    # RFC 9293 section 3.2 (MSS kind 2 length 4), RFC 2018 section 2 (SACK-permitted length 2),
    # RFC 7323 sections 2.2 / 3.2 (window scale length 3, timestamps length 10)
    assert tcp.OPTION_BYTES == {"mss": 4, "sack_permitted": 2, "window_scale": 3, "timestamps": 10}
    assert tcp.option_bytes() == 12  # 9 B padded with NOPs
    assert tcp.option_bytes(("mss", "sack_permitted", "timestamps", "window_scale")) == 20  # Linux SYN


def test_handshake_packets_match_scapy():
    syn, synack, ack = tcp.handshake_packets()
    assert (syn.name, synack.name, ack.name) == ("SYN", "SYN-ACK", "ACK")
    assert syn.direction == ack.direction == tcp.CLIENT_TO_SERVER
    assert synack.direction == tcp.SERVER_TO_CLIENT
    assert syn.wire_bytes == scapy_len(tcp.SYN_OPTIONS_DEFAULT)
    assert synack.wire_bytes == scapy_len(tcp.SYN_OPTIONS_DEFAULT, flags="SA")
    assert ack.wire_bytes == scapy_len((), flags="A") == 40


def test_timestamps_ride_on_every_segment_only_when_both_sides_offer_them():
    linux = ("mss", "sack_permitted", "timestamps", "window_scale")
    syn, synack, ack = tcp.handshake_packets(linux)
    assert (syn.wire_bytes, synack.wire_bytes) == (60, 60)
    assert ack.wire_bytes == scapy_len(("timestamps",), flags="A") == 52
    assert tcp.established_options_bytes(linux) == 12
    _, _, ack = tcp.handshake_packets(linux, synack_options=("mss",))
    assert ack.wire_bytes == 40
    assert tcp.established_options_bytes(linux, ("mss",)) == 0


def test_option_block_limit():
    with pytest.raises(ValueError):
        tcp.option_bytes(("mss", "bogus"))
    with pytest.raises(ValueError):
        tcp.segment_bytes(0, 44)


def test_ipv4_header_shared_with_coap():
    assert tcp.IPV4_HEADER_BYTES == coap.IPV4_HEADER_BYTES == 20


def test_default_mss_and_the_536_byte_jump():
    # RFC 9293 section 3.7.1; calibration: MQTT energy on NB-IoT jumps past the 536 B default MSS
    assert tcp.MSS_DEFAULT == 536
    assert tcp.segments(536) == 1
    assert tcp.segments(537) == 2
    assert tcp.segments(0) == 0
    assert tcp.data_wire_bytes(537) == 537 + 2 * 40


@pytest.mark.parametrize(
    "mss, iw_bytes, iw_segments",
    [
        (536, 5360, 10),  # 10*MSS below the 14600 B cap
        (1000, 10000, 10),
        (1460, 14600, 10),  # Ethernet MSS: the 10-segment IW (Linux TCP_INIT_CWND)
        (1461, 14600, 9),
        (4000, 14600, 3),
        (7300, 14600, 2),
        (9000, 18000, 2),  # 2*MSS above 7300
    ],
)
def test_initial_window_rfc6928(mss, iw_bytes, iw_segments):
    assert tcp.initial_window_bytes(mss) == iw_bytes
    assert tcp.initial_window_segments(mss) == iw_segments


@pytest.mark.parametrize(
    "n, kwargs, expected",
    [
        (0, {}, ()),
        (7, {}, (7,)),
        (100, {}, (10, 20, 40, 30)),
        (100, {"iw": 2}, (2, 4, 8, 16, 32, 38)),
        (100, {"ssthresh": 20}, (10, 20, 21, 22, 23, 4)),
        (100, {"ssthresh": 15}, (10, 15, 16, 17, 18, 19, 5)),
        (100, {"max_window": 16}, (10, 16, 16, 16, 16, 16, 10)),
    ],
)
def test_slow_start_rounds(n, kwargs, expected):
    assert tcp.slow_start_rounds(n, **kwargs) == expected


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 5000), iw=st.integers(1, 10), ssthresh=st.integers(1, 200), rwnd=st.integers(1, 64)
)
def test_slow_start_rounds_properties(n, iw, ssthresh, rwnd):
    rounds = tcp.slow_start_rounds(n, iw, ssthresh, rwnd)
    assert sum(rounds) == n
    assert all(1 <= r <= rwnd for r in rounds)
    assert not rounds or rounds[0] == min(iw, rwnd, n)
    full = rounds[:-1]
    assert all(b >= a for a, b in pairwise(full))  # windows never shrink without loss
    assert all(b <= 2 * a for a, b in pairwise(rounds))  # at most doubling per RTT


@pytest.mark.parametrize(
    "n, delayed, acks", [(0, True, 0), (1, True, 1), (10, True, 5), (11, True, 6), (11, False, 11)]
)
def test_ack_count_rfc1122(n, delayed, acks):
    assert tcp.ack_count(n, delayed) == acks


def test_transfer_time_closed_form():
    # 10 full segments (5360 B at MSS 536) fit the IW: one round.
    # 10 * 576 B * 8 / 8000 bit/s = 5.76 s serialization + 1 RTT.
    assert tcp.transfer_time_s(5360, 1.0, 8000) == pytest.approx(6.76)
    # 30 segments: rounds (10, 20) -> 2 RTT + 17.28 s
    assert tcp.transfer_time_s(30 * 536, 1.0, 8000) == pytest.approx(19.28)
    # odd tail: 537 B = 536 + 1 B -> 577 + 41 wire bytes
    assert tcp.transfer_time_s(537, 0.5, 8000) == pytest.approx(0.5 + (576 + 41) * 8 / 8000)
    assert tcp.transfer_time_s(0, 1.0, 8000) == 0.0
    # timestamps: 12 B more per segment
    assert tcp.transfer_time_s(5360, 1.0, 8000, options_bytes=12) == pytest.approx(
        1 + 10 * 588 * 8 / 8000
    )


def test_ack_clocked_transfer_time():
    # s = 0.576 s per segment; round 1 (10 segments) lasts 5.76 s > s + RTT: no stall.
    assert tcp.ack_clocked_transfer_time_s(30 * 536, 1.0, 8000) == pytest.approx(30 * 0.576 + 1.0)
    # tiny windows on a fast link: stall s + RTT - w*s after each round
    s = 576 * 8 / 1e6
    expected = 7 * s + (s + 1 - s) + (s + 1 - 2 * s) + 1.0  # rounds (1, 2, 4)
    assert tcp.ack_clocked_transfer_time_s(7 * 536, 1.0, 1e6, iw=1) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(
    payload=st.integers(1, 2_000_000),
    rtt=st.floats(0.0, 20.0),
    rate=st.floats(1e3, 1e7),
    mss=st.sampled_from([536, 1200, 1460]),
)
def test_ack_clocking_never_slower_and_equal_on_an_infinitely_fast_link(payload, rtt, rate, mss):
    naive = tcp.transfer_time_s(payload, rtt, rate, mss)
    clocked = tcp.ack_clocked_transfer_time_s(payload, rtt, rate, mss)
    assert clocked <= naive + 1e-9
    rounds = len(tcp.slow_start_rounds(tcp.segments(payload, mss), tcp.initial_window_segments(mss)))
    assert tcp.transfer_time_s(payload, rtt, 1e15, mss) == pytest.approx(rounds * rtt, abs=1e-6)
    assert tcp.ack_clocked_transfer_time_s(payload, rtt, 1e15, mss) == pytest.approx(
        rounds * rtt, abs=1e-6
    )


def test_rto_first_sample_rfc6298_2_2():
    srtt, rttvar, rto = tcp.rto_update(None, None, 0.5)
    assert (srtt, rttvar) == (0.5, 0.25)
    assert rto == pytest.approx(1.5)  # 0.5 + 4 * 0.25
    assert tcp.rto_update(None, None, 0.1)[2] == 1.0  # rounded up to 1 s (section 2.4)
    assert tcp.rto_update(None, None, 30.0)[2] == 60.0  # capped (section 2.5)
    assert tcp.initial_rto_s() == 1.0  # section 2.1


def test_rto_update_uses_old_srtt_for_rttvar_rfc6298_2_3():
    srtt, rttvar, rto = tcp.rto_update(0.5, 0.25, 1.0)
    assert rttvar == pytest.approx(0.75 * 0.25 + 0.25 * 0.5)  # |0.5 - 1.0|, old SRTT
    assert srtt == pytest.approx(0.875 * 0.5 + 0.125 * 1.0)
    assert rto == pytest.approx(0.5625 + 4 * 0.3125)


def test_rto_clock_granularity():
    # RTO = SRTT + max(G, K*RTTVAR)
    assert tcp.rto_s(2.0, 0.0, g_s=0.5) == 2.5
    assert tcp.rto_s(2.0, 0.1, g_s=0.5) == pytest.approx(2.5)
    with pytest.raises(ValueError):
        tcp.rto_s(1.0, 0.1, max_rto_s=30.0)


def test_backoff_rfc6298_5_5():
    assert [tcp.backoff(1.0, n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert tcp.backoff(3.0, 2) == 12.0
    assert tcp.retransmission_times_s(4) == (1.0, 3.0, 7.0, 15.0)


def test_linux_gives_up_after_its_documented_924_6_s():
    """ip-sysctl.rst: tcp_retries2 = 15 "yields a hypothetical timeout of 924.6 seconds"
    (TCP_RTO_MIN 200 ms doubled to TCP_RTO_MAX 120 s); 8 retries fit below the cap."""
    assert tcp.linux_give_up_s() == pytest.approx(924.6)
    assert tcp.linux_give_up_s(8) == pytest.approx(0.2 * (2 ** 9 - 1))
    resends, abort = tcp.linux_retransmissions(0.2)
    assert len(resends) == 15
    assert abort >= 924.6 > resends[-1]
    # a larger RTO reaches the time limit in fewer resends
    resends, abort = tcp.linux_retransmissions(3.0)
    assert len(resends) == 12 and abort == pytest.approx(1029.0)


def test_linux_resends_into_a_sleep_as_mosquitto_on_linux_did():
    """Measured with mosquitto 2.0.11 on Linux (RTT a few ms), the device asleep from 0 s,
    then reachable for W s after its PINGREQ at K s: the PUBLISH sent into the sleep was
    resent on the RTO timer only, about 0.22 s x 2^k after the publish, and the first
    resend inside the window delivered it: K 60 / W 30, published at 5 s, delivered at
    60.3 s (resend 8); K 45 / W 20, published at 7 s, delivered at 62.8 s. A few-ms RTT
    gives Linux's RTO R + 0.2 s; the model's delivery is within 1 s of both."""
    rto = tcp.linux_rto_s(0.017, 0.017 / 2)
    resends, _ = tcp.linux_retransmissions(rto)
    for k, w, published, delivered in ((60, 30, 5.0, 60.3), (45, 20, 7.0, 62.8)):
        inside = [(n, published + t) for n, t in enumerate(resends, 1)
                  if k <= published + t <= k + w]
        assert inside[0][0] == 8
        assert inside[0][1] == pytest.approx(delivered, abs=1.0)
