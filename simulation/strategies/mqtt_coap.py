"""mqtt-coap (draft section 7): the MQTT command carries a CoAP URL; the device fetches the
binary from the CoAP endpoint with Block2 (RFC 7959), over DTLS per `security.mode`.

    D<--M: MQTT PUBLISH devices/0/cmd, QoS 1, payload: {"version":"2.0.0","url":"coaps://company/devicetype/version00.zip"}
    D-->M: MQTT PUBACK
    D-->M: DTLS ClientHello                          (with DTLS: `security.mode` not none)
    D<--M: DTLS ServerHello, ServerHelloDone
    D-->M: DTLS ClientKeyExchange, CCS, Finished
    D<--M: DTLS CCS, Finished
    D-->M: CoAP GET /devicetype/version00.zip, Block2: 0/0/256
    D<--M: 2.05 Content, Block2: 0/1/256, payload: 256 B

The scheme is `coaps` when a DTLS mode (or `tls`, whose UDP hops use DTLS with raw public
keys, like `dtls-cert`) is on, else `coap`. The URL's host is the manager's CoAP endpoint
(`world/manager.py` `ADDRESS`), the device's one DTLS peer (`transport/security.py`
`DtlsSessions`), reached through the device's UDP NAT binding to that address. The MQTT
session runs over TCP (in TLS of its own with `tls`) and opens no UDP binding, so the pull
is the device's first exchange with that peer: it runs the handshake its DTLS session
needs first, by the rule of every CoAP exchange (`Session.end_with_transfer`): a full one
the first time; none at a later pull while the session lives; and once its UDP binding
has expired without a Connection ID (`security.rebind` not `cid`), the server drops the
first GET silently, the device gives up on it (failure "dtls"), handshakes again and pulls
at once. A failed transfer resumes from the blocks held at a later wake-up. See
`mqtt_command.py` for the MQTT session.
"""
from __future__ import annotations

from simulation.transport import messages
from simulation.strategies.mqtt_command import MqttCommand
from simulation.world import broker as brk


class MqttCoap(MqttCommand):
    name = "mqtt-coap"

    def __init__(self, world):
        self.scheme = "coap" if world.scenario.security.mode == "none" else "coaps"
        super().__init__(world)

    def fetch_image(self, session):
        yield from self.transfer_image(session, messages.block2_pull(
            brk.IMAGE_PATH, self.image_bytes, self.block_bytes, session.token()))
