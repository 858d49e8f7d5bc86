"""Sequential stopping for pass-rate measurement (beyond the paper).

The paper samples a fixed L=64 answers per sample. But selection only needs to
know on which side of a few thresholds a sample's pass rate p lies: a sample the
student solves 8 times out of 8 is not going to become one of the hardest
solvable samples after 56 more tries. So we sample in chunks and stop a sample
as soon as a confidence interval for p lies wholly inside one *bin* of the
selection rule (the bins are cut at the rule's thresholds: the band's lo/hi, or
the current M-th score for the top-M rules).

Everything here is a pure function of counts, so it can be tested and
benchmarked on synthetic pass rates (bench/sequential.py):

    lo, hi = interval(3, 8)                        # Wilson 95% interval for 3/8
    cuts = decision_boundaries({1: .2, 2: .9}, SelectConfig(rule="band", lo=.1, hi=.5))
    counts = run_sequential([1, 2], draw, max_n=64, chunk=8,
                            boundaries=lambda est: cuts)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable, Iterable, Mapping

METHODS = ("wilson", "clopper-pearson")


@dataclass(frozen=True)
class Boundaries:
    """Where the selection decision changes, in pass-rate space.

    cuts: thresholds in (0, 1); a sample is settled when its interval contains none.
    zero_special: p = 0 is a class of its own (the paper rule puts never-solved
        samples last), so a sample with no success yet is only settled once its
        budget is spent, or once its upper bound falls below `zero_floor`.
    one_special: likewise for p = 1 (the open band 0 < p < 1 excludes always-solved).
    """

    cuts: tuple[float, ...] = ()
    zero_special: bool = False
    one_special: bool = False


# -- confidence intervals ------------------------------------------------------------
def interval(k: int, n: int, confidence: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Two-sided confidence interval for a binomial proportion k/n."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"successes must be in [0, {n}], got {k}")
    if method == "wilson":
        return _wilson(k, n, confidence)
    if method == "clopper-pearson":
        return _clopper_pearson(k, n, confidence)
    raise ValueError(f"unknown interval method {method!r}; use one of {', '.join(METHODS)}")


def _wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact endpoints at the extremes (rounding would otherwise leave 1e-17 residue)
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (n is at most a few hundred)."""
    if p <= 0:
        return 1.0
    if p >= 1:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
             for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _bisect(f: Callable[[float], float], target: float, decreasing: bool) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        above = f(mid) > target
        if above == decreasing:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _clopper_pearson(k: int, n: int, confidence: float) -> tuple[float, float]:
    a = (1 - confidence) / 2
    # lower: the p at which P(X >= k) = a; upper: the p at which P(X <= k) = a
    lo = 0.0 if k == 0 else _bisect(lambda p: 1 - _binom_cdf(k - 1, n, p), a, decreasing=False)
    hi = 1.0 if k == n else _bisect(lambda p: _binom_cdf(k, n, p), a, decreasing=True)
    return lo, hi


# -- when is a sample settled ----------------------------------------------------------
def settled(k: int, n: int, max_n: int, bounds: Boundaries, confidence: float = 0.95,
            method: str = "wilson", zero_floor: float = 0.0) -> bool:
    """True when more rollouts cannot (with the given confidence) change this sample's decision."""
    if n >= max_n:
        return True
    if n == 0:
        return False
    lo, hi = interval(k, n, confidence, method)
    if k == 0 and bounds.zero_special:
        # "never solved" vs "rarely solved" is only decided by the full budget,
        # unless the caller accepts treating p < zero_floor as unsolvable
        return zero_floor > 0 and hi < zero_floor
    if k == n and bounds.one_special:
        return False
    return not any(lo < c < hi or c == lo or c == hi for c in bounds.cuts)


# -- the thresholds of each selection rule --------------------------------------------
DECILES = tuple(i / 10 for i in range(1, 10))


