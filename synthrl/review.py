"""What an expert does to samples: list them, edit them. Shared by the Review tab and the CLI.

An edit is stored as revisions, and an edit of the question or answer drops the sample's
attempts and pass rates for every student version (they were measured on other text):
the sample "needs re-measure" until `synthrl measure RUN` measures it again, and no
selection can use the old rate in the meantime.

    result = edit_sample(store, 12, answer="... #### 42", author="cli")
    result.invalidated          # pass rates dropped
    [r for r in sample_rows(store, stale=True)]   # what `synthrl measure` will redo
"""
from __future__ import annotations

from dataclasses import dataclass

from .records import STATUSES
from .store import NEEDS_REMEASURE, RunStore

# The statuses an expert can set by hand.
REVIEW_STATUSES = ("accepted", "rejected")


class EditError(ValueError):
    """An edit that cannot be made; the message says which sample and why."""


@dataclass(frozen=True)
class SampleEdit:
    """What one edit changed."""

    sample_id: int
    changed: tuple[str, ...]          # fields that changed (question, answer, reference, status)
    invalidated: int = 0              # pass rates dropped (one per student version)
    warning: str | None = None        # e.g. the checker cannot read the new answer

    @property
    def needs_remeasure(self) -> bool:
        return bool({"question", "answer", "reference"} & set(self.changed))


@dataclass(frozen=True)
class SampleRow:
    """One line of `synthrl samples`: a sample with its pass rate under one student version."""

    id: int
    round: int
    origin: str
    status: str
    pass_rate: float | None
    n: int | None                     # sampled attempts behind the pass rate
    n_correct: int | None
    attempts: int                     # stored attempts (greedy + sampled) for the version
    flags: tuple[str, ...]
    needs_remeasure: bool
    question: str
    reasons: tuple[str, ...] = ()     # why it needs an expert (synthrl.triage), most urgent first


def edit_sample(store: RunStore, sample_id: int, *, question: str | None = None, answer: str | None = None,
                status: str | None = None, author: str = "cli", task=None, log: bool = True) -> SampleEdit:
    """Edit a sample as the Review tab does; None leaves a field as it is.

    `log=False` leaves the run's event log alone (a batch of edits logs one line for all of them).

    A new answer re-reads the reference with the task's checker; when the checker cannot read
    one, the reference is left unchanged and the result carries a warning.
    """
    from . import scoring

    s = store.sample(int(sample_id))
    if s is None:
        raise EditError(f"run {store.name} has no sample {sample_id}")
    if question is not None and not question.strip():
        raise EditError(f"sample {sample_id}: the question must not be empty")
    if answer is not None and not answer.strip():
        raise EditError(f"sample {sample_id}: the answer must not be empty")
    if status is not None and status not in REVIEW_STATUSES:
        raise EditError(f"sample {sample_id}: status must be one of {', '.join(REVIEW_STATUSES)}, got {status!r}"
                        + (" (set by the pipeline, not by hand)" if status in STATUSES else ""))
    fields: dict = {}
    warning = None
    if question is not None and question != s.question:
        fields["question"] = question
    if answer is not None and answer != s.answer:
        fields["answer"] = answer
        ref = scoring.extract(answer, task if task is not None else store.load_task())
        if ref is None:
            warning = (f"sample {sample_id}: the checker cannot read an answer from the new answer text; the "
                       f"reference stays {s.reference!r}. Write the answer in the task's output format.")
        else:
            fields["reference"] = ref
    if status is not None and status != s.status:
        fields["status"] = status
    if not fields:
        return SampleEdit(s.id, (), 0, warning)
    done = store.edit_sample(s.id, author=author, **fields)
    if log:
        store.log("review", f"sample {s.id} edited by {author} ({', '.join(done['changed'])})"
                  + (f"; {done['invalidated']} pass rates dropped, needs re-measure" if done["invalidated"] else ""),
                  sample_id=s.id)
    return SampleEdit(s.id, tuple(done["changed"]), done["invalidated"], warning)


def sample_rows(store: RunStore, version: str | None = None, status: str | None = None,
                stale: bool = False, order: str = "id") -> list[SampleRow]:
    """Every sample (or those with `status`, or only those needing re-measure) with its pass rate
    under `version` (default: the run's base student).

    order "id": by id; "expert": the Review tab's "needs an expert" order, each row with its reasons
    (synthrl.triage.queue_frame).
    """
    if order not in ("id", "expert"):
        raise ValueError(f"order must be 'id' or 'expert', got {order!r}")
    from .stages.select import default_model_version

    version = version or default_model_version(store)
    rates = store.pass_rates(version) if version else {}
    counts = store.attempt_counts(version) if version else {}
    out = []
    for s in store.samples(status=status):
        needs = NEEDS_REMEASURE in s.flags
        if stale and not needs:
            continue
        pr = rates.get(s.id)
        out.append(SampleRow(s.id, s.round, s.origin, s.status, pr.rate if pr and pr.n else None,
                             pr.n if pr else None, pr.n_correct if pr else None, counts.get(s.id, 0),
                             tuple(f for f in s.flags if f != NEEDS_REMEASURE), needs, s.question))
    if order == "expert":
        from dataclasses import replace

        from .triage import queue_frame, reasons_of

        q = queue_frame(store, version)
        rank = {int(i): k for k, i in enumerate(q["id"])}
        by_id = {r.id: r for r in out}
        out = [replace(by_id[i], reasons=tuple(x.text for x in reasons_of(q.loc[i])))
               for i in sorted(by_id, key=lambda i: rank.get(i, len(rank)))]
    return out
