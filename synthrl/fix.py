"""Fix once, apply to all: one find/replace over many samples, previewed, stored as revisions, undoable.

A systematic error (a unit written "kms", a phrasing, a wrong convention) is fixed across the
samples in one step. Every change goes through `synthrl.review.edit_sample`, so each changed
sample gets a revision by its author and loses its measurements exactly as a single edit does
(it "needs re-measure"). The batch is recorded (store.fix_batches), so it can be undone as a
whole; a sample edited again after the batch is left alone by the undo and reported.

    spec = FixSpec(find="kms", replace="km", field="question")
    changes = plan_fix(store, spec, sample_ids)      # the preview: every change, before/after
    batch = apply_fix(store, spec, sample_ids, author="ana")
    undo_fix(store, batch.id, author="ana")
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from .review import EditError, edit_sample
from .store import RunStore

FIELDS = ("question", "answer")


class FixError(ValueError):
    """A fix that cannot be made (bad pattern, unknown batch, batch already undone)."""


@dataclass(frozen=True)
class FixSpec:
    """What to change: `find` -> `replace` in one field; a regex when `regex` (replace may use \\1)."""

    find: str
    replace: str
    field: str = "question"
    regex: bool = False
    ignore_case: bool = False

    def __post_init__(self):
        if not self.find:
            raise FixError("give the text to find (it must not be empty)")
        if self.field not in FIELDS:
            raise FixError(f"field must be one of {', '.join(FIELDS)}, got {self.field!r}")
        try:
            self.pattern()
        except re.error as e:
            raise FixError(f"--find is not a valid regular expression: {e}") from None

    def pattern(self) -> re.Pattern:
        return re.compile(self.find if self.regex else re.escape(self.find), re.IGNORECASE if self.ignore_case else 0)

    def apply(self, text: str) -> tuple[str, int]:
        """(the new text, the number of replacements)."""
        repl = self.replace if self.regex else (lambda m: self.replace)
        try:
            return self.pattern().subn(repl, text or "")
        except (re.error, IndexError) as e:
            raise FixError(f"the replacement {self.replace!r} does not fit the pattern: {e}") from None


@dataclass(frozen=True)
class FixChange:
    """One sample's field before and after."""

    sample_id: int
    field: str
    old: str
    new: str
    count: int

    def snippet(self, context: int = 40) -> tuple[str, str]:
        """(before, after) around the first change, "…" where text is left out."""
        shortest = min(len(self.old), len(self.new))
        start = next((i for i, (a, b) in enumerate(zip(self.old, self.new)) if a != b), shortest)
        tail = 0
        while tail < min(len(self.old), len(self.new)) - start and self.old[-1 - tail] == self.new[-1 - tail]:
            tail += 1
        lo = max(0, start - context)

        def cut(s: str) -> str:
            hi = min(len(s), len(s) - tail + context)
            return ("…" if lo else "") + s[lo:hi] + ("…" if hi < len(s) else "")

        return cut(self.old), cut(self.new)


@dataclass(frozen=True)
class FixBatch:
    """What an applied fix did."""

    id: int
    spec: FixSpec
    author: str
    changed: tuple[int, ...]
    invalidated: int = 0                 # pass rates dropped (the changed samples need re-measuring)
    needs_remeasure: int = 0             # changed samples that had measurements
    warnings: tuple[str, ...] = ()       # e.g. the checker cannot read a new answer; an empty result skipped


@dataclass(frozen=True)
class UndoResult:
    batch_id: int
    restored: tuple[int, ...]
    conflicts: tuple[int, ...]           # edited again since the batch: left as they are
    warnings: tuple[str, ...] = ()


def plan_fix(store: RunStore, spec: FixSpec, sample_ids: list[int] | None = None) -> list[FixChange]:
    """Every change the fix would make to `sample_ids` (None: every sample), in id order."""
    rows = store.sample_rows(("id", spec.field), ids=sample_ids)
    out = []
    for sid, old in rows:
        new, k = spec.apply(old or "")
        if k and new != (old or ""):
            out.append(FixChange(int(sid), spec.field, old or "", new, k))
    return out


def apply_fix(store: RunStore, spec: FixSpec, sample_ids: list[int] | None = None, author: str = "cli",
              task=None) -> FixBatch:
    """Apply the fix to `sample_ids` (None: every sample) as one undoable batch of revisions."""
    changes = plan_fix(store, spec, sample_ids)
    if not changes:
        return FixBatch(0, spec, author, ())
    task = task if task is not None or spec.field != "answer" else store.load_task()
    batch_id = store.add_fix_batch(asdict(spec), author)
    who = f"{author} (fix #{batch_id})"
    changed, warnings = [], []
    invalidated = remeasure = 0
    for ch in changes:
        try:
            r = edit_sample(store, ch.sample_id, **{ch.field: ch.new}, author=who, task=task, log=False)
        except EditError as e:
            warnings.append(f"skipped: {e}")
            continue
        if r.warning:
            warnings.append(r.warning)
        if not r.changed:
            continue
        store.add_fix_item(batch_id, ch.sample_id, ch.field, ch.old, ch.new)
        changed.append(ch.sample_id)
        invalidated += r.invalidated
        remeasure += r.invalidated > 0
    store.log("review", f"fix #{batch_id} by {author}: {spec.field} {spec.find!r} -> {spec.replace!r}"
              f"{' (regex)' if spec.regex else ''} changed {len(changed)} samples"
              + (f"; {remeasure} need re-measuring" if remeasure else ""), batch=batch_id)
    return FixBatch(batch_id, spec, author, tuple(changed), invalidated, remeasure, tuple(warnings))


def undo_fix(store: RunStore, batch_id: int, author: str = "cli", task=None) -> UndoResult:
    """Put back what batch `batch_id` changed, as new revisions (the history keeps both)."""
    b = store.fix_batch(int(batch_id))
    if b is None:
        raise FixError(f"run {store.name} has no fix batch {batch_id} (see `synthrl fix {store.name} --list`)")
    if b["undone_at"]:
        raise FixError(f"fix batch {batch_id} was already undone (by {b['undone_by']})")
    task = task if task is not None or not any(it["field"] == "answer" for it in b["items"]) else store.load_task()
    who = f"{author} (undo fix #{batch_id})"
    restored, conflicts, warnings = [], [], []
    for it in b["items"]:
        s = store.sample(it["sample_id"])
        if s is None or getattr(s, it["field"]) != it["new"]:
            conflicts.append(it["sample_id"])
            continue
        try:
            r = edit_sample(store, s.id, **{it["field"]: it["old"]}, author=who, task=task, log=False)
        except EditError as e:
            warnings.append(f"not restored: {e}")
            conflicts.append(s.id)
            continue
        if r.warning:
            warnings.append(r.warning)
        restored.append(s.id)
    store.mark_fix_undone(int(batch_id), author)
    store.log("review", f"fix #{batch_id} undone by {author}: {len(restored)} samples restored"
              + (f", {len(conflicts)} edited since and left as they are" if conflicts else ""), batch=int(batch_id))
    return UndoResult(int(batch_id), tuple(restored), tuple(conflicts), tuple(warnings))
