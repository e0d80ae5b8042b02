"""The counter-based draws (`simulation/randomness.py`): SplitMix64's reference outputs,
the addressing (a draw depends on its address and counter only, the same bits from the
scalar and the array paths), and statistical checks of uniformity and independence.

The statistical checks use fixed addresses, so they are deterministic; each is a test at
significance 10^-4 that a good generator passes and a flawed one fails (the last test
shows each check rejecting a generator with the flaw it looks for).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from simulation.randomness import Draws, Streams, mix, mix_array, outputs

ALPHA = 1e-4
N = 200_000


def test_splitmix64_gives_the_reference_outputs():
    """The first outputs of SplitMix64 from state 1234567, as Vigna's `splitmix64.c`
    prints them (the values quoted with the reference implementation)."""
    assert outputs(1234567, 0, 5) == [6457827717110365317, 3203168211198807973,
                                      9817491932198370423, 4593380528125082431,
                                      16408922859458223821]


def test_the_array_finaliser_equals_the_scalar_one():
    words = np.array([0, 1, 2 ** 63, 2 ** 64 - 1, 1234567891011], dtype=np.uint64)
    assert mix_array(words).tolist() == [mix(int(w)) for w in words]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 63), device=st.integers(0, 10 ** 9),
       wake=st.integers(0, 10 ** 6), exchange=st.integers(0, 500),
       sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6))
def test_a_draw_depends_on_its_address_and_counter_only(seed, device, wake, exchange,
                                                        sizes):
    """However a generator's draws are asked for (one by one, in arrays of any size),
    its k-th draw is the value `draws_at` computes for counter k, for this address alone
    or among many addresses at once."""
    streams = Streams(seed)
    g = streams.generator("session", device, wake, exchange)
    got = np.concatenate([np.atleast_1d(g.random() if k == 1 else g.random(k))
                          for k in sizes])
    counters = np.arange(len(got))
    assert np.array_equal(got, streams.draws_at("session", device, wake, exchange,
                                                counter=counters))
    many = streams.draws_at("session", np.array([device, device + 1]), wake, exchange,
                            counter=counters[:, None])
    assert np.array_equal(many[:, 0], got)
    assert streams.uniform("session", device, wake, exchange) == \
        (got[0] if len(got) else Streams(seed).generator("session", device, wake,
                                                         exchange).random())


def test_uniforms_over_ids_equal_one_draw_per_id():
    s = Streams(3)
    ids = np.array([0, 1, 17, 10 ** 7, 2 ** 40])
    assert s.uniforms("wake-phase", ids).tolist() == [s.uniform("wake-phase", int(i))
                                                      for i in ids]


def test_streams_seeds_and_ids_each_change_every_draw():
    s, t = Streams(1), Streams(2)
    a = s.uniforms("wake-phase", np.arange(1000))
    assert not np.any(a == t.uniforms("wake-phase", np.arange(1000)))
    assert not np.any(a == s.uniforms("paging-phase", np.arange(1000)))


def test_the_distributions_have_their_laws():
    """Normals, lognormals and binomials from the inverse distribution functions: a
    Kolmogorov-Smirnov (or chi-square) test at 10^-4 against the law each names."""
    g = Draws(Streams(5).key("laws"))
    assert stats.kstest(g.standard_normal(N), "norm").pvalue > ALPHA
    assert stats.kstest(g.lognormal(0.3, 0.5, N), "lognorm", args=(0.5, 0, np.exp(0.3))
                        ).pvalue > ALPHA
    assert stats.kstest(g.uniform(2.0, 3.0, N), "uniform", args=(2.0, 1.0)).pvalue > ALPHA
    k = g.binomial(20, 0.3, N)
    observed = np.bincount(k, minlength=21)
    expected = stats.binom.pmf(np.arange(21), 20, 0.3) * N
    keep = expected > 5
    pooled = [*observed[keep], observed[~keep].sum()]
    expect = [*expected[keep], expected[~keep].sum()]
    assert stats.chisquare(pooled, np.array(expect) * sum(pooled) / sum(expect)
                           ).pvalue > ALPHA


def uniformity_p(u: np.ndarray) -> float:
    return stats.kstest(u, "uniform").pvalue


def pairs_p(x: np.ndarray, y: np.ndarray, bins: int = 16) -> float:
    """Chi-square of pairs (x, y) over a bins x bins grid: independence and uniformity
    in two dimensions."""
    counts, _, _ = np.histogram2d(x, y, bins=bins, range=[[0, 1], [0, 1]])
    return stats.chisquare(counts.ravel()).pvalue


def bits_p(words: np.ndarray) -> float:
    """Each of the 53 bits a uniform keeps is set half the time (binomial, Bonferroni
    over the bits)."""
    bits = (words[:, None] >> np.arange(11, 64, dtype=np.uint64)) & np.uint64(1)
    ones = bits.sum(axis=0).astype(float)
    p = [stats.binomtest(int(k), len(words)).pvalue for k in ones]
    return min(p) * len(p)


def draws_checks(along_counter: np.ndarray, along_device: np.ndarray,
                 along_wake: np.ndarray) -> dict[str, float]:
    """The p-values of the uniformity and independence checks of three sequences: one
    address's successive draws, the first draw of successive devices, of successive
    wake-ups."""
    out = {}
    for name, u in (("counter", along_counter), ("device", along_device),
                    ("wake", along_wake)):
        out[f"uniform along {name}"] = uniformity_p(u)
        out[f"pairs along {name}"] = pairs_p(u[:-1:2], u[1::2])
        r = np.corrcoef(u[:-1], u[1:])[0, 1]
        out[f"lag-1 correlation along {name}"] = 2 * stats.norm.sf(abs(r) * np.sqrt(len(u)))
    return out


def test_draws_are_uniform_and_independent_along_counters_devices_and_wake_ups():
    s = Streams(11)
    k = np.arange(N)
    checks = draws_checks(s.draws_at("session", 17, 3, 1, counter=k),
                          s.draws_at("session", k, 3, 1, counter=0),
                          s.draws_at("session", 17, k, 1, counter=0))
    assert min(checks.values()) > ALPHA, checks
    words = (s.draws_at("session", k, 0, 0) * 2.0 ** 53).astype(np.uint64) << np.uint64(11)
    assert bits_p(words) > ALPHA


def test_neighbouring_addresses_are_uncorrelated():
    """The same counter at devices i and i + 1, and the draws of exchange 1 and 2 of the
    same wake-up: no correlation, uniform pairs."""
    s = Streams(12)
    i = np.arange(N)
    a = s.draws_at("session", i, 5, 1, counter=2)
    b = s.draws_at("session", i + 1, 5, 1, counter=2)
    c = s.draws_at("session", i, 5, 2, counter=2)
    for other in (b, c):
        assert pairs_p(a, other) > ALPHA
        assert abs(np.corrcoef(a, other)[0, 1]) * np.sqrt(N) < 4.0


@pytest.mark.parametrize("flaw", ["biased", "correlated", "stuck bit"])
def test_the_checks_reject_a_flawed_generator(flaw):
    """Each check can fail: a biased sequence (u^1.02), a correlated one with uniform
    values (a Gaussian AR(1) with correlation 0.02, through the normal distribution
    function) and one whose bit 40 never changes are rejected."""
    rng = np.random.default_rng(0)
    u = rng.random(N)
    if flaw == "biased":
        assert uniformity_p(u ** 1.02) < ALPHA
    elif flaw == "correlated":
        e = rng.standard_normal(N)
        z = np.empty(N)
        z[0] = e[0]
        for k in range(1, N):
            z[k] = 0.02 * z[k - 1] + np.sqrt(1 - 0.02 ** 2) * e[k]
        v = stats.norm.cdf(z)
        assert uniformity_p(v) > ALPHA
        assert min(draws_checks(v, u, u).values()) < ALPHA
    else:
        words = rng.integers(0, 2 ** 63, N, dtype=np.uint64) & ~np.uint64(1 << 40)
        assert bits_p(words) < ALPHA
