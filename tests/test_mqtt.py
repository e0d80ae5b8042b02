"""Tests for simulation.protocols.mqtt against paho-mqtt (a real MQTT 3.1.1 client talking to
a socket on the loopback interface), the MQTT 3.1.1 remaining-length table, the calibration
rows, and a brute-force check of the keep-alive break-even."""

import socket

import paho.mqtt.client as paho
import pytest

from simulation.protocols import mqtt

CLIENT_ID = "dev-0001"


class Broker:
    """The server end of a paho client's TCP connection, to read its raw packets and
    feed it ours."""

    def __init__(self, **client_options):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.events = {}
        c = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=CLIENT_ID,
            protocol=paho.MQTTv311,
            clean_session=client_options.pop("clean_session", True),
        )
        if "username" in client_options:
            c.username_pw_set(client_options.pop("username"), client_options.pop("password", None))
        if "will" in client_options:
            c.will_set(*client_options.pop("will"))
        c.on_connect = lambda cl, ud, flags, rc, props: self.events.__setitem__(
            "connack", (flags.session_present, str(rc))
        )
        c.on_subscribe = lambda cl, ud, mid, rcs, props: self.events.__setitem__(
            "suback", (mid, [r.value for r in rcs])
        )
        c.on_publish = lambda cl, ud, mid, rc, props: self.events.__setitem__("puback", mid)
        c.on_message = lambda cl, ud, m: self.events.__setitem__(
            "message", (m.topic, m.payload, m.qos, m.retain, m.mid)
        )
        self.client = c
        c.connect(
            "127.0.0.1", self.listener.getsockname()[1], keepalive=client_options.pop("keepalive", 60)
        )
        self.sock, _ = self.listener.accept()
        self.sock.settimeout(2.0)

    def read(self, n: int) -> bytes:
        """Exactly n bytes from the client (pumping paho's writes for large packets)."""
        data = b""
        while len(data) < n:
            self.client.loop_write()
            data += self.sock.recv(n - len(data))
        return data

    def read_all(self) -> bytes:
        """What the client sent, read until a short idle period."""
        self.sock.settimeout(0.05)
        data = b""
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
        self.sock.settimeout(2.0)
        return data

    def feed(self, packet: bytes) -> None:
        """Send our packet to the client and let paho parse it."""
        self.sock.sendall(packet)
        self.client.loop_read()

    def close(self):
        self.client._sock_close()
        self.sock.close()
        self.listener.close()


@pytest.fixture
def broker():
    b = Broker()
    b.connect_packet = b.read_all()
    yield b
    b.close()


@pytest.mark.parametrize(
    "paho_options, ours",
    [
        ({}, {}),
        ({"keepalive": 1200, "clean_session": False}, {"keepalive_s": 1200, "clean_session": False}),
        ({"username": "user", "password": "secret"}, {"username": "user", "password": "secret"}),
        ({"username": "user"}, {"username": "user"}),
        (
            {
                "will": ("dev/status", b"offline", 1, True),
                "username": "u",
                "password": "p",
                "keepalive": 300,
            },
            {
                "will_topic": "dev/status",
                "will_message": b"offline",
                "will_qos": 1,
                "will_retain": True,
                "username": "u",
                "password": "p",
                "keepalive_s": 300,
            },
        ),
    ],
    ids=["plain", "keepalive-persistent", "credentials", "username-only", "will"],
)
def test_connect_matches_paho(paho_options, ours):
    b = Broker(**dict(paho_options))
    try:
        expected = mqtt.connect(CLIENT_ID, **ours)
        assert b.read_all() == expected
        assert len(expected) == 2 + 10 + 2 + len(CLIENT_ID) + sum(
            2 + len(v)
            for k, v in ours.items()
            if k in ("username", "password", "will_topic", "will_message")
        )
    finally:
        b.close()


@pytest.mark.parametrize(
    "session_present, rc, reason",
    [(False, 0, "Success"), (True, 0, "Success"), (False, 5, "Not authorized")],
)
def test_connack_is_understood_by_paho(session_present, rc, reason):
    b = Broker()
    try:
        b.read_all()
        packet = mqtt.connack(session_present, rc)
        assert len(packet) == 4
        b.feed(packet)
        assert b.events["connack"] == (session_present, reason)
    finally:
        b.close()


