"""`synthrl samples` and `synthrl edit`: what the Review tab does, from the command line, through the
same library function (an edit drops the sample's pass rates: it needs re-measuring)."""
import json

import pytest

from synthrl.cli import main
from synthrl.records import Attempt, PassRate, Sample
from synthrl.review import EditError, edit_sample, sample_rows
from synthrl.task import AnswerSpec, TaskDefinition

TASK = TaskDefinition(name="add", description="Addition.", input_format="A question.",
                      output_format="Answer with just the number.", answer=AnswerSpec("number", format="plain"))


def _run(store):
    store.save_task(TASK)
    ids = []
    for i, status in enumerate(("verified", "verified", "rejected")):
        sid = store.add_sample(Sample(None, f"What is {i} + 2?", str(i + 2), str(i + 2), status=status,
                                      flags=("suspect_label",) if i == 1 else ()))
        store.add_attempts([Attempt(sid, "v1", "greedy", str(i + 2), str(i + 2), True),
                            Attempt(sid, "v1", "sample", str(i + 2), str(i + 2), True),
                            Attempt(sid, "v1", "sample", "0", "0", False)])
        store.set_pass_rate(PassRate(sid, "v1", 2, 1, True))
        store.set_pass_rate(PassRate(sid, "v2", 4, 4, True))
        ids.append(sid)
    store.record_base_student_version("v1")
    return ids


def test_samples_lists_status_pass_rate_attempts_flags_and_staleness(store, capsys):
    ids = _run(store)
    edit_sample(store, ids[0], answer="7", author="test")
    assert main(["samples", "t", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model_version"] == "v1"  # the base student, not the most measured version
    rows = {r["id"]: r for r in out["samples"]}
    assert rows[ids[1]]["pass_rate"] == 0.5 and (rows[ids[1]]["n_correct"], rows[ids[1]]["n"]) == (1, 2)
    assert rows[ids[1]]["attempts"] == 3 and rows[ids[1]]["flags"] == ["suspect_label"]
    assert rows[ids[0]]["needs_remeasure"] and rows[ids[0]]["pass_rate"] is None
    assert rows[ids[0]]["attempts"] == 0 and "edited" in rows[ids[0]]["flags"]
    assert not rows[ids[1]]["needs_remeasure"] and rows[ids[2]]["status"] == "rejected"

    assert main(["samples", "t", "--stale", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["samples"]] == [ids[0]]
    assert main(["samples", "t", "--status", "rejected", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["samples"]] == [ids[2]]
    assert main(["samples", "t"]) == 0
    text = capsys.readouterr().out
    assert "needs re-measure" in text and "0.50 (1/2)" in text and "1 need re-measuring: `synthrl measure t`" in text


def test_edit_stores_a_revision_and_drops_every_versions_pass_rate(store, capsys):
    ids = _run(store)
    assert main(["edit", "t", str(ids[1]), "--question", "What is 10 + 2?", "--answer", "12"]) == 0
    out = capsys.readouterr().out
    assert "needs re-measuring" in out and "synthrl measure t" in out
    s = store.sample(ids[1])
    assert (s.question, s.answer, s.reference) == ("What is 10 + 2?", "12", "12")
    assert {r["field"] for r in store.revisions(ids[1])} == {"question", "answer", "reference"}
    assert all(r["author"] == "cli" for r in store.revisions(ids[1]))
    assert ids[1] not in store.pass_rates("v1") and ids[1] not in store.pass_rates("v2")
    assert store.attempts(ids[1]) == [] and store.stale_sample_ids() == [ids[1]]
    # a status change is a revision too, but keeps the measurements
    assert main(["edit", "t", str(ids[0]), "--status", "rejected"]) == 0
    capsys.readouterr()
    assert store.sample(ids[0]).status == "rejected" and ids[0] in store.pass_rates("v1")
    assert [r["field"] for r in store.revisions(ids[0])] == ["status"]


def test_edit_errors_name_the_sample_and_the_problem(store, capsys):
    ids = _run(store)
    assert main(["edit", "t", "999", "--answer", "3"]) == 1
    assert "no sample 999" in capsys.readouterr().err
    assert main(["edit", "t", str(ids[0])]) == 1
    assert "nothing to change" in capsys.readouterr().err
    assert main(["edit", "t", str(ids[0]), "--question", "  "]) == 1
    assert f"sample {ids[0]}: the question must not be empty" in capsys.readouterr().err
    with pytest.raises(EditError, match="status must be one of accepted, rejected"):
        edit_sample(store, ids[0], status="verified")
    # an answer the checker cannot read keeps the reference, with a warning
    assert main(["edit", "t", str(ids[0]), "--answer", "no number here"]) == 0
    assert "cannot read an answer" in capsys.readouterr().err and store.sample(ids[0]).reference == "2"


def test_the_review_tab_saves_through_the_same_edit(store, monkeypatch):
    pytest.importorskip("gradio")
    from ui.tabs import review

    ids = _run(store)
    monkeypatch.setattr(review, "_need_store", lambda run: store)
    msg = review.save_edit("t", ids[1], "What is 5 + 2?", "7")
    assert "needs re-measure" in msg
    assert ids[1] not in store.pass_rates("v1") and ids[1] not in store.pass_rates("v2")
    assert store.sample(ids[1]).reference == "7" and {r["author"] for r in store.revisions(ids[1])} == {"ui"}
    # the Review table says so, instead of an empty pass rate
    from ui import views

    table, _ = views.review_table(store, views.ReviewFilter(), "v1")
    row = table[table["id"] == ids[1]].iloc[0]
    assert row["pass rate"] == "needs re-measure"
    assert "needs re-measure" in views.sample_detail(store, ids[1], "v1")
    assert [r.id for r in sample_rows(store, stale=True)] == [ids[1]]
