"""Stage: measure the student's pass rate on every sample.

The student answers each sample once greedily (is it solved?) and L times by
sampling (how often?). Student rollouts dominate the cost of the whole method
(~1,000 samples x 64), so they are batched: many conversations per backend call
and n=L completions per conversation, so each prompt is encoded once. Every
attempt is stored with the student's version, so a trained checkpoint measured
on the same samples keeps its own record.

    report = measure(store, task, student, MeasureConfig(rollouts=16))
    store.pass_rates(student.version)[sample_id].rate

Resumable: already-measured samples are skipped; a sample interrupted half-way
has no pass rate yet, so its partial attempts are replaced when it is redone.
An edited sample has lost its pass rates (`RunStore.edit_sample`), so the next
`measure` measures it again; storing its new pass rate clears "needs re-measure".
The first student version measured is recorded as the run's base student.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .. import scoring
from ..backends.base import ChatModel, GenerationParams
from ..stopping import AnswerStop
from ..prompts import student_messages
from ..records import Attempt, PassRate, Sample
from . import sequential as seq
from .select import CANDIDATE_STATUSES, SelectConfig

Progress = Callable[[str], None]


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass
class MeasureConfig:
    """How the student's pass rates are measured."""

    rollouts: int = _help("L: sampled answers per sample (paper: 64)", 64)
    temperature: float = _help("sampling temperature of the L answers (paper text: 0.7; its code: 1.2)", 0.7)
    top_p: float = _help("nucleus sampling of the L answers", 1.0)
    max_tokens: int = _help("longest student answer, in tokens", 512)
    greedy: bool = _help("also answer once greedily (decides harder/easier in adaptation)", True)
    stop_at_answer: bool = _help("stop each answer once the task's answer format is complete "
                                 "(synthrl/stopping.py; what is graded is unchanged)", True)
    batch_size: int = _help("rollouts per backend call (conversations x n); conversations are packed "
                            "so each call generates about this many answers", 64)
    sequential: bool = _help("stop sampling a sample once its selection decision is settled "
                             "(beyond the paper; see stages/sequential.py)", False)
    chunk: int = _help("sequential: rollouts per sample per step", 8)
    confidence: float = _help("sequential: confidence of the interval that must clear every threshold "
                              "(checked after every chunk; bench/sequential.py)", 0.9)
    interval: str = _help("sequential: wilson or clopper-pearson", "wilson")
    zero_floor: float = _help("sequential: call a never-solved sample unsolvable once its upper bound is "
                              "below this (0: spend the full budget to tell p=0 from rare successes)", 0.0)
    seed: int | None = _help("base random seed of the sampled answers (None: not seeded)", 0)
    remeasure: bool = _help("measure samples that already have a pass rate for this student again", False)

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"measure.{name}: {why}, got {getattr(self, name)!r}")

        for name in ("rollouts", "max_tokens", "batch_size", "chunk"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(name, "must be a positive integer")
        if self.temperature <= 0:
            bad("temperature", "must be > 0 for sampled answers (the greedy answer is separate)")
        if not 0 < self.top_p <= 1:
            bad("top_p", "must be in (0, 1]")
        if not 0.5 <= self.confidence < 1:
            bad("confidence", "must be in [0.5, 1)")
        if self.interval not in seq.METHODS:
            bad("interval", f"must be one of {', '.join(seq.METHODS)}")
        if not 0 <= self.zero_floor < 1:
            bad("zero_floor", "must be in [0, 1)")


@dataclass(frozen=True)
class MeasureReport:
    model_version: str
    measured: int
    skipped: int
    rollouts: int
    budget: int  # rollouts a fixed-L run would have used
    greedy_correct: int
    mean_pass_rate: float
    seconds: float

    @property
    def rollouts_per_s(self) -> float:
        return self.rollouts / self.seconds if self.seconds > 0 else 0.0


def _targets(store, sample_ids: Iterable[int] | None) -> list[Sample]:
    if sample_ids is None:
        return store.samples(status=CANDIDATE_STATUSES)
    out, missing = [], []
    for i in sample_ids:
        s = store.sample(int(i))
        (out if s is not None else missing).append(s if s is not None else i)
    if missing:
        raise ValueError(f"run {store.name} has no sample(s) {', '.join(map(str, missing))}")
    return out


def _reference(s: Sample) -> str | None:
    return s.reference if s.reference not in (None, "") else (s.answer or None)


def measure(store, task, student: ChatModel, config: MeasureConfig, sample_ids: Iterable[int] | None = None,
            progress: Progress | None = None, *, remeasure: bool | None = None,
            select_config: SelectConfig | None = None) -> MeasureReport:
    """Measure `student` on the run's candidates (or on `sample_ids`) and store attempts and pass rates.

    remeasure: redo samples already measured for this student version; default: True when
    `sample_ids` are given (re-measuring named samples replaces their attempts), else
    `config.remeasure`. select_config: the rule whose decisions sequential stopping keeps.
    """
    version = student.version or student.describe()
    if remeasure is None:
        remeasure = sample_ids is not None or config.remeasure
    targets = _targets(store, sample_ids)
    done = store.pass_rates(version)
    todo, skipped = [], 0
    for s in targets:
        if _reference(s) is None:
            store.log("measure", f"sample {s.id} has no reference answer yet (status {s.status}); not measured",
                      level="warning")
            skipped += 1
        elif s.id in done and not remeasure:
            skipped += 1
        else:
            todo.append(s)

    t0 = time.time()
    say = progress or (lambda msg: None)
    total = len(todo)
    budget = total * config.rollouts
    if not todo:
        say(f"measure: nothing to do ({skipped} samples already measured for {version})")
        return MeasureReport(version, 0, skipped, 0, 0, 0, _mean_rate(store, version), 0.0)
    mode = "sequentially, " if config.sequential else ""
    say(f"measure: {total} samples x (1 greedy + {'up to ' if config.sequential else ''}"
        f"{config.rollouts} sampled) answers, {mode}student {version}")
    store.log("measure", f"measuring {total} samples with {version}", rollouts=config.rollouts,
              sequential=config.sequential, skipped=skipped)
    store.set_progress("measure", 0, total, "running", f"measuring {total} samples")
    # the first student measured is the run's base: selection ranks by its pass rates by default
    base = store.record_base_student_version(version)
    if base != version:
        store.log("measure", f"measuring {version}; the run's base student stays {base} "
                  "(selection uses its pass rates unless --model-version says otherwise)")

    runner = _Runner(store, task, student, config, version)
    if config.sequential:
        finished = runner.run_sequential(todo, select_config or SelectConfig(), say)
    else:
        finished = runner.run_fixed(todo, say)

    seconds = time.time() - t0
    rates = [pr.rate for pr in finished]
    report = MeasureReport(
        version, len(finished), skipped, runner.rollouts, budget,
        sum(1 for pr in finished if pr.greedy_correct), sum(rates) / len(rates) if rates else 0.0, seconds,
    )
    metrics = {"measure/pass_rate": report.mean_pass_rate, "measure/samples": report.measured,
               "measure/rollouts": report.rollouts, "measure/rollouts_per_s": report.rollouts_per_s,
               "measure/unsolved_share": sum(1 for r in rates if r == 0) / len(rates) if rates else 0.0}
    if config.greedy and finished:
        metrics["measure/greedy_accuracy"] = report.greedy_correct / len(finished)
    if config.sequential and budget:
        metrics["measure/rollouts_saved"] = 1 - report.rollouts / budget
    step = store.last_metric_step("measure") + 1
    store.add_metrics(step, metrics, tag="measure")
    store.log("measure", f"measured {report.measured} samples: mean pass rate {report.mean_pass_rate:.3f}, "
              f"{report.rollouts} rollouts in {seconds:.1f}s", model_version=version, **metrics)
    store.set_progress("measure", total, total, "done", f"mean pass rate {report.mean_pass_rate:.3f}")
    say(f"measure: done: {report.measured} samples, mean pass rate {report.mean_pass_rate:.2f}, "
        f"greedy solved {report.greedy_correct}, {report.rollouts} rollouts "
        f"({report.rollouts_per_s:.1f}/s)" + (f", {1 - report.rollouts / budget:.0%} fewer than fixed L"
                                              if config.sequential else ""))
    return report


def _mean_rate(store, version: str) -> float:
    rates = [pr.rate for pr in store.pass_rates(version).values()]
    return sum(rates) / len(rates) if rates else 0.0


class _Runner:
    """Generates, scores and stores the attempts of one measure() call."""

    def __init__(self, store, task, student: ChatModel, config: MeasureConfig, version: str):
        self.store, self.task, self.student, self.cfg, self.version = store, task, student, config, version
        self.rollouts = 0
        self._calls = 0

    # -- generation ------------------------------------------------------------
    def _generate(self, samples: list[Sample], n: int, greedy: bool) -> list[list[str]]:
        """n answers for each sample, packed into calls of about batch_size answers."""
        cfg = self.cfg
        per_call = max(1, cfg.batch_size // n)
        out: list[list[str]] = []
        for start in range(0, len(samples), per_call):
            block = samples[start:start + per_call]
            convs = [student_messages(self.task, s.question) for s in block]
            stop = AnswerStop.for_task(self.task) if cfg.stop_at_answer else None
            if greedy:
                params = GenerationParams(n=1, temperature=0.0, top_p=1.0, max_tokens=cfg.max_tokens, stop=stop)
            else:
                seed = None if cfg.seed is None else cfg.seed + self._calls
                params = GenerationParams(n=n, temperature=cfg.temperature, top_p=cfg.top_p,
                                          max_tokens=cfg.max_tokens, seed=seed, stop=stop)
            self._calls += 1
            result = self.student.chat(convs, params)
            if len(result) != len(block) or any(len(r) != params.n for r in result):
                raise RuntimeError(f"student backend {self.student.describe()} returned "
                                   f"{[len(r) for r in result]} completions for {len(block)} x {params.n}")
            out.extend([c.text for c in r] for r in result)
            if not greedy:
                self.rollouts += n * len(block)
        return out

    def _attempts(self, s: Sample, texts: list[str], kind: str) -> list[Attempt]:
        ref = _reference(s)
        temp = 0.0 if kind == "greedy" else self.cfg.temperature
        return [Attempt(s.id, self.version, kind, t, scoring.extract(t, self.task),
                        scoring.is_correct(t, ref, self.task), temp) for t in texts]

    def _store(self, s: Sample, greedy: list[Attempt], sampled: list[Attempt]) -> PassRate:
        st = self.store
        st.clear_attempts(s.id, self.version)
        st.add_attempts(greedy + sampled)
        pr = PassRate(s.id, self.version, len(sampled), sum(a.correct for a in sampled),
                      greedy[0].correct if greedy else None)
        st.set_pass_rate(pr)
        return pr

    # -- fixed L (the paper) ---------------------------------------------------------
    def run_fixed(self, todo: list[Sample], say: Progress) -> list[PassRate]:
        cfg = self.cfg
        # a progress step holds about one call's worth of rollouts, at least one sample
        step = max(1, cfg.batch_size // cfg.rollouts)
        finished: list[PassRate] = []
        greedy: dict[int, list[str]] = {}
        for start in range(0, len(todo), step):
            block = todo[start:start + step]
            if cfg.greedy and block[0].id not in greedy:
                # greedy answers are one per sample: batch them wider than the sampled ones
                ahead = todo[start:start + max(step, cfg.batch_size)]
                greedy.update({s.id: g for s, g in zip(ahead, self._generate(ahead, 1, greedy=True))})
            sampled = self._generate(block, cfg.rollouts, greedy=False)
            for s, xs in zip(block, sampled):
                g = self._attempts(s, greedy.pop(s.id, []), "greedy")
                finished.append(self._store(s, g, self._attempts(s, xs, "sample")))
            self._report(len(finished), len(todo), finished, say)
        return finished

    def _report(self, done: int, total: int, finished: list[PassRate], say: Progress) -> None:
        self.store.set_progress("measure", done, total, "running",
                                f"{done}/{total} samples, {self.rollouts} rollouts")
        mean = sum(pr.rate for pr in finished) / len(finished) if finished else 0.0
        say(f"measure: {done}/{total} samples, mean pass rate so far {mean:.2f}")

    # -- sequential stopping -------------------------------------------------------------
    def run_sequential(self, todo: list[Sample], select_config: SelectConfig, say: Progress) -> list[PassRate]:
        cfg = self.cfg
        by_id = {s.id: s for s in todo}
        greedy: dict[int, list[Attempt]] = {s.id: [] for s in todo}
        if cfg.greedy:
            for s, g in zip(todo, self._generate(todo, 1, greedy=True)):
                greedy[s.id] = self._attempts(s, g, "greedy")
        sampled: dict[int, list[Attempt]] = {s.id: [] for s in todo}
        # other candidates already measured for this student take part in the top-M cut
        prior = {i: pr.rate for i, pr in self.store.pass_rates(self.version).items() if i not in by_id}
        finished: list[PassRate] = []

        def draw(want: dict[int, int]) -> dict[int, int]:
            got = {}
            for n in sorted(set(want.values())):
                block = [by_id[i] for i, k in want.items() if k == n]
                for s, texts in zip(block, self._generate(block, n, greedy=False)):
                    new = self._attempts(s, texts, "sample")
                    sampled[s.id].extend(new)
                    got[s.id] = sum(a.correct for a in new)
            return got

        def on_chunk(counts, active):
            for i in counts:
                if i not in active and i not in stored:
                    stored.add(i)
                    finished.append(self._store(by_id[i], greedy[i], sampled[i]))
            self._report(len(finished), len(todo), finished, say)

        stored: set[int] = set()
        seq.run_sequential(
            [s.id for s in todo], draw, max_n=cfg.rollouts, chunk=cfg.chunk,
            boundaries=lambda est: seq.decision_boundaries(est, select_config),
            confidence=cfg.confidence, method=cfg.interval, zero_floor=cfg.zero_floor, prior=prior,
            on_chunk=on_chunk,
        )
        return finished
