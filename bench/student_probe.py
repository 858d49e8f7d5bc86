"""Can the bundled student learn the demo task by RL at all? How often its replies earn a reward.

GRPO learns only from groups whose rewards differ: a question on which all 8 sampled replies
score 0 gives no gradient. This probe asks the bundled SmolLM2-135M student the demo's held-out
questions (and easier variants of them) the way measure/train/evaluate ask them, and prints, per
prompt and question set: replies that state an answer, replies that are right (greedy, and 8
samples at the training temperature), and "mixed" groups (some right, some wrong: the ones GRPO
learns from). The reward is the task's own checker (`synthrl.scoring.is_correct`).

    .venv/bin/python bench/student_probe.py [--items 48] [--temperature 1.0] [--n 8]

Question sets: the held-out word problems as written (numbers 10-99); the same with both numbers
replaced by 2-9 and by 2-20; bare sums "What is a + b?" of two 2-digit numbers. Prompts: the
student prompt (question + output format), and the same after the task's 3 demos as earlier chat
turns (few-shot).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=48)
    ap.add_argument("--n", type=int, default=8, help="sampled replies per question (GRPO's num_generations)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()

    from synthrl.backends.base import GenerationParams, get_backend
    from synthrl.prompts import student_messages
    from synthrl.scoring import extract, is_correct
    from synthrl.task import load_task

    task = load_task(ROOT / "assets" / "tasks" / "demo_addition.yaml")
    path = ROOT / "assets" / "benchmarks" / "demo_addition_heldout.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:args.items]
    rng = random.Random(0)

    def smaller(question: str, hi: int) -> tuple[str, str]:
        nums: list[int] = []

        def swap(m):
            nums.append(rng.randint(2, hi))
            return str(nums[-1])

        q = re.sub(r"\b\d+\b", swap, question)
        return q, str(sum(nums))

    sets = {
        "held-out word problems (10-99)": [(it["question"], str(it["answer"])) for it in items],
        "same, numbers 2-20": [smaller(it["question"], 20) for it in items],
        "same, numbers 2-9": [smaller(it["question"], 9) for it in items],
        "bare sums 'What is a + b?'": [(f"What is {a} + {b}?", str(a + b)) for a, b in
                                       ((rng.randint(10, 60), rng.randint(10, 39)) for _ in items)],
    }

    def prompt(question: str, shots: int) -> list[dict]:
        msgs = student_messages(task, question)
        turns = []
        for d in task.demos[:shots]:
            turns += [student_messages(task, d.input)[1], {"role": "assistant", "content": d.output}]
        return msgs[:1] + turns + msgs[1:]

    model = get_backend("transformers", model="bundled")
    print(f"bundled student; {len(items)} questions per set; {args.n} samples at T={args.temperature}, "
          f"{args.max_tokens} new tokens; reward = the task's checker")
    print(f"{'question set':<32} {'prompt':<8} {'greedy right':>13} {'sampled stated':>15} {'sampled right':>14} "
          f"{'mixed groups':>13}")
    for name, qa in sets.items():
        for shots in (0, 3):
            convs = [prompt(q, shots) for q, _ in qa]
            greedy = model.chat(convs, GenerationParams(temperature=0, max_tokens=args.max_tokens))
            sampled = model.chat(convs, GenerationParams(n=args.n, temperature=args.temperature,
                                                         max_tokens=args.max_tokens, seed=0))
            g_right = sum(is_correct(o[0].text, a, task) for o, (_, a) in zip(greedy, qa))
            stated = sum(extract(c.text, task) is not None for o in sampled for c in o)
            right = [sum(is_correct(c.text, a, task) for c in o) for o, (_, a) in zip(sampled, qa)]
            mixed = sum(0 < r < args.n for r in right)
            total = len(qa) * args.n
            print(f"{name:<32} {f'{shots}-shot':<8} {f'{g_right}/{len(qa)}':>13} {f'{stated}/{total}':>15} "
                  f"{f'{sum(right)}/{total}':>14} {f'{mixed}/{len(qa)}':>13}", flush=True)


if __name__ == "__main__":
    main()
