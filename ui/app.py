"""The Gradio workbench: layout and event wiring only.

Every view is a pure function in ui/views.py; every long job is a `synthrl ...` subprocess
started by ui/jobs.py; every piece of state lives in the run store. A gr.Timer polls the
store and re-renders only when `store.data_version()` (or a job's state) changed, so two
browser tabs see the same thing and a reload loses nothing.

    demo = build_app()
    launch(host="127.0.0.1", port=7860)
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr

from synthrl import paths
from synthrl.experiment import VARIANTS as XP_VARIANTS
from synthrl.records import Sample
from synthrl.store import RunStore, StoreError, list_runs

from . import jobs, views
from .security import SecurityError, allowed_dirs, check_readable, check_received, gradio_upload_dir, save_upload

ROOT = Path(__file__).resolve().parent.parent
DEMO_CORPUS = ROOT / "assets" / "corpus" / "demo_addition"
DEMO_BENCHMARK = ROOT / "assets" / "benchmarks" / "demo_addition.jsonl"
POLL_SECONDS = 2.0
BUNDLED_NOTE = (
    "⚠ **The bundled teacher (SmolLM2-135M) is a demo.** It shows the whole workflow on a laptop but will "
    "not write good data: expect nonsense questions and wrong labels. For real data choose *OpenAI-compatible "
    "server* (vLLM, OpenAI, llama.cpp, Ollama: base URL + model + the *name* of the environment variable that "
    "holds the API key — the key itself is never stored) or a local model folder."
)
CSS = """
.synthrl-note {border-left: 4px solid #f59e0b; padding-left: 8px;}
#review-table table, #runs-table table {font-size: 0.86em;}
#sample-detail pre, #sample-detail pre code {white-space: pre-wrap !important; word-break: break-word;}
"""

# Defence in depth under the escaping in views: the page loads images and media only from the app itself,
# so a remote image in model text (were it ever rendered) fetches nothing.
HEAD = ("<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"img-src 'self' data: blob:; media-src 'self' data: blob:\">")

# -- run stores (one connection per run, shared by all sessions of this process) ---------------------------
_STORES: dict[str, RunStore] = {}
_STORES_LOCK = threading.Lock()


def _store(run: str | None, create: bool = False) -> RunStore | None:
    """The open run's store, or None when no run is open. Only plain run names are accepted."""
    if not run:
        return None
    if not paths.valid_run_name(run):
        raise gr.Error(f"invalid run name {run!r}: use letters, digits, '_', '-' or '.' (up to 100 characters)")
    db = paths.runs_dir() / run / "run.db"
    with _STORES_LOCK:
        st = _STORES.get(run)
        if st is not None and st.path.exists() and Path(st.path) == db:
            return st
        if not db.exists() and not create:
            _STORES.pop(run, None)
            return None
        st = RunStore(db, create=True)
        _STORES[run] = st
        return st


def _need_store(run: str | None) -> RunStore:
    st = _store(run)
    if st is None:
        raise gr.Error("No run is open: create one on the Task tab (Save task to run) or open one on the Runs tab.")
    return st


def _need_sample(st: RunStore, run: str, sid, missing: str = "Select a sample first (click a row).") -> Sample:
    """The sample the Review tab points at, or a gr.Error saying what to do."""
    if not sid:
        raise gr.Error(missing)
    s = st.sample(int(sid))
    if s is None:
        raise gr.Error(f"Sample {int(sid)} does not exist in run {run}.")
    return s


def _forget_store(run: str) -> None:
    with _STORES_LOCK:
        st = _STORES.pop(run, None)
    if st is not None:
        st.close()


def _run_names() -> list[str]:
    root = paths.runs_dir()
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / "run.db").exists() and paths.valid_run_name(d.name))


def _last_run_file() -> Path:
    return paths.runs_dir() / ".last_run"


def _remember(run: str | None) -> None:
    if run:
        try:
            paths.runs_dir().mkdir(parents=True, exist_ok=True)
            _last_run_file().write_text(run)
        except OSError:
            pass


def _initial_run(query_run: str | None) -> str | None:
    """?run=NAME in the URL wins, then the last run opened, then the newest run."""
    names = _run_names()
    if query_run and query_run in names:
        return query_run
    try:
        last = _last_run_file().read_text().strip()
    except OSError:
        last = ""
    if last in names:
        return last
    if names:
        return max(names, key=lambda n: (paths.runs_dir() / n / "run.db").stat().st_mtime)
    return None


def _jobs(run: str | None) -> dict[str, dict]:
    if not run or not paths.valid_run_name(run):
        return {}
    try:
        return jobs.jobs(run)
    except (jobs.JobError, OSError):
        return {}