def decision_boundaries(estimates: Mapping[int, float], config) -> Boundaries:
    """The pass-rate thresholds at which `config` (a SelectConfig) changes its decision,
    given the current estimates of every candidate's pass rate.

    For the top-M rules the cut is the current M-th score, so it moves as
    estimates sharpen; run_sequential recomputes it after every chunk.
    """
    from .select import _in_band, paper_score  # one definition of the rules

    rule, m = config.rule, config.m
    if rule == "all":
        # nothing to decide: keep the histogram readable to one decile
        return Boundaries(DECILES)
    if rule == "paper":
        ranked = sorted(paper_score(p) for p in estimates.values() if not (config.drop_unsolved and p == 0))
        solvable = sum(1 for p in estimates.values() if p > 0)
        cuts = ()
        if m is not None and solvable > m:
            cuts = (ranked[m - 1],)
        return Boundaries(cuts, zero_special=True)
    if rule == "band":
        lo = config.lo if config.lo is not None else 0.0
        hi = config.hi if config.hi is not None else 1.0
        cuts = [c for c in (lo, hi) if 0 < c < 1]
        inside = sorted(p for p in estimates.values() if _in_band(p, config.lo, config.hi))
        if m is not None and len(inside) > m:
            cuts.append(inside[m - 1])
        # lo/hi of None mean the open band 0 < p < 1: zero and one are then classes of their own
        return Boundaries(tuple(sorted(set(cuts))), zero_special=config.lo is None,
                          one_special=config.hi is None)
    if rule in ("easy", "hard"):
        vals = sorted(estimates.values(), reverse=(rule == "easy"))
        if m is None or len(vals) <= m:
            return Boundaries(())
        return Boundaries((vals[m - 1],))
    if rule == "top":
        vals = sorted((p * (1 - p) for p in estimates.values()), reverse=True)
        if m is None or len(vals) <= m:
            return Boundaries(())
        v = vals[m - 1]
        r = math.sqrt(max(0.0, 1 - 4 * v))
        return Boundaries(tuple(sorted({(1 - r) / 2, (1 + r) / 2} - {0.0, 1.0})))
    raise ValueError(f"unknown selection rule {rule!r}")


# -- the loop ------------------------------------------------------------------------------
@dataclass
class Count:
    """Successes k out of n rollouts for one sample."""

    k: int = 0
    n: int = 0

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else 0.0


def run_sequential(ids: Iterable[int], draw: Callable[[dict[int, int]], Mapping[int, int]], max_n: int,
                   chunk: int, boundaries: Callable[[dict[int, float]], Boundaries],
                   confidence: float = 0.95, method: str = "wilson", zero_floor: float = 0.0,
                   prior: Mapping[int, float] | None = None,
                   on_chunk: Callable[[dict[int, Count], set[int]], None] | None = None) -> dict[int, Count]:
    """Sample every id in chunks until settled or `max_n` rollouts are spent.

    draw({id: how_many}) -> {id: successes}: performs the rollouts (all ids of a
    chunk in one batch). `prior`: pass rates of other candidates already measured,
    which take part in the top-M cut. Returns each id's final count.
    """
    counts = {i: Count() for i in ids}
    active = set(counts)
    prior = dict(prior or {})
    while active:
        want = {i: min(chunk, max_n - counts[i].n) for i in sorted(active)}
        got = draw(want)
        for i, n in want.items():
            k = int(got.get(i, 0))
            if not 0 <= k <= n:
                raise ValueError(f"draw returned {k} successes for sample {i} out of {n} rollouts")
            counts[i].k += k
            counts[i].n += n
        est = dict(prior)
        est.update({i: c.rate for i, c in counts.items()})
        bounds = boundaries(est)
        active = {i for i in active
                  if not settled(counts[i].k, counts[i].n, max_n, bounds, confidence, method, zero_floor)}
        if on_chunk is not None:
            on_chunk(counts, active)
    return counts
