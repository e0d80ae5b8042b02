"""The checks of `iotsu-sim validate`. Each runs a part of the model where an independent
reference knows the answer, and returns its rows (`check.Check`). Sizes are chosen so that
every check together runs in about a minute on 2 cores; the test suite and the
benchmarks hold the longer matrices (`benchmarks/fidelity_agreement.py`)."""
from __future__ import annotations

import math
import re
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

from ..engine import World
from ..protocols import coap, http, mqtt, tcp
from ..runner import run
from ..scenario import load_scenario
from ..transport import messages
from ..transport.exchange import flow_outcome
from ..transport.tcp_connection import DOWN, UP, Connection, TcpParams
from ..world.link import LinkModel
from . import references as ref
from . import stacks
from .check import Check, compare, skipped
from .harness import energy_per_report_wakeup, first_contact_delays, manager_polls, \
    run_exchange

SE = 4.0            # statistical checks accept 4 standard errors (a false alarm ~ 6e-5)
FIDELITIES = ("flow", "packet")
INSTALL = "needs {pkg}: pip install '.[test]' (or pip install {pkg})"


def closed_form(**sets):
    """The `closed-form` scenario (fixed link, no NAT, no loss) with dotted overrides."""
    return load_scenario("closed-form", sets)


def renewal() -> list[Check]:
    """Release to first contact: the residual life of the wake-up process."""
    out = []
    for wake, n in (("periodic", 500), ("poisson", 500)):
        interval = 600.0
        delay = first_contact_delays(wake, n, interval)
        mean, sd = ref.residual_life(wake, interval)
        out.append(compare(f"wake-ups ({wake}): release to first contact",
                           "mean residual life", "renewal theory (Cox 1962)", mean,
                           float(np.mean(delay)), SE * sd / math.sqrt(n), "s",
                           f"{SE:g} standard errors", f"{n} devices"))
    return out


def coap_loss() -> list[Check]:
    """Copies of a confirmable exchange under independent losses."""
    loss, n_flow, n_packet = 0.2, 20000, 300
    give_up, mean_rtx = ref.coap_copies(loss)
    source = "RFC 7252 4.2, independent losses"
    sc = closed_form(**{"link.loss": loss, "link.rtt_s": 0.1})
    w = World(sc)
    spec = messages.report(64, token=1)
    rng = np.random.default_rng(12)
    outs = [flow_outcome(spec, w.ctx, rng, nat_open_s=math.inf, device_gap_s=0.0)
            for _ in range(n_flow)]
    rtx = np.array([o.retransmissions for o in outs], dtype=float)
    failed = float(np.mean([not o.completed for o in outs]))
    rows = [compare("CoAP retransmissions (flow)", "geometric mean, loss 0.2", source,
                    mean_rtx, float(rtx.mean()), SE * rtx.std() / math.sqrt(n_flow), "",
                    f"{SE:g} standard errors", f"{n_flow} exchanges"),
            compare("CoAP give-ups (flow)", "(1 - (1 - p)^2)^5, loss 0.2", source, give_up,
                    failed, SE * math.sqrt(give_up * (1 - give_up) / n_flow), "",
                    f"{SE:g} standard errors", f"{n_flow} exchanges")]
    rtx = []
    for seed in range(n_packet):
        out, _ = run_exchange(closed_form(**{"sim.fidelity": "packet", "link.loss": loss,
                                             "link.rtt_s": 0.1, "sim.seed": seed}), spec)
        rtx.append(out.retransmissions)
    rtx = np.array(rtx, dtype=float)
    rows.append(compare("CoAP retransmissions (packet)", "geometric mean, loss 0.2", source,
                        mean_rtx, float(rtx.mean()), SE * rtx.std() / math.sqrt(n_packet),
                        "", f"{SE:g} standard errors", f"{n_packet} exchanges"))
    return rows


