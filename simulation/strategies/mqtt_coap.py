"""mqtt-coap (draft section 7): the MQTT command carries a CoAP URL; the device fetches the
binary from the CoAP endpoint with Block2 (RFC 7959), over DTLS per `security.mode`.

    D<--M: MQTT PUBLISH devices/0/cmd, QoS 1, payload: {"version":"2.0.0","url":"coaps://company/devicetype/version00.zip"}
    D-->M: MQTT PUBACK
    D-->M: CoAP GET /devicetype/version00.zip, Block2: 0/0/256
    D<--M: 2.05 Content, Block2: 0/1/256, payload: 256 B

The scheme is `coaps` when a DTLS mode (or `tls`, whose UDP hops use DTLS) is on, else
`coap`. A failed transfer resumes from the blocks held at a later wake-up. See
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
