"""Stage commands: measure, adapt, select, export, and `run` (the whole loop).

    synthrl run --task assets/tasks/demo_addition.yaml --docs assets/corpus/demo_addition --profile tiny --run demo
    synthrl measure demo --samples 3,7 --rollouts 16
    synthrl adapt demo --rounds 1
    synthrl select demo --rule band --lo 0.1 --hi 0.6 --m 200
    synthrl export demo --format hf

Settings come from synthrl.config.resolve_config, one precedence for every command:
defaults < --profile < the run's recorded config < --config FILE < --set < the command's
own flags. --print-config prints the result as YAML and runs nothing.
"""
from __future__ import annotations

import argparse
import sys

PROFILE_CHOICES = ("tiny", "paper", "demo")

from .flags import add_field_flags, field_overrides
from .run_arg import add_run_argument, cancel_on_sigterm, open_run, run_location, stage_guard


def register(sub: argparse._SubParsersAction) -> None:
    from ..stages.select import rule_names, rules_help

    p = sub.add_parser("measure", help="student pass rates: 1 greedy + L sampled answers per sample",
                       description="Measure the student's pass rate on the run's verified samples. Already "
                                   "measured samples are skipped (edited samples lost their pass rates, so "
                                   "they are measured again); --samples re-measures the given ones.")
    add_run_argument(p)
    p.add_argument("--samples", default=None, metavar="IDS", help="comma-separated sample ids to (re-)measure")
    add_field_flags(p, "measure", ["rollouts", "temperature", "max_tokens", "batch_size", "sequential"],
                    metavars={"rollouts": "L"})
    p.add_argument("--remeasure", action="store_true", help="measure already-measured samples again")
    add_student_args(p)
    add_config_args(p)
    p.set_defaults(func=cmd_measure)

    p = sub.add_parser("adapt", help="rewrite solved samples harder and unsolved ones easier, verify, measure")
    add_run_argument(p)
    add_field_flags(p, "adapt", ["rounds"])
    add_field_flags(p, "verify", ["votes"])
    add_field_flags(p, "measure", ["rollouts"], metavars={"rollouts": "L"})
    add_student_args(p)
    _add_teacher_args(p)
    add_config_args(p)
    p.set_defaults(func=cmd_adapt)

    p = sub.add_parser("select", help="choose the training set by pass rate",
                       description="Rank the measured candidates by a selection rule and keep the first M. Rules: "
                                   + rules_help())
    add_run_argument(p)
    p.add_argument("--rule", choices=rule_names(), default=None, help="selection rule (default: paper)")
    p.add_argument("--m", type=int, default=None, metavar="M", help="samples to keep (paper: 500)")
    p.add_argument("--lo", type=float, default=None, help="band/top: lowest pass rate kept")
    p.add_argument("--hi", type=float, default=None, help="band/top: highest pass rate kept")
    p.add_argument("--drop-unsolved", action="store_true", default=None,
                   help="paper: drop never-solved samples instead of ranking them last")
    p.add_argument("--model-version", default=None, help="whose pass rates (default: the run's base student, the version it measured first)")
    add_config_args(p)
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("export", help="write a selection as JSONL, Parquet or a HF dataset (TRL-ready)")
    add_run_argument(p)
    p.add_argument("--format", choices=("jsonl", "parquet", "hf"), default="jsonl", help="output format")
    p.add_argument("--out", default=None, metavar="PATH", help="where to write (default: <run>/exports/)")
    p.add_argument("--selection", type=int, default=None, metavar="ID", help="selection id (default: the latest)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("run", help="the whole loop: ingest, generate, measure, adapt, select, train, evaluate",
                       description="Run the loop into one run folder. Resumable: run the same command again "
                                   "after an interruption and it continues where it stopped.")
    p.add_argument("--task", default=None, metavar="FILE", help="task definition (needed to start a run)")
    p.add_argument("--docs", nargs="*", default=[], metavar="PATH", help="documents or folders to ground samples in")
    add_config_args(p, "tiny: minutes on a CPU with the bundled model; paper: the paper's settings; demo: the "
                       "bundled model learns two-number addition on 2 CPU cores (docs/results.md)")
    p.add_argument("--run", default=None, metavar="NAME",
                   help="run name, a plain name under the runs folder (default: the task's name)")
    p.add_argument("--run-dir", default=None, metavar="PATH",
                   help="the run's folder, anywhere on disk (instead of --run)")
    p.add_argument("--until", default=None, metavar="STAGE",
                   help="stop after this stage (ingest, generate, measure, adapt, select, train, evaluate)")
    p.add_argument("--benchmark", default=None, metavar="FILE", help="held-out JSONL for the evaluate stage")
    p.set_defaults(func=cmd_run)