def test_subscribe_and_suback(broker):
    broker.feed(mqtt.connack())
    _, mid = broker.client.subscribe("fw/+/cmd", qos=1)
    assert broker.read_all() == mqtt.subscribe("fw/+/cmd", 1, mid)
    broker.feed(mqtt.suback(mid, 1))
    assert broker.events["suback"] == (mid, [1])
    _, mid = broker.client.subscribe("fw/#", qos=0)
    assert broker.read_all() == mqtt.subscribe("fw/#", 0, mid)
    broker.feed(mqtt.suback(mid, mqtt.SUBACK_FAILURE))
    assert broker.events["suback"] == (mid, [0x80])


@pytest.mark.parametrize(
    "qos, retain, payload",
    [(0, False, b""), (0, True, b"hello"), (1, False, b"x" * 600), (1, True, b"fw")],
)
def test_publish_and_puback_match_paho(broker, qos, retain, payload):
    broker.feed(mqtt.connack())
    info = broker.client.publish("dev/1/up", payload, qos=qos, retain=retain)
    ours = mqtt.publish("dev/1/up", payload, qos, info.mid if qos else None, retain=retain)
    assert broker.read_all() == ours
    assert len(ours) == mqtt.publish_bytes(len("dev/1/up"), len(payload), qos)
    if qos:
        broker.feed(mqtt.puback(info.mid))
        assert broker.events["puback"] == info.mid


def test_incoming_publish_is_parsed_and_acked_by_paho(broker):
    broker.feed(mqtt.connack())
    broker.feed(mqtt.publish("fw/1/cmd", b"update", qos=1, packet_id=77, retain=True))
    assert broker.events["message"] == ("fw/1/cmd", b"update", 1, True, 77)
    assert broker.read_all() == mqtt.puback(77) == b"\x40\x02\x00\x4d"
    broker.feed(mqtt.publish("fw/1/cmd", 1000, qos=0))
    assert broker.events["message"][:3] == ("fw/1/cmd", bytes(1000), 0)


def test_ping_and_disconnect_match_paho(broker):
    # calibration row "MQTT fixed header 2-5 B; PINGREQ / PINGRESP 2 B each"
    broker.feed(mqtt.connack())
    broker.client._send_pingreq()
    assert broker.read_all() == mqtt.pingreq() == b"\xc0\x00"
    broker.feed(mqtt.pingresp())
    assert broker.client._ping_t == 0  # paho recognised the PINGRESP
    assert len(mqtt.pingresp()) == 2
    broker.client.disconnect()
    assert broker.read_all() == mqtt.disconnect() == b"\xe0\x00"


# MQTT 3.1.1 section 2.2.3 Table 2.4
REMAINING_LENGTH_TABLE = [
    (0, "00"),
    (127, "7f"),
    (128, "8001"),
    (16383, "ff7f"),
    (16384, "808001"),
    (2097151, "ffff7f"),
    (2097152, "80808001"),
    (268435455, "ffffff7f"),
]


@pytest.mark.parametrize("n, encoded", REMAINING_LENGTH_TABLE)
def test_remaining_length_table_2_4_and_paho(n, encoded):
    ours = mqtt.encode_remaining_length(n)
    assert ours == bytes.fromhex(encoded)
    assert ours == bytes(
        paho.Client(paho.CallbackAPIVersion.VERSION2)._pack_remaining_length(bytearray(), n)
    )
    assert mqtt.remaining_length_bytes(n) == len(ours)
    assert mqtt.decode_remaining_length(b"\x30" + ours) == (n, len(ours))
    assert 2 <= mqtt.fixed_header_bytes(n) <= 5


def test_remaining_length_bounds():
    with pytest.raises(ValueError):
        mqtt.encode_remaining_length(268435456)
    with pytest.raises(ValueError):
        mqtt.decode_remaining_length(b"\x30\xff\xff\xff\xff\x01")


@pytest.mark.parametrize("remaining", [127, 128, 16383, 16384, 2097151, 2097152])
def test_publish_at_remaining_length_boundaries_matches_paho(broker, remaining):
    broker.feed(mqtt.connack())
    topic = "fw/image"
    payload = b"\x5a" * (remaining - 2 - len(topic))
    broker.client.publish(topic, payload, qos=0)
    ours = mqtt.publish(topic, payload)
    assert mqtt.decode_remaining_length(ours) == (remaining, mqtt.remaining_length_bytes(remaining))
    assert broker.read(len(ours)) == ours
    assert mqtt.publish_bytes(len(topic), len(payload)) == len(ours)


def test_invalid_packets():
    with pytest.raises(ValueError):
        mqtt.connect(CLIENT_ID, password="p")  # password without user name (section 3.1.2.9)
    with pytest.raises(ValueError):
        mqtt.publish("a/+", b"")
    with pytest.raises(ValueError):
        mqtt.publish("a", b"", qos=1)  # needs a packet id
    with pytest.raises(ValueError):
        mqtt.puback(0)
    with pytest.raises(ValueError):
        mqtt.connack(True, 5)


