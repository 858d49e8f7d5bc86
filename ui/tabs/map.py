"""The Map tab: the samples by meaning from the stored projection, coverage, and a click that opens Review.

It re-renders on its own slower timer when the projection changes, so it adds no live outputs.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

import gradio as gr

from .. import views
from ..common import POLL_SECONDS, _jobs, _need_store, _start, _store
from .base import Ctx, Tab
from .review import show_sample


def build(ctx: Ctx) -> Tab:
    with gr.Tab("Map", id="map", elem_id="tab-map") as map_tab:
        with gr.Row():
            map_color = gr.Radio(list(views.MAP_COLOR_BY), value="pass rate", label="colour by",
                                 elem_id="map-color")
            map_update_btn = gr.Button("Update map (embed new texts)", elem_id="map-update")
        map_job_md = gr.Markdown(elem_id="map-job")
        with gr.Row():
            with gr.Column(scale=3):
                map_plot = gr.Plot(label="Samples by meaning; click a point to open it in Review",
                                   elem_id="map-plot")
            with gr.Column(scale=2):
                coverage_md = gr.Markdown(elem_id="coverage")
        # the map's click writes the sample id here and presses the button (see _JS_MAP_CLICK)
        map_pick = gr.Number(value=None, precision=0, visible="hidden", elem_id="map-pick")
        map_open_btn = gr.Button("open", visible="hidden", elem_id="map-open")
        map_fp = gr.State(None)

    def wire() -> None:
        run_dd, version_dd, demo = ctx.run_dd, ctx.version_dd, ctx.demo
        sel_id, detail_md, edit_q, edit_a = ctx.sel_id, ctx.detail_md, ctx.edit_q, ctx.edit_a
        map_in = [run_dd, version_dd, map_color]
        map_tab.select(show_map, map_in, [map_plot, coverage_md, map_job_md])
        map_color.input(show_map, map_in, [map_plot, coverage_md, map_job_md], show_progress="hidden")
        map_update_btn.click(start_map, [run_dd], [map_job_md])
        map_timer = gr.Timer(POLL_SECONDS * 2)

        def map_tick(fp, run, version, color):
            new = map_fingerprint(run)
            if new == fp:
                return gr.skip(), gr.skip(), gr.skip(), fp
            return (*show_map(run, version, color), new) if fp is not None else (gr.skip(), gr.skip(), gr.skip(), new)

        map_timer.tick(map_tick, [map_fp, *map_in], [map_plot, coverage_md, map_job_md, map_fp],
                       show_progress="hidden", trigger_mode="once")
        map_open_btn.click(lambda r, v, i: show_sample(r, v, i), [run_dd, version_dd, map_pick],
                           [sel_id, detail_md, edit_q, edit_a])
        demo.load(None, None, None, js=_JS_MAP_CLICK)

    return Tab(wire=wire)


# -- handlers -------------------------------------------------------------------------------------------------
def map_fingerprint(run):
    st = _store(run) if run else None
    if st is None:
        return ("none", run)
    job = _jobs(run).get("map") or {}
    return (run, st.map_version(), job.get("running"),
            job.get("returncode"))


def show_map(run, version, color):
    """The Map tab: the map from the stored projection, the coverage figures, the map job's state."""
    st = _store(run)
    if st is None:
        return views._empty_figure("Open or create a run first"), "Open a run first.", ""
    return (views.map_view(st, color or "pass rate", version or None), views.coverage_view(st),
            views.job_line(_jobs(run).get("map"), "map"))


def start_map(run):
    _need_store(run)
    return _start(run, "map", ["map", run])


_JS_MAP_CLICK = """() => {
  if (window.__synthrlMapClick) { return []; }
  const open = (ev) => {
    const p = ev && ev.points && ev.points[0];
    if (!p || p.customdata === undefined || p.customdata === null) { return; }
    const box = document.querySelector('#map-pick input');
    if (!box) { return; }
    box.value = String(p.customdata);
    box.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => {
      document.querySelector('#map-open')?.click();
      const tab = [...document.querySelectorAll('#tabs button[role=tab]')].find(b => b.innerText.trim() === 'Review');
      if (tab) { tab.click(); }
    }, 50);
  };
  // Gradio redraws the plot on every update (which drops Plotly's listeners): re-attach to each new drawing
  window.__synthrlMapClick = setInterval(() => {
    const plot = document.querySelector('#map-plot .js-plotly-plot');
    if (plot && plot.on && plot.__synthrlHooked !== plot._fullLayout) {
      plot.removeAllListeners && plot.removeAllListeners('plotly_click');
      plot.on('plotly_click', open);
      plot.__synthrlHooked = plot._fullLayout;
    }
  }, 400);
  return [];
}"""
