"""Student rollouts per second on the bundled model: batched measure() vs one sample at a time.

Same model, same samples, same settings, in one process:
  naive     one request per rollout (n=1), one sample after another (how the paper's code calls models)
  per-sample one request per sample with n=L (the prompt is encoded once), one sample after another
  batched   synthrl's measure(): many conversations per call and n=L each, the L rollouts of a
            prompt sampled from one prefill of it (its KV cache copied L times)
  batched, prompt read L times   the same, with num_return_sequences (each row prefills the prompt)
  batched, 16 rows               the same as batched, in micro-batches of 16 rows (the old default)

    .venv/bin/python bench/rollouts.py [--samples 8] [--L 8] [--max-tokens 16] [--rows 64]
Goal: batched >= 4x the one-at-a-time rate on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--L", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--rows", type=int, default=64, help="sequences per generate() call in the batched run")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the best time per mode counts")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's choice; 1 avoids thread thrashing on a busy machine)")
    args = ap.parse_args()
    os.environ["SYNTHRL_RUNS"] = tempfile.mkdtemp(prefix="bench-rollouts-")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from synthrl.backends.base import GenerationParams, get_backend
    from synthrl.prompts import student_messages
    from synthrl.records import Sample
    from synthrl.stages.measure import MeasureConfig, measure
    from synthrl.store import RunStore
    from synthrl.task import load_task

    task = load_task(Path(__file__).resolve().parent.parent / "assets" / "tasks" / "demo_addition.yaml")
    store = RunStore.open("bench")
    ids = []
    for i in range(args.samples):
        a, b = 12 + 7 * i, 31 + 5 * i
        ids.append(store.add_sample(Sample(None, f"A shop sold {a} apples in the morning and {b} in the afternoon. "
                                                 "How many apples did it sell in total?", str(a + b), str(a + b),
                                           status="verified")))
    samples = [store.sample(i) for i in ids]
    model = get_backend("transformers", model="bundled", max_batch_size=args.rows)
    print(f"bundled model, {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs; {args.samples} samples "
          f"x L={args.L} rollouts, max_tokens={args.max_tokens}")
    params = GenerationParams(n=1, temperature=0.7, max_tokens=args.max_tokens, seed=0)
    model.chat([student_messages(task, samples[0].question)], params)  # warm-up

    def timed(fn):
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    total = args.samples * args.L

    def naive():
        for s in samples:
            for _ in range(args.L):
                model.chat([student_messages(task, s.question)], params)

    def per_sample():
        p = GenerationParams(n=args.L, temperature=0.7, max_tokens=args.max_tokens, seed=0)
        for s in samples:
            model.chat([student_messages(task, s.question)], p)

    def batched():
        cfg = MeasureConfig(rollouts=args.L, max_tokens=args.max_tokens, batch_size=args.rows, greedy=False,
                            remeasure=True)
        measure(store, task, model, cfg)

    def no_share():
        model.share_prefix = False
        try:
            batched()
        finally:
            model.share_prefix = True

    def rows16():
        rows = model.max_batch_size
        model.max_batch_size = 16
        try:
            batched()
        finally:
            model.max_batch_size = rows

    # interleaved rounds, best time per mode: background load hits every mode alike
    modes = (("naive (n=1 per request)", naive), ("per sample (n=L)", per_sample), ("batched measure()", batched),
             ("batched, prompt read L times", no_share), ("batched, 16 rows", rows16))
    best = {name: float("inf") for name, _ in modes}
    for r in range(args.repeats):
        for name, fn in modes:
            secs = timed(fn)
            best[name] = min(best[name], secs)
            print(f"round {r + 1}: {name:<26} {total:>4} rollouts in {secs:6.1f}s = {total / secs:6.1f} rollouts/s",
                  flush=True)
    rate = {name: total / secs for name, secs in best.items()}
    base = rate["naive (n=1 per request)"]
    fast = rate["batched measure()"]
    print(f"best of {args.repeats}: " + "; ".join(f"{k} {v:.1f}/s" for k, v in rate.items()))
    print(f"batched vs naive: {fast / base:.1f}x; batched vs per-sample n=L: "
          f"{fast / rate['per sample (n=L)']:.1f}x (goal >= 4x vs one at a time)")
    print(f"shared prefill vs prompt read L times: {fast / rate['batched, prompt read L times']:.2f}x; "
          f"{args.rows} rows vs 16 rows per call: {fast / rate['batched, 16 rows']:.2f}x")


if __name__ == "__main__":
    main()
