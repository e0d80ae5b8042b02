"""Calibrated link presets: the values of every `link.preset` and `gateway.local_link`.

Each number cites its source with its kind: S standard, M measurement, V vendor, P
practitioner report, A assumption (nobody published it); `docs/calibration.md` gives the
full references. `rtt_s` is the mean round trip; the RTT of each exchange attempt is
lognormal with that mean and the preset's `rtt_sigma` (`world/link.py`).
"""
from __future__ import annotations

import math

#: LTE-M's per-packet loss, fitted: the model's share of hourly CoAP exchanges with at
#: least one retransmission, spurious ones included, equals 45 of 1018 = 4.4 % (M:
#: boaks/zephyr-coaps-client, 42-day LTE-M test), with that client's timers (M, from its
#: source: first retransmission 4-5 s after the request) and the `ltem` RTT spread (A;
#: with those timers none is spurious, and the fit is the closed form
#: 1 - (1 - 0.0442)^0.5 to within its standard error). Built-in scenario
#: `retransmissions-ltem`; the fit and its standard errors: `benchmarks/calibrate_loss.py`,
#: `benchmarks/calibrate_loss.md`.
LTEM_LOSS = 0.0225

#: preset -> calibrated values and the lognormal shape of its RTT.
PRESETS: dict[str, dict[str, float]] = {
    # Cat-NB1, coverage class 0 (good coverage, RSRP above about -90 dBm).
    "nbiot-ce0": dict(
        rtt_s=1.5,            # P: CoAP RTT 1-2 s on NB-IoT (californium#1843)
        downlink_bps=21_250,  # V: single-tone module DL rate 21.25 kbps (M5Stack M5311)
        cell_downlink_bps=200_000,  # P: an NB-IoT carrier's usable downlink without
                              #    repetitions, about 200 kbit/s (Sauter, "From GSM to
                              #    LTE-Advanced Pro and 5G"): the eNB schedules other UEs in
                              #    the gaps one Rel-13 UE's single HARQ process leaves
        uplink_bps=15_600,    # V: single-tone UL 15.6 kbps (M5311)
        loss=LTEM_LOSS,       # A: the per-packet loss fitted on LTE-M (above); no NB-IoT
                              #    retransmission figure is published
        connect_s=1.0,        # A: RRC connection set-up incl. random access
        rtt_sigma=0.27,       # P: the 1-2 s of californium#1843 as the 10th and 90th
                              #    percentiles (A), ln(2) / (2 x 1.2816); consistent with
                              #    Robinson's baseline just over 1 s and 90 % under 10 s (M)
        rtt_includes_cdrx=True,  # P: CoAP round trips on a live network, C-DRX included
    ),
    # Coverage class 1 (RSRP about -90 to -110 dBm): repetitions cut the rate.
    "nbiot-ce1": dict(
        rtt_s=7.0,            # M: ECL1 latency about 6-8 s, 16-512 B payloads (Robinson 2019)
        downlink_bps=5_000,   # M: 90 % of RLC/MAC throughput samples under 10 kbps
                              #    (Robinson); A: half of that bound in CE1
        cell_downlink_bps=47_000,  # A: CE0's carrier cut by the same repetitions as the
                              #    device's rate (200 kbit/s x 5 / 21.25)
        uplink_bps=3_900,     # A: CE0 single-tone UL / 4 (repetitions)
        loss=0.05,            # A
        connect_s=3.0,        # A
        rtt_sigma=0.5,        # A: Robinson's 6-8 s spans payloads of 16-512 B (the model's
                              #    mean exchange: 7.2-8.2 s); no spread per exchange
        rtt_includes_cdrx=True,  # M: latency measured on live networks (Robinson)
    ),
    # Coverage class 2 (RSRP down to about -130 dBm, MCL 164 dB).
    "nbiot-ce2": dict(
        rtt_s=20.0,           # M: worst vendor about 20 s in ECL1 (Robinson); A: typical CE2
        downlink_bps=1_300,   # A: CE0 DL / 16 (repetitions up to 128x, 3GPP TR 45.820)
        cell_downlink_bps=12_200,  # A: as CE1 (200 kbit/s x 1.3 / 21.25)
        uplink_bps=980,       # A: CE0 UL / 16
        loss=0.10,            # A
        connect_s=8.0,        # A
        rtt_sigma=0.6,        # A: no published spread
        rtt_includes_cdrx=True,  # M: as CE1, from live-network latency
    ),
    # LTE-M (Cat-M1).
    "ltem": dict(
        rtt_s=0.2,            # A: 10-15 ms air interface (Keysight, V) plus core and server
        downlink_bps=1_000_000,  # V: Cat-M1 peak DL 1 Mbps (Keysight)
        cell_downlink_bps=1_000_000,  # A: one 1.4 MHz narrowband for LTE-M, which one
                              #    device at its peak fills
        uplink_bps=1_000_000,    # V: Cat-M1 peak UL 1 Mbps (Keysight)
        loss=LTEM_LOSS,       # M, fitted: see LTEM_LOSS
        connect_s=0.2,        # A
        rtt_sigma=0.5,        # A: no published LTE-M latency distribution
        rtt_includes_cdrx=False,  # A: air interface plus core, composed without DRX
    ),
    # LTE Cat-1.
    "cat1": dict(
        rtt_s=0.1,            # A
        downlink_bps=10_300_000,  # S: 3GPP TS 36.306 UE category 1 peak DL 10.3 Mbps
        cell_downlink_bps=150_000_000,  # S: a 20 MHz 2x2 LTE carrier's peak (TS 36.306,
                              #    category 4: 150.8 Mbps); A: the cell's
        uplink_bps=5_200_000,     # S: 3GPP TS 36.306 UE category 1 peak UL 5.2 Mbps
        loss=0.01,            # A
        connect_s=0.1,        # A
        rtt_sigma=0.5,        # A: no published spread
        rtt_includes_cdrx=False,  # A: as LTE-M
    ),
    # Exact values, no jitter: for closed-form checks (a waiting radio waits on top).
    "fixed": dict(rtt_s=1.0, downlink_bps=100_000, cell_downlink_bps=100_000,
                  uplink_bps=100_000, loss=0.0,
                  connect_s=0.0, rtt_sigma=0.0, rtt_includes_cdrx=False),
}

