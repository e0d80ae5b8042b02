"""Exchanges on a device's link: CoAP exchanges and their flow-level outcome, the CoAP
messages of the strategies, TCP connections, DTLS sessions and the gateways' backhaul."""
