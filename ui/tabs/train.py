"""The Train tab: launch, stop and resume training; curves per training run; completions of every step.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

import gradio as gr

from .. import views
from ..common import OPEN_A_RUN, _estimate_line, _need_store, _start, _store, _tail_of, stop_job
from .base import Ctx, Live, Tab


def build(ctx: Ctx) -> Tab:
    with gr.Tab("Train", id="train", elem_id="tab-train") as train_tab:
        with gr.Row():
            tr_algo = gr.Radio(["grpo", "ppo"], value="grpo", label="algorithm", elem_id="tr-algo")
            tr_profile = gr.Radio([("the run's", RUN_SETTINGS), "tiny", "demo", "paper"], value=RUN_SETTINGS,
                                  label="settings", elem_id="tr-profile",
                                  info="the run's: what it was created with, as `synthrl train RUN` uses; "
                                       "tiny: a few CPU steps; demo: the bundled demo's 22 steps at lr 3e-5; "
                                       "paper: lr 1e-6, 16 rollouts, T=1.2 …")
            tr_steps = gr.Number(value=0, precision=0, minimum=0, label="max steps (0 = the settings' own)",
                                 elem_id="tr-steps")
            tr_lora = gr.Checkbox(value=False, label="LoRA")
            tr_report = gr.CheckboxGroup(["tensorboard", "trackio", "wandb"], value=[],
                                         label="also log to (nothing leaves this machine by default)",
                                         elem_id="tr-report-to")
        with gr.Row():
            tr_btn = gr.Button("Launch training", variant="primary", elem_id="tr-start")
            tr_stop_btn = gr.Button("Stop (saves a checkpoint)", variant="stop", elem_id="tr-stop")
            tr_resume_btn = gr.Button("Resume", elem_id="tr-resume")
        tr_job_md = gr.Markdown(elem_id="train-job")
        tr_est_md = gr.Markdown(elem_id="train-estimate")
        tr_md = gr.Markdown(elem_id="train-summary")
        tr_plot = gr.Plot(label="Training curves", elem_id="train-plot")
        tr_runs = gr.CheckboxGroup(choices=[], value=[], label="training runs in the plot (none ticked: all)",
                                   elem_id="tr-runs")
        rollouts_df = gr.Dataframe(label="Recent completions with rewards", interactive=False,
                                   elem_id="rollouts-table", wrap=True, max_height=300)
        with gr.Accordion("Completions of every step", open=False, elem_id="tr-completions"):
            with gr.Row():
                c_run = gr.Dropdown(choices=[], value=None, label="training run", elem_id="c-run")
                c_step = gr.Number(value=0, precision=0, minimum=0, label="step (0 = all)", elem_id="c-step")
                c_text = gr.Textbox(label="prompt contains", elem_id="c-text")
                c_reward = gr.Radio(["all", "rewarded", "unrewarded"], value="all", label="reward",
                                    elem_id="c-reward")
            c_df = gr.Dataframe(interactive=False, elem_id="completions-table", wrap=True, max_height=400)
        tr_log = gr.Textbox(label="Training log", lines=6, max_lines=6, interactive=False, elem_id="train-log")

    def render(live: Live) -> list:
        st, js = live.store, live.jobs
        if st is None:
            return ["", OPEN_A_RUN, views._empty_figure("Open or create a run first"), views.pd.DataFrame(), ""]
        return [views.job_line(js.get("train"), "train"), views.training_summary(st),
                views.training_figure(st, runs=live.value(tr_runs) or None),
                views.rollouts_table(st), views.readable_log(_tail_of(js.get("train"), 200))]

    def wire() -> None:
        run_dd, price_in, price_out = ctx.run_dd, ctx.price_in, ctx.price_out
        tr_in = [run_dd, tr_algo, tr_profile, tr_steps, tr_lora, tr_report]
        tr_btn.click(lambda *a: start_train(*a, resume=False), tr_in, [tr_job_md])
        tr_resume_btn.click(lambda *a: start_train(*a, resume=True), tr_in, [tr_job_md])
        tr_stop_btn.click(lambda r: stop_job(r, "train"), [run_dd], [tr_job_md])
        # every training run is its own series; the completions of every step, browsable
        c_in = [run_dd, c_run, c_step, c_text, c_reward]
        train_tab.select(show_training, [run_dd, tr_runs, c_run], [tr_runs, tr_md, tr_plot, c_run]).then(
            show_completions, c_in, [c_df])
        tr_runs.input(show_training, [run_dd, tr_runs, c_run], [tr_runs, tr_md, tr_plot, c_run],
                      show_progress="hidden")
        for comp in (c_run, c_step, c_reward):
            comp.input(show_completions, c_in, [c_df], show_progress="hidden", trigger_mode="always_last")
        c_text.submit(show_completions, c_in, [c_df])
        c_text.input(show_completions, c_in, [c_df], show_progress="hidden", trigger_mode="always_last")
        # Cost and time before launching (the same estimate as `synthrl train --dry-run`), and the last actual
        tr_est_in = [*tr_in, price_in, price_out]
        train_tab.select(train_estimate, tr_est_in, [tr_est_md])
        for comp in (tr_algo, tr_profile, tr_steps, tr_lora):
            comp.input(train_estimate, tr_est_in, [tr_est_md], show_progress="hidden", trigger_mode="always_last")

    return Tab(outputs=[tr_job_md, tr_md, tr_plot, rollouts_df, tr_log], inputs=[tr_runs], render=render, wire=wire)


# -- handlers -------------------------------------------------------------------------------------------------
# The settings choice that names no profile: the run's recorded settings (its profile, else the paper's), as
# the other stage buttons and `synthrl train RUN` use them.
RUN_SETTINGS = "run"


def train_args(run, algo, profile, steps, lora) -> list[str]:
    """The `synthrl train` command line of the Train tab's choices."""
    args = ["train", run, "--algo", algo]
    if profile and profile != RUN_SETTINGS:
        args += ["--profile", profile]
    if steps and int(steps) > 0:
        args += ["--max-steps", str(int(steps))]
    if lora:
        args.append("--lora")
    return args


