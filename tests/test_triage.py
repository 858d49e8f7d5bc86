"""The review queue: samples ordered by what needs an expert, each with its reasons (synthrl.triage),
shown by `synthrl samples --order expert` and the Review tab."""
import json

from synthrl import triage
from synthrl.cli import main
from synthrl.records import Attempt, PassRate, Sample
from synthrl.review import edit_sample
from synthrl.task import AnswerSpec, TaskDefinition
from ui import views

TASK = TaskDefinition(name="add", description="Addition.", input_format="A question.",
                      output_format="Answer with just the number.", answer=AnswerSpec("number", format="plain"))
V = "student@1"


def _add(store, q, ref, said, status="verified", agreement=1.0, flags=()):
    sid = store.add_sample(Sample(None, q, ref, ref, status=status, agreement=agreement, flags=flags))
    store.add_attempts([Attempt(sid, V, "sample", a, a, a == ref) for a in said])
    k = sum(a == ref for a in said)
    store.set_pass_rate(PassRate(sid, V, len(said), k, k > 0))
    return sid


def _run(store):
    store.save_task(TASK)
    ids = {
        "plain": _add(store, "Tom has 3 apples and buys 4 more. How many now?", "7", ["7"] * 6 + ["8"] * 2),
        "wrong": _add(store, "A jar holds 12 sweets; Ann eats 5. How many are left?", "8", ["7"] * 7 + ["8"]),
        "split": _add(store, "What is 40 plus 2, written as digits please?", "42", ["42"] * 8, agreement=0.5),
        "suspect": _add(store, "Sum 9 and 9 to get the number of legs on the two spiders.", "18", ["18"] * 8,
                        flags=("suspect_label",)),
        "spread": _add(store, "Ben reads 10 pages a day for 3 days. Pages read?", "30",
                       ["29", "31", "28", "32", "27", "30", "26", "33"]),
        "accepted": _add(store, "A farmer has 6 cows and buys 5 more cows at the market today.", "11", ["11"] * 8,
                         status="accepted"),
    }
    ids["dup"] = _add(store, "A farmer has 6 cows and buys 5 more cows at the market today!", "11", ["11"] * 8)
    store.record_base_student_version(V)
    return ids


def test_queue_puts_likely_wrong_labels_first_with_evidence(store):
    ids = _run(store)
    q = triage.queue_frame(store)
    order = list(q["id"])
    assert order[0] == ids["wrong"]
    reasons = {i: [r.code for r in triage.reasons_of(q.loc[i])] for i in order}
    assert reasons[ids["wrong"]] == ["wrong_label"]
    assert "the student answers 7 in 7 of 8 attempts; the label is 8" in triage.reasons_of(q.loc[ids["wrong"]])[0].text
    assert reasons[ids["suspect"]] == ["suspect_label"] and reasons[ids["split"]] == ["split_votes"]
    assert reasons[ids["dup"]] == ["near_duplicate"]
    assert f"accepted #{ids['accepted']}" in triage.reasons_of(q.loc[ids["dup"]])[0].text
    # an inconsistent student (answers spread out) is no evidence against the label
    assert reasons[ids["spread"]] == [] and reasons[ids["plain"]] == []
    # by urgency: wrong label, suspect, split votes, duplicate; then open samples without a reason; decided last
    assert order[:4] == [ids["wrong"], ids["suspect"], ids["split"], ids["dup"]]
    assert order[-1] == ids["accepted"]


def test_queue_follows_edits_and_new_attempts_incrementally(store):
    ids = _run(store)
    triage.queue_frame(store)
    edit_sample(store, ids["wrong"], answer="7", author="test")      # the expert fixes the label
    q = triage.queue_frame(store)
    assert [r.code for r in triage.reasons_of(q.loc[ids["wrong"]])] == ["needs_remeasure"]
    store.add_attempts([Attempt(ids["plain"], V, "sample", "9", "9", False)] * 30)  # now consistently "9"
    q = triage.queue_frame(store)
    assert "wrong_label" in [r.code for r in triage.reasons_of(q.loc[ids["plain"]])]
    # the incremental statistics equal a fresh aggregation
    triage._STATS.clear()
    fresh = triage.answer_stats(store, V)
    assert fresh.sort_index().equals(triage.answer_stats(store, V).sort_index())


def test_low_judge_score_is_a_reason(store):
    ids = _run(store)
    store.add_judgement(ids["plain"], "judge-1", {"grounding": 2, "clarity": 5, "correctness": 4},
                        {"grounding": "numbers not in the passage", "clarity": "", "correctness": ""}, 100, 20)
    q = triage.queue_frame(store)
    assert [r.text for r in triage.reasons_of(q.loc[ids["plain"]])] == ["low judge score: 2/5 (under 3)"]
    assert store.judge_cost() == {"samples": 1, "calls": 1, "prompt_tokens": 100, "completion_tokens": 20,
                                  "models": ["judge-1"]}


def test_near_duplicates_by_minhash():
    texts = ["the quick brown fox jumps over the lazy dog near the river bank today",
             "the quick brown fox jumps over the lazy dog near the river bank today!",
             "a completely different sentence about shops selling apples and bread"]
    groups = triage.near_duplicate_groups([10, 11, 12], texts)
    assert groups == {10: 10, 11: 10}


def test_samples_cli_expert_order_shows_reasons(store, capsys):
    ids = _run(store)
    assert main(["samples", "t", "--order", "expert", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["samples"]
    assert rows[0]["id"] == ids["wrong"] and rows[0]["reasons"][0].startswith("likely wrong label")
    assert main(["samples", "t", "--order", "expert"]) == 0
    out = capsys.readouterr().out
    assert "why: likely wrong label: the student answers 7 in 7 of 8 attempts" in out


def test_review_table_default_order_and_reason_filter(store):
    ids = _run(store)
    table, cap = views.review_table(store, views.ReviewFilter())
    assert table["id"][0] == ids["wrong"] and table["needs an expert because"][0].startswith("likely wrong label")
    assert "4 open samples need an expert" in cap
    by_id, _ = views.review_table(store, views.ReviewFilter(order="id"))
    assert list(by_id["id"]) == sorted(by_id["id"])
    only, _ = views.review_table(store, views.ReviewFilter(reason="split_votes"))
    assert list(only["id"]) == [ids["split"]]
    # Next walks the queue; after a decision it goes to the first sample still open
    f = views.ReviewFilter()
    assert views.next_in_queue(store, f, ids["wrong"]) == ids["suspect"]
    edit_sample(store, ids["wrong"], status="accepted", author="test")
    assert views.next_in_queue(store, f, ids["wrong"]) == ids["suspect"]
    assert views.next_in_queue(store, f, ids["suspect"], step=-1) is None
    assert "Needs an expert because" in views.sample_detail(store, ids["split"])
