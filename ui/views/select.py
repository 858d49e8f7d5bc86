"""The Select tab: the selection rules, a live preview computed by the select stage, saved selections.

    chosen = preview_selection(store, "paper", 0.05, 0.95, 500)
"""
from __future__ import annotations

import pandas as pd

from synthrl.frame import _frame
from synthrl.store import RunStore

from .common import _LEGEND, _ago, _empty_figure
from .difficulty import _Bins


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
