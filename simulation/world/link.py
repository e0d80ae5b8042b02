"""Radio links: serialization time and the round-trip delay draw of a resolved link.

Model (see docs/interface.md, "What the words mean"): an exchange takes `rtt_s` plus the
serialization of the request and of the response at the uplink / downlink rate. `rtt_s`
is the mean; with a preset the round-trip delay of each exchange attempt is lognormal with
that mean and the preset's `rtt_sigma` (A: a right-skewed shape; each preset's spread and
its source are in `scenario/presets.py`). `fixed` has no jitter. `loss` is the
probability that one packet is lost on the radio, independently of every other. The
presets' numbers and their sources are in `scenario/presets.py`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulation.scenario.presets import LINK_NUMBERS, LOCAL_PRESETS, PRESETS


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
    cell_downlink_bps: float | None = None   # the cell's capacity (None: one device's)

    def __post_init__(self):
        if self.cell_downlink_bps is None:
            object.__setattr__(self, "cell_downlink_bps", self.downlink_bps)

    @classmethod
    def local(cls, preset: str) -> "LinkModel":
        """A local hop (device <-> gateway) from LOCAL_PRESETS."""
        values = LOCAL_PRESETS[preset]
        return cls(**{k: float(values[k]) for k in (*LINK_NUMBERS, "rtt_sigma")})

    @classmethod
    def of_preset(cls, preset: str, values: dict) -> "LinkModel":
        """A cellular link: `values` (its link.* numbers) with the preset's RTT spread."""
        return cls(**{k: float(values[k]) for k in LINK_NUMBERS},
                   rtt_sigma=PRESETS[preset]["rtt_sigma"])

    @property
    def servers(self) -> float:
        """The cell's downlink capacity in this link's device rates (`Cell`): how many
        of its devices receiving at full rate fill the cell."""
        return self.cell_downlink_bps / self.downlink_bps

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
