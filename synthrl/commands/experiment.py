"""Experiment and import commands.

    synthrl experiment demo --variants paper,random --seeds 3 --benchmark assets/benchmarks/demo_addition_heldout.jsonl
    synthrl experiment demo --report results/        # HTML (plotly) + Markdown of what is stored
    synthrl import demo vetted.jsonl                  # question, answer[, solution] as expert-accepted samples
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys

from .run_arg import add_run_argument, open_run, stage_guard
from .stages import _overrides, _print_config, add_config_args


def register(sub: argparse._SubParsersAction) -> None:
    from ..experiment import VARIANTS

    p = sub.add_parser(
        "experiment", help="compare selection rules on this run: train and evaluate each variant",
        description="From the run's verified, measured pool, build each variant's selection at equal M, train "
                    "each with identical settings into its own model folder, and evaluate the base student and "
                    "every variant on the benchmark with 95% intervals. Variants: "
                    "paper (the paper's rule), random (seeded uniform over the candidates), easy (highest pass "
                    "rate first), hard (lowest first), all (every candidate), no-adapt (the paper's rule over "
                    "round 0 only). Resumable: finished cells are kept; stored in the run.")
    add_run_argument(p)
    p.add_argument("--variants", default="paper,random",
                   help=f"comma-separated, from {', '.join(VARIANTS)} (default paper,random)")
    p.add_argument("--m", type=int, default=None, help="samples per selection (default: the run's select.m)")
    p.add_argument("--seeds", type=int, default=1, help="trainings per variant, seeds 0..S-1 (default 1)")
    p.add_argument("--benchmark", default=None, metavar="FILE", help="JSONL benchmark (default: the run's)")
    p.add_argument("--name", default="default", help="experiment name (default 'default')")
    p.add_argument("--steps", type=int, default=None, help="training steps per variant (train.max_steps)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N benchmark items only")
    p.add_argument("--report", default=None, metavar="FOLDER",
                   help="write experiment-NAME.html and .md there (with --report-only: without running)")
    p.add_argument("--report-only", action="store_true", help="only print/write what is stored; train nothing")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    add_config_args(p, "start from this profile's settings (default: the run's, else tiny)")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser(
        "import", help="add question/answer pairs the expert already has (JSONL or CSV)",
        description="Each line (JSONL) or row (CSV) with a question and an answer, optionally a solution, "
                    "becomes an expert-accepted sample (origin 'imported', provenance kept). They are measured, "
                    "selected and trained like generated ones. A question already in the run is skipped.")
    add_run_argument(p)
    p.add_argument("file", metavar="FILE", help=".jsonl or .csv")
    p.add_argument("--question-field", default=None, help="default: question, input, prompt or problem")
    p.add_argument("--answer-field", default=None, help="default: answer, output, label or reference")
    p.add_argument("--solution-field", default=None, help="default: solution, rationale or explanation")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_import)


def cmd_experiment(args: argparse.Namespace) -> int:
    from ..cli import UserError
    from ..experiment import (ExperimentConfig, ExperimentError, experiment_table, load_record, markdown_summary,
                              run_experiment, write_reports)
    from ..stages.evaluate import EvalError
    from ..stages.train import TrainError

    store = open_run(args, create=False)
    if args.print_config:
        return _print_config(experiment_config(args, store))
    try:
        if not args.report_only:
            run_config = experiment_config(args, store)
            cfg = ExperimentConfig(variants=args.variants, m=args.m, seeds=args.seeds, name=args.name)
            # with --json, stdout carries the JSON only: the trainer's own log lines go to stderr
            with stage_guard(store, "train"), contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
                run_experiment(store, cfg, progress=None if args.json else print, run_config=run_config)
        elif load_record(store, args.name) is None:
            raise UserError(f"run {store.name} has no experiment {args.name!r}")
    except (ExperimentError, TrainError, EvalError) as e:
        raise UserError(str(e)) from None
    if args.report:
        html_path, md_path = write_reports(store, args.name, args.report)
        if not args.json:
            print(f"wrote {html_path} and {md_path}")
    if args.json:
        print(json.dumps({"run": store.name, "experiment": load_record(store, args.name),
                          "table": [dataclasses.asdict(r) for r in experiment_table(store, args.name)]},
                         indent=2, default=str))
    else:
        print(markdown_summary(store, args.name))
    return 0


def experiment_config(args: argparse.Namespace, store):
    """The settings every cell trains and evaluates with: synthrl.experiment.experiment_run_config
    (resolve_config; a run with nothing recorded starts from tiny), then --benchmark, --steps, --limit."""
    from ..cli import UserError
    from ..config import ConfigError
    from ..experiment import experiment_run_config

    flags = {"train": {"max_steps": args.steps} if args.steps else {},
             "evaluate": {"limit": args.limit} if args.limit else {}}
    flags = {k: v for k, v in flags.items() if v}
    try:
        cfg = experiment_run_config(store, args.config, args.profile, _overrides(args))
        return cfg.with_overrides(flags) if flags else cfg
    except (ConfigError, ValueError) as e:
        raise UserError(str(e)) from None


def cmd_import(args: argparse.Namespace) -> int:
    from ..cli import UserError
    from ..importing import ImportError_, import_samples

    store = open_run(args, create=False)
    try:
        rep = import_samples(store, args.file, question_field=args.question_field, answer_field=args.answer_field,
                             solution_field=args.solution_field, author="cli")
    except ImportError_ as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(dataclasses.asdict(rep), indent=2))
    else:
        print(rep.summary())
        for pr in rep.problems[:10]:
            print(f"  {pr}")
        if rep.added:
            print(f"next: `synthrl measure {store.name}` measures them, then select and train as usual")
    return 0 if rep.added or rep.skipped else 1
