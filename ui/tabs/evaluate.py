"""The Evaluate tab: base and trained on a benchmark, side by side; experiments comparing selection rules.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from synthrl.experiment import VARIANTS as XP_VARIANTS
from synthrl.store import RunStore

from .. import views
from ..common import (
    DEMO_BENCHMARK, DEMO_CORPUS, OPEN_A_RUN, ROOT, _estimate_line, _need_store, _start, _store, stop_job,
)
from ..security import SecurityError, allowed_dirs, check_readable
from .base import Ctx, Live, Tab


def build(ctx: Ctx) -> Tab:
    with gr.Tab("Evaluate", id="evaluate", elem_id="tab-evaluate") as ev_tab:
        with gr.Row():
            ev_bench = gr.Textbox(value=str(DEMO_BENCHMARK.relative_to(ROOT)), label="benchmark JSONL",
                                  scale=3, elem_id="ev-bench")
            ev_limit = gr.Number(value=0, precision=0, minimum=0, label="first N items (0 = all)",
                                 elem_id="ev-limit")
        with gr.Row():
            ev_both_btn = gr.Button("Evaluate base and trained", variant="primary", elem_id="ev-both")
            ev_base_btn = gr.Button("Evaluate base", elem_id="ev-base")
            ev_trained_btn = gr.Button("Evaluate trained", elem_id="ev-trained")
            ev_stop_btn = gr.Button("Stop", variant="stop")
        ev_job_md = gr.Markdown(elem_id="eval-job")
        ev_est_md = gr.Markdown(elem_id="eval-estimate")
        ev_md = gr.Markdown(elem_id="eval-summary")
        ev_df = gr.Dataframe(label="Evaluations", interactive=False, elem_id="eval-table")
        ev_diff_df = gr.Dataframe(label="Items where A and B differ", interactive=False,
                                  elem_id="eval-diff", wrap=True, max_height=360)

        # experiments: selection rules side by side, and the demo that learns on a laptop
        with gr.Accordion("Experiments: selection rules side by side", open=False, elem_id="xp"):
            with gr.Row():
                xp_name = gr.Dropdown(choices=["default"], value="default", allow_custom_value=True,
                                      label="experiment", elem_id="xp-name")
                xp_variants = gr.CheckboxGroup(choices=list(XP_VARIANTS), value=["paper", "random"],
                                               label="variants", elem_id="xp-variants")
                xp_seeds = gr.Number(value=1, precision=0, minimum=1, label="seeds", elem_id="xp-seeds")
                xp_m = gr.Number(value=0, precision=0, minimum=0, label="M (0 = the run's select.m)")
            with gr.Row():
                xp_run_btn = gr.Button("Run experiment", elem_id="xp-run")
                xp_show_btn = gr.Button("Show results", elem_id="xp-show")
                xp_report_btn = gr.Button("Report (HTML + Markdown)", elem_id="xp-report")
                demo_btn = gr.Button("Run the demo (run 'demo')", elem_id="demo-run")
            xp_job_md = gr.Markdown(elem_id="xp-job")
            xp_df = gr.Dataframe(label="Comparison", interactive=False, elem_id="xp-table")
            xp_plot = gr.Plot(label="Reward and held-out accuracy, all variants", elem_id="xp-plot")
            xp_diff_df = gr.Dataframe(label="Benchmark items on which the variants differ", interactive=False,
                                      elem_id="xp-diff", wrap=True, max_height=360)
            xp_files = gr.File(label="Reports", file_count="multiple", visible=False, elem_id="xp-files")

    def render(live: Live) -> list:
        st = live.store
        if st is None:
            return ["", OPEN_A_RUN, views.pd.DataFrame(), views.pd.DataFrame()]
        ev_md, ev_diff = views.eval_comparison(st)
        return [views.job_line(live.jobs.get("eval"), "eval"), ev_md, views.evaluations_table(st), ev_diff]

    def wire() -> None:
        run_dd, price_in, price_out = ctx.run_dd, ctx.price_in, ctx.price_out
        ev_both_btn.click(lambda *a: start_eval(*a, which=("base", "latest")), [run_dd, ev_bench, ev_limit],
                          [ev_job_md])
        ev_base_btn.click(lambda *a: start_eval(*a, which=("base",)), [run_dd, ev_bench, ev_limit], [ev_job_md])
        ev_trained_btn.click(lambda *a: start_eval(*a, which=("latest",)), [run_dd, ev_bench, ev_limit], [ev_job_md])
        ev_stop_btn.click(lambda r: stop_job(r, "eval"), [run_dd], [ev_job_md])
        # Cost and time before launching (the same estimate as `synthrl eval --dry-run`), and the last actual
        ev_est_in = [run_dd, ev_bench, ev_limit, price_in, price_out]
        for comp in (ev_bench, ev_limit):
            comp.input(eval_estimate, ev_est_in, [ev_est_md], show_progress="hidden", trigger_mode="always_last")
        ev_tab.select(eval_estimate, ev_est_in, [ev_est_md])

        # Experiments and the demo
        xp_run_btn.click(start_experiment, [run_dd, xp_name, xp_variants, xp_seeds, xp_m, ev_bench], [xp_job_md])
        xp_show_btn.click(show_experiment, [run_dd, xp_name], [xp_name, xp_df, xp_plot, xp_diff_df])
        xp_report_btn.click(experiment_reports, [run_dd, xp_name], [xp_files])
        demo_btn.click(start_demo, None, [xp_job_md])

    return Tab(outputs=[ev_job_md, ev_md, ev_df, ev_diff_df], render=render, wire=wire)


# -- handlers -------------------------------------------------------------------------------------------------
def eval_estimate(run, bench, limit, price_in=None, price_out=None):
    st = _store(run)
    if st is None:
        return ""
    p = Path((bench or "").strip()).expanduser()
    p = p if p.is_absolute() else ROOT / p
    try:
        p = check_readable(p, allowed_dirs())  # the same folders the launch may read
    except SecurityError as e:
        return f"No estimate: {views._md_escape(e)}"
    args = ["eval", run, "--benchmark", str(p)] + (["--limit", str(int(limit))] if limit and int(limit) > 0 else [])
    return "**Before launching** (per model): " + _estimate_line(st, args, price_in, price_out)


def start_eval(run, bench, limit, which):
    st = _need_store(run)
    if st.get_config("task") is None:
        raise gr.Error("This run has no task yet: save one on the Task tab first.")
    p = Path((bench or "").strip()).expanduser()
    if not p.is_absolute():
        p = ROOT / p
    try:
        p = check_readable(p, allowed_dirs())
    except SecurityError as e:
        raise gr.Error(str(e)) from None
    if not p.is_file():
        raise gr.Error(f"Benchmark file {bench!r} not found; give a JSONL file of {{question, answer}} lines.")
    if "latest" in which and not st.last_train_step():
        if which == ("latest",):
            raise gr.Error("No trained model yet: train on the Train tab first (or evaluate the base).")
        gr.Warning("No trained model yet: evaluating the base only.")
        which = ("base",)
    cmds = []
    for w in which:
        a = ["eval", run, "--benchmark", str(p), "--model", w]
        if limit and int(limit) > 0:
            a += ["--limit", str(int(limit))]
        cmds.append(a)
    return _start(run, "eval", cmds[0] if len(cmds) == 1 else cmds)


def start_experiment(run, name, variants, seeds, m, bench):
    _need_store(run)
    if not variants:
        raise gr.Error("Pick at least one variant.")
    p = Path((bench or "").strip()).expanduser()
    p = p if p.is_absolute() else ROOT / p
    try:
        p = check_readable(p, allowed_dirs())
    except SecurityError as e:
        raise gr.Error(str(e)) from None
    args = ["experiment", run, "--variants", ",".join(variants), "--seeds", str(max(1, int(seeds or 1))),
            "--name", (name or "default").strip(), "--benchmark", str(p)]
    if m and int(m) > 0:
        args += ["--m", str(int(m))]
    return _start(run, "experiment", args)


def show_experiment(run, name):
    st = _need_store(run)
    names = views.experiment_names(st) or ["default"]
    name = name if name in names else names[0]
    return (gr.update(choices=names, value=name), views.experiment_frame(st, name), views.experiment_figure(st, name),
            views.experiment_diff_frame(st, name))


def experiment_reports(run, name):
    from synthrl.experiment import load_record, write_reports

    st = _need_store(run)
    name = (name or "default").strip()
    if load_record(st, name) is None:
        raise gr.Error(f"Run {run} has no experiment {name!r} yet: run one first.")
    # written to a temp folder: the run folder itself is never served
    html_path, md_path = write_reports(st, name, tempfile.mkdtemp(prefix="synthrl-experiment-"))
    return gr.update(value=[str(html_path), str(md_path)], visible=True)


def start_demo():
    args = ["run", "--task", str(ROOT / "assets" / "tasks" / "demo_addition.yaml"), "--docs", str(DEMO_CORPUS),
            "--profile", "demo", "--run", "demo"]
    RunStore.open("demo").close()
    return _start("demo", "run", args)
