"""The Difficulty tab: pass-rate histograms, before vs after adaptation, parent -> child shifts.

    fig = pass_rate_histogram(store)
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from synthrl.frame import _frame
from synthrl.store import RunStore

from .common import BINS, _LEGEND, _empty_figure


def _bin_counts(rates: Iterable[float], bins: int = BINS) -> list[int]:
    """How many rates fall in each of `bins` equal bins (1.0 in the last); one numpy pass."""
    p = np.asarray(list(rates) if not hasattr(rates, "__len__") else rates, dtype=float)
    b = np.minimum(bins - 1, (p * bins).astype(np.int64))  # truncation, as int() did
    b = np.where(b < 0, b + bins, b)
    return np.bincount(b, minlength=bins).tolist() if len(b) else [0] * bins


class _Bins:
    """Histogram bins shared by every trace of a figure.

    Pass rates are k/L, so with few distinct values (the usual case) each value gets its own bar —
    fixed-width bins would leave gaps and merge 0 with small rates. Otherwise BINS equal bins.
    Rates are rounded (to 6 places) once per distinct value, not once per sample.
    """

    def __init__(self, all_rates: Iterable[float]):
        values = sorted(set(_rounded(np.unique(np.asarray(all_rates, dtype=float)))))
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
        distinct, inverse = np.unique(np.asarray(rates, dtype=float), return_inverse=True)
        at = np.array([index[v] for v in _rounded(distinct)], dtype=np.int64)
        return np.bincount(at[inverse.reshape(-1)], minlength=len(self.x)).tolist() if len(at) else [0] * len(self.x)


def _rounded(distinct: np.ndarray) -> list[float]:
    return [round(float(p), 6) for p in distinct]


def _pool(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The measured samples that count (not dropped, rejected or failed): only `columns` of them."""
    if not len(df):
        return df[columns]
    keep = df["pass_rate"].notna() & ~df["status"].isin(["dropped", "rejected", "failed"])
    return df.loc[keep.to_numpy(), columns]


def pass_rate_histogram(store: RunStore, version: str | None = None, band: tuple[float, float] | None = None):
    """Pass-rate histogram per round, plus the pool before vs after adaptation."""
    import plotly.graph_objects as go

    df = _pool(_frame(store, version), ["round", "pass_rate"])
    if not len(df):
        return _empty_figure("No pass rates yet: measure the student (Generate tab → Measure)")
    bins = _Bins(df["pass_rate"])
    # the layout goes to the constructor: fig.update_layout costs ~10 ms of plotly validation per call
    fig = go.Figure(layout={"barmode": "stack", "title": {"text": "Pass rate per sample, by round"},
                            "xaxis": {"title": {"text": "pass rate"}, "range": [-0.06, 1.06]},
                            "yaxis": {"title": {"text": "samples"}}, "height": 360, "legend": _LEGEND,
                            "margin": {"l": 50, "r": 20, "t": 70, "b": 40}})
    for rnd in sorted(df["round"].unique()):
        sub = df[df["round"] == rnd]
        fig.add_bar(x=bins.x, y=bins.counts(sub["pass_rate"]), name=f"round {rnd} ({len(sub)})", width=bins.width)
    if band is not None:
        fig.add_vrect(x0=band[0], x1=band[1], fillcolor="green", opacity=0.08, line_width=0,
                      annotation_text="band", annotation_position="top left")
    return fig


def before_after_figure(store: RunStore, version: str | None = None):
    """The pool before adaptation (round 0) next to the pool after it (all rounds): is it more balanced?"""
    import plotly.graph_objects as go

    df = _pool(_frame(store, version), ["round", "pass_rate"])
    if not len(df):
        return _empty_figure("No pass rates yet")
    if df["round"].nunique() < 2:
        return _empty_figure("Adapt difficulty (Generate tab) and measure the rewrites to compare")
    bins = _Bins(df["pass_rate"])
    before = df[df["round"] == df["round"].min()]
    fig = go.Figure(layout={"barmode": "group", "title": {"text": "Before vs after adaptation"},
                            "xaxis": {"title": {"text": "pass rate"}, "range": [-0.06, 1.06]},
                            "yaxis": {"title": {"text": "samples"}}, "height": 360, "legend": _LEGEND,
                            "margin": {"l": 50, "r": 20, "t": 70, "b": 40}})
    fig.add_bar(x=bins.x, y=bins.counts(before["pass_rate"]), name=f"before adaptation ({len(before)})",
                marker_color="#9ca3af")
    fig.add_bar(x=bins.x, y=bins.counts(df["pass_rate"]), name=f"after adaptation, pool ({len(df)})",
                marker_color="#2563eb")
    return fig


def parent_child_shifts(store: RunStore, version: str | None = None) -> pd.DataFrame:
    """One row per rewritten sample: parent pass rate -> child pass rate."""
    df = _frame(store, version)
    if not len(df):
        return pd.DataFrame(columns=["child", "parent", "origin", "parent_rate", "child_rate"])
    rate = pd.Series(df["pass_rate"].to_numpy(), index=df["id"].to_numpy())
    kids = df.loc[df["parent_id"].notna().to_numpy(), ["id", "parent_id", "origin", "pass_rate"]]
    parents = kids["parent_id"].to_numpy().astype(np.int64)
    out = pd.DataFrame({"child": kids["id"].to_numpy().astype(np.int64), "parent": parents,
                        "origin": kids["origin"].tolist(), "parent_rate": rate.reindex(parents).to_numpy(dtype=float),
                        "child_rate": kids["pass_rate"].to_numpy(dtype=float)},
                       columns=["child", "parent", "origin", "parent_rate", "child_rate"])
    return out.dropna(subset=["parent_rate", "child_rate"])


def shifts_figure(store: RunStore, version: str | None = None):
    import plotly.graph_objects as go

    sh = parent_child_shifts(store, version)
    if not len(sh):
        return _empty_figure("No measured rewrites yet: adapt (harder/easier) and measure them")
    fig = go.Figure(layout={"title": {"text": "Parent → child pass rate"},
                            "xaxis": {"title": {"text": "parent"}, "range": [-0.05, 1.05]},
                            "yaxis": {"title": {"text": "child"}, "range": [-0.05, 1.05]}, "height": 360,
                            "margin": {"l": 50, "r": 20, "t": 50, "b": 40}})
    for origin, color in (("harder", "#d62728"), ("easier", "#2ca02c")):
        sub = sh[sh["origin"] == origin]
        if len(sub):
            fig.add_scatter(x=sub["parent_rate"], y=sub["child_rate"], mode="markers", name=f"{origin} ({len(sub)})",
                            marker={"color": color, "size": 9, "opacity": 0.7},
                            text=np.array([f"#{p} → #{c}" for p, c in zip(sub["parent"].tolist(),
                                                                          sub["child"].tolist())], dtype=str))
    other = sh[~sh["origin"].isin(["harder", "easier"])]
    if len(other):
        fig.add_scatter(x=other["parent_rate"], y=other["child_rate"], mode="markers", name="other")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="no change")
    return fig


def difficulty_summary(store: RunStore, version: str | None = None) -> str:
    df = _pool(_frame(store, version), ["round", "pass_rate"])
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
