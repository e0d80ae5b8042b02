"""manager-initiated (draft section 5): no extra observation; any notification will do.

The manager observes an application resource of the device (its report); the report itself,
sent as a notification at each wake-up, opens the NAT, and the manager pushes the image
while the binding admits it:

    D<--M: CoAP GET /report, Token: 0x4a, Observe: 0
    D-->M: 2.05 Content, Token: 0x4a, payload: 64 B
    ...
    D-->M: 2.05 Content, Token: 0x4a, Observe: 7, payload: 64 B
    D<--M: CoAP POST /sw, Block1: n/1/256, payload: 256 B
    D-->M: 2.31 Continue, Block1: n/1/256

Compared with device-initiated, each wake-up saves the separate radio-link notification;
the manager needs the logic that links any observation to the update.
"""
from __future__ import annotations

from simulation.transport import messages
from simulation.strategies.notified_push import NotifiedPush


class ManagerInitiated(NotifiedPush):
    name = "manager-initiated"
    observed = "/report"
    separate_report = False
    links = ("</report>;obs", "</sw>")

    def observation(self, token: int):
        n = self.report_bytes
        return messages.observe(self.observed, token, n, f"{n} B")

    def notification(self, session, seq: int, answer: str = "ACK"):
        n = self.report_bytes
        return messages.notify(int(self.obs_token[session.device]), seq, n, f"{n} B", answer)
