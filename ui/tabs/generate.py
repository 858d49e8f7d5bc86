"""The Generate tab: choose the teacher, generate, measure pass rates, adapt difficulty, with estimates first.

It publishes the teacher fields, the measuring settings and the API prices on `ctx`: the Review
tab's judge and re-measure and the Train and Evaluate estimates use them.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from .. import jobs, views
from ..common import _estimate_line, _need_store, _start, _store, stop_job
from .base import Ctx, Live, Tab

BUNDLED_NOTE = (
    "⚠ **The bundled teacher (SmolLM2-135M) is a demo.** It shows the whole workflow on a laptop but will "
    "not write good data: expect nonsense questions and wrong labels. For real data choose *OpenAI-compatible "
    "server* (vLLM, OpenAI, llama.cpp, Ollama: base URL + model + the *name* of the environment variable that "
    "holds the API key — the key itself is never stored) or a local model folder."
)


def build(ctx: Ctx) -> Tab:
    with gr.Tab("Generate", id="generate", elem_id="tab-generate") as gen_tab:
        with gr.Row():
            with gr.Column(scale=1):
                teacher_radio = gr.Radio(
                    ["bundled (demo)", "OpenAI-compatible server", "local model folder"],
                    value="bundled (demo)", label="Teacher", elem_id="teacher")
                bundled_note = gr.Markdown(BUNDLED_NOTE, elem_classes=["synthrl-note"], elem_id="bundled-note")
                t_url = gr.Textbox(label="base URL", placeholder="http://127.0.0.1:8000/v1", visible=False)
                t_model = gr.Textbox(label="model", placeholder="Qwen/Qwen2.5-7B-Instruct", visible=False)
                t_key = gr.Textbox(label="API key environment variable (name, not the key)",
                                   value="OPENAI_API_KEY", visible=False)
                t_folder = gr.Textbox(label="local model folder", placeholder="/models/Qwen2.5-7B-Instruct",
                                      visible=False)
                with gr.Row():
                    price_in = gr.Number(value=None, minimum=0, label="API price in ($ per 1M tokens)",
                                         elem_id="price-in")
                    price_out = gr.Number(value=None, minimum=0, label="API price out ($ per 1M tokens)",
                                          elem_id="price-out")
            with gr.Column(scale=1):
                with gr.Row():
                    n_num = gr.Number(value=8, precision=0, minimum=1, label="N (samples the run should hold)",
                                      elem_id="gen-n")
                    votes_num = gr.Number(value=4, precision=0, minimum=1, label="votes per sample (k)",
                                          elem_id="gen-votes")
                    ttok_num = gr.Number(value=0, precision=0, minimum=0,
                                         label="max teacher tokens (0 = default)", elem_id="teacher-max-tokens")
                with gr.Row():
                    gen_btn = gr.Button("Generate / resume", variant="primary", elem_id="gen-start")
                    gen_stop_btn = gr.Button("Cancel", variant="stop", elem_id="gen-stop")
                with gr.Row():
                    rollouts_num = gr.Number(value=8, precision=0, minimum=1,
                                             label="student answers per sample (L; paper 64)",
                                             elem_id="measure-rollouts")
                    mtok_num = gr.Number(value=0, precision=0, minimum=0,
                                         label="max answer tokens (0 = default)", elem_id="measure-max-tokens")
                with gr.Row():
                    measure_btn = gr.Button("Measure pass rates", elem_id="measure-all")
                    adapt_btn = gr.Button("Adapt difficulty (1 round)", elem_id="adapt")
                    stage_stop_btn = gr.Button("Stop measure/adapt", elem_id="stage-stop")
                gen_progress = gr.HTML(elem_id="gen-progress")
                gen_job_md = gr.Markdown(elem_id="gen-job")
                gen_est_md = gr.Markdown(elem_id="gen-estimate")
        gen_samples_df = gr.Dataframe(label="Newest samples (they appear as they are made)",
                                      interactive=False, elem_id="gen-samples", max_height=360)
        gen_log = gr.Textbox(label="Log", lines=8, max_lines=8, interactive=False, elem_id="gen-log")

    ctx.teacher_radio, ctx.t_url, ctx.t_model, ctx.t_key = teacher_radio, t_url, t_model, t_key
    ctx.t_folder = t_folder
    ctx.rollouts_num, ctx.mtok_num, ctx.price_in, ctx.price_out = rollouts_num, mtok_num, price_in, price_out

    def render(live: Live) -> list:
        st, js = live.store, live.jobs
        if st is None:
            return ["", "", views.pd.DataFrame(), ""]
        gen_stage = next((s for s in ("generate", "verify", "adapt", "measure") if (js.get(s) or {}).get("running")),
                         None)
        prog_stage = gen_stage or next((s for s in ("generate", "measure", "adapt") if st.progress(s)), "generate")
        gen_lines = [views.job_line(js.get(s), s) for s in ("generate", "measure", "adapt") if js.get(s)]
        return [views.progress_html(st, prog_stage), "\n\n".join(gen_lines) or "Nothing running.",
                views.recent_samples_table(st), views.events_text(st, limit=14)]

    def wire() -> None:
        run_dd = ctx.run_dd
        teacher_radio.change(teacher_visibility, [teacher_radio], [bundled_note, t_url, t_model, t_key, t_folder])
        gen_btn.click(start_generate, [run_dd, teacher_radio, t_url, t_model, t_key, t_folder, n_num, votes_num,
                                       ttok_num], [gen_job_md])
        gen_stop_btn.click(lambda r: stop_job(r, "generate"), [run_dd], [gen_job_md])
        measure_btn.click(start_measure, [run_dd, rollouts_num, mtok_num], [gen_job_md])
        adapt_btn.click(start_adapt, [run_dd, teacher_radio, t_url, t_model, t_key, t_folder, votes_num,
                                      rollouts_num], [gen_job_md])
        stage_stop_btn.click(stop_stages, [run_dd], [gen_job_md])
        # Cost and time before launching (the same estimate as `synthrl STAGE --dry-run`), and the last actual
        gen_est_in = [run_dd, teacher_radio, t_url, t_model, t_key, t_folder, n_num, votes_num, ttok_num, rollouts_num,
                      mtok_num, price_in, price_out]
        gen_tab.select(generate_estimates, gen_est_in, [gen_est_md])
        for comp in gen_est_in[1:]:
            comp.input(generate_estimates, gen_est_in, [gen_est_md], show_progress="hidden",
                       trigger_mode="always_last")

    return Tab(outputs=[gen_progress, gen_job_md, gen_samples_df, gen_log], render=render, wire=wire)


# -- handlers -------------------------------------------------------------------------------------------------
def teacher_visibility(choice):
    api = choice == "OpenAI-compatible server"
    return (gr.update(visible=choice.startswith("bundled")), gr.update(visible=api), gr.update(visible=api),
            gr.update(visible=api), gr.update(visible=choice == "local model folder"))


def teacher_args(choice, url, model, key_env, folder) -> list[str]:
    if choice == "OpenAI-compatible server":
        if not (url or "").strip() or not (model or "").strip():
            raise gr.Error("An OpenAI-compatible teacher needs a base URL (e.g. http://127.0.0.1:8000/v1) and a model name.")
        args = ["--teacher-backend", "openai", "--teacher-url", url.strip(), "--teacher-model", model.strip()]
        if (key_env or "").strip():
            if not key_env.strip().replace("_", "").isalnum():
                raise gr.Error("The API key field takes the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                               "not the key itself.")
            if key_env.strip() not in os.environ:
                gr.Warning(f"Environment variable {key_env.strip()} is not set for the app; export it and restart "
                           "the app, or the server must not need a key.")
            args += ["--teacher-key-env", key_env.strip()]
        return args
    if choice == "local model folder":
        p = Path((folder or "").strip()).expanduser()
        if not (folder or "").strip() or not p.is_dir():
            raise gr.Error(f"Local teacher folder {folder!r} does not exist; give a transformers model folder.")
        if not (p / "config.json").is_file():
            raise gr.Error(f"{folder!r} is not a transformers model folder (it has no config.json).")
        return ["--teacher-backend", "transformers", "--teacher-model", str(p)]
    return []


def start_generate(run, choice, url, model, key_env, folder, n, votes, max_tokens=None):
    st = _need_store(run)
    if st.get_config("task") is None:
        raise gr.Error("This run has no task yet: save one on the Task tab first.")
    if not n or int(n) < 1:
        raise gr.Error("N must be at least 1.")
    args = ["generate", run, "--n", str(int(n)), "--votes", str(int(votes or 0)),
            *teacher_args(choice, url, model, key_env, folder)]
    if max_tokens and int(max_tokens) > 0:
        args += ["--max-tokens", str(int(max_tokens))]
    return _start(run, "generate", args)


def _measure_args(rollouts, max_tokens) -> list[str]:
    args = []
    if rollouts and int(rollouts) > 0:
        args += ["--rollouts", str(int(rollouts))]
    if max_tokens and int(max_tokens) > 0:
        args += ["--max-tokens", str(int(max_tokens))]
    return args


def start_measure(run, rollouts=None, max_tokens=None):
    st = _need_store(run)
    if not st.n_samples():
        raise gr.Error("No samples to measure yet: generate some first.")
    return _start(run, "measure", ["measure", run, *_measure_args(rollouts, max_tokens)])


def start_adapt(run, choice, url, model, key_env, folder, votes, rollouts=None):
    st = _need_store(run)
    if not st.n_pass_rates():
        raise gr.Error("Adaptation rewrites samples by their pass rate: measure pass rates first.")
    args = ["adapt", run, "--rounds", "1", "--votes", str(int(votes or 1))]
    if rollouts and int(rollouts) > 0:
        args += ["--rollouts", str(int(rollouts))]
    return _start(run, "adapt", [*args, *teacher_args(choice, url, model, key_env, folder)])


def stop_stages(run):
    for s in ("measure", "adapt"):
        try:
            jobs.stop(run, s, timeout=1.0)
        except jobs.JobError:
            pass
    return "\n\n".join(views.job_line(jobs.job_state(run, s), s) for s in ("measure", "adapt"))


def generate_estimates(run, choice, url, model, key_env, folder, n, votes, max_tokens, rollouts, mtok, price_in,
                       price_out):
    st = _store(run)
    if st is None:
        return ""
    try:
        teacher = teacher_args(choice, url, model, key_env, folder)
    except gr.Error as e:
        return f"No estimate yet: {views._md_escape(e.message)}"
    gen = ["generate", run, "--n", str(int(n or 1)), "--votes", str(int(votes or 0)), *teacher]
    if max_tokens and int(max_tokens) > 0:
        gen += ["--max-tokens", str(int(max_tokens))]
    lines = [_estimate_line(st, gen, price_in, price_out),
             _estimate_line(st, ["measure", run, *_measure_args(rollouts, mtok)], price_in, price_out),
             _estimate_line(st, ["adapt", run, "--rounds", "1", "--votes", str(int(votes or 1)),
                                 *(["--rollouts", str(int(rollouts))] if rollouts and int(rollouts) > 0 else []),
                                 *teacher], price_in, price_out)]
    return "**Before launching** (calls, tokens, time at this machine's measured throughput):\n\n" + "\n\n".join(lines)
