"""device-initiated (draft section 4): an Observe on the device's radio-link status opens
the NAT for the manager.

    D-->M: CoAP POST /rd?ep=dev0&lt=90000, payload: </Radio_link_status>;obs,</sw>,...
    D<--M: 2.01 Created, Location-Path: /rd/0
    D<--M: CoAP GET /Radio_link_status, Token: 0x4a, Observe: 0
    D-->M: 2.05 Content, Token: 0x4a, payload: 1

At each wake-up the device POSTs its report, then notifies its radio-link status (payload
1: on); while the NAT binding admits it, the manager pushes the image:

    D-->M: CoAP POST /report, payload: 64 B
    D-->M: 2.05 Content, Token: 0x4a, Observe: 7, payload: 1
    D<--M: CoAP POST /sw, Block1: n/1/256, payload: 256 B
    D-->M: 2.31 Continue, Block1: n/1/256

See `notified_push.py` for what it shares with manager-initiated.
"""
from __future__ import annotations

from simulation.transport import messages
from simulation.strategies.notified_push import NotifiedPush


class DeviceInitiated(NotifiedPush):
    name = "device-initiated"
    observed = "/Radio_link_status"
    separate_report = True
    links = ("</Radio_link_status>;obs", "</sw>", "</report>")

    def observation(self, token: int):
        return messages.observe_link_status(token)

    def notification(self, session, seq: int, answer: str = "ACK"):
        return messages.notify_link_status(int(self.obs_token[session.device]), seq, answer)
