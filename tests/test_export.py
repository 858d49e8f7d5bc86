"""Exporting a selection: JSONL, Parquet and a HF dataset load back with TRL-ready columns."""
import json

import pytest

from synthrl.export import ExportError, export_selection
from synthrl.prompts import student_messages
from synthrl.records import PassRate, Sample
from synthrl.stages.select import SelectConfig, select
from synthrl.task import AnswerSpec, TaskDefinition

TASK = TaskDefinition(name="add", description="Addition.", input_format="A question.",
                      output_format="Answer with just the number.", answer=AnswerSpec("number", format="plain"))


@pytest.fixture
def selected(store):
    store.save_task(TASK)
    a = store.add_sample(Sample(None, "What is 2 + 3?", "2 + 3 = 5", "5", status="verified"))
    b = store.add_sample(Sample(None, "What is 2 + 3 + 4?", "9", "9", status="accepted", origin="harder",
                                parent_id=a, round=1))
    c = store.add_sample(Sample(None, "What is 1 + 1?", "2", "2", status="rejected"))
    for sid, k in ((a, 3), (b, 1), (c, 2)):
        store.set_pass_rate(PassRate(sid, "v1", 4, k, True))
    return select(store, SelectConfig(m=10)), (a, b)


def _check(rows, ids):
    a, b = ids
    assert [r["id"] for r in rows] == [b, a]  # the selection's order: hardest solvable first
    assert rows[0]["prompt"] == student_messages(TASK, "What is 2 + 3 + 4?")
    assert rows[0]["answer"] == "9" and rows[0]["origin"] == "harder" and rows[0]["pass_rate"] == 0.25
    assert rows[1]["answer"] == "5" and rows[1]["parent_id"] is None


def test_jsonl_round_trip(store, selected):
    sel, ids = selected
    path = export_selection(store, "jsonl")
    assert path.parent == store.dir / "exports" and path.name == f"selection-{sel}.jsonl"
    _check([json.loads(line) for line in path.read_text().splitlines()], ids)


def test_parquet_round_trip(store, selected, tmp_path):
    import pyarrow.parquet as pq

    path = export_selection(store, "parquet", tmp_path / "train.parquet")
    _check(pq.read_table(path).to_pylist(), selected[1])


def test_hf_dataset_is_ready_for_trl(store, selected):
    import datasets

    path = export_selection(store, "hf")
    ds = datasets.load_from_disk(str(path))
    assert {"prompt", "answer"} <= set(ds.column_names)
    _check(ds.to_list(), selected[1])
    # exporting again replaces the folder instead of failing or mixing versions
    assert export_selection(store, "hf") == path


def test_export_without_selection_says_what_to_run(store):
    with pytest.raises(ExportError, match="synthrl select"):
        export_selection(store, "jsonl")
    with pytest.raises(ExportError, match="unknown export format"):
        export_selection(store, "csv")
