"""Sequential stopping vs the paper's fixed L: rollouts spent and selection decisions kept.

Synthetic pools of true pass rates; each sample gets one fixed stream of L Bernoulli
rollouts. The baseline (the paper) spends all L on every sample; sequential stopping
reads the same stream in chunks and stops once the sample's decision is settled.
"Decisions kept" = share of samples whose selected / not-selected verdict equals the
fixed-L verdict on the same rollouts.

    .venv/bin/python bench/sequential.py [--n 1000] [--L 64] [--chunk 8] [--seeds 3]
Goal: >= 2x fewer rollouts with >= 95% of decisions unchanged.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthrl.stages import sequential as seq  # noqa: E402
from synthrl.stages.select import SelectConfig, select_ids  # noqa: E402


def pools(n: int, rng: random.Random) -> dict[str, list[float]]:
    def mix(parts):
        out = []
        for share, draw in parts:
            out += [draw() for _ in range(round(share * n))]
        return out[:n]

    return {
        "uniform": [rng.random() for _ in range(n)],
        "weak student (40% p=0)": mix([(0.4, lambda: 0.0), (0.45, lambda: rng.betavariate(1, 4)),
                                       (0.15, lambda: rng.betavariate(4, 1))]),
        "after adaptation (U-shaped)": [rng.betavariate(0.5, 0.5) for _ in range(n)],
        "strong student (30% p=1)": mix([(0.3, lambda: 1.0), (0.5, lambda: rng.betavariate(4, 1.5)),
                                         (0.2, lambda: rng.betavariate(1, 3))]),
    }


def one(true_p: list[float], config: SelectConfig, L: int, chunk: int, confidence: float, zero_floor: float,
        rng: random.Random) -> tuple[float, float]:
    streams = {i: [rng.random() < p for _ in range(L)] for i, p in enumerate(true_p)}
    used = {i: 0 for i in streams}

    def draw(want):
        got = {}
        for i, k in want.items():
            got[i] = sum(streams[i][used[i]:used[i] + k])
            used[i] += k
        return got

    counts = seq.run_sequential(list(streams), draw, max_n=L, chunk=chunk,
                                boundaries=lambda est: seq.decision_boundaries(est, config),
                                confidence=confidence, zero_floor=zero_floor)
    fixed = {i: sum(s) / L for i, s in streams.items()}
    seqr = {i: c.rate for i, c in counts.items()}
    a, b = set(select_ids(fixed, config)), set(select_ids(seqr, config))
    kept = sum((i in a) == (i in b) for i in streams) / len(streams)
    spent = sum(c.n for c in counts.values())
    return (L * len(streams)) / spent, kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--L", type=int, default=64)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    m = args.n // 2
    rules = [
        ("paper M=N/2", SelectConfig(rule="paper", m=m), 0.0),
        ("paper M=N/2, zero_floor .1", SelectConfig(rule="paper", m=m), 0.1),
        ("band [.1,.6]", SelectConfig(rule="band", lo=0.1, hi=0.6, m=None), 0.0),
        ("hard M=N/2", SelectConfig(rule="hard", m=m), 0.0),
    ]
    print(f"N={args.n} samples, fixed L={args.L} (baseline) vs sequential chunks of {args.chunk}; "
          f"mean of {args.seeds} seeds")
    print(f"{'pool':<30} {'rule':<28} {'conf':>5} {'fewer rollouts':>15} {'decisions kept':>15}")
    for confidence in (0.9, 0.95):
        for seed in range(1):
            for name, true_p in pools(args.n, random.Random(seed)).items():
                for rname, config, floor in rules:
                    ratios, kept = [], []
                    for s in range(args.seeds):
                        r, k = one(true_p, config, args.L, args.chunk, confidence, floor, random.Random(100 + s))
                        ratios.append(r)
                        kept.append(k)
                    ratio, keep = sum(ratios) / len(ratios), sum(kept) / len(kept)
                    ok = "ok" if ratio >= 2 and keep >= 0.95 else "  "
                    print(f"{name:<30} {rname:<28} {confidence:>5.2f} {ratio:>14.2f}x {keep:>14.1%} {ok}")


if __name__ == "__main__":
    main()
