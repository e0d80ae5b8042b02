"""Random streams: counter-based draws, addressed by (run seed, stream name, ids...).

A draw is addressed by (run seed, stream name, ids..., counter), e.g. the third draw of
("session", device 17, wake 3, exchange 2): its value depends on nothing else, so adding a
device, a metric or a strategy, or changing the order in which events interleave, leaves
every other draw unchanged, and a draw can be computed for many addresses at once with
numpy (the same bits either way).

The generator is SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014; Vigna's reference `splitmix64.c`): an address is hashed to a
64-bit key (`Streams.key`: the run seed, then the stream and each id, each folded in by
one SplitMix64 step), and its draw k is the (k+1)-th output of SplitMix64 started from
that key. One draw costs about 2.5 us in Python (a numpy `SeedSequence` cost 11 us), and
a million addresses' draws about 0.1 s in numpy. `tests/test_randomness.py` checks the reference outputs of SplitMix64,
the uniformity and independence of the draws, and that the scalar and array paths agree
bit for bit.

Stream names map to fixed integers through CRC-32 (not Python's salted `hash`), so they
are stable across runs.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
from scipy.special import bdtr, ndtri

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15        # SplitMix64's increment (2^64 / golden ratio, odd)
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_TO_UNIT = 2.0 ** -53
#: draws of one call below which plain Python integers beat numpy arrays (same bits)
_SCALAR_MAX = 24


def stream_id(name: str) -> int:
    """Stable integer of a stream name."""
    return zlib.crc32(name.encode())


def mix(z: int) -> int:
    """SplitMix64's finaliser of a 64-bit integer (a bijection with full avalanche)."""
    z = ((z ^ (z >> 30)) * _M1) & MASK
    z = ((z ^ (z >> 27)) * _M2) & MASK
    return z ^ (z >> 31)


