"""The Train tab: training series, curves, summaries and completions with rewards.

    fig = training_figure(store)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from synthrl.store import RunStore

from .common import _LEGEND, _clip, _empty_figure


TRAIN_KEYS = ("train/reward", "train/kl", "train/loss", "train/completion_length", "train/heldout_accuracy")
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
    keys = store.training_series_keys()
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
