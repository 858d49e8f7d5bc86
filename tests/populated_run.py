"""A hand-made, fully populated run (no models needed): for view tests, browser tests,
tools/screenshots.py and bench/ui.py (tests/ is on their import path).

Samples over two rounds with lineage, votes, student attempts and pass rates, a selection,
training metrics and rollouts, two evaluations — everything the workbench can show.

    store = populate_run(RunStore.open("showcase"), n=200, seed=0)
"""
from __future__ import annotations

import random

from synthrl.records import Attempt, Chunk, PassRate, Sample, Vote
from synthrl.store import RunStore

STUDENT = "smollm2-135m-instruct@base"
ITEMS = ("apples", "loaves", "notebooks", "tulips", "pencils", "eggs", "jars of honey", "candles")
PLACES = ("A shop", "The corner store", "A bakery", "The market stall", "A bookshop", "The farm shop")


def _question(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    item = rng.choice(ITEMS)
    return (f"{rng.choice(PLACES)} sold {a} {item} in the morning and {b} in the afternoon. "
            f"How many {item} did it sell in total?", a + b)


def populate_run(store: RunStore, n: int = 60, seed: int = 0, with_training: bool = True,
                 with_eval: bool = True, rollouts: int = 8) -> RunStore:
    """Fill `store` with `n` round-0 samples, about n/2 rewrites, pass rates and (optionally) training + eval."""
    from synthrl.task import bundled_tasks, load_task

    rng = random.Random(seed)
    # a few samples get a wrong label: the student consistently gives another answer (Review's first
    # reason); drawn from their own generator so every other value stays as before
    label_rng = random.Random(seed + 7919)
    task = load_task(bundled_tasks()["demo_addition"])
    store.save_task(task)
    doc = store.upsert_document("uploads/shop_ledger.txt", "0" * 64, "ok", n_chunks=0)
    chunks = [Chunk(f"c{i}", doc, f"Ledger page {i}: the shop sold {rng.randint(10, 99)} apples and "
                    f"{rng.randint(10, 99)} loaves.", "shop_ledger.txt", position=i) for i in range(8)]
    store.replace_chunks(doc, chunks)
    store.upsert_document("uploads/scan.pdf", "1" * 64, "failed", error="no text layer (a scanned PDF?): OCR it first")

    attempts: list[Attempt] = []
    votes: list[Vote] = []
    rates: dict[int, float] = {}

    def add(question: str, ans: int, rnd: int, origin: str, parent: int | None, p: float) -> int:
        status = rng.choices(["verified", "dropped", "accepted"], weights=[0.85, 0.1, 0.05])[0]
        sid = store.add_sample(Sample(None, question, str(ans), str(ans), round=rnd, origin=origin, parent_id=parent,
                                      passage_id=rng.choice(chunks).id, status=status,
                                      agreement=round(rng.uniform(0.5, 1.0), 2),
                                      flags=("suspect_label",) if rng.random() < 0.04 else ()))
        for i in range(4):
            votes.append(Vote(sid, i, f"{ans if i < 3 else ans + 1}", str(ans if i < 3 else ans + 1)))
        k = sum(rng.random() < p for _ in range(rollouts))
        mislabeled = k <= rollouts // 4 and label_rng.random() < 0.15
        for i in range(rollouts):
            ok = i < k
            said = str(ans)
            if not ok:
                off = rng.randint(1, 9)
                said = str(ans + (10 if mislabeled else off))
            attempts.append(Attempt(sid, STUDENT, "sample", said, said, ok, 0.7))
        rates[sid] = k
        return sid

    base = []
    for _ in range(n):
        q, a = _question(rng)
        p = min(1.0, max(0.0, rng.betavariate(1.2, 1.6)))
        base.append((add(q, a, 0, "generated", None, p), q, a, p))
    for sid, q, a, p in base[: max(1, n // 2)]:
        solved = rates[sid] >= rollouts // 2
        origin = "harder" if solved else "easier"
        p2 = max(0.0, p - 0.35) if solved else min(1.0, p + 0.35)
        q2 = q.replace("in total?", "in total, and then 5 more were sold?") if solved else q
        add(q2, a + 5 if solved else a, 1, origin, sid, p2)
    store.add_votes(votes)
    store.add_attempts(attempts)
    for sid, k in rates.items():
        store.set_pass_rate(PassRate(sid, STUDENT, rollouts, k, k > rollouts // 2))
    store.set_progress("generate", n, n, "done", "finished")
    store.set_progress("measure", len(rates), len(rates), "done", "finished")
    store.log("generate", f"wrote {n} samples")

    if with_training:
        from synthrl.stages.select import SelectConfig, select

        select(store, SelectConfig(rule="paper", m=max(1, n // 2)))
        for step in range(1, 11):
            store.add_metrics(step, {"train/reward": 0.2 + 0.05 * step + rng.uniform(-0.03, 0.03),
                                     "train/kl": 0.001 * step, "train/loss": 0.5 / step,
                                     "train/completion_length": 6 + rng.uniform(-1, 1)})
            if step % 5 == 0:
                store.add_metrics(step, {"train/heldout_accuracy": 0.2 + 0.02 * step})
            q, a = _question(rng)
            store.add_rollouts(step, [(q, str(a), 1.0), (q, str(a + 1), 0.0)])
    if with_eval:
        items_b, items_t = [], []
        for i in range(40):
            q, a = _question(rng)
            cb, ct = rng.random() < 0.25, rng.random() < 0.45
            items_b.append({"question": q, "reference": str(a), "completion": str(a if cb else a + 1),
                            "extracted": str(a if cb else a + 1), "correct": cb})
            items_t.append({"question": q, "reference": str(a), "completion": str(a if ct else a - 1),
                            "extracted": str(a if ct else a - 1), "correct": ct})
        bench = "assets/benchmarks/demo_addition.jsonl"
        store.add_evaluation("base", bench, items_b, (0.14, 0.40))
        store.add_evaluation(str(store.dir / "checkpoints" / "final"), bench, items_t, (0.31, 0.60))
    return store
