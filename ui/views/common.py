"""Helpers every view shares: escaping model text for Markdown, short clips, ages, empty figures, job lines.

    md = f"**Question:** {_md_escape(sample.question)}"
"""
from __future__ import annotations

import html
import re
import time
from typing import Any


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


# -- difficulty ------------------------------------------------------------------------------------------
BINS = 10
_LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}


def _empty_figure(message: str):
    import plotly.graph_objects as go

    fig = go.Figure(layout={"xaxis": {"visible": False}, "yaxis": {"visible": False}, "height": 320,
                            "margin": {"l": 20, "r": 20, "t": 40, "b": 20}})  # not update_layout: ~10 ms each
    fig.add_annotation(text=message, showarrow=False, font={"size": 14}, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


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
