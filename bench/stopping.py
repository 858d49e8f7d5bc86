"""Evaluation that stops where the answer is complete: wall time and accuracy, before and after.

    .venv/bin/python bench/stopping.py [--items 300] [--max-tokens 512] [--task assets/tasks/demo_addition.yaml]
                                       [--benchmark assets/benchmarks/demo_addition.jsonl]

Evaluates the bundled student greedily on the same benchmark items twice, in one run on one machine:
once generating to max_tokens as before (stop_at_answer off) and once stopping each reply where the
task's answer is complete (synthrl/stopping.py). Prints wall time, generated tokens and accuracy for
both; the accuracy must be the same (what is graded does not change). The benchmark's items are
cycled when --items exceeds its length.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from synthrl import scoring  # noqa: E402
from synthrl.backends.base import GenerationParams, get_backend  # noqa: E402
from synthrl.prompts import student_messages  # noqa: E402
from synthrl.stopping import AnswerStop  # noqa: E402
from synthrl.task import load_task  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--task", default=str(ROOT / "assets/tasks/demo_addition.yaml"))
    ap.add_argument("--benchmark", default=str(ROOT / "assets/benchmarks/demo_addition.jsonl"))
    a = ap.parse_args()
    task = load_task(a.task)
    rows = [json.loads(line) for line in Path(a.benchmark).read_text().splitlines() if line.strip()]
    items = [rows[i % len(rows)] for i in range(a.items)]
    model = get_backend("transformers", model="bundled", max_batch_size=a.batch)
    convs = [student_messages(task, it["question"]) for it in items]
    results = {}
    for label, stop in (("to max_tokens", None), ("stop at answer", AnswerStop.for_task(task))):
        t0 = time.perf_counter()
        outs = []
        for i in range(0, len(convs), a.batch):
            outs += model.chat(convs[i:i + a.batch], GenerationParams(n=1, temperature=0.0, max_tokens=a.max_tokens,
                                                                      stop=stop))
        wall = time.perf_counter() - t0
        correct = [scoring.is_correct(o[0].text, it["answer"], task) for o, it in zip(outs, items)]
        tokens = sum(o[0].completion_tokens for o in outs)
        results[label] = (wall, tokens, sum(correct), correct)
        print(f"{label:>15}: {wall:8.1f} s  {tokens:8d} tokens  accuracy {sum(correct)}/{len(items)}", flush=True)
    (w0, t0_, c0, k0), (w1, t1, c1, k1) = results.values()
    print(f"speed-up {w0 / w1:.2f}x wall, {t0_ / max(t1, 1):.2f}x fewer tokens; "
          f"same grade on {sum(x == y for x, y in zip(k0, k1))}/{len(items)} items "
          f"(accuracy {c0} -> {c1}); task {task.name}, max_tokens {a.max_tokens}, {a.items} items")


if __name__ == "__main__":
    main()
