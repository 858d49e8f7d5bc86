"""Contamination: samples and documents that repeat benchmark questions are found (13-grams), flagged,
kept out of the selection and of held-out monitoring, shown in Review and reported by the CLI."""
from __future__ import annotations

import json
import re

import pytest
from train_helpers import ADDITION, add_selection, tiny_model  # noqa: F401 - tiny_model is a fixture

from synthrl.contamination import FLAG, NgramIndex, check_run, stored_report
from synthrl.records import Sample

BENCH = [
    {"question": "The grocery had 26 tulips on the shelf and 26 more in the storeroom. How many tulips did it "
                 "have in total?", "answer": "52"},
    {"question": "A bakery ordered 52 pencils last week and 83 this week. How many pencils did it order in total?",
     "answer": "135"},
    {"question": "A farm sold 17 goats and 25 sheep at the spring market. How many animals were sold?",
     "answer": "42"},
    {"question": "What is 2 + 3?", "answer": "5"},
]


@pytest.fixture
def bench(tmp_path):
    p = tmp_path / "bench.jsonl"
    p.write_text("".join(json.dumps(b) + "\n" for b in BENCH))
    return p


def test_a_shared_13_gram_overlaps_after_normalising_case_and_punctuation():
    idx = NgramIndex([(1, BENCH[0]["question"])])
    # the same 13 words, other case and punctuation, inside a longer text
    copied = "Story: THE GROCERY had 26 tulips, on the shelf and 26 more in the storeroom! Then it sold some."
    assert idx.matches(copied) == {1}
    # twelve words in a row are not enough
    assert idx.matches("the grocery had 26 tulips on the shelf and 26 more in") == set()
    assert idx.matches("A grocery had 31 roses on the shelf and 9 more in the back room.") == set()


def test_short_questions_match_whole_and_very_short_ones_are_not_checked():
    short = "A farm sold 17 goats and 25 sheep"  # 8 words: matched as a whole
    idx = NgramIndex([(1, short), (2, BENCH[3]["question"])])
    assert idx.matches("Yesterday a farm sold 17 goats and 25 sheep, and more.") == {1}
    assert idx.matches("A farm sold 17 goats") == set()
    assert idx.unchecked == [2]  # "what is 2 3": too generic to call contamination


