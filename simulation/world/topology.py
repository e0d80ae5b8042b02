"""How a strategy's devices are connected: the data the world is assembled from."""
from __future__ import annotations

from dataclasses import dataclass

from simulation.world.link import LinkModel
from simulation.world.radio import RadioModel

MANAGER, GATEWAY = "manager", "gateway"


@dataclass(frozen=True)
class Topology:
    """The devices' link to their peer, whether the carrier NAT sits on it, how many
    cells (or gateways' local channels) share it, and who the peer is.

    Device i is in cell i mod `cells`. With `peer = GATEWAY` each cell is one gateway,
    which serves its devices' messages in a queue of its own; else the manager does.
    `radio` is the devices' radio when it is not the cellular one of `device.*` and
    `power.*`.
    """

    link: LinkModel
    behind_nat: bool
    cells: int
    peer: str = MANAGER
    radio: RadioModel | None = None

    @property
    def peer_letter(self) -> str:
        """The peer in the draft's notation (`D-->M`, `D<--G`)."""
        return "M" if self.peer == MANAGER else "G"
