"""The workbench's views are pure functions of the run store: checked here on hand-made runs, no browser."""
from __future__ import annotations

import pytest

from synthrl.records import Attempt, PassRate, Sample, Vote
from synthrl.task import bundled_tasks, load_task
from ui import views


@pytest.fixture
def task():
    return load_task(bundled_tasks()["demo_addition"])


def shown(md: str) -> str:
    """What a reader sees: the Markdown rendered, as text."""
    from bs4 import BeautifulSoup
    from markdown_it import MarkdownIt

    return BeautifulSoup(MarkdownIt("commonmark", {"html": True}).enable("table").render(md), "html.parser").get_text()


def _sample(store, q, ref="5", rnd=0, origin="generated", parent=None, status="verified", flags=()):
    return store.add_sample(Sample(None, q, ref, ref, round=rnd, origin=origin, parent_id=parent, status=status,
                                   flags=flags))


def _rate(store, sid, k, n=8, version="student@1"):
    store.set_pass_rate(PassRate(sid, version, n, k, k > n // 2))


# -- task ------------------------------------------------------------------------------------------
def test_invalid_task_yaml_names_field_and_reason():
    task, md = views.validate_task_text("name: x\ndescription: d\ninput_format: i\noutput_format: o\n"
                                        "answer: {type: bogus}\n")
    assert task is None
    assert "answer.type" in shown(md) and "<code>" in md and "must be one of" in md


def test_broken_yaml_reports_line():
    task, md = views.validate_task_text("name: [unclosed\n")
    assert task is None and "line" in md


def test_valid_template_round_trips_through_the_form():
    text = bundled_tasks()["demo_addition"].read_text()
    task, md = views.validate_task_text(text)
    assert task is not None and "valid" in md
    form = views.task_to_form(text)
    assert form["name"] == "demo_addition" and form["answer_type"] == "number"
    # editing a form field rewrites the YAML and keeps the demos the form has no field for
    form["description"] = "Add two numbers from a shop ledger."
    again, _ = views.validate_task_text(views.form_to_yaml(form, text))
    assert again.description == "Add two numbers from a shop ledger."
    assert again.demos == task.demos and again.retrieval == task.retrieval


def test_answer_checker_says_what_it_extracted(task):
    md = views.check_answer(task, "The answer is 64", "64")  # prose alone ("The total is 64") states no answer
    assert "extracted answer: 64" in shown(md) and "correct" in md and "wrong" not in md
    assert "wrong" in views.check_answer(task, "63", "64")
    assert "Fix the task" in views.check_answer(None, "1", "1")


# -- runs ------------------------------------------------------------------------------------------
def test_runs_table_and_next_step(store, task):
    from synthrl.store import list_runs

    runs = list_runs()
    df = views.runs_table(runs)
    assert list(df["run"]) == ["t"] and df["task"][0] == "(no task)"
    assert "Task" in views.run_summary(store.status())
    store.save_task(task)
    assert "Knowledge" in views.next_step(store.status())
    assert "No run open" in views.run_summary(None)


# -- review ----------------------------------------------------------------------------------------
def test_review_filter_by_round_status_rate_and_text(store):
    a = _sample(store, "What is 2+3?", "5")
    b = _sample(store, "What is 10+20?", "30", status="dropped")
    c = _sample(store, "What is 2+3+4?", "9", rnd=1, origin="harder", parent=a, flags=("suspect_label",))
    _sample(store, "unmeasured one", "1")
    _rate(store, a, 8)
    _rate(store, b, 2)
    _rate(store, c, 1)
    ids = lambda f: sorted(views.filter_samples(store, f)["id"])  # noqa: E731
    assert ids(views.ReviewFilter()) == [1, 2, 3, 4]
    assert ids(views.ReviewFilter(round="1")) == [c]
    assert ids(views.ReviewFilter(status="dropped")) == [b]
    assert ids(views.ReviewFilter(lo=0.1, hi=0.5, unmeasured=False)) == [b, c]
    assert ids(views.ReviewFilter(flagged_only=True)) == [c]
    assert ids(views.ReviewFilter(text="10+20")) == [b]
    table, cap = views.review_table(store, views.ReviewFilter(origin="harder"))
    assert list(table["id"]) == [c] and table["pass rate"][0].startswith("0.12")
    assert "1 of 4" in cap


def test_review_table_caps_rows_but_counts_all(store):
    for i in range(30):
        _sample(store, f"q{i}")
    table, cap = views.review_table(store, views.ReviewFilter(), limit=10)
    assert len(table) == 10 and "30 of 30" in cap and "first 10" in cap


def test_empty_review_says_what_to_do(store):
    table, cap = views.review_table(store, views.ReviewFilter())
    assert len(table) == 0 and "Generate" in cap


def test_sample_detail_shows_votes_lineage_attempts_and_revisions(store):
    parent = _sample(store, "What is 2+3?", "5")
    child = _sample(store, "What is 2+3+7?", "12", rnd=1, origin="harder", parent=parent)
    store.add_votes([Vote(parent, 0, "5", "5"), Vote(parent, 1, "6", "6"), Vote(parent, 2, "5", "5")])
    store.add_attempts([Attempt(parent, "student@1", "sample", "five is 5", "5", True, 0.7)])
    _rate(store, parent, 1, n=1)
    store.update_sample(parent, author="ui", question="What is 2 + 3?")
    md = views.sample_detail(store, parent)
    assert "What is 2 + 3?" in md
    assert "5 × 2" in shown(md) and "6 × 1" in shown(md)
    assert f"#{child}" in md and "harder" in md
    assert "1/1 correct" in md
    assert "Revisions (1)" in md and "by ui" in md
    assert "Parent:" in views.sample_detail(store, child)
    assert "does not exist" in views.sample_detail(store, 999)


def test_model_text_is_not_rendered_as_markup(store):
    sid = _sample(store, "<script>alert(1)</script> What is 1+1?", "2")
    store.add_votes([Vote(sid, 0, "x", "<img src=x onerror=alert(1)>")])
    md = views.sample_detail(store, sid)
    assert "<img" not in md and "&lt;img" in md


# -- difficulty and select -------------------------------------------------------------------------------
def test_histogram_and_shifts_from_pass_rates(store):
    import plotly.graph_objects as go

    a = _sample(store, "a")
    b = _sample(store, "b")
    h = _sample(store, "a harder", rnd=1, origin="harder", parent=a)
    e = _sample(store, "b easier", rnd=1, origin="easier", parent=b)
    _rate(store, a, 8)
    _rate(store, b, 0)
    _rate(store, h, 2)
    _rate(store, e, 6)
    fig = views.pass_rate_histogram(store)
    assert isinstance(fig, go.Figure)
    counts = {t.name: sum(t.y) for t in fig.data}
    assert counts == {"round 0 (2)": 2, "round 1 (2)": 2}
    # pass rates are k/L: one bar per value, so never-solved (0) and always-solved (1) stand apart
    assert list(fig.data[0].x) == [0.0, 0.25, 0.75, 1.0] and list(fig.data[0].y) == [1, 0, 0, 1]
    sh = views.parent_child_shifts(store).set_index("child")
    assert sh.loc[h, "parent_rate"] == 1.0 and sh.loc[h, "child_rate"] == 0.25
    assert sh.loc[e, "parent_rate"] == 0.0 and sh.loc[e, "child_rate"] == 0.75
    md = views.difficulty_summary(store)
    assert "| pool | 4 |" in md and "harder rewrites: 1" in md
    ba = views.before_after_figure(store)
    assert [sum(t.y) for t in ba.data] == [2, 4]


def test_difficulty_empty_state(store):
    _sample(store, "a")
    assert "No pass rates yet" in views.difficulty_summary(store)
    fig = views.pass_rate_histogram(store)
    assert "measure" in fig.layout.annotations[0].text.lower()


def test_selection_preview_matches_the_select_stage(store):
    from synthrl.stages.select import SelectConfig, select

    ks = [0, 1, 2, 4, 6, 8, 3]
    ids = [_sample(store, f"q{i}") for i in range(len(ks))]
    for sid, k in zip(ids, ks):
        _rate(store, sid, k)
    rejected = _sample(store, "rejected", status="rejected")
    _rate(store, rejected, 1)
    for rule, lo, hi, m in (("paper", 0, 1, 4), ("band", 0.2, 0.6, 10), ("easy", 0, 1, 3), ("all", 0, 1, 100)):
        preview = views.preview_selection(store, rule, lo, hi, m)
        sel = select(store, views.select_config(rule, lo, hi, m))
        stored = [s.id for s in store.selection_samples(sel)]
        assert list(preview["id"]) == stored, rule
        assert rejected not in stored
    paper = views.preview_selection(store, "paper", 0, 1, 3)
    assert list(paper["id"]) == [ids[1], ids[2], ids[6]]  # p = 1/8, 2/8, 3/8: hardest solvable first
    assert "3 samples" in views.selection_summary(paper, "paper")
    del SelectConfig


# -- training and evaluation ------------------------------------------------------------------------------------
def test_training_curves_from_metrics(store):
    assert "No training metrics" in views.training_figure(store).layout.annotations[0].text
    for step in (1, 2, 3):
        store.add_metrics(step, {"train/reward": step / 10, "train/kl": 0.01, "train/loss": 1 / step})
    store.add_rollouts(3, [("What is 2+3?", "5", 1.0)])
    fig = views.training_figure(store)
    # one panel per metric (train/reward first), one line per training run (test_training_runs.py)
    assert fig.layout.annotations[0].text == "train/reward"
    assert [list(t.y) for t in fig.data if t.xaxis == "x"] == [[0.1, 0.2, 0.3]]
    assert "step 3" in views.training_summary(store)
    assert views.rollouts_table(store)["reward"].tolist() == [1.0]


def test_eval_comparison_lists_items_that_differ(store):
    items = lambda oks: [{"question": f"q{i}", "reference": "1", "completion": "1", "extracted": "1",  # noqa: E731
                          "correct": ok} for i, ok in enumerate(oks)]
    md, diff = views.eval_comparison(store)
    assert "No evaluations" in md
    store.add_evaluation("base", "b.jsonl", items([True, False, False, True]), (0.1, 0.9))
    store.add_evaluation(str(store.dir / "checkpoints" / "final"), "b.jsonl", items([True, True, True, False]),
                         (0.3, 0.95))
    md, diff = views.eval_comparison(store)
    assert "50.0%" in md and "75.0%" in md and "+25.0%" in md and "trained: checkpoints/final" in md
    assert sorted(diff["#"]) == [1, 2, 3] and "fixes 2" in md and "breaks 1" in md
    assert list(views.evaluations_table(store)["model"]) == ["base", "trained: checkpoints/final"]
    # a later base evaluation of the first 2 items only (an experiment's --limit) is not B's baseline
    store.add_evaluation("base", "b.jsonl", items([False, False]), (0.0, 0.8))
    md, _ = views.eval_comparison(store)
    assert "50.0%" in md and "+25.0%" in md and "different item counts" not in md
    md, _ = views.eval_comparison(store, 3, 2)  # chosen by hand, it says so
    assert "different item counts: 2 and 4" in md


def test_compare_runs_side_by_side(runs_dir, task):
    from synthrl.store import RunStore

    a, b = RunStore.open("a"), RunStore.open("b")
    a.save_task(task)
    _sample(a, "q")
    b.add_evaluation("base", "x.jsonl", [{"correct": True}], (0.2, 1.0))
    df = views.compare_runs(a.status(), b.status(), a.evaluations(), b.evaluations())
    rows = df.set_index("")
    assert rows.loc["samples", "a"] == "1" and rows.loc["samples", "b"] == "0"
    assert rows.loc["accuracy: base on x.jsonl", "a"] == "—"
    assert rows.loc["accuracy: base on x.jsonl", "b"].startswith("100.0%")


def test_progress_and_job_lines(store):
    assert views.progress_fraction(store, "generate") == (0.0, "generate: not started")
    store.set_progress("generate", 3, 12, "running", "writing")
    frac, msg = views.progress_fraction(store, "generate")
    assert frac == 0.25 and "3/12" in msg
    assert "width:25.0%" in views.progress_html(store, "generate")
    assert "running" in views.job_line({"running": True, "pid": 1, "cmd": "synthrl x"}, "train")
    failed = views.job_line({"running": False, "returncode": 1, "tail": "boom\nerror: no selection yet\n",
                             "log": "l"}, "train")
    assert "failed" in failed and "no selection yet" in failed


# -- jobs: the CLI subprocesses the app starts, stops and polls ---------------------------------------------------
def test_job_runs_the_cli_and_logs_to_the_run(store):
    from ui import jobs

    info = jobs.start("t", "status", ["status", "t"])
    assert info["cmd"] == "synthrl status t"
    done = jobs.wait("t", "status", timeout=120)
    assert done["running"] is False and done["returncode"] == 0
    assert "run t" in done["tail"]
    assert "finished OK" in views.job_line(done, "status")
    # a second tab (or a restarted app) sees the same state from the job file
    jobs._PROCS.clear()
    assert jobs.jobs("t")["status"]["returncode"] == 0


def test_failed_job_shows_the_reason(store):
    from ui import jobs

    jobs.start("t", "select", ["select", "t"])
    done = jobs.wait("t", "select", timeout=120)
    assert done["returncode"] == 1
    line = views.job_line(done, "select")
    assert "failed" in line and "measure" in line  # "no measured pass rates yet: run `synthrl measure t` first"


def test_stop_terminates_a_running_job(store):
    import socket

    from ui import jobs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    jobs.start("t", "app", ["app", "--port", str(port)])
    with pytest.raises(jobs.JobError, match="already running"):
        jobs.start("t", "app", ["app", "--port", str(port)])
    assert jobs.running("t") == ["app"]
    assert jobs.stop("t", "app", timeout=30)
    st = jobs.job_state("t", "app")
    assert st["running"] is False and st["returncode"] != 0
    assert "stopped" in views.job_line(st, "app")
