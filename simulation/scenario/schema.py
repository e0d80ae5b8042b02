"""The scenario: one typed, frozen schema holding every key of the contract.

Every key is a field of a frozen dataclass (one class per TOML table). A field's metadata
carries its unit, its documentation and what values are allowed; `validate_value` uses it
to coerce and refuse input, and the README's key table is generated from it
(`python -m simulation keys`). Variants are derived with `Scenario.with_overrides`,
never mutated.

Defaults describe the `baseline` fleet: NB-IoT devices in coverage class 0 behind a
carrier-grade NAT. Each default cites its source and kind (docs/calibration.md gives the
references) or is marked as an assumption (A).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from simulation.errors import ScenarioError
from simulation.scenario.presets import LOCAL_PRESETS, PRESETS

STRATEGIES = ("manager-polling", "device-polling", "device-initiated", "manager-initiated",
              "delegated", "mqtt-http", "mqtt-coap", "discovery")
LINK_PRESETS = tuple(PRESETS)
LOCAL_LINKS = tuple(LOCAL_PRESETS)
#: filtering behaviours of RFC 4787 REQ-8, from the most to the least permissive
FILTERING = ("endpoint-independent", "address-dependent", "address-port-dependent")
SECURITY_MODES = ("none", "dtls-psk", "dtls-cert", "tls")


def key(default, doc: str, unit: str = "", *, choices=None, low=None, high=None,
        low_open=False, integer=False, boolean=False, parser=None, expects="",
        table=False):
    """A scenario key: default, docstring, unit and the allowed range or choices
    (`boolean`: true or false, for a key whose default None is left to a preset; `parser`:
    a text key whose value `parser` turns into its canonical text or refuses with
    ValueError, `expects` saying what it accepts; `table`: its parser also reads a TOML
    table)."""
    meta = dict(doc=doc, unit=unit, choices=choices, low=low, high=high, low_open=low_open,
                integer=integer, boolean=boolean or isinstance(default, bool), parser=parser,
                expects=expects, table=table)
    return field(default=default, metadata=meta)


def parse_shares(text) -> tuple[float, ...]:
    """Cumulative shares of the fleet, "0.01,0.05,0.25,0.5,1": increasing, each in
    (0, 1], the last 1 (ValueError otherwise)."""
    if not isinstance(text, str):
        raise ValueError(text)
    shares = tuple(float(x) for x in text.replace(" ", "").split(","))
    if (shares[-1] != 1.0 or any(not 0 < s <= 1 for s in shares)
            or any(b <= a for a, b in zip(shares, shares[1:]))):
        raise ValueError(text)
    return shares


def canonical_shares(text) -> str:
    return ",".join(f"{s:g}" for s in parse_shares(text))


def named_pairs(value) -> list[tuple[str, Any]]:
    """The (preset, value) pairs of a per-preset key: a TOML table, or its text
    "nbiot-ce0=0.7,nbiot-ce1=0.3" ("" -> none). ValueError for anything else."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if not isinstance(value, str):
        raise ValueError(value)
    text = value.replace(" ", "")
    pairs = [item.split("=", 1) for item in text.split(",")] if text else []
    if any(len(p) != 2 for p in pairs):
        raise ValueError(value)
    return [(name, v) for name, v in pairs]


def parse_mix(value) -> tuple[tuple[str, float], ...]:
    """Shares of the fleet per link preset (`named_pairs`): known cellular presets, each
    once, shares in (0, 1] summing to 1 (to 1e-9); "" (or an empty table): one class,
    `link.preset`. ValueError otherwise."""
    mix = tuple((name, float(share)) for name, share in named_pairs(value))
    names = [name for name, _ in mix]
    if (any(name not in PRESETS for name in names)
            or len(set(names)) != len(names) or any(not 0 < s <= 1 for _, s in mix)
            or (mix and abs(sum(s for _, s in mix) - 1.0) > 1e-9)):
        raise ValueError(value)
    return mix


def canonical_mix(value) -> str:
    return ",".join(f"{name}={share:g}" for name, share in parse_mix(value))


