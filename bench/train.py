"""Training throughput on the CPU with the bundled model: GRPO vs PPO, and what the store callback costs.

Prints, per algorithm: optimizer steps/s, generated tokens/s (rollouts only), seconds per step,
and the time spent in the store-writing callback as a share of step time (measured in the
same run). Baseline in the same run: plain `model.generate` on the same batch shape, i.e.
the rollout cost without any trainer around it.

    .venv/bin/python bench/train.py [--steps 3] [--tokens 16]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthrl.records import Sample  # noqa: E402
from synthrl.store import RunStore  # noqa: E402
from synthrl.task import load_task  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def make_run(folder: Path, n: int = 10) -> RunStore:
    store = RunStore(folder / "run.db")
    store.save_task(load_task(ROOT / "assets" / "tasks" / "demo_addition.yaml"))
    ids = []
    for i in range(n):
        a, b = 12 + 7 * i, 31 + 5 * i
        q = f"A shop sold {a} apples in the morning and {b} in the afternoon. How many apples did it sell in total?"
        ids.append(store.add_sample(Sample(None, q, str(a + b), str(a + b), status="verified")))
    store.add_selection("bench", {"rule": "all"}, ids)
    return store


def step_rate(store: RunStore) -> tuple[float, int]:
    """Steps/s from the store's own timestamps of train/reward (first to last logged step)."""
    rows = [r for r in store.metrics("train/reward") if r["key"] == "train/reward"]
    if len(rows) < 2:
        return float("nan"), len(rows)
    return (len(rows) - 1) / (rows[-1]["at"] - rows[0]["at"]), len(rows)


def baseline_generate(prompts: int, gens: int, tokens: int) -> float:
    """Generated tokens/s of plain sampling with the bundled model, same batch shape, no trainer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthrl.models import resolve_model
    from synthrl.prompts import student_messages

    path = resolve_model("bundled")
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    task = load_task(ROOT / "assets" / "tasks" / "demo_addition.yaml")
    texts = [tok.apply_chat_template(student_messages(task, f"What is {10 + i} + {30 + i}?"), tokenize=False,
                                     add_generation_prompt=True) for i in range(prompts)] * gens
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        model.generate(**enc, do_sample=True, max_new_tokens=2, min_new_tokens=2)  # warm-up
        t = time.perf_counter()
        out = model.generate(**enc, do_sample=True, temperature=1.0, max_new_tokens=tokens, min_new_tokens=tokens,
                             pad_token_id=tok.pad_token_id)
        dt = time.perf_counter() - t
    return (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0] / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--prompts", type=int, default=2, help="prompts per step")
    ap.add_argument("--gens", type=int, default=4, help="rollouts per prompt")
    args = ap.parse_args()

    import torch

    from synthrl.stages.train import TrainConfig, train

    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; bundled SmolLM2-135M, fp32, "
          f"{args.prompts} prompts x {args.gens} rollouts x {args.tokens} tokens per step, {args.steps} steps")
    base = baseline_generate(args.prompts, args.gens, args.tokens)
    print(f"{'baseline generate':18s} {base:8.1f} generated tokens/s (no trainer)")
    print(f"{'algo':6s} {'steps/s':>8s} {'s/step':>7s} {'gen tok/s':>10s} {'callback ms/step':>17s} "
          f"{'callback share':>15s} {'setup+save s':>12s}")
    for algo in ("grpo", "ppo"):
        with tempfile.TemporaryDirectory() as tmp:
            store = make_run(Path(tmp))
            cfg = TrainConfig.profile("tiny", algo=algo, model="bundled", max_steps=args.steps,
                                      per_device_batch=args.prompts * args.gens, num_generations=args.gens,
                                      max_completion_length=args.tokens, heldout_fraction=0.0, save_steps=10_000)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs; keep the table clean
                report = train(store, cfg)
            total = time.perf_counter() - t0
            rate, n = step_rate(store)
            loop = report.steps / rate if rate == rate else total  # time of the stepping part
            # generated tokens over the whole loop; callback time per step vs step time
            tok_s = report.generated_tokens / loop if loop else float("nan")
            cb_ms = 1000 * report.callback_seconds / max(report.steps, 1)
            share = report.callback_seconds / loop if loop else float("nan")
            print(f"{algo:6s} {rate:8.3f} {1 / rate:7.2f} {tok_s:10.1f} {cb_ms:17.1f} {share:14.3%} "
                  f"{total - loop:12.1f}")
            store.close()


if __name__ == "__main__":
    main()
