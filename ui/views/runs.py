"""The Runs tab and the run summary: every run with its counts, the next step, two runs side by side.

    df = runs_table(list_runs())
"""
from __future__ import annotations

import pandas as pd

from .common import _ago, model_label


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
