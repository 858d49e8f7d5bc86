"""Review commands: fix many samples at once (find/replace, undoable) and the optional judge pass.

    synthrl fix demo --find "kms" --replace "km" --field question --status verified --dry-run
    synthrl fix demo --find "(\\d+) kms" --replace "\\1 km" --regex
    synthrl fix demo --list
    synthrl fix demo --undo 3
    synthrl judge demo --teacher-backend openai --teacher-url http://localhost:8000/v1 \\
        --teacher-model Qwen/Qwen2.5-7B-Instruct
"""
from __future__ import annotations

import argparse
import json
import sys

from .data import STATUS_CHOICES, add_teacher_args, teacher_spec
from .run_arg import add_run_argument, open_run, stage_guard


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fix", help="find/replace across samples in one undoable step (as the Review tab's Fix all)",
        description="Fix a systematic error (a unit, a phrasing, a convention) in the questions or answers of "
                    "many samples at once. Every change is a revision by --author; changed samples lose their "
                    "pass rates exactly as a single edit does (they need re-measuring). --dry-run prints every "
                    "change without making it; --undo BATCH_ID puts a batch back.")
    add_run_argument(p)
    p.add_argument("--find", default=None, metavar="X", help="text (or, with --regex, a pattern) to find")
    p.add_argument("--replace", default=None, metavar="Y", help="its replacement (with --regex: \\1 refers to groups)")
    p.add_argument("--field", choices=("question", "answer"), default="question", help="where (default question)")
    p.add_argument("--status", choices=STATUS_CHOICES, default=None, help="only samples with this status")
    p.add_argument("--ids", default=None, metavar="IDS", help="only these comma-separated sample ids")
    p.add_argument("--regex", action="store_true", help="--find is a Python regular expression")
    p.add_argument("--ignore-case", action="store_true", help="match regardless of case")
    p.add_argument("--dry-run", action="store_true", help="print every change, change nothing")
    p.add_argument("--undo", type=int, default=None, metavar="BATCH_ID", help="undo a batch (see --list)")
    p.add_argument("--list", action="store_true", help="list the run's fix batches")
    p.add_argument("--author", default="cli", help="the name stored with the revisions (default cli)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_fix)

    p = sub.add_parser(
        "judge", help="the teacher rates each sample's grounding, clarity and correctness (1-5, optional)",
        description="An optional pass: the teacher rates each sample 1-5 for grounding in its passage, clarity "
                    "and answer correctness, each with a one-line reason (structured output). Ratings are stored "
                    "per sample with their cost and order the Review queue (low scores first). Samples already "
                    "judged by the same teacher are skipped unless edited since. Off with the bundled teacher, "
                    "whose ratings would be noise.")
    add_run_argument(p)
    p.add_argument("--status", action="append", choices=STATUS_CHOICES, default=None,
                   help="judge samples with this status (repeatable; default pending, verified, accepted)")
    p.add_argument("--limit", type=int, default=None, help="judge at most this many samples")
    p.add_argument("--rejudge", action="store_true", help="judge again samples this teacher judged already")
    p.add_argument("--concurrency", type=int, default=None, help="teacher requests in flight (default 8)")
    p.add_argument("--max-tokens", type=int, default=None, help="longest verdict (default 384)")
    p.add_argument("--allow-bundled", action="store_true",
                   help="run with the bundled teacher anyway (to try the workflow; its ratings are noise)")
    add_teacher_args(p)
    p.set_defaults(func=cmd_judge)


# -- fix -------------------------------------------------------------------------------------------------
def _ids(text: str | None) -> list[int] | None:
    from ..cli import UserError

    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--ids takes comma-separated sample ids, got {text!r}") from None


def cmd_fix(args: argparse.Namespace) -> int:
    from ..cli import UserError
    from ..fix import FixError, FixSpec, apply_fix, plan_fix, undo_fix

    store = open_run(args, create=False)
    if args.list:
        batches = store.fix_batches()
        if args.json:
            print(json.dumps(batches, indent=2))
        for b in [] if args.json else batches:
            s = b["spec"]
            print(f"#{b['id']:<4} {b['author'] or '?':<10} {s['field']:<8} {s['find']!r} -> {s['replace']!r}"
                  f"{' (regex)' if s.get('regex') else ''}: {b['n']} samples"
                  + (f"  [undone by {b['undone_by']}]" if b["undone_at"] else ""))
        if not batches and not args.json:
            print("no fix batches yet")
        return 0
    try:
        if args.undo is not None:
            r = undo_fix(store, args.undo, author=args.author)
            if args.json:
                print(json.dumps({"batch": r.batch_id, "restored": r.restored, "conflicts": r.conflicts,
                                  "warnings": r.warnings}))
                return 0
            print(f"fix #{r.batch_id} undone: {len(r.restored)} samples restored")
            if r.conflicts:
                print(f"{len(r.conflicts)} samples were edited again since and are left as they are: "
                      f"{', '.join(map(str, r.conflicts[:20]))}")
            for w in r.warnings:
                print(f"warning: {w}", file=sys.stderr)
            if r.restored:
                print(f"restored samples need re-measuring: `synthrl measure {store.name}`")
            return 0
        if args.find is None or args.replace is None:
            raise UserError("give --find X and --replace Y (or --undo BATCH_ID, or --list)")
        spec = FixSpec(args.find, args.replace, field=args.field, regex=args.regex, ignore_case=args.ignore_case)
        ids = _ids(args.ids)
        if args.status is not None:
            by_status = {s.id for s in store.samples(status=args.status)}
            ids = sorted(by_status if ids is None else by_status & set(ids))
        changes = plan_fix(store, spec, ids)
        if args.dry_run:
            if args.json:
                print(json.dumps([{"id": c.sample_id, "field": c.field, "old": c.old, "new": c.new,
                                   "count": c.count} for c in changes], indent=2))
                return 0
            for c in changes:
                before, after = c.snippet()
                print(f"#{c.sample_id} {c.field} ({c.count}x)\n  - {' '.join(before.split())}\n"
                      f"  + {' '.join(after.split())}")
            print(f"{len(changes)} samples would change (dry run: nothing changed)")
            return 0
        batch = apply_fix(store, spec, ids, author=args.author)
    except FixError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps({"batch": batch.id, "changed": batch.changed, "invalidated": batch.invalidated,
                          "needs_remeasure": batch.needs_remeasure, "warnings": batch.warnings}))
        return 0
    for w in batch.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not batch.changed:
        print("no sample matched: nothing changed")
        return 0
    print(f"fix #{batch.id}: changed {len(batch.changed)} samples ({spec.field}); undo with "
          f"`synthrl fix {store.name} --undo {batch.id}`")
    if batch.needs_remeasure:
        print(f"{batch.needs_remeasure} of them lost their pass rates and need re-measuring: "
              f"`synthrl measure {store.name}`")
    return 0


