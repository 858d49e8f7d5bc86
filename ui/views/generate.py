"""The Generate tab: progress, the newest samples and the run's event log.

    html = progress_html(store, "generate")
"""
from __future__ import annotations

import html
import time

import pandas as pd

from synthrl.store import RunStore

from .common import _clip


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
            for r in store.recent_samples(limit)]
    return pd.DataFrame(rows, columns=["id", "round", "origin", "status", "question", "reference"])


def events_text(store: RunStore, stage: str | None = None, limit: int = 12) -> str:
    evs = store.events(stage, limit=limit)
    return "\n".join(f"{time.strftime('%H:%M:%S', time.localtime(e.at or 0))} [{e.stage}] "
                     f"{'⚠ ' if e.level in ('warning', 'error') else ''}{e.message}" for e in evs)
