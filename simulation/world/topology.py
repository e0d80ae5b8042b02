"""How a strategy's devices are connected: the data the world is assembled from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.world.link import LinkModel
from simulation.world.radio import RadioModel

MANAGER, GATEWAY = "manager", "gateway"


@dataclass(frozen=True)
class Coverage:
    """One coverage class of the fleet: its preset, the share of the devices in it, their
    link, and whether that link's round trips include the C-DRX waits."""

    name: str
    share: float
    link: LinkModel
    rtt_includes_cdrx: bool = False


@dataclass(frozen=True)
class Topology:
    """The devices' links to their peer (one per coverage class), whether the carrier NAT
    sits on them, how many cells (or gateways' local channels) share them, and who the
    peer is.

    Device i is in cell i mod `cells`; its class is its own draw (`classes_of`). With
    `peer = GATEWAY` each cell is one gateway, which serves its devices' messages in a
    queue of its own; else the manager does. `radio` is the devices' radio when it is not
    the cellular one of `device.*` and `power.*`.
    """

    classes: tuple[Coverage, ...]
    behind_nat: bool
    cells: int
    peer: str = MANAGER
    radio: RadioModel | None = None

    def classes_of(self, u: np.ndarray) -> np.ndarray:
        """Each device's class index from its uniform draw u in [0, 1): class c holds
        the u from the shares' cumulative sum before c to the one after it."""
        edges = np.cumsum([c.share for c in self.classes])[:-1]
        return np.searchsorted(edges, u, side="right").astype(np.int8)

    @property
    def peer_letter(self) -> str:
        """The peer in the draft's notation (`D-->M`, `D<--G`)."""
        return "M" if self.peer == MANAGER else "G"