# -- shared helpers ---------------------------------------------------------------------------
def add_student_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("student (default: the run's recorded student, else the bundled model)")
    g.add_argument("--student-backend", default=None, help="transformers | openai | vllm")
    g.add_argument("--student-model", default=None,
                   help="folder, hub id in the local cache, 'bundled', or 'latest' (the run's trained weights)")
    g.add_argument("--student-url", default=None, help="OpenAI-compatible base URL")
    g.add_argument("--student-key-env", default=None,
                   help="NAME of the environment variable holding the API key (never the key itself)")


def _add_teacher_args(p: argparse.ArgumentParser) -> None:
    try:
        from .data import add_teacher_args
    except ImportError:  # pragma: no cover - the data commands ship with synthrl
        return
    add_teacher_args(p)


def _user_error(e: Exception):
    from ..cli import UserError

    return UserError(str(e))


def _open(run: str, create: bool = False):
    from ..store import RunStore

    try:
        return RunStore.open(run, create=create)
    except ValueError as e:
        raise _user_error(e) from None


def add_config_args(p: argparse.ArgumentParser, profile_help: str = "start from this profile") -> None:
    """The flags every stage-running command shares; synthrl.config.resolve_config reads them."""
    p.add_argument("--config", default=None, metavar="FILE", help="run config YAML (see synthrl/config.py)")
    p.add_argument("--profile", choices=PROFILE_CHOICES, default=None, help=profile_help)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, e.g. --set measure.rollouts=16 (repeatable)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config (YAML) and exit")


def _overrides(args: argparse.Namespace) -> list[str]:
    benchmark = getattr(args, "benchmark", None)
    return list(getattr(args, "set", None) or []) + ([f"benchmark={benchmark}"] if benchmark else [])


def _run_config(store, args: argparse.Namespace | None = None, flags: dict | None = None, *,
                section: str | None = None, resume: bool = False):
    """The settings of this stage command: synthrl.config.resolve_config over the run's store.

    With nothing recorded and no profile named, the stage commands start from the paper
    profile (a run made by `synthrl generate` records no run config, and the tiny profile's
    token budgets would cut a real model's replies short); `synthrl run` starts from tiny.
    flags: this command's own flags as {section: {key: value}} (None values are not given);
    they go over --set. section, resume: as resolve_config's (a --config file holding only
    that section's settings; the train section of a resumed training).
    """
    from ..config import ConfigError, resolve_config

    given = {sec: {k: v for k, v in values.items() if v is not None} for sec, values in (flags or {}).items()}
    given = {sec: values for sec, values in given.items() if values}
    try:
        if args is None:
            return resolve_config(store, fallback="paper", section=section, resume=resume)
        cfg = resolve_config(store, getattr(args, "config", None), getattr(args, "profile", None),
                             _overrides(args), fallback="paper", section=section, resume=resume)
        return cfg.with_overrides(given) if given else cfg
    except (ConfigError, ValueError, TypeError) as e:
        raise _user_error(e) from None


def _print_config(cfg) -> int:
    """--print-config: the resolved config as YAML, nothing run."""
    print(cfg.to_yaml(), end="")
    return 0


def _spec(role: str, args: argparse.Namespace, fallback, store=None):
    from ..backends.spec import ModelSpec

    if role == "student" and getattr(args, "student_model", None) == "latest" and store is not None:
        # the run's newest trained weights (measured under their own model version)
        from ..stages.train import latest_model

        args.student_model = latest_model(store)
        if args.student_model is None:
            raise _user_error(f"run {store.name} has no trained model yet: run `synthrl train {store.name}` first")

    flags = {"backend": getattr(args, f"{role}_backend", None), "model": getattr(args, f"{role}_model", None),
             "base_url": getattr(args, f"{role}_url", None), "api_key_env": getattr(args, f"{role}_key_env", None)}
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return fallback
    if given.get("base_url") and "backend" not in given:
        given["backend"] = "openai"
    try:
        return ModelSpec.from_dict(given)
    except ValueError as e:
        raise _user_error(f"{role}: {e}") from None


def _load(spec, store, role: str):
    from ..backends.spec import load_model

    return load_model(spec, on_event=lambda level, msg: store.log(role, msg, level=level))


