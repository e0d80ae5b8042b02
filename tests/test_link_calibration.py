"""Link presets against the published figures they are calibrated on.

- `ltem` loss: in the model, the share of hourly CoAP exchanges with at least one
  retransmission (spurious ones included) is the 45 of 1018 (4.42 %) measured on LTE-M by
  boaks/zephyr-coaps-client, under that measurement's conditions (built-in scenario
  `retransmissions-ltem`, the client's own timers). The loss was fitted on seed 1
  (`benchmarks/calibrate_loss.py`, 50,920 exchanges, standard error of the share 0.09 %);
  the test runs an independent sample (seed 2).
- `nbiot-ce0` RTT: the 10th and 90th percentiles are the 1 s and 2 s of the CoAP round trip
  reported on NB-IoT (californium#1843), and 90 % of round trips are under 10 s
  (Robinson 2019).
"""
from __future__ import annotations

import math

import numpy as np

from simulation.calibration import retransmitted_reports
from simulation.scenario import load_scenario
from simulation.engine import World

MEASURED = 45 / 1018
FIT_SE = 0.0009         # standard error of the share on the fit's 50,920 exchanges
RFC = {"coap.ack_timeout_s": 2.0, "coap.ack_random_factor": 1.5, "coap.max_retransmit": 4}


def test_ltem_share_retransmitted_matches_the_measurement():
    """40 devices x 1018 wake-ups (seed 2): the share's standard error is 0.10 %; with the
    fit's own 0.09 % the difference from 4.42 % has a standard error of 0.14 %, and the
    tolerance is 3 of them, 0.41 % (a loss counted twice, 0.044 per packet, gives 8.6 %)."""
    sc = load_scenario("retransmissions-ltem", {"fleet.size": 40, "fleet.cells": 40,
                                                "sim.seed": 2})
    got = retransmitted_reports(sc)
    assert got.exchanges > 40_000
    tolerance = 3 * math.hypot(got.se, FIT_SE)
    assert abs(got.share - MEASURED) < tolerance, (got.share, tolerance)


def test_the_client_timers_make_no_spurious_retransmission_and_rfc_ones_do():
    """Why the fit uses the measured client's timers (first retransmission 4-5 s after the
    request): without loss none of its reports is retransmitted, while RFC 7252's 2-3 s
    retransmits more than the measured 4.42 % before any packet is lost (the answer waits
    for connected-mode DRX), by more than 5 standard errors of 5,000 exchanges."""
    sc = load_scenario("retransmissions-ltem", {"fleet.size": 5, "fleet.cells": 5,
                                                "link.loss": 0.0})
    assert retransmitted_reports(sc).retransmitted == 0
    rfc = retransmitted_reports(sc.with_overrides(RFC))
    assert rfc.share > MEASURED + 5 * rfc.se, rfc.share


def test_nbiot_ce0_rtt_percentiles_match_the_published_range():
    """200,000 round trips drawn as exchanges draw them (`LinkModel.rtt_from_normal`): the
    10th and 90th percentiles within 5 % of 1 s and 2 s (the published range is in whole
    seconds; the preset's exact percentiles are 1.02 and 2.05 s; the former shape 0.5 gave
    0.70 and 2.51 s), the mean within 1 % of `rtt_s`, and more than 90 % under 10 s."""
    link = World(load_scenario("baseline")).ctx.link
    rtt = link.rtt_from_normal(np.random.default_rng(11).standard_normal(200_000))
    p10, p90 = np.quantile(rtt, [0.1, 0.9])
    assert abs(p10 - 1.0) < 0.05 and abs(p90 - 2.0) < 0.10, (p10, p90)
    assert abs(rtt.mean() - link.rtt_s) < 0.01 * link.rtt_s
    assert (rtt < 10.0).mean() > 0.9
