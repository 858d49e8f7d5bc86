"""The Difficulty tab: pass-rate histograms (with the Select tab's band), before vs after adaptation, shifts.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

import gradio as gr

from .. import views
from ..common import OPEN_A_RUN
from .base import Ctx, Live, Tab
from .select import band


def build(ctx: Ctx) -> Tab:
    with gr.Tab("Difficulty", id="difficulty", elem_id="tab-difficulty"):
        diff_md = gr.Markdown(elem_id="difficulty-summary")
        with gr.Row():
            hist_plot = gr.Plot(label="Pass-rate histogram", elem_id="hist-plot")
            ba_plot = gr.Plot(label="Before vs after adaptation", elem_id="before-after-plot")
        shift_plot = gr.Plot(label="Parent → child", elem_id="shift-plot")

    def render(live: Live) -> list:
        st, version = live.store, live.version
        if st is None:
            return [OPEN_A_RUN, *(views._empty_figure("Open or create a run first") for _ in range(3))]
        rule, slo, shi, _m = (live.value(c) for c in ctx.sel_in)
        return [views.difficulty_summary(st, version), views.pass_rate_histogram(st, version, band(rule, slo, shi)),
                views.before_after_figure(st, version), views.shifts_figure(st, version)]

    return Tab(outputs=[diff_md, hist_plot, ba_plot, shift_plot], render=render)
