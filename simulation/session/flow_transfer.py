"""An image transfer at flow fidelity, chunk by chunk through its device's cell."""
from __future__ import annotations

from simulation.session.packet import packet_exchange
from simulation.transport.exchange import Outcome, flow_outcome, merge
from simulation.world.manager import ADDRESS as MANAGER

#: blocks of an image transfer computed at once in flow fidelity (then the cell's state is
#: looked at again): 200 blocks of 256 B take about 6 min on an idle NB-IoT CE0 cell.
BULK_CHUNK_BLOCKS = 200


class FlowTransfer:
    """An image transfer at flow fidelity, driven by callbacks rather than a process:
    `BULK_CHUNK_BLOCKS` blocks at a time, each chunk computed with the queue its cell has
    when it starts (so a busy cell provokes spurious retransmissions), then progressing
    through the cell at the cell's changing pace. A chunk that starts while the peer's
    queue is congested (`Session.congested`) is run message by message instead, as in
    packet fidelity."""

    __slots__ = ("session", "spec", "block", "total", "part", "then")

    def __init__(self, session, spec, first_block: int, then):
        self.session, self.spec, self.block, self.then = session, spec, first_block, then
        self.total = self.part = None

    def start(self) -> None:
        s = self.session
        env = s.world.env
        self.total = Outcome(completed=True, start_s=s.clock)
        if s.clock > env.now:   # let the simulation catch up with the session's clock
            env.timeout(s.clock - env.now).callbacks.append(self._next_chunk)
        else:
            self._next_chunk()

    def _next_chunk(self, _event=None) -> None:
        s, spec = self.session, self.spec
        w, i, env = s.world, s.device, s.world.env
        if self.block >= spec.blocks:
            self._finish()
            return
        t = env.now
        last = min(self.block + BULK_CHUNK_BLOCKS, spec.blocks)
        if s.congested():   # the chunk's messages meet the manager's queue one by one
            proc = env.process(packet_exchange(s, spec, self.block, None, s.next_rng(),
                                               last_block=last))
            proc.callbacks.append(self._stepped_chunk_done)
            return
        cell = s.cell
        part = flow_outcome(spec, s.ctx, s.next_rng(),
                            nat_open_s=w.nat.expires_at(i, MANAGER) - t,
                            device_gap_s=t - w.radios.last_activity[i],
                            first_block=self.block, last_block=last,
                            cell=cell, with_events=s.traced, start_s=t,
                            queue=s.peer_queue, partial=True,
                            **w.radios.connected_periods(i))
        part.start_s = t
        self.part = part
        # the chunk lasts part.duration_s if the cell stays as its blocks found it; its
        # time in the cell scales with the stretch the cell actually has
        done = cell.transfer(part.duration_s - part.path_down_s,
                             part.path_down_s - part.queued_down_s, part.air_down_s,
                             s.ctx.link.servers)
        done.callbacks.append(self._chunk_done)

    def _chunk_done(self, event) -> None:
        part, self.part = self.part, None
        self.session.book_outcome(self.spec, part, event.value)
        self._merge(part)

    def _stepped_chunk_done(self, event) -> None:
        """A chunk run message by message (it booked itself) is over."""
        self._merge(event.value)

    def _merge(self, part) -> None:
        merge(self.total, part)
        self.block += part.blocks_done
        if part.completed and self.block < self.spec.blocks:
            self._next_chunk()
        else:
            self._finish()

    def _finish(self) -> None:
        self.session.transfer_over(self.then, self.total)
