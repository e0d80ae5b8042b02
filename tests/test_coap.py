"""Tests for simulation.protocols.coap against aiocoap encodings and RFC 7252 Table 3."""

import math

import aiocoap
import pytest
from aiocoap.numbers.constants import TransportTuning
from aiocoap.numbers.optionnumbers import OptionNumber
from aiocoap.optiontypes import BlockOption, OpaqueOption, UintOption
from hypothesis import given
from hypothesis import strategies as st

from simulation.protocols import coap

TOKEN = b"\x4a\x01"
BT = BlockOption.BlockwiseTuple


def aio(code, mtype, *, token=TOKEN, payload=b"", **opts):
    """Build an outgoing aiocoap message (mid/token/mtype set as attributes)."""
    msg = aiocoap.Message(code=code, payload=payload)
    msg.mtype = mtype
    msg.mid = 0x1234
    msg.token = token
    for name, value in opts.items():
        setattr(msg.opt, name, value)
    return msg


def encoded_len(msg) -> int:
    return len(msg.encode())


# (our message, equivalent aiocoap message)
CASES = {
    "get_observe_multi_segment": (
        coap.get("/sensors/Radio_link_status/now", observe=0),
        aio(aiocoap.GET, aiocoap.CON, uri_path=("sensors", "Radio_link_status", "now"), observe=0),
    ),
    "get_observe_deregister_accept": (
        coap.get("/Radio_link_status", observe=1, accept=50),
        aio(aiocoap.GET, aiocoap.CON, uri_path=("Radio_link_status",), observe=1, accept=50),
    ),
    "get_root_no_path": (
        coap.get("/"),
        aio(aiocoap.GET, aiocoap.CON),
    ),
    **{
        f"get_block2_num{num}": (
            coap.get("/fw/image", block2=(num, False, 4)),
            aio(aiocoap.GET, aiocoap.CON, uri_path=("fw", "image"), block2=BT(num, False, 4)),
        )
        for num in (0, 5, 300, 70000)
    },
    "get_block2_more_bit": (
        coap.get("/fw/image", block2=(1, True, 6), token_len=4),
        aio(aiocoap.GET, aiocoap.CON, token=b"abcd", uri_path=("fw", "image"), block2=BT(1, True, 6)),
    ),
    "post_block1_size1": (
        coap.post("/fw/image", 256, block1=(3, True, 4), content_format=42, size1=10_000),
        aio(
            aiocoap.POST,
            aiocoap.CON,
            payload=b"\x00" * 256,
            uri_path=("fw", "image"),
            content_format=42,
            block1=BT(3, True, 4),
            size1=10_000,
        ),
    ),
    "post_rd_registration": (
        coap.post(
            "/rd",
            coap.link_format_bytes(["</Radio_link_status>;obs", "</sw>"]),
            content_format=40,
            queries=("ep=dev1", "lt=90000"),
        ),
        aio(
            aiocoap.POST,
            aiocoap.CON,
            payload=b"</Radio_link_status>;obs,</sw>",
            uri_path=("rd",),
            uri_query=("ep=dev1", "lt=90000"),
            content_format=40,
        ),
    ),
    "post_rd_query_in_path": (
        coap.post("/rd?ep=node-0042&lt=90000", 30, content_format=40),
        aio(
            aiocoap.POST,
            aiocoap.CON,
            payload=b"x" * 30,
            uri_path=("rd",),
            uri_query=("ep=node-0042", "lt=90000"),
            content_format=40,
        ),
    ),
    "post_without_content_format": (
        coap.post("/a", 0, content_format=None),
        aio(aiocoap.POST, aiocoap.CON, uri_path=("a",)),
    ),
    "notification_2_05": (
        coap.response("2.05", 1, observe=12, content_format=0),
        aio(aiocoap.CONTENT, aiocoap.ACK, payload=b"1", observe=12, content_format=0),
    ),
    "notification_2_05_con_large_observe": (
        coap.response("2.05", 1, observe=70_000, mtype="CON"),
        aio(aiocoap.CONTENT, aiocoap.CON, payload=b"1", observe=70_000),
    ),
    "response_2_05_block2_size2": (
        coap.response("2.05", 64, block2=(0, True, 2), content_format=42, size2=5000),
        aio(
            aiocoap.CONTENT,
            aiocoap.ACK,
            payload=b"z" * 64,
            block2=BT(0, True, 2),
            content_format=42,
            size2=5000,
        ),
    ),
    "continue_2_31": (
        coap.response("2.31", 0, block1=(7, True, 4)),
        aio(aiocoap.CONTINUE, aiocoap.ACK, block1=BT(7, True, 4)),
    ),
    "changed_2_04_last_block": (
        coap.response("2.04", 0, block1=(70000, False, 4)),
        aio(aiocoap.CHANGED, aiocoap.ACK, block1=BT(70000, False, 4)),
    ),
    "created_2_01_location": (
        coap.response("2.01", 0, location_path=("rd", "4521")),
        aio(aiocoap.CREATED, aiocoap.ACK, location_path=("rd", "4521")),
    ),
    "empty_ack": (
        coap.empty_ack(),
        aio(aiocoap.EMPTY, aiocoap.ACK, token=b""),
    ),
    "empty_rst": (
        coap.empty_rst(),
        aio(aiocoap.EMPTY, aiocoap.RST, token=b""),
    ),
    "extended_lengths_13_and_269": (
        coap.get("/" + "a" * 20 + "/" + "b" * 300 + "/" + "c" * 12 + "/" + "d" * 13),
        aio(aiocoap.GET, aiocoap.CON, uri_path=("a" * 20, "b" * 300, "c" * 12, "d" * 13)),
    ),
    "utf8_segment": (
        coap.get("/température/ü"),
        aio(aiocoap.GET, aiocoap.CON, uri_path=("température", "ü")),
    ),
    "delta_33_size1_after_block1": (
        coap.post("/u", 16, block1=(0, True, 0), content_format=None, size1=1024),
        aio(
            aiocoap.POST,
            aiocoap.CON,
            payload=b"p" * 16,
            uri_path=("u",),
            block1=BT(0, True, 0),
            size1=1024,
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_size_matches_aiocoap(name):
    ours, theirs = CASES[name]
    raw = theirs.encode()
    assert ours.size == len(raw)
    assert ours.wire_bytes == len(raw) + 8 + 20
    assert ours.token_len == len(theirs.token)
    assert ours.mtype == theirs.mtype.name
    assert ours.code in (theirs.code.name, theirs.code.dotted)
    assert ours.payload_len == len(theirs.payload)
    theirs_opts = [(o.number, len(o.encode())) for o in theirs.opt.option_list()]
    assert list(ours.options) == theirs_opts


def test_hand_counted_sizes():
    # 4 header + 2 token + Observe(delta 6, len 0)=1 + Uri-Path(delta 5, len 1)=1+1
    assert coap.get("/a", observe=0).size == 9
    assert coap.empty_ack().size == 4
    assert coap.empty_ack().wire_bytes == 32
    # payload marker only when payload present
    assert coap.message_bytes(0, [], 0) == 4
    assert coap.message_bytes(0, [], 1) == 6


def test_option_header_extended_encodings():
    assert coap.option_header_bytes(0, 0) == 1
    assert coap.option_header_bytes(12, 12) == 1
    assert coap.option_header_bytes(13, 0) == 2
    assert coap.option_header_bytes(0, 268) == 2
    assert coap.option_header_bytes(269, 269) == 5
    assert coap.option_header_bytes(33, 1) == 2
    assert coap.option_header_bytes(65804, 0) == 3
    with pytest.raises(ValueError):
        coap.option_header_bytes(65805, 0)
    with pytest.raises(ValueError):
        coap.option_header_bytes(-1, 0)


def test_block1_then_size1_delta_33_matches_aiocoap():
    msg = aio(aiocoap.POST, aiocoap.CON, token=b"")
    msg.opt.block1 = BT(1, True, 4)
    msg.opt.size1 = 60
    raw = msg.encode()
    assert coap.message_bytes(0, [(coap.SIZE1, 1), (coap.BLOCK1, 1)], 0) == len(raw)
    # Option part: Block1 delta 27 (ext 1) + Size1 delta 33 (ext 1)
    assert raw[4:] == bytes([0xD1, 27 - 13, 0x1C, 0xD1, 33 - 13, 60])


def test_option_numbers_match_aiocoap():
    for name in (
        "IF_MATCH URI_HOST ETAG OBSERVE URI_PORT LOCATION_PATH URI_PATH CONTENT_FORMAT "
        "MAX_AGE URI_QUERY ACCEPT LOCATION_QUERY BLOCK2 BLOCK1 SIZE2 SIZE1"
    ).split():
        assert getattr(coap, name) == int(getattr(OptionNumber, name)), name
    assert coap.COAP_PORT == aiocoap.COAP_PORT
    assert (coap.UDP_HEADER_BYTES, coap.IPV4_HEADER_BYTES) == (8, 20)
    assert coap.datagram_bytes(10) == 38


option_entries = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=2000),
        st.integers(min_value=0, max_value=400),
    ),
    max_size=8,
)


