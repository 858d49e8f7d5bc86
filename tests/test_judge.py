"""The optional judge pass: the teacher rates grounding, clarity and correctness (1-5, a reason each) as
structured output; verdicts are stored per sample with their cost and order the Review queue."""
import json

import pytest

from fakes import ScriptedChatModel
from synthrl.cli import main
from synthrl.judge import JudgeConfig, judge, parse_verdict
from synthrl.prompts import JUDGE_SCHEMA
from synthrl.records import Chunk, Sample
from synthrl.task import AnswerSpec, TaskDefinition

TASK = TaskDefinition(name="add", description="Addition.", input_format="A question.",
                      output_format="Answer with just the number.", answer=AnswerSpec("number", format="plain"))


def _verdict(g, c, k):
    return json.dumps({"grounding": {"score": g, "reason": "numbers from the ledger"},
                       "clarity": {"score": c, "reason": "clear"}, "correctness": {"score": k, "reason": "right"}})


def test_parse_verdict_reads_scores_and_refuses_out_of_range():
    v = parse_verdict(1, "sure! " + _verdict(4, 5, 3))
    assert v.ratings == {"grounding": 4, "clarity": 5, "correctness": 3} and v.lowest == 3
    assert parse_verdict(1, _verdict(4, 9, 3)) is None
    assert parse_verdict(1, '{"grounding": 4}') is None
    assert parse_verdict(1, '{"grounding": "__import__(\'os\')", "clarity": 1, "correctness": 1}') is None


def test_judge_stores_verdicts_with_cost_and_skips_judged_samples(store):
    store.save_task(TASK)
    doc = store.upsert_document("ledger.txt", "0" * 64, "ok")
    store.replace_chunks(doc, [Chunk("c1", doc, "The shop sold 12 apples and 30 pears.", "ledger.txt")])
    a = store.add_sample(Sample(None, "The shop sold 12 apples and 30 pears. Fruit sold?", "42", "42",
                                passage_id="c1", status="verified"))
    b = store.add_sample(Sample(None, "What is 2+2?", "4", "4", status="verified"))
    store.add_sample(Sample(None, "dropped one", "1", "1", status="dropped"))
    replies = {a: [_verdict(5, 5, 5)], b: ["not json", _verdict(1, 4, 4)]}
    teacher = ScriptedChatModel(lambda conv, k: replies[a if "12 apples" in conv[-1]["content"] else b].pop(0))
    rep = judge(store, TASK, teacher, JudgeConfig(concurrency=2))
    assert (rep.judged, rep.unreadable, rep.calls) == (2, 0, 3)
    assert all(params.json_schema == JUDGE_SCHEMA for _, params in teacher.calls)
    prompt_a = next(conv for conv, _ in teacher.calls if "12 apples" in conv[-1]["content"])[-1]["content"]
    assert "<passage>\nThe shop sold 12 apples and 30 pears.\n</passage>" in prompt_a
    j = store.judgements(b)[-1]
    assert (j["grounding"], j["clarity"], j["correctness"], j["calls"]) == (1, 4, 4, 2)
    assert store.judge_cost()["calls"] == 3 and store.judge_cost()["samples"] == 2
    # resumable: a second pass with the same teacher judges nothing, unless a sample was edited since
    again = judge(store, TASK, ScriptedChatModel(lambda c, k: _verdict(3, 3, 3)), JudgeConfig())
    assert again.judged == 0 and again.skipped == 2


def test_judge_cli_refuses_the_bundled_teacher(store, capsys):
    store.save_task(TASK)
    store.add_sample(Sample(None, "What is 2+2?", "4", "4", status="verified"))
    assert main(["judge", "t"]) == 1
    err = capsys.readouterr().err
    assert "ratings would be noise" in err and "--allow-bundled" in err


@pytest.mark.slow
def test_judge_with_the_bundled_model(store):
    """The real bundled model returns schema-valid verdicts (its ratings are noise, but the path works)."""
    from synthrl.backends.spec import ModelSpec, load_model

    store.save_task(TASK)
    store.add_sample(Sample(None, "What is 2+2?", "4", "4", status="verified"))
    teacher = load_model(ModelSpec())
    try:
        rep = judge(store, TASK, teacher, JudgeConfig(concurrency=1, max_tokens=160))
    finally:
        teacher.close()
    assert rep.calls >= 1 and rep.judged + rep.unreadable == 1