def coap_give_up() -> list[Check]:
    """Time to give up when every copy is lost: T0 (2^5 - 1), T0 uniform on [2, 3] s."""
    mean, sd, lo, hi = ref.coap_give_up_s()
    rows = []
    for fidelity in FIDELITIES:
        times = []
        for seed in range(40):
            sc = closed_form(**{"sim.fidelity": fidelity, "link.loss": 0.99, "sim.seed": seed})
            out, _ = run_exchange(sc, messages.report(64, token=1))
            if not out.completed:
                times.append(out.duration_s)
        t = np.array(times)
        inside = bool(((t >= lo - 1e-9) & (t <= hi + 1e-9)).all())
        rows.append(compare(f"CoAP time to give up ({fidelity})",
                            "mean of 31 T0, T0 uniform on [2, 3] s",
                            "RFC 7252 4.2, 4.8.2 (MAX_TRANSMIT_WAIT 93 s)", mean,
                            float(t.mean()) if inside else math.nan,
                            SE * sd / math.sqrt(len(t)), "s", f"{SE:g} standard errors",
                            f"{len(t)} exchanges, all within [{lo:g}, {hi:g}] s"
                            if inside else "a give-up outside [62, 93] s"))
    return rows


def serialization() -> list[Check]:
    """A lossless block-wise pull: one round trip and two serializations per block."""
    rows = []
    for fidelity in FIDELITIES:
        sc = closed_form(**{"sim.fidelity": fidelity, "update.image_bytes": 10240})
        spec = messages.block2_pull("/fw/image", 10240, 256, token=7)
        out, _ = run_exchange(sc, spec)
        link = sc.link
        expected = ref.stop_and_wait_s(list(spec.req_bytes), list(spec.resp_bytes),
                                       link.rtt_s, link.uplink_bps, link.downlink_bps)
        rows.append(compare(f"CoAP block-wise pull time ({fidelity})",
                            "40 x (RTT + request and response serialization)",
                            "RFC 7959 stop-and-wait", expected, out.duration_s,
                            1e-9 * expected, "s", "exact", "10 KiB in 256 B blocks"))
    return rows


def slow_start() -> list[Check]:
    """An HTTP download on a lossless fixed link: handshake, request, slow start."""
    rtt, up_bps, down_bps, image = 0.8, 20_000.0, 25_000.0, 102_400
    link = LinkModel(rtt_s=rtt, uplink_bps=up_bps, downlink_bps=down_bps, loss=0.0,
                     connect_s=0.0, rtt_sigma=0.0)
    c = Connection(link, np.random.default_rng(1), TcpParams(), trace=[])
    get = http.get_request("/fw.bin", "company")
    head = http.ok_response_head(image)
    body = None
    if c.open() and c.message(UP, len(get), served=True) is not None:
        body = c.message(DOWN, len(head) + image, image)
    expected = (ref.tcp_handshake_s(rtt, up_bps, down_bps)
                + ref.serialization_s(len(get) + 40, up_bps) + rtt / 2
                + ref.slow_start_s(len(head) + image, rtt, down_bps, up_bps))
    return [compare("TCP download time (HTTP, 100 KiB)",
                    "handshake + request + slow start with delayed ACKs",
                    "RFC 6928, RFC 5681, RFC 1122; Kurose & Ross", expected,
                    body.arrived_s if body is not None else math.nan, 1e-9 * expected, "s",
                    "exact", "RTT 0.8 s, 25 kbit/s down")]