def test_check_run_flags_overlapping_samples_reports_documents_and_unflags_after_an_edit(store, bench, tmp_path):
    from synthrl.retrieval import ingest

    store.save_task(ADDITION)
    leak = store.add_sample(Sample(None, "A bakery ordered 52 pencils last week and 83 this week. How many pencils "
                                         "did it order in total?", "135", "135", status="verified"))
    clean = store.add_sample(Sample(None, "Ana has 12 apples and buys 30 more. How many apples?", "42", "42",
                                    status="verified"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text("Exercise sheet. The grocery had 26 tulips on the shelf and 26 more in the "
                                   "storeroom. How many tulips did it have in total? Answer: 52.")
    (docs / "ledger.md").write_text("The stall sold 14 melons and 19 lemons on Tuesday.")
    ingest(store, [docs])

    report = check_run(store, bench)
    assert report.samples == {leak: [2]}
    assert report.items_in_documents == {1} and len(report.documents) == 1
    assert len(report.items_overlapping) == 2 and report.benchmark_items == 4 and report.unchecked_items == 1
    assert FLAG in store.sample(leak).flags and FLAG not in store.sample(clean).flags
    assert re.match(r"2 of 4 benchmark items \(bench\.jsonl\) overlap the run", report.summary())
    assert stored_report(store).samples == {leak: [2]}

    # the expert rewrites the leaked question: the next check takes the flag away
    store.update_sample(leak, question="A bakery ordered 40 pens and 95 pencils. How many items?")
    assert check_run(store, bench).samples == {}
    assert FLAG not in store.sample(leak).flags


def test_an_unusable_benchmark_is_named(store, tmp_path):
    from synthrl.stages.evaluate import EvalError

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    with pytest.raises(EvalError, match=r"bad\.jsonl: no benchmark items with fields 'question' and 'answer'"):
        check_run(store, bad)


def _measured_pool(store):
    """Three verified samples with pass rates; the first repeats a benchmark question."""
    from synthrl.records import PassRate

    store.save_task(ADDITION)
    ids = [store.add_sample(Sample(None, q, a, a, status="verified")) for q, a in (
        (BENCH[1]["question"], "135"), ("Ana has 12 apples and buys 30 more. How many?", "42"),
        ("Bo has 5 pens and 7 more. How many pens?", "12"))]
    for sid in ids:
        store.set_pass_rate(PassRate(sid, "student-1", 4, 2, True))
    return ids


def test_select_leaves_contaminated_samples_out_by_default(store, bench):
    from synthrl.stages.select import SelectConfig, select

    leak, *rest = _measured_pool(store)
    check_run(store, bench)
    sel = select(store, SelectConfig(rule="all", model_version="student-1"))
    assert [s.id for s in store.selection_samples(sel)] == rest
    sel = select(store, SelectConfig(rule="all", model_version="student-1", exclude_contaminated=False))
    assert leak in [s.id for s in store.selection_samples(sel)]


def test_review_shows_why_a_sample_is_flagged(store, bench):
    from ui.views import sample_detail

    leak, clean, _ = _measured_pool(store)
    check_run(store, bench)
    text = sample_detail(store, leak)
    assert re.search(r"Overlaps benchmark \S*bench\S*, line\(s\) 2\b", text) and "kept out of training" in text
    assert "Overlaps" not in sample_detail(store, clean)


def test_cli_contamination_lists_flagged_samples_and_documents(store, bench, capsys):
    from synthrl.cli import main

    leak, *_ = _measured_pool(store)
    assert main(["contamination", "t", "--benchmark", str(bench)]) == 0
    out = capsys.readouterr().out
    assert "1 of 4 benchmark items (bench.jsonl) overlap the run" in out
    assert f"sample {leak}: benchmark line(s) 2" in out
    assert main(["contamination", "t", "--benchmark", str(bench), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == {str(leak): [2]}
    assert main(["contamination", "t"]) == 1
    assert "give --benchmark FILE" in capsys.readouterr().err


def test_eval_reports_how_many_benchmark_items_overlap(store, bench, tiny_model, capsys):  # noqa: F811
    from synthrl.cli import main

    _measured_pool(store)
    assert main(["eval", "t", "--benchmark", str(bench), "--model", str(tiny_model), "--limit", "2",
                 "--max-tokens", "2"]) == 0
    out = capsys.readouterr().out
    assert "contamination: 1 of 4 benchmark items (bench.jsonl) overlap the run" in out


def test_paper_training_trains_on_all_selected_and_monitors_unselected_clean_samples(store, tiny_model):  # noqa: F811
    from synthrl.stages.train import TrainConfig, prepare

    selected = add_selection(store, n=6)
    outside = [store.add_sample(Sample(None, f"What is {a} + 1?", str(a + 1), str(a + 1), status="verified"))
               for a in (3, 4, 5)]
    leaked = store.add_sample(Sample(None, "What is 9 + 1?", "10", "10", status="verified", flags=(FLAG,)))
    plan = prepare(store, TrainConfig.profile("paper", model=str(tiny_model)))
    assert sorted(s.id for s in plan.train) == sorted(selected)
    assert sorted(s.id for s in plan.heldout) == outside and leaked not in [s.id for s in plan.heldout]
    # the class default still holds back part of the selection
    plan = prepare(store, TrainConfig(model=str(tiny_model), per_device_batch=16))
    assert len(plan.train) + len(plan.heldout) == 6 and {s.id for s in plan.heldout} <= set(selected)
