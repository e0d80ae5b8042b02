"""The MQTT 3.1.1 broker the manager runs: persistent sessions and the update command.

Each device holds a persistent session (clean session false, [MQTT] section 3.1.2.4)
subscribed at QoS 1 to its command topic. When the release exists the manager publishes
the update command (a URL) to every device's topic at QoS 1. On a connection the broker
holds open, the PUBLISH goes into its TCP at once; unacknowledged, Linux resends it on its
timer, and whatever the broker sends later (a PINGRESP, a PUBACK) waits behind it. If
Linux gives up, the broker's socket is gone without a word to the client. The session
keeps the command until the client's PUBACK arrives ([MQTT] section 4.3.2) and sends it
again on the client's next connection (section 4.4). The packets themselves are built by
`protocols/mqtt.py`; this class holds the state the strategy needs between wake-ups.
"""
from __future__ import annotations

import json
import math

import numpy as np

from simulation.protocols import mqtt, tcp

#: the draft's example URL (section 7); the CoAP variant names the same binary
IMAGE_HOST = "company"
IMAGE_PATH = "/devicetype/version00.zip"


def command_topic(device_id: int) -> str:
    return f"devices/{device_id}/cmd"


def report_topic(device_id: int) -> str:
    return f"devices/{device_id}/report"


def command_payload(scheme: str) -> bytes:
    """The update command: version and URL of the binary, as JSON (A: AWS IoT Jobs and
    hawkBit send a JSON document with the URL)."""
    return json.dumps({"version": "2.0.0", "url": f"{scheme}://{IMAGE_HOST}{IMAGE_PATH}"},
                      separators=(",", ":")).encode()


class Broker:
    """Per-device MQTT session state, as arrays (local device index)."""

    def __init__(self, n: int, keepalive_s: float):
        self.keepalive_s = keepalive_s
        self.session = np.zeros(n, dtype=bool)        # a persistent session exists
        self.connected = np.zeros(n, dtype=bool)      # over a TCP connection thought open
        self.last_control = np.full(n, -np.inf)       # last control packet from the client
        self.command_delivered = np.zeros(n, dtype=bool)
        self.packet_id = np.zeros(n, dtype=np.int32)
        self.pings = np.zeros(n, dtype=np.int64)       # PINGREQs sent so far
        # the broker's TCP on the client's connection (nan: nothing pending)
        self.estimators: list[dict | None] = [None] * n   # each end's, on the connection
        self.in_flight_since = np.full(n, np.nan)     # the command PUBLISH, unacknowledged
        self.aborted = np.zeros(n, dtype=bool)         # Linux gave up: the socket is gone
        self.held: list[list[float]] = [[] for _ in range(n)]  # copies the network buffers
        self.owed_bytes = np.zeros(n, dtype=np.int64)  # answers queued behind the PUBLISH
        self.ping_unanswered = np.full(n, np.nan)      # a PINGREQ with no PINGRESP yet
        self.connections = np.zeros(n, dtype=np.int64)  # connections the client opened

    def subscribed(self, i: int) -> None:
        """The client's persistent session exists, subscribed to its command topic."""
        self.session[i] = True

    def conversation_over(self, i: int, connected: bool, last_control_s: float | None) -> None:
        """After a conversation: whether the connection stays open, and when the client
        last sent a control packet (None: the conversation failed, it is unchanged)."""
        self.connected[i] = connected
        if last_control_s is not None:
            self.last_control[i] = last_control_s

    def command_acknowledged(self, i: int) -> None:
        """The client's PUBACK for the command arrived: the session forgets it, and the
        broker's TCP has nothing in flight."""
        self.command_delivered[i] = True
        self.in_flight_since[i] = math.nan
        self.held[i] = []
        self.owed_bytes[i] = 0
        self.ping_unanswered[i] = math.nan

    def new_connection(self, i: int) -> None:
        """The client connected again: its old connection, and what was in flight on it,
        are gone (the session resends the command on the new one)."""
        self.in_flight_since[i] = math.nan
        self.held[i] = []
        self.owed_bytes[i] = 0
        self.aborted[i] = False
        self.ping_unanswered[i] = math.nan
        self.connections[i] += 1

    def command_sent(self, i: int, t: float) -> None:
        """The broker's TCP sent the command PUBLISH on the client's open connection at t."""
        self.in_flight_since[i] = t

    def answer_queued(self, i: int, nbytes: int) -> None:
        """An answer of `nbytes` (PINGRESP, PUBACK) waits behind the unacknowledged PUBLISH."""
        self.owed_bytes[i] += nbytes

    def ping_unanswered_at(self, i: int, t: float) -> None:
        """The client's PINGREQ of t gets no PINGRESP (it waits behind the PUBLISH)."""
        self.ping_unanswered[i] = t

    def gave_up(self, i: int) -> None:
        """Linux aborted the connection: the broker's socket is gone, the client unaware."""
        self.aborted[i] = True

    def copy_held(self, i: int, t: float) -> None:
        """The network holds the copy sent at t for the client (extended buffering)."""
        self.held[i].append(t)

    def held_copies(self, i: int, t: float, buffering_s: float) -> int:
        """How many held copies reach the client at t: those held at most `buffering_s`
        (older ones the network dropped)."""
        self.held[i] = [c for c in self.held[i] if t - c <= buffering_s]
        return len(self.held[i])

    def keep_estimators(self, i: int, est: dict) -> None:
        """Each end's RTT estimators after a conversation on the client's connection."""
        self.estimators[i] = est

    def stuck(self, i: int) -> bool:
        """Whether the command PUBLISH is in flight, unacknowledged, on a live connection:
        the broker's answers queue behind it."""
        return not math.isnan(self.in_flight_since[i]) and not self.aborted[i]

    def rto(self, i: int, min_rto_s: float, max_rto_s: float) -> float:
        """The broker's (Linux) retransmission timeout on the client's connection (s)."""
        est = self.estimators[i]         # keyed by the sender's direction, "down" its own
        if est is None or est.get("down") is None:
            return tcp.LINUX_INITIAL_RTO_S
        return tcp.linux_rto_s(*est["down"], min_rto_s, max_rto_s)

    def ping_sent(self, i: int) -> int:
        """The client sent a PINGREQ; returns how many it has sent."""
        self.pings[i] += 1
        return int(self.pings[i])

    def next_packet_id(self, i: int) -> int:
        """Packet identifiers 1..65535, per client ([MQTT] section 2.3.1)."""
        self.packet_id[i] = self.packet_id[i] % mqtt.MAX_PACKET_ID + 1
        return int(self.packet_id[i])

    def next_ping(self, i: int) -> float:
        """When the client sends its next PINGREQ if it sends nothing else
        ([MQTT] section 3.1.2.10)."""
        return float(self.last_control[i] + self.keepalive_s)