# -- judge ------------------------------------------------------------------------------------------------
def cmd_judge(args: argparse.Namespace) -> int:
    from ..backends.spec import load_model
    from ..cli import UserError
    from ..judge import BUNDLED_JUDGE_NOTE, JudgeConfig, JudgeError, judge

    store = open_run(args, create=False)
    spec = teacher_spec(args, store)
    if spec.is_bundled and not args.allow_bundled:
        raise UserError(BUNDLED_JUDGE_NOTE)
    values = {k: getattr(args, k) for k in ("limit", "concurrency", "max_tokens", "rejudge")
              if getattr(args, k) not in (None, False)}
    if args.status:
        values["statuses"] = tuple(args.status)
    try:
        config = JudgeConfig(**values)
    except ValueError as e:
        raise UserError(str(e)) from None
    if spec.is_bundled:
        print(f"note: {BUNDLED_JUDGE_NOTE}", file=sys.stderr)
        store.log("judge", BUNDLED_JUDGE_NOTE, level="warning")
    task = store.load_task()
    with stage_guard(store, "judge"):
        teacher = load_model(spec, on_event=lambda level, msg: store.log("judge", msg, level=level))
        from .data import _bar

        bar = _bar(0)
        try:
            report = judge(store, task, teacher, config, progress=bar.update_to)
        except JudgeError as e:
            raise UserError(str(e)) from None
        finally:
            bar.close()
            teacher.close()
    print(report.summary())
    cost = store.judge_cost()
    print(f"the run's judging so far: {cost['samples']} samples, {cost['calls']} calls, "
          f"{cost['prompt_tokens'] + cost['completion_tokens']} tokens; low scores lead `synthrl samples "
          f"{store.name} --order expert`")
    return 1 if report.judged == 0 and report.unreadable else 0
