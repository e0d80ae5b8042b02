"""Fingerprints of small fixed runs, in the spirit of OMNeT++'s: for each case (a strategy
at a fidelity, and a few variants that take other code paths), the devices table, the
manager's load table and the run's counters (`COUNTERS`: failures by reason, NAT drops,
handshakes, polls, simulation events) of a small baseline run, rounded to `DIGITS`
significant digits and hashed. `tests/fingerprints.json` stores the values; `tests/test_fingerprints.py` checks
them.

A change that moves a result on purpose updates the stored values in the same commit and
says why:

    python tests/fingerprints.py --update
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

STORE = Path(__file__).with_name("fingerprints.json")
#: significant digits kept before hashing: last-bit differences of vectorised maths
#: between CPUs and libraries do not change the fingerprint
DIGITS = 9

#: the run every case starts from: 24 devices in 3 cells, a 20 KiB image released at 1 h,
#: 4 h horizon
BASE = {"fleet.size": 24, "fleet.cells": 3, "sim.horizon_s": 14_400.0, "sim.seed": 7,
        "update.image_bytes": 20_480}
#: the summary's counters in the fingerprint (the rest is wall time, memory, or derived
#: from the tables)
COUNTERS = ("failed_nat", "failed_unreachable", "failed_timeout", "nat_drops",
            "dtls_handshakes", "tcp_connections", "keepalive_pings", "polls_sent",
            "polls_answered", "events", "cell_peak_stretch")
STRATEGIES = ("device-polling", "manager-polling", "device-initiated", "manager-initiated",
              "discovery", "delegated", "mqtt-http", "mqtt-coap")
#: variants that take other paths: DTLS handshakes and rebinding, TLS on TCP, MQTT
#: reconnects, the gateway's CoAP Observe, a tight NAT, Poisson wake-ups, polls that get
#: through, inbound packets that refresh the NAT
VARIANTS = {
    "device-initiated+dtls-psk+tight-nat": {"strategy.name": "device-initiated",
                                            "security.mode": "dtls-psk",
                                            "nat.udp_timeout_s": 30.0},
    "manager-polling+poisson": {"strategy.name": "manager-polling", "device.wake": "poisson"},
    "manager-polling+open-nat": {"strategy.name": "manager-polling",
                                 "nat.udp_timeout_s": 7200.0, "device.active_timer_s": 600.0,
                                 "strategy.poll_interval_s": 300.0},
    "mqtt-http+tls": {"strategy.name": "mqtt-http", "security.mode": "tls"},
    "mqtt-http+reconnect": {"strategy.name": "mqtt-http", "mqtt.session": "reconnect"},
    "mqtt-coap+dtls-cert": {"strategy.name": "mqtt-coap", "security.mode": "dtls-cert"},
    "delegated+coap-observe+tls": {"strategy.name": "delegated",
                                   "gateway.fetch": "coap-observe", "security.mode": "tls"},
    "discovery+delta": {"strategy.name": "discovery", "update.delta_ratio": 0.2},
    "manager-polling+inbound-refresh": {"strategy.name": "manager-polling",
                                        "nat.inbound_refresh": True,
                                        "strategy.poll_interval_s": 60.0},
    "mqtt-http+inbound-refresh": {"strategy.name": "mqtt-http", "nat.inbound_refresh": True,
                                  "nat.tcp_timeout_s": 900.0},
}


def cases() -> dict[str, dict]:
    """Every case's overrides of the baseline scenario, by name."""
    out = {}
    for fidelity in ("flow", "packet"):
        for name in STRATEGIES:
            out[f"{name}@{fidelity}"] = {"strategy.name": name, "sim.fidelity": fidelity}
        for name, sets in VARIANTS.items():
            out[f"{name}@{fidelity}"] = {**sets, "sim.fidelity": fidelity}
    return out


def _rounded(frame: pd.DataFrame) -> str:
    """A table as text, floats rounded to DIGITS significant digits (NaN kept)."""
    cols = []
    for name in frame.columns:
        col = frame[name].to_numpy()
        if col.dtype.kind == "f":
            text = [("nan" if np.isnan(v) else f"{v:.{DIGITS - 1}e}") for v in col.tolist()]
        else:
            text = [str(v) for v in col.tolist()]
        cols.append(name + ":" + ",".join(text))
    return "\n".join(cols)


def fingerprint(sets: dict) -> str:
    """The fingerprint of one case: sha256 of its rounded tables and counters."""
    from simulation import load_scenario, run

    result = run(load_scenario("baseline", {**BASE, **sets}), workers=1)
    counters = pd.DataFrame({k: [float(result.summary[k])] for k in COUNTERS})
    text = "\n--\n".join(_rounded(t) for t in (result.devices, result.manager, counters))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stored() -> dict[str, str]:
    return json.loads(STORE.read_text())


def main(argv: list[str]) -> int:
    values = {name: fingerprint(sets) for name, sets in cases().items()}
    if "--update" in argv:
        STORE.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(values)} fingerprints to {STORE}")
        return 0
    old = stored()
    changed = [n for n in values if old.get(n) != values[n]]
    for n in changed:
        print(f"{n}: {old.get(n)} -> {values[n]}")
    print(f"{len(values) - len(changed)} unchanged, {len(changed)} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