def byte_counts() -> list[Check]:
    """The model's messages against real encoders."""
    rows = []
    spec = messages.block2_pull("/fw/image", 10240, 256, token=7)
    part = "CoAP bytes of a block-wise pull"
    try:
        up, down = stacks.aiocoap_block2_pull_bytes("/fw/image", 10240, 256)
        rows.append(compare(part, "aiocoap's encoding", "aiocoap", up + down,
                            float(spec.req_bytes.sum() + spec.resp_bytes.sum()), 0.0, "B",
                            "exact", "40 requests and responses, UDP/IPv4 included"))
    except ImportError:
        rows.append(skipped(part, "aiocoap's encoding", "aiocoap",
                            INSTALL.format(pkg="aiocoap")))
    ours = http.get_request("/fw.bin", "fw.example.com", byte_range=(1024, 2047))
    theirs = stacks.http_client_request("/fw.bin", "fw.example.com",
                                        [("Range", "bytes=1024-2047"), ("Connection", "close")])
    rows.append(compare("HTTP range request bytes", "http.client's request",
                        "Python standard library", len(theirs),
                        len(ours) if ours == theirs else math.nan, 0.0, "B", "exact",
                        "byte for byte"))
    part = "MQTT CONNECT bytes"
    try:
        theirs = stacks.paho_connect("dev-0001", 1200, clean_session=False)
        ours = mqtt.connect("dev-0001", keepalive_s=1200, clean_session=False)
        rows.append(compare(part, "paho-mqtt's CONNECT", "paho-mqtt (MQTT 3.1.1)",
                            len(theirs), len(ours) if ours == theirs else math.nan, 0.0, "B",
                            "exact", "byte for byte, on loopback"))
    except ImportError:
        rows.append(skipped(part, "paho-mqtt's CONNECT", "paho-mqtt",
                            INSTALL.format(pkg="paho-mqtt")))
    part = "TCP/IPv4 segment bytes"
    try:
        sizes = [(p, ts) for p in (0, 1, 536, 1460) for ts in (False, True)]
        theirs = sum(stacks.scapy_segment_bytes(p, ts) for p, ts in sizes)
        ours = sum(tcp.segment_bytes(p, 12 if ts else 0) for p, ts in sizes)
        rows.append(compare(part, "scapy's packets", "scapy", theirs, ours, 0.0, "B", "exact",
                            "8 segments, with and without timestamps"))
    except ImportError:
        rows.append(skipped(part, "scapy's packets", "scapy", INSTALL.format(pkg="scapy")))
    return rows


def nat_cutoff() -> list[Check]:
    """Manager polls through a NAT: answered while the binding and the radio are open."""
    s, expected = manager_polls(15.0)
    share = s["polls_answered"] / s["polls_sent"]
    return [compare("NAT cut-off of manager polls (15 s UDP timeout)",
                    "share answered = open window / wake interval",
                    "RFC 4787 mapping timeout; window of the binding", expected, share,
                    0.08 * expected, "", "8 % (the window is approximate)",
                    f"{s['polls_sent']:,} polls")]


#: built-in scenario, published energy (J) and its source
ENERGY = (("energy-rostad", 1.46, "Rostad 2020, 395 mC at 3.7 V (calibration)"),
          ("energy-rostad-rai", 0.104, "Rostad 2020 with release assistance, 28 mC"),
          ("energy-nrf9160", 0.055 * 3.7, "nRF9160 kit, 55 mC at 3.7 V"))


def energy() -> list[Check]:
    """Energy of one report wake-up against published measurements, +-30 % (the spread
    of what the sources do not publish: round trip, set-up time, on-duration)."""
    return [compare(f"energy per report wake-up ({name})", "measured charge x voltage",
                    source, published, energy_per_report_wakeup(name), 0.30 * published, "J",
                    "30 %") for name, published, source in ENERGY]


def observe_rebinding() -> list[Check]:
    """An Observe across a NAT rebinding, in the model and in aiocoap."""
    rows = []
    part = "Observe after a NAT rebinding (aiocoap)"
    try:
        kind, size = stacks.aiocoap_answer_to_a_rebound_notification()
        rows.append(compare(part, "a notification from a new port is Reset",
                            "aiocoap on loopback", coap.empty_rst().size,
                            size if kind == "RST" else math.nan, 0.0, "B", "exact",
                            f"aiocoap answers {kind}"))
    except ImportError:
        rows.append(skipped(part, "a notification from a new port is Reset", "aiocoap",
                            INSTALL.format(pkg="aiocoap")))
    for fidelity in FIDELITIES:
        sc = closed_form(**{"strategy.name": "device-initiated", "sim.fidelity": fidelity,
                            "nat.enabled": True, "nat.udp_timeout_s": 60.0,
                            "update.release_s": 1e9, "fleet.size": 3, "fleet.cells": 3})
        res = run(sc, workers=1, trace_devices=3)
        resets = len(re.findall(r"dev \d+\s.*D<--M: RST", res.trace))
        expected = int((res.devices["wakeups"] - 1).sum())
        rows.append(compare(f"Observe after a NAT rebinding ({fidelity})",
                            "one Reset per wake-up after the first",
                            "RFC 7641 3.6 / aiocoap's strict matching", expected, resets, 0.0,
                            "", "exact", "60 s UDP binding, 600 s wake-ups"))
    return rows


