"""The Review tab's two batch panels: fix once, apply to all (an undoable find/replace) and the judge.

    wire = build_fix_panel(ctx)   # inside the Review tab; call wire() once every tab is built
"""
from __future__ import annotations

from dataclasses import field

import gradio as gr

from synthrl.store import StoreError

from .. import views
from ..common import _need_store, _start, _store
from ..views import review_filter
from .base import Ctx
from .generate import teacher_args


def build_fix_panel(ctx: Ctx):
    """Lay out the fix and judge accordions; return the function that wires them."""
    with gr.Accordion("Fix once, apply to all (find/replace in the filtered samples)", open=False,
                      elem_id="fix-panel") as fix_acc:
        with gr.Row():
            fx_find = gr.Textbox(label="find", elem_id="fix-find", scale=2)
            fx_replace = gr.Textbox(label="replace with", elem_id="fix-replace", scale=2)
            fx_field = gr.Radio(["question", "answer"], value="question", label="in", elem_id="fix-field")
            fx_regex = gr.Checkbox(value=False, label="regular expression", elem_id="fix-regex")
            fx_case = gr.Checkbox(value=False, label="ignore case", elem_id="fix-case")
        with gr.Row():
            fx_preview_btn = gr.Button("Preview every change", elem_id="fix-preview")
            fx_apply_btn = gr.Button("Apply to all filtered", variant="primary", elem_id="fix-apply")
            fx_undo_id = gr.Number(value=None, precision=0, label="batch", elem_id="fix-undo-id")
            fx_undo_btn = gr.Button("Undo batch", variant="stop", elem_id="fix-undo")
        fx_cap = gr.Markdown("Type what to find and press *Preview every change*; changes apply to the "
                             "samples the filter above selects, as revisions you can undo.",
                             elem_id="fix-caption")
        fx_df = gr.Dataframe(interactive=False, elem_id="fix-table", max_height=320, wrap=True)
        fx_batches = gr.Dataframe(label="Fix batches (newest first)", interactive=False,
                                  elem_id="fix-batches", max_height=200)
    with gr.Accordion("Judge (optional): the teacher rates grounding, clarity, correctness", open=False,
                      elem_id="judge-panel"):
        gr.Markdown("Uses the teacher chosen on the **Generate** tab. Ratings (1-5, one-line reason "
                    "each) order the queue and show in the table and detail, with their cost. Off with "
                    "the bundled demo teacher: its ratings would be noise.", elem_classes=["synthrl-note"])
        with gr.Row():
            jd_allow = gr.Checkbox(value=False, label="judge with the bundled teacher anyway (noise; "
                                   "to try the workflow)", elem_id="judge-allow-bundled")
            jd_limit = gr.Number(value=0, precision=0, minimum=0, label="at most (0 = all)",
                                 elem_id="judge-limit")
            judge_btn = gr.Button("Judge", elem_id="judge-start")
        jd_job_md = gr.Markdown(elem_id="judge-job")

    def wire() -> None:
        run_dd, version_dd, filt = ctx.run_dd, ctx.version_dd, ctx.filt
        teacher_radio, t_url, t_model, t_key, t_folder = ctx.teacher_radio, ctx.t_url, ctx.t_model, ctx.t_key, \
            ctx.t_folder
        fx_in = [run_dd, version_dd, fx_find, fx_replace, fx_field, fx_regex, fx_case, *filt]
        fx_preview_btn.click(preview_fix, fx_in, [fx_cap, fx_df])
        fx_apply_btn.click(apply_fix_all, fx_in, [fx_cap, fx_df, fx_batches, fx_undo_id]).then(*ctx.rerender)
        fx_undo_btn.click(undo_fix_batch, [run_dd, fx_undo_id], [fx_cap, fx_batches]).then(*ctx.rerender)
        fix_acc.expand(fix_batches, [run_dd], [fx_batches])
        judge_btn.click(start_judge, [run_dd, teacher_radio, t_url, t_model, t_key, t_folder, jd_allow, jd_limit],
                        [jd_job_md])

    return wire