def _ids(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        ids = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise _user_error(f"--samples must be comma-separated sample ids, e.g. 3,7,12; got {text!r}") from None
    if not ids:
        raise _user_error("--samples is empty")
    return ids


# -- commands ------------------------------------------------------------------------------------
def cmd_measure(args: argparse.Namespace) -> int:
    store = open_run(args, create=False)
    if args.print_config:
        return _print_config(_measure_config(args, store))
    with stage_guard(store, "measure"):
        return _measure(args, store)


def _measure_config(args: argparse.Namespace, store):
    flags = field_overrides(args)
    if args.remeasure:
        flags.setdefault("measure", {})["remeasure"] = True
    return _run_config(store, args, flags)


def _measure(args: argparse.Namespace, store) -> int:
    from ..stages.measure import measure

    task = store.load_task()
    cfg = _measure_config(args, store)
    mcfg = cfg.measure
    ids = _ids(args.samples)
    student = _load(_spec("student", args, cfg.student, store), store, "student")
    try:
        rep = measure(store, task, student, mcfg, sample_ids=ids, progress=print,
                      select_config=cfg.select)
    except ValueError as e:
        raise _user_error(e) from None
    finally:
        student.close()
    print(f"{rep.measured} measured, {rep.skipped} skipped; mean pass rate {rep.mean_pass_rate:.3f} "
          f"({rep.model_version})")
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    store = open_run(args, create=False)
    if args.print_config:
        return _print_config(_adapt_config(args, store))
    with stage_guard(store, "adapt"):
        return _adapt(args, store)


def _adapt_config(args: argparse.Namespace, store):
    return _run_config(store, args, field_overrides(args))


def _adapt(args: argparse.Namespace, store) -> int:
    from ..backends.spec import BUNDLED_TEACHER_NOTE
    from ..pipeline import adapt_round

    task = store.load_task()
    cfg = _adapt_config(args, store)
    acfg, vcfg, mcfg = cfg.adapt, cfg.verify, cfg.measure
    teacher_spec = _spec("teacher", args, cfg.teacher)
    if teacher_spec.is_bundled:
        print(f"note: {BUNDLED_TEACHER_NOTE}", file=sys.stderr)
    student_spec = _spec("student", args, cfg.student, store)
    teacher = _load(teacher_spec, store, "teacher")
    student = teacher if student_spec == teacher_spec else _load(student_spec, store, "student")
    try:
        for r in range(acfg.rounds):
            # measures the greedy answers the parents lack first, the verified rewrites after
            rep = adapt_round(store, task, teacher, student, acfg, r, verify_config=vcfg, measure_config=mcfg,
                              select_config=cfg.select, progress=print)
            print(f"round {rep.round}: {rep.harder} harder, {rep.easier} easier, {rep.failures} unparseable, "
                  f"{rep.verified} verified, {rep.dropped} dropped")
    except ValueError as e:
        raise _user_error(e) from None
    finally:
        teacher.close()
        student.close()
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    store = open_run(args, create=False)
    if args.print_config:
        return _print_config(_select_config(args, store))
    with stage_guard(store, "select"):
        return _select(args, store)


def _select_config(args: argparse.Namespace, store):
    """The resolved config with this command's selection flags; a new --rule starts from that rule's
    defaults (keeping M): the other rule's lo/hi do not carry over."""
    from ..stages.select import SelectConfig

    cfg = _run_config(store, args)
    base = cfg.select
    if args.rule is not None and args.rule != base.rule:
        base = SelectConfig(rule=args.rule, m=base.m)
    given = {k: v for k, v in dict(m=args.m, lo=args.lo, hi=args.hi, drop_unsolved=args.drop_unsolved,
                                   model_version=args.model_version).items() if v is not None}
    try:
        return cfg.with_overrides({"select": {**_section_values(base), **given}})
    except (ValueError, TypeError) as e:
        raise _user_error(e) from None


def _section_values(obj) -> dict:
    from ..config import section_dict

    return section_dict(obj) or {}


def _select(args: argparse.Namespace, store) -> int:
    from ..stages.select import select_report

    scfg = _select_config(args, store).select
    try:
        rep = select_report(store, scfg, progress=print)
    except (ValueError, TypeError) as e:
        raise _user_error(e) from None
    print(f"selection {rep.selection_id}: {rep.selected} samples (of {rep.candidates} candidates); "
          f"export it with `synthrl export {store.name} --format hf`")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import ExportError, export_selection

    store = open_run(args, create=False)
    try:
        path = export_selection(store, args.format, args.out, selection_id=args.selection)
    except ExportError as e:
        raise _user_error(e) from None
    n = store.latest_selection()["n"] if args.selection is None else None
    print(f"wrote {path}" + (f" ({n} rows)" if n is not None else ""))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ..config import ConfigError, resolve_config
    from ..pipeline import PipelineError, run_pipeline, stages_until
    from ..store import RunStore
    from ..task import load_task

    from ..locks import LockError
    from ..retrieval import RetrievalError
    from ..stages.evaluate import EvalError
    from ..stages.generate import GenerationError
    from ..stages.train import TrainError

    if args.run is None and args.run_dir is None:
        if not args.task:
            raise _user_error("give --run NAME to continue a run, or --task FILE to start one")
        args.run = load_task(args.task).name  # a valid task name is a plain name
    run = run_location(args)
    try:
        stages = stages_until(args.until) if args.until else None
        store = RunStore.open(run)
        try:
            config = resolve_config(store, args.config, args.profile, _overrides(args))
        finally:
            store.close()
        if args.print_config:
            print(config.to_yaml(), end="")
            return 0
        with cancel_on_sigterm():
            run_pipeline(run, task_path=args.task, docs=args.docs, config=config, profile=config.profile,
                         stages=stages, progress=lambda msg: print(msg, flush=True))
    except (ConfigError, PipelineError, GenerationError, RetrievalError, TrainError, EvalError, LockError) as e:
        raise _user_error(e) from None
    return 0
