"""Cost and time before launching: `--dry-run`, `--price-in`, `--price-out` on every stage command.

    synthrl generate demo --n 500 --votes 16 --teacher-backend openai --teacher-model gpt-4o-mini \\
        --teacher-url https://api.openai.com/v1 --dry-run --price-in 0.15 --price-out 0.60
    synthrl measure demo --rollouts 64 --dry-run
    synthrl train demo --profile paper --dry-run
    synthrl estimates demo                  # each stage's last estimate next to what the run took

A real launch records its estimate too (synthrl/estimate.py), so the app shows it beside the actual.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .run_arg import add_run_argument, open_run

ESTIMATED = ("generate", "measure", "adapt", "train", "eval")


def register(sub: argparse._SubParsersAction) -> None:
    for name in ESTIMATED:
        p = sub.choices.get(name)
        if p is None:
            continue
        g = p.add_argument_group("cost and time (synthrl/estimate.py)")
        g.add_argument("--dry-run", action="store_true",
                       help="print the calls, tokens, time (and money, with prices) these settings imply; run nothing")
        g.add_argument("--price-in", type=float, default=None, metavar="USD",
                       help="API price per million input tokens (for the money estimate)")
        g.add_argument("--price-out", type=float, default=None, metavar="USD",
                       help="API price per million output tokens")
        p.set_defaults(func=_with_estimate(p.get_default("func"), name))

    p = sub.add_parser("estimates", help="each stage's last estimate next to what the run really took")
    add_run_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_estimates)


def _with_estimate(func, stage: str):
    def run(args: argparse.Namespace) -> int:
        from ..estimate import record

        if getattr(args, "print_config", False):
            return func(args)  # prints the resolved config; nothing is launched, so nothing to estimate
        try:
            store = open_run(args, create=not args.dry_run)
            est = stage_estimate(store, stage, args)
        except Exception as e:  # noqa: BLE001 - an estimate must never stop a real launch
            if args.dry_run:
                raise
            print(f"(no estimate: {e})")
            return func(args)
        record(store, est, dry_run=args.dry_run)
        if args.dry_run:
            if getattr(args, "json", False):
                print(json.dumps(est.to_dict()))
            else:
                print(f"{stage} (dry run, nothing started): {est.text()}")
            return 0
        print(f"estimate: {est.text()}", flush=True)
        return func(args)

    run.__wrapped__ = func
    return run


def _backend(explicit: str | None, url: str | None, store, role: str) -> str:
    if explicit:
        return explicit
    if url:
        return "openai"
    rc = store.get_config("run_config") or {}
    d = rc.get(role) if isinstance(rc, dict) else None
    return (d or {}).get("backend") or "transformers"


def stage_estimate(store, stage: str, args: argparse.Namespace):
    """The estimate for a stage command's arguments: the settings are the ones the command resolves
    (synthrl.config.resolve_config and its flags), so the estimate prices what would run."""
    from ..estimate import estimate

    prices = {"price_in": args.price_in, "price_out": args.price_out}
    teacher = _backend(getattr(args, "teacher_backend", None), getattr(args, "teacher_url", None), store, "teacher")
    student = _backend(getattr(args, "student_backend", None), getattr(args, "student_url", None), store, "student")
    if stage == "generate":
        from .data import generate_config

        cfg = generate_config(args, store)
        return estimate(store, "generate", n=cfg.generate.n, votes=cfg.verify.votes, max_tokens=args.max_tokens,
                        teacher_backend=teacher, **prices)
    if stage == "measure":
        from .stages import _measure_config

        ids = [x for x in (args.samples or "").split(",") if x.strip()]
        return estimate(store, "measure", rollouts=_measure_config(args, store).measure.rollouts,
                        max_tokens=args.max_tokens, samples=len(ids) if ids else None, student_backend=student,
                        **prices)
    if stage == "adapt":
        from .stages import _adapt_config

        cfg = _adapt_config(args, store)
        return estimate(store, "adapt", votes=cfg.verify.votes, rollouts=cfg.measure.rollouts,
                        rounds=cfg.adapt.rounds, teacher_backend=teacher, student_backend=student, **prices)
    if stage == "train":
        from .training import train_config_from_args

        cfg = train_config_from_args(args, store)
        steps = cfg.max_steps
        if not steps:
            sel = store.latest_selection()
            n = (sel or {}).get("n") or 0
            steps = max(1, int(n * cfg.num_generations * cfg.epochs / max(1, cfg.per_device_batch * cfg.grad_accum)))
        return estimate(store, "train", steps=steps, batch=cfg.per_device_batch * cfg.grad_accum,
                        num_generations=cfg.num_generations, max_tokens=cfg.max_completion_length, algo=cfg.algo,
                        **prices)
    if stage == "eval":
        from .training import eval_run_config

        cfg = eval_run_config(args, store)
        path = Path(cfg.benchmark) if cfg.benchmark else None
        items = sum(1 for line in path.open(encoding="utf-8") if line.strip()) if path and path.is_file() else 0
        if cfg.evaluate.limit:
            items = min(items, cfg.evaluate.limit)
        return estimate(store, "eval", items=items, max_tokens=args.max_tokens, student_backend=student, **prices)
    raise ValueError(f"no estimate for {stage}")


def cmd_estimates(args: argparse.Namespace) -> int:
    from ..estimate import estimate_vs_actual

    store = open_run(args, create=False)
    lines = {s: estimate_vs_actual(store, s) for s in ESTIMATED}
    if args.json:
        print(json.dumps({"estimates": store.estimates(), "throughput": store.throughput(),
                          "summary": lines}))
        return 0
    shown = [line for line in lines.values() if line]
    print("\n".join(shown) if shown else f"no estimates yet: launch a stage (or add --dry-run to one) in {store.name}")
    return 0
