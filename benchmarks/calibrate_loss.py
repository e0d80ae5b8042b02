"""Fit `link.loss` of the `ltem` preset to the retransmissions measured on LTE-M.

The measurement (boaks/zephyr-coaps-client, 42 days of hourly CoAP/DTLS exchanges on
LTE-M): 45 of 1018 exchanges needed at least one retransmission. The built-in scenario
`retransmissions-ltem` describes it, with the client's own CoAP timers. This script runs
its report wake-ups through the model (`simulation/calibration.py`: the session, exchange
and radio code of a run) and bisects the loss at which the share of reports with at
least one retransmission, spurious ones included, equals the measured share. It also
shows, on the same draws, the share without any loss (the spurious retransmissions
alone), with RFC 7252 timers, and for the NB-IoT CE0 baseline with RFC and field timers,
which take the LTE-M loss per packet.

    python benchmarks/calibrate_loss.py                 # about 3 minutes on one core
    python benchmarks/calibrate_loss.py --devices 10 --out /tmp/calibrate_loss.md

Standard errors are binomial: sqrt(p (1 - p) / n) for n simulated exchanges; the fitted
loss's is the share's divided by the slope of share against loss (measured on the same
draws, +-0.002 around the fit).
"""
from __future__ import annotations

import argparse
import math
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from simulation.calibration import Share, fit_loss, retransmitted_reports  # noqa: E402
from simulation.scenario import load_scenario  # noqa: E402
from simulation.scenario.presets import LTEM_LOSS  # noqa: E402

MEASURED = (45, 1018)           # exchanges with >= 1 retransmission, exchanges
TARGET = MEASURED[0] / MEASURED[1]
RFC = {"coap.ack_timeout_s": 2.0, "coap.ack_random_factor": 1.5, "coap.max_retransmit": 4}
STEP = 0.002                    # loss step of the slope


