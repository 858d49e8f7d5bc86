"""Export a selection as a training set ready for TRL.

Every row has `prompt` (the chat messages the student sees, from
prompts.student_messages: the same prompt measuring and training use) and
`answer` (the verified reference the reward compares against), plus `id`,
`pass_rate`, `origin`, `round`, `parent_id` and `question` for inspection.

    path = export_selection(store, "hf")      # runs/<run>/exports/selection-3-hf/
    ds = datasets.load_from_disk(path)         # GRPOTrainer(train_dataset=ds, reward_funcs=make_reward(task))
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .prompts import student_messages

FORMATS = ("jsonl", "parquet", "hf")
_SUFFIX = {"jsonl": ".jsonl", "parquet": ".parquet", "hf": "-hf"}


class ExportError(ValueError):
    """An export problem the user can fix (no selection yet, unknown format, ...)."""


def selection_rows(store, selection_id: int | None = None) -> tuple[int, list[dict]]:
    """(selection id, rows) for a selection (default: the latest)."""
    sels = {s["id"]: s for s in store.selections()}
    if not sels:
        raise ExportError(f"run {store.name} has no selection yet: run `synthrl select {store.name}` first")
    if selection_id is None:
        selection_id = max(sels)
    if selection_id not in sels:
        raise ExportError(f"run {store.name} has no selection {selection_id} (it has {', '.join(map(str, sels))})")
    sel = sels[selection_id]
    task = store.load_task()
    version = sel.get("model_version") or sel["rule"].get("model_version")
    rates = store.pass_rates(version) if version else {}
    rows = []
    for s in store.selection_samples(selection_id):
        pr = rates.get(s.id)
        rows.append({
            "id": s.id,
            "prompt": student_messages(task, s.question),
            "answer": s.reference if s.reference not in (None, "") else s.answer,
            "pass_rate": pr.rate if pr else None,
            "origin": s.origin,
            "round": s.round,
            "parent_id": s.parent_id,
            "question": s.question,
        })
    return selection_id, rows


def export_selection(store, fmt: str = "jsonl", path: str | os.PathLike | None = None,
                     selection_id: int | None = None) -> Path:
    """Write a selection as JSONL, Parquet or a Hugging Face dataset folder; returns the path written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    selection_id, rows = selection_rows(store, selection_id)
    out = Path(path) if path is not None else store.dir / "exports" / f"selection-{selection_id}{_SUFFIX[fmt]}"
    out = out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    # write beside the target, then swap: an interrupted export never leaves half a file
    tmp = out.with_name(out.name + ".tmp")
    _remove(tmp)
    if fmt == "jsonl":
        with open(tmp, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows, schema=_arrow_schema()), tmp)
    else:
        import datasets

        datasets.Dataset.from_list(rows, features=_features()).save_to_disk(str(tmp))
    _remove(out)
    os.replace(tmp, out)
    store.log("export", f"exported selection {selection_id} ({len(rows)} rows) as {fmt} to {out}",
              selection_id=selection_id, format=fmt, rows=len(rows), path=str(out))
    return out


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()


def _arrow_schema():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([("id", pa.int64()), ("prompt", pa.list_(message)), ("answer", pa.string()),
                      ("pass_rate", pa.float64()), ("origin", pa.string()), ("round", pa.int64()),
                      ("parent_id", pa.int64()), ("question", pa.string())])


def _features():
    import datasets

    message = {"role": datasets.Value("string"), "content": datasets.Value("string")}
    return datasets.Features({
        "id": datasets.Value("int64"), "prompt": datasets.List(message), "answer": datasets.Value("string"),
        "pass_rate": datasets.Value("float64"), "origin": datasets.Value("string"),
        "round": datasets.Value("int64"), "parent_id": datasets.Value("int64"),
        "question": datasets.Value("string"),
    })
