"""Generation throughput: samples/min at concurrency 1 vs 16, in the same run.

The teacher is the real openai backend talking to a loopback OpenAI-compatible
server that answers every request after a fixed delay (default 0.2 s), like a
remote model would. Each sample costs one generation request plus one
verification request (n=votes). Dedup and retrieval are off so the figure is
about request concurrency; goal: >= 10x at concurrency 16.

    .venv/bin/python bench/generation.py [--n 32] [--delay 0.2] [--votes 4]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from loopback_server import LoopbackServer  # noqa: E402

from synthrl.backends import get_backend  # noqa: E402
from synthrl.stages.generate import GenerateConfig, generate  # noqa: E402
from synthrl.stages.verify import VerifyConfig  # noqa: E402
from synthrl.store import RunStore  # noqa: E402
from synthrl.task import AnswerSpec, RetrievalHints, TaskDefinition  # noqa: E402

TASK = TaskDefinition(name="demo_addition", description="Two-digit addition word problems.",
                      input_format="A short word problem.", output_format="Answer with just the number.",
                      answer=AnswerSpec("number"), retrieval=RetrievalHints(domain="arithmetic"))


def responder(req: dict) -> str:
    user = req["messages"][-1]["content"]
    if "Write ONE new" in user:
        k = responder.k = getattr(responder, "k", 0) + 1
        a, b = 10 + k % 80, 11 + (7 * k) % 80
        return '{"input": "Stall %d sold %d apples and %d pears. How many fruits?", "output": "%d"}' % (k, a, b, a + b)
    a, b = [int(x) for x in re.findall(r"\b\d+\b", user)[1:3]]
    return str(a + b)


def run(n: int, concurrency: int, votes: int, url: str, runs: Path) -> float:
    store = RunStore(runs / f"c{concurrency}" / "run.db")
    teacher = get_backend("openai", model="loopback", base_url=url, max_concurrency=max(16, concurrency))
    cfg = GenerateConfig(n=n, concurrency=concurrency, dedup_threshold=None, json_schema=True)
    vcfg = VerifyConfig(votes=votes, concurrency=concurrency)
    t0 = time.perf_counter()
    report = generate(store, TASK, teacher, cfg, verify_config=vcfg)
    dt = time.perf_counter() - t0
    assert report.total == n, report.summary()
    teacher.close()
    store.close()
    return n / dt * 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="samples per run")
    ap.add_argument("--delay", type=float, default=0.2, help="server delay per request, seconds")
    ap.add_argument("--votes", type=int, default=4, help="verification votes (one request with n=votes)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LoopbackServer(responder, delay=args.delay) as srv:
        print(f"loopback teacher, {args.delay:.2f}s per request; {args.n} samples per run, "
              f"2 requests per sample (generation + {args.votes} votes in one request)")
        rates = {}
        for c in (1, 16):
            rates[c] = run(args.n, c, args.votes, srv.url, Path(tmp))
            print(f"concurrency {c:>2}: {rates[c]:8.1f} samples/min")
        ratio = rates[16] / rates[1]
        print(f"speed-up 16 vs 1: {ratio:.1f}x (goal >= 10x; ideal {min(16, args.n):d}x); "
              f"server saw at most {srv.max_in_flight} requests in flight")
    return 0


if __name__ == "__main__":
    sys.exit(main())
