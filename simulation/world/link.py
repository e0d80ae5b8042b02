"""Radio links: calibrated presets, serialization time and the round-trip delay draw.

Each preset number cites its row of ../shared/calibration.md with its kind: S standard,
M measurement, V vendor, P practitioner report, A assumption (nobody published it).

Model (see interface.md, "What the words mean"): an exchange takes `rtt_s` plus the
serialization of the request and of the response at the uplink / downlink rate. `rtt_s`
is the mean; with a preset the round-trip delay of each exchange attempt is lognormal with
that mean and the preset's `rtt_sigma` (shape of the field distributions: median near the
mean, a long right tail, Robinson 2019, M). `fixed` has no jitter. `loss` is the
probability that one packet is lost on the radio, independently of every other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: preset -> calibrated values and the lognormal shape of its RTT.
PRESETS: dict[str, dict[str, float]] = {
    # Cat-NB1, coverage class 0 (good coverage, RSRP above about -90 dBm).
    "nbiot-ce0": dict(
        rtt_s=1.5,            # P: CoAP RTT 1-2 s on NB-IoT (californium#1843)
        downlink_bps=21_250,  # V: single-tone module DL rate 21.25 kbps (M5Stack M5311)
        uplink_bps=15_600,    # V: single-tone UL 15.6 kbps (M5311)
        loss=0.022,           # M: 4.4 % of CoAP exchanges retransmitted (boaks 42-day test,
                              #    LTE-M) -> per packet 1-(1-0.044)**0.5; A: same for CE0
        connect_s=1.0,        # A: RRC connection set-up incl. random access
        rtt_sigma=0.5,        # A: lognormal shape; 90 % of exchanges under 10 s (Robinson, M)
    ),
    # Coverage class 1 (RSRP about -90 to -110 dBm): repetitions cut the rate.
    "nbiot-ce1": dict(
        rtt_s=7.0,            # M: ECL1 latency about 6-8 s, 16-512 B payloads (Robinson 2019)
        downlink_bps=5_000,   # M: 90 % of RLC/MAC throughput samples under 10 kbps
                              #    (Robinson); A: half of that bound in CE1
        uplink_bps=3_900,     # A: CE0 single-tone UL / 4 (repetitions)
        loss=0.05,            # A
        connect_s=3.0,        # A
        rtt_sigma=0.5,        # A
    ),
    # Coverage class 2 (RSRP down to about -130 dBm, MCL 164 dB).
    "nbiot-ce2": dict(
        rtt_s=20.0,           # M: worst vendor about 20 s in ECL1 (Robinson); A: typical CE2
        downlink_bps=1_300,   # A: CE0 DL / 16 (repetitions up to 128x, 3GPP TR 45.820)
        uplink_bps=980,       # A: CE0 UL / 16
        loss=0.10,            # A
        connect_s=8.0,        # A
        rtt_sigma=0.6,        # A
    ),
    # LTE-M (Cat-M1).
    "ltem": dict(
        rtt_s=0.2,            # A: 10-15 ms air interface (Keysight, V) plus core and server
        downlink_bps=1_000_000,  # V: Cat-M1 peak DL 1 Mbps (Keysight)
        uplink_bps=1_000_000,    # V: Cat-M1 peak UL 1 Mbps (Keysight)
        loss=0.022,           # M: 4.4 % of exchanges retransmitted (boaks 42-day LTE-M test)
        connect_s=0.2,        # A
        rtt_sigma=0.5,        # A
    ),
    # LTE Cat-1.
    "cat1": dict(
        rtt_s=0.1,            # A
        downlink_bps=10_300_000,  # S: 3GPP TS 36.306 UE category 1 peak DL 10.3 Mbps
        uplink_bps=5_200_000,     # S: 3GPP TS 36.306 UE category 1 peak UL 5.2 Mbps
        loss=0.01,            # A
        connect_s=0.1,        # A
        rtt_sigma=0.5,        # A
    ),
    # Exact values, no jitter: for closed-form checks.
    "fixed": dict(rtt_s=1.0, downlink_bps=100_000, uplink_bps=100_000, loss=0.0,
                  connect_s=0.0, rtt_sigma=0.0),
}

#: local low-power hops between a device and its gateway (the delegated strategy).
LOCAL_PRESETS: dict[str, dict[str, float]] = {
    # IEEE 802.15.4 2.4 GHz with 6LoWPAN, one hop to the border router.
    "6lowpan": dict(
        rtt_s=0.138,          # P: 138 ms per CoAP block-wise request over 6LoWPAN
                              #    (zephyrproject-rtos/zephyr#30486)
        downlink_bps=250_000,  # S: IEEE 802.15.4 O-QPSK PHY rate
        uplink_bps=250_000,    # S: same channel
        loss=0.01,            # A
        connect_s=0.0,        # A: no connection set-up (the device polls its parent)
        rtt_sigma=0.3,        # A
    ),
    # Bluetooth Low Energy, 1M PHY, an established connection.
    "ble": dict(
        rtt_s=0.05,           # A: about one 30-50 ms connection interval there and back
        downlink_bps=1_000_000,  # S: BLE 1M PHY
        uplink_bps=1_000_000,    # S: BLE 1M PHY
        loss=0.01,            # A
        connect_s=0.1,        # A: reconnection on waking
        rtt_sigma=0.3,        # A
    ),
}

#: the link keys a preset supplies (the scenario's link.* other than `preset`).
LINK_KEYS = ("rtt_s", "uplink_bps", "downlink_bps", "loss", "connect_s")


def preset_values(preset: str) -> dict[str, float]:
    """The scenario values a preset supplies (its link.* keys)."""
    return {k: float(PRESETS[preset][k]) for k in LINK_KEYS}


def serialization_s(nbytes: float, rate_bps: float) -> float:
    """Time to put `nbytes` on a link of `rate_bps` bits per second, in seconds."""
    return 8.0 * nbytes / rate_bps


@dataclass(frozen=True)
class LinkModel:
    """A resolved link: rates, loss, set-up time and the RTT distribution."""

    rtt_s: float
    uplink_bps: float
    downlink_bps: float
    loss: float
    connect_s: float
    rtt_sigma: float

    @classmethod
    def local(cls, preset: str) -> "LinkModel":
        """A local hop (device <-> gateway) from LOCAL_PRESETS."""
        values = LOCAL_PRESETS[preset]
        return cls(**{k: float(values[k]) for k in (*LINK_KEYS, "rtt_sigma")})

    @classmethod
    def from_scenario(cls, link) -> "LinkModel":
        sigma = PRESETS[link.preset]["rtt_sigma"]
        return cls(rtt_s=link.rtt_s, uplink_bps=link.uplink_bps,
                   downlink_bps=link.downlink_bps, loss=link.loss, connect_s=link.connect_s,
                   rtt_sigma=sigma)

    def up_s(self, nbytes: float) -> float:
        return serialization_s(nbytes, self.uplink_bps)

    def down_s(self, nbytes: float) -> float:
        return serialization_s(nbytes, self.downlink_bps)

    def rtt_from_normal(self, z: np.ndarray) -> np.ndarray:
        """Round-trip delays (s) from standard normal draws z (lognormal, mean `rtt_s`)."""
        if self.rtt_sigma == 0.0 or self.rtt_s == 0.0:
            return np.full(np.shape(z), self.rtt_s)
        mu = math.log(self.rtt_s) - 0.5 * self.rtt_sigma ** 2
        return np.exp(mu + self.rtt_sigma * z)

    def sample_rtt(self, rng: np.random.Generator, size=None):
        """Round-trip delays (s), lognormal with mean `rtt_s` (exact when sigma is 0)."""
        if self.rtt_sigma == 0.0 or self.rtt_s == 0.0:
            return self.rtt_s if size is None else np.full(size, self.rtt_s)
        mu = math.log(self.rtt_s) - 0.5 * self.rtt_sigma ** 2
        return rng.lognormal(mu, self.rtt_sigma, size)