def parse_caps(value) -> dict[str, int]:
    """Download slots per cell: a whole number for every class ("" -> it), or one per link
    preset (`named_pairs`). ValueError otherwise."""
    def count(x) -> int:
        if isinstance(x, bool) or float(x) != int(float(x)) or int(float(x)) < 0:
            raise ValueError(x)
        return int(float(x))

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"": count(value)}
    if isinstance(value, str) and "=" not in value:
        return {"": count(value.strip())}
    pairs = named_pairs(value)
    caps = {name: count(n) for name, n in pairs}
    if any(name not in PRESETS for name in caps) or len(caps) != len(pairs) or not caps:
        raise ValueError(value)
    return caps


def canonical_caps(value) -> str:
    caps = parse_caps(value)
    if "" in caps:
        return str(caps[""])
    return ",".join(f"{name}={n}" for name, n in caps.items())


@dataclass(frozen=True)
class Sim:
    seed: int = key(1, "master seed; every random stream derives from it", low=0, integer=True)
    horizon_s: float = key(21600.0, "simulated time at which the run stops", "s", low=0,
                           low_open=True)
    fidelity: str = key("flow", "`packet`: every CoAP message is an event, and so is each "
                        "TCP conversation (its segments are computed round by round, as in "
                        "`flow`); `flow`: an exchange or a transfer is computed in as few "
                        "events as its interactions allow, and message by message, as in "
                        "`packet`, while the manager's queue is congested",
                        choices=("packet", "flow"))


@dataclass(frozen=True)
class Fleet:
    size: int = key(1000, "number of devices", low=1, integer=True)
    cells: int = key(50, "radio cells; device i is in cell i mod cells; each cell's downlink "
                     "capacity is shared", low=1, integer=True)
    coverage_mix: str = key("", "share of the devices per link preset, e.g. "
                            "{ \"nbiot-ce0\" = 0.7, \"nbiot-ce1\" = 0.2, \"nbiot-ce2\" = "
                            "0.1 }: each device's class by its own draw; a cell's devices "
                            "share its airtime, whatever their class; a `link.*` value that "
                            "differs from `link.preset`'s applies to every class. \"\": one "
                            "class, `link.preset`", parser=canonical_mix, table=True,
                            expects="shares of cellular link presets summing to 1, e.g. "
                                    "\"nbiot-ce0=0.7,nbiot-ce1=0.3\"")

    @property
    def mix(self) -> tuple[tuple[str, float], ...]:
        return parse_mix(self.coverage_mix)


@dataclass(frozen=True)
class Device:
    wake: str = key("periodic", "`periodic` (fixed interval, random phase per device) or "
                    "`poisson`", choices=("periodic", "poisson"))
    wake_interval_s: float = key(3600.0, "mean time between wake-ups (uplink report, periodic "
                                 "TAU); T3412 default 54 min, hourly reports common (S/V)",
                                 "s", low=0, low_open=True)
    report_bytes: int = key(64, "application payload sent at each wake-up (A)", "bytes",
                            low=0, integer=True)
    inactivity_s: float = key(20.0, "RRC inactivity timer after the last packet; network "
                              "default 20 s (M, Martinez et al. 2019)", "s", low=0)
    active_timer_s: float = key(8.0, "PSM active timer T3324: idle, reachable by paging "
                                "(M, Martinez et al. 2019: 8 s)", "s", low=0)
    paging_cycle_s: float = key(2.56, "idle DRX cycle: a packet for an idle device waits "
                                "for its next paging occasion (S: DRX 0.64-2.56 s)", "s",
                                low=0)
    drx_inactivity_s: float = key(0.1, "connected-mode DRX inactivity timer: continuous "
                                  "reception after each packet (A: within NB-IoT's pp0-pp32 "
                                  "PDCCH periods, TS 36.331)", "s", low=0)
    cdrx_cycle_s: float = key(2.048, "connected-mode DRX cycle while the RRC inactivity timer "
                              "runs; 0: continuous reception (M, Martinez et al. 2019: "
                              "2.048 s with the 20 s timer)", "s", low=0)
    cdrx_on_s: float = key(0.04, "connected-mode DRX on-duration at the start of each cycle "
                           "(A: a few NPDCCH periods, TS 36.331 onDurationTimer)", "s", low=0)
    edrx_cycle_s: float = key(0.0, "idle-mode eDRX cycle; 0: none (paging every "
                              "`device.paging_cycle_s`); NB-IoT 20.48 s to 10485.76 s "
                              "(S: TS 24.008)", "s", low=0)
    ptw_s: float = key(0.0, "eDRX paging time window at the start of each eDRX cycle "
                       "(V: 1.28-20.48 s, nRF93M1)", "s", low=0)
    release_assistance: bool = key(False, "AS-RAI: a device that expects nothing more asks "
                                   "for release after its last packet (off: an opt-in of the "
                                   "application on current modules, and the network must "
                                   "support it)")
    release_s: float = key(0.5, "with release assistance, from the last packet to the RRC "
                           "release (A; Rostad 2020 measured 1.47 s of connected time after "
                           "a report, its answer included)", "s", low=0)
    install_s: float = key(60.0, "time to install a full image and reboot (A)", "s", low=0)


