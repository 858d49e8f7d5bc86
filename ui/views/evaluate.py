"""The Evaluate tab: evaluations side by side, the items where they differ, and experiments.

    md, diff = eval_comparison(store)
"""
from __future__ import annotations

import pandas as pd

from synthrl.store import RunStore

from .common import _ago, _clip, _empty_figure, model_label
from .runs import _fmt_acc


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
        eb = other[-1] if other else None
        # the newest base evaluation on the same items as B (same benchmark, same count: an experiment's
        # --limit evaluation is not B's baseline), else on the same benchmark, else the newest
        same = [e for e in base if eb is not None and e.get("benchmark") == eb.get("benchmark")]
        ea = ([e for e in same if e["n"] == eb["n"]] or same or base or [evals[0]])[-1]
        if eb is None and evals[-1]["id"] != ea["id"]:
            eb = evals[-1]
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
              + ("" if ea.get("benchmark") == eb.get("benchmark") else " (**different benchmarks!**)")
              + ("" if ea["n"] == eb["n"] else f" (**different item counts: {ea['n']} and {eb['n']}**)") + ".")
    return "\n\n".join(md), pd.DataFrame(rows, columns=["#", "question", "reference", "A", "B"])


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
