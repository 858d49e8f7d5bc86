"""Structured teacher output on the bundled model: schema-constrained vs free generation.

    .venv/bin/python bench/structured.py [--requests 8] [--tokens 96]

The same teacher-style requests ("write a sample as JSON with input/output")
are sent once with `json_schema` (xgrammar-constrained decoding) and once
without, in this run. A sample is kept when json.loads succeeds and the
required keys are present. Figures: parse success rate and teacher seconds
per kept sample.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from synthrl.backends import GenerationParams  # noqa: E402
from synthrl.backends.spec import ModelSpec, load_model  # noqa: E402

SCHEMA = {"type": "object", "properties": {"input": {"type": "string"}, "output": {"type": "string"}},
          "required": ["input", "output"]}
TOPICS = ["grade-school arithmetic", "fractions", "the water cycle", "world capitals",
          "consumer contracts", "basic chemistry", "logic puzzles", "percentages"]


def kept(text: str) -> bool:
    try:
        d = json.loads(text)
    except ValueError:
        return False
    return isinstance(d, dict) and all(k in d for k in SCHEMA["required"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=96)
    args = ap.parse_args()

    model = load_model(ModelSpec())
    convs = [[{"role": "system", "content": "You write training samples for a task."},
              {"role": "user", "content": f"Write one new question about {TOPICS[i % len(TOPICS)]} and its answer. "
                                          'Reply with only a JSON object: {"input": "<question>", "output": "<answer>"}'}]
             for i in range(args.requests)]
    model.chat(convs[:1], GenerationParams(max_tokens=4, json_schema=SCHEMA))  # warm-up (+ grammar compile)
    print(f"bundled model {model.version} on {model.device}, {args.requests} requests each, "
          f"max_tokens={args.tokens}, T=0.7, seed=0")
    for label, schema in (("free", None), ("constrained", SCHEMA)):
        params = GenerationParams(temperature=0.7, max_tokens=args.tokens, seed=0, json_schema=schema)
        t0 = time.perf_counter()
        outs = model.chat(convs, params)
        dt = time.perf_counter() - t0
        n_kept = sum(kept(o[0].text) for o in outs)
        per = f"{dt / n_kept:.2f} s" if n_kept else "inf (none kept)"
        print(f"{label:12s} parse success {n_kept}/{args.requests} = {n_kept / args.requests:.0%}, "
              f"{dt:.2f} s total, teacher seconds per kept sample: {per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