@dataclass(frozen=True)
class Power:
    tx_mw: float = key(792.0, "transmitting: 220 mA at 23 dBm x 3.6 V (V, u-blox SARA-N211)",
                       "mW", low=0)
    rx_mw: float = key(165.6, "receiving and connected: 46 mA x 3.6 V (V, SARA-N211)", "mW",
                       low=0)
    idle_mw: float = key(0.0108, "idle, between paging occasions: deep sleep, as in PSM "
                         "(A; the occasions are `power.paging_occasion_mj`)", "mW", low=0)
    psm_mw: float = key(0.0108, "PSM: 3 uA x 3.6 V (V, SARA-N211 / M5311)", "mW", low=0)
    light_sleep_mw: float = key(21.6, "between connected-mode DRX on-durations: the "
                                "module awake, radio off, 6 mA x 3.6 V (V, SARA-N211 "
                                "'active')", "mW", low=0)
    paging_occasion_mj: float = key(1.83, "one paging occasion monitored while idle, above "
                                    "`power.idle_mw` (V, derived: M5311 idle 0.4 mA at DRX "
                                    "1.28 s less its 3 uA floor, x 1.28 s x 3.6 V)", "mJ",
                                    low=0)
    edrx_window_mj: float = key(9.4, "waking for an eDRX paging time window (resynchronising "
                                "and its first occasion), in place of that occasion's "
                                "`power.paging_occasion_mj` (V, derived: nRF9160 eDRX 37 uA "
                                "at 81.92 s and 9 uA at 655 s give 2.6 mC a window, x 3.6 V)",
                                "mJ", low=0)
    connect_mw: float = key(203.7, "during RRC connection set-up (random access included): "
                            "an nRF9160 PSM TAU event at 23 dBm, 550 mJ over 2.7 s (V, "
                            "nRF9160 product specification)", "mW", low=0)


@dataclass(frozen=True)
class Link:
    preset: str = key("nbiot-ce0", "calibrated link (see simulation/scenario/presets.py); "
                      "`fixed` uses the values below exactly, without jitter",
                      choices=LINK_PRESETS)
    rtt_s: float | None = key(None, "mean round-trip delay device <-> peer without "
                              "serialization; overrides the preset's", "s", low=0)
    uplink_bps: float | None = key(None, "uplink rate; overrides the preset's", "bit/s", low=0,
                                   low_open=True)
    downlink_bps: float | None = key(None, "one device's downlink rate (its peak); "
                                     "overrides the preset's", "bit/s", low=0, low_open=True)
    cell_downlink_bps: float | None = key(None, "a cell's downlink capacity, shared by its "
                                          "devices (at least one device's rate: the cell "
                                          "slows a device only when more of its devices "
                                          "receive at once than this over "
                                          "`link.downlink_bps`); overrides the preset's",
                                          "bit/s", low=0, low_open=True)
    loss: float | None = key(None, "probability that one packet is lost on the radio, "
                             "independently; overrides the preset's", low=0, high=0.99)
    connect_s: float | None = key(None, "RRC connection set-up on waking or after paging; "
                                  "overrides the preset's", "s", low=0)
    rtt_includes_cdrx: bool | None = key(None, "whether the round trips already include "
                                         "the wait of a downlink packet for the device's "
                                         "next connected-mode DRX on-duration (true for "
                                         "round trips measured on live networks, the NB-IoT "
                                         "presets; false adds that wait to every downlink "
                                         "packet); overrides the preset's", boolean=True)
    device_buffer_bytes: int = key(73728, "the base station's downlink queue for one device "
                                   "(its bearer): TCP segments beyond it, once the path "
                                   "holds its bandwidth-delay product, are dropped (V: "
                                   "srsRAN's RLC queue of 128 SDUs, x a full 576 B segment; "
                                   "commercial eNBs' are not published)", "bytes", low=1,
                                   integer=True)


