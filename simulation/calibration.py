"""The model's estimate of a published retransmission figure, and the loss that fits it.

`retransmitted_reports` runs the periodic wake-ups of a scenario's devices within its
horizon, each one as a run does (`World._wake`, `Session.run`): the session connects
(`Session.connect`) and sends the report (`Strategy.send_report`), through the session,
exchange and radio code of a run at flow fidelity, and the device's state carries over
from one wake-up to the next. It counts the reports that needed at least one CoAP
retransmission, whether a packet was lost or the answer came after the timeout (a
spurious one). Only the report runs (a strategy's other exchanges do not), one device
after the other: one-block exchanges at flow fidelity do not interact.

`fit_loss` finds the `link.loss` at which that share equals a measured one. Every draw
depends only on (device, wake-up, exchange) and a packet is lost when its uniform draw is
under `link.loss` (`transport/exchange.py`), so the same draws serve every loss tried and
the share grows step by step with the loss: bisection finds the crossing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from simulation.engine import World
from simulation.errors import ScenarioError
from simulation.scenario import Scenario
from simulation.session import Session
from simulation.world.manager import FifoQueue


@dataclass(frozen=True)
class Share:
    """Reports sent, and how many of them needed at least one retransmission."""

    exchanges: int
    retransmitted: int

    @property
    def share(self) -> float:
        return self.retransmitted / self.exchanges

    @property
    def se(self) -> float:
        """Binomial standard error of `share`."""
        p = self.share
        return math.sqrt(p * (1.0 - p) / self.exchanges)


def _at_once(body):
    """Run a process body that never waits (flow fidelity); return its value."""
    try:
        next(body)
    except StopIteration as done:
        return done.value
    raise ScenarioError("the calibration runs at flow fidelity only")


def retransmitted_reports(scenario: Scenario) -> Share:
    """The reports of every periodic wake-up of the scenario's devices within its horizon
    (a resolved scenario at flow fidelity), and how many needed at least one
    retransmission."""
    if scenario.sim.fidelity != "flow" or scenario.device.wake != "periodic":
        raise ScenarioError("the calibration runs periodic wake-ups at flow fidelity")
    w = World(scenario)
    interval, horizon = scenario.device.wake_interval_s, scenario.sim.horizon_s
    sent = retransmitted = 0
    for i, phase in enumerate(w.wake_phases().tolist()):
        # each device alone with the server, as in the measurement (and the devices are
        # run one after the other, not in time order)
        w.manager.queues = [FifoQueue(scenario.manager.service_s)
                            for _ in w.manager.queues]
        k = 0
        while (t := phase + k * interval) < horizon:
            session = Session(w, i, k, at=t)
            k += 1
            if t < w.fleet.busy_until[i]:
                continue                # as in a run: a wake-up inside a session is skipped
            w.fleet.wakeups[i] += 1
            session.hold()
            _at_once(session.connect())
            out = _at_once(w.strategy.send_report(session))
            session.finish()
            sent += 1
            retransmitted += out.retransmissions > 0
    return Share(sent, retransmitted)


def fit_loss(scenario: Scenario, target: float, hi: float = 0.2,
             tol: float = 1e-5) -> tuple[float, Share]:
    """The `link.loss` in [0, hi] at which the share of retransmitted reports reaches
    `target`, to `tol`, and the share there. Raises ScenarioError when the target is not
    in the bracket: without loss the share exceeds it already (spurious retransmissions
    alone), or at `hi` it is still under it."""
    def share_at(loss: float) -> Share:
        return retransmitted_reports(scenario.with_overrides({"link.loss": loss}))

    for end, over in ((0.0, True), (hi, False)):
        share = share_at(end).share
        if (share > target) == over:
            raise ScenarioError(f"at loss {end} {share:.4f} of the reports are "
                                f"retransmitted, {'more' if over else 'less'} than {target}")
    lo = 0.0
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if share_at(mid).share < target:
            lo = mid
        else:
            hi = mid
    loss = 0.5 * (lo + hi)
    return loss, share_at(loss)