def _start(run: str, stage: str, args, env: dict | None = None) -> str:
    try:
        info = jobs.start(run, stage, args, env=env)
    except jobs.JobError as e:
        raise gr.Error(str(e)) from None
    gr.Info(f"started: {info['cmd']}")
    return views.job_line(jobs.job_state(run, stage), stage)


def _tail_of(job: dict | None, lines: int = 15) -> str:
    if not job:
        return ""
    return "\n".join((job.get("tail") or "").splitlines()[-lines:])


# ============================================================================================================
def build_app() -> gr.Blocks:
    task_names = list(_bundled_tasks())
    with gr.Blocks(title="synthrl workbench", analytics_enabled=False) as demo:
        fp_state = gr.State(None)  # the last data fingerprint this browser tab rendered
        with gr.Row(equal_height=True):
            gr.Markdown("## synthrl workbench\nTurn a task definition into a better model — no labelled data.",
                        elem_id="title")
            run_dd = gr.Dropdown(choices=_run_names(), value=None, label="Open run", elem_id="run-picker",
                                 interactive=True, scale=1)
            version_dd = gr.Dropdown(choices=[], value=None, label="Pass rates of (student version)",
                                     elem_id="version-picker", interactive=True, scale=1, allow_custom_value=True)
        summary_md = gr.Markdown(views.run_summary(None), elem_id="run-summary")
        timer = gr.Timer(POLL_SECONDS)

        with gr.Tabs(elem_id="tabs"):
            # ---------------------------------------------------------------- Task
            with gr.Tab("Task", id="task", elem_id="tab-task"):
                with gr.Row():
                    template_dd = gr.Dropdown(choices=task_names, value=None, label="Start from a bundled template",
                                              elem_id="template-picker")
                    new_run_tb = gr.Textbox(label="Run name", placeholder="e.g. addition-demo", elem_id="new-run-name")
                    save_task_btn = gr.Button("Save task to run", variant="primary", elem_id="save-task")
                with gr.Row():
                    with gr.Column(scale=1):
                        gr.Markdown("**Form** (edits update the YAML)")
                        f_name = gr.Textbox(label="name", elem_id="f-name")
                        f_version = gr.Textbox(label="version")
                        f_desc = gr.Textbox(label="description (type, domain, skill)", lines=3)
                        f_input = gr.Textbox(label="input_format", lines=2)
                        f_output = gr.Textbox(label="output_format (also fixes how answers are read)", lines=2)
                        with gr.Row():
                            f_atype = gr.Dropdown(["number", "math", "choice", "label", "yes_no", "text"],
                                                  value="number", label="answer.type")
                            f_aformat = gr.Dropdown(["", "plain", "####", "boxed", "tags"], value="",
                                                    label="answer.format (blank = default)")
                        with gr.Row():
                            f_choices = gr.Textbox(label="answer.choices (comma-separated)")
                            f_labels = gr.Textbox(label="answer.labels (comma-separated)")
                        with gr.Row():
                            f_domain = gr.Textbox(label="retrieval.domain")
                            f_keywords = gr.Textbox(label="retrieval.keywords (comma-separated)")
                        f_system = gr.Textbox(label="system_prompt (optional)", lines=2)
                    with gr.Column(scale=1):
                        yaml_code = gr.Code(value="", language="yaml", label="Task YAML (demos live here)",
                                            lines=24, interactive=True, elem_id="task-yaml")
                        validation_md = gr.Markdown(views.validate_task_text("")[1], elem_id="task-validation")
                with gr.Accordion("Try the answer checker", open=False, elem_id="checker"):
                    gr.Markdown("The same checker scores pass rates, RL rewards and evaluations.")
                    with gr.Row():
                        chk_completion = gr.Textbox(label="completion (a model's full reply)", lines=4,
                                                    elem_id="chk-completion")
                        chk_reference = gr.Textbox(label="reference answer", lines=4, elem_id="chk-reference")
                    chk_btn = gr.Button("Check", elem_id="chk-btn")
                    chk_md = gr.Markdown(elem_id="chk-result")
            form = [f_name, f_version, f_desc, f_input, f_output, f_atype, f_aformat, f_choices, f_labels, f_domain,
                    f_keywords, f_system]

            # ---------------------------------------------------------------- Knowledge
            with gr.Tab("Knowledge", id="knowledge", elem_id="tab-knowledge"):
                know_md = gr.Markdown(elem_id="knowledge-summary")
                with gr.Row():
                    upload = gr.File(label="Upload documents (.txt .md .pdf .html .docx .jsonl .csv)",
                                     file_count="multiple", type="filepath", elem_id="upload")
                    with gr.Column():
                        ingest_btn = gr.Button("Ingest uploaded documents", variant="primary", elem_id="ingest")
                        demo_corpus_btn = gr.Button("Add the demo corpus (shop ledger)", elem_id="ingest-demo")
                        ingest_job_md = gr.Markdown(elem_id="ingest-job")
                docs_df = gr.Dataframe(label="Documents", interactive=False, elem_id="docs-table", max_height=300)
                gr.Markdown("**Search the run's passages**")
                with gr.Row():
                    q_tb = gr.Textbox(label="query", scale=3, elem_id="search-query")
                    mode_radio = gr.Radio(["bm25", "dense", "hybrid"], value="bm25", label="mode")
                    k_slider = gr.Slider(1, 20, value=5, step=1, label="k")
                    search_btn = gr.Button("Search", elem_id="search-btn")
                passages_df = gr.Dataframe(label="Passages", interactive=False, elem_id="passages-table",
                                           wrap=True, max_height=400)

            # ---------------------------------------------------------------- Generate
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

            # ---------------------------------------------------------------- Review
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

            # ---------------------------------------------------------------- Difficulty
            with gr.Tab("Difficulty", id="difficulty", elem_id="tab-difficulty"):
                diff_md = gr.Markdown(elem_id="difficulty-summary")
                with gr.Row():
                    hist_plot = gr.Plot(label="Pass-rate histogram", elem_id="hist-plot")
                    ba_plot = gr.Plot(label="Before vs after adaptation", elem_id="before-after-plot")
                shift_plot = gr.Plot(label="Parent → child", elem_id="shift-plot")

            # ---------------------------------------------------------------- Map (the data at a glance)
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

            # ---------------------------------------------------------------- Select
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

            # ---------------------------------------------------------------- Train
            with gr.Tab("Train", id="train", elem_id="tab-train") as train_tab:
                with gr.Row():
                    tr_algo = gr.Radio(["grpo", "ppo"], value="grpo", label="algorithm", elem_id="tr-algo")
                    tr_profile = gr.Radio(["tiny", "paper"], value="tiny", label="settings profile",
                                          info="tiny: a few CPU steps; paper: lr 1e-6, 16 rollouts, T=1.2 …")
                    tr_steps = gr.Number(value=2, precision=0, minimum=0, label="max steps (0 = profile's)",
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

            # ---------------------------------------------------------------- Evaluate
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

            # ---------------------------------------------------------------- Runs
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

        # ====================================================================================== wiring
        filt = [r_round, r_origin, r_status, r_lo, r_hi, r_unmeasured, r_flagged, r_text, r_order, r_reason]
        sel_in = [s_rule, s_lo, s_hi, s_m]
        live_in = [run_dd, version_dd, *filt, *sel_in, sel_id, tr_runs]
        live_out = [summary_md, version_dd, r_round, know_md, docs_df, ingest_job_md, gen_progress, gen_job_md,
                    gen_samples_df, gen_log, review_cap, review_df, detail_md, diff_md, hist_plot, ba_plot, shift_plot,
                    sel_md, sel_plot, sels_df, tr_job_md, tr_md, tr_plot, rollouts_df, tr_log, ev_job_md, ev_md,
                    ev_df, ev_diff_df, runs_df, cmp_a, cmp_b]

        def live(run, version, rnd, origin, status, lo, hi, unmeasured, flagged, text, order, reason, rule, slo, shi,
                 m, sid, train_runs=None):
            return render_live(run, version, review_filter(rnd, origin, status, lo, hi, unmeasured, flagged, text,
                                                           order, reason),
                               rule, slo, shi, m, sid, train_runs)

        def tick(fp, *args):
            new = fingerprint(args[0])
            if new == fp:
                return [gr.skip()] * len(live_out) + [fp]
            return [*live(*args), new]

        timer.tick(tick, [fp_state, *live_in], [*live_out, fp_state], show_progress="hidden",
                   trigger_mode="once", queue=True)

        def open_run(run, *args):
            _remember(run)
            return [*live(run, None, *args[1:]), fingerprint(run)]

        run_dd.change(open_run, live_in, [*live_out, fp_state], show_progress="hidden").then(
            load_task_of_run, [run_dd], [yaml_code, validation_md, new_run_tb, *form])
        run_dd.change(None, [run_dd], None, js=_JS_SET_URL)

        def refresh(*args):
            return [*live(*args), fingerprint(args[0])]

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
        version_dd.input(refresh, live_in, [*live_out, fp_state], show_progress="hidden")
        for comp in sel_in:
            comp.change(select_preview, [run_dd, version_dd, *sel_in], [sel_md, sel_plot], show_progress="hidden",
                        trigger_mode="always_last")

        demo.load(on_load, None, [run_dd, template_dd]).then(
            refresh, live_in, [*live_out, fp_state]).then(
            initial_task, [run_dd, template_dd, yaml_code], [yaml_code, validation_md, new_run_tb, *form])

        # Task
        template_dd.input(load_template, [template_dd], [yaml_code, validation_md, *form])
        # always_last: while one keystroke's update is in flight, the newest value waits (none is lost)
        for c in form:
            c.input(form_changed, [*form, yaml_code], [yaml_code, validation_md], trigger_mode="always_last",
                    show_progress="hidden")
        yaml_code.input(yaml_changed, [yaml_code], [validation_md, *form], trigger_mode="always_last",
                        show_progress="hidden")
        save_task_btn.click(save_task, [new_run_tb, yaml_code], [run_dd, review_status])
        chk_btn.click(check_answer, [yaml_code, chk_completion, chk_reference], [chk_md])

        # Knowledge
        upload.upload(save_uploads, [run_dd, upload], [know_md])
        ingest_btn.click(start_ingest, [run_dd], [ingest_job_md])
        demo_corpus_btn.click(start_ingest_demo, [run_dd], [ingest_job_md])
        search_btn.click(search, [run_dd, q_tb, mode_radio, k_slider], [passages_df])
        q_tb.submit(search, [run_dd, q_tb, mode_radio, k_slider], [passages_df])

        # Generate
        teacher_radio.change(teacher_visibility, [teacher_radio], [bundled_note, t_url, t_model, t_key, t_folder])
        gen_btn.click(start_generate, [run_dd, teacher_radio, t_url, t_model, t_key, t_folder, n_num, votes_num,
                                       ttok_num], [gen_job_md])
        gen_stop_btn.click(lambda r: stop_job(r, "generate"), [run_dd], [gen_job_md])
        measure_btn.click(start_measure, [run_dd, rollouts_num, mtok_num], [gen_job_md])
        adapt_btn.click(start_adapt, [run_dd, teacher_radio, t_url, t_model, t_key, t_folder, votes_num,
                                      rollouts_num], [gen_job_md])
        stage_stop_btn.click(stop_stages, [run_dd], [gen_job_md])

        # Review
        def pick_row(run, version, evt: gr.SelectData):
            row = evt.row_value or []
            if not row:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return show_sample(run, version, int(row[0]))

        review_df.select(pick_row, [run_dd, version_dd], [sel_id, detail_md, edit_q, edit_a])
        sel_id.submit(lambda r, v, i: show_sample(r, v, i), [run_dd, version_dd, sel_id],
                      [sel_id, detail_md, edit_q, edit_a])
        save_edit_btn.click(save_edit, [run_dd, sel_id, edit_q, edit_a], [review_status]).then(
            refresh, live_in, [*live_out, fp_state])
        remeasure_btn.click(remeasure, [run_dd, sel_id, rollouts_num, mtok_num], [review_status])
        accept_btn.click(lambda r, i: set_status(r, i, "accepted"), [run_dd, sel_id], [review_status]).then(
            refresh, live_in, [*live_out, fp_state])
        reject_btn.click(lambda r, i: set_status(r, i, "rejected"), [run_dd, sel_id], [review_status]).then(
            refresh, live_in, [*live_out, fp_state])
        bulk_accept_btn.click(lambda *a: bulk_status(*a, status="accepted"), [run_dd, version_dd, *filt],
                              [review_status]).then(refresh, live_in, [*live_out, fp_state])
        bulk_reject_btn.click(lambda *a: bulk_status(*a, status="rejected"), [run_dd, version_dd, *filt],
                              [review_status]).then(refresh, live_in, [*live_out, fp_state])
        # Review: walk the queue (keys a / r / n / p), fix all, judge
        review_next_btn.click(lambda *a: step_queue(*a, step=1), [run_dd, version_dd, sel_id, *filt],
                              [sel_id, detail_md, edit_q, edit_a])
        review_prev_btn.click(lambda *a: step_queue(*a, step=-1), [run_dd, version_dd, sel_id, *filt],
                              [sel_id, detail_md, edit_q, edit_a])
        demo.load(None, None, None, js=_JS_REVIEW_KEYS)
        fx_in = [run_dd, version_dd, fx_find, fx_replace, fx_field, fx_regex, fx_case, *filt]
        fx_preview_btn.click(preview_fix, fx_in, [fx_cap, fx_df])
        fx_apply_btn.click(apply_fix_all, fx_in, [fx_cap, fx_df, fx_batches, fx_undo_id]).then(
            refresh, live_in, [*live_out, fp_state])
        fx_undo_btn.click(undo_fix_batch, [run_dd, fx_undo_id], [fx_cap, fx_batches]).then(
            refresh, live_in, [*live_out, fp_state])
        fix_acc.expand(fix_batches, [run_dd], [fx_batches])
        judge_btn.click(start_judge, [run_dd, teacher_radio, t_url, t_model, t_key, t_folder, jd_allow, jd_limit],
                        [jd_job_md])

        # Select
        save_sel_btn.click(save_selection, [run_dd, version_dd, *sel_in], [export_md]).then(
            refresh, live_in, [*live_out, fp_state])
        export_btn.click(export, [run_dd, exp_fmt], [export_md, export_file])

        # Train
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

        # Evaluate
        ev_both_btn.click(lambda *a: start_eval(*a, which=("base", "latest")), [run_dd, ev_bench, ev_limit],
                          [ev_job_md])
        ev_base_btn.click(lambda *a: start_eval(*a, which=("base",)), [run_dd, ev_bench, ev_limit], [ev_job_md])
        ev_trained_btn.click(lambda *a: start_eval(*a, which=("latest",)), [run_dd, ev_bench, ev_limit], [ev_job_md])
        ev_stop_btn.click(lambda r: stop_job(r, "eval"), [run_dd], [ev_job_md])

        # Cost and time before launching (the same estimate as `synthrl STAGE --dry-run`), and the last actual
        gen_est_in = [run_dd, teacher_radio, t_url, t_model, t_key, t_folder, n_num, votes_num, ttok_num, rollouts_num,
                      mtok_num, price_in, price_out]
        gen_tab.select(generate_estimates, gen_est_in, [gen_est_md])
        for comp in gen_est_in[1:]:
            comp.input(generate_estimates, gen_est_in, [gen_est_md], show_progress="hidden",
                       trigger_mode="always_last")
        tr_est_in = [*tr_in, price_in, price_out]
        train_tab.select(train_estimate, tr_est_in, [tr_est_md])
        for comp in (tr_algo, tr_profile, tr_steps, tr_lora):
            comp.input(train_estimate, tr_est_in, [tr_est_md], show_progress="hidden", trigger_mode="always_last")
        ev_est_in = [run_dd, ev_bench, ev_limit, price_in, price_out]
        for comp in (ev_bench, ev_limit):
            comp.input(eval_estimate, ev_est_in, [ev_est_md], show_progress="hidden", trigger_mode="always_last")
        ev_tab.select(eval_estimate, ev_est_in, [ev_est_md])

        # Map: renders from the store's cached projection; clicking a point opens the sample in Review
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

        imp_btn.click(import_pairs, [run_dd, imp_file], [imp_md])

        # Experiments and the demo
        xp_run_btn.click(start_experiment, [run_dd, xp_name, xp_variants, xp_seeds, xp_m, ev_bench], [xp_job_md])
        xp_show_btn.click(show_experiment, [run_dd, xp_name], [xp_name, xp_df, xp_plot, xp_diff_df])
        xp_report_btn.click(experiment_reports, [run_dd, xp_name], [xp_files])
        demo_btn.click(start_demo, None, [xp_job_md])

        # Runs
        def pick_run(evt: gr.SelectData):
            row = evt.row_value or []
            return gr.update(choices=_run_names(), value=row[0]) if row else gr.skip()

        runs_df.select(pick_run, None, [run_dd])
        cmp_btn.click(compare, [cmp_a, cmp_b], [cmp_df])
        del_btn.click(delete_run, [del_tb, run_dd], [del_md, run_dd, del_tb])
    return demo


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

_JS_SET_URL = """(run) => {
  const u = new URL(window.location.href);
  if (run) { u.searchParams.set('run', run); } else { u.searchParams.delete('run'); }
  window.history.replaceState(null, '', u.toString());
  return [];
}"""


# ============================================================================================================
# Handlers: each reads inputs, calls the library / CLI / a view, and says what went wrong and how to fix it.
def _bundled_tasks() -> dict[str, Path]:
    from synthrl.task import bundled_tasks

    return bundled_tasks()


def fingerprint(run: str | None):
    st = _store(run) if run else None
    if st is None:
        return ("none", run, tuple(_run_names()))
    js = tuple(sorted((k, v.get("running"), v.get("returncode"), len(v.get("tail") or "")) for k, v in _jobs(run).items()))
    return (run, st.data_version(), js, tuple(_run_names()))


def on_load(request: gr.Request):
    q = None
    try:
        q = dict(request.query_params).get("run") if request is not None else None
    except Exception:  # noqa: BLE001 - a missing request is not an error
        q = None
    run = _initial_run(q)
    tmpl = "demo_addition" if "demo_addition" in _bundled_tasks() else None
    return gr.update(choices=_run_names(), value=run), gr.update(value=tmpl)


def render_live(run, version, f: views.ReviewFilter, rule, slo, shi, m, sid, train_runs=None):
    """Every view that follows the store, in `live_out` order."""
    names = _run_names()
    runs = list_runs()
    all_jobs = {r["run"]: _jobs(r["run"]) for r in runs if "error" not in r}
    runs_tbl = views.runs_table(runs, all_jobs)
    cmp_choices = gr.update(choices=names)
    st = _store(run)
    if st is None:
        empty = views.pd.DataFrame()
        nf = views._empty_figure("Open or create a run first")
        msg = "Open a run (top of the page) or create one on the **Task** tab."
        return [views.run_summary(None), gr.update(choices=[], value=None), gr.update(choices=["all"], value="all"),
                msg, empty, "", "", "", empty, "", msg, empty, "Click a row to see the sample.", msg, nf, nf, nf,
                msg, nf, empty, "", msg, nf, empty, "", "", msg, empty, empty, runs_tbl, cmp_choices, cmp_choices]
    js = all_jobs.get(run) or _jobs(run)
    status = st.status()
    versions = views.student_versions(st)
    if version not in versions:
        version = versions[0] if versions else None
    rounds = ["all"] + [str(r[0]) for r in st.query("SELECT DISTINCT round FROM samples ORDER BY round")]
    rnd_val = f.round if f.round in rounds else "all"
    if rnd_val != f.round:
        f = views.ReviewFilter(rnd_val, f.origin, f.status, f.lo, f.hi, f.unmeasured, f.flagged_only, f.text, f.order,
                               f.reason)
    table, cap = views.review_table(st, f, version)
    detail = views.sample_detail(st, int(sid), version) if sid and st.sample(int(sid)) else \
        "Click a row to see the sample."
    chosen = views.preview_selection(st, rule, slo, shi, m, version)
    band = (slo, shi) if views.rule_uses_band(rule) else None
    gen_stage = next((s for s in ("generate", "verify", "adapt", "measure") if (js.get(s) or {}).get("running")), None)
    prog_stage = gen_stage or next((s for s in ("generate", "measure", "adapt") if st.progress(s)), "generate")
    gen_lines = [views.job_line(js.get(s), s) for s in ("generate", "measure", "adapt") if js.get(s)]
    ev_md, ev_diff = views.eval_comparison(st)
    return [
        views.run_summary(status, js),
        gr.update(choices=versions, value=version),
        gr.update(choices=rounds, value=rnd_val),
        views.knowledge_summary(st), views.documents_table(st), views.job_line(js.get("ingest"), "ingest"),
        views.progress_html(st, prog_stage), "\n\n".join(gen_lines) or "Nothing running.",
        views.recent_samples_table(st), views.events_text(st, limit=14),
        cap, table, detail,
        views.difficulty_summary(st, version), views.pass_rate_histogram(st, version, band),
        views.before_after_figure(st, version), views.shifts_figure(st, version),
        views.selection_summary(chosen, rule) if len(chosen) or versions else
        "**Nothing to select yet.** Measure pass rates first (Generate tab → *Measure pass rates*).",
        views.selection_figure(st, chosen, version, band), views.selections_table(st),
        views.job_line(js.get("train"), "train"), views.training_summary(st),
        views.training_figure(st, runs=train_runs or None),
        views.rollouts_table(st), views.readable_log(_tail_of(js.get("train"), 200)),
        views.job_line(js.get("eval"), "eval"), ev_md, views.evaluations_table(st), ev_diff,
        runs_tbl, cmp_choices, cmp_choices,
    ]


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


# -- task ----------------------------------------------------------------------------------------------------
def _form_values(*vals) -> dict:
    return dict(zip(views.TASK_FORM_FIELDS, vals))


def _form_updates(text: str) -> list:
    vals = views.task_to_form(text)
    if vals is None:
        return [gr.skip()] * len(views.TASK_FORM_FIELDS)
    return [vals[k] for k in views.TASK_FORM_FIELDS]


def load_template(name):
    tasks = _bundled_tasks()
    if not name or name not in tasks:
        return [gr.skip()] * (2 + len(views.TASK_FORM_FIELDS))
    text = tasks[name].read_text(encoding="utf-8")
    return [text, views.validate_task_text(text)[1], *_form_updates(text)]


def form_changed(*vals):
    *form_vals, current = vals
    text = views.form_to_yaml(_form_values(*form_vals), current or "")
    return text, views.validate_task_text(text)[1]


def yaml_changed(text):
    return [views.validate_task_text(text)[1], *_form_updates(text or "")]


def initial_task(run, template=None, current=None):
    """On page load: the open run's task, or (no task yet, empty editor) the preselected template."""
    return load_task_of_run(run, template, current)


def load_task_of_run(run, template=None, current=None):
    """The open run's task into the editor; with no task yet and a `template`, that template if the editor is empty."""
    st = _store(run)
    if st is None or st.get_config("task") is None:
        name_box = gr.update(value=run) if run else gr.skip()
        if template and not (current or "").strip() and template in _bundled_tasks():
            text = _bundled_tasks()[template].read_text(encoding="utf-8")
            return [text, views.validate_task_text(text)[1], name_box, *_form_updates(text)]
        return [gr.skip(), gr.skip(), name_box] + [gr.skip()] * len(views.TASK_FORM_FIELDS)
    try:
        text = st.load_task().to_yaml()
    except Exception as e:  # noqa: BLE001 - a broken snapshot is shown, not raised
        return [gr.skip(), f"The run's saved task cannot be read: {views._md_escape(e)}", run] + \
            [gr.skip()] * len(views.TASK_FORM_FIELDS)
    return [text, views.validate_task_text(text)[1], run, *_form_updates(text)]


def save_task(run_name, text):
    run_name = (run_name or "").strip()
    if not run_name:
        raise gr.Error("Type a run name (letters, digits, '_', '-', '.') next to *Save task to run*.")
    if not paths.valid_run_name(run_name):
        raise gr.Error(f"Invalid run name {run_name!r}: use letters, digits, '_', '-' or '.' (up to 100 characters).")
    task, verdict = views.validate_task_text(text)
    if task is None:
        raise gr.Error("The task has problems (listed under the YAML); fix them, then save.")
    st = _store(run_name, create=True)
    old = st.get_config("task")
    if old is not None and old != task.to_dict() and (st.scalar("SELECT count(*) FROM samples") or 0):
        gr.Warning(f"Run {run_name} already has samples made for the previous task; they are kept. "
                   "Start a new run if the task changed substantially.")
    st.save_task(task)
    st.log("task", f"task {task.name} v{task.version} saved from the app")
    _remember(run_name)
    gr.Info(f"Saved task {task.name} to run {run_name}.")
    return gr.update(choices=_run_names(), value=run_name), f"Task saved to run `{run_name}`."


def check_answer(text, completion, reference):
    task, _ = views.validate_task_text(text)
    return views.check_answer(task, completion, reference)


# -- knowledge ---------------------------------------------------------------------------------------------------
def save_uploads(run, files):
    st = _need_store(run)
    saved, problems = [], []
    for f in files or []:
        try:
            saved.append(save_upload(st.dir, f, upload_dir=gradio_upload_dir()).name)
        except (SecurityError, OSError) as e:
            problems.append(str(e))
    for p in problems:
        gr.Warning(p)
    msg = f"Copied {len(saved)} file(s) into the run's uploads folder: {', '.join(saved)}." if saved else ""
    if problems:
        msg += "\n\nRefused: " + "; ".join(views._md_escape(p) for p in problems)
    return msg + ("\n\nPress **Ingest uploaded documents** to index them." if saved else "")


def start_ingest(run):
    st = _need_store(run)
    up = st.dir / "uploads"
    if not up.is_dir() or not any(up.iterdir()):
        raise gr.Error("No uploaded documents yet: drop files on the upload box first (or add the demo corpus).")
    return _start(run, "ingest", ["ingest", run, str(up)])


def start_ingest_demo(run):
    _need_store(run)
    if not DEMO_CORPUS.is_dir():
        raise gr.Error(f"The demo corpus is missing at {DEMO_CORPUS}; reinstall synthrl from a source checkout.")
    return _start(run, "ingest", ["ingest", run, str(DEMO_CORPUS)])


def search(run, query, mode, k):
    st = _need_store(run)
    if not (query or "").strip():
        raise gr.Error("Type a search query first.")
    try:
        from synthrl.retrieval import get_retriever
    except ImportError:
        from synthrl.retrieval.index import get_retriever
    try:
        passages = get_retriever(st, mode=mode).retrieve(query, int(k))
    except Exception as e:  # noqa: BLE001 - retrieval errors are user-facing
        raise gr.Error(f"Search failed: {e}") from None
    if not passages:
        gr.Info("No passages matched; try other words or the dense/hybrid mode.")
    return views.passages_table(passages)


# -- generate ----------------------------------------------------------------------------------------------------
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
    if not (st.scalar("SELECT count(*) FROM samples") or 0):
        raise gr.Error("No samples to measure yet: generate some first.")
    return _start(run, "measure", ["measure", run, *_measure_args(rollouts, max_tokens)])


def start_adapt(run, choice, url, model, key_env, folder, votes, rollouts=None):
    st = _need_store(run)
    if not (st.scalar("SELECT count(*) FROM pass_rates") or 0):
        raise gr.Error("Adaptation rewrites samples by their pass rate: measure pass rates first.")
    args = ["adapt", run, "--rounds", "1", "--votes", str(int(votes or 1))]
    if rollouts and int(rollouts) > 0:
        args += ["--rollouts", str(int(rollouts))]
    return _start(run, "adapt", [*args, *teacher_args(choice, url, model, key_env, folder)])


def stop_job(run, stage):
    _need_store(run)
    try:
        ok = jobs.stop(run, stage, timeout=2.0)
    except jobs.JobError as e:
        raise gr.Error(str(e)) from None
    if not ok:
        gr.Info(f"{stage} is not running.")
    else:
        gr.Info(f"Asked {stage} to stop; what it finished is saved. Launch it again to resume.")
    return views.job_line(jobs.job_state(run, stage), stage)


def stop_stages(run):
    for s in ("measure", "adapt"):
        try:
            jobs.stop(run, s, timeout=1.0)
        except jobs.JobError:
            pass
    return "\n\n".join(views.job_line(jobs.job_state(run, s), s) for s in ("measure", "adapt"))


# -- review ------------------------------------------------------------------------------------------------------
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
    now = time.time()
    with st.tx() as c:
        old = {r[0]: r[1] for r in c.execute(
            f"SELECT id, status FROM samples WHERE id IN ({','.join('?' * len(ids))})", ids)}
        c.executemany("INSERT INTO revisions(sample_id, field, old, new, author, at) VALUES (?,?,?,?,?,?)",
                      [(i, "status", old[i], status, "ui", now) for i in ids if old.get(i) != status])
        c.executemany("UPDATE samples SET status=?, updated_at=? WHERE id=?", [(status, now, i) for i in ids])
    st.log("review", f"{len(ids)} samples {status} in bulk from the app")
    gr.Info(f"{len(ids)} samples {status}.")
    return f"{len(ids)} filtered samples {status}."


def review_filter(rnd=None, origin=None, status=None, lo=None, hi=None, unmeasured=None, flagged=None, text=None,
                  order=None, reason=None) -> views.ReviewFilter:
    """The Review tab's filter controls (in `filt` order) as a ReviewFilter; None takes the default."""
    return views.ReviewFilter(rnd or "all", origin or "all", status or "all", 0.0 if lo is None else lo,
                              1.0 if hi is None else hi, True if unmeasured is None else bool(unmeasured),
                              bool(flagged), text or "", order or "expert", reason or "all")


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
    if not (st.scalar("SELECT count(*) FROM samples") or 0):
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


# -- select / export -----------------------------------------------------------------------------------------------
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


# -- train / eval ----------------------------------------------------------------------------------------------------
def start_train(run, algo, profile, steps, lora, report_to=(), resume=False):
    st = _need_store(run)
    if st.latest_selection() is None:
        raise gr.Error("Nothing to train on: save a selection on the Select tab first.")
    args = ["train", run, "--algo", algo, "--profile", profile]
    if steps and int(steps) > 0:
        args += ["--max-steps", str(int(steps))]
    if lora:
        args.append("--lora")
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


def map_fingerprint(run):
    st = _store(run) if run else None
    if st is None:
        return ("none", run)
    job = _jobs(run).get("map") or {}
    return (run, st.scalar("SELECT count(*) || ':' || coalesce(sum(x), 0) FROM map_points"), job.get("running"),
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


def _estimate_line(st: RunStore, argv: list[str], price_in, price_out) -> str:
    """One stage's estimate for the command line the launch button would run (plus --dry-run), and the last
    launched estimate next to its actual."""
    from synthrl.cli import build_parser
    from synthrl.commands.costs import stage_estimate
    from synthrl.estimate import estimate_vs_actual

    if price_in:
        argv = [*argv, "--price-in", str(float(price_in))]
    if price_out:
        argv = [*argv, "--price-out", str(float(price_out))]
    stage = argv[0]
    try:
        est = stage_estimate(st, stage, build_parser().parse_args([*argv, "--dry-run"]))
    except (SystemExit, Exception) as e:  # noqa: BLE001 - an estimate is advice; say why there is none
        return f"**{stage}:** no estimate ({views._md_escape(e)})"
    basis = views._md_escape("; ".join(est.basis))
    line = f"**{stage}:** {views._md_escape(est.text().splitlines()[0])}  \n<small>{basis}</small>"
    actual = estimate_vs_actual(st, stage)
    return line + (f"  \n<small>{views._md_escape(actual)}</small>" if actual else "")


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


def train_estimate(run, algo, profile, steps, lora, report_to=(), price_in=None, price_out=None):
    st = _store(run)
    if st is None:
        return ""
    args = ["train", run, "--algo", algo, "--profile", profile]
    if steps and int(steps) > 0:
        args += ["--max-steps", str(int(steps))]
    if lora:
        args.append("--lora")
    return "**Before launching:** " + _estimate_line(st, args, price_in, price_out)


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
    if "latest" in which and not (st.scalar("SELECT max(step) FROM metrics WHERE key LIKE 'train/%'") or 0):
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


# -- import ----------------------------------------------------------------------------------------------------------
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


# -- experiments and the demo ---------------------------------------------------------------------------------------
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


# -- runs ------------------------------------------------------------------------------------------------------------
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


# ============================================================================================================
def launch(host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None, quiet: bool = False):
    """Build and serve the app (blocks until stopped)."""
    demo = build_app()
    demo.queue(default_concurrency_limit=8)
    print(f"synthrl app: http://{host}:{port}  (runs in {paths.runs_dir()})", file=sys.stderr, flush=True)
    demo.launch(server_name=host, server_port=port, auth=auth, share=False, inbrowser=False, quiet=quiet,
                show_error=True, css=CSS, head=HEAD, ssr_mode=False, footer_links=[], enable_monitoring=False)