@dataclass(frozen=True)
class Nat:
    enabled: bool = key(True, "a carrier NAT / stateful firewall between radio network and "
                        "manager")
    udp_timeout_s: float = key(60.0, "UDP binding lifetime after its last refresh; about 60 s "
                               "in two NB-IoT networks (P, zephyr#25935)", "s", low=0,
                               low_open=True)
    tcp_timeout_s: float = key(1200.0, "TCP binding lifetime; about 20 min in carrier NATs "
                               "(P, californium#2121)", "s", low=0, low_open=True)
    filtering: str = key("address-port-dependent", "inbound filtering (RFC 4787 section 5); "
                         "carrier NATs commonly filter per address and port (A)",
                         choices=FILTERING)
    inbound_refresh: bool = key(False, "inbound packets also refresh a binding (RFC 4787 "
                                "REQ-6 makes it optional)")


@dataclass(frozen=True)
class Network:
    extended_buffering_s: float = key(0.0, "how long the core network holds a downlink "
                                      "packet for a device in PSM (or between eDRX paging "
                                      "windows) before it delivers it at the device's next "
                                      "reachability; 0: it is dropped (S: extended buffering "
                                      "is optional, TS 23.401 / TS 23.682 high-latency "
                                      "communication; P: operators state that a device in "
                                      "PSM cannot be reached)", "s", low=0)


@dataclass(frozen=True)
class Manager:
    service_s: float = key(0.0005, "processing time per request handled (A)", "s", low=0)
    servers: int = key(1, "servers the manager runs on, each with its own FIFO queue at "
                       "`service_s`; the devices of cell c are served by server c mod "
                       "`servers` (A: a split by region; P: a Leshan deployment serves 2.5 "
                       "million devices on 25 instances behind a load balancer, in the "
                       "Leshan thread 'Is Leshan server ready for production in industry?', "
                       "2024)", low=1, integer=True)


@dataclass(frozen=True)
class Update:
    release_s: float = key(3600.0, "when the new software becomes available", "s", low=0)
    image_bytes: int = key(102400, "full image size (100 KiB; Zephyr demo 380 kB, "
                           "MicroPython 615 kB, V/P)", "bytes", low=1, integer=True)
    delta_ratio: float = key(1.0, "partial update size as a fraction of the image; bsdiff "
                             "patch 0.117 (M, detools)", low=0, low_open=True, high=1.0)
    push_resume: str = key("restart", "a Block1 push (`POST /sw`) that failed: `restart` "
                           "sends it again from block 0 and the device discards the blocks "
                           "it got (S: RFC 7959 section 2.5, clients SHOULD start with block "
                           "0, servers may discard a partial body after EXCHANGE_LIFETIME; "
                           "LwM2M Object 5 state Idle); `blocks` resumes after them. Block2 "
                           "and HTTP range downloads always resume",
                           choices=("restart", "blocks"))
    failure_rate: float = key(0.0, "share of devices whose install of the release fails "
                              "(integrity check or boot failure), each by its own draw: the "
                              "device rolls back and reports the failure at its next wake-up "
                              "(S: LwM2M Object 5 Update Result 5, integrity check failure, "
                              "and 8, update failed); the manager offers it the release no "
                              "more (V: an AWS IoT Jobs execution that FAILED is terminal "
                              "without a retry configuration)", low=0, high=1.0)