#: local low-power hops between a device and its gateway (the delegated strategy).
LOCAL_PRESETS: dict[str, dict[str, float]] = {
    # IEEE 802.15.4 2.4 GHz with 6LoWPAN, one hop to the border router.
    "6lowpan": dict(
        rtt_s=0.138,          # P: 138 ms per CoAP block-wise request over 6LoWPAN
                              #    (zephyrproject-rtos/zephyr#30486)
        downlink_bps=250_000,  # S: IEEE 802.15.4 O-QPSK PHY rate
        cell_downlink_bps=250_000,  # S: one channel, shared by the gateway's devices
        uplink_bps=250_000,    # S: same channel
        loss=0.01,            # A
        connect_s=0.0,        # A: no connection set-up (the device polls its parent)
        rtt_sigma=0.3,        # A
    ),
    # Bluetooth Low Energy, 1M PHY, an established connection.
    "ble": dict(
        rtt_s=0.05,           # A: about one 30-50 ms connection interval there and back
        downlink_bps=1_000_000,  # S: BLE 1M PHY
        cell_downlink_bps=1_000_000,  # A: the gateway's one radio, shared
        uplink_bps=1_000_000,    # S: BLE 1M PHY
        loss=0.01,            # A
        connect_s=0.1,        # A: reconnection on waking
        rtt_sigma=0.3,        # A
    ),
}

#: the link keys a preset supplies (the scenario's link.* other than `preset`): its
#: numbers, which a local hop has too, and whether its round trips include C-DRX waits
LINK_NUMBERS = ("rtt_s", "uplink_bps", "downlink_bps", "cell_downlink_bps", "loss",
                "connect_s")
LINK_KEYS = (*LINK_NUMBERS, "rtt_includes_cdrx")


def preset_values(preset: str) -> dict[str, float | bool]:
    """The scenario values a preset supplies (its link.* keys)."""
    return {k: (bool(v) if isinstance(v, bool) else float(v))
            for k in LINK_KEYS for v in (PRESETS[preset][k],)}

#: the radios of the devices behind a gateway (the delegated strategy), by local link:
#: no cellular timers. Currents of a Nordic nRF52840 at 3 V (V: nRF52840 product
#: specification, radio current table, DC/DC on: TX 0 dBm 6.40 mA in both modes, RX
#: 6.53 mA in IEEE 802.15.4 mode and 6.26 mA in BLE 1M mode); the gateway itself is
#: mains-powered and not counted.
_NRF52840 = dict(
    tx_mw=19.2,                   # V: 6.40 mA x 3 V
    light_sleep_mw=0.006,         # P: about 2 uA in System ON sleep (nRF52832,
    idle_mw=0.006,                #    brilliantlabsAR/monocle-micropython#282) x 3 V,
    psm_mw=0.006,                 #    between polls or events and between wake-ups
    # A: the device polls fast (or stays connected) while it expects packets (its answer,
    # the next block of a push), and for 2 s after the last one it expects; when it
    # expects nothing it still does for 100 s after a packet, which covers CoAP's 93 s
    # MAX_TRANSMIT_WAIT, so a block resent after a lost 2.31 Continue finds it awake
    inactivity_s=100.0,
    release_assistance=True,
    release_s=2.0,
    drx_inactivity_s=0.0,
)
LOCAL_RADIOS: dict[str, dict[str, float | bool]] = {
    # A sleepy end device (Thread / 6LoWPAN): after a packet it polls its parent fast
    # ("connected"), then slowly; it stays attached, so it is always reachable at its
    # next poll (a packet for it waits at the parent until then).
    "6lowpan": dict(
        _NRF52840,
        rx_mw=19.59,              # V: 6.53 mA x 3 V
        cdrx_cycle_s=0.1,         # A: a fast poll every 100 ms while awaiting answers
        cdrx_on_s=0.005,          # A: a data request and the parent's answer, 5 ms
        active_s=math.inf,        # attached to its parent: never unreachable
        paging_cycle_s=240.0,     # A: slow poll period, the order of Thread's default
                                  #    child timeout (240 s)
        paging_occasion_mj=0.117,  # A: a slow poll, 1 ms TX + 5 ms RX at the powers above
        connect_mw=19.59,         # no set-up (connect_s 0); the receive power if any
    ),
    # A BLE peripheral that connects to its gateway when it wakes and disconnects after:
    # asleep and unreachable between wake-ups.
    "ble": dict(
        _NRF52840,
        rx_mw=18.78,              # V: 6.26 mA x 3 V
        cdrx_cycle_s=0.05,        # A: a 50 ms connection interval (the preset's RTT)
        cdrx_on_s=0.002,          # A: a 2 ms connection event
        active_s=0.0,             # disconnected: neither advertising nor scanning
        paging_cycle_s=0.0,
        paging_occasion_mj=0.0,
        connect_mw=18.78,         # A: scanning / advertising at the receive power
    ),
}