def mix_array(z: np.ndarray) -> np.ndarray:
    """`mix` of every element of a uint64 array (products wrap modulo 2^64, as `mix`'s
    masks do)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def _fold(key: int, word: int) -> int:
    """The key of an address extended by one more word (an id or the stream): one
    SplitMix64 step from the key xor the word. For a given prefix it is a bijection of
    the word, so addresses that differ only in their last id never share a key."""
    return mix(((key ^ word) + GOLDEN) & MASK)


def _fold_array(key, word) -> np.ndarray:
    """`_fold` of an array of keys, or of words (the other one an int)."""
    with np.errstate(over="ignore"):
        return mix_array((np.asarray(key, dtype=np.uint64) ^ np.asarray(word, dtype=np.uint64))
                         + np.uint64(GOLDEN))


def outputs(key: int, first: int, count: int) -> list[int]:
    """SplitMix64 outputs `first` to `first + count` (excluded) of the stream at `key`."""
    return [mix((key + (k + 1) * GOLDEN) & MASK) for k in range(first, first + count)]


#: SplitMix64's states after 1, 2, ... steps from key 0 (a stream's states add its key)
_STEPS = np.arange(1, 4097, dtype=np.uint64) * np.uint64(GOLDEN)


def outputs_array(keys, counters) -> np.ndarray:
    """Output `counters` (broadcast) of the streams at `keys` (an int or a uint64
    array), as uint64."""
    with np.errstate(over="ignore"):
        state = np.asarray(keys, dtype=np.uint64) \
            + (np.asarray(counters, dtype=np.uint64) + np.uint64(1)) * np.uint64(GOLDEN)
        return mix_array(state)


def to_unit(words) -> np.ndarray:
    """Doubles in [0, 1) from 64-bit outputs: their top 53 bits (as numpy's `random`)."""
    return (np.asarray(words, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) \
        * _TO_UNIT


def to_open_unit(words) -> np.ndarray:
    """Doubles in (0, 1) from 64-bit outputs (for inverse distribution functions)."""
    return ((np.asarray(words, dtype=np.uint64) >> np.uint64(11)).astype(np.float64)
            + 0.5) * _TO_UNIT


class Draws:
    """The draws of one address, as a generator: each call takes the next counters.

    Offers the few methods of `numpy.random.Generator` the model uses (`random`,
    `uniform`, `standard_normal`, `lognormal`, `binomial`); each value comes from one
    SplitMix64 output (a normal by the inverse normal distribution function, a binomial
    by its inverse distribution function), so a draw's value depends only on its address
    and counter, and `Streams.draws_at` computes it for many addresses at once.
    """

    __slots__ = ("key", "counter")

    def __init__(self, key: int):
        self.key = key
        self.counter = 0

    def _units(self, size, open_: bool = False) -> tuple[np.ndarray, tuple | None]:
        """The next uniforms, as many as `size` holds, and the shape to give them (None:
        one value): `to_unit` of the outputs (`open_`: `to_open_unit`)."""
        shape = None if size is None else (size,) if isinstance(size, int) else tuple(size)
        count = 1 if shape is None else math.prod(shape)
        first, key = self.counter, self.key
        self.counter += count
        if count <= _SCALAR_MAX:      # the bits of `to_unit` / `to_open_unit`, in Python
            offset = 0.5 if open_ else 0.0
            units = np.array([((mix((key + k * GOLDEN) & MASK) >> 11) + offset) * _TO_UNIT
                              for k in range(first + 1, first + count + 1)])
            return units, shape
        if first + count <= len(_STEPS):
            words = mix_array(_STEPS[first:first + count] + np.uint64(key))
        else:
            words = outputs_array(key, np.arange(first, first + count, dtype=np.uint64))
        return (to_open_unit(words) if open_ else to_unit(words)), shape

    def _next_unit(self) -> float:
        """One uniform in [0, 1) with plain integers (the bits of `to_unit`)."""
        self.counter += 1
        return (mix((self.key + self.counter * GOLDEN) & MASK) >> 11) * _TO_UNIT

    @staticmethod
    def _shaped(values: np.ndarray, shape):
        return float(values[0]) if shape is None else values.reshape(shape)

    def random(self, size=None):
        """Uniform in [0, 1)."""
        if size is None:
            return self._next_unit()
        units, shape = self._units(size)
        return self._shaped(units, shape)

    def uniform(self, low: float = 0.0, high: float = 1.0, size=None):
        """Uniform in [low, high)."""
        if size is None:
            return low + (high - low) * self._next_unit()
        units, shape = self._units(size)
        return self._shaped(low + (high - low) * units, shape)

    def standard_normal(self, size=None):
        units, shape = self._units(size, open_=True)
        return self._shaped(ndtri(units), shape)

    def lognormal(self, mean: float = 0.0, sigma: float = 1.0, size=None):
        units, shape = self._units(size, open_=True)
        return self._shaped(np.exp(mean + sigma * ndtri(units)), shape)

    def binomial(self, n: int, p: float, size=None):
        """Binomial(n, p) by its inverse distribution function: the least k whose
        distribution function reaches the draw."""
        u, shape = self._units(size, open_=True)
        cdf = bdtr(np.arange(n + 1), n, p)
        cdf[-1] = 1.0
        return self._shaped(np.searchsorted(cdf, u, side="left").astype(np.int64), shape)


class Streams:
    """The random streams of one run, derived from its master seed."""

    __slots__ = ("seed", "_root")

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._root = mix((self.seed & MASK) ^ GOLDEN)

    def key(self, stream: str, *ids: int) -> int:
        """The 64-bit key of address (stream, ids)."""
        key = _fold(self._root, stream_id(stream))
        for i in ids:
            key = _fold(key, int(i) & MASK)
        return key

    def keys(self, stream: str, *ids) -> np.ndarray | int:
        """`key` of many addresses at once: each of `ids` an int or an integer array
        (broadcast together), as uint64 (an int if every id is one)."""
        key = _fold(self._root, stream_id(stream))
        for i in ids:
            if np.ndim(i):
                key = _fold_array(key, np.asarray(i).astype(np.int64).view(np.uint64))
            elif isinstance(key, int):
                key = _fold(key, int(i) & MASK)
            else:
                key = _fold_array(key, np.uint64(int(i) & MASK))
        return key

    def generator(self, stream: str, *ids: int) -> Draws:
        """The draws of (stream, ids), as a generator."""
        return Draws(self.key(stream, *ids))

    def uniform(self, stream: str, *ids: int) -> float:
        """The first draw of (stream, ids), uniform in [0, 1)."""
        return Draws(self.key(stream, *ids)).random()

    def uniforms(self, stream: str, ids) -> np.ndarray:
        """The first draw of (stream, id) for each of `ids`: each depends only on its id."""
        return self.draws_at(stream, np.asarray(ids, dtype=np.int64), counter=0)

    def draws_at(self, stream: str, *ids, counter=0) -> np.ndarray:
        """Uniforms in [0, 1) of draw `counter` at addresses (stream, ids), all
        broadcast: the values `generator(stream, *ids)` gives as its draw `counter`."""
        if any(np.size(i) == 0 for i in ids):
            return np.zeros(np.broadcast_shapes(*(np.shape(i) for i in ids)))
        return to_unit(outputs_array(self.keys(stream, *ids), counter))