def agreement_sets(strategy: str, per_cell: int, service_s: float, fidelity: str,
                   seed: int, *, wake_s: float = 300.0, poll_s: float | None = 300.0,
                   image_bytes: int = 30720, fleet: int = 100) -> dict:
    """The overrides of the baseline scenario at one point of the flow-against-packet
    matrix (`benchmarks/fidelity_agreement.py`): `fleet` devices, `per_cell` per cell, an
    image released at 1 h, 4 h horizon, connected-mode DRX off; delegated gateways serve
    one cell each; device-polling, discovery and gateways poll every `poll_s`."""
    sets = {"strategy.name": strategy, "fleet.size": fleet, "fleet.cells": fleet // per_cell,
            "update.image_bytes": image_bytes, "sim.horizon_s": 14400.0,
            "device.cdrx_cycle_s": 0.0, "manager.service_s": service_s,
            "gateway.devices_per_gateway": per_cell, "sim.fidelity": fidelity,
            "sim.seed": seed, "device.wake_interval_s": wake_s}
    if strategy == "delegated":
        sets["strategy.poll_interval_s"] = poll_s or 600.0
    elif poll_s and strategy in ("device-polling", "discovery"):
        sets["strategy.poll_interval_s"] = poll_s
    return sets


#: metric, summary field, tolerance (README "Two fidelities"), unit
AGREEMENT = (("p50 time to update", "ttu_p50_s", 0.10, "s"),
             ("p95 time to update", "ttu_p95_s", 0.10, "s"),
             ("energy per device", "energy_per_device_j", 0.05, "J"),
             ("bytes per device", "bytes_per_device", 0.05, "B"))


def fidelity_agreement() -> list[Check]:
    """Flow against packet fidelity at one point of the matrix: device-initiated, a release
    storm, 10 devices per cell, the default manager."""
    service = load_scenario("baseline").manager.service_s
    got = {fid: run(load_scenario("baseline", agreement_sets("device-initiated", 10, service,
                                                             fid, 1, fleet=50)),
                    workers=1).summary
           for fid in FIDELITIES}
    return [compare(f"flow fidelity: {name}", "packet fidelity (every CoAP message an event)",
                    "this model, benchmarks/fidelity_agreement.md", got["packet"][field],
                    got["flow"][field], tol * got["packet"][field], unit,
                    f"{tol:.0%}", "device-initiated, storm, 50 devices, 10 per cell")
            for name, field, tol, unit in AGREEMENT]


CHECKS = {"renewal": renewal, "coap-loss": coap_loss, "coap-give-up": coap_give_up,
          "serialization": serialization, "slow-start": slow_start, "bytes": byte_counts,
          "nat": nat_cutoff, "energy": energy, "observe": observe_rebinding,
          "fidelity": fidelity_agreement}


#: the checks that take longest (tens of seconds each): started first
LONGEST = ("fidelity", "renewal", "nat")


def _run_one(name: str) -> list[Check]:
    return CHECKS[name]()


def run_checks(names: list[str] | None = None, workers: int = 2, progress=None
               ) -> list[Check]:
    """The rows of the checks `names` (default: all, in `CHECKS` order), computed in
    `workers` processes; `progress(name)` is called as each finishes. The rows come in
    `CHECKS` order whatever the workers."""
    names = list(CHECKS) if names is None else [n for n in CHECKS if n in names]
    if workers <= 1:
        results = {}
        for n in names:
            results[n] = _run_one(n)
            if progress:
                progress(n)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            # the longest first, so that the workers end together
            futures = {pool.submit(_run_one, n): n
                       for n in sorted(names, key=lambda n: n not in LONGEST)}
            results = {}
            for f in as_completed(futures):
                n = futures[f]
                results[n] = f.result()
                if progress:
                    progress(n)
    return [row for n in names for row in results[n]]
