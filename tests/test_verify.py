"""Majority-vote verification and the tolerant JSON parser (scripted teacher, no model)."""
from __future__ import annotations

import pytest
from fakes import ScriptedChatModel

from synthrl.backends.base import BackendError
from synthrl.parsing import parse_json_object, parse_sample_json
from synthrl.records import Sample
from synthrl.stages.verify import VerifyConfig, verify_samples
from synthrl.task import AnswerSpec, TaskDefinition

TASK = TaskDefinition(name="add", description="Two-digit addition word problems.",
                      input_format="A short word problem.", output_format="Answer with just the number.",
                      answer=AnswerSpec("number"))


# -- parsing -------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    '{"input": "What is 12 + 30?", "output": "42"}',
    '```json\n{"input": "What is 12 + 30?", "output": "42"}\n```',
    'Sure! Here is one:\n{"input": "What is 12 + 30?", "output": "42"}\nHope this helps.',
    "{'input': 'What is 12 + 30?', 'output': '42',}",
    '{input: "What is 12 + 30?", output: 42}',
    '{"question": "What is 12 + 30?", "answer": "42"}',
    '{"input": "What is 12 + 30?", "output": "42"',  # cut off by max_tokens
])
def test_parse_sample_json_reads_fenced_chatty_and_broken_json(text):
    obj, reason = parse_sample_json(text)
    assert obj == {"input": "What is 12 + 30?", "output": "42"}, reason


def test_parse_keeps_apostrophes_and_newlines_inside_strings():
    obj, _ = parse_sample_json("{'input': 'The farmer's barn holds 12 cows\nand 30 sheep. How many?', 'output': '42'}")
    assert obj["input"] == "The farmer's barn holds 12 cows\nand 30 sheep. How many?"


@pytest.mark.parametrize("text,why", [
    ("", "empty"),
    ("I cannot help with that.", "no JSON"),
    ('{"input": "", "output": "4"}', "input"),
    ('{"input": "2+2?"}', "output"),
    ('{"domain": "math"}', "input"),
])
def test_parse_sample_json_says_why_it_failed(text, why):
    obj, reason = parse_sample_json(text)
    assert obj is None and why in reason


def test_parse_json_object_requires_keys():
    obj, _ = parse_json_object('Keywords: {"domain": "retail", "synonyms": ["shop", "store",],}', ("domain",))
    assert obj == {"domain": "retail", "synonyms": ["shop", "store"]}
    obj, reason = parse_json_object('{"topic": "retail"}', ("domain",))
    assert obj is None and "domain" in reason


def test_parser_never_evaluates_code(tmp_path):
    marker = tmp_path / "pwned"
    obj, _ = parse_sample_json('{"input": __import__("os").system("touch %s"), "output": "1"}' % marker)
    assert not marker.exists()
    assert obj is None or "__import__" in obj["input"]


# -- voting --------------------------------------------------------------------------------
def _sample(store, answer="42", question="What is 12 + 30?"):
    return store.add_sample(Sample(None, question, answer=answer, status="pending"))


def test_majority_vote_picks_the_mode_and_stores_votes(store):
    sid = _sample(store, answer="41")  # the generator got it wrong
    replies = ["12 + 30 = 42", "42", "The answer is 41", "42", "forty"]
    teacher = ScriptedChatModel(lambda conv, k: replies[k])
    [s] = verify_samples(store, TASK, teacher, [sid], VerifyConfig(votes=5))
    assert s.status == "verified"
    assert s.reference == "42"
    assert s.agreement == pytest.approx(3 / 6)
    assert s.answer in ("12 + 30 = 42", "42")  # an agreeing teacher solution is the label
    # one request with n=votes, asking the question in the task's output format
    assert len(teacher.calls) == 1 and teacher.calls[0][1].n == 5
    assert "What is 12 + 30?" in teacher.calls[0][0][-1]["content"]
    assert "Answer with just the number." in teacher.calls[0][0][-1]["content"]
    votes = store.votes(sid)
    assert [v.completion for v in votes] == ["41"] + replies
    assert [v.extracted for v in votes][:3] == ["41", "42", "42"]


def test_no_extractable_answer_drops_the_sample_with_a_reason(store):
    sid = _sample(store, answer="no idea")
    teacher = ScriptedChatModel(lambda conv, k: "I am not sure.")
    [s] = verify_samples(store, TASK, teacher, [sid], VerifyConfig(votes=3))
    assert s.status == "dropped" and "no extractable answer" in s.error


def test_agreement_thresholds_drop_or_flag(store):
    a, b = _sample(store, answer="1"), _sample(store, answer="1", question="What is 0 + 1?")
    replies = {"12 + 30": ["2", "3", "1", "4"], "0 + 1": ["2", "3", "1", "4"]}
    teacher = ScriptedChatModel(lambda conv, k: replies["12 + 30" if "12 + 30" in conv[-1]["content"]
                                                        else "0 + 1"][k % 4])
    [sa] = verify_samples(store, TASK, teacher, [a], VerifyConfig(votes=4, min_agreement=0.5))
    assert sa.status == "dropped" and "min_agreement" in sa.error
    [sb] = verify_samples(store, TASK, teacher, [b], VerifyConfig(votes=4, review_below=0.5))
    assert sb.status == "verified" and "low_agreement" in sb.flags and sb.agreement == pytest.approx(2 / 5)


def test_teacher_failure_keeps_the_sample_pending_and_records_it(store):
    sid = _sample(store)

    def script(conv, k):
        raise BackendError("HTTP 503 from teacher")

    [s] = verify_samples(store, TASK, ScriptedChatModel(script), [sid], VerifyConfig(votes=2))
    assert s.status == "pending" and "503" in s.error
    assert [f["kind"] for f in store.failures()] == ["teacher"]


def test_reverifying_replaces_votes(store):
    sid = _sample(store)
    verify_samples(store, TASK, ScriptedChatModel(lambda c, k: "42"), [sid], VerifyConfig(votes=6))
    verify_samples(store, TASK, ScriptedChatModel(lambda c, k: "42"), [sid], VerifyConfig(votes=2))
    assert len(store.votes(sid)) == 3


def test_verify_config_rejects_bad_values():
    with pytest.raises(ValueError, match="votes"):
        VerifyConfig(votes=-1)
    with pytest.raises(ValueError, match="min_agreement"):
        VerifyConfig(min_agreement=1.5)
