"""The Runs tab: every run with its counts and activity; open, compare or delete one.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

import shutil

import gradio as gr

from synthrl import paths

from .. import jobs, views
from ..common import _forget_store, _run_names, _store
from .base import Ctx, Live, Tab


def build(ctx: Ctx) -> Tab:
    with gr.Tab("Runs", id="runs", elem_id="tab-runs"):
        runs_df = gr.Dataframe(label="Runs (click one to open it)", interactive=False, elem_id="runs-table")
        with gr.Row():
            cmp_a = gr.Dropdown(choices=[], label="compare run A", elem_id="cmp-a")
            cmp_b = gr.Dropdown(choices=[], label="with run B", elem_id="cmp-b")
            cmp_btn = gr.Button("Compare", elem_id="cmp-btn")
        cmp_df = gr.Dataframe(interactive=False, elem_id="cmp-table")
        with gr.Accordion("Delete a run", open=False):
            del_tb = gr.Textbox(label="type the run name to delete it (its folder and everything in it)",
                                elem_id="delete-name")
            del_btn = gr.Button("Delete run", variant="stop", elem_id="delete-btn")
            del_md = gr.Markdown()

    def render(live: Live) -> list:
        cmp_choices = gr.update(choices=live.names)
        return [views.runs_table(live.runs, live.all_jobs), cmp_choices, cmp_choices]

    def wire() -> None:
        run_dd = ctx.run_dd
        def pick_run(evt: gr.SelectData):
            row = evt.row_value or []
            return gr.update(choices=_run_names(), value=row[0]) if row else gr.skip()

        runs_df.select(pick_run, None, [run_dd])
        cmp_btn.click(compare, [cmp_a, cmp_b], [cmp_df])
        del_btn.click(delete_run, [del_tb, run_dd], [del_md, run_dd, del_tb])

    return Tab(outputs=[runs_df, cmp_a, cmp_b], render=render, wire=wire)


# -- handlers -------------------------------------------------------------------------------------------------
def compare(a, b):
    if not a or not b:
        raise gr.Error("Pick two runs to compare.")
    sa, sb = _store(a), _store(b)
    if sa is None or sb is None:
        raise gr.Error("One of those runs no longer exists; refresh the page.")
    return views.compare_runs(sa.status(), sb.status(), sa.evaluations(), sb.evaluations())


def delete_run(name, current):
    name = (name or "").strip()
    if not name:
        raise gr.Error("Type the name of the run to delete, to confirm.")
    if name not in _run_names():
        raise gr.Error(f"No run named {name!r}; type the exact name from the runs table.")
    busy = jobs.running(name)
    if busy:
        raise gr.Error(f"Run {name} has running jobs ({', '.join(busy)}); stop them first.")
    _forget_store(name)
    folder = (paths.runs_dir() / name).resolve()
    if folder.parent != paths.runs_dir().resolve():
        raise gr.Error("Refusing to delete a folder outside the runs folder.")
    shutil.rmtree(folder)
    gr.Info(f"Deleted run {name}.")
    new = current if current != name else None
    return f"Deleted run `{name}`.", gr.update(choices=_run_names(), value=new), ""