@given(
    options=option_entries,
    token_len=st.integers(min_value=0, max_value=8),
    payload_len=st.integers(min_value=0, max_value=600),
)
def test_message_bytes_matches_aiocoap_random(options, token_len, payload_len):
    msg = aio(aiocoap.POST, aiocoap.NON, token=b"t" * token_len, payload=b"p" * payload_len)
    for number, length in options:
        msg.opt.add_option(OpaqueOption(number, b"v" * length))
    assert coap.message_bytes(token_len, options, payload_len) == len(msg.encode())


@pytest.mark.parametrize("value", [0, 1, 12, 255, 256, 65535, 65536, 2**24 - 1, 2**24, 2**32 - 1])
def test_uint_option_length_matches_aiocoap_observe(value):
    with_opt = aio(aiocoap.GET, aiocoap.CON, observe=value)
    without = aio(aiocoap.GET, aiocoap.CON)
    # observe (number 6) header is a single byte: delta 6, length < 13
    assert encoded_len(with_opt) - encoded_len(without) == 1 + coap.uint_option_length(value)


@given(st.integers(min_value=0, max_value=2**64))
def test_uint_option_length_random(value):
    assert coap.uint_option_length(value) == len(UintOption(coap.OBSERVE, value).encode())


def test_uint_option_length_rejects_negative():
    with pytest.raises(ValueError):
        coap.uint_option_length(-1)


