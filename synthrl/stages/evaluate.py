"""Stage 7: zero-shot accuracy on a held-out benchmark, greedy, with the task's own checker.

A benchmark is a JSONL file, one object per line, with a question and an answer field
(names configurable). Every item is stored with the completion and the extracted answer,
so base and trained models can be compared item by item. An evaluation is keyed by
(model, selection the model was trained on, benchmark).

    eid = evaluate(store, task, "base", "assets/benchmarks/demo_addition.jsonl", EvalConfig(limit=20))
    store.evaluations()[-1]["accuracy"]
    compare(store, base_id, trained_id).fixed   # items the trained model gets right and the base did not
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..prompts import student_messages
from ..store import RunStore

MAX_REPORTED_PROBLEMS = 10


class EvalError(ValueError):
    """A benchmark or model problem the user can fix."""


@dataclass
class EvalConfig:
    """Evaluation settings: greedy decoding, batched."""

    question_field: str = field(default="question", metadata={"help": "JSON field holding the question"})
    answer_field: str = field(default="answer", metadata={"help": "JSON field holding the answer"})
    limit: int | None = field(default=None, metadata={"help": "evaluate the first N items only"})
    max_tokens: int = field(default=512, metadata={"help": "max new tokens per answer (paper: 600)"})
    batch_size: int = field(default=16, metadata={"help": "questions per generate call"})
    stop_at_answer: bool = field(default=True, metadata={
        "help": "stop each reply once its answer is complete (synthrl/stopping.py)"})
    skip_bad_lines: bool = field(default=False, metadata={
        "help": "evaluate the good lines of a benchmark that has bad ones (they are reported)"})

    def __post_init__(self):
        if self.limit is not None and self.limit < 1:
            raise EvalError(f"limit must be >= 1 (or unset), got {self.limit}")
        if self.max_tokens < 1:
            raise EvalError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.batch_size < 1:
            raise EvalError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.question_field or not self.answer_field:
            raise EvalError("question_field and answer_field must be non-empty")


@dataclass(frozen=True)
class BenchmarkItem:
    line: int
    question: str
    answer: str


@dataclass(frozen=True)
class Comparison:
    """Base vs trained on the same benchmark, item by item."""

    n: int
    base_accuracy: float
    trained_accuracy: float
    fixed: tuple[int, ...] = ()     # item indices: wrong before, right after
    broken: tuple[int, ...] = ()    # right before, wrong after
    both_right: int = 0
    both_wrong: int = 0
    items: tuple[dict, ...] = field(default=(), repr=False)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (95% by default); (0, 0) when n == 0."""
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def load_benchmark(path: str | os.PathLike, config: EvalConfig | None = None) -> tuple[list[BenchmarkItem], list[str]]:
    """Items and problems (each naming the file and line) of a JSONL benchmark."""
    config = config or EvalConfig()
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvalError(f"{p}: benchmark file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"{p}: cannot read benchmark: {e}") from None
    items, problems = [], []
    qf, af = config.question_field, config.answer_field
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{p}:{no}: not valid JSON ({e.msg})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{p}:{no}: expected a JSON object, got {type(obj).__name__}")
            continue
        missing = [f for f in (qf, af) if f not in obj or obj[f] is None or str(obj[f]).strip() == ""]
        if missing:
            problems.append(f"{p}:{no}: missing or empty field(s) {', '.join(repr(m) for m in missing)} "
                            f"(fields present: {', '.join(sorted(map(str, obj))) or 'none'})")
            continue
        items.append(BenchmarkItem(no, str(obj[qf]), str(obj[af])))
    return items, problems


def resolve_eval_model(store: RunStore, model: str) -> tuple[str, str]:
    """'base' | 'latest' | a folder -> (label stored with the evaluation, loadable path)."""
    from ..models import resolve_model
    from .train import base_model, latest_model

    if model == "base":
        return "base", resolve_model(base_model(store))
    if model == "latest":
        path = latest_model(store)
        if path is None:
            raise EvalError(f"run {store.name} has no trained model yet: run `synthrl train {store.name}` first")
        return path, path
    if model == "bundled":
        return "bundled", resolve_model("bundled")
    if not Path(model).exists():
        raise EvalError(f"model {model!r} not found: give base, latest or a model folder")
    return str(Path(model).resolve()), str(Path(model).resolve())


def evaluate(store: RunStore, task: Any, model: Any, benchmark_path: str | os.PathLike,
             config: EvalConfig | None = None) -> int:
    """Greedy accuracy of `model` on the benchmark; every item is stored. Returns the evaluation id.

    model: "base" (the run's student before training), "latest" (the newest trained weights),
    a model folder, or a ChatModel instance (tests, other backends).
    """
    from ..backends.base import ChatModel, GenerationParams
    from ..scoring import extract, is_correct

    config = config or EvalConfig()
    items, problems = load_benchmark(benchmark_path, config)
    if problems and not config.skip_bad_lines:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        raise EvalError(f"{len(problems)} bad line(s) in the benchmark:\n  " + "\n  ".join(shown)
                        + (f"\n  ... and {more} more" if more else ""))
    if config.limit:
        items = items[:config.limit]
    if not items:
        raise EvalError(f"{benchmark_path}: no usable items (fields {config.question_field!r}, "
                        f"{config.answer_field!r})")
    if isinstance(model, ChatModel):
        label, chat = model.describe(), model
    else:
        from ..backends.base import get_backend

        label, path = resolve_eval_model(store, str(model))
        chat = get_backend("transformers", model=path, max_batch_size=config.batch_size)
    for pr in problems:
        store.log("eval", f"skipped {pr}", "warning")
    from ..stopping import AnswerStop

    params = GenerationParams(n=1, temperature=0.0, max_tokens=config.max_tokens,
                              stop=AnswerStop.for_task(task) if config.stop_at_answer else None)
    rows: list[dict] = []
    store.set_progress("eval", 0, len(items), "running", f"{label} on {Path(benchmark_path).name}")
    for i in range(0, len(items), config.batch_size):
        batch = items[i:i + config.batch_size]
        outs = chat.chat([student_messages(task, it.question) for it in batch], params)
        for it, comps in zip(batch, outs):
            text = comps[0].text if comps else ""
            rows.append({"question": it.question, "reference": it.answer, "completion": text,
                         "extracted": extract(text, task), "correct": is_correct(text, it.answer, task)})
        store.set_progress("eval", len(rows), len(items), "running")
    k = sum(1 for r in rows if r["correct"])
    ci = wilson_interval(k, len(rows))
    # keyed by (model, selection, benchmark): a trained model carries the selection it was trained on
    selection_id = None if label in ("base", "bundled") else store.model_selection(label)
    eid = store.add_evaluation(label, str(Path(benchmark_path).resolve()), rows, ci, selection_id=selection_id)
    store.set_progress("eval", len(rows), len(items), "done", f"accuracy {k}/{len(rows)}")
    store.log("eval", f"{label}: accuracy {k}/{len(rows)} = {k / len(rows):.3f} "
                      f"(95% CI {ci[0]:.3f}-{ci[1]:.3f}) on {Path(benchmark_path).name}", eval_id=eid)
    return eid


def compare(store: RunStore, base_id: int, trained_id: int) -> Comparison:
    """Item-by-item differences between two evaluations of the same benchmark (matched by position)."""
    a, b = store.eval_items(base_id), store.eval_items(trained_id)
    by_idx = {r["idx"]: r for r in b}
    fixed, broken, both_right, both_wrong, items = [], [], 0, 0, []
    for ra in a:
        rb = by_idx.get(ra["idx"])
        if rb is None or rb["question"] != ra["question"]:
            continue
        ca, cb = bool(ra["correct"]), bool(rb["correct"])
        if cb and not ca:
            fixed.append(ra["idx"])
        elif ca and not cb:
            broken.append(ra["idx"])
        elif ca:
            both_right += 1
        else:
            both_wrong += 1
        items.append({"idx": ra["idx"], "question": ra["question"], "reference": ra["reference"],
                      "base": ra["extracted"], "trained": rb["extracted"], "base_correct": ca, "trained_correct": cb})
    n = len(items)
    return Comparison(
        n=n, base_accuracy=sum(i["base_correct"] for i in items) / n if n else 0.0,
        trained_accuracy=sum(i["trained_correct"] for i in items) / n if n else 0.0,
        fixed=tuple(fixed), broken=tuple(broken), both_right=both_right, both_wrong=both_wrong, items=tuple(items),
    )


def latest_pair(store: RunStore, benchmark_path: str | os.PathLike) -> tuple[dict | None, dict | None]:
    """The newest base evaluation and the newest trained one on this benchmark (either may be None)."""
    bench = str(Path(benchmark_path).resolve())
    base = trained = None
    for e in store.evaluations():
        if e["benchmark"] != bench:
            continue
        if e["model"] == "base":
            base = e
        elif e["model"] != "bundled":
            trained = e
    return base, trained
