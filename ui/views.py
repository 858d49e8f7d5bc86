"""What the workbench shows: pure functions of the run store (and of the user's inputs).

Nothing here imports Gradio, so every view is testable on a temporary store and
benchmarkable without a browser. Tables come back as pandas DataFrames, plots as
plotly figures, prose as Markdown strings; ui/app.py only wires them to components.

    df = review_table(store, ReviewFilter(status="verified", lo=0.1, hi=0.9))
    fig = pass_rate_histogram(store)
"""
from __future__ import annotations

import html
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from synthrl.store import NEEDS_REMEASURE, RunStore

TRAIN_KEYS = ("train/reward", "train/kl", "train/loss", "train/completion_length", "train/heldout_accuracy")
MAX_TABLE_ROWS = 500


def _clip(text: Any, n: int = 120) -> str:
    s = "" if text is None else str(text)
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _md_escape(text: Any) -> str:
    """Text shown inside Markdown as plain text: nothing in it can become markup.

    Model-written text must never act: HTML is escaped, and every character Markdown gives a meaning to
    is backslash-escaped, so `![x](http://host/pixel.png)` shows as those characters (no image is
    fetched, no link is made) and a bare URL is not turned into a link.
    """
    s = html.escape("" if text is None else str(text), quote=False)
    return _MD_SPECIAL.sub(r"\\\g<0>", s)


# ASCII punctuation that CommonMark/GFM give a meaning to (`:` and `.` stop bare-URL autolinks).
_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!|~:>=]")


def _code(text: Any) -> str:
    """Model text shown inline in monospace; escaped as `_md_escape` (a Markdown code span could be broken out of)."""
    return f"<code>{_md_escape(text)}</code>"


def _block(text: Any) -> str:
    """A fenced block for model-written text (kept verbatim, never rendered as Markdown).

    The fence is longer than any run of backticks in the text, so the text cannot close it.
    """
    s = "" if text is None else str(text)
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{s}\n{fence}"


def _ago(ts: float | None) -> str:
    if not ts:
        return ""
    d = max(0.0, time.time() - ts)
    if d < 90:
        return f"{int(d)}s ago"
    if d < 5400:
        return f"{int(d // 60)} min ago"
    if d < 86400 * 2:
        return f"{d / 3600:.1f} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def model_label(model: str | None) -> str:
    """'base', or a short name for a trained checkpoint stored by its path."""
    m = str(model or "?")
    if "/" not in m:
        return m
    parts = [x for x in m.rstrip("/").split("/") if x]
    return "trained: " + "/".join(parts[-2:]) if "checkpoints" in parts else ".../" + "/".join(parts[-2:])


# -- runs ------------------------------------------------------------------------------
RUN_COLUMNS = ["run", "task", "documents", "chunks", "samples", "measured", "selected", "train steps",
               "evaluations", "activity", "created"]


