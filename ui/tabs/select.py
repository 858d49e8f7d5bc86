"""The Select tab: pick a rule, band and M, see the selection live, save it, export it.

It publishes its rule inputs as `ctx.sel_in`: the Difficulty histogram shows the same band.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr

from synthrl.store import StoreError

from .. import views
from ..common import OPEN_A_RUN, _need_store, _store
from .base import Ctx, Live, Tab


def band(rule, slo, shi) -> tuple[float, float] | None:
    """The pass-rate band to draw, for rules that use one."""
    return (slo, shi) if views.rule_uses_band(rule) else None


def build(ctx: Ctx) -> Tab:
    with gr.Tab("Select", id="select", elem_id="tab-select"):
        with gr.Row():
            s_rule = gr.Radio(views.select_rules(), value="paper", label="rule", elem_id="s-rule")
            s_lo = gr.Slider(0, 1, value=0.05, step=0.05, label="band lo (band/top)", elem_id="s-lo")
            s_hi = gr.Slider(0, 1, value=0.95, step=0.05, label="band hi (band/top)", elem_id="s-hi")
            s_m = gr.Number(value=500, precision=0, minimum=1, label="M (how many)", elem_id="s-m")
        sel_md = gr.Markdown(elem_id="selection-summary")
        sel_plot = gr.Plot(elem_id="selection-plot")
        with gr.Row():
            save_sel_btn = gr.Button("Save selection", variant="primary", elem_id="save-selection")
            exp_fmt = gr.Radio(["jsonl", "parquet", "hf"], value="jsonl", label="export format")
            export_btn = gr.Button("Export latest selection", elem_id="export")
        export_md = gr.Markdown(elem_id="export-status")
        export_file = gr.File(label="download", interactive=False, visible=False, elem_id="export-file")
        sels_df = gr.Dataframe(label="Saved selections", interactive=False, elem_id="selections-table")

    sel_in = [s_rule, s_lo, s_hi, s_m]
    ctx.sel_in = sel_in

    def render(live: Live) -> list:
        st, version = live.store, live.version
        if st is None:
            return [OPEN_A_RUN, views._empty_figure("Open or create a run first"), views.pd.DataFrame()]
        rule, slo, shi, m = (live.value(c) for c in sel_in)
        chosen = views.preview_selection(st, rule, slo, shi, m, version)
        return [views.selection_summary(chosen, rule) if len(chosen) or live.versions else
                "**Nothing to select yet.** Measure pass rates first (Generate tab → *Measure pass rates*).",
                views.selection_figure(st, chosen, version, band(rule, slo, shi)), views.selections_table(st)]

    def wire() -> None:
        run_dd, version_dd = ctx.run_dd, ctx.version_dd
        for comp in sel_in:
            comp.change(select_preview, [run_dd, version_dd, *sel_in], [sel_md, sel_plot], show_progress="hidden",
                        trigger_mode="always_last")
        save_sel_btn.click(save_selection, [run_dd, version_dd, *sel_in], [export_md]).then(*ctx.rerender)
        export_btn.click(export, [run_dd, exp_fmt], [export_md, export_file])

    return Tab(outputs=[sel_md, sel_plot, sels_df], inputs=sel_in, render=render, wire=wire)


# -- handlers -------------------------------------------------------------------------------------------------
def select_preview(run, version, rule, slo, shi, m):
    st = _store(run)
    if st is None:
        return "Open a run first.", views._empty_figure("Open or create a run first")
    try:
        chosen = views.preview_selection(st, rule, slo, shi, m, version or None)
    except ValueError as e:
        return f"**Cannot preview:** {views._md_escape(e)}", gr.skip()
    band = (slo, shi) if views.rule_uses_band(rule) else None
    return views.selection_summary(chosen, rule), views.selection_figure(st, chosen, version or None, band)


def save_selection(run, version, rule, lo, hi, m):
    st = _need_store(run)
    from synthrl.stages.select import select_report

    try:
        rep = select_report(st, views.select_config(rule, lo, hi, m, version or None))
    except ValueError as e:
        raise gr.Error(str(e)) from None
    gr.Info(f"Saved selection {rep.selection_id}: {rep.selected} samples.")
    return (f"Saved selection **{rep.selection_id}** — {rep.selected} of {rep.candidates} candidates "
            f"(mean pass rate {rep.mean_pass_rate:.2f}; {rep.unmeasured} unmeasured skipped; "
            f"{rep.suspects} flagged suspect_label). Train on it on the **Train** tab.")


def export(run, fmt):
    st = _need_store(run)
    from synthrl.export import ExportError, export_selection

    try:
        path = export_selection(st, fmt)
    except (ExportError, ValueError, StoreError) as e:
        raise gr.Error(str(e)) from None
    msg = f"Exported to `{path}`."
    if path.is_file():
        # Offer a download from a temp copy: the run folder itself is never served.
        tmp = Path(tempfile.mkdtemp(prefix="synthrl-export-")) / path.name
        shutil.copyfile(path, tmp)
        return msg, gr.update(value=str(tmp), visible=True)
    return msg + " (a Hugging Face dataset folder: `datasets.load_from_disk(path)`)", gr.update(visible=False)
