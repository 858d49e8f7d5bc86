"""Importing what the expert already has: question/answer pairs from a JSONL or CSV file.

Imported samples are expert-accepted (status "accepted", origin "imported"), so they are
measured, selected and trained like generated ones (the paper's "+ 100 human demos"
setting). Each keeps its provenance (file, line, file hash) as a revision, and Review
filters them by origin. Importing the same question again is skipped, so an import can be
repeated safely.

    report = import_samples(store, "vetted.jsonl")     # fields: question, answer[, solution]
    report.added, report.skipped, report.problems
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .records import Sample

ORIGIN = "imported"
QUESTION_FIELDS = ("question", "input", "prompt", "problem")
ANSWER_FIELDS = ("answer", "output", "label", "reference")
SOLUTION_FIELDS = ("solution", "rationale", "explanation")
MAX_REPORTED = 10


class ImportError_(ValueError):
    """A file that cannot be imported; the message names the file (and line) and the reason."""


@dataclass(frozen=True)
class ImportRow:
    line: int
    question: str
    answer: str
    solution: str | None = None


@dataclass
class ImportReport:
    path: str
    added: int = 0
    skipped: int = 0            # already in the run (same question)
    problems: list[str] = field(default_factory=list)
    sample_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.added} samples imported from {Path(self.path).name} as expert-accepted, "
                f"{self.skipped} already in the run, {len(self.problems)} lines with problems")


def _pick(row: dict, names: tuple[str, ...], given: str | None) -> str | None:
    if given:
        return given if given in row else None
    lower = {str(k).strip().lower(): k for k in row}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def read_rows(path: str | os.PathLike, question_field: str | None = None, answer_field: str | None = None,
              solution_field: str | None = None) -> tuple[list[ImportRow], list[str]]:
    """The rows of a .jsonl / .json-lines or .csv file, and the problems (file:line: reason)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportError_(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ImportError_(f"{p}: cannot read: {e}") from None
    records: list[tuple[int, object]] = []
    problems: list[str] = []
    if p.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            records.append((reader.line_num, row))
    elif p.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((no, json.loads(line)))
            except json.JSONDecodeError as e:
                problems.append(f"{p}:{no}: not valid JSON ({e.msg})")
    else:
        raise ImportError_(f"{p}: import reads .jsonl or .csv files (question and answer, optionally solution)")
    rows = []
    for no, rec in records:
        if not isinstance(rec, dict):
            problems.append(f"{p}:{no}: expected an object with question and answer, got {type(rec).__name__}")
            continue
        qk = _pick(rec, QUESTION_FIELDS, question_field)
        ak = _pick(rec, ANSWER_FIELDS, answer_field)
        sk = _pick(rec, SOLUTION_FIELDS, solution_field)
        q = str(rec.get(qk) or "").strip() if qk else ""
        a = str(rec.get(ak) if rec.get(ak) is not None else "").strip() if ak else ""
        if not q or not a:
            missing = [n for n, v in (("question", q), ("answer", a)) if not v]
            problems.append(f"{p}:{no}: missing or empty {' and '.join(missing)} (fields present: "
                            f"{', '.join(sorted(map(str, rec))) or 'none'})")
            continue
        sol = str(rec.get(sk) or "").strip() if sk else ""
        rows.append(ImportRow(no, q, a, sol or None))
    return rows, problems


def import_samples(store, path: str | os.PathLike, task=None, author: str = "import",
                   question_field: str | None = None, answer_field: str | None = None,
                   solution_field: str | None = None, display_name: str | None = None) -> ImportReport:
    """Add the file's question/answer pairs to the run as expert-accepted samples (see module doc).

    The reference is the answer read by the task's checker; a solution, when given, is the
    label the student is shown in exports (else the answer itself). Lines the checker cannot
    read an answer from are reported and skipped.
    """
    from . import scoring

    task = task if task is not None else store.load_task()
    p = Path(path)
    rows, problems = read_rows(p, question_field, answer_field, solution_field)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
    name = display_name or p.name
    report = ImportReport(str(p), problems=list(problems))
    have = {s.question.strip() for s in store.samples()}
    for r in rows:
        if r.question in have:
            report.skipped += 1
            continue
        reference = scoring.reference_answer(r.answer, task)
        if reference is None:
            report.problems.append(f"{p}:{r.line}: the checker reads no answer from {r.answer[:80]!r}")
            continue
        label = r.solution or r.answer
        sid = store.add_imported_sample(
            Sample(None, question=r.question, answer=label, reference=reference, round=0, origin=ORIGIN,
                   status="accepted", agreement=None),
            provenance=f"{name}:{r.line} (sha256 {digest})", author=author)
        have.add(r.question)
        report.added += 1
        report.sample_ids.append(sid)
    store.log("import", report.summary(), added=report.added, skipped=report.skipped, file=name,
              sha256=digest, problems=report.problems[:MAX_REPORTED])
    return report