def runs_table(runs: list[dict], jobs: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per run (from store.list_runs()); `jobs` maps run -> {stage: job state}."""
    rows = []
    for r in runs:
        if "error" in r:
            rows.append([r["run"], f"unreadable: {r['error']}"] + [""] * (len(RUN_COLUMNS) - 2))
            continue
        running = [s for s, j in ((jobs or {}).get(r["run"]) or {}).items() if j.get("running")]
        prog = [f"{k} {v.get('done')}/{v.get('total')}" for k, v in (r.get("progress") or {}).items()
                if v.get("state") == "running"]
        activity = ", ".join(f"{s} running" for s in running) or ", ".join(prog) or ""
        evals = "; ".join(f"{model_label(e['model'])}: {e['accuracy']:.0%}" for e in r.get("evaluations") or [] if e.get("accuracy") is not None)
        rows.append([r["run"], r.get("task") or "(no task)", r.get("documents", 0), r.get("chunks", 0),
                     r.get("samples", 0), r.get("measured", 0), r.get("selected", 0), r.get("train_steps", 0),
                     evals, activity, _ago(r.get("created_at"))])
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def next_step(status: dict) -> str:
    """The one thing to do next, given a run's status counts."""
    if not status.get("task"):
        return "Pick or write a task on the **Task** tab and press *Save task to run*."
    if not status.get("chunks"):
        return "Add documents on the **Knowledge** tab and press *Ingest* (or generate without passages)."
    if not status.get("samples"):
        return "Generate samples on the **Generate** tab."
    if not status.get("measured"):
        return "Measure the student's pass rates (**Generate** tab, *Measure*), then look at **Difficulty**."
    if not status.get("selected"):
        return "Choose the training set on the **Select** tab."
    if not status.get("train_steps"):
        return "Train the student on the **Train** tab."
    if not status.get("evaluations"):
        return "Compare base and trained models on the **Evaluate** tab."
    return "Done: compare with other runs on the **Runs** tab, or adapt, select and train again."


def run_summary(status: dict | None, jobs: dict[str, dict] | None = None) -> str:
    """The status line at the top of the page."""
    if status is None:
        return ("**No run open.** Create one: pick a task on the **Task** tab, type a run name and press "
                "*Save task to run* — or open an existing run on the **Runs** tab.")
    by = status.get("samples_by_status") or {}
    parts = [f"**Run `{status['run']}`**", f"task `{status.get('task') or '—'}`",
             f"{status.get('documents', 0)} documents / {status.get('chunks', 0)} chunks",
             f"{status.get('samples', 0)} samples"
             + (" (" + ", ".join(f"{v} {k}" for k, v in sorted(by.items())) + ")" if by else ""),
             f"{status.get('measured', 0)} measured", f"{status.get('selected', 0)} selected",
             f"{status.get('train_steps', 0)} train steps"]
    running = [s for s, j in (jobs or {}).items() if j.get("running")]
    line = " · ".join(parts)
    if running:
        line += " · **running: " + ", ".join(running) + "**"
    return line + "\n\nNext: " + next_step(status)


def compare_runs(a: dict, b: dict, evals_a: list[dict], evals_b: list[dict]) -> pd.DataFrame:
    """Two runs side by side: counts, then the latest accuracy of each evaluated model."""
    keys = [("task", "task"), ("documents", "documents"), ("chunks", "chunks"), ("samples", "samples"),
            ("measured", "measured"), ("selected", "selected"), ("train steps", "train_steps"),
            ("rounds", "rounds"), ("parse failures", "parse_failures")]
    rows = [[label, a.get(k), b.get(k)] for label, k in keys]

    def latest(evals: list[dict]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for e in evals:
            out[f"{model_label(e['model'])} on {(e.get('benchmark') or '?').rsplit('/', 1)[-1]}"] = e
        return out

    la, lb = latest(evals_a), latest(evals_b)
    rows = [[f"accuracy: {key}", _fmt_acc(la.get(key)), _fmt_acc(lb.get(key))]
            for key in sorted(set(la) | set(lb))] + rows
    return pd.DataFrame([[r[0], "" if r[1] is None else str(r[1]), "" if r[2] is None else str(r[2])] for r in rows],
                        columns=["", a.get("run", "A"), b.get("run", "B") + (" " if b.get("run") == a.get("run") else "")])


def _fmt_acc(e: dict | None) -> str:
    if not e:
        return "—"
    ci = ""
    if e.get("ci_low") is not None and e.get("ci_high") is not None:
        ci = f" [{e['ci_low']:.0%}, {e['ci_high']:.0%}]"
    return f"{e['accuracy']:.1%}{ci} (n={e['n']})"


# -- task ------------------------------------------------------------------------------------
_PROBLEM_RE = re.compile(r"^(?P<src>.*?): field '(?P<field>[^']+)': (?P<reason>.*)$", re.S)


def task_problems(problems: Iterable[str]) -> list[tuple[str, str]]:
    """Split TaskError lines into (field, reason) pairs ("(file)" when no field is named)."""
    out = []
    for p in problems:
        m = _PROBLEM_RE.match(p)
        if m:
            out.append((m["field"], m["reason"].strip()))
        else:
            out.append(("(file)", p.split(": ", 1)[-1] if ": " in p else p))
    return out


def validate_task_text(text: str) -> tuple[Any, str]:
    """(TaskDefinition or None, Markdown verdict) for YAML typed in the editor."""
    from synthrl.task import TaskDefinition, TaskError

    if not (text or "").strip():
        return None, "Write a task in YAML (or pick a template): name, description, input_format, output_format, answer."
    try:
        task = TaskDefinition.from_yaml(text, source="task.yaml")
    except TaskError as e:
        rows = "\n".join(f"| {_code(f)} | {_md_escape(r)} |" for f, r in task_problems(e.problems))
        n = len(e.problems)
        return None, f"**✗ {n} problem{'s' if n != 1 else ''}** — fix {'them' if n != 1 else 'it'} to save:\n\n| field | reason |\n|---|---|\n{rows}"
    extra = f", {len(task.demos)} demo{'s' if len(task.demos) != 1 else ''}" if task.demos else ""
    return task, (f"**✓ valid** — `{task.name}` v{task.version}, answer type `{task.answer.type}` "
                  f"(format `{task.answer.format}`){extra}.")


TASK_FORM_FIELDS = ("name", "version", "description", "input_format", "output_format", "answer_type",
                    "answer_format", "choices", "labels", "domain", "keywords", "system_prompt")


def task_to_form(text: str) -> dict[str, str] | None:
    """The form's field values for YAML text (None when the YAML is not a mapping)."""
    import yaml

    try:
        d = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return None
    if not isinstance(d, dict):
        return None
    a = d.get("answer") if isinstance(d.get("answer"), dict) else {}
    r = d.get("retrieval") if isinstance(d.get("retrieval"), dict) else {}

    def s(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, list):
            return ", ".join(str(x) for x in v)
        return str(v)

    return {"name": s(d.get("name")), "version": s(d.get("version")), "description": s(d.get("description")),
            "input_format": s(d.get("input_format")), "output_format": s(d.get("output_format")),
            "answer_type": s(a.get("type")) or "number", "answer_format": s(a.get("format")) or "",
            "choices": s(a.get("choices")), "labels": s(a.get("labels")), "domain": s(r.get("domain")),
            "keywords": s(r.get("keywords")), "system_prompt": s(d.get("system_prompt"))}


def form_to_yaml(values: dict[str, str], current_yaml: str = "") -> str:
    """YAML for the form's values; demos (and anything the form has no field for) come from current_yaml."""
    import yaml

    try:
        base = yaml.safe_load(current_yaml or "")
    except yaml.YAMLError:
        base = None
    base = base if isinstance(base, dict) else {}

    def lst(v: str) -> list[str]:
        return [x.strip() for x in (v or "").split(",") if x.strip()]

    d: dict[str, Any] = {}
    for k in ("name", "version", "description", "input_format", "output_format"):
        if (values.get(k) or "").strip():
            d[k] = values[k]
    ans: dict[str, Any] = {"type": values.get("answer_type") or "number"}
    if (values.get("answer_format") or "").strip():
        ans["format"] = values["answer_format"]
    if lst(values.get("choices", "")):
        ans["choices"] = lst(values["choices"])
    if lst(values.get("labels", "")):
        ans["labels"] = lst(values["labels"])
    d["answer"] = ans
    if "demos" in base:
        d["demos"] = base["demos"]
    ret: dict[str, Any] = {}
    if (values.get("domain") or "").strip():
        ret["domain"] = values["domain"].strip()
    if lst(values.get("keywords", "")):
        ret["keywords"] = lst(values["keywords"])
    if ret:
        d["retrieval"] = ret
    if (values.get("system_prompt") or "").strip():
        d["system_prompt"] = values["system_prompt"]
    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=100)


def check_answer(task: Any, completion: str, reference: str) -> str:
    """Run THE answer checker on a pasted completion and reference; say what it extracted."""
    if task is None:
        return "Fix the task first: the checker depends on its answer type and format."
    if not (completion or "").strip():
        return "Paste a completion (a model's full reply) to see what the checker extracts from it."
    from synthrl import scoring

    got = scoring.extract(completion, task)
    lines = [f"- extracted answer: {_code(got)}" if got is not None else
             f"- **no answer found** — the checker looks for a `{task.answer.type}` answer in format "
             f"`{task.answer.format}`; check the output format"]
    if (reference or "").strip():
        ref = scoring.extract(reference, task) or reference.strip()
        ok = scoring.is_correct(completion, reference, task)
        lines.append(f"- reference answer: {_code(ref)}")
        lines.append("- verdict: **✓ correct** (reward 1)" if ok else "- verdict: **✗ wrong** (reward 0)")
    return "\n".join(lines)


# -- knowledge ------------------------------------------------------------------------------------
def documents_table(store: RunStore) -> pd.DataFrame:
    rows = [[d["path"].rsplit("/", 1)[-1], d["status"], d["n_chunks"], d.get("error") or "", _ago(d.get("added_at"))]
            for d in store.documents()]
    return pd.DataFrame(rows, columns=["file", "status", "chunks", "problem", "added"])


def knowledge_summary(store: RunStore) -> str:
    docs = store.documents()
    if not docs:
        return ("**No documents yet.** Upload .txt .md .pdf .html .docx .jsonl .csv files above and press *Ingest*. "
                "For the demo, press *Add the demo corpus*.")
    ok = sum(1 for d in docs if d["status"] == "ok")
    bad = [d for d in docs if d["status"] != "ok"]
    n_chunks = store.scalar("SELECT count(*) FROM chunks") or 0
    s = f"**{ok} of {len(docs)} documents ingested**, {n_chunks} chunks."
    if bad:
        s += f" {len(bad)} failed — see *problem* in the table; fix or remove those files and ingest again."
    return s


def passages_table(passages: list) -> pd.DataFrame:
    rows = [[i + 1, round(float(p.score), 4), p.source + (f" p.{p.page}" if p.page else "")
             + (f" row {p.row}" if p.row is not None else ""), _clip(p.text, 400)]
            for i, p in enumerate(passages)]
    return pd.DataFrame(rows, columns=["#", "score", "source", "passage"])


# -- samples ------------------------------------------------------------------------------------------
def student_versions(store: RunStore) -> list[str]:
    """Model versions with pass rates; the run's base student (the select stage's default) first."""
    rows = store.query("SELECT model_version, count(*) AS n, max(at) AS t FROM pass_rates GROUP BY model_version"
                       " ORDER BY n DESC, t DESC")
    versions = [r["model_version"] for r in rows]
    base = store.base_student_version()
    return ([base] if base in versions else []) + [v for v in versions if v != base]


_FRAME_CACHE: dict[tuple, pd.DataFrame] = {}


def clear_cache() -> None:
    _FRAME_CACHE.clear()
    _QUEUE_CACHE.clear()


def _frame(store: RunStore, version: str | None) -> pd.DataFrame:
    """Every sample with its pass rate under `version`; treat as read-only.

    One page render asks for it several times (table, histograms, selection), so the last few
    are kept, keyed by the store's data fingerprint: any write makes a fresh one.
    """
    key = (str(store.path), version, store.data_version())
    hit = _FRAME_CACHE.get(key)
    if hit is not None:
        return hit
    df = _load_frame(store, version)
    if len(_FRAME_CACHE) >= 4:
        _FRAME_CACHE.pop(next(iter(_FRAME_CACHE)))
    _FRAME_CACHE[key] = df
    return df


def _load_frame(store: RunStore, version: str | None) -> pd.DataFrame:
    df = pd.DataFrame([dict(r) for r in store.query(
        "SELECT id, round, origin, parent_id, status, flags, agreement, question, reference FROM samples ORDER BY id")],
        columns=["id", "round", "origin", "parent_id", "status", "flags", "agreement", "question", "reference"])
    if version is None:
        versions = student_versions(store)
        version = versions[0] if versions else None
    if version is not None and len(df):
        pr = pd.DataFrame([dict(r) for r in store.query(
            "SELECT sample_id AS id, n, n_correct FROM pass_rates WHERE model_version=?", (version,))],
            columns=["id", "n", "n_correct"])
        df = df.merge(pr, on="id", how="left")
        df["pass_rate"] = df["n_correct"] / df["n"].where(df["n"] > 0)
    else:
        df["n"] = float("nan")
        df["n_correct"] = float("nan")
        df["pass_rate"] = float("nan")
    return df


@dataclass(frozen=True)
class ReviewFilter:
    """What the Review tab's filter controls hold."""

    round: str = "all"  # "all" or a round number as text
    origin: str = "all"
    status: str = "all"
    lo: float = 0.0
    hi: float = 1.0
    unmeasured: bool = True  # include samples with no pass rate yet
    flagged_only: bool = False
    text: str = ""
    order: str = "expert"  # "expert" (needs an expert first), "id", "judge" (lowest judge rating first)
    reason: str = "all"  # "all", "any" (any reason), or one synthrl.triage reason code


def filter_samples(store: RunStore, f: ReviewFilter, version: str | None = None,
                   frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """`frame`: _frame(store, version) when the caller holds it already (one data-version read per render)."""
    df = _frame(store, version) if frame is None else frame
    if not len(df):
        return df
    if f.reason not in ("all", "", None):
        from synthrl.triage import reason_mask

        q = review_queue(store, version, df)
        keep = q.index[(q["mask"].to_numpy() & reason_mask([f.reason])) != 0]
        df = df[df["id"].isin(keep)]
    m = pd.Series(True, index=df.index)
    if f.round not in ("all", "", None):
        m &= df["round"] == int(f.round)
    if f.origin not in ("all", "", None):
        m &= df["origin"] == f.origin
    if f.status not in ("all", "", None):
        m &= df["status"] == f.status
    pr = df["pass_rate"]
    in_range = (pr >= float(f.lo) - 1e-9) & (pr <= float(f.hi) + 1e-9)
    m &= in_range | (pr.isna() if f.unmeasured else False)
    if f.flagged_only:
        m &= df["flags"].fillna("") != ""
    if (f.text or "").strip():
        t = f.text.strip().lower()
        m &= df["question"].str.lower().str.contains(t, regex=False) | \
            df["reference"].fillna("").str.lower().str.contains(t, regex=False)
    return df[m]


REVIEW_COLUMNS = ["id", "round", "origin", "status", "pass rate", "flags", "question", "reference", "judge",
                  "needs an expert because"]
REVIEW_ORDERS = (("needs an expert", "expert"), ("id", "id"), ("judge score, lowest first", "judge"))
REVIEW_REASONS = (("all samples", "all"), ("any reason", "any"), ("likely wrong label", "wrong_label"),
                  ("low judge score", "low_judge"), ("suspect label", "suspect_label"),
                  ("contaminated", "contaminated"), ("split votes", "split_votes"),
                  ("near-duplicate of accepted", "near_duplicate"), ("edited, not re-measured", "needs_remeasure"))
_QUEUE_CACHE: dict[tuple, tuple[pd.DataFrame, pd.DataFrame]] = {}


def review_queue(store: RunStore, version: str | None = None, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """synthrl.triage.queue_frame on the cached sample frame, kept as long as that frame is (one data version)."""
    df = _frame(store, version) if frame is None else frame
    key = (str(store.path), version, id(df))
    hit = _QUEUE_CACHE.get(key)
    if hit is not None and hit[0] is df:
        return hit[1]
    from synthrl.triage import queue_frame

    if version is None:
        versions = student_versions(store)
        version = versions[0] if versions else None
    q = queue_frame(store, version, samples=df if len(df) else None)
    if len(_QUEUE_CACHE) >= 4:
        _QUEUE_CACHE.pop(next(iter(_QUEUE_CACHE)))
    _QUEUE_CACHE[key] = (df, q)
    return q


def ordered_ids(store: RunStore, f: ReviewFilter, version: str | None = None) -> list[int]:
    """The filtered sample ids in the filter's order (what the table lists and Next walks)."""
    frame = _frame(store, version)
    df = _in_order(store, filter_samples(store, f, version, frame), f.order, version, frame)
    return [int(i) for i in df["id"]] if len(df) else []


def _in_order(store: RunStore, df: pd.DataFrame, order: str, version: str | None,
              frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """`df` (rows of _frame) sorted by id, by the review queue, or by judge rating."""
    if order == "id" or not len(df):
        return df
    q = review_queue(store, version, frame)
    if order == "judge":
        q = q.sort_values(["judge", "id"], na_position="last", kind="stable")
    ids = q["id"][q["id"].isin(df["id"])].to_numpy()
    return df.set_index("id", drop=False).loc[ids]


def next_in_queue(store: RunStore, f: ReviewFilter, current: int | None, version: str | None = None,
                  step: int = 1) -> int | None:
    """The sample to review after (step=1) or before (step=-1) `current` in the filter's order.

    In the "needs an expert" order a decided sample drops to the end of the queue, so after an accept
    or reject Next goes to the first sample still open rather than to the decided one's new neighbour.
    """
    ids = ordered_ids(store, f, version)
    if not ids:
        return None
    if current is None or int(current) not in ids:
        return ids[0] if step > 0 else ids[-1]
    i = ids.index(int(current))
    if f.order == "expert" and step > 0:
        tier = review_queue(store, version)["tier"].reindex(ids).to_numpy()
        if tier[i] == 2:
            open_at = [k for k in (tier < 2).nonzero()[0] if k != i]
            if open_at:
                return ids[open_at[0]]
    j = i + step
    return ids[j] if 0 <= j < len(ids) else None


def review_table(store: RunStore, f: ReviewFilter, version: str | None = None,
                 limit: int = MAX_TABLE_ROWS) -> tuple[pd.DataFrame, str]:
    """(the rows to show, a caption saying how many match). The table shows at most `limit` rows."""
    total = store.scalar("SELECT count(*) FROM samples") or 0
    if not total:
        return pd.DataFrame(columns=REVIEW_COLUMNS), "**No samples yet.** Generate some on the **Generate** tab."
    frame = _frame(store, version)
    df = filter_samples(store, f, version, frame)
    q = review_queue(store, version, frame)
    df = _in_order(store, df, f.order, version, frame)
    shown = df.head(limit).reset_index(drop=True)
    from synthrl.triage import reasons_of

    qs = q.reindex(shown["id"].astype(int).tolist())
    out = pd.DataFrame({
        "id": shown["id"].astype(int), "round": shown["round"].astype(int), "origin": shown["origin"],
        "status": shown["status"],
        "pass rate": [(("needs re-measure" if NEEDS_REMEASURE in (fl or "").split(",") else "") if pd.isna(p)
                       else f"{p:.2f} ({int(k)}/{int(n)})")
                      for p, k, n, fl in zip(shown["pass_rate"], shown["n_correct"], shown["n"], shown["flags"])],
        "flags": shown["flags"].fillna(""), "question": [_clip(q, 140) for q in shown["question"]],
        "reference": shown["reference"].fillna("").map(lambda x: _clip(x, 40)),
        "judge": ["" if pd.isna(j) else f"{int(j)}/5" for j in qs["judge"]],
        "needs an expert because": ["" if pd.isna(row["mask"]) or not int(row["mask"]) else
                                    "; ".join(r.text for r in reasons_of(row)) for row in qs.to_dict("records")],
    }, columns=REVIEW_COLUMNS)
    cap = f"**{len(df)} of {total} samples match**"
    if len(df) > limit:
        cap += f" (showing the first {limit}; narrow the filter to see the rest — bulk actions apply to all {len(df)})"
    n_open = int((q["tier"] == 0).sum()) if len(q) else 0
    cap += (f". **{n_open} open samples need an expert**" + (" — most urgent first" if f.order == "expert" else "")
            + ". Click a row to see and edit it (keys: **a** accept, **r** reject, **n** next, **p** previous).")
    judged = judge_summary(store)
    if judged:
        cap += "\n\n" + judged
    return out, cap


def judge_summary(store: RunStore) -> str:
    """What the judge pass rated and what it cost ("" before any judging)."""
    c = store.judge_cost()
    if not c["samples"]:
        return ""
    low = len(store.query("SELECT 1 FROM (SELECT sample_id, max(id) AS id FROM judgements GROUP BY sample_id) l"
                          " JOIN judgements j ON j.id=l.id WHERE min(j.grounding, j.clarity, j.correctness) < 3"))
    from synthrl.models import BUNDLED_NAME

    noise = any(BUNDLED_NAME in (m or "").lower() for m in c["models"])
    return (f"Judge: {c['samples']} samples rated by {', '.join(_code(_clip(m, 50)) for m in c['models'])}; "
            f"{low} under 3/5. Cost: {c['calls']} calls, {c['prompt_tokens'] + c['completion_tokens']:,} tokens "
            f"({c['prompt_tokens']:,} prompt + {c['completion_tokens']:,} completion)."
            + (" ⚠ Ratings by the bundled demo teacher are noise." if noise else ""))


def fix_preview(store: RunStore, spec, sample_ids: list[int] | None) -> tuple[pd.DataFrame, str]:
    """Every change a find/replace would make (synthrl.fix.plan_fix): id, field, matches, before, after."""
    from synthrl.fix import plan_fix

    changes = plan_fix(store, spec, sample_ids)
    rows = [[c.sample_id, c.field, c.count, *c.snippet()] for c in changes]
    df = pd.DataFrame(rows, columns=["id", "field", "matches", "before", "after"])
    n = len(sample_ids) if sample_ids is not None else (store.scalar("SELECT count(*) FROM samples") or 0)
    if not changes:
        return df, f"No change: {_code(spec.find)} matches none of the {n} filtered samples' {spec.field}s."
    measured = 0
    ids = [c.sample_id for c in changes]
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        measured += store.scalar(f"SELECT count(DISTINCT sample_id) FROM attempts WHERE sample_id IN "
                                 f"({','.join('?' * len(part))})", part) or 0
    return df, (f"**{len(changes)} of the {n} filtered samples would change** ({sum(c.count for c in changes)} "
                f"replacements in the {spec.field}). Each change is a revision you can undo as one batch; "
                f"{measured} of them lose their pass rates and need re-measuring.")


def fix_batches_table(store: RunStore) -> pd.DataFrame:
    rows = [[b["id"], b["author"] or "", b["spec"]["field"], b["spec"]["find"], b["spec"]["replace"],
             "yes" if b["spec"].get("regex") else "", b["n"], _ago(b["at"]),
             f"undone by {b['undone_by']} {_ago(b['undone_at'])}" if b["undone_at"] else ""]
            for b in reversed(store.fix_batches())]
    return pd.DataFrame(rows, columns=["batch", "author", "field", "find", "replace", "regex", "samples", "when",
                                       "undone"])


def _triage_notes(store: RunStore, sample_id: int, version: str | None) -> list[str]:
    """Why the sample needs an expert (synthrl.triage) and the judge's latest verdict, as Markdown lines."""
    from synthrl.triage import reasons_of

    out = []
    q = review_queue(store, version)
    if sample_id in q.index and int(q.at[sample_id, "mask"]):
        out.append("**Needs an expert because:** " + "; ".join(_md_escape(r.text) for r in reasons_of(q.loc[sample_id])))
    js = store.judgements(sample_id)
    if js:
        j = js[-1]
        out.append(f"**Judge** ({_code(_clip(j['model'], 50))}, {_ago(j['at'])}): " + "; ".join(
            f"{k} **{j[k]}/5** — {_md_escape(_clip(j[k + '_reason'], 160))}"
            for k in ("grounding", "clarity", "correctness")))
    return out


def _contamination_note(store: RunStore, sample_id: int) -> str:
    """Why a sample is flagged 'contaminated': the benchmark lines it repeats (synthrl.contamination)."""
    from synthrl.contamination import stored_report

    rep = stored_report(store)
    lines = rep.samples.get(sample_id, []) if rep else []
    where = (f"benchmark {_code(Path(rep.benchmark).name)}, line(s) {', '.join(map(str, lines[:10]))}"
             if lines else "the evaluation benchmark")
    return (f"⚠ **Overlaps {where}** (shares a {rep.n if rep else 13}-word sequence): kept out of training "
            "unless select.exclude_contaminated is false.")


def sample_detail(store: RunStore, sample_id: int, version: str | None = None) -> str:
    """Everything about one sample: text, reference, votes, passage, lineage, attempts, revisions."""
    s = store.sample(int(sample_id))
    if s is None:
        return f"Sample {sample_id} does not exist in this run (it may have been deleted); refresh the table."
    out = [f"### Sample {s.id} · round {s.round} · {s.origin} · **{s.status}**"
           + (f" · flags: {', '.join(s.flags)}" if s.flags else "")]
    if "contaminated" in s.flags:
        out.append(_contamination_note(store, s.id))
    out += _triage_notes(store, s.id, version)
    if s.agreement is not None:
        out.append(f"Teacher agreement: **{s.agreement:.0%}**")
    if s.error:
        out.append(f"Problem: {_md_escape(s.error)}")
    out += ["**Question**", _block(s.question), "**Answer (teacher solution)**", _block(s.answer),
            f"**Reference answer:** {_code(s.reference)}"]
    rates = [pr for pr in store.query("SELECT * FROM pass_rates WHERE sample_id=?", (s.id,))]
    if rates:
        out.append("**Pass rates:** " + "; ".join(
            f"`{_clip(r['model_version'], 40)}`: {r['n_correct']}/{r['n']} = {r['n_correct'] / r['n']:.2f}"
            + (" (greedy ✓)" if r["greedy_correct"] else " (greedy ✗)" if r["greedy_correct"] is not None else "")
            for r in rates if r["n"]))
    elif NEEDS_REMEASURE in s.flags:
        out.append("**Pass rate:** needs re-measure — edited since it was measured, so its old pass rates "
                   "were dropped; press *Re-measure*.")
    else:
        out.append("**Pass rate:** not measured yet — press *Re-measure*.")
    votes = store.votes(s.id)
    if votes:
        counts: dict[str, int] = {}
        for v in votes:
            counts[str(v.extracted)] = counts.get(str(v.extracted), 0) + 1
        out.append(f"**Teacher votes ({len(votes)}):** " + ", ".join(
            f"{_code(k)} × {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])))
        if "program_aided" in s.flags:
            # program-aided votes: each teacher expression and the value the safe evaluator computed
            shown = [((v.completion or "").strip().splitlines() or [""])[0] for v in votes if v.idx > 0]
            values = [v.extracted for v in votes if v.idx > 0]
            out.append("**Expressions (computed, never eval):** " + "; ".join(
                f"{_code(_clip(e, 60))} → {_code(x)}" for e, x in zip(shown, values)))
    if s.passage_id:
        ch = store.chunk(s.passage_id)
        if ch is not None:
            out += [f"**Passage** ({_md_escape(ch.source)}" + (f", page {ch.page}" if ch.page else "") + ")",
                    _block(_clip(ch.text, 1500))]
        else:
            out.append(f"**Passage:** {_code(s.passage_id)} (no longer in the index)")
    if s.parent_id is not None:
        p = store.sample(s.parent_id)
        if p is not None:
            out.append(f"**Parent:** #{p.id} ({p.origin}, round {p.round}): {_md_escape(_clip(p.question, 200))}")
    kids = store.children(s.id)
    if kids:
        out.append("**Children:** " + "; ".join(f"#{k.id} {k.origin} ({k.status}): {_md_escape(_clip(k.question, 80))}"
                                                for k in kids))
    atts = store.attempts(s.id, version) if version else store.attempts(s.id)
    if atts:
        n_ok = sum(a.correct for a in atts)
        table = [f"**Student attempts ({n_ok}/{len(atts)} correct):**", "",
                 "| # | kind | extracted | correct | completion |", "|---|---|---|---|---|"]
        for i, a in enumerate(atts[:16]):
            table.append(f"| {i + 1} | {a.kind} | {_code(a.extracted)} | {'✓' if a.correct else '✗'} | "
                         f"{_md_escape(_clip(a.completion, 100))} |")
        out.append("\n".join(table))
        if len(atts) > 16:
            out.append(f"… and {len(atts) - 16} more")
    revs = store.revisions(s.id)
    if revs:
        out.append(f"**Revisions ({len(revs)}):**")
        for r in revs:
            out.append(f"- {r['field']} by {r['author'] or '?'} {_ago(r['at'])}: "
                       f"{_code(_clip(r['old'], 60))} → {_code(_clip(r['new'], 60))}")
    return "\n\n".join(out)


# -- difficulty ------------------------------------------------------------------------------------------
BINS = 10
_LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}


def _empty_figure(message: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14}, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=320,
                      margin={"l": 20, "r": 20, "t": 40, "b": 20})
    return fig


def _bin_counts(rates: Iterable[float], bins: int = BINS) -> list[int]:
    counts = [0] * bins
    for p in rates:
        counts[min(bins - 1, int(p * bins))] += 1
    return counts


class _Bins:
    """Histogram bins shared by every trace of a figure.

    Pass rates are k/L, so with few distinct values (the usual case) each value gets its own bar —
    fixed-width bins would leave gaps and merge 0 with small rates. Otherwise BINS equal bins.
    """

    def __init__(self, all_rates: Iterable[float]):
        values = sorted({round(float(p), 6) for p in all_rates})
        self.exact = 0 < len(values) <= 2 * BINS + 1
        if self.exact:
            self.x = values
            gap = min((b - a for a, b in zip(values, values[1:])), default=0.1)
            self.width = max(0.01, min(0.1, gap) * 0.85)
        else:
            self.x = [(i + 0.5) / BINS for i in range(BINS)]
            self.width = 0.9 / BINS

    def counts(self, rates: Iterable[float]) -> list[int]:
        if not self.exact:
            return _bin_counts(rates)
        index = {v: i for i, v in enumerate(self.x)}
        out = [0] * len(self.x)
        for p in rates:
            out[index[round(float(p), 6)]] += 1
        return out


def pass_rate_histogram(store: RunStore, version: str | None = None, band: tuple[float, float] | None = None):
    """Pass-rate histogram per round, plus the pool before vs after adaptation."""
    import plotly.graph_objects as go

    df = _frame(store, version)
    df = df[df["pass_rate"].notna() & ~df["status"].isin(["dropped", "rejected", "failed"])] if len(df) else df
    if not len(df):
        return _empty_figure("No pass rates yet: measure the student (Generate tab → Measure)")
    bins = _Bins(df["pass_rate"])
    fig = go.Figure()
    for rnd in sorted(df["round"].unique()):
        sub = df[df["round"] == rnd]
        fig.add_bar(x=bins.x, y=bins.counts(sub["pass_rate"]), name=f"round {rnd} ({len(sub)})", width=bins.width)
    if band is not None:
        fig.add_vrect(x0=band[0], x1=band[1], fillcolor="green", opacity=0.08, line_width=0,
                      annotation_text="band", annotation_position="top left")
    fig.update_layout(barmode="stack", title="Pass rate per sample, by round", xaxis_title="pass rate",
                      yaxis_title="samples", xaxis={"range": [-0.06, 1.06]}, height=360, legend=_LEGEND,
                      margin={"l": 50, "r": 20, "t": 70, "b": 40})
    return fig


def before_after_figure(store: RunStore, version: str | None = None):
    """The pool before adaptation (round 0) next to the pool after it (all rounds): is it more balanced?"""
    import plotly.graph_objects as go

    df = _frame(store, version)
    df = df[df["pass_rate"].notna() & ~df["status"].isin(["dropped", "rejected", "failed"])] if len(df) else df
    if not len(df):
        return _empty_figure("No pass rates yet")
    if df["round"].nunique() < 2:
        return _empty_figure("Adapt difficulty (Generate tab) and measure the rewrites to compare")
    bins = _Bins(df["pass_rate"])
    before = df[df["round"] == df["round"].min()]
    fig = go.Figure()
    fig.add_bar(x=bins.x, y=bins.counts(before["pass_rate"]), name=f"before adaptation ({len(before)})",
                marker_color="#9ca3af")
    fig.add_bar(x=bins.x, y=bins.counts(df["pass_rate"]), name=f"after adaptation, pool ({len(df)})",
                marker_color="#2563eb")
    fig.update_layout(barmode="group", title="Before vs after adaptation", xaxis_title="pass rate",
                      yaxis_title="samples", xaxis={"range": [-0.06, 1.06]}, height=360, legend=_LEGEND,
                      margin={"l": 50, "r": 20, "t": 70, "b": 40})
    return fig


def parent_child_shifts(store: RunStore, version: str | None = None) -> pd.DataFrame:
    """One row per rewritten sample: parent pass rate -> child pass rate."""
    df = _frame(store, version)
    if not len(df):
        return pd.DataFrame(columns=["child", "parent", "origin", "parent_rate", "child_rate"])
    rate = dict(zip(df["id"], df["pass_rate"]))
    kids = df[df["parent_id"].notna()]
    rows = [[int(c), int(p), o, rate.get(int(p)), r] for c, p, o, r in
            zip(kids["id"], kids["parent_id"], kids["origin"], kids["pass_rate"])]
    out = pd.DataFrame(rows, columns=["child", "parent", "origin", "parent_rate", "child_rate"])
    return out.dropna(subset=["parent_rate", "child_rate"])


def shifts_figure(store: RunStore, version: str | None = None):
    import plotly.graph_objects as go

    sh = parent_child_shifts(store, version)
    if not len(sh):
        return _empty_figure("No measured rewrites yet: adapt (harder/easier) and measure them")
    fig = go.Figure()
    for origin, color in (("harder", "#d62728"), ("easier", "#2ca02c")):
        sub = sh[sh["origin"] == origin]
        if len(sub):
            fig.add_scatter(x=sub["parent_rate"], y=sub["child_rate"], mode="markers", name=f"{origin} ({len(sub)})",
                            marker={"color": color, "size": 9, "opacity": 0.7},
                            text=[f"#{p} → #{c}" for p, c in zip(sub["parent"], sub["child"])])
    other = sh[~sh["origin"].isin(["harder", "easier"])]
    if len(other):
        fig.add_scatter(x=other["parent_rate"], y=other["child_rate"], mode="markers", name="other")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="no change")
    fig.update_layout(title="Parent → child pass rate", xaxis_title="parent", yaxis_title="child",
                      xaxis={"range": [-0.05, 1.05]}, yaxis={"range": [-0.05, 1.05]}, height=360,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


def difficulty_summary(store: RunStore, version: str | None = None) -> str:
    df = _frame(store, version)
    df = df[df["pass_rate"].notna() & ~df["status"].isin(["dropped", "rejected", "failed"])] if len(df) else df
    if not len(df):
        return "**No pass rates yet.** Measure the student on the **Generate** tab (*Measure*), then come back."
    lines = ["| round | samples | solved never | learnable (0<p<1) | always solved | mean pass rate |",
             "|---|---|---|---|---|---|"]
    for rnd in sorted(df["round"].unique()):
        sub = df[df["round"] == rnd]
        lines.append(_band_row(f"{rnd}", sub["pass_rate"]))
    if df["round"].nunique() > 1:
        lines.append(_band_row("pool", df["pass_rate"]))
    sh = parent_child_shifts(store, version)
    for origin in ("harder", "easier"):
        sub = sh[sh["origin"] == origin]
        if len(sub):
            d = (sub["child_rate"] - sub["parent_rate"]).mean()
            lines.append(f"\n{origin} rewrites: {len(sub)}, mean pass-rate change **{d:+.2f}**")
    return "\n".join(lines)


def _band_row(label: str, rates: pd.Series) -> str:
    n = len(rates)
    zero = int((rates <= 0).sum())
    one = int((rates >= 1).sum())
    mid = n - zero - one
    return f"| {label} | {n} | {zero} ({zero / n:.0%}) | **{mid} ({mid / n:.0%})** | {one} ({one / n:.0%}) | {rates.mean():.2f} |"


# -- map (the data at a glance) ----------------------------------------------------------------------------------
MAP_COLOR_BY = ("pass rate", "status", "round", "origin")


def map_view(store: RunStore, color: str = "pass rate", version: str | None = None):
    """The sample map from the store's cached projection (synthrl.atlas; `synthrl map` / Update map computes it)."""
    from synthrl.atlas import map_figure

    return map_figure(store, color, version, samples=_frame(store, version))


def coverage_view(store: RunStore) -> str:
    from synthrl.atlas import coverage, coverage_markdown

    return coverage_markdown(coverage(store))


# -- select ---------------------------------------------------------------------------------------------------
def select_rules() -> list[str]:
    """The registered selection rules (synthrl.stages.select), for the Select tab's choices."""
    from synthrl.stages.select import rule_names

    return list(rule_names())


def _rule_help(rule: str) -> str:
    from synthrl.stages.select import get_rule

    try:
        return get_rule(rule).help
    except ValueError:
        return ""


def rule_uses_band(rule: str) -> bool:
    from synthrl.stages.select import get_rule

    try:
        return get_rule(rule).uses_band
    except ValueError:
        return False


def select_config(rule: str, lo: float | None, hi: float | None, m: int | None, version: str | None = None):
    """The select stage's config for the Select tab's controls (band only matters for band/top)."""
    from synthrl.stages.select import SelectConfig

    use_band = rule_uses_band(rule)
    return SelectConfig(rule=rule, m=int(m) if m else None, lo=float(lo) if use_band and lo is not None else None,
                        hi=float(hi) if use_band and hi is not None else None, model_version=version)


def preview_selection(store: RunStore, rule: str, lo: float, hi: float, m: int,
                      version: str | None = None) -> pd.DataFrame:
    """The samples the select stage would keep, in rank order (its own select_ids, so preview == result)."""
    from synthrl.stages.select import CANDIDATE_STATUSES, default_model_version, select_ids

    version = version or default_model_version(store)
    df = _frame(store, version)
    if not len(df):
        return df
    df = df[df["pass_rate"].notna() & df["status"].isin(CANDIDATE_STATUSES)]
    ids = select_ids(dict(zip(df["id"].astype(int), df["pass_rate"].astype(float))),
                     select_config(rule, lo, hi, m, version))
    return df.set_index("id", drop=False).loc[ids] if ids else df.head(0)


def selection_figure(store: RunStore, chosen: pd.DataFrame, version: str | None = None,
                     band: tuple[float, float] | None = None):
    import plotly.graph_objects as go

    df = _frame(store, version)
    df = df[df["pass_rate"].notna() & df["status"].isin(["verified", "accepted"])] if len(df) else df
    if not len(df):
        return _empty_figure("Nothing to select yet: measure verified samples first")
    bins = _Bins(df["pass_rate"])
    fig = go.Figure()
    fig.add_bar(x=bins.x, y=bins.counts(df["pass_rate"]), name=f"pool ({len(df)})", marker_color="#c7c7c7",
                width=bins.width)
    fig.add_bar(x=bins.x, y=bins.counts(chosen["pass_rate"]), name=f"selected ({len(chosen)})",
                marker_color="#1f77b4", width=bins.width * 0.6)
    if band is not None:
        fig.add_vrect(x0=band[0], x1=band[1], fillcolor="green", opacity=0.08, line_width=0)
    fig.update_layout(barmode="overlay", title="Selection over the pass-rate histogram", xaxis_title="pass rate",
                      yaxis_title="samples", xaxis={"range": [-0.06, 1.06]}, height=340, legend=_LEGEND,
                      margin={"l": 50, "r": 20, "t": 70, "b": 40})
    return fig


def selection_summary(chosen: pd.DataFrame, rule: str) -> str:
    if not len(chosen):
        return f"**0 samples** would be selected by `{rule}` — widen the band or measure more samples."
    p = chosen["pass_rate"]
    return (f"**{len(chosen)} samples** selected by `{rule}` ({_rule_help(rule)}). Pass rate: "
            f"min {p.min():.2f}, mean {p.mean():.2f}, max {p.max():.2f}; never solved: {int((p <= 0).sum())}, "
            f"always solved: {int((p >= 1).sum())}.")


def selections_table(store: RunStore) -> pd.DataFrame:
    rows = [[s["id"], s.get("name") or "", s["rule"] if isinstance(s["rule"], str) else
             ", ".join(f"{k}={v}" for k, v in s["rule"].items()), s["n"], _ago(s.get("at"))] for s in store.selections()]
    return pd.DataFrame(rows, columns=["id", "name", "rule", "samples", "saved"])


# -- training ---------------------------------------------------------------------------------------------------
# Each training run is its own series: a training started afresh gets a new id, a resume continues
# its run (store.start_training_run). Metrics stored before training runs existed are grouped by tag.
SERIES_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@dataclass(frozen=True)
class TrainingSeries:
    """One training run's curves: `key` is "run:<id>" or, for older metrics, "tag:<tag>"."""

    key: str
    label: str
    algo: str = ""
    selection_id: int | None = None
    state: str = ""
    steps: int | None = None


def training_series(store: RunStore) -> list[TrainingSeries]:
    """Every training run with metrics or completions, oldest first."""
    runs = {r["id"]: r for r in store.training_runs()}
    keys = store.query("SELECT train_run, tag, min(id) AS first FROM metrics WHERE key LIKE 'train/%'"
                       " GROUP BY train_run, tag UNION ALL SELECT train_run, tag, min(id) + 1e12 FROM rollouts"
                       " GROUP BY train_run, tag ORDER BY first")
    out: dict[str, TrainingSeries] = {}
    for r in keys:
        run_id, tag = r["train_run"], r["tag"] or ""
        key = f"run:{run_id}" if run_id is not None else f"tag:{tag}"
        if key in out:
            continue
        if run_id is not None and run_id in runs:
            t = runs[run_id]
            variant = t.get("variant") or (tag.split(":")[2] if tag.startswith("exp:") and tag.count(":") >= 3 else "")
            label = (f"#{run_id} {str(t['algo']).upper()} · selection {t['selection_id']}"
                     + (f" · {variant}" if variant else "")
                     + (f" · resumed ×{t['resumes']}" if t.get("resumes") else ""))
            out[key] = TrainingSeries(key, label, t["algo"] or "", t["selection_id"], t["state"] or "", t["steps"])
        else:
            out[key] = TrainingSeries(key, f"earlier training ({tag})" if tag else "earlier training")
    return list(out.values())


def _series_filter(key: str) -> dict:
    kind, _, value = key.partition(":")
    if kind == "run":
        return {"train_run": int(value)}
    return {"tag": value}


def _series_metrics(store: RunStore, key: str) -> list[dict]:
    f = _series_filter(key)
    if "train_run" in f:
        return store.metrics("train/", train_run=f["train_run"])
    return [r for r in store.metrics("train/", tag=f["tag"]) if r.get("train_run") is None]


def training_figure(store: RunStore, keys: tuple[str, ...] = TRAIN_KEYS, tag: str | None = None,
                    runs: Iterable[str] | None = None):
    """Training curves: one panel per metric, one line per training run (a legend names each run).

    `runs`: the series keys to draw (TrainingSeries.key); default every run. `tag`: only that tag's metrics.
    """
    from plotly.subplots import make_subplots

    series = training_series(store)
    if tag is not None:
        series = [s for s in series if any(r["tag"] == tag for r in _series_metrics(store, s.key)[:1])]
    if runs is not None:
        wanted = list(runs)
        series = [s for s in series if s.key in wanted]
    by: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for s in series:
        for r in _series_metrics(store, s.key):
            if r["value"] is None or (isinstance(r["value"], float) and math.isnan(r["value"])):
                continue
            by.setdefault(r["key"], {}).setdefault(s.key, []).append((r["step"], r["value"]))
    if not by:
        return _empty_figure("No training metrics yet: launch training above; curves appear as steps finish")
    shown = [k for k in keys if k in by] + sorted(k for k in by if k not in keys)[: max(0, 6 - len(keys))]
    shown = [k for k in shown if k in by][:6]
    cols = 3 if len(shown) > 4 else 2 if len(shown) > 1 else 1
    nrows = math.ceil(len(shown) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=shown)
    color = {s.key: SERIES_COLORS[i % len(SERIES_COLORS)] for i, s in enumerate(series)}
    legend_done: set[str] = set()
    for i, k in enumerate(shown):
        for s in series:
            pts = sorted(dict(by[k].get(s.key, [])).items())  # one value per step (the newest)
            if not pts:
                continue
            fig.add_scatter(x=[st for st, _ in pts], y=[v for _, v in pts], mode="lines+markers", name=s.label,
                            legendgroup=s.key, showlegend=s.key not in legend_done,
                            line={"color": color[s.key]}, marker={"color": color[s.key]},
                            row=i // cols + 1, col=i % cols + 1)
            legend_done.add(s.key)
    fig.update_layout(height=260 * nrows + 40, showlegend=True, legend=_LEGEND,
                      margin={"l": 40, "r": 20, "t": 80, "b": 30})
    fig.update_xaxes(title_text="step")
    return fig


def training_summary(store: RunStore, tag: str | None = None, run: str | None = None) -> str:
    """The header: which training run it describes (the newest, or `run`), its state, its latest step."""
    series = training_series(store)
    if tag is not None:
        series = [s for s in series if s.key == f"tag:{tag}" or any(
            r["tag"] == tag for r in _series_metrics(store, s.key)[:1])]
    if run is not None:
        series = [s for s in series if s.key == run]
    if not series:
        return "**Not trained yet.** Choose settings and press *Launch training*."
    s = max(series, key=lambda x: max((r["at"] or 0) for r in _series_metrics(store, x.key)) if
            _series_metrics(store, x.key) else 0)
    rows = _series_metrics(store, s.key)
    if not rows:
        return f"**{s.label}** — {s.state or 'started'}, no step finished yet."
    last_step = max(r["step"] for r in rows)
    latest = {r["key"]: r["value"] for r in rows if r["step"] == last_step}
    bits = ", ".join(f"{k.split('/', 1)[1]} {v:.3g}" for k, v in sorted(latest.items()) if v is not None)
    state = f" ({s.state})" if s.state else ""
    others = f" · {len(series) - 1} other training run(s) in the plot" if len(series) > 1 else ""
    return f"**{s.label}**{state} — **step {last_step}**: {bits}{others}"


COMPLETION_COLUMNS = ["run", "step", "reward", "prompt", "completion"]


def completions_table(store: RunStore, run: str | None = None, step: int | None = None, text: str = "",
                      reward: str = "all", limit: int = 200) -> pd.DataFrame:
    """Stored completions with rewards, browsable by training run, step, prompt text and reward."""
    labels = {s.key: s.label for s in training_series(store)}
    f = _series_filter(run) if run else {}
    rows = store.rollouts(limit=limit, step=int(step) if step else None, text=(text or "").strip(),
                          reward=reward or "all", **f)
    if "tag" in f:
        rows = [r for r in rows if r.get("train_run") is None]
    out = []
    for r in rows:
        key = f"run:{r['train_run']}" if r.get("train_run") is not None else f"tag:{r['tag'] or ''}"
        out.append([labels.get(key, key).split(" · ")[0], r["step"], r["reward"], _clip(r["prompt"], 100),
                    _clip(r["completion"], 300)])
    return pd.DataFrame(out, columns=COMPLETION_COLUMNS)


def rollouts_table(store: RunStore, limit: int = 20) -> pd.DataFrame:
    """The newest training run's latest completions (browse every step with completions_table)."""
    series = training_series(store)
    return completions_table(store, series[-1].key if series else None, limit=limit)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")


def readable_log(text: str | None, lines: int = 15) -> str:
    """A job log as text: terminal control codes dropped, each progress-bar line shown as its last frame.

    tqdm redraws a bar with carriage returns and cursor-up codes ("\x1b[A"); a text box shows those as
    "[A" and a pile of frames.
    """
    out = []
    for line in _ANSI.sub("", text or "").replace("\r\n", "\n").split("\n"):
        frames = [f for f in line.split("\r") if f.strip()]
        if frames:
            out.append(frames[-1].rstrip())
    return "\n".join(out[-lines:])


# -- evaluation --------------------------------------------------------------------------------------------------
def evaluations_table(store: RunStore) -> pd.DataFrame:
    rows = [[e["id"], model_label(e["model"]), (e.get("benchmark") or "").rsplit("/", 1)[-1], e["n"], e["n_correct"],
             f"{e['accuracy']:.1%}" if e["accuracy"] is not None else "",
             f"[{e['ci_low']:.1%}, {e['ci_high']:.1%}]" if e.get("ci_low") is not None else "", _ago(e.get("at"))]
            for e in store.evaluations()]
    return pd.DataFrame(rows, columns=["id", "model", "benchmark", "n", "correct", "accuracy", "95% CI", "when"])


def eval_comparison(store: RunStore, a: int | None = None, b: int | None = None) -> tuple[str, pd.DataFrame]:
    """Base vs trained (the two latest evaluations unless ids are given) and the items where they differ."""
    evals = store.evaluations()
    if not evals:
        return ("**No evaluations yet.** Press *Evaluate base and trained* (the trained model needs a finished "
                "training run; base alone works too)."), pd.DataFrame(columns=["#", "question", "reference", "A", "B"])
    by_id = {e["id"]: e for e in evals}
    if a is None or b is None:
        base = [e for e in evals if e["model"] == "base"]
        other = [e for e in evals if e["model"] != "base"]
        ea = base[-1] if base else evals[0]
        eb = other[-1] if other else (evals[-1] if evals[-1]["id"] != ea["id"] else None)
    else:
        ea, eb = by_id.get(int(a)), by_id.get(int(b))
    if ea is None:
        return "Pick evaluations to compare.", pd.DataFrame()
    md = [f"**A: {model_label(ea['model'])}** — {_fmt_acc(ea)}"]
    if eb is None:
        md.append("Evaluate a trained model to compare against the base.")
        return "\n\n".join(md), pd.DataFrame(columns=["#", "question", "reference", "A", "B"])
    md.append(f"**B: {model_label(eb['model'])}** — {_fmt_acc(eb)}")
    diff = (eb["accuracy"] or 0) - (ea["accuracy"] or 0)
    ia = {it["idx"]: it for it in store.eval_items(ea["id"])}
    ib = {it["idx"]: it for it in store.eval_items(eb["id"])}
    rows, gained, lost = [], 0, 0
    for idx in sorted(set(ia) & set(ib)):
        x, y = ia[idx], ib[idx]
        if bool(x["correct"]) != bool(y["correct"]):
            gained += int(bool(y["correct"]))
            lost += int(bool(x["correct"]))
            rows.append([idx, _clip(x["question"], 100), x["reference"],
                         f"{'✓' if x['correct'] else '✗'} {_clip(x['extracted'], 30)}",
                         f"{'✓' if y['correct'] else '✗'} {_clip(y['extracted'], 30)}"])
    md.append(f"Difference B − A: **{diff:+.1%}**; B fixes {gained} item(s) and breaks {lost}"
              + ("" if ea.get("benchmark") == eb.get("benchmark") else " (**different benchmarks!**)") + ".")
    return "\n\n".join(md), pd.DataFrame(rows, columns=["#", "question", "reference", "A", "B"])


# -- progress and jobs --------------------------------------------------------------------------------------------
def progress_fraction(store: RunStore, stage: str) -> tuple[float, str]:
    """(fraction done, caption) from store.progress(stage)."""
    p = store.progress(stage)
    if not p:
        return 0.0, f"{stage}: not started"
    done, total = p.get("done") or 0, p.get("total") or 0
    frac = (done / total) if total else 0.0
    msg = f"{stage}: {done}/{total} ({p.get('state')})" + (f" — {p['message']}" if p.get("message") else "")
    return max(0.0, min(1.0, frac)), msg


def progress_html(store: RunStore, stage: str) -> str:
    frac, msg = progress_fraction(store, stage)
    return (f"<div class='synthrl-progress' data-stage='{html.escape(stage)}'>"
            f"<div style='background:#e5e7eb;border-radius:4px;height:12px;width:100%'>"
            f"<div style='background:#3b82f6;height:12px;border-radius:4px;width:{frac * 100:.1f}%'></div></div>"
            f"<small>{html.escape(msg)}</small></div>")


def recent_samples_table(store: RunStore, limit: int = 15) -> pd.DataFrame:
    rows = [[r["id"], r["round"], r["origin"], r["status"], _clip(r["question"], 120), _clip(r["reference"], 30)]
            for r in store.query("SELECT id, round, origin, status, question, reference FROM samples"
                                 " ORDER BY id DESC LIMIT ?", (limit,))]
    return pd.DataFrame(rows, columns=["id", "round", "origin", "status", "question", "reference"])


def events_text(store: RunStore, stage: str | None = None, limit: int = 12) -> str:
    evs = store.events(stage, limit=limit)
    return "\n".join(f"{time.strftime('%H:%M:%S', time.localtime(e.at or 0))} [{e.stage}] "
                     f"{'⚠ ' if e.level in ('warning', 'error') else ''}{e.message}" for e in evs)


def job_line(job: dict | None, stage: str) -> str:
    """One Markdown line for a stage's subprocess state (from ui.jobs.job_state)."""
    if not job:
        return f"{stage}: idle"
    if job.get("running"):
        return f"**{stage}: running** (pid {job['pid']}, started {_ago(job.get('started'))}) — `{job.get('cmd', '')}`"
    rc = job.get("returncode")
    if rc == 0:
        return f"{stage}: finished OK {_ago(job.get('ended'))}"
    if rc is None:
        return f"{stage}: ended {_ago(job.get('ended'))}"
    tail = job.get("tail") or ""
    last = [ln for ln in tail.strip().splitlines() if ln.strip()][-1:] or [""]
    if rc in (-15, 143, 130, -2):
        return f"{stage}: stopped — what was finished is saved; launch again to resume"
    return f"**{stage}: failed (exit {rc})** — {_md_escape(_clip(last[0], 300))} (full log: `{job.get('log', '')}`)"


# -- experiments (selection rules side by side) -----------------------------------------------------------------
EXPERIMENT_COLUMNS = ["variant", "M", "seeds", "accuracy %", "95% interval", "change vs base (points)", "steps",
                      "wall time (s)"]


def experiment_names(store: RunStore) -> list[str]:
    from synthrl.experiment import experiment_names as names

    return names(store)


def experiment_frame(store: RunStore, name: str = "default") -> pd.DataFrame:
    """The comparison table: variant, M, accuracy with interval, change vs base, steps, wall time."""
    from synthrl.experiment import experiment_table

    rows = [[r.variant, "–" if r.m is None else r.m, r.seeds, round(100 * r.accuracy, 1),
             f"{100 * r.ci_low:.1f}–{100 * r.ci_high:.1f}",
             "–" if r.variant == "base" or r.change is None else f"{100 * r.change:+.1f}",
             "–" if r.steps is None else r.steps, "–" if r.seconds is None else round(r.seconds)]
            for r in experiment_table(store, name)]
    return pd.DataFrame(rows, columns=EXPERIMENT_COLUMNS)


def experiment_figure(store: RunStore, name: str = "default"):
    """Reward and held-out accuracy curves of every variant, overlaid."""
    from synthrl.experiment import curves, curves_figure

    if not curves(store, name):
        return _empty_figure("No experiment trained yet")
    return curves_figure(store, name)


def experiment_diff_frame(store: RunStore, name: str = "default") -> pd.DataFrame:
    """Benchmark items on which the variants (and the base) differ; model text shown as plain cells."""
    from synthrl.experiment import differing_items

    rows = differing_items(store, name)
    if not rows:
        return pd.DataFrame(columns=["idx", "question", "reference"])
    return pd.DataFrame([{k: (_clip(v, 160) if isinstance(v, str) else v) for k, v in r.items()} for r in rows])