@dataclass(frozen=True)
class Rollout:
    waves: str = key("1", "cumulative shares of the fleet released wave by wave, e.g. "
                     "\"0.01,0.05,0.25,0.5,1\"; devices are ranked by their own draw, and a "
                     "wave opens once `rollout.success_threshold` of the one before "
                     "updated (V: hawkBit rollout groups; Memfault stages 5, 25, 50, 100 %). "
                     "\"1\": all at once", parser=canonical_shares,
                     expects="increasing shares in (0, 1] ending with 1, e.g. "
                             "\"0.05,0.25,1\"")
    success_threshold: float = key(0.5, "share of a wave that must report a successful "
                                   "install before the next wave opens (V: hawkBit default "
                                   "50 %)", low=0, high=1.0)
    base_rate_per_min: int = key(0, "devices released per minute at the start of an "
                                 "exponential rollout, in rank order among the open waves "
                                 "(V: AWS IoT Jobs baseRatePerMinute, 1 to 1000); 0: no rate "
                                 "limit", low=0, high=1000, integer=True)
    increment_factor: float = key(1.0, "factor the release rate is multiplied by at each "
                                  "step (V: AWS IoT Jobs incrementFactor, 1.1 to 5)",
                                  low=1.0, high=5.0)
    increase_every: int = key(0, "devices notified or succeeded (`rollout.increase_on`) "
                              "between two increases of the rate (V: AWS IoT Jobs "
                              "rateIncreaseCriteria); 0: the rate stays", low=0,
                              integer=True)
    increase_on: str = key("notified", "what `rollout.increase_every` counts: devices "
                           "released (`notified`) or that reported success (`succeeded`) "
                           "(V: AWS IoT Jobs numberOfNotifiedThings, "
                           "numberOfSucceededThings)", choices=("notified", "succeeded"))
    max_per_min: int = key(1000, "the rate's cap, devices per minute (V: AWS IoT Jobs "
                           "maximumPerMinute, 1 to 1000)", low=1, high=1000, integer=True)
    start_window_s: float = key(0.0, "a released device is offered the release from a "
                                "time drawn uniformly within this window (its own draw) "
                                "(S: GSMA TS.34 asks for no synchronised behaviour and "
                                "randomised back-off); 0: at once", "s", low=0)
    cell_cap: str = key("0", "at most this many devices of a cell hold a download slot at "
                        "once, one number for every coverage class or one per class, e.g. "
                        "{ \"nbiot-ce0\" = 50, \"nbiot-ce1\" = 10, \"nbiot-ce2\" = 1 } "
                        "(each class its own slots; a class not named has no cap): the "
                        "manager gives the go-ahead only to a device with a free slot of "
                        "its cell and class, kept until its download is complete or "
                        "`rollout.download_timeout_s` has passed (V: Huawei IoTDA, 50 "
                        "devices per cell at coverage level 0, 10 at 1, 1 at 2); 0: no cap",
                        parser=canonical_caps, table=True,
                        expects="a whole number >= 0, or link presets with one each, e.g. "
                                "\"nbiot-ce0=50,nbiot-ce1=10,nbiot-ce2=1\"")
    download_timeout_s: float = key(3600.0, "a download slot held this long without the "
                                    "download completing is freed (a device asleep "
                                    "mid-download) (V: Huawei IoTDA, 60 min)", "s", low=0,
                                    low_open=True)
    abort_threshold: float = key(1.0, "the manager stops the rollout when the share of "
                                 "failed installs among the devices that reported a result "
                                 "exceeds this (1: never). After it no device starts the "
                                 "release, and downloads under way stop at the device's next "
                                 "contact (V: AWS IoT Jobs abortConfig, thresholdPercentage "
                                 "and action CANCEL, where the share must reach the "
                                 "threshold; hawkBit's error threshold)", low=0, high=1.0)
    abort_min_finished: int = key(1, "results (updated or failed) the manager needs before "
                                  "it may stop the rollout (V: AWS IoT Jobs "
                                  "minNumberOfExecutedThings, at least 1, which counts "
                                  "devices notified)", low=1, integer=True)

    @property
    def wave_shares(self) -> tuple[float, ...]:
        return parse_shares(self.waves)

    def cap_of(self, preset: str) -> int:
        """The per-cell download slots of a coverage class (0: no cap)."""
        caps = parse_caps(self.cell_cap)
        return caps.get(preset, caps.get("", 0))


@dataclass(frozen=True)
class Strategy:
    name: str = key("device-initiated", "update strategy", choices=STRATEGIES)
    poll_interval_s: float = key(3600.0, "polling period; a sleeping device polls at the first "
                                 "wake-up after it has passed (hawkBit default 300 s, V)", "s",
                                 low=0)


