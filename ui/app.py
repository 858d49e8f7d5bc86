"""The Gradio workbench shell: the run picker, the live-refresh timer, and one module per tab.

Each tab lives in ui/tabs/<tab>.py with its components, wiring, render function and live outputs;
every view is a pure function in ui/views/; every long job is a `synthrl ...` subprocess started
by ui/jobs.py; every piece of state lives in the run store. A gr.Timer polls the store and
re-renders only when `store.data_version()` (or a job's state) changed, and then only the tab in
view (a tab whose data changed out of view renders when selected), so two browser tabs see the
same thing, a reload loses nothing, and a running job at 20k samples costs one view per tick.

    demo = build_app()
    launch(host="127.0.0.1", port=7860)
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import importlib
import sys
import threading

import gradio as gr

from synthrl import paths
from synthrl.store import list_runs

from . import views
from .common import POLL_SECONDS, _initial_run, _jobs, _remember, _run_names, _store
from .tabs import TAB_MODULES
from .tabs.base import Ctx, Live, Tab

CSS = """
.synthrl-note {border-left: 4px solid #f59e0b; padding-left: 8px;}
#review-table table, #runs-table table {font-size: 0.86em;}
#sample-detail pre, #sample-detail pre code {white-space: pre-wrap !important; word-break: break-word;}
"""

# Defence in depth under the escaping in views: the page loads images and media only from the app itself,
# so a remote image in model text (were it ever rendered) fetches nothing.
HEAD = ("<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"img-src 'self' data: blob:; media-src 'self' data: blob:\">")


# ============================================================================================================
def build_app() -> gr.Blocks:
    with gr.Blocks(title="synthrl workbench", analytics_enabled=False) as demo:
        # what this browser tab shows and what each of its tabs last rendered: the live refresh renders the tab
        # in view (and the header); a tab whose data changed while out of view renders when it is selected
        fp_state = gr.State({})  # tab id (and HEADER) -> the page key it last rendered
        shown_state = gr.State(TAB_MODULES[0])
        with gr.Row(equal_height=True):
            gr.Markdown("## synthrl workbench\nTurn a task definition into a better model — no labelled data.",
                        elem_id="title")
            run_dd = gr.Dropdown(choices=_run_names(), value=None, label="Open run", elem_id="run-picker",
                                 interactive=True, scale=1)
            version_dd = gr.Dropdown(choices=[], value=None, label="Pass rates of (student version)",
                                     elem_id="version-picker", interactive=True, scale=1, allow_custom_value=True)
        summary_md = gr.Markdown(views.run_summary(None), elem_id="run-summary")
        timer = gr.Timer(POLL_SECONDS)
        ctx = Ctx(demo=demo, run_dd=run_dd, version_dd=version_dd)
        with gr.Tabs(elem_id="tabs") as tabs_block:
            tabs = []
            for name in TAB_MODULES:
                t = importlib.import_module(f"{__package__}.tabs.{name}").build(ctx)
                t.key, t.component = name, tabs_block.children[-1]
                assert isinstance(t.component, gr.Tab) and t.component.id == name, f"ui/tabs/{name}.py: one gr.Tab"
                tabs.append(t)

        # ====================================================================================== wiring
        live_in = list({id(c): c for c in [run_dd, version_dd, *(c for t in tabs for c in t.inputs)]}.values())
        live_out = [summary_md, version_dd, *(c for t in tabs for c in t.outputs)]
        state_out = [*live_out, fp_state]

        def live(shown, run, version, *rest, data=None) -> tuple[list, tuple]:
            """The rendered outputs, and the page key they show (the version the header settled on); `data`: the
            run's fingerprint when the caller has just read it."""
            data = fingerprint(run) if data is None else data
            out = render_live(tabs, run, version, dict(zip(map(id, live_in), [run, version, *rest])), only=shown)
            return out, (data, out[1].get("value", version) if isinstance(out[1], dict) else version)

        def tick(fps, shown, *args):
            new = page_key(args)
            if fps.get(HEADER) == new and fps.get(shown) == new:
                return [gr.skip()] * len(live_out) + [fps]
            out, key = live(shown, *args, data=new[0])
            return [*out, {**fps, HEADER: key, shown: key}]

        timer.tick(tick, [fp_state, shown_state, *live_in], state_out, show_progress="hidden",
                   trigger_mode="once", queue=True)

        def fresh(shown, *args):
            """Render the header and the tab in view; every other tab renders when next selected."""
            out, key = live(shown, *args)
            return [*out, {HEADER: key, shown: key}]

        def open_run(shown, run, *args):
            _remember(run)
            return fresh(shown, run, None, *args[1:])

        ctx.opened = run_dd.change(open_run, [shown_state, *live_in], state_out, show_progress="hidden")
        run_dd.change(None, [run_dd], None, js=_JS_SET_URL)

        ctx.rerender = (fresh, [shown_state, *live_in], state_out)
        version_dd.input(fresh, [shown_state, *live_in], state_out, show_progress="hidden")

        for t in tabs:
            def selected(fps, *args, key=t.key, has_views=bool(t.outputs)):
                new = page_key(args)
                if fps.get(key) == new or not has_views:
                    return [gr.skip()] * len(live_out) + [fps, key]
                out, now = live(key, *args, data=new[0])
                return [*out, {**fps, HEADER: now, key: now}, key]

            t.component.select(selected, [fp_state, *live_in], [*state_out, shown_state], show_progress="hidden")

        def on_load(request: gr.Request):
            return [on_load_run(request), *(v for t in tabs if t.load for v in t.load())]

        ctx.loaded = demo.load(on_load, None, [run_dd, *(c for t in tabs for c in t.load_outputs)]).then(
            *ctx.rerender)
        for t in tabs:
            if t.wire:
                t.wire()
    demo.synthrl_tabs = tabs  # for bench/ui.py's live-refresh figures
    return demo


_JS_SET_URL = """(run) => {
  const u = new URL(window.location.href);
  if (run) { u.searchParams.set('run', run); } else { u.searchParams.delete('run'); }
  window.history.replaceState(null, '', u.toString());
  return [];
}"""


# ============================================================================================================
HEADER = ""  # the run summary and version picker's entry in a page's rendered keys


def page_key(args) -> tuple:
    """What a page's live views show, from the live inputs (run, version, ...): the data and the version."""
    return (fingerprint(args[0]), args[1])


def fingerprint(run: str | None):
    st = _store(run) if run else None
    if st is None:
        return ("none", run, tuple(_run_names()))
    js = tuple(sorted((k, v.get("running"), v.get("returncode"), len(v.get("tail") or "")) for k, v in _jobs(run).items()))
    return (run, st.data_version(), js, tuple(_run_names()))


def on_load_run(request: gr.Request):
    """The run to open: ?run=NAME in the URL, else the last one opened, else the newest."""
    q = None
    try:
        q = dict(request.query_params).get("run") if request is not None else None
    except Exception:  # noqa: BLE001 - a missing request is not an error
        q = None
    run = _initial_run(q)
    return gr.update(choices=_run_names(), value=run)


def render_live(tabs: list[Tab], run, version, values: dict, only: str | None = None) -> list:
    """Every view that follows the store: the header's, then each tab's, in `live_out` order. With `only` (a
    tab's key), the other tabs' outputs are left as they are (gr.skip())."""
    names = _run_names()
    runs = list_runs()
    all_jobs = {r["run"]: _jobs(r["run"]) for r in runs if "error" not in r}
    st = _store(run)
    if st is None:
        live = Live(run, None, {}, None, None, [], names, runs, all_jobs, values)
        out = [views.run_summary(None), gr.update(choices=[], value=None)]
    else:
        js = all_jobs.get(run) or _jobs(run)
        status = st.status()
        versions = views.student_versions(st)
        if version not in versions:
            version = versions[0] if versions else None
        live = Live(run, st, js, status, version, versions, names, runs, all_jobs, values)
        out = [views.run_summary(status, js), gr.update(choices=versions, value=version)]
    for t in tabs:
        if only is not None and t.key != only:
            out += [gr.skip()] * len(t.outputs)
        elif t.render is not None:
            vals = t.render(live)
            if len(vals) != len(t.outputs):
                raise RuntimeError(f"{t.render.__qualname__} gave {len(vals)} values for {len(t.outputs)} outputs")
            out += vals
    return out


WARM_RUNS = 8  # at start-up, recent runs whose samples were never kept beside them get that done


def _warm_runs(first: str | None) -> None:
    """The run the page will open first: everything its first render needs. Then other recent runs that no
    app process has shown yet (a run made by the CLI): their snapshots, so their first showing is not the
    slow one (a full read of every sample and answer: ~0.3 s at 20k samples)."""
    def age(name: str) -> float:
        try:
            return -(paths.runs_dir() / name / "run.db").stat().st_mtime
        except OSError:
            return 0.0

    names = sorted(_run_names(), key=age)
    for run in ([first] if first else []) + [n for n in names if n != first][:WARM_RUNS - 1]:
        try:
            st = _store(run)
            if st is not None and (run == first or not views.has_snapshot(st)):
                views.warm(st, queue=run == first)
        except Exception as e:  # noqa: BLE001 - only a head start: the first render does the same work
            print(f"synthrl app: could not prepare run {run} ahead of its first view: {e}", file=sys.stderr,
                  flush=True)


# ============================================================================================================
def launch(host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None, quiet: bool = False):
    """Build and serve the app (blocks until stopped)."""
    demo = build_app()
    demo.queue(default_concurrency_limit=8)
    threading.Thread(target=_warm_runs, args=(_initial_run(None),), name="warm-runs", daemon=True).start()
    print(f"synthrl app: http://{host}:{port}  (runs in {paths.runs_dir()})", file=sys.stderr, flush=True)
    demo.launch(server_name=host, server_port=port, auth=auth, share=False, inbrowser=False, quiet=quiet,
                show_error=True, css=CSS, head=HEAD, ssr_mode=False, footer_links=[], enable_monitoring=False)
