"""The safe arithmetic evaluator behind program-aided labels, and program-aided votes."""
from __future__ import annotations

from fractions import Fraction

import pytest
from fakes import ScriptedChatModel

from synthrl.arith import ExpressionError, compute, expression_value, find_expression
from synthrl.records import Sample
from synthrl.stages.verify import PROGRAM_AIDED_FLAG, VerifyConfig, uses_program_aided, verify_samples
from synthrl.task import AnswerSpec, TaskDefinition

TASK = TaskDefinition(name="add", description="Two-number addition word problems.",
                      input_format="A short word problem.", output_format="Answer with just the number.",
                      answer=AnswerSpec("number", format="plain"))


@pytest.mark.parametrize("text,value", [
    ("23 + 41", 64), ("(12 + 30) * 2", 84), ("100 / 8", Fraction(25, 2)), ("-3 + -4", -7), ("1,234 + 1", 1235),
    ("round(10 / 3, 2)", Fraction(333, 100)), ("max(3, 4) + min(1, 2)", 5), ("sum(1, 2, 3)", 6),
    ("50% * 30", 15), ("23 × 2 − 1", 45), ("sqrt(16)", 4), ("abs(2 - 5)", 3),
])
def test_compute_reads_numbers_operators_and_named_functions(text, value):
    assert compute(text) == value


@pytest.mark.parametrize("text", [
    "__import__('os')", "2 ** 3", "a + 1", "open(1)", "1 / 0", "(1 + 2", "1 +", "", "9" * 40 + " + 1",
    "(" * 50 + "1" + ")" * 50, "x" * 300, "[1, 2]", "1; 2", "lambda: 1",
])
def test_compute_refuses_everything_else(text):
    with pytest.raises(ExpressionError):
        compute(text)


@pytest.mark.parametrize("reply,found", [
    ("23 + 41", ("23 + 41", "64")),
    ("23 + 41 = 65", ("23 + 41", "64")),          # the stated (wrong) result is ignored: the value is computed
    ("The answer is 12 + 30.", ("12 + 30", "42")),
    ("Answer: 7 * 6\nbecause ...", ("7 * 6", "42")),
    ("64", ("64", "64")),
    ("I do not know", None),
])
def test_expression_value_finds_the_stated_expression(reply, found):
    assert expression_value(reply) == found


def test_find_expression_never_evaluates_code():
    assert find_expression("__import__('os').system('echo hi')") is None


def test_program_aided_votes_are_computed_values(store):
    store.save_task(TASK)
    # the generator computed in its head (wrong); the votes set up the sum, one adds wrongly
    sid = store.add_sample(Sample(None, "A shop sold 23 apples and 41 pears. How many fruits?", "65"))
    teacher = ScriptedChatModel(lambda conv, i: ["23 + 41", "23 + 41 = 65", "41 + 23", "23 - 41"][i % 4])
    [s] = verify_samples(store, TASK, teacher, [sid], VerifyConfig(votes=4, program_aided=True))
    assert s.status == "verified" and s.reference == "64" and s.answer == "64"
    assert s.agreement == pytest.approx(3 / 5)     # the generator's bare "65" is not an expression: no vote
    assert PROGRAM_AIDED_FLAG in s.flags
    votes = store.votes(sid)
    assert [v.extracted for v in votes] == [None, "64", "64", "64", "-18"]
    assert "expression" in teacher.calls[0][0][-1]["content"]


def test_program_aided_is_on_by_default_only_for_plain_numbers_with_the_bundled_teacher():
    class Bundled:
        is_bundled = True

    cfg = VerifyConfig()
    assert uses_program_aided(TASK, cfg, Bundled())
    assert not uses_program_aided(TASK, cfg, ScriptedChatModel(lambda c, i: "1"))
    gsm = TaskDefinition(name="g", description="d", input_format="i", output_format="o",
                         answer=AnswerSpec("number", format="####"))
    assert not uses_program_aided(gsm, cfg, Bundled())
    assert uses_program_aided(gsm, VerifyConfig(program_aided=True), None)


def test_an_in_process_teacher_votes_on_many_questions_in_one_batch(store):
    store.save_task(TASK)
    ids = [store.add_sample(Sample(None, f"A shop sold {a} apples and 10 pears. How many fruits?", "0"))
           for a in (11, 12, 13)]
    teacher = ScriptedChatModel(lambda conv, i: " + ".join(__import__("re").findall(r"\d+", conv[-1]["content"])[:2]))
    teacher.max_batch_size = 16          # what a transformers model has: one generate call for many prompts
    done = verify_samples(store, TASK, teacher, ids, VerifyConfig(votes=3, program_aided=True))
    assert [s.reference for s in done] == ["21", "22", "23"]
    assert len({id(p) for _, p in teacher.calls}) == 1    # one request (three conversations)


def test_a_vote_must_use_the_questions_numbers():
    from synthrl.stages.verify import program_value

    q = "A shop sold 64 apples in the morning and 16 in the afternoon. How many apples?"
    assert program_value("64 + 16 = 70", question=q) == "80"
    assert program_value("12 + 30", question=q) is None          # an instruction's example, copied
    assert program_value("(64 + 16) * 2", question=q) == "160"   # small constants are free
    assert program_value("64 + 17", question=q) is None          # an invented operand