@dataclass(frozen=True)
class Coap:
    block_bytes: int = key(256, "block size, 2^(SZX+4) (RFC 7959); Zephyr LwM2M default 256 B "
                           "(V)", "bytes", choices=(16, 32, 64, 128, 256, 512, 1024),
                           integer=True)
    ack_timeout_s: float = key(2.0, "ACK_TIMEOUT (RFC 7252 Table 2)", "s", low=0, low_open=True)
    ack_random_factor: float = key(1.5, "ACK_RANDOM_FACTOR (RFC 7252 Table 2)", low=1.0)
    max_retransmit: int = key(4, "MAX_RETRANSMIT (RFC 7252 Table 2)", low=0, high=20,
                              integer=True)
    endpoint_matching: str = key("strict", "how the manager matches a notification to its "
                                 "observation after the device's NAT binding changed: "
                                 "`strict` (endpoint and token, RFC 7252 section 5.3.2; "
                                 "aiocoap) answers one from a new port with a Reset and the "
                                 "observation ends; `relaxed` (Californium's relaxed "
                                 "matching) keeps it", choices=("strict", "relaxed"))


@dataclass(frozen=True)
class Security:
    mode: str = key("none", "`none`; `dtls-psk`, `dtls-cert`: DTLS on UDP hops (TCP hops in "
                    "clear); `tls`: TLS (`tls.*`) on TCP hops and DTLS with certificates on "
                    "UDP hops", choices=SECURITY_MODES)
    rebind: str = key("cid", "after a NAT rebinding: `cid` (RFC 9146 Connection ID, no "
                      "handshake); without one the manager drops the device's next protected "
                      "message silently, and after the CoAP timeout the device runs an "
                      "abbreviated (`resumption`) or `full` handshake",
                      choices=("cid", "resumption", "full"))
    dtls_cookie: bool = key(False, "full DTLS handshakes start with a HelloVerifyRequest "
                            "(cookie) round trip (RFC 6347 section 4.2.1)")


@dataclass(frozen=True)
class Tcp:
    mss_bytes: int = key(536, "maximum segment payload; the RFC 9293 default send MSS, where "
                         "MQTT energy jumps on NB-IoT (M, Nordic webinar 2020)", "bytes",
                         low=64, high=65495, integer=True)
    syn_retries: int = key(6, "the device's SYN retransmissions before its connection "
                           "fails (V: lwIP TCP_SYNMAXRTX)", low=0, high=20, integer=True)
    max_retransmit: int = key(12, "the device's retransmissions of a data segment before "
                              "the connection fails (V: lwIP TCP_MAXRTX)", low=0, high=30,
                              integer=True)
    initial_rto_s: float = key(3.0, "the device's retransmission timeout before an RTT "
                               "sample, SYN included (V: lwIP, 3000 ms; RFC 6298 says 1 s); "
                               "then RFC 6298's rule, 1 s to 60 s", "s", low=0, low_open=True)
    server_min_rto_s: float = key(0.2, "the server's (manager's, broker's) minimum RTO, added "
                                  "to SRTT as the least variance term (V: Linux "
                                  "TCP_RTO_MIN)", "s", low=0, low_open=True)
    server_max_rto_s: float = key(120.0, "the server's maximum RTO (V: Linux TCP_RTO_MAX)",
                                  "s", low=1)
    server_retries: int = key(15, "the server's retransmissions of unacknowledged data before "
                              "it aborts the connection silently; 15 is about 924.6 s from "
                              "the first transmission (V: Linux tcp_retries2)", low=1,
                              high=30, integer=True)
    receive_window_bytes: int = key(65535, "the window the device's TCP advertises: the "
                                    "server sends at most this much per round trip (A: the "
                                    "modems' is not published; 65535 B is the largest "
                                    "without window scaling, RFC 9293; lwIP's default "
                                    "TCP_WND is 4 x 536 = 2144 B)", "bytes", low=536,
                                    high=1073725440, integer=True)
    synack_retries: int = key(5, "the server's SYN-ACK retransmissions (timer 1 s, doubling) "
                              "(V: Linux tcp_synack_retries)", low=0, high=20, integer=True)