# -- handlers -------------------------------------------------------------------------------------------------
def _fix_spec(find, replace, field, regex, ignore_case):
    from synthrl.fix import FixError, FixSpec

    try:
        return FixSpec(find or "", replace or "", field=field or "question", regex=bool(regex),
                       ignore_case=bool(ignore_case))
    except FixError as e:
        raise gr.Error(str(e)) from None


def preview_fix(run, version, find, replace, field, regex, ignore_case, *fvals):
    st = _need_store(run)
    spec = _fix_spec(find, replace, field, regex, ignore_case)
    ids = [int(i) for i in views.filter_samples(st, review_filter(*fvals), version or None)["id"]]
    df, cap = views.fix_preview(st, spec, ids)
    return cap, df


def apply_fix_all(run, version, find, replace, field, regex, ignore_case, *fvals):
    """The same batch as `synthrl fix`: revisions by "ui", changed samples need re-measuring, undoable."""
    from synthrl.fix import FixError, apply_fix

    st = _need_store(run)
    spec = _fix_spec(find, replace, field, regex, ignore_case)
    ids = [int(i) for i in views.filter_samples(st, review_filter(*fvals), version or None)["id"]]
    try:
        batch = apply_fix(st, spec, ids, author="ui")
    except (FixError, StoreError) as e:
        raise gr.Error(str(e)) from None
    for w in batch.warnings[:3]:
        gr.Warning(w)
    if not batch.changed:
        return "No sample matched: nothing changed.", gr.skip(), views.fix_batches_table(st), gr.skip()
    gr.Info(f"Fix #{batch.id}: {len(batch.changed)} samples changed.")
    md = (f"**Fix #{batch.id} applied to {len(batch.changed)} samples** ({spec.field}). "
          + (f"{batch.needs_remeasure} lost their pass rates and **need re-measuring** (Generate tab → *Measure*). "
             if batch.needs_remeasure else "")
          + (f"{len(batch.warnings)} warning(s): {views._md_escape(batch.warnings[0])}. " if batch.warnings else "")
          + f"Undo it with *Undo batch* {batch.id} (or `synthrl fix {st.name} --undo {batch.id}`).")
    return md, views.pd.DataFrame(), views.fix_batches_table(st), batch.id


def undo_fix_batch(run, batch_id):
    from synthrl.fix import FixError, undo_fix

    st = _need_store(run)
    if not batch_id:
        raise gr.Error("Give the batch number to undo (see the fix batches table).")
    try:
        r = undo_fix(st, int(batch_id), author="ui")
    except FixError as e:
        raise gr.Error(str(e)) from None
    gr.Info(f"Fix #{r.batch_id} undone: {len(r.restored)} samples restored.")
    return (f"**Fix #{r.batch_id} undone:** {len(r.restored)} samples restored"
            + (f"; {len(r.conflicts)} edited again since are left as they are (#"
               + ", #".join(map(str, r.conflicts[:20])) + ")" if r.conflicts else "") + "."), views.fix_batches_table(st)


def fix_batches(run):
    st = _store(run)
    return views.fix_batches_table(st) if st is not None else views.pd.DataFrame()


def start_judge(run, choice, url, model, key_env, folder, allow_bundled, limit):
    import argparse

    from synthrl.commands.data import teacher_spec
    from synthrl.judge import BUNDLED_JUDGE_NOTE

    st = _need_store(run)
    if not st.n_samples():
        raise gr.Error("No samples to judge yet: generate some first.")
    args = ["judge", run, *teacher_args(choice, url, model, key_env, folder)]
    flags = dict(zip(("teacher_backend", "teacher_url", "teacher_model", "teacher_key_env"),
                     [None] * 4))
    for k, v in zip(args[2::2], args[3::2]):
        flags[k.lstrip("-").replace("-", "_")] = v
    if teacher_spec(argparse.Namespace(**flags), st).is_bundled:
        if not allow_bundled:
            raise gr.Error(BUNDLED_JUDGE_NOTE.replace("pass --allow-bundled", "tick the box"))
        args.append("--allow-bundled")
    if limit and int(limit) > 0:
        args += ["--limit", str(int(limit))]
    return _start(run, "judge", args)
