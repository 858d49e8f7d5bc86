"""Data commands: ingest documents, retrieve passages, generate samples, list and edit samples.

    synthrl ingest demo assets/corpus/demo_addition
    synthrl retrieve demo "library book count" -k 3 --mode hybrid
    synthrl generate demo --task assets/tasks/demo_addition.yaml --n 20 --votes 4
    synthrl generate demo --n 500 --teacher-backend openai --teacher-model gpt-4o-mini \\
        --teacher-url https://api.openai.com/v1 --teacher-key-env OPENAI_API_KEY
    synthrl samples demo --status verified --stale
    synthrl edit demo 12 --answer "... #### 42"      # as the Review tab's Save edit
"""
from __future__ import annotations

import argparse
import json
import sys

from .flags import add_field_flags, field_overrides
from .run_arg import add_run_argument, open_run, stage_guard
from .stages import add_config_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest", help="add documents (files or folders) to a run's library",
        description="Read .txt .md .pdf .html .docx .jsonl .csv files into the run's document library. "
                    "Unchanged files are skipped, changed files replace their chunks, unreadable files are "
                    "reported by name and skipped. Exit 0 when anything usable was ingested, 1 when every "
                    "file failed.")
    add_run_argument(p, help="run name (created if missing)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    p.add_argument("--text-column", default=None, help="column holding the text in .csv/.jsonl files "
                   "(default: text, content or passage)")
    p.add_argument("--chunk-size", type=int, default=512, help="chunk size in tokens (default 512)")
    p.add_argument("--chunk-overlap", type=int, default=64, help="overlap between chunks in tokens (default 64)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("retrieve", help="search a run's documents",
                       description="Print the passages a query retrieves, with scores and sources.")
    add_run_argument(p)
    p.add_argument("query", help="what to search for")
    p.add_argument("-k", type=int, default=5, help="passages to return (default 5)")
    p.add_argument("--mode", choices=("bm25", "dense", "hybrid"), default="hybrid",
                   help="bm25, dense (MiniLM) or hybrid (reciprocal rank fusion; default)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser(
        "generate", help="teacher writes and verifies samples (stage 1)",
        description="The teacher writes N samples grounded in the run's documents, each verified by a "
                    "majority of K teacher votes. Interrupted runs resume where they stopped.")
    add_run_argument(p)
    p.add_argument("--task", metavar="FILE", help="task definition (saved into the run); default: the run's own")
    add_field_flags(p, "generate", ["n", "concurrency", "temperature", "max_tokens", "keywords", "retrieval_mode",
                                    "seed"], flags={"retrieval_mode": "--mode"},
                    choices={"retrieval_mode": ("bm25", "dense", "hybrid")})
    add_field_flags(p, "verify", ["votes"])
    add_teacher_args(p)
    add_config_args(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "samples", help="list a run's samples with status, pass rate and flags",
        description="One line per sample: id, round, origin, status, pass rate (correct/sampled attempts) under "
                    "the run's base student, flags, and whether it needs re-measuring (edited since measured).")
    add_run_argument(p)
    p.add_argument("--status", default=None, choices=STATUS_CHOICES, help="only samples with this status")
    p.add_argument("--stale", action="store_true",
                   help="only samples that need re-measuring (`synthrl measure RUN` measures them)")
    p.add_argument("--model-version", default=None, help="whose pass rates (default: the run's base student)")
    p.add_argument("--order", choices=("id", "expert"), default="id",
                   help="id, or expert: the Review tab's 'needs an expert' order, with each sample's reasons "
                        "(likely wrong label, low judge score, flags, split votes, near-duplicates, edits)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_samples)

    p = sub.add_parser(
        "edit", help="edit a sample as the Review tab does (kept as a revision)",
        description="Change a sample's question, answer (its reference is re-read with the task's checker) or "
                    "status. A changed question or answer drops the sample's pass rates for every student "
                    "version: it needs re-measuring (`synthrl measure RUN`) before the next selection uses it.")
    add_run_argument(p)
    p.add_argument("id", type=int, metavar="ID", help="sample id (see `synthrl samples RUN`)")
    p.add_argument("--question", default=None, metavar="Q", help="the new question")
    p.add_argument("--answer", default=None, metavar="A", help="the new answer, in the task's output format")
    p.add_argument("--status", default=None, choices=("accepted", "rejected"), help="accept or reject")
    p.set_defaults(func=cmd_edit)


STATUS_CHOICES = ("pending", "verified", "dropped", "accepted", "rejected", "failed")


def add_teacher_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("teacher (default: the bundled model, for demos only)")
    g.add_argument("--teacher-backend", default=None, help="transformers | openai | vllm")
    g.add_argument("--teacher-model", default=None, help="model name, folder or 'bundled'")
    g.add_argument("--teacher-url", default=None, help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    g.add_argument("--teacher-key-env", default=None,
                   help="NAME of the environment variable holding the API key (never the key itself)")


# -- ingest --------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from ..cli import UserError
    from ..retrieval import ingest

    if args.run is not None and args.run_dir is not None:
        # `ingest --run-dir X a.txt b.txt`: argparse hands the first document to RUN
        args.paths, args.run = [args.run, *args.paths], None
    store = open_run(args)
    try:
        with stage_guard(store, "ingest"):
            report = ingest(store, args.paths, text_column=args.text_column, chunk_size=args.chunk_size,
                            chunk_overlap=args.chunk_overlap)
    except ValueError as e:
        raise UserError(str(e)) from None
    for f in report.files:
        if f.status == "failed":
            print(f"FAILED     {f.path}: {f.reason}")
        elif f.status == "unchanged":
            print(f"unchanged  {f.path}")
        else:
            print(f"{f.status:<10} {f.path}: {f.chunks} chunks")
        if f.warning:
            print(f"  warning  {f.path}: {f.warning}")
    print(f"{report.summary()}; the run now holds {store.status()['chunks']} chunks")
    # Non-zero only when nothing could be ingested: every file failed (unchanged files count as ingested).
    return 0 if report.ok else 1


# -- retrieve ---------------------------------------------------------------------------------------
def cmd_retrieve(args: argparse.Namespace) -> int:
    from ..cli import UserError
    from ..retrieval import RetrievalError, get_retriever

    if args.k < 1:
        raise UserError(f"-k must be at least 1, got {args.k}")
    store = open_run(args, create=False)
    try:
        passages = get_retriever(store, mode=args.mode).retrieve(args.query, k=args.k)
    except RetrievalError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps([{"chunk_id": p.chunk_id, "score": p.score, "source": p.source, "page": p.page,
                           "row": p.row, "text": p.text} for p in passages], indent=2))
        return 0
    for i, p in enumerate(passages, 1):
        where = p.source + (f" p.{p.page}" if p.page is not None else "") + (f" row {p.row}" if p.row else "")
        print(f"[{i}] score {p.score:.4f}  {where}  ({p.chunk_id})")
        print("    " + p.text.strip()[:400].replace("\n", "\n    "))
    if not passages:
        print("no passages found")
    return 0


# -- generate ---------------------------------------------------------------------------------------
def teacher_spec(args: argparse.Namespace, store=None, resolved=None):
    """The teacher ModelSpec from flags, else `resolved` (the command's resolved config's teacher),
    else the run's stored config, else the bundled model."""
    from ..backends.spec import ModelSpec
    from ..cli import UserError

    flags = {"backend": args.teacher_backend, "model": args.teacher_model, "base_url": args.teacher_url,
             "api_key_env": args.teacher_key_env}
    given = {k: v for k, v in flags.items() if v is not None}
    base: dict = {}
    if resolved is not None and not given:
        base = dict(resolved.to_dict())
    elif store is not None and not given:
        rc = store.get_config("run_config") or {}
        if isinstance(rc, dict) and isinstance(rc.get("teacher"), dict):
            base = dict(rc["teacher"])
    if given.get("base_url") and "backend" not in given:
        given["backend"] = "openai"
    try:
        return ModelSpec.from_dict({**base, **given})
    except ValueError as e:
        raise UserError(f"teacher: {e}") from None


def cmd_generate(args: argparse.Namespace) -> int:
    store = open_run(args)
    if args.print_config:
        from .stages import _print_config

        return _print_config(generate_config(args, store))
    with stage_guard(store, "generate"):
        return _generate(args, store)


def generate_config(args: argparse.Namespace, store):
    """The resolved config of `synthrl generate` (synthrl.config.resolve_config, then this command's flags).

    The votes check what the generation writes: --concurrency sets the votes' concurrency too, and
    --max-tokens raises verify.max_tokens to at least the generation's budget.
    """
    from .stages import _run_config

    flags = field_overrides(args)
    gen = flags.get("generate", {})
    cfg = _run_config(store, args, flags)
    verify = {}
    if "concurrency" in gen:
        verify["concurrency"] = gen["concurrency"]
    if "max_tokens" in gen and cfg.verify.max_tokens < gen["max_tokens"]:
        verify["max_tokens"] = gen["max_tokens"]
    return _run_config(store, args, {**flags, "verify": {**flags.get("verify", {}), **verify}}) if verify else cfg


def _generate(args: argparse.Namespace, store) -> int:
    from ..backends.spec import load_model
    from ..cli import UserError
    from ..stages.generate import GenerationError, bundled_teacher_note, generate
    from ..task import load_task

    if args.task:
        task = load_task(args.task)
        store.save_task(task)
    else:
        task = store.load_task()
    cfg = generate_config(args, store)
    config, vcfg = cfg.generate, cfg.verify
    spec = teacher_spec(args, store, cfg.teacher)
    if spec.is_bundled:
        note = bundled_teacher_note()
        print(f"note: {note}", file=sys.stderr)
    teacher = load_model(spec, on_event=lambda level, msg: store.log("generate", msg, level=level))
    bar = _bar(config.n)
    try:
        report = generate(store, task, teacher, config, progress=bar.update_to, bundled=spec.is_bundled,
                          verify_config=vcfg)
    except GenerationError as e:
        raise UserError(str(e)) from None
    finally:
        bar.close()
        teacher.close()
    print(f"{task.name}: {report.summary()}")
    print(f"keywords: {', '.join(report.keywords)}")
    if report.parse_failures or report.teacher_failures:
        print(f"failures are kept with the raw replies: synthrl status {store.name} (parse_failures) "
              "or the Data tab")
    if report.total < config.n:
        # the target was not met: say so and exit non-zero, so scripts and the UI see it
        print(f"synthrl generate: error: the run holds {report.total} of the {config.n} samples asked for after "
              f"{report.attempts} generation requests; see the failures above, then run generate again to "
              "continue", file=sys.stderr)
        return 1
    return 0


class _Bar:
    def __init__(self, total: int):
        from tqdm import tqdm

        self.t = tqdm(total=total, desc="generate", unit="sample", file=sys.stderr, dynamic_ncols=True)

    def update_to(self, done: int, total: int) -> None:
        self.t.total = total
        self.t.n = done
        self.t.refresh()

    def close(self) -> None:
        self.t.close()


def _bar(total: int) -> _Bar:
    return _Bar(total)


# -- samples / edit -----------------------------------------------------------------------------------
def cmd_samples(args: argparse.Namespace) -> int:
    import dataclasses

    from ..review import sample_rows
    from ..stages.select import default_model_version

    store = open_run(args, create=False)
    version = args.model_version or default_model_version(store)
    rows = sample_rows(store, version=version, status=args.status, stale=args.stale, order=args.order)
    if args.json:
        print(json.dumps({"run": store.name, "model_version": version,
                          "samples": [dataclasses.asdict(r) for r in rows]}, indent=2))
        return 0
    if not rows:
        print("no samples match" + (" (none needs re-measuring)" if args.stale else ""))
        return 0
    print(f"{'id':>5} {'round':>5} {'origin':<9} {'status':<9} {'pass rate':<16} {'flags':<22} question")
    for r in rows:
        rate = "needs re-measure" if r.needs_remeasure and r.pass_rate is None else \
            "-" if r.pass_rate is None else f"{r.pass_rate:.2f} ({r.n_correct}/{r.n})"
        q = " ".join(r.question.split())
        print(f"{r.id:>5} {r.round:>5} {r.origin:<9} {r.status:<9} {rate:<16} {','.join(r.flags) or '-':<22} "
              f"{q[:70] + ('...' if len(q) > 70 else '')}")
        if args.order == "expert" and r.reasons:
            print(f"{'':>5} why: {'; '.join(r.reasons)}")
    stale = sum(r.needs_remeasure for r in rows)
    print(f"{len(rows)} samples; pass rates of {version or 'no student yet'}"
          + (f"; {stale} need re-measuring: `synthrl measure {store.name}`" if stale else ""))
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from ..cli import UserError
    from ..review import EditError, edit_sample

    if args.question is None and args.answer is None and args.status is None:
        raise UserError("nothing to change: give --question, --answer and/or --status")
    store = open_run(args, create=False)
    try:
        result = edit_sample(store, args.id, question=args.question, answer=args.answer, status=args.status,
                             author="cli")
    except EditError as e:
        raise UserError(str(e)) from None
    if result.warning:
        print(f"warning: {result.warning}", file=sys.stderr)
    if not result.changed:
        print(f"sample {args.id}: nothing changed")
        return 0
    print(f"sample {args.id}: saved {', '.join(result.changed)} as a new revision")
    if result.needs_remeasure:
        print(f"its pass rates are dropped ({result.invalidated} student versions); it needs re-measuring: "
              f"`synthrl measure {store.name}`")
    return 0
