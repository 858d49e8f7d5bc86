"""The answer checker on real model replies: agreement with correctness labels, false credit.

    .venv/bin/python bench/checker.py

Reads the public replies in tests/fixtures/replies/ (sources in the README there):
- answered replies with a known correctness label: agreement = the share of replies where
  `is_correct(reply, reference)` equals the label;
- answerless replies (real replies cut before their conclusion): false credit = the share
  that `is_correct` credits anyway.
Figures are printed for the current reading (flexible and strict) and, as the baseline, for
THE OLD READING (bench/old_checker.py: the checker before issue 10 section 1, whose flexible
mode ended in a blind scan of the prose). No timing, no thresholds: tests/test_scoring.py
asserts the goals (agreement >= 99.9%, false credit <= 0.5%).
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synthrl import scoring  # noqa: E402
from synthrl.task import AnswerSpec, TaskDefinition  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "replies"


def fixture_task(name: str, type_: str, fmt: str, choices: tuple[str, ...] = (), reading: str = "flexible"):
    return TaskDefinition(name, "fixture task", "a question", "an answer",
                          AnswerSpec(type_, choices, (), fmt, reading))


# Each answered set, read under the task definition its replies were written for. MMLU-Pro
# replies end "The answer is (X)"; the task declares `plain` as in issue 10's first report.
SETS = {
    "mmlu_pro": ("choice", "plain", tuple("ABCDEFGHIJ")),
    "gsm8k_hash": ("number", "####", ()),
    "gsm8k_free": ("number", "plain", ()),
    "gsm8k_tags": ("number", "tags", ()),
}


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]


def figures(is_correct: Callable, reading: str = "flexible", fmt_override: str | None = None) -> dict:
    """Agreement and false credit over the fixture sets for one checker."""
    agree = total = credited = answerless = 0
    per_set: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for name, (type_, fmt, choices) in SETS.items():
        task = fixture_task(name, type_, fmt_override or fmt, choices, reading)
        for r in load(name):
            got = bool(is_correct(r["reply"], r["reference"], task))
            ok = got == r["correct"]
            agree += ok
            total += 1
            per_set[name][0] += ok
            per_set[name][1] += 1
            if not ok:
                misses.append(r["id"])
    for r in load("answerless"):
        type_, fmt, choices = SETS[r["set"]]
        task = fixture_task(r["set"], type_, fmt_override or fmt, choices, reading)
        answerless += 1
        if is_correct(r["reply"], r["reference"], task):
            credited += 1
            misses.append(r["id"])
    return {"agreement": agree / total, "answered": total, "false_credit": credited / answerless,
            "answerless": answerless, "per_set": dict(per_set), "misses": misses}


def main() -> None:
    import old_checker

    def old_flexible(reply, ref, task):
        return old_checker.is_correct(reply, ref, task, strict=False)

    def old_strict(reply, ref, task):
        return old_checker.is_correct(reply, ref, task, strict=True)

    rows = [
        ("new flexible (default)", figures(scoring.is_correct, "flexible")),
        ("new strict", figures(scoring.is_correct, "strict")),
        ("new flexible, every set declared `tags`", figures(scoring.is_correct, "flexible", "tags")),
        ("OLD reading, flexible (baseline)", figures(old_flexible)),
        ("OLD reading, strict (baseline)", figures(old_strict)),
        ("OLD reading, flexible, every set declared `tags`", figures(old_flexible, fmt_override="tags")),
    ]
    print(f"{'checker':50s} {'agreement':>10s} {'false credit':>13s}  misses")
    for label, f in rows:
        print(f"{label:50s} {f['agreement']:>9.1%}  {f['false_credit']:>12.1%}  "
              f"{len(f['misses'])} {' '.join(f['misses'][:6])}{' ...' if len(f['misses']) > 6 else ''}")
    first = rows[0][1]
    print(f"\n{first['answered']} answered replies, {first['answerless']} answerless replies; per set (new flexible):")
    for name, (ok, n) in first["per_set"].items():
        print(f"  {name:12s} {ok}/{n}")


if __name__ == "__main__":
    main()
