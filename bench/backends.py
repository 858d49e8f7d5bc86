"""Throughput of the transformers backend on the bundled model: batched vs one conversation at a time.

    .venv/bin/python bench/backends.py [--convs 8] [--tokens 32]

Both modes generate greedily the same conversations with the same settings in
this run; the figure is completion tokens per second of wall time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from synthrl.backends import GenerationParams  # noqa: E402
from synthrl.backends.spec import ModelSpec, load_model  # noqa: E402

QUESTIONS = [
    "What is 23 + 41? Answer with just the number.",
    "Name the capital of France and one fact about it.",
    "Explain in one sentence why the sky is blue.",
    "Write a short word problem about apples.",
    "What is the opposite of 'ancient'?",
    "List three prime numbers greater than 10.",
    "Summarise the rules of tic-tac-toe briefly.",
    "How many legs does a spider have, and why?",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--convs", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=32)
    args = ap.parse_args()

    model = load_model(ModelSpec())  # bundled SmolLM2-135M on the auto device
    convs = [[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}] for i in range(args.convs)]
    params = GenerationParams(temperature=0, max_tokens=args.tokens)
    model.chat(convs[:1], GenerationParams(temperature=0, max_tokens=4))  # warm-up

    t0 = time.perf_counter()
    single = [model.chat([c], params)[0] for c in convs]
    t_single = time.perf_counter() - t0
    tok_single = sum(o[0].completion_tokens for o in single)

    t0 = time.perf_counter()
    batched = model.chat(convs, params)
    t_batched = time.perf_counter() - t0
    tok_batched = sum(o[0].completion_tokens for o in batched)

    same = sum(a[0].text == b[0].text for a, b in zip(single, batched))
    print(f"bundled model {model.version} on {model.device}, {args.convs} conversations, "
          f"max_tokens={args.tokens}, greedy")
    print(f"one at a time: {tok_single} tokens in {t_single:.2f} s = {tok_single / t_single:.1f} tokens/s")
    print(f"batched:       {tok_batched} tokens in {t_batched:.2f} s = {tok_batched / t_batched:.1f} tokens/s")
    print(f"speed-up (batched / one at a time, tokens/s): "
          f"{(tok_batched / t_batched) / (tok_single / t_single):.2f}x")
    print(f"identical greedy answers: {same}/{args.convs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
