"""Training and evaluation commands.

    synthrl train demo --profile tiny                 # this command is the subprocess the UI launches
    synthrl train demo --resume                       # continue from the newest checkpoint
    synthrl train demo --selection 3                  # a given selection (its own model folder)
    accelerate launch --config_file assets/accelerate/ddp.yaml -m synthrl.cli train demo
    synthrl eval demo --benchmark assets/benchmarks/demo_addition.jsonl --model base --limit 20
    synthrl contamination demo --benchmark assets/benchmarks/demo_addition.jsonl
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..stages.train import ALGOS, VLLM_MODES
from .flags import add_field_flags, field_overrides
from .run_arg import add_run_argument, open_run, stage_guard
from .stages import _print_config, _run_config, add_config_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="RL-train the student on the run's latest selection (GRPO or PPO)",
        description=("Train the run's student with TRL (GRPO or PPO) on its latest selection, the task's checker "
                     "as reward. Metrics, sample rollouts and progress go to the run store; checkpoints to "
                     "<run>/checkpoints. SIGTERM saves a checkpoint and exits 0; --resume continues. "
                     "Runs under `accelerate launch` unchanged (see assets/accelerate)."),
    )
    add_run_argument(p)
    add_field_flags(p, "train", ["algo", "max_steps", "lora", "model", "use_vllm", "vllm_mode", "report_to"],
                    choices={"algo": ALGOS, "vllm_mode": VLLM_MODES},
                    metavars={"max_steps": "N", "model": "PATH", "report_to": "TRACKERS"})
    add_config_args(p, "start from this profile's settings (tiny: a few steps on a CPU; paper: the paper's)")
    for action in p._actions:  # --config here also takes a file of training settings alone
        if action.dest == "config":
            action.help = ("run config YAML, or a YAML of training settings alone (TrainConfig fields, read as "
                           "its train section)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint, with the stopped training's settings")
    p.add_argument("--selection", type=int, metavar="ID",
                   help="selection to train on (default: the latest); each selection trains its own model in "
                        "<run>/checkpoints/selection-ID")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval", help="greedy accuracy on a benchmark JSONL (base vs trained side by side)",
        description=("Evaluate a model of the run on a JSONL benchmark (one {question, answer} object per line) "
                     "with greedy decoding and the task's checker; prints accuracy with a Wilson 95%% CI and, "
                     "when both exist, base vs trained side by side."),
    )
    add_run_argument(p)
    p.add_argument("--benchmark", default=None, metavar="FILE",
                   help="benchmark JSONL file (default: the run config's benchmark)")
    p.add_argument("--model", default="latest", metavar="base|latest|PATH",
                   help="base (the run's student), latest (newest trained; default) or a model folder")
    add_field_flags(p, "evaluate", ["limit", "max_tokens", "batch_size", "question_field", "answer_field",
                                    "skip_bad_lines"],
                    metavars={"limit": "N", "max_tokens": "N", "batch_size": "N", "question_field": "F",
                              "answer_field": "F"})
    add_config_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "contamination", help="flag samples and documents that repeat benchmark questions (13-gram overlap)",
        description=("Check the run's samples and ingested documents against a benchmark JSONL: a text that shares "
                     "a 13-word sequence with a benchmark question overlaps it. Overlapping samples are flagged "
                     "'contaminated' (Review shows the flag; select leaves them out unless "
                     "select.exclude_contaminated is false). `synthrl eval` and `synthrl run --benchmark` run the "
                     "same check."),
    )
    add_run_argument(p)
    p.add_argument("--benchmark", metavar="FILE", help="benchmark JSONL (default: the run config's benchmark)")
    p.add_argument("--n", type=int, default=None, metavar="N", help="n-gram length in words (default 13)")
    p.add_argument("--question-field", default="question", metavar="F", help="JSON field holding the question")
    p.add_argument("--answer-field", default="answer", metavar="F", help="JSON field holding the answer")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_contamination)


def _open_store(run: str):
    from ..cli import UserError
    from ..store import RunStore

    try:
        return RunStore.open(run, create=False)
    except ValueError as e:
        raise UserError(str(e)) from None


def train_run_config(args: argparse.Namespace, store):
    """The resolved config of `synthrl train`: synthrl.config.resolve_config (a --config file may hold the
    training settings alone; --resume without --profile continues with the stopped training's settings),
    then this command's flags. A config whose train section is null (training off for `synthrl run`)
    trains with its profile's training settings."""
    cfg = _run_config(store, args, section="train",
                      resume=bool(getattr(args, "resume", False)) and not getattr(args, "profile", None))
    return _over(cfg, "train", field_overrides(args))


def _over(cfg, section: str, flags: dict):
    """`cfg` with its optional `section` on (its profile's settings where the config has it off) and the
    command's flags applied; a bad value is one UserError line."""
    from ..config import ConfigError

    try:
        if getattr(cfg, section) is None:
            cfg = cfg.with_overrides({section: {}})
        return cfg.with_overrides(flags) if flags else cfg
    except (ConfigError, ValueError) as e:
        from ..cli import UserError

        raise UserError(str(e)) from None


def train_config_from_args(args: argparse.Namespace, store=None):
    """The TrainConfig `synthrl train` runs with (train_run_config's train section)."""
    return train_run_config(args, store).train


def cmd_train(args: argparse.Namespace) -> int:
    store = open_run(args, create=False)
    if args.print_config:
        return _print_config(train_run_config(args, store))
    with stage_guard(store, "train"):
        return _train(args, store)


def _train(args: argparse.Namespace, store) -> int:
    from ..cli import UserError
    from ..config import ConfigError
    from ..stages.train import TrainError, train

    try:
        config = train_config_from_args(args, store)
        # --resume continues the selection the stopped training was on
        selection = args.selection if args.selection is not None else \
            (store.get_config("train_selection") if args.resume else None)
        report = train(store, config, resume=args.resume, selection_id=selection)
    except (TrainError, ConfigError) as e:
        raise UserError(str(e)) from None
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return 0
    if args.json:
        import dataclasses

        print(json.dumps(dataclasses.asdict(report), indent=2, default=str))
        return 0
    how = "stopped (checkpoint saved; continue with --resume)" if report.stopped else "finished"
    print(f"{report.algo} {how} at step {report.steps}/{report.max_steps} in {report.seconds:.0f}s "
          f"on selection {report.selection_id} ({report.train_samples} training prompts, "
          f"{report.heldout_samples} held out"
          + (f", {report.left_out_rejected} rejected since selection left out" if report.left_out_rejected else "")
          + ")")
    m = report.last_metrics
    parts = [f"{k.split('/', 1)[1]} {m[k]:.4g}" for k in ("train/reward", "train/kl", "train/loss") if k in m]
    if report.heldout_accuracy is not None:
        parts.append(f"held-out accuracy {report.heldout_accuracy:.3f}")
    if parts:
        print("last: " + ", ".join(parts))
    print(f"model: {report.final_model or report.checkpoint}")
    return 0


def _fmt_eval(e: dict) -> str:
    return (f"{e['accuracy'] * 100:5.1f}%  ({e['n_correct']}/{e['n']}, 95% CI "
            f"{e['ci_low'] * 100:.1f}-{e['ci_high'] * 100:.1f}%)")


def cmd_eval(args: argparse.Namespace) -> int:
    store = open_run(args, create=False)
    if args.print_config:
        return _print_config(eval_run_config(args, store))
    with stage_guard(store, "eval"):
        return _eval(args, store)


def eval_run_config(args: argparse.Namespace, store):
    """The resolved config of `synthrl eval` (resolve_config, then --benchmark and this command's flags);
    a config whose evaluate section is null evaluates with its profile's evaluation settings."""
    return _over(_run_config(store, args), "evaluate", field_overrides(args))


def _eval(args: argparse.Namespace, store) -> int:
    from ..cli import UserError
    from ..stages.evaluate import EvalError, compare, evaluate, latest_pair

    task = store.load_task()
    cfg = eval_run_config(args, store)
    config = cfg.evaluate
    if not cfg.benchmark:
        raise UserError(f"run {store.name} has no benchmark in its config: give --benchmark FILE")
    args.benchmark = cfg.benchmark
    try:
        eid = evaluate(store, task, args.model, args.benchmark, config)
        overlap = _check_contamination(store, args.benchmark, config.question_field, config.answer_field)
    except EvalError as e:
        raise UserError(str(e)) from None
    this = next(e for e in store.evaluations() if e["id"] == eid)
    base, trained = latest_pair(store, args.benchmark)
    cmp = compare(store, base["id"], trained["id"]) if base and trained else None
    if args.json:
        out = {"evaluation": this, "base": base, "trained": trained, "contamination": overlap.to_dict()}
        if cmp:
            out["comparison"] = {"n": cmp.n, "base_accuracy": cmp.base_accuracy,
                                 "trained_accuracy": cmp.trained_accuracy, "fixed": list(cmp.fixed),
                                 "broken": list(cmp.broken), "both_right": cmp.both_right,
                                 "both_wrong": cmp.both_wrong}
        print(json.dumps(out, indent=2, default=str))
        return 0
    print(f"{Path(args.benchmark).name}: {this['model']}: {_fmt_eval(this)}")
    if cmp:
        print(f"  base     {_fmt_eval(base)}")
        print(f"  trained  {_fmt_eval(trained)}   [{trained['model']}]")
        print(f"  on the {cmp.n} items both answered: {len(cmp.fixed)} fixed, {len(cmp.broken)} broken, "
              f"{cmp.both_right} right in both, {cmp.both_wrong} wrong in both")
    print(f"contamination: {overlap.summary()}")
    return 0


def _check_contamination(store, benchmark, question_field: str = "question", answer_field: str = "answer", n=None):
    from ..contamination import N, check_run

    return check_run(store, benchmark, n=n or N, question_field=question_field, answer_field=answer_field)


def cmd_contamination(args: argparse.Namespace) -> int:
    from ..cli import UserError
    from ..contamination import FLAG
    from ..stages.evaluate import EvalError

    store = open_run(args, create=False)
    bench = args.benchmark if args.benchmark is not None else _run_config(store).benchmark
    if not bench:
        raise UserError(f"run {store.name} has no benchmark in its config: give --benchmark FILE")
    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be >= 1, got {args.n}")
    try:
        report = _check_contamination(store, bench, args.question_field, args.answer_field, n=args.n)
    except (EvalError, ValueError) as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(report.summary())
    for sid, lines in list(report.samples.items())[:20]:
        print(f"  sample {sid}: benchmark line(s) {', '.join(map(str, lines))}")
    if len(report.samples) > 20:
        print(f"  ... and {len(report.samples) - 20} more (--json lists all)")
    docs = {d["id"]: d["path"] for d in store.documents()}
    for did, lines in report.documents.items():
        print(f"  document {docs.get(did, did)}: benchmark line(s) {', '.join(map(str, lines[:10]))}"
              + (" ..." if len(lines) > 10 else ""))
    selected = [s.id for s in store.selection_samples() if FLAG in s.flags]
    if selected:
        print(f"the latest selection holds {len(selected)} flagged sample(s): run `synthrl select {store.name}` "
              "again to leave them out of training")
    return 0

