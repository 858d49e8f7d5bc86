"""The Task tab: a bundled template or your own task, edited as a form and as YAML, validated live, saved to a run.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

import gradio as gr

from synthrl import paths
from synthrl.scoring import answer_type_names

from .. import views
from ..common import _bundled_tasks, _remember, _run_names, _store
from .base import Ctx, Tab


def build(ctx: Ctx) -> Tab:
    task_names = list(_bundled_tasks())
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
                    f_atype = gr.Dropdown(list(answer_type_names()),
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

    def wire() -> None:
        run_dd, review_status = ctx.run_dd, ctx.review_status
        # the open run's task into the editor, when a run is opened and on page load
        ctx.opened.then(load_task_of_run, [run_dd], [yaml_code, validation_md, new_run_tb, *form])
        ctx.loaded.then(initial_task, [run_dd, template_dd, yaml_code],
                        [yaml_code, validation_md, new_run_tb, *form])
        template_dd.input(load_template, [template_dd], [yaml_code, validation_md, *form])
        # always_last: while one keystroke's update is in flight, the newest value waits (none is lost)
        for c in form:
            c.input(form_changed, [*form, yaml_code], [yaml_code, validation_md], trigger_mode="always_last",
                    show_progress="hidden")
        yaml_code.input(yaml_changed, [yaml_code], [validation_md, *form], trigger_mode="always_last",
                        show_progress="hidden")
        save_task_btn.click(save_task, [new_run_tb, yaml_code], [run_dd, review_status])
        chk_btn.click(check_answer, [yaml_code, chk_completion, chk_reference], [chk_md])

    def load() -> list:
        tmpl = "demo_addition" if "demo_addition" in _bundled_tasks() else None
        return [gr.update(value=tmpl)]

    return Tab(wire=wire, load_outputs=[template_dd], load=load)


# -- handlers -------------------------------------------------------------------------------------------------
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
    if old is not None and old != task.to_dict() and st.n_samples():
        gr.Warning(f"Run {run_name} already has samples made for the previous task; they are kept. "
                   "Start a new run if the task changed substantially.")
    st.save_task(task)
    st.log("task", f"task {task.name} v{task.version} saved from the app")
    note = ""
    if task.name == DEMO_TASK and st.get_config("run_config") is None and not st.n_samples():
        # the bundled demo task in a new run: the settings it was measured with (docs/results.md), as
        # `synthrl run --profile demo` records them; otherwise the stages would start from the paper profile,
        # whose free-form questions the bundled teacher cannot write
        from synthrl.config import RunConfig

        st.set_config("run_config", RunConfig.from_profile("demo").to_dict())
        note = (" It uses the **demo** settings: questions built from the task's examples and the passages' "
                "numbers, program-aided votes.")
    _remember(run_name)
    gr.Info(f"Saved task {task.name} to run {run_name}.")
    return gr.update(choices=_run_names(), value=run_name), f"Task saved to run `{run_name}`.{note}"


DEMO_TASK = "demo_addition"


def check_answer(text, completion, reference):
    task, _ = views.validate_task_text(text)
    return views.check_answer(task, completion, reference)
