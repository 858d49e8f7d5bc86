"""Samples as a frame with their pass rates, the Review filter and the expert queue.

The frame is cached per fingerprint of the samples and their pass rates, so one render asks the store once.

    table, caption = review_table(store, ReviewFilter(status="verified", lo=0.1, hi=0.9))
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import pandas as pd

from synthrl.frame import _frame, student_versions
from synthrl.frame import forget as forget_frames
from synthrl.store import NEEDS_REMEASURE, RunStore

from .common import MAX_TABLE_ROWS, _clip, _code


# -- samples: the frame (.frame), the filter and the queue ---------------------------------------------
def clear_cache() -> None:
    """Forget everything kept in this process (as a new process would start); snapshots on disk stay."""
    forget_frames()
    _QUEUE_CACHE.clear()


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


def review_filter(rnd=None, origin=None, status=None, lo=None, hi=None, unmeasured=None, flagged=None, text=None,
                  order=None, reason=None) -> ReviewFilter:
    """The Review tab's filter controls (in `filt` order) as a ReviewFilter; None takes the default."""
    return ReviewFilter(rnd or "all", origin or "all", status or "all", 0.0 if lo is None else lo,
                        1.0 if hi is None else hi, True if unmeasured is None else bool(unmeasured),
                        bool(flagged), text or "", order or "expert", reason or "all")


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
    # the queue also reads attempts, judgements and flags' sources: any write makes a fresh one
    key = (str(store.path), version, id(df), store.data_version())
    hit = _QUEUE_CACHE.get(key)
    if hit is not None and hit[0] is df:
        return hit[1]
    from synthrl.triage import queue_frame

    with _QUEUE_LOCK:
        hit = _QUEUE_CACHE.get(key)
        if hit is not None and hit[0] is df:
            return hit[1]
        if version is None:
            versions = student_versions(store)
            version = versions[0] if versions else None
        q = queue_frame(store, version, samples=df if len(df) else None)
        if len(_QUEUE_CACHE) >= 4:
            _QUEUE_CACHE.pop(next(iter(_QUEUE_CACHE)))
        _QUEUE_CACHE[key] = (df, q)
        return q


_QUEUE_LOCK = threading.Lock()


def warm(store: RunStore, queue: bool = True) -> None:
    """Make what the first render of a run needs before anyone asks (the app does it at start-up: in full for
    the run it will open first, snapshots only for other recent runs): the sample frame and the majority answers
    (and their snapshots beside the run), the review queue."""
    frame = _frame(store, None)
    if queue:
        review_queue(store, None, frame)
    else:
        from synthrl.triage import answer_stats

        answer_stats(store, frame.attrs.get("version"))


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
    total = store.n_samples()
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
    low = store.n_judged_below(3)
    from synthrl.models import BUNDLED_NAME

    noise = any(BUNDLED_NAME in (m or "").lower() for m in c["models"])
    return (f"Judge: {c['samples']} samples rated by {', '.join(_code(_clip(m, 50)) for m in c['models'])}; "
            f"{low} under 3/5. Cost: {c['calls']} calls, {c['prompt_tokens'] + c['completion_tokens']:,} tokens "
            f"({c['prompt_tokens']:,} prompt + {c['completion_tokens']:,} completion)."
            + (" ⚠ Ratings by the bundled demo teacher are noise." if noise else ""))
