"""The three ways to fetch an image, side by side on one fixed link, through the engine.

    python benchmarks/stack_downloads.py [--rtt 1.0] [--rate 100000] [--image 102400]

One device on the `closed-form` scenario's fixed link (no loss, no jitter, no NAT) fetches
the image with CoAP Block2 (device-polling), HTTP over TCP and HTTPS over TLS 1.3
(mqtt-http with `security.mode` none and tls). Prints, per stack, the download time
(first image byte sent to last received, `download_s`), the time from the download's
first packet (the TCP SYN, or the first Block2 request) to the last image byte, and the
bytes on the radio link of the download itself: the device's totals minus those of a run
without the release.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulation import load_scenario, run  # noqa: E402

STACKS = (("CoAP Block2 (256 B blocks)", "device-polling", "none"),
          ("HTTP/1.1 over TCP", "mqtt-http", "none"),
          ("HTTPS (TLS 1.3, x509_low)", "mqtt-http", "tls"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rtt", type=float, default=1.0)
    ap.add_argument("--rate", type=float, default=100_000.0, help="bit/s, both ways")
    ap.add_argument("--image", type=int, default=102_400)
    a = ap.parse_args()
    print("| stack | download s | first packet to last byte s | bytes up | bytes down | "
          "packets |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, strategy, mode in STACKS:
        sets = {"strategy.name": strategy, "security.mode": mode, "fleet.size": 1,
                "fleet.cells": 1, "link.rtt_s": a.rtt, "link.uplink_bps": a.rate,
                "link.downlink_bps": a.rate, "update.image_bytes": a.image,
                "device.wake_interval_s": 3600.0, "sim.horizon_s": 7200.0,
                "strategy.poll_interval_s": 0.001}
        res = run(load_scenario("closed-form", sets), trace_devices=1)
        with_update = res.devices.iloc[0]
        first = _download_start(res.trace.splitlines())
        end = with_update["t_updated_s"] - res.scenario.device.install_s
        without = run(load_scenario("closed-form", {**sets, "update.release_s": 1e9})
                      ).devices.iloc[0]
        up = with_update["bytes_up"] - without["bytes_up"]
        down = with_update["bytes_down"] - without["bytes_down"]
        packets = (with_update["msgs_up"] + with_update["msgs_down"]
                   - without["msgs_up"] - without["msgs_down"])
        print(f"| {label} | {with_update['download_s']:.2f} | {end - first:.2f} | {up:,} | "
              f"{down:,} | {packets:,} |")


def _download_start(lines: list[str]) -> float:
    """Time of the download's first packet: the first Block2 request, or the first TCP SYN
    after the update command."""
    cmd = next((k for k, ln in enumerate(lines) if "/cmd, QoS 1, payload" in ln), -1)
    return next(float(ln.split()[0]) for ln in lines[cmd + 1:]
                if ln.endswith("TCP SYN") or "GET /fw/image" in ln)


if __name__ == "__main__":
    main()
