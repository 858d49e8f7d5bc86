"""Questions built on the demos and the passages' numbers; label accuracy against the demo's oracle."""
from __future__ import annotations

import re

from fakes import ScriptedChatModel

from synthrl.config import RunConfig
from synthrl.records import Chunk
from synthrl.stages.demo_questions import (addition_oracle, candidate_questions, demo_with_numbers,
                                           generate_from_demos, label_accuracy, passage_number_pairs)
from synthrl.stages.generate import GenerateConfig
from synthrl.stages.verify import VerifyConfig
from synthrl.task import load_task

from conftest import TASKS


def test_numbers_come_in_pairs_from_one_sentence():
    text = "Class 2B: 82 glue sticks and 61 crayons. It weighs 3.5 kg, 1,234 g. Week two: 70 sacks and 56 crates."
    assert passage_number_pairs(text, lo=10) == [(82, 61), (70, 56)]
    assert demo_with_numbers("A shop sold 23 apples and 41 pears. How many?", (5, 7)) == \
        "A shop sold 5 apples and 7 pears. How many?"
    assert demo_with_numbers("What is 1 + 2 + 3?", (5, 7)) is None
    assert addition_oracle("A shop sold 5 apples and 7 pears.") == "12"


def test_generate_from_demos_labels_by_program_aided_vote(store):
    task = load_task(TASKS / "demo_addition.yaml")
    store.save_task(task)
    doc = store.upsert_document("ledger.txt", None, "ok")
    store.replace_chunks(doc, [Chunk("c1", doc, "Monday: 23 pears and 41 plums. Tuesday: 30 figs and 12 kiwis.",
                                     "ledger.txt")])

    def teacher(conv, k):
        a, b = re.findall(r"\d+", conv[-1]["content"])[:2]
        return f"{a} + {b}" if k % 4 else f"{a} - {b}"      # 3 of 4 votes right

    rep = generate_from_demos(store, task, ScriptedChatModel(teacher), GenerateConfig(n=3, questions="demos"),
                              VerifyConfig(votes=4, program_aided=True, min_agreement=0.5))
    assert rep.total == 3
    acc = label_accuracy(store)
    assert acc["right"] == acc["total"] == 3
    assert all(s.passage_id == "c1" and "program_aided" in s.flags for s in store.samples(status="verified"))
    assert len(candidate_questions(task, store.chunks())) == 4   # 2 pairs x 2 demos' wording


def test_the_demo_profile_resolves():
    cfg = RunConfig.from_profile("demo")
    assert cfg.generate.questions == "demos" and cfg.verify.program_aided is True
    assert cfg.benchmark.endswith("demo_addition_heldout.jsonl")
    assert cfg.evaluate.max_tokens == 16 and cfg.train.max_completion_length == 16
    assert RunConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()
