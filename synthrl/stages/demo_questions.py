"""Stage 1, for small teachers: questions built on the expert's demos and the passages' numbers.

The bundled 135M teacher writes a well-formed new question only now and then (measured: 4 in
24 through the chat template, 10 in 24 as a plain few-shot continuation), but it can often set
up the arithmetic of a question it is given. With `generate.questions: demos`, each new
question is one of the task's demos with its numbers replaced by numbers found together in one
passage of the expert's documents; the teacher then labels it by majority vote as usual (with
program-aided votes, see verify.py), so labels still come from the teacher, never from here.

This works for tasks whose demos state their numbers in the question (counting, sums,
unit prices); questions keep the demos' phrasing, so a benchmark phrased differently measures
whether training generalises.

    report = generate_from_demos(store, task, teacher, GenerateConfig(n=40, questions="demos"), vcfg)
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import asdict

from ..records import Sample
from .generate import STAGE, GenerateConfig, GenerateReport
from .verify import VerifyConfig, verify_samples

_INT_RE = re.compile(r"(?<![\d.,])\b\d{1,3}\b(?![.,]\d)")
_SENTENCE_RE = re.compile(r"(?:[^.!?\n]|(?<=\d)\.(?=\d))+")


def passage_number_pairs(text: str, lo: int = 2, hi: int = 99) -> list[tuple[int, int]]:
    """Pairs of whole numbers stated in one sentence of a passage (in order), lo <= n <= hi."""
    pairs = []
    for sentence in _SENTENCE_RE.findall(text or ""):
        nums = [int(m.group(0)) for m in _INT_RE.finditer(sentence) if lo <= int(m.group(0)) <= hi]
        pairs.extend(zip(nums, nums[1:]))
    return pairs


def demo_with_numbers(question: str, numbers: tuple[int, ...]) -> str | None:
    """The demo question with its numbers replaced in order; None unless it states exactly as many."""
    found = list(_INT_RE.finditer(question))
    if len(found) != len(numbers):
        return None
    out, last = [], 0
    for m, n in zip(found, numbers):
        out.append(question[last:m.start()])
        out.append(str(n))
        last = m.end()
    out.append(question[last:])
    return "".join(out)


def candidate_questions(task, chunks, seed: int = 0, per_pair: int = 2) -> list[tuple[str, str]]:
    """(question, passage id): each passage number pair in `per_pair` demos' wording, shuffled (seeded),
    no repeats."""
    demos = [d.input for d in task.demos if len(_INT_RE.findall(d.input)) == 2]
    out, seen = [], {d.input for d in task.demos}
    rng = random.Random(seed)
    for ch in chunks:
        for pair in passage_number_pairs(ch.text, lo=10):
            for j in range(min(per_pair, len(demos))):
                q = demo_with_numbers(demos[(sum(pair) + j) % len(demos)], pair)
                if q and q not in seen:
                    seen.add(q)
                    out.append((q, ch.id))
    rng.shuffle(out)
    return out


def generate_from_demos(store, task, teacher, config: GenerateConfig, verify_config: VerifyConfig | None = None,
                        progress=None) -> GenerateReport:
    """Write and verify round-0 samples until the run holds `config.n` of them (resumable)."""
    from .generate import COUNTED_STATUSES

    t0 = time.time()
    vcfg = verify_config or VerifyConfig()
    report = GenerateReport(requested=config.n)
    counted = store.samples(round=0, origin="generated", status=COUNTED_STATUSES)
    have = report.existing = len(counted)
    if not [d for d in task.demos if len(_INT_RE.findall(d.input)) == 2]:
        raise ValueError("generate.questions=demos needs demos whose question states two numbers; this task has "
                         "none: use generate.questions=teacher")
    pending = [s.id for s in store.samples(round=0, origin="generated", status="pending")]
    if pending:
        verify_samples(store, task, teacher, pending, vcfg, stage=STAGE)
        have = len(store.samples(round=0, origin="generated", status=COUNTED_STATUSES))
    asked = {s.question for s in store.samples()}
    todo = [(q, pid) for q, pid in candidate_questions(task, store.chunks(), seed=config.seed or 0) if q not in asked]
    report.passages = len({pid for _, pid in todo})
    limit = config.max_attempts or 3 * config.n + 10
    store.set_progress(STAGE, min(have, config.n), config.n, "running", f"{have} of {config.n} samples")
    batch = max(1, vcfg.concurrency)
    while have < config.n and todo and report.attempts < limit:
        take = min(batch, config.n - have, limit - report.attempts)
        chunk, todo = todo[:take], todo[take:]
        ids = [store.add_sample(Sample(None, q, answer="", round=0, origin="generated", passage_id=pid,
                                       status="pending")) for q, pid in chunk]
        report.attempts += len(ids)
        report.written += len(ids)
        report.sample_ids.extend(ids)
        done = verify_samples(store, task, teacher, ids, vcfg, stage=STAGE)
        for s in done:
            report.verified += s.status == "verified"
            report.dropped += s.status == "dropped"
        have = len(store.samples(round=0, origin="generated", status=COUNTED_STATUSES))
        store.set_progress(STAGE, min(have, config.n), config.n, "running", f"{have} of {config.n} samples")
        if progress:
            progress(min(have, config.n), config.n)
    report.total = have
    report.seconds = time.time() - t0
    state = "done" if have >= config.n else "failed"
    msg = f"questions from the demos and the passages' numbers: {report.summary()}"
    if state == "failed":
        msg += " (target not met: no more passage numbers or attempts left)"
    store.set_progress(STAGE, min(have, config.n), config.n, state, msg[:300])
    store.log(STAGE, msg, level="info" if state == "done" else "warning",
              **{k: v for k, v in asdict(report).items() if k not in ("sample_ids", "pattern")})
    return report


def addition_oracle(question: str) -> str | None:
    """The sum of the two numbers a question states (None unless exactly two): the demo task's known
    answer, used only to REPORT label accuracy, never to label."""
    nums = [int(m.group(0)) for m in _INT_RE.finditer(question)]
    return str(sum(nums)) if len(nums) == 2 else None


def label_accuracy(store, oracle=addition_oracle, statuses=("verified", "accepted")) -> dict:
    """How many kept labels equal the oracle's answer, per origin and overall."""
    from ..scoring import answers_equal

    task = store.load_task()
    per: dict[str, list[int]] = {}
    for s in store.samples(status=statuses):
        want = oracle(s.question)
        if want is None:
            continue
        ok = answers_equal(s.reference, want, task)
        c = per.setdefault(s.origin, [0, 0])
        c[0] += ok
        c[1] += 1
    right, total = sum(c[0] for c in per.values()), sum(c[1] for c in per.values())
    dropped = store.count_samples(status="dropped")
    return {"right": right, "total": total, "accuracy": right / total if total else None, "dropped": dropped,
            "by_origin": {k: {"right": v[0], "total": v[1]} for k, v in per.items()}}