@given(
    num=st.integers(min_value=0, max_value=2**20 - 1),
    more=st.booleans(),
    szx=st.integers(min_value=0, max_value=6),
)
def test_block_option_value_matches_aiocoap(num, more, szx):
    opt = BlockOption(coap.BLOCK2, BT(num, more, szx))
    raw = opt.encode()
    assert coap.block_option_value(num, more, szx) == int.from_bytes(raw, "big")
    assert coap.uint_option_length(coap.block_option_value(num, more, szx)) == len(raw)


def test_block_option_value_examples_and_limits():
    assert coap.block_option_value(0, False, 0) == 0
    assert coap.block_option_value(1, True, 6) == 0x1E
    assert coap.block_option_value(5, False, 4) == 0x54
    for bad in ((2**20, False, 4), (-1, False, 4), (0, False, 7), (0, False, -1)):
        with pytest.raises(ValueError):
            coap.block_option_value(*bad)


def test_szx_for():
    for szx in range(7):
        assert coap.szx_for(2 ** (szx + 4)) == szx
        assert coap.block_size(szx) == BT(0, False, szx).size
    for bad in (100, 2048, 8, 0, -16, 1000, 16.0):
        with pytest.raises(ValueError):
            coap.szx_for(bad)


@given(
    total=st.integers(min_value=0, max_value=200_000),
    block=st.sampled_from([16, 32, 64, 128, 256, 512, 1024]),
)
def test_blocks_sum_to_total(total, block):
    count = coap.block_count(total, block)
    assert count == max(1, math.ceil(total / block))
    sizes = [coap.block_payload(total, block, n) for n in range(count)]
    assert sum(sizes) == total
    assert all(s == block for s in sizes[:-1])
    assert 0 <= sizes[-1] <= block
    assert [coap.block_more(total, block, n) for n in range(count)] == [True] * (count - 1) + [False]
    with pytest.raises(ValueError):
        coap.block_payload(total, block, count)


