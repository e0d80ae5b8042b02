"""Random streams: one SeedSequence per run, a named child stream per random source.

A draw is addressed by (run seed, stream name, ids...), e.g. ("session", device 17, wake 3):
its values depend on nothing else, so adding a device, a metric or a strategy, or changing
the order in which events interleave, leaves every other draw unchanged. Stream names map to
fixed integers through CRC-32 (not Python's salted `hash`), so they are stable across runs.
"""
from __future__ import annotations

import zlib

import numpy as np

_TWO_64 = float(2 ** 64)


def stream_id(name: str) -> int:
    """Stable integer of a stream name."""
    return zlib.crc32(name.encode())


class Streams:
    """The random streams of one run, derived from its master seed."""

    __slots__ = ("seed",)

    def __init__(self, seed: int):
        self.seed = int(seed)

    def sequence(self, stream: str, *ids: int) -> np.random.SeedSequence:
        return np.random.SeedSequence([self.seed, stream_id(stream), *map(int, ids)])

    def generator(self, stream: str, *ids: int) -> np.random.Generator:
        """An independent generator for (stream, ids)."""
        return np.random.Generator(np.random.PCG64(self.sequence(stream, *ids)))

    def uniform(self, stream: str, *ids: int) -> float:
        """One uniform draw in [0, 1) for (stream, ids), without building a generator."""
        word = self.sequence(stream, *ids).generate_state(1, dtype=np.uint64)[0]
        return float(word) / _TWO_64

    def uniforms(self, stream: str, ids) -> np.ndarray:
        """One uniform in [0, 1) per id of a stream: each depends only on its id."""
        return np.fromiter((self.uniform(stream, i) for i in ids), float, len(ids))