def start_train(run, algo, profile, steps, lora, report_to=(), resume=False):
    st = _need_store(run)
    if st.latest_selection() is None:
        raise gr.Error("Nothing to train on: save a selection on the Select tab first.")
    args = train_args(run, algo, profile, steps, lora)
    if resume:
        args.append("--resume")
    trackers = [t for t in (report_to or []) if t in ("tensorboard", "trackio", "wandb")]
    if trackers:
        args += ["--report-to", ",".join(trackers)]
    return _start(run, "train", args)


def show_training(run, shown, completions_run):
    """The Train tab's run picker, header and curves for the ticked training runs (none ticked: all)."""
    st = _store(run)
    if st is None:
        nf = views._empty_figure("Open or create a run first")
        return gr.update(choices=[], value=[]), "Open a run first.", nf, gr.update(choices=[], value=None)
    series = views.training_series(st)
    choices = [(s.label, s.key) for s in series]
    keys = [s.key for s in series]
    shown = [k for k in (shown or []) if k in keys]
    picked = completions_run if completions_run in keys else (keys[-1] if keys else None)
    summary = views.training_summary(st, run=shown[-1]) if len(shown) == 1 else views.training_summary(st)
    return (gr.update(choices=choices, value=shown), summary, views.training_figure(st, runs=shown or None),
            gr.update(choices=choices, value=picked))


def show_completions(run, train_run, step, text, reward):
    st = _store(run)
    if st is None:
        return views.pd.DataFrame(columns=views.COMPLETION_COLUMNS)
    return views.completions_table(st, train_run or None, int(step or 0) or None, text or "", reward or "all")


def train_estimate(run, algo, profile, steps, lora, report_to=(), price_in=None, price_out=None):
    st = _store(run)
    if st is None:
        return ""
    return "**Before launching:** " + _estimate_line(st, train_args(run, algo, profile, steps, lora),
                                                     price_in, price_out)
