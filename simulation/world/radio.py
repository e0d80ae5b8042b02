"""Device radio: RRC and PSM states, reachability and energy, integrated lazily.

States after the last packet a device sent or received (3GPP RRC + PSM, TS 24.301):

    connected  for `inactivity_s` (RRC inactivity timer), drawing `rx_mw`
    idle       for `active_timer_s` (T3324), drawing `idle_mw`; reachable by paging: a
               packet waits for the next paging occasion, uniform in [0, paging_cycle_s],
               then the connection is set up (`connect_s`)
    psm        until the next wake-up, drawing `psm_mw`; unreachable

While it transmits the radio draws `tx_mw` instead of `rx_mw`; connection set-up is counted
at `rx_mw` (assumption: random access is mostly listening). Only the radio is modelled:
MCU power during installation is not.

Nothing is scheduled for these transitions: the timers are deterministic, so the energy of
a quiet gap is a closed form (`gap_energy_mj`) evaluated when the next activity, or the end
of the run, comes. A sleeping device therefore costs no simulation events.
"""
from __future__ import annotations

import numpy as np

CONNECTED, IDLE, PSM = "connected", "idle", "psm"


def gap_energy_mj(gap_s: float, inactivity_s: float, active_s: float, rx_mw: float,
                  idle_mw: float, psm_mw: float) -> float:
    """Energy (mJ = mW x s) of `gap_s` seconds of quiet after the last packet."""
    connected = min(gap_s, inactivity_s)
    idle = min(max(gap_s - inactivity_s, 0.0), active_s)
    psm = max(gap_s - inactivity_s - active_s, 0.0)
    return rx_mw * connected + idle_mw * idle + psm_mw * psm


class Radios:
    """The radio state of every device, as arrays indexed by device id."""

    def __init__(self, n: int, device, power, connect_s: float):
        self.inactivity_s = device.inactivity_s
        self.active_s = device.active_timer_s
        self.paging_cycle_s = device.paging_cycle_s
        self.connect_s = connect_s
        self.tx_mw, self.rx_mw = power.tx_mw, power.rx_mw
        self.idle_mw, self.psm_mw = power.idle_mw, power.psm_mw
        self.last_activity = np.full(n, -np.inf)  # end of the last packet sent or received
        self.accounted_to = np.zeros(n)           # energy integrated up to this time
        self.energy_mj = np.zeros(n)

    def state(self, i: int, t: float) -> str:
        gap = t - self.last_activity[i]
        if gap < self.inactivity_s:
            return CONNECTED
        if gap < self.inactivity_s + self.active_s:
            return IDLE
        return PSM

    def _gap_to(self, i: int, t: float) -> None:
        """Integrate the quiet time from what is accounted up to t."""
        start = self.accounted_to[i]
        if t <= start:
            return
        last = self.last_activity[i]
        e0 = gap_energy_mj(start - last, self.inactivity_s, self.active_s, self.rx_mw,
                           self.idle_mw, self.psm_mw) if last > -np.inf else 0.0
        e1 = gap_energy_mj(t - last, self.inactivity_s, self.active_s, self.rx_mw,
                           self.idle_mw, self.psm_mw) if last > -np.inf else None
        self.energy_mj[i] += (e1 - e0) if e1 is not None else self.psm_mw * (t - start)
        self.accounted_to[i] = t

    def busy(self, i: int, t0: float, t1: float, tx_s: float = 0.0) -> None:
        """The radio is active over [t0, t1]: `tx_s` of it transmitting, the rest connected
        (receiving, listening or setting up the connection)."""
        self._gap_to(i, t0)
        t0 = max(t0, self.accounted_to[i])
        if t1 > t0:
            tx = min(tx_s, t1 - t0)
            self.energy_mj[i] += self.tx_mw * tx + self.rx_mw * (t1 - t0 - tx)
            self.accounted_to[i] = t1
        self.last_activity[i] = max(self.last_activity[i], t1)

    def uplink_delay(self, i: int, t: float) -> float:
        """Seconds before the device can transmit at t: 0 if connected, else set-up."""
        return 0.0 if self.state(i, t) == CONNECTED else self.connect_s

    def downlink_delay(self, i: int, t: float, u: float) -> float | None:
        """Seconds before a packet arriving at t can be received, None if in PSM.

        `u` is a uniform draw in [0, 1) for the paging occasion.
        """
        s = self.state(i, t)
        if s == CONNECTED:
            return 0.0
        if s == IDLE:
            return u * self.paging_cycle_s + self.connect_s
        return None

    def close(self, horizon_s: float) -> np.ndarray:
        """Integrate every device up to the horizon; energy per device in joules."""
        for i in range(len(self.energy_mj)):
            self._gap_to(i, horizon_s)
        return self.energy_mj / 1000.0
