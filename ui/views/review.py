"""The Review tab's detail and fix views: one sample in full, what a find/replace would change.

    md = sample_detail(store, sample_id)
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthrl.store import NEEDS_REMEASURE, RunStore

from .common import _ago, _block, _clip, _code, _md_escape
from .samples import review_queue


def fix_preview(store: RunStore, spec, sample_ids: list[int] | None) -> tuple[pd.DataFrame, str]:
    """Every change a find/replace would make (synthrl.fix.plan_fix): id, field, matches, before, after."""
    from synthrl.fix import plan_fix

    changes = plan_fix(store, spec, sample_ids)
    rows = [[c.sample_id, c.field, c.count, *c.snippet()] for c in changes]
    df = pd.DataFrame(rows, columns=["id", "field", "matches", "before", "after"])
    n = len(sample_ids) if sample_ids is not None else store.n_samples()
    if not changes:
        return df, f"No change: {_code(spec.find)} matches none of the {n} filtered samples' {spec.field}s."
    measured = store.n_attempted([c.sample_id for c in changes])
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
    rates = store.sample_pass_rates(s.id)
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
