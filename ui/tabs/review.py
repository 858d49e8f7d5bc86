"""The Review tab: every sample, filtered and in the needs-an-expert order; detail, edit, accept or reject.

The fix-all and judge panels live in ui/tabs/review_fix.py. The tab publishes the sample it shows
(`sel_id`, `detail_md`, `edit_q`, `edit_a`) and `review_status` on `ctx`: the Map opens samples here
and the Task tab reports saves here.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from .. import views
from ..common import OPEN_A_RUN, _need_sample, _need_store, _start, _store
from ..security import SecurityError, check_received, gradio_upload_dir
from ..views import review_filter
from .base import Ctx, Live, Tab
from .generate import _measure_args
from .review_fix import build_fix_panel


def build(ctx: Ctx) -> Tab:
    with gr.Tab("Review", id="review", elem_id="tab-review"):
        with gr.Row():
            r_round = gr.Dropdown(["all"], value="all", label="round", elem_id="f-round")
            r_origin = gr.Dropdown(["all", "generated", "harder", "easier", "edited", "imported"], value="all",
                                   label="origin", elem_id="f-origin")
            r_status = gr.Dropdown(["all", "pending", "verified", "dropped", "accepted", "rejected", "failed"],
                                   value="all", label="status", elem_id="f-status")
            r_lo = gr.Slider(0, 1, value=0, step=0.05, label="pass rate ≥", elem_id="f-lo")
            r_hi = gr.Slider(0, 1, value=1, step=0.05, label="pass rate ≤", elem_id="f-hi")
        with gr.Row():
            r_unmeasured = gr.Checkbox(value=True, label="include unmeasured", elem_id="f-unmeasured")
            r_flagged = gr.Checkbox(value=False, label="flagged only", elem_id="f-flagged")
            r_text = gr.Textbox(label="text contains", scale=2, elem_id="f-text")
            bulk_accept_btn = gr.Button("Accept all filtered", elem_id="bulk-accept")
            bulk_reject_btn = gr.Button("Reject all filtered", elem_id="bulk-reject")
        with gr.Row():
            r_order = gr.Dropdown(list(views.REVIEW_ORDERS), value="expert", label="order",
                                  elem_id="f-order")
            r_reason = gr.Dropdown(list(views.REVIEW_REASONS), value="all", label="needs an expert because",
                                   elem_id="f-reason")
            review_prev_btn = gr.Button("◀ Previous (p)", elem_id="review-prev")
            review_next_btn = gr.Button("Next (n) ▶", elem_id="review-next")
        with gr.Accordion("Import question/answer pairs you already have (JSONL or CSV)", open=False):
            imp_file = gr.File(label="question, answer[, solution] per line or row", file_types=[".jsonl", ".csv"],
                               elem_id="import-file")
            imp_btn = gr.Button("Import as accepted samples", elem_id="import-btn")
            imp_md = gr.Markdown(elem_id="import-result")
        review_cap = gr.Markdown(elem_id="review-caption")
        review_df = gr.Dataframe(interactive=False, elem_id="review-table", max_height=420, wrap=True,
                                 column_widths=["4%", "4%", "6%", "6%", "8%", "6%", "34%", "7%", "4%", "21%"])
        with gr.Row():
            with gr.Column(scale=3):
                detail_md = gr.Markdown("Click a row to see the sample.", elem_id="sample-detail")
            with gr.Column(scale=2):
                sel_id = gr.Number(value=None, precision=0, label="sample id", elem_id="sample-id",
                                   interactive=True)
                edit_q = gr.Textbox(label="question", lines=4, elem_id="edit-question")
                edit_a = gr.Textbox(label="answer (full solution; the reference is re-read from it)",
                                    lines=4, elem_id="edit-answer")
                with gr.Row():
                    save_edit_btn = gr.Button("Save edit", variant="primary", elem_id="save-edit")
                    remeasure_btn = gr.Button("Re-measure", elem_id="remeasure")
                with gr.Row():
                    accept_btn = gr.Button("Accept", elem_id="accept")
                    reject_btn = gr.Button("Reject", variant="stop", elem_id="reject")
                review_status = gr.Markdown(elem_id="review-status")
        wire_fix_panel = build_fix_panel(ctx)

    filt = [r_round, r_origin, r_status, r_lo, r_hi, r_unmeasured, r_flagged, r_text, r_order, r_reason]
    ctx.filt = filt
    ctx.sel_id, ctx.detail_md, ctx.edit_q, ctx.edit_a = sel_id, detail_md, edit_q, edit_a
    ctx.review_status = review_status

    def render(live: Live) -> list:
        st = live.store
        if st is None:
            return [gr.update(choices=["all"], value="all"), OPEN_A_RUN, views.pd.DataFrame(),
                    "Click a row to see the sample."]
        f = review_filter(*[live.value(c) for c in filt])
        rounds = ["all"] + [str(r) for r in st.sample_rounds()]
        rnd_val = f.round if f.round in rounds else "all"
        if rnd_val != f.round:
            f = views.ReviewFilter(rnd_val, f.origin, f.status, f.lo, f.hi, f.unmeasured, f.flagged_only, f.text,
                                   f.order, f.reason)
        table, cap = views.review_table(st, f, live.version)
        sid = live.value(sel_id)
        detail = views.sample_detail(st, int(sid), live.version) if sid and st.sample(int(sid)) else \
            "Click a row to see the sample."
        return [gr.update(choices=rounds, value=rnd_val), cap, table, detail]

    def wire() -> None:
        run_dd, version_dd, demo = ctx.run_dd, ctx.version_dd, ctx.demo
        rollouts_num, mtok_num = ctx.rollouts_num, ctx.mtok_num

        def refresh_review(run, version, *fvals):
            st = _store(run)
            if st is None:
                return gr.skip(), gr.skip()
            f = review_filter(*fvals)
            table, cap = views.review_table(st, f, version or None)
            return cap, table

        for comp in filt:
            comp.input(refresh_review, [run_dd, version_dd, *filt], [review_cap, review_df], show_progress="hidden",
                       trigger_mode="always_last")

        def pick_row(run, version, evt: gr.SelectData):
            row = evt.row_value or []
            if not row:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return show_sample(run, version, int(row[0]))

        review_df.select(pick_row, [run_dd, version_dd], [sel_id, detail_md, edit_q, edit_a])
        sel_id.submit(lambda r, v, i: show_sample(r, v, i), [run_dd, version_dd, sel_id],
                      [sel_id, detail_md, edit_q, edit_a])
        save_edit_btn.click(save_edit, [run_dd, sel_id, edit_q, edit_a], [review_status]).then(*ctx.rerender)
        remeasure_btn.click(remeasure, [run_dd, sel_id, rollouts_num, mtok_num], [review_status])
        accept_btn.click(lambda r, i: set_status(r, i, "accepted"), [run_dd, sel_id], [review_status]).then(
            *ctx.rerender)
        reject_btn.click(lambda r, i: set_status(r, i, "rejected"), [run_dd, sel_id], [review_status]).then(
            *ctx.rerender)
        bulk_accept_btn.click(lambda *a: bulk_status(*a, status="accepted"), [run_dd, version_dd, *filt],
                              [review_status]).then(*ctx.rerender)
        bulk_reject_btn.click(lambda *a: bulk_status(*a, status="rejected"), [run_dd, version_dd, *filt],
                              [review_status]).then(*ctx.rerender)
        # Review: walk the queue (keys a / r / n / p), fix all, judge
        review_next_btn.click(lambda *a: step_queue(*a, step=1), [run_dd, version_dd, sel_id, *filt],
                              [sel_id, detail_md, edit_q, edit_a])
        review_prev_btn.click(lambda *a: step_queue(*a, step=-1), [run_dd, version_dd, sel_id, *filt],
                              [sel_id, detail_md, edit_q, edit_a])
        demo.load(None, None, None, js=_JS_REVIEW_KEYS)
        imp_btn.click(import_pairs, [run_dd, imp_file], [imp_md])
        wire_fix_panel()

    return Tab(outputs=[r_round, review_cap, review_df, detail_md], inputs=[*filt, sel_id], render=render, wire=wire)


# -- handlers -------------------------------------------------------------------------------------------------
def show_sample(run, version, sid):
    st = _need_store(run)
    s = _need_sample(st, run, sid, "Type a sample id or click a row in the table.")
    return s.id, views.sample_detail(st, s.id, version or None), s.question, s.answer


def save_edit(run, sid, question, answer):
    st = _need_store(run)
    s = _need_sample(st, run, sid)
    if not (question or "").strip():
        raise gr.Error("The question must not be empty.")
    from synthrl.review import EditError, edit_sample

    # the same edit as `synthrl edit`: a revision, and the old pass rates are dropped
    try:
        result = edit_sample(st, s.id, question=question, answer=answer, author="ui")
    except EditError as e:
        raise gr.Error(str(e)) from None
    if result.warning:
        gr.Warning(result.warning)
    if not result.changed:
        gr.Info("Nothing changed.")
        return "Nothing changed."
    if result.needs_remeasure:
        gr.Info(f"Saved sample {s.id} as a new revision; it needs re-measuring.")
        return (f"Saved sample {s.id} ({', '.join(result.changed)}). Its old pass rates are dropped — it "
                f"**needs re-measure**: press **Re-measure** (or run `synthrl measure {st.name}`).")
    gr.Info(f"Saved sample {s.id} as a new revision.")
    return f"Saved sample {s.id} ({', '.join(result.changed)})."


def remeasure(run, sid, rollouts=None, max_tokens=None):
    _need_store(run)
    if not sid:
        raise gr.Error("Select a sample first (click a row).")
    line = _start(run, "measure", ["measure", run, "--samples", str(int(sid)), *_measure_args(rollouts, max_tokens)])
    return line + "\n\nThe new pass rate appears in the detail when measuring finishes."


def set_status(run, sid, status):
    st = _need_store(run)
    s = _need_sample(st, run, sid)
    from synthrl.review import edit_sample

    edit_sample(st, s.id, status=status, author="ui")
    return f"Sample {s.id} {status}."


def bulk_status(run, version, rnd, origin, status_f, lo, hi, unmeasured, flagged, text, order="expert", reason="all",
                status="accepted"):
    st = _need_store(run)
    f = review_filter(rnd, origin, status_f, lo, hi, unmeasured, flagged, text, order, reason)
    ids = [int(i) for i in views.filter_samples(st, f, version or None)["id"]]
    if not ids:
        raise gr.Error("No samples match the filter.")
    st.set_statuses(ids, status, author="ui")
    st.log("review", f"{len(ids)} samples {status} in bulk from the app")
    gr.Info(f"{len(ids)} samples {status}.")
    return f"{len(ids)} filtered samples {status}."


_JS_REVIEW_KEYS = """() => {
  if (window.__synthrlReviewKeys) { return []; }
  window.__synthrlReviewKeys = true;
  const keys = {a: 'accept', r: 'reject', n: 'review-next', j: 'review-next', p: 'review-prev', k: 'review-prev'};
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) { return; }
    const t = e.target, tag = ((t && t.tagName) || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || (t && t.isContentEditable)) { return; }
    const panel = document.getElementById('tab-review');
    if (!panel || panel.offsetParent === null || !keys[e.key]) { return; }
    const b = document.getElementById(keys[e.key]);
    if (b) { e.preventDefault(); b.click(); }
  });
  return [];
}"""


def step_queue(run, version, sid, *fvals, step=1):
    """Show the next (or previous) sample of the filtered queue."""
    st = _need_store(run)
    nxt = views.next_in_queue(st, review_filter(*fvals), int(sid) if sid else None, version or None, step=step)
    if nxt is None:
        gr.Info("That was the last sample of the filtered queue." if step > 0 else "That was the first sample.")
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return show_sample(run, version, nxt)


def import_pairs(run, file):
    from synthrl.importing import ImportError_, import_samples

    st = _need_store(run)
    if not file:
        raise gr.Error("Choose a .jsonl or .csv file first.")
    src = file if isinstance(file, str) else getattr(file, "name", file)
    try:
        real = check_received(src, gradio_upload_dir())
        rep = import_samples(st, real, author="app", display_name=Path(str(src)).name)
    except (SecurityError, ImportError_) as e:
        raise gr.Error(str(e)) from None
    views.clear_cache()
    lines = [views._md_escape(rep.summary())] + [f"- {views._md_escape(p)}" for p in rep.problems[:10]]
    if rep.added:
        lines.append("Measure them (Generate tab → *Measure pass rates*), then select and train as usual; "
                     "filter by origin **imported** to see them.")
    return "\n\n".join(lines)
