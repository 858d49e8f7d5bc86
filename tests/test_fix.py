"""Fix once, apply to all: find/replace over many samples as one undoable batch of revisions that
invalidates measurements exactly as a single edit does (synthrl.fix, `synthrl fix`, the Review tab)."""
import json

import pytest

from synthrl.cli import main
from synthrl.fix import FixError, FixSpec, apply_fix, plan_fix, undo_fix
from synthrl.records import Attempt, PassRate, Sample
from synthrl.task import AnswerSpec, TaskDefinition
from ui import views

TASK = TaskDefinition(name="dist", description="Distances.", input_format="A question.",
                      output_format="Answer with just the number.", answer=AnswerSpec("number", format="plain"))


def _run(store):
    store.save_task(TASK)
    ids = []
    for i, (q, status) in enumerate([("A car drives 5 kms north and 3 kms south. How far?", "verified"),
                                     ("Ann walks 2 kms. How far in metres?", "verified"),
                                     ("A train goes 10 kms. Then 4 kms. Total?", "rejected"),
                                     ("No unit here: 2 + 2?", "verified")]):
        sid = store.add_sample(Sample(None, q, str(i), str(i), status=status))
        store.add_attempts([Attempt(sid, "v1", "sample", str(i), str(i), True)])
        store.set_pass_rate(PassRate(sid, "v1", 1, 1, True))
        ids.append(sid)
    return ids


def test_preview_apply_and_undo(store):
    ids = _run(store)
    spec = FixSpec("kms", "km")
    plan = plan_fix(store, spec)
    assert [c.sample_id for c in plan] == ids[:3] and plan[0].count == 2
    before, after = plan[0].snippet(context=8)
    assert "5 kms" in before and "5 km " in after
    batch = apply_fix(store, spec, ids[:2], author="ana")
    assert batch.changed == (ids[0], ids[1]) and batch.needs_remeasure == 2
    s = store.sample(ids[0])
    assert s.question == "A car drives 5 km north and 3 km south. How far?"
    # measurements dropped as by a single edit: no attempts, no pass rate, needs re-measure
    assert "needs_remeasure" in s.flags and store.attempts(ids[0]) == [] and ids[0] in store.stale_sample_ids()
    assert store.revisions(ids[0])[-1]["author"] == f"ana (fix #{batch.id})"
    assert store.sample(ids[2]).question.count("kms") == 2          # outside the filtered ids: untouched

    # an expert edits one of them again; undo leaves that one alone and restores the other
    from synthrl.review import edit_sample
    edit_sample(store, ids[1], question="Ann walks 2 km. How far in metres, exactly?", author="ana")
    r = undo_fix(store, batch.id, author="ana")
    assert r.restored == (ids[0],) and r.conflicts == (ids[1],)
    assert store.sample(ids[0]).question == "A car drives 5 kms north and 3 kms south. How far?"
    assert store.revisions(ids[0])[-1]["author"] == f"ana (undo fix #{batch.id})"
    with pytest.raises(FixError, match="already undone"):
        undo_fix(store, batch.id)


def test_regex_answers_and_bad_patterns(store):
    ids = _run(store)
    batch = apply_fix(store, FixSpec(r"(\d+) kms", r"\1 km", regex=True))
    assert len(batch.changed) == 3 and store.sample(ids[2]).question == "A train goes 10 km. Then 4 km. Total?"
    with pytest.raises(FixError, match="regular expression"):
        FixSpec("(", "x", regex=True)
    with pytest.raises(FixError, match="field"):
        FixSpec("a", "b", field="reference")
    # a new answer re-reads the reference with the task's checker, as the Review tab's edit does
    apply_fix(store, FixSpec("0", "10", field="answer"), [ids[0]])
    assert store.sample(ids[0]).reference == "10"


def test_fix_cli_dry_run_apply_list_undo(store, capsys):
    ids = _run(store)
    assert main(["fix", "t", "--find", "kms", "--replace", "km", "--status", "verified", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 samples would change (dry run" in out and f"#{ids[0]} question (2x)" in out
    assert store.sample(ids[0]).question.count("kms") == 2
    assert main(["fix", "t", "--find", "kms", "--replace", "km", "--status", "verified", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["changed"] == ids[:2] and res["needs_remeasure"] == 2
    assert main(["fix", "t", "--list"]) == 0
    assert "'kms' -> 'km': 2 samples" in capsys.readouterr().out
    assert main(["fix", "t", "--undo", str(res["batch"])]) == 0
    assert "2 samples restored" in capsys.readouterr().out
    assert main(["fix", "t", "--undo", str(res["batch"])]) == 1
    assert "already undone" in capsys.readouterr().err


def test_fix_preview_view_lists_every_change(store):
    ids = _run(store)
    df, cap = views.fix_preview(store, FixSpec("kms", "km"), ids)
    assert list(df["id"]) == ids[:3] and "3 of the 4 filtered samples would change" in cap
    assert "3 of them lose their pass rates" in cap
    batch = apply_fix(store, FixSpec("kms", "km"), ids, author="ui")
    assert views.fix_batches_table(store)["batch"].tolist() == [batch.id]
