"""Difficulty adaptation with a scripted teacher and student: lineage, directions,
verification, recorded failures, resume, and the plotting helpers."""
import json
import re

from fakes import ScriptedChatModel
from synthrl.records import PassRate, Sample
import pytest

from synthrl.pipeline import adapt_round
from synthrl.stages.adapt import (AdaptConfig, AdaptError, adapt, learnable_share, missing_greedy,
                                  parent_child_shifts, pass_rate_histogram)
from synthrl.stages.measure import MeasureConfig, measure
from synthrl.stages.verify import VerifyConfig
from synthrl.task import AnswerSpec, TaskDefinition

TASK = TaskDefinition(name="add", description="Addition of whole numbers.", input_format="A question.",
                      output_format="Answer with just the number.", answer=AnswerSpec("number", format="plain"))


def _numbers(q):
    return [int(x) for x in re.findall(r"\d+", q)]


def _teacher(fail_on=()):
    """Rewrites 'a + b' into 'a + b + 7' (harder) or 'a' + 1 (easier); answers sums when voting."""
    def script(conv, k):
        text = conv[-1]["content"]
        if "Reply with JSON only" in text:
            q = text.split("[input]\n", 1)[1].split("\n", 1)[0]
            if any(f in q for f in fail_on):
                return "I cannot do that."
            nums = _numbers(q)
            if "HARDER" in text:
                new = nums + [7]
            else:
                new = [nums[0], 1]
            return json.dumps({"input": "What is " + " + ".join(map(str, new)) + "?", "output": str(sum(new))})
        return str(sum(_numbers(text.split("\n")[0])))
    return ScriptedChatModel(script, version="teacher")


def _student():
    """Solves two-term sums, fails longer ones."""
    def script(conv, k):
        nums = _numbers(conv[-1]["content"].split("\n")[0])
        return str(sum(nums)) if len(nums) <= 2 else "0"
    return ScriptedChatModel(script, version="student")


def _seed(store):
    # sample 1 is solved (two terms), 2 is not (three terms), 3 is a teacher failure case
    ids = []
    for q, a in [("What is 10 + 20?", "30"), ("What is 1 + 2 + 3?", "6"), ("What is 40 + 2?", "42")]:
        ids.append(store.add_sample(Sample(None, q, a, a, status="verified", agreement=1.0)))
    return ids


def test_adapt_rewrites_solved_harder_and_unsolved_easier(store):
    solved, unsolved, failing = _seed(store)
    teacher = _teacher(fail_on=("40 + 2",))
    rep = adapt_round(store, TASK, teacher, _student(), AdaptConfig(), 0,
                      verify_config=VerifyConfig(votes=2, concurrency=1),
                      measure_config=MeasureConfig(rollouts=4))
    assert (rep.harder, rep.easier, rep.failures) == (1, 1, 1)
    kids = {s.parent_id: s for s in store.samples(round=1)}
    assert kids[solved].origin == "harder" and kids[solved].question == "What is 10 + 20 + 7?"
    assert kids[unsolved].origin == "easier" and kids[unsolved].question == "What is 1 + 1?"
    assert failing not in kids
    # rewrites were verified by vote and measured
    assert all(k.status == "verified" and k.reference == str(sum(_numbers(k.question))) for k in kids.values())
    rates = store.pass_rates("student")
    assert rates[kids[solved].id].rate == 0.0 and rates[kids[unsolved].id].rate == 1.0
    # the unparseable reply is recorded with its raw text, for the expert to see
    [f] = store.failures("adapt")
    assert f["sample_id"] == failing and f["raw"] == "I cannot do that." and f["round"] == 1
    # the plotting helpers see the shift
    shifts = {s.direction: s for s in parent_child_shifts(store, "student")}
    assert shifts["harder"].parent_p == 1.0 and shifts["harder"].child_p == 0.0 and shifts["harder"].moved_as_intended
    assert shifts["easier"].moved_as_intended
    hist = pass_rate_histogram(store, model_version="student", bins=2)
    assert [b.count for b in hist] == [2, 3] and sum(b.count for b in pass_rate_histogram(store, round=1)) == 2


def test_adapt_resumes_without_rewriting_twice(store):
    _seed(store)
    teacher = _teacher(fail_on=("40 + 2",))
    kw = dict(verify_config=VerifyConfig(votes=1, concurrency=1), measure_config=MeasureConfig(rollouts=2))
    adapt_round(store, TASK, teacher, _student(), AdaptConfig(), 0, **kw)
    calls = len(teacher.calls)
    again = adapt_round(store, TASK, teacher, _student(), AdaptConfig(), 0, **kw)
    assert again.harder == again.easier == again.failures == 0
    assert len(store.samples(round=1)) == 2 and len(store.failures("adapt")) == 1
    assert len(teacher.calls) == calls  # nothing re-sent to the teacher


def test_second_round_rewrites_the_rewrites(store):
    _seed(store)
    kw = dict(verify_config=VerifyConfig(votes=1, concurrency=1), measure_config=MeasureConfig(rollouts=2))
    for r in range(2):
        adapt_round(store, TASK, _teacher(), _student(), AdaptConfig(rounds=2), r, **kw)
    r2 = store.samples(round=2)
    assert len(r2) == 3 and all(store.sample(s.parent_id).round == 1 for s in r2)


def test_learnable_share_counts_sometimes_solved(store):
    for i, k in enumerate([0, 2, 4, 3]):
        sid = store.add_sample(Sample(None, f"q{i}", "1", "1", status="verified"))
        store.set_pass_rate(PassRate(sid, "v", 4, k, k > 0))
    assert learnable_share(store, model_version="v") == 0.5
    assert learnable_share(store, model_version="v", lo=0.5, hi=1.0) == 0.75


def test_adapt_refuses_parents_without_a_greedy_verdict_and_names_the_command(store):
    solved, unsolved, _ = _seed(store)
    # measured with greedy off: pass rates exist, the greedy verdict does not
    measure(store, TASK, _student(), MeasureConfig(rollouts=2, greedy=False))
    assert missing_greedy(store, "student", 0) == [solved, unsolved, _]
    teacher = _teacher()
    with pytest.raises(AdaptError, match=r"no greedy answer.*synthrl measure t --samples"):
        adapt(store, TASK, teacher, _student(), AdaptConfig(), round=0,
              verify_config=VerifyConfig(votes=1, concurrency=1))
    # nothing was guessed: no rewrite asked for, none stored
    assert teacher.calls == [] and store.samples(round=1) == []


def test_adapt_round_measures_missing_greedy_answers_instead_of_calling_them_unsolved(store):
    solved, unsolved, _ = _seed(store)
    measure(store, TASK, _student(), MeasureConfig(rollouts=2, greedy=False))
    adapt_round(store, TASK, _teacher(), _student(), AdaptConfig(), 0,
                verify_config=VerifyConfig(votes=1, concurrency=1), measure_config=MeasureConfig(rollouts=2))
    # the solved parent got its greedy verdict and went harder (unknown used to mean "easier")
    assert store.pass_rates("student")[solved].greedy_correct is True
    kids = {s.parent_id: s.origin for s in store.samples(round=1)}
    assert kids[solved] == "harder" and kids[unsolved] == "easier"
    assert missing_greedy(store, "student", 0) == []
