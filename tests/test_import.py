"""Importing the expert's own question/answer pairs (JSONL or CSV) as accepted samples."""
from __future__ import annotations

import json

from synthrl.cli import main
from synthrl.importing import import_samples
from synthrl.task import AnswerSpec, TaskDefinition

TASK = TaskDefinition(name="add", description="Two-number addition word problems.",
                      input_format="A short word problem.", output_format="Answer with just the number.",
                      answer=AnswerSpec("number", format="plain"))


def test_jsonl_lines_become_accepted_samples_with_provenance(store, tmp_path):
    store.save_task(TASK)
    f = tmp_path / "vetted.jsonl"
    f.write_text("\n".join([
        json.dumps({"question": "A shop sold 23 apples and 41 more. How many?", "answer": "64"}),
        json.dumps({"question": "What is 10 + 5?", "answer": "15", "solution": "10 + 5 = 15"}),
        "not json",
        json.dumps({"question": "No answer here"}),
    ]) + "\n", encoding="utf-8")
    rep = import_samples(store, f)
    assert rep.added == 2 and len(rep.problems) == 2
    assert "vetted.jsonl:3" in rep.problems[0] and "vetted.jsonl:4" in rep.problems[1]
    a, b = (store.sample(i) for i in rep.sample_ids)
    assert (a.status, a.origin, a.reference, a.answer) == ("accepted", "imported", "64", "64")
    assert (b.reference, b.answer) == ("15", "10 + 5 = 15")
    prov = store.revisions(a.id)[0]
    assert prov["field"] == "provenance" and prov["new"].startswith("vetted.jsonl:1 (sha256 ")
    # importing again adds nothing
    again = import_samples(store, f)
    assert again.added == 0 and again.skipped == 2
    assert store.count_samples(origin="imported") == 2


def test_csv_and_the_cli(store, tmp_path, capsys):
    store.save_task(TASK)
    f = tmp_path / "demos.csv"
    f.write_text("Question,Answer\n\"A shop had 3 pens and 4 more. How many?\",7\n", encoding="utf-8")
    assert main(["import", "t", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["added"] == 1
    [s] = store.samples(origin="imported")
    assert s.reference == "7" and s.status == "accepted"
    assert main(["import", "t", str(tmp_path / "missing.jsonl")]) == 1
    assert "file not found" in capsys.readouterr().err
