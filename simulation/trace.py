"""`--trace N`: the message sequence of the first N devices in the draft's notation.

One line per message: simulated time (s), device, then the draft's arrow notation, e.g.
``  3712.402  dev 0  D<--M: CoAP GET /Radio_link_status, Token: 0x4a, Observe: 0``.
A copy re-sent after a timeout says `(retransmission n)`; a packet lost on the radio says
`[lost]`, one the NAT refused `[dropped by NAT]`.
In flow fidelity the times inside an image transfer come from its computed outcome; when
the cell slowed the transfer down, the blocks' start times are stretched (each block's own
messages keep their spacing). Packet fidelity gives exact times.
"""
from __future__ import annotations

FATES = {"": "", "lost": " [lost]", "dropped": " [dropped by NAT]",
         "unmatched": " [dropped by the manager: no DTLS session for this port]"}


class Tracer:
    def __init__(self, devices: int):
        self.devices = devices
        self.lines: list[tuple[float, int, int, str]] = []

    def wants(self, device: int) -> bool:
        return device < self.devices

    def add(self, t: float, device: int, text: str) -> None:
        self.lines.append((t, device, len(self.lines), text))


def format_lines(lines) -> str:
    """Trace lines in time order (then device, then order of recording)."""
    return "".join(f"{t:12.3f}  dev {d:<5d} {txt}\n" for t, d, _, txt in sorted(lines))
