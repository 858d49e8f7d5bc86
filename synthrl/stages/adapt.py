"""Stage: adapt difficulty to the student.

Samples the student solves greedily are rewritten by the teacher into harder,
task-similar ones; unsolved ones into easier ones (or a sub-problem). Each
rewrite keeps its lineage (parent_id, origin harder/easier, round + 1), is
verified by majority vote like a generated sample, then measured. The pool
(initial + harder + easier) aims at a balanced pass-rate histogram.

    report = adapt(store, task, teacher, student, AdaptConfig(), round=0)
    pass_rate_histogram(store, bins=10)          # for plots
    parent_child_shifts(store)                   # did "harder" really get harder?

Resumable: a parent that already has a rewrite (or a recorded rewrite failure)
in the next round is not rewritten again; rewrites not yet verified are picked
up where they stopped.

A parent's direction comes from its measured greedy answer only. adapt() does not
measure (a stage never calls another stage): when some parent has no greedy verdict
from this student it refuses, naming the command that measures them; the pipeline
and `synthrl adapt` measure what is missing first (`pipeline.adapt_round`) and the
verified rewrites afterwards.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..backends.base import ChatModel, GenerationParams
# what the teacher must return for a rewrite: the {input, output} shape of a generated sample
from ..prompts import REWRITE_SCHEMA as SAMPLE_SCHEMA
from ..records import Sample
from .select import CANDIDATE_STATUSES, default_model_version

Progress = Callable[[str], None]


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass
class AdaptConfig:
    """How samples are rewritten to fit the student."""

    rounds: int = _help("adaptation rounds (paper: 1); round r rewrites the samples of round r", 1)
    temperature: float = _help("teacher temperature for rewrites", 0.7)
    max_tokens: int = _help("longest rewrite, in tokens", 1024)
    batch_size: int = _help("rewrite requests per teacher call (backends run them concurrently)", 16)
    harder: bool = _help("rewrite solved samples harder", True)
    easier: bool = _help("rewrite unsolved samples easier", True)
    json_schema: bool = _help("ask the teacher backend to constrain output to {input, output} JSON", True)

    def __post_init__(self):
        for name in ("max_tokens", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"adapt.{name}: must be a positive integer, got {v!r}")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 0:
            raise ValueError(f"adapt.rounds: must be an integer >= 0, got {self.rounds!r}")
        if self.temperature < 0:
            raise ValueError(f"adapt.temperature: must be >= 0, got {self.temperature!r}")


class AdaptError(ValueError):
    """Adaptation cannot start; the message names what to run first."""


def missing_greedy(store, version: str, round: int) -> list[int]:
    """Candidates of `round` without a greedy verdict from student `version` (unmeasured, or
    measured with greedy off): their direction (harder/easier) is unknown until measured."""
    rates = store.pass_rates(version)
    return [s.id for s in store.samples(round=round, status=CANDIDATE_STATUSES)
            if s.id not in rates or rates[s.id].greedy_correct is None]


@dataclass(frozen=True)
class AdaptReport:
    round: int
    parents: int
    harder: int
    easier: int
    failures: int
    verified: int
    dropped: int
    measured: int
    seconds: float


def adapt(store, task, teacher: ChatModel, student: ChatModel | str, config: AdaptConfig, round: int = 0,
          *, verify_config=None, progress: Progress | None = None) -> AdaptReport:
    """Rewrite round `round`'s samples into round `round + 1` and verify the rewrites.

    student: the student (or its version) whose greedy verdicts pick the direction; every
    candidate parent must have one (see `missing_greedy`), else AdaptError names the command.
    The rewrites are not measured here: `pipeline.adapt_round` measures them next.
    """
    from ..parsing import parse_sample_json
    from ..prompts import rewrite_easier_messages, rewrite_harder_messages
    from .verify import VerifyConfig, verify_samples

    t0 = time.time()
    say = progress or (lambda msg: None)
    verify_config = verify_config or VerifyConfig()
    child_round = round + 1
    version = student if isinstance(student, str) else (student.version or student.describe())

    # 1. parents need a greedy verdict from this student: unknown is not "unsolved"
    parents = store.samples(round=round, status=CANDIDATE_STATUSES)
    missing = missing_greedy(store, version, round)
    if missing:
        shown = ",".join(map(str, missing[:20])) + (",..." if len(missing) > 20 else "")
        raise AdaptError(
            f"run {store.name}: {len(missing)} round-{round} samples have no greedy answer from student "
            f"{version} (ids {shown}), so whether to rewrite them harder or easier is unknown; measure them "
            f"first: `synthrl measure {store.name} --samples {','.join(map(str, missing))}` "
            f"(or run `synthrl adapt {store.name}`, which measures them)")
    rates = store.pass_rates(version)

    # 2. skip parents already rewritten (or whose rewrite failed) in this round: resume
    done = store.rewritten_parents(child_round)
    jobs: list[tuple[Sample, str]] = []
    for s in parents:
        if s.id in done or s.id not in rates:
            continue
        direction = "harder" if rates[s.id].greedy_correct else "easier"
        if (direction == "harder" and config.harder) or (direction == "easier" and config.easier):
            jobs.append((s, direction))
    n_h = sum(1 for _, d in jobs if d == "harder")
    say(f"adapt round {child_round}: {len(parents)} samples in round {round}; rewriting {n_h} harder, "
        f"{len(jobs) - n_h} easier ({len(done)} already done)")
    store.log("adapt", f"round {child_round}: rewriting {len(jobs)} samples", harder=n_h, easier=len(jobs) - n_h,
              already_done=len(done))

    # 3. the teacher rewrites, in batches; every reply becomes a sample or a recorded failure
    params = GenerationParams(n=1, temperature=config.temperature, max_tokens=config.max_tokens,
                              json_schema=SAMPLE_SCHEMA if config.json_schema else None)
    made = {"harder": 0, "easier": 0}
    failures = 0
    for start in range(0, len(jobs), config.batch_size):
        block = jobs[start:start + config.batch_size]
        convs = [rewrite_harder_messages(task, s) if d == "harder" else rewrite_easier_messages(task, s)
                 for s, d in block]
        replies = teacher.chat(convs, params)
        for (parent, direction), comps in zip(block, replies):
            text = comps[0].text if comps else ""
            obj, reason = parse_sample_json(text)
            if obj is None:
                failures += 1
                store.add_failure("adapt", "parse", f"{direction} rewrite of sample {parent.id}: {reason}",
                                  raw=text, round=child_round, sample_id=parent.id)
                continue
            store.add_sample(Sample(None, question=obj["input"], answer=obj["output"], round=child_round,
                                    origin=direction, parent_id=parent.id, passage_id=parent.passage_id,
                                    status="pending"))
            made[direction] += 1
        store.set_progress("adapt", min(start + len(block), len(jobs)), len(jobs), "running",
                           f"round {child_round}: rewrites")
        say(f"adapt round {child_round}: {min(start + len(block), len(jobs))}/{len(jobs)} rewritten, "
            f"{failures} unparseable")

    # 4. verify every pending rewrite of this round (new ones and any left by an interrupted run)
    pending = [s.id for s in store.samples(round=child_round, status="pending") if s.parent_id is not None]
    if pending:
        say(f"adapt round {child_round}: verifying {len(pending)} rewrites")
        verify_samples(store, task, teacher, pending, verify_config)
    kids = [s for s in store.samples(round=child_round) if s.parent_id is not None]
    verified = [s for s in kids if s.status in CANDIDATE_STATUSES]
    dropped = sum(1 for s in kids if s.status == "dropped")

    seconds = time.time() - t0
    report = AdaptReport(child_round, len(parents), made["harder"], made["easier"], failures, len(verified),
                         dropped, 0, seconds)
    store.log("adapt", f"round {child_round}: {made['harder']} harder, {made['easier']} easier, {failures} "
              f"unparseable, {len(verified)} verified, {dropped} dropped",
              **{"adapt/harder": made["harder"], "adapt/easier": made["easier"], "adapt/parse_failures": failures,
                 "adapt/verified": len(verified), "adapt/dropped": dropped, "round": child_round})
    store.set_progress("adapt", len(jobs), len(jobs), "done", f"round {child_round} done")
    say(f"adapt round {child_round}: done: {len(verified)} verified rewrites")
    return report


# -- query helpers for plots ------------------------------------------------------------------
@dataclass(frozen=True)
class HistogramBin:
    lo: float
    hi: float
    count: int


@dataclass(frozen=True)
class Shift:
    """How a rewrite's pass rate compares with its parent's."""

    parent_id: int
    parent_p: float
    child_id: int
    child_p: float
    direction: str  # harder | easier

    @property
    def moved_as_intended(self) -> bool:
        return self.child_p < self.parent_p if self.direction == "harder" else self.child_p > self.parent_p


def _rates(store, round: int | None, model_version: str | None, origin: str | None = None) -> dict[int, float]:
    version = model_version or default_model_version(store)
    if version is None:
        return {}
    rates = store.pass_rates(version)
    pool = store.samples(round=round, status=CANDIDATE_STATUSES, origin=origin)
    return {s.id: rates[s.id].rate for s in pool if s.id in rates}


def pass_rate_histogram(store, round: int | None = None, model_version: str | None = None, bins: int = 10,
                        origin: str | None = None) -> list[HistogramBin]:
    """Counts of candidate samples per pass-rate bin ([0, 1/bins), ..., [1 - 1/bins, 1])."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    counts = [0] * bins
    for p in _rates(store, round, model_version, origin).values():
        counts[min(int(p * bins), bins - 1)] += 1
    return [HistogramBin(i / bins, (i + 1) / bins, c) for i, c in enumerate(counts)]


def parent_child_shifts(store, model_version: str | None = None) -> list[Shift]:
    """One record per measured rewrite whose parent is measured too."""
    version = model_version or default_model_version(store)
    if version is None:
        return []
    rates = store.pass_rates(version)
    out = []
    for child in store.samples():
        if child.parent_id is None or child.origin not in ("harder", "easier"):
            continue
        if child.id in rates and child.parent_id in rates:
            out.append(Shift(child.parent_id, rates[child.parent_id].rate, child.id, rates[child.id].rate,
                             child.origin))
    return out


def learnable_share(store, round: int | None = None, model_version: str | None = None,
                    lo: float | None = None, hi: float | None = None) -> float:
    """Share of measured candidates in the learnable band: 0 < p < 1 by default (the student
    sometimes but not always solves them, so GRPO's rewards differ), or lo <= p <= hi."""
    rates = list(_rates(store, round, model_version).values())
    if not rates:
        return 0.0
    inside = sum(1 for p in rates if (p > 0 if lo is None else p >= lo) and (p < 1 if hi is None else p <= hi))
    return inside / len(rates)