def test_block_examples():
    assert coap.block_count(0, 64) == 1
    assert coap.block_count(1000, 256) == 4
    assert coap.block_payload(1000, 256, 3) == 232
    assert coap.block_count(1024, 256) == 4
    assert coap.block_payload(1024, 256, 3) == 256


def test_rfc7252_table3_defaults():
    assert coap.max_transmit_span() == pytest.approx(45.0)
    assert coap.max_transmit_wait() == pytest.approx(93.0)
    assert coap.exchange_lifetime() == pytest.approx(247.0)
    assert coap.non_lifetime() == pytest.approx(145.0)
    assert coap.max_rtt() == pytest.approx(202.0)
    assert coap.max_transmit_span(2.0, 1.5, 4) == pytest.approx(45.0)
    assert coap.max_transmit_wait(2.0, 1.5, 4) == pytest.approx(93.0)
    assert coap.exchange_lifetime(2.0, 1.5, 4) == pytest.approx(247.0)
    assert coap.initial_timeout_bounds(2.0, 1.5) == (2.0, 3.0)


@given(
    ack_timeout=st.floats(min_value=0.1, max_value=30.0),
    factor=st.floats(min_value=1.0, max_value=3.0),
    max_retransmit=st.integers(min_value=0, max_value=10),
)
def test_timers_match_aiocoap_transport_tuning(ack_timeout, factor, max_retransmit):
    class Tuning(TransportTuning):
        ACK_TIMEOUT = ack_timeout
        ACK_RANDOM_FACTOR = factor
        MAX_RETRANSMIT = max_retransmit

    t = Tuning()
    args = (ack_timeout, factor, max_retransmit)
    assert coap.max_transmit_span(*args) == pytest.approx(t.MAX_TRANSMIT_SPAN)
    assert coap.max_transmit_wait(*args) == pytest.approx(t.MAX_TRANSMIT_WAIT)
    assert coap.exchange_lifetime(*args) == pytest.approx(t.EXCHANGE_LIFETIME)
    assert coap.max_rtt(ack_timeout) == pytest.approx(t.MAX_RTT)


@given(
    initial=st.floats(min_value=0.1, max_value=10.0),
    max_retransmit=st.integers(min_value=0, max_value=10),
)
def test_retransmission_schedule(initial, max_retransmit):
    waits = [coap.timeout_before_attempt(initial, a) for a in range(max_retransmit + 1)]
    assert all(b == pytest.approx(2 * a) for a, b in zip(waits, waits[1:]))
    # sender gives up after the wait following the last retransmission
    assert coap.give_up_after(initial, max_retransmit) == pytest.approx(sum(waits))


def test_worst_case_schedule_equals_table3():
    lo, hi = coap.initial_timeout_bounds()
    assert coap.give_up_after(hi, 4) == pytest.approx(coap.max_transmit_wait())
    last_tx = sum(coap.timeout_before_attempt(hi, a) for a in range(4))
    assert last_tx == pytest.approx(coap.max_transmit_span())
    assert coap.timeout_before_attempt(lo, 0) == 2.0
    assert coap.timeout_before_attempt(lo, 3) == 16.0


def test_link_format_bytes():
    payload = "</Radio_link_status>;obs,</sw>"
    assert coap.link_format_bytes(["</Radio_link_status>;obs", "</sw>"]) == len(payload.encode())
    assert coap.link_format_bytes(["</é>"]) == 5
    assert coap.link_format_bytes([]) == 0


def test_message_validation():
    with pytest.raises(ValueError):
        coap.CoapMessage("GET", "XYZ", 2, (), 0)
    with pytest.raises(ValueError):
        coap.get("/a", token_len=9)
    with pytest.raises(ValueError):
        coap.post("/a", -1)
    with pytest.raises(Exception):
        coap.empty_ack().payload_len = 3  # frozen