@dataclass(frozen=True)
class Tls:
    version: str = key("1.3", "TLS version on TCP hops when `security.mode = tls` and for "
                       "HTTPS", choices=("1.2", "1.3"))
    auth: str = key("x509_low", "handshake: `x509_low` (server certificate chain, about "
                    "6.5 kB in all, V, Pushy), `x509_high` (mutual, about 10 kB, V/P, AWS "
                    "IoT), `psk`, `psk_ecdhe` or `rpk_ecdhe` (LWIG sizes, S; TLS 1.3 only "
                    "for the last two)", choices=("x509_low", "x509_high", "psk", "psk_ecdhe",
                                                  "rpk_ecdhe"))
    resumption: bool = key(True, "a new connection resumes the client's session with that "
                           "server (abbreviated handshake: RFC 8446 section 2.2 ticket, RFC "
                           "5246 section 7.3 session ID) while it lasts, for `x509_*` and "
                           "`rpk_ecdhe` (S; OpenSSL servers and the nRF91 modem's session "
                           "cache resume by default, M/V; AWS IoT Core and Azure IoT Hub "
                           "do not, P: false for them)")
    session_lifetime_s: float = key(7200.0, "how long a session can be resumed: in TLS 1.2 "
                                    "from its full handshake, in TLS 1.3 from the last "
                                    "connection's ticket, at most 7 days after the full "
                                    "handshake (OpenSSL's default session timeout, M/V; "
                                    "RFC 8446 section 4.6.1: tickets live at most 7 days)",
                                    "s", low=0, high=604800)


@dataclass(frozen=True)
class Mqtt:
    session: str = key("keep-alive", "`keep-alive`: the device keeps its MQTT session's TCP "
                       "connection open through the NAT with PINGREQs; `reconnect`: it "
                       "connects (clean session false) at each wake-up and disconnects",
                       choices=("keep-alive", "reconnect"))
    keepalive_s: float = key(900.0, "MQTT keep alive: a PINGREQ after this long without a "
                             "control packet; must stay below `nat.tcp_timeout_s` to hold the "
                             "binding (A; carrier NATs about 20 min, P)", "s", low=1,
                             high=65535)
    pingresp_timeout_s: float = key(900.0, "how long the device's MQTT client waits for a "
                                    "PINGRESP before it closes the connection and "
                                    "connects again (MQTT 3.1.1 section 3.1.2.10: 'a "
                                    "reasonable amount of time'; V: paho-mqtt's is one keep "
                                    "alive period, as the default here)", "s", low=0,
                                    low_open=True)
    report_qos: int = key(1, "QoS of the device's report PUBLISH (the update command is "
                          "always QoS 1, queued for a sleeping client)", low=0, high=1,
                          integer=True)


@dataclass(frozen=True)
class Gateway:
    devices_per_gateway: int = key(50, "fan-out of the delegated strategy (A)", low=1,
                                   integer=True)
    fetch: str = key("http", "`http` (gateway polls the manager) or `coap-observe` (manager "
                     "notifies the gateway)", choices=("http", "coap-observe"))
    local_link: str = key("6lowpan", "the devices' hop to their gateway: `6lowpan` (IEEE "
                          "802.15.4) or `ble` (see LOCAL_PRESETS in simulation/scenario/presets.py)",
                          choices=LOCAL_LINKS)
    backhaul_rtt_s: float = key(0.05, "round trip gateway <-> manager over the always-on "
                                "backhaul (A)", "s", low=0)
    backhaul_bps: float = key(10e6, "backhaul rate, not shared (A)", "bit/s", low=0,
                              low_open=True)


TABLES: dict[str, type] = {
    "sim": Sim, "fleet": Fleet, "device": Device, "power": Power, "link": Link, "nat": Nat,
    "network": Network, "manager": Manager, "update": Update, "rollout": Rollout,
    "strategy": Strategy, "coap": Coap,
    "security": Security, "gateway": Gateway, "tcp": Tcp, "tls": Tls, "mqtt": Mqtt,
}


@dataclass(frozen=True)
class Scenario:
    sim: Sim = field(default_factory=Sim)
    fleet: Fleet = field(default_factory=Fleet)
    device: Device = field(default_factory=Device)
    power: Power = field(default_factory=Power)
    link: Link = field(default_factory=Link)
    nat: Nat = field(default_factory=Nat)
    network: Network = field(default_factory=Network)
    manager: Manager = field(default_factory=Manager)
    update: Update = field(default_factory=Update)
    rollout: Rollout = field(default_factory=Rollout)
    strategy: Strategy = field(default_factory=Strategy)
    coap: Coap = field(default_factory=Coap)
    security: Security = field(default_factory=Security)
    gateway: Gateway = field(default_factory=Gateway)
    tcp: Tcp = field(default_factory=Tcp)
    tls: Tls = field(default_factory=Tls)
    mqtt: Mqtt = field(default_factory=Mqtt)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scenario":
        """Build from nested TOML tables and/or dotted keys, refusing anything unknown."""
        flat = flatten(data)
        return cls().with_overrides(flat)

    def with_overrides(self, flat: dict[str, Any]) -> "Scenario":
        """A new scenario with dotted keys replaced (each value validated)."""
        tables = {name: {} for name in TABLES}
        for dotted, raw in flat.items():
            table, leaf = split_key(dotted)
            tables[table][leaf] = validate_value(dotted, raw)
        return dataclasses.replace(self, **{
            name: dataclasses.replace(getattr(self, name), **vals)
            for name, vals in tables.items() if vals})

    def get(self, dotted: str) -> Any:
        table, leaf = split_key(dotted)
        return getattr(getattr(self, table), leaf)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in TABLES}