def fill(paragraph: str) -> str:
    return textwrap.fill(paragraph, 90, break_on_hyphens=False, break_long_words=False)


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def row(preset: str, timers: str, at_zero: Share, loss: float, share: Share,
        loss_se: float | None, note: str) -> str:
    se = f"{loss_se:.5f}" if loss_se is not None else ""
    return (f"| `{preset}` | {timers} | {share.exchanges:,} | {pct(at_zero.share)} +- "
            f"{pct(at_zero.se)} | {loss:.5f} | {se} | {pct(share.share)} +- "
            f"{pct(share.se)} | {note} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=50,
                    help="devices of retransmissions-ltem, 1018 wake-ups each (default 50)")
    ap.add_argument("--baseline-devices", type=int, default=5000,
                    help="devices of the baseline rows, 6 wake-ups each (default 5000)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "calibrate_loss.md"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    client = load_scenario("retransmissions-ltem", {"fleet.size": args.devices,
                                                    "fleet.cells": args.devices})
    rfc = client.with_overrides(RFC)
    zero = retransmitted_reports(client.with_overrides({"link.loss": 0.0}))
    loss, share = fit_loss(client, TARGET, hi=0.05, tol=2e-5)
    up, down = (retransmitted_reports(client.with_overrides({"link.loss": loss + d}))
                for d in (STEP, -STEP))
    slope = (up.share - down.share) / (2 * STEP)
    loss_se = share.se / slope
    measured_se = math.sqrt(TARGET * (1 - TARGET) / MEASURED[1])
    rows = [row("ltem", "the client's: 4-5 s, x2, 3 retransmissions", zero, loss, share,
                loss_se, "fitted")]
    rfc_zero = retransmitted_reports(rfc.with_overrides({"link.loss": 0.0}))
    rfc_at = retransmitted_reports(rfc.with_overrides({"link.loss": LTEM_LOSS}))
    rows.append(row("ltem", "RFC 7252: 2-3 s, x2, 4", rfc_zero, LTEM_LOSS, rfc_at, None,
                    "not fitted: the share without loss "
                    + ("exceeds" if rfc_zero.share > TARGET else "is under")
                    + f" the measured {pct(TARGET)}"))
    nodrx = rfc.with_overrides({"device.cdrx_cycle_s": 0.0})
    nodrx_zero = retransmitted_reports(nodrx.with_overrides({"link.loss": 0.0}))
    rows.append(row("ltem", "RFC 7252, no connected-mode DRX", nodrx_zero, LTEM_LOSS,
                    retransmitted_reports(nodrx), None,
                    "`device.cdrx_cycle_s` 0: the answer does not wait for an on-duration"))
    base = {"fleet.size": args.baseline_devices, "fleet.cells": args.baseline_devices // 20}
    ce0 = {}
    for name, timers, sets in (
            ("baseline", "RFC 7252: 2-3 s, x2, 4", {}),
            ("baseline", "RFC 7252, no connected-mode DRX", {"device.cdrx_cycle_s": 0.0}),
            ("baseline-field-timers", "field: 15-22.5 s, x2, 4", {})):
        sc = load_scenario(name, {**base, **sets})
        b_zero = retransmitted_reports(sc.with_overrides({"link.loss": 0.0}))
        b_at = retransmitted_reports(sc)
        ce0[timers] = (b_zero, b_at)
        rows.append(row("nbiot-ce0", timers, b_zero, sc.link.loss, b_at, None,
                        f"not fitted (no NB-IoT measurement): LTE-M's loss; `{name}`"))
    wall = time.perf_counter() - t0
    (ce0_rfc, _), (ce0_nodrx, _), (_, ce0_field) = ce0.values()

    closed = 1 - math.sqrt(1 - TARGET)
    paragraphs = [
        f"Written by `python benchmarks/calibrate_loss.py --devices {args.devices} "
        f"--baseline-devices {args.baseline_devices}` ({wall:.0f} s). The measurement: "
        "boaks/zephyr-coaps-client, a Thingy:91 on LTE-M for 42 days, one CoAP/DTLS "
        f"exchange an hour; {MEASURED[0]} of {MEASURED[1]} exchanges needed at least one "
        f"CoAP retransmission, {pct(TARGET)} +- {pct(measured_se)} (binomial standard "
        "error of the measurement). The built-in scenario `retransmissions-ltem` "
        "describes it: the client retransmits 4-5 s after the request (its 3 s timeout "
        "counted in 1 s rounds), doubles the timeout, gives up after 3.",
        "Each row runs the report wake-ups of its scenario through the model "
        "(`simulation/calibration.py`) and counts the reports with at least one "
        "retransmission, spurious ones included. \"Without loss\" is that share at "
        "`link.loss` 0: the retransmissions that the RTT spread and connected-mode DRX "
        "cause on their own. Standard errors (+-) are binomial for the exchanges "
        "simulated; the fitted loss's is the share's divided by the slope of share "
        f"against loss ({slope:.3f} per unit of loss, measured on the same draws at the "
        f"fit +- {STEP}). The measurement's own standard error, {pct(measured_se)}, is "
        f"{measured_se / share.se:.0f} times the simulation's and moves the loss by "
        f"+- {measured_se / slope:.4f}.",
    ]
    after = [
        f"The preset carries the fit rounded to 4 decimals: `LTEM_LOSS` = {LTEM_LOSS} in "
        "`simulation/scenario/presets.py`, used by `ltem` (M, fitted) and `nbiot-ce0` (A: "
        "the same loss per packet; no NB-IoT figure is published). With the client's "
        f"timers {zero.retransmitted} of {zero.exchanges:,} reports are retransmitted "
        "without loss; the closed form of two packets per exchange, with no spurious "
        f"retransmission, is 1 - (1 - {TARGET:.4f})^0.5 = {closed:.5f}, "
        f"{abs(loss - closed) / loss_se:.1f} standard errors from the fit.",
        f"With RFC 7252 timers the model retransmits {pct(rfc_zero.share)} of these "
        "reports before any packet is lost, "
        + ("more" if rfc_zero.share > TARGET else "less") + f" than the measured "
        f"{pct(TARGET)}; without connected-mode DRX, {pct(nodrx_zero.share)}. The "
        "answer, after a round trip longer than the 0.1 s `device.drx_inactivity_s`, "
        "waits for the next on-duration of connected-mode DRX (`device.cdrx_cycle_s` "
        "2.048 s) and then often arrives after the 2-3 s timeout. The measured devices "
        "did not use RFC timers; the fit uses theirs.",
        f"On NB-IoT CE0 (the baseline's report wake-ups) RFC 7252 timers retransmit "
        f"{pct(ce0_rfc.share)} of the reports without loss, {pct(ce0_nodrx.share)} "
        "without connected-mode DRX (the RTT spread alone); with the 15 s ACK timeout "
        f"of `baseline-field-timers`, {pct(ce0_field.share)} are retransmitted at the "
        "LTE-M loss.",
        "The other presets' losses are assumptions (A): `nbiot-ce1` 0.05, `nbiot-ce2` "
        "0.10, `cat1` 0.01, the local links 0.01; `fixed` 0.",
    ]
    header = ("| preset | CoAP timers | exchanges | share without loss | `link.loss` | "
              "loss standard error | share retransmitted | note |\n"
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    text = "\n\n".join(["# `link.loss` fitted to the LTE-M retransmission measurement",
                         *(fill(p) for p in paragraphs),
                         header + "\n" + "\n".join(rows),
                         *(fill(p) for p in after)]) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
