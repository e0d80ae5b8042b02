"""Device radio: RRC, DRX and PSM states, reachability and energy, integrated lazily.

States after the last packet a device sent or received (3GPP TS 36.321 DRX, TS 36.331 RRC,
TS 24.301 PSM), with `connected_for` the length of the connected period (the RRC
inactivity timer `inactivity_s`, or `release_s` once the device asked for release):

    connected  for `connected_for`. The first `drx_inactivity_s` the radio receives
               continuously (`rx_mw`); then, with connected-mode DRX (`cdrx_cycle_s` > 0),
               it wakes for `cdrx_on_s` at the start of every cycle (`rx_mw`) and sleeps
               in between (`light_sleep_mw`). A downlink packet that arrives while the
               radio sleeps waits for the next on-duration (unless the link's measured
               round trips already include that wait, `cdrx_in_rtt`); an uplink
               packet does not.
    idle       for `active_s` (T3324), reachable by paging: the radio sleeps
               (`idle_mw`) and wakes at every paging occasion (`paging_occasion_mj`
               each), every `paging_cycle_s`; with eDRX (`edrx_cycle_s` > 0) only during
               a paging time window of `ptw_s` at the start of each eDRX cycle, whose
               first occasion costs `edrx_window_mj` (waking from the long sleep). A packet
               waits for the device's next paging occasion, then the connection is set
               up. Paging occasions are fixed per device (3GPP TS 36.304: they follow
               from the UE identity): a phase per device, drawn once.
    psm        until the next wake-up (`psm_mw`); unreachable.

Release assistance (AS-RAI, `release_assistance`): a device that expects nothing more
asks for release after its last packet; the network releases it `release_s` later,
unless more traffic comes first (A: the eNB keeps a connection that has data to carry).

While it transmits the radio draws `tx_mw`. Between the packets of an exchange it follows
the same connected-mode rules: packet fidelity integrates every gap exactly; flow fidelity,
which books an exchange at once, counts as reception each downlink packet's time on air
and `drx_inactivity_s` after each packet the device sends, and the rest of the exchange's
quiet time at the mean C-DRX power (A: a fluid approximation of the cycles). An RRC connection set-up (random access and RRC set-up,
`connect_s` long) draws `connect_mw`. Only the radio is modelled: MCU power during
installation is not.

The devices behind a gateway use the same states for their local radio
(`RadioModel.local`: 802.15.4 polling or a BLE connection, no cellular timers).

Nothing is scheduled for these transitions: the timers are deterministic, so the energy of
a quiet gap is a closed form (`RadioModel.quiet_energy_mj`) evaluated when the next
activity, or the end of the run, comes. A sleeping device therefore costs no simulation
events. Energy is split into `PARTS` (each device's split sums to its energy).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulation.scenario.presets import LOCAL_RADIOS

CONNECTED, IDLE, PSM = "connected", "idle", "psm"
#: the energy split: transmitting; receiving and connected (exchanges and continuous
#: reception); connected-mode DRX (on-durations and light sleep of the tail); idle (sleep
#: and paging occasions); PSM; RRC connection set-ups
PARTS = ("tx", "rx", "cdrx", "idle", "psm", "setup")


@dataclass(frozen=True)
class RadioModel:
    """The timers and powers of a device's radio (s, mW, mJ); see the module docstring."""

    inactivity_s: float
    active_s: float
    paging_cycle_s: float
    connect_s: float
    tx_mw: float
    rx_mw: float
    idle_mw: float
    psm_mw: float
    drx_inactivity_s: float = 0.0
    cdrx_cycle_s: float = 0.0           # 0: continuous reception while connected
    cdrx_on_s: float = 0.0
    light_sleep_mw: float = 0.0
    paging_occasion_mj: float = 0.0
    edrx_window_mj: float = 0.0
    edrx_cycle_s: float = 0.0           # 0: no eDRX
    ptw_s: float = 0.0
    connect_mw: float = 0.0
    release_assistance: bool = False
    release_s: float = 0.0
    cdrx_in_rtt: bool = False           # the link's round trips include the C-DRX waits

    @classmethod
    def from_scenario(cls, device, power, connect_s: float,
                      cdrx_in_rtt: bool = False) -> "RadioModel":
        return cls(inactivity_s=device.inactivity_s, active_s=device.active_timer_s,
                   paging_cycle_s=device.paging_cycle_s, connect_s=connect_s,
                   tx_mw=power.tx_mw, rx_mw=power.rx_mw, idle_mw=power.idle_mw,
                   psm_mw=power.psm_mw, drx_inactivity_s=device.drx_inactivity_s,
                   cdrx_cycle_s=device.cdrx_cycle_s, cdrx_on_s=device.cdrx_on_s,
                   light_sleep_mw=power.light_sleep_mw,
                   paging_occasion_mj=power.paging_occasion_mj,
                   edrx_window_mj=power.edrx_window_mj,
                   edrx_cycle_s=device.edrx_cycle_s, ptw_s=device.ptw_s,
                   connect_mw=power.connect_mw,
                   release_assistance=device.release_assistance,
                   release_s=device.release_s, cdrx_in_rtt=cdrx_in_rtt)

    @property
    def cdrx_mean_mw(self) -> float:
        """Mean power of connected-mode DRX over a cycle (mW)."""
        if self.cdrx_cycle_s <= 0:
            return self.rx_mw
        on = min(self.cdrx_on_s, self.cdrx_cycle_s)
        return (on * self.rx_mw + (self.cdrx_cycle_s - on) * self.light_sleep_mw) \
            / self.cdrx_cycle_s

    def connected_after_activity(self, releasing: bool) -> float:
        """The connected period after a packet (s): the inactivity timer, or the release
        delay of a device that asked for release."""
        return min(self.inactivity_s, self.release_s) if releasing else self.inactivity_s

    @classmethod
    def local(cls, preset: str, connect_s: float) -> "RadioModel":
        """The radio of a device behind a gateway (`LOCAL_RADIOS`), with no cellular
        timers; the states map as: connected = an 802.15.4 sleepy end device's fast polling
        (on-durations = polls) or a BLE connection (on-durations = connection events);
        idle = the end device attached, polling its parent every `paging_cycle_s`;
        psm = BLE disconnected. The device.* radio timers and power.* keys do not apply."""
        return cls(connect_s=connect_s, **LOCAL_RADIOS[preset])

    # -- reachability ---------------------------------------------------------------------
    def paging_occasions_per_s(self) -> float:
        """Paging occasions an idle device monitors per second."""
        if self.paging_cycle_s <= 0:
            return 0.0
        if self.edrx_cycle_s > 0:
            return min(self.ptw_s, self.edrx_cycle_s) / self.paging_cycle_s / self.edrx_cycle_s
        return 1.0 / self.paging_cycle_s

    @property
    def idle_power_mw(self) -> float:
        """Mean power of an idle device (mW): the sleep between paging occasions and the
        occasions; with eDRX the first occasion of each paging time window costs
        `edrx_window_mj` (the wake-up and resynchronisation after the long sleep)."""
        paging = self.paging_occasion_mj * self.paging_occasions_per_s()
        if self.edrx_cycle_s > 0 and self.paging_cycle_s > 0:
            paging += (self.edrx_window_mj - self.paging_occasion_mj) / self.edrx_cycle_s
        return self.idle_mw + paging

    def reachable(self, since_s, connected_for_s):
        """Whether a device `since_s` after its last packet (numbers or arrays) is connected
        or idle, not in PSM; a radio whose active timer never ends (an attached end device
        behind a gateway) is reachable even before its first packet (`since_s` infinite)."""
        return (since_s < connected_for_s + self.active_s) | (self.active_s == math.inf)

    def cdrx_wait(self, since_s: float) -> float:
        """Seconds a downlink packet waits for the next on-duration, `since_s` after the
        last packet of a connected device (none if the link's measured round trips
        include that wait, `cdrx_in_rtt`)."""
        cycle = self.cdrx_cycle_s
        if cycle <= 0 or self.cdrx_in_rtt or since_s < self.drx_inactivity_s:
            return 0.0
        phase = (since_s - self.drx_inactivity_s) % cycle
        return 0.0 if phase < self.cdrx_on_s else cycle - phase

    def paging_position(self, t: float, phase: float) -> float:
        """Where a packet arriving at t (s) falls in the paging cycle of a device whose
        occasions start at `phase` x cycle: the `u` of `paging_wait` (without eDRX the
        fraction of the cycle left before the next occasion; with eDRX the fraction of
        the eDRX cycle gone since the last paging time window began)."""
        if self.edrx_cycle_s > 0:
            return ((t - phase * self.edrx_cycle_s) % self.edrx_cycle_s) / self.edrx_cycle_s
        if self.paging_cycle_s <= 0:
            return 0.0
        gone = (t - phase * self.paging_cycle_s) % self.paging_cycle_s
        return 1.0 - gone / self.paging_cycle_s

    def paging_positions(self, t: np.ndarray, phase: float) -> np.ndarray:
        """`paging_position` over arrays."""
        t = np.asarray(t, dtype=float)
        if self.edrx_cycle_s > 0:
            return np.mod(t - phase * self.edrx_cycle_s, self.edrx_cycle_s) / self.edrx_cycle_s
        if self.paging_cycle_s <= 0:
            return np.zeros(t.shape)
        return 1.0 - np.mod(t - phase * self.paging_cycle_s, self.paging_cycle_s) \
            / self.paging_cycle_s

    def paging_wait(self, u: float) -> float:
        """Seconds from a packet's arrival at an idle device to the paging occasion that
        reaches it, for its position u in the cycle (`paging_position`), without the
        connection set-up."""
        if self.edrx_cycle_s <= 0:
            return u * self.paging_cycle_s
        x = u * self.edrx_cycle_s
        if x < self.ptw_s:      # inside a paging time window: the next regular occasion
            return self.paging_cycle_s - x % self.paging_cycle_s
        return self.edrx_cycle_s - x

    def downlink_wait(self, since_s: float, connected_for_s: float, u: float) -> float | None:
        """Seconds before a downlink packet arriving `since_s` after the last packet can be
        received (set-up included after paging), None if the device is in PSM."""
        if since_s < connected_for_s:
            return self.cdrx_wait(since_s)
        if self.reachable(since_s, connected_for_s):
            return self.paging_wait(u) + self.connect_s
        return None

    def downlink_waits(self, since_s: np.ndarray, connected_for_s,
                       u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`downlink_wait` over arrays: (connected, reachable, wait); the wait is 0 where
        unreachable. `connected_for_s` is a number or an array like `since_s`."""
        since_s = np.asarray(since_s, dtype=float)
        connected = since_s < connected_for_s
        reachable = self.reachable(since_s, connected_for_s)
        wait = np.zeros(np.broadcast_shapes(since_s.shape, np.shape(u)))
        if self.cdrx_cycle_s > 0 and not self.cdrx_in_rtt:
            phase = np.mod(since_s - self.drx_inactivity_s, self.cdrx_cycle_s)
            asleep = connected & (since_s >= self.drx_inactivity_s) & (phase >= self.cdrx_on_s)
            wait = np.where(asleep, self.cdrx_cycle_s - phase, wait)
        if self.edrx_cycle_s <= 0:
            paging = u * self.paging_cycle_s
        else:
            x = u * self.edrx_cycle_s
            paging = np.where(x < self.ptw_s,
                              self.paging_cycle_s - np.mod(x, self.paging_cycle_s),
                              self.edrx_cycle_s - x)
        wait = np.where(connected, wait, np.where(reachable, paging + self.connect_s, 0.0))
        return connected, reachable, wait

    # -- energy of a quiet gap -------------------------------------------------------------
    def _cdrx_on_time(self, d: float) -> float:
        """On-duration seconds in the first d seconds of C-DRX."""
        cycle = self.cdrx_cycle_s
        full = math.floor(d / cycle)
        return full * self.cdrx_on_s + min(d - full * cycle, self.cdrx_on_s)

    def quiet_energy_mj(self, gap_s: float, connected_for_s: float) -> np.ndarray:
        """Energy (mJ, split as `PARTS`) of the first `gap_s` seconds after the last
        packet, for a connected period of `connected_for_s`."""
        out = np.zeros(len(PARTS))
        if gap_s <= 0:
            return out
        connected = min(gap_s, connected_for_s)
        if self.cdrx_cycle_s > 0:
            continuous = min(connected, self.drx_inactivity_s)
            drx = connected - continuous
            on = self._cdrx_on_time(drx)
            out[1] = self.rx_mw * continuous
            out[2] = self.rx_mw * on + self.light_sleep_mw * (drx - on)
        else:
            out[1] = self.rx_mw * connected
        idle = min(max(gap_s - connected_for_s, 0.0), self.active_s)
        out[3] = self.idle_power_mw * idle
        out[4] = self.psm_mw * max(gap_s - connected_for_s - self.active_s, 0.0)
        return out


class Radios:
    """The radio state of every device, as arrays indexed by device index."""

    def __init__(self, models: list[RadioModel], kind: np.ndarray,
                 paging_phase: np.ndarray | None = None):
        """`models[kind[i]]` is device i's radio (one model per coverage class);
        `paging_phase`: each device's paging occasions, as a fraction of the cycle
        (default 0)."""
        self.models = list(models)
        self.kind = np.asarray(kind)
        n = len(self.kind)
        self.paging_phase = np.zeros(n) if paging_phase is None else np.asarray(paging_phase)
        self.last_activity = np.full(n, -np.inf)  # end of the last packet sent or received
        self.connected_for = np.array([m.inactivity_s for m in self.models])[self.kind]
        self.releasing = np.zeros(n, dtype=bool)   # asked for release (AS-RAI)
        self.claimed_at = np.full(n, -np.inf)     # when a session last took the connection
        self.accounted_to = np.zeros(n)           # energy integrated up to this time
        self.energy_mj = np.zeros((n, len(PARTS)))

    @classmethod
    def alike(cls, n: int, model: RadioModel,
              paging_phase: np.ndarray | None = None) -> "Radios":
        """n devices with the same radio."""
        return cls([model], np.zeros(n, dtype=np.int8), paging_phase)

    def model(self, i: int) -> RadioModel:
        """Device i's radio."""
        return self.models[self.kind[i]]

    def state(self, i: int, t: float) -> str:
        since = t - self.last_activity[i]
        if since < self.connected_for[i]:
            return CONNECTED
        if self.model(i).reachable(since, self.connected_for[i]):
            return IDLE
        return PSM

    def connected_periods(self, i: int) -> dict[str, float]:
        """The device's connected period after its last packet, and after its next one,
        and its paging phase (`flow_outcome`'s `connected_for_s`, `connected_after_s`,
        `paging_phase`)."""
        return {"connected_for_s": float(self.connected_for[i]),
                "connected_after_s": self.model(i).connected_after_activity(self.releasing[i]),
                "paging_phase": float(self.paging_phase[i])}

    def reachable_until(self, i: int) -> float:
        """When the device stops being reachable by paging if nothing happens (s)."""
        return float(self.last_activity[i] + self.connected_for[i] + self.model(i).active_s)

    def _gap_to(self, i: int, t: float) -> None:
        """Integrate the quiet time from what is accounted up to t."""
        start = self.accounted_to[i]
        if t <= start:
            return
        last, m = self.last_activity[i], self.model(i)
        if last == -np.inf:          # never active: in its resting state since the start
            if m.active_s == math.inf:     # attached for good (a local radio)
                self.energy_mj[i, PARTS.index("idle")] += m.idle_power_mw * (t - start)
            else:
                self.energy_mj[i, PARTS.index("psm")] += m.psm_mw * (t - start)
        else:
            cf = self.connected_for[i]
            self.energy_mj[i] += (m.quiet_energy_mj(t - last, cf)
                                  - m.quiet_energy_mj(start - last, cf))
        self.accounted_to[i] = t

    def busy(self, i: int, t0: float, t1: float, tx_s: float = 0.0,
             listen_s: float | None = None) -> None:
        """The radio is active over [t0, t1]: `tx_s` of it transmitting, `listen_s` in
        continuous reception, the rest in connected-mode DRX (default: all of it
        receiving). A device that asked for release is released `release_s` after this
        activity instead of the inactivity timer."""
        self._gap_to(i, t0)
        t0 = max(t0, self.accounted_to[i])
        if t1 > t0:
            m = self.model(i)
            tx = min(tx_s, t1 - t0)
            rest = t1 - t0 - tx
            listen = rest if listen_s is None else min(listen_s, rest)
            self.energy_mj[i, 0] += m.tx_mw * tx
            self.energy_mj[i, 1] += m.rx_mw * listen
            self.energy_mj[i, 2] += m.cdrx_mean_mw * (rest - listen)
            self.accounted_to[i] = t1
        if t1 > self.last_activity[i]:
            self.last_activity[i] = t1
            self.connected_for[i] = self.model(i).connected_after_activity(self.releasing[i])

    def set_up(self, i: int, t0: float) -> None:
        """An RRC connection set-up over [t0, t0 + connect_s] at `connect_mw`; the radio
        is connected from then on, and no longer asks for release."""
        m = self.model(i)
        t1 = t0 + m.connect_s
        self._gap_to(i, t0)
        start = max(t0, self.accounted_to[i])
        if t1 > start:
            self.energy_mj[i, PARTS.index("setup")] += m.connect_mw * (t1 - start)
            self.accounted_to[i] = t1
            self.last_activity[i] = max(self.last_activity[i], t1)
        self.releasing[i] = False
        self.claimed_at[i] = t0
        self.connected_for[i] = m.inactivity_s

    def take_connection(self, i: int, t: float, ahead: bool = False) -> bool:
        """A session takes the device's connection at t: it keeps one still up, or sets
        one up from t (or, `ahead`, one that is up at t); True if it set one up."""
        if self.state(i, t) == CONNECTED:
            self.stay_connected(i, t)
            return False
        self.set_up(i, t - self.model(i).connect_s if ahead else t)
        return True

    def stay_connected(self, i: int, t: float) -> None:
        """A new session at t on a connection still up: it no longer asks for release
        (what came before t is integrated first)."""
        self.claimed_at[i] = t
        if self.releasing[i]:
            self._gap_to(i, t)
            self.releasing[i] = False
            self.connected_for[i] = self.model(i).inactivity_s

    def ask_release(self, i: int, t: float) -> None:
        """The device expects nothing more after t (release assistance, if it has it): the
        network releases it `release_s` after its last packet, or after t."""
        m = self.model(i)
        if not m.release_assistance or self.releasing[i]:
            return
        self.releasing[i] = True
        last = self.last_activity[i]
        if last == -np.inf:
            return
        self._gap_to(i, max(t, last))
        self.connected_for[i] = min(m.inactivity_s, max(t - last, 0.0) + m.release_s)

    def paging_delay(self, i: int, t: float) -> float:
        """Seconds from t to device i's next paging occasion (without the set-up)."""
        m = self.model(i)
        return m.paging_wait(m.paging_position(t, float(self.paging_phase[i])))

    def downlink_delay(self, i: int, t: float) -> float | None:
        """Seconds before a packet arriving at t can be received, None if in PSM."""
        m = self.model(i)
        return m.downlink_wait(t - self.last_activity[i], self.connected_for[i],
                               m.paging_position(t, float(self.paging_phase[i])))

    def close(self, horizon_s: float) -> np.ndarray:
        """Integrate every device up to the horizon; energy per device and part (J)."""
        for i in range(len(self.energy_mj)):
            self._gap_to(i, horizon_s)
        return self.energy_mj / 1000.0