def field_of(dotted: str) -> dataclasses.Field:
    table, leaf = split_key(dotted)
    return {f.name: f for f in dataclasses.fields(TABLES[table])}[leaf]


def split_key(dotted: str) -> tuple[str, str]:
    table, _, leaf = dotted.partition(".")
    if table not in TABLES or leaf not in {f.name for f in dataclasses.fields(TABLES[table])}:
        raise ScenarioError(f"unknown key {dotted!r}; known keys: "
                            f"{', '.join(all_keys())}")
    return table, leaf


def all_keys() -> list[str]:
    return [f"{t}.{f.name}" for t, cls in TABLES.items() for f in dataclasses.fields(cls)]


def _takes_table(dotted: str) -> bool:
    """Whether a key's value may be a TOML table (`key`'s `table`)."""
    try:
        return field_of(dotted).metadata["table"]
    except ScenarioError:
        return False


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables -> dotted keys. A table name that is not a scenario table is refused."""
    flat: dict[str, Any] = {}
    for k, v in data.items():
        dotted = f"{prefix}{k}"
        if isinstance(v, dict) and not _takes_table(dotted):
            if prefix or k not in TABLES:
                raise ScenarioError(f"unknown table {dotted!r}; known tables: "
                                    f"{', '.join(TABLES)}")
            flat.update(flatten(v, dotted + "."))
        else:
            if not prefix and "." not in k:
                raise ScenarioError(f"key {k!r} must sit in a table such as [sim]; known "
                                    f"tables: {', '.join(TABLES)}")
            flat[dotted] = v
    return flat


def allowed_text(meta: dict, kind: str) -> str:
    if meta["parser"] is not None:
        return meta["expects"]
    if meta["choices"]:
        return "one of " + ", ".join(str(c) for c in meta["choices"])
    lo, hi = meta["low"], meta["high"]
    parts = []
    if lo is not None:
        parts.append(f"{'>' if meta['low_open'] else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"<= {hi:g}")
    return f"{kind} " + " and ".join(parts) if parts else kind


def validate_value(dotted: str, raw: Any) -> Any:
    """Coerce `raw` (TOML value or the text of a --set) to the key's type, or refuse it."""
    f = field_of(dotted)
    meta = f.metadata
    default = f.default
    if meta["choices"] and not meta["integer"]:
        kind = "text"
    elif meta["boolean"]:
        kind = "true or false"
    elif meta["integer"]:
        kind = "an integer"
    else:
        kind = "a number"

    def refuse():
        return ScenarioError(f"{dotted} = {raw!r} is not allowed: expected "
                             f"{allowed_text(meta, kind)}")

    if meta["parser"] is not None:
        try:
            return meta["parser"](raw)
        except (TypeError, ValueError):
            raise ScenarioError(f"{dotted} = {raw!r} is not allowed: expected "
                                f"{meta['expects']}") from None
    value = raw
    if meta["boolean"]:
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            value = raw.strip().lower() == "true"
        elif not isinstance(raw, bool):
            raise refuse()
        return value
    if kind == "text":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raw = str(raw)      # a version such as 1.3, read as a number
        if not isinstance(raw, str) or raw not in meta["choices"]:
            raise refuse()
        return raw
    if isinstance(raw, bool):
        raise refuse()
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise refuse() from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise refuse()
    if meta["integer"]:
        if not isinstance(value, int):
            if float(value) != int(value):
                raise refuse()
            value = int(value)
    else:
        value = float(value)
    if meta["choices"] and value not in meta["choices"]:
        raise refuse()
    lo, hi = meta["low"], meta["high"]
    if lo is not None and (value < lo or (meta["low_open"] and value == lo)):
        raise refuse()
    if hi is not None and value > hi:
        raise refuse()
    return value