# ---------------------------------------------------------------------------
# Keep-alive vs reconnect
# ---------------------------------------------------------------------------


def energy_per_second(interval_s, keepalive_s, e_ka, e_rc, horizon_s=864_000):
    """Brute force over a horizon: (keep-alive, reconnect) energy per second."""
    wakes = horizon_s // interval_s
    keep = wakes * mqtt.pings_per_interval(interval_s, keepalive_s) * e_ka
    return keep / horizon_s, wakes * e_rc / horizon_s


def test_break_even_closed_form():
    # E_ka = 0.1 J per PINGREQ/PINGRESP, E_rc = 1.0 J per reconnect, K = 600 s (< 20 min carrier NAT)
    t_star = mqtt.keepalive_vs_reconnect_break_even_s(0.1, 1.0, 600, nat_tcp_timeout_s=1200)
    assert t_star == pytest.approx(6000)
    # at T*, the keep-alive energy per wake interval equals one reconnect
    assert mqtt.keepalive_energy_per_interval_j(t_star, 600, 0.1) == pytest.approx(1.0)
    # scaling: doubling the reconnect cost doubles T*, doubling K doubles T*
    assert mqtt.keepalive_vs_reconnect_break_even_s(0.1, 2.0, 600) == pytest.approx(12000)
    assert mqtt.keepalive_vs_reconnect_break_even_s(0.1, 1.0, 1200) == pytest.approx(12000)


@pytest.mark.parametrize(
    "e_ka, e_rc, k", [(0.1, 1.05, 600), (0.25, 0.6, 900), (0.05, 2.33, 120), (0.25, 1.0, 600)]
)
def test_discrete_break_even_against_brute_force(e_ka, e_rc, k):
    t_d = mqtt.keepalive_vs_reconnect_break_even_s(e_ka, e_rc, k, discrete=True)
    assert t_d % k == 0
    for interval in range(k // 2, int(t_d) + 3 * k, k // 4):
        keep, reconnect = energy_per_second(interval, k, e_ka, e_rc, horizon_s=interval * 100)
        assert (keep <= reconnect + 1e-12) == (interval <= t_d), interval


def test_pings_per_interval():
    assert mqtt.pings_per_interval(300, 600) == 0  # the wake-up itself keeps the session
    assert mqtt.pings_per_interval(600, 600) == 0
    assert mqtt.pings_per_interval(601, 600) == 1
    assert mqtt.pings_per_interval(3600, 600) == 5


def test_keepalive_must_beat_the_nat():
    with pytest.raises(ValueError):
        mqtt.keepalive_vs_reconnect_break_even_s(0.1, 1.0, 1200, nat_tcp_timeout_s=1200)
    assert mqtt.reconnect_energy_j(0.3, 0.2, e_tls_handshake_j=1.5) == pytest.approx(2.0)
    assert mqtt.keepalive_vs_reconnect_break_even_s(
        0.1, mqtt.reconnect_energy_j(0.3, 0.2, 1.5), 600
    ) == pytest.approx(12000)


def test_paho_gives_up_one_keep_alive_after_an_unanswered_pingreq():
    """paho-mqtt sends a PINGREQ once a keep alive passes without traffic and, if no
    PINGRESP comes within another keep alive, closes the connection (its keep-alive
    error): the rule `mqtt.pingresp_timeout_s` takes by default (equal to the keep alive)."""
    import time

    from simulation.scenario import Scenario

    keepalive = 1
    b = Broker(keepalive=keepalive)
    gone = {}
    b.client.on_disconnect = lambda cl, ud, flags, rc, props: gone.setdefault(
        "t", time.monotonic())
    try:
        b.read_all()                                  # CONNECT
        b.feed(mqtt.connack(False))
        pingreq_at, start = None, time.monotonic()
        b.sock.settimeout(0.02)
        while "t" not in gone and time.monotonic() - start < 6 * keepalive:
            b.client.loop(timeout=0.02)
            if pingreq_at is None:
                try:
                    if b.sock.recv(2) == mqtt.pingreq():
                        pingreq_at = time.monotonic()
                except TimeoutError:
                    pass
        assert pingreq_at is not None and "t" in gone
        assert gone["t"] - pingreq_at == pytest.approx(keepalive, abs=0.3)
    finally:
        b.listener.close()
        b.sock.close()
    sc = Scenario()
    assert sc.mqtt.pingresp_timeout_s == sc.mqtt.keepalive_s
