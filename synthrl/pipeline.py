"""The whole loop in one call, resumable.

ingest -> generate (+ verify) -> measure -> adapt -> select [-> train -> evaluate]

Each stage first looks at what the run store already holds and only does what
is missing, so running the pipeline again after a crash, a kill or Ctrl-C
continues where it stopped; running it on a finished run does nothing.

    run_pipeline("demo", task_path="assets/tasks/demo_addition.yaml",
                 docs=["assets/corpus/demo_addition"], profile="tiny")
    run_pipeline("demo", stages=["measure", "adapt", "select"])   # later, more of the same run

The config used is recorded in the store (key "run_config"; model specs hold the
NAME of an API key's variable, never a key), and every stage logs start and end
events under "pipeline".

The loop is the list PIPELINE of Stage objects (name, config section, lock, skip, missing,
run; see Stage): run_pipeline skips, locks, asks each what is missing and runs it.
Progress goes through one type, synthrl.progress.Progress.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .config import OPTIONAL, RunConfig, resolve_config
from .locks import stage_lock
from .progress import Progress, ProgressLike

STAGES = ("ingest", "generate", "measure", "adapt", "select", "train", "evaluate")


class PipelineError(RuntimeError):
    """The pipeline cannot start or go on; the message says what to fix."""


@dataclass
class PipelineReport:
    run: str
    stages: list[str] = field(default_factory=list)   # stages that ran (did work or checked they had none)
    skipped: list[str] = field(default_factory=list)  # stages not run, with why
    selection_id: int | None = None
    export: str | None = None
    seconds: float = 0.0


def stages_until(stage: str) -> list[str]:
    """The stages up to and including `stage` (for --until)."""
    if stage not in STAGES:
        raise PipelineError(f"unknown stage {stage!r}: choose one of {', '.join(STAGES)}")
    return list(STAGES[: STAGES.index(stage) + 1])


class _Models:
    """Loads teacher and student on first use; the same spec is loaded once and shared."""

    def __init__(self, config: RunConfig, store, say: Progress):
        self.config, self.store, self.say = config, store, say
        self._cache: dict[str, object] = {}

    def _load(self, role: str):
        from .backends.spec import load_model

        spec = getattr(self.config, role)
        key = repr(sorted(spec.to_dict().items()))
        if key not in self._cache:
            self.say(f"loading the {role} ({spec.describe()})")
            self._cache[key] = load_model(spec, on_event=lambda level, msg: self.store.log(role, msg, level=level))
        return self._cache[key]

    @property
    def teacher(self):
        return self._load("teacher")

    @property
    def student(self):
        return self._load("student")

    def close(self) -> None:
        for m in self._cache.values():
            try:
                m.close()
            except Exception:
                pass
        self._cache.clear()


def _resolve_config(store, config, profile: str | None, say: Progress) -> RunConfig:
    """A RunConfig as given, else synthrl.config.resolve_config (one precedence for every caller).

    Without a file, `profile` (run_pipeline's default "tiny") only picks where a run with
    nothing recorded starts: a recorded run continues with its own settings.
    """
    if isinstance(config, RunConfig):
        return config
    if config is not None:
        return resolve_config(store, config, profile)
    stored = store.get_config("run_config")
    if stored is not None and profile and profile != stored.get("profile"):
        say(f"note: run {store.name} was started with profile {stored.get('profile')!r}; continuing with it "
            f"(give --config to change settings)")
    return resolve_config(store, fallback=profile or "tiny")


# -- the stage protocol ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Missing:
    """What a stage still has to do in the run store: `todo` false means nothing (`note` says why)."""

    todo: bool = True
    note: str = ""


@dataclass
class StageContext:
    """What a stage runs with: the run, its task, the resolved config, the models, progress, the report."""

    store: object
    task: object
    cfg: RunConfig
    docs: list
    models: "_Models"
    progress: Progress
    report: PipelineReport


class Stage:
    """One stage of the loop: the unit the pipeline runs, resumes and reports.

    name      as in STAGES (and --until, `stages=[...]`)
    section   the RunConfig section holding its settings (None: it has none)
    lock      the stage lock it holds (the stage command's: the same stage never runs twice at once)
    skip      why it is not run with this config and these inputs (None: it runs)
    missing   what is left to do in the store (Missing(False, note): nothing; the note is said)
    run       do what is missing; stage functions resume on their own where they stopped

    A new stage is a subclass in PIPELINE (in loop order); nothing else in the pipeline changes.
    """

    name: str = ""
    section: str | None = None
    lock: str | None = None

    def skip(self, ctx: StageContext) -> str | None:
        if self.section in OPTIONAL and getattr(ctx.cfg, self.section) is None:
            return f"{_OFF.get(self.section, self.section)} is off in the config ({self.section}: null)"
        return None

    def missing(self, ctx: StageContext) -> Missing:
        return Missing()

    def run(self, ctx: StageContext) -> None:
        raise NotImplementedError

    @property
    def lock_name(self) -> str:
        return self.lock or self.name


_OFF = {"train": "training", "evaluate": "evaluation"}


class IngestStage(Stage):
    name = "ingest"

    def skip(self, ctx):
        return None if ctx.docs else "no documents given (--docs)"

    def run(self, ctx):
        from .retrieval import ingest

        rep = ingest(ctx.store, list(ctx.docs), progress=ctx.progress.items("ingest"))
        ctx.progress(f"ingest: {rep.summary()}")


class GenerateStage(Stage):
    name, section = "generate", "generate"

    def missing(self, ctx):
        from .stages.generate import COUNTED_STATUSES

        n = ctx.cfg.generate.n
        have = ctx.store.count_samples(round=0, origin="generated", status=COUNTED_STATUSES)
        pending = ctx.store.samples(round=0, origin="generated", status="pending")
        if have >= n and not pending:
            return Missing(False, f"generate: the run already holds {have} of {n} samples")
        return Missing(True, f"{max(0, n - have)} samples, {len(pending)} pending")

    def run(self, ctx):
        from .stages.generate import generate
        from .stages.verify import verify_samples

        store, task, cfg = ctx.store, ctx.task, ctx.cfg
        counts = ctx.progress.counts("generate", "samples")
        if cfg.generate.questions == "demos":
            from .stages.demo_questions import generate_from_demos

            rep = generate_from_demos(store, task, ctx.models.teacher, cfg.generate, cfg.verify, progress=counts)
        else:
            rep = generate(store, task, ctx.models.teacher, cfg.generate, verify_config=cfg.verify,
                           progress=counts, bundled=cfg.teacher.is_bundled)
        # generate verifies what it writes; anything still pending (a teacher hiccup) is retried here
        left = [s.id for s in store.samples(round=0, status="pending")]
        if left:
            verify_samples(store, task, ctx.models.teacher, left, cfg.verify)
        ctx.progress(f"generate: {rep.summary()}")
        _say_label_accuracy(store, task, cfg, ctx.progress)


class MeasureStage(Stage):
    name, section = "measure", "measure"

    def missing(self, ctx):
        from .stages.select import CANDIDATE_STATUSES

        measured = ctx.store.pass_rates(_student_version(ctx.models))
        todo = [s for s in ctx.store.samples(status=CANDIDATE_STATUSES) if s.id not in measured]
        if not todo:
            return Missing(False, f"measure: all {len(measured)} candidates already measured")
        return Missing(True, f"{len(todo)} candidates to measure")

    def run(self, ctx):
        from .stages.measure import measure

        measure(ctx.store, ctx.task, ctx.models.student, ctx.cfg.measure, progress=ctx.progress,
                select_config=ctx.cfg.select)


class AdaptStage(Stage):
    name, section = "adapt", "adapt"

    def skip(self, ctx):
        return "adapt.rounds is 0" if ctx.cfg.adapt.rounds == 0 else None

    def run(self, ctx):
        cfg = ctx.cfg
        for r in range(cfg.adapt.rounds):
            adapt_round(ctx.store, ctx.task, ctx.models.teacher, ctx.models.student, cfg.adapt, r,
                        verify_config=cfg.verify, measure_config=cfg.measure, select_config=cfg.select,
                        progress=ctx.progress)


class SelectStage(Stage):
    name, section = "select", "select"

    def run(self, ctx):
        from .stages.select import select_report

        cfg = ctx.cfg
        if cfg.benchmark:
            # flag samples that repeat benchmark questions first, so the selection can leave them out
            from .contamination import check_run

            ev = cfg.evaluate
            fields = {"question_field": ev.question_field, "answer_field": ev.answer_field} if ev is not None else {}
            ctx.progress(f"contamination: {check_run(ctx.store, Path(cfg.benchmark).expanduser(), **fields).summary()}")
        ctx.report.selection_id = select_report(ctx.store, cfg.select, progress=ctx.progress, reuse=True).selection_id


class TrainStage(Stage):
    name, section = "train", "train"

    def missing(self, ctx):
        # a model belongs to the selection it was trained on: a new selection trains a new model
        sel = _current_selection(ctx.store, ctx.report)
        trained = ctx.store.trained_model(sel) if sel is not None else None
        if trained:
            return Missing(False, f"train: selection {sel} is already trained ({trained})")
        return Missing(True, f"selection {sel} to train")

    def run(self, ctx):
        from .stages.train import checkpoints_dir, latest_checkpoint, train

        sel = _current_selection(ctx.store, ctx.report)
        resume = sel is not None and latest_checkpoint(checkpoints_dir(ctx.store, sel)) is not None
        rep = train(ctx.store, ctx.cfg.train, resume=resume, selection_id=sel)
        ctx.progress(f"train: {rep.steps} steps on selection {rep.selection_id}"
                     + (f", model at {rep.final_model}" if rep.final_model else ""))


class EvaluateStage(Stage):
    name, section, lock = "evaluate", "evaluate", "eval"

    def skip(self, ctx):
        why = super().skip(ctx)
        if why is None and not ctx.cfg.benchmark:
            why = "no benchmark given (--benchmark FILE or benchmark: in the config)"
        return why

    def _targets(self, ctx):
        """(model, name, selection) for the base student and the current selection's trained model."""
        sel = _current_selection(ctx.store, ctx.report)
        trained = ctx.store.trained_model(sel) if sel is not None else None
        return [("base", "base", None)] + ([(trained, f"selection {sel}'s model", sel)] if trained else [])

    def run(self, ctx):
        from .stages.evaluate import evaluate

        store = ctx.store
        bench = str(Path(ctx.cfg.benchmark).expanduser().resolve())
        # evaluations are keyed by (model, selection, benchmark)
        done = {(e["model"], e.get("selection_id"), e["benchmark"]) for e in store.evaluations()}
        for target, name, sel_id in self._targets(ctx):
            if (target, sel_id, bench) in done:
                ctx.progress(f"evaluate: {name} already evaluated on {Path(bench).name}")
                continue
            eid = evaluate(store, ctx.task, target, bench, ctx.cfg.evaluate)
            ev = next(e for e in store.evaluations() if e["id"] == eid)
            ctx.progress(f"evaluate: {name}: accuracy {ev['n_correct']}/{ev['n']} = {ev['accuracy']:.3f}")


# The loop, in order. STAGES (the names) follows from it.
PIPELINE: tuple[Stage, ...] = (IngestStage(), GenerateStage(), MeasureStage(), AdaptStage(), SelectStage(),
                               TrainStage(), EvaluateStage())
STAGE_BY_NAME: dict[str, Stage] = {s.name: s for s in PIPELINE}
assert tuple(STAGE_BY_NAME) == STAGES, "PIPELINE and STAGES must name the same stages in the same order"


def run_pipeline(run, task_path: str | os.PathLike | None = None, docs: Iterable[str | os.PathLike] = (),
                 config: RunConfig | str | os.PathLike | None = None, profile: str | None = "tiny",
                 stages: Iterable[str] | None = None, progress: ProgressLike = print) -> PipelineReport:
    """Run (or continue) the loop on run `run` (a name or a folder); see the module doc.

    task_path: the task definition (needed the first time; later the run's snapshot is used).
    config: a RunConfig or a YAML file; default: the config the run was started with, else `profile`.
    stages: which stages to run (default all; train/evaluate only when the config enables them).
    progress: a text callback (or a synthrl.progress.Progress); None reports nothing.
    """
    from .store import RunStore
    from .task import load_task

    say = Progress.of(progress)
    t0 = time.time()
    store = RunStore.open(run)
    report = PipelineReport(run=store.name)
    wanted = list(STAGES) if stages is None else list(stages)
    for s in wanted:
        if s not in STAGES:
            raise PipelineError(f"unknown stage {s!r}: choose from {', '.join(STAGES)}")

    # the task: given (first run, or the same task again) or the run's snapshot
    if task_path is not None:
        task = load_task(task_path)
        held = store.get_config("task")
        if held is not None and held != task.to_dict():
            if held.get("name") != task.name or store.count_samples() > 0:
                raise PipelineError(
                    f"run {store.name} already holds task {held.get('name')!r} with different settings; "
                    f"start a new run (--run NAME) or continue this one without --task")
        store.save_task(task)
    else:
        task = store.load_task()

    cfg = _resolve_config(store, config, profile, say)
    store.set_config("run_config", cfg.to_dict())
    store.set_config("student", cfg.student.to_dict())
    store.log("pipeline", f"pipeline started: {cfg.describe()}; stages {', '.join(wanted)}", stages=wanted)
    say(f"run {store.name} ({store.dir}): task {task.name}; {cfg.describe()}")
    if cfg.teacher.is_bundled and any(s in wanted for s in ("generate", "adapt")):
        from .backends.spec import BUNDLED_TEACHER_NOTE

        say(f"note: {BUNDLED_TEACHER_NOTE}")

    models = _Models(cfg, store, say)
    ctx = StageContext(store, task, cfg, list(docs), models, say, report)
    done_stages = 0
    try:
        for stage in (STAGE_BY_NAME[name] for name in wanted):
            why_not = stage.skip(ctx)
            if why_not:
                report.skipped.append(f"{stage.name}: {why_not}")
                say(f"[{stage.name}] skipped: {why_not}")
                continue
            store.set_progress("pipeline", done_stages, len(wanted), "running", f"stage {stage.name}")
            store.log("pipeline", f"stage {stage.name} started", name=stage.name)
            t = time.time()
            say(f"[{stage.name}]")
            # the stage commands' lock: the same stage cannot run twice at once on this run
            with stage_lock(store.dir, stage.lock_name):
                left = stage.missing(ctx)
                if left.todo:
                    stage.run(ctx)
                elif left.note:
                    say(left.note)
            done_stages += 1
            report.stages.append(stage.name)
            store.log("pipeline", f"stage {stage.name} finished in {time.time() - t:.1f}s", name=stage.name,
                      seconds=time.time() - t)
    except BaseException as e:
        state = "cancelled" if isinstance(e, KeyboardInterrupt) else "failed"
        store.set_progress("pipeline", done_stages, len(wanted), state, f"{type(e).__name__}: {e}"[:300])
        store.log("pipeline", f"pipeline {state}: {type(e).__name__}: {e}; run it again to resume",
                  level="error")
        raise
    finally:
        models.close()
    report.seconds = time.time() - t0
    store.set_progress("pipeline", len(wanted), len(wanted), "done", f"finished in {report.seconds:.0f}s")
    store.log("pipeline", f"pipeline finished in {report.seconds:.1f}s", stages=report.stages,
              skipped=report.skipped)
    say(f"done in {report.seconds:.0f}s: `synthrl status {store.name}` shows the run")
    return report


def _say_label_accuracy(store, task, cfg: RunConfig, say: Progress) -> None:
    """The demo profile knows its task's answers (the sum of a question's two numbers): it reports how
    many kept labels are right. An oracle for reporting only; labels never come from it."""
    if cfg.profile != "demo" or task.name != "demo_addition":
        return
    from .stages.demo_questions import label_accuracy

    acc = label_accuracy(store)
    if acc["total"]:
        store.set_config("label_accuracy", acc)
        store.log("generate", f"label accuracy (demo oracle): {acc['right']}/{acc['total']} kept labels right "
                              f"({acc['dropped']} samples dropped by the vote)", **{"generate/label_accuracy":
                                                                                   acc["accuracy"]})
        say(f"generate: label accuracy (demo oracle) {acc['right']}/{acc['total']} = {acc['accuracy']:.2f}")


def _current_selection(store, report: PipelineReport) -> int | None:
    """The selection this pipeline run made (or kept), else the run's latest."""
    if report.selection_id is not None:
        return report.selection_id
    latest = store.latest_selection()
    return latest["id"] if latest else None


def adapt_round(store, task, teacher, student, adapt_config, round: int, *, verify_config=None,
                measure_config=None, select_config=None, progress: ProgressLike = None):
    """One adaptation round, composed: measure the greedy answers the parents lack, rewrite
    (adapt), then measure the verified rewrites. Used by the pipeline and `synthrl adapt`.

        rep = adapt_round(store, task, teacher, student, AdaptConfig(), 0, measure_config=MeasureConfig(rollouts=8))
    """
    import dataclasses

    from .stages.adapt import adapt, learnable_share, missing_greedy
    from .stages.measure import MeasureConfig, measure
    from .stages.select import CANDIDATE_STATUSES

    say = Progress.of(progress)
    mcfg = measure_config or MeasureConfig()
    version = student.version or student.describe()
    # 1. a parent's direction needs its greedy verdict: measure (or re-measure, greedy on) those without
    missing = missing_greedy(store, version, round)
    if missing:
        say(f"adapt round {round + 1}: measuring the greedy answers of {len(missing)} samples first")
        measure(store, task, student, dataclasses.replace(mcfg, greedy=True), sample_ids=missing,
                progress=progress, remeasure=True, select_config=select_config)
    # 2. rewrite and verify
    rep = adapt(store, task, teacher, version, adapt_config, round=round, verify_config=verify_config,
                progress=progress)
    # 3. measure the verified rewrites not measured yet (a resumed round skips those already done)
    rates = store.pass_rates(version)
    todo = [s.id for s in store.samples(round=round + 1, status=CANDIDATE_STATUSES)
            if s.parent_id is not None and s.id not in rates]
    measured = 0
    if todo:
        measured = measure(store, task, student, mcfg, sample_ids=todo, progress=progress, remeasure=False,
                           select_config=select_config).measured
    share = learnable_share(store, model_version=version)
    store.log("adapt", f"round {round + 1}: {measured} rewrites measured; {share:.0%} of the pool in the "
              "learnable band", **{"adapt/measured": measured, "adapt/learnable_share": share,
                                   "round": round + 1})
    say(f"adapt round {round + 1}: {share:.0%} of the pool is now in the learnable band")
    return dataclasses.replace(rep, measured=measured)


def _student_version(models: _Models) -> str:
    s = models.student
    return s.version or s.describe()
