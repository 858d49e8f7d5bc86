"""The real workbench in headless Chromium: the app runs as a subprocess on a free port, runs in a temp folder.

Default tests use a hand-made, fully populated run (no model is loaded by the app for them).
The one `slow` test walks the main path with the bundled model and the real CLI jobs.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (make browser installs it); browser tests skipped",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """`python app.py` on a free loopback port with its own runs folder."""

    def __init__(self, runs: Path, log: Path):
        self.runs, self.port = runs, _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, SYNTHRL_RUNS=str(runs), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
        env.pop("SYNTHRL_AUTH", None)
        self._log = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port)],
                                     cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + 150
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.close()
        raise RuntimeError(f"the app did not answer on {self.url} in time; see {log}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


@pytest.fixture(scope="module")
def showcase(tmp_path_factory):
    """A populated run 'showcase' (and an empty run 'empty') served by a fresh app."""
    runs = tmp_path_factory.mktemp("runs")
    old = os.environ.get("SYNTHRL_RUNS")
    os.environ["SYNTHRL_RUNS"] = str(runs)
    try:
        from synthrl.store import RunStore
        from populated_run import populate_run

        populate_run(RunStore.open("showcase"), n=40, seed=1).close()
        RunStore.open("empty").close()
    finally:
        if old is None:
            os.environ.pop("SYNTHRL_RUNS", None)
        else:
            os.environ["SYNTHRL_RUNS"] = old
    app = App(runs, runs.parent / "app.log")
    yield app
    app.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()


def open_run(page, app: App, run: str):
    page.goto(f"{app.url}?run={run}")
    page.wait_for_function(f"document.querySelector('#run-summary')?.innerText.includes('{run}')")


def text_of(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def wait_text(page, selector: str, needle: str, timeout: float = 30_000):
    page.wait_for_function(
        "([s, n]) => (document.querySelector(s)?.innerText || '').includes(n)", arg=[selector, needle],
        timeout=timeout)


def choose(page, elem_id: str, option: str):
    """Pick an option of a Gradio dropdown."""
    page.locator(f"#{elem_id} input").click()
    page.locator("ul[role=listbox] li", has_text=option).first.click()


def tab(page, name: str):
    page.get_by_role("tab", name=name).click()


# -- focused checks on a populated run --------------------------------------------------------------------
def test_page_loads_with_the_run_from_the_url(page, showcase):
    open_run(page, showcase, "showcase")
    summary = text_of(page, "#run-summary")
    assert "task demo_addition" in summary and "samples" in summary
    assert page.locator("#run-picker input").input_value() == "showcase"
    # reloading keeps the run open (it is in the URL, and remembered in the runs folder)
    page.reload()
    wait_text(page, "#run-summary", "showcase")


def test_task_template_validation_names_the_field(page, showcase):
    open_run(page, showcase, "empty")
    tab(page, "Task")
    # a run with no task starts from the demo template
    wait_text(page, "#task-validation", "demo_addition")
    choose(page, "template-picker", "gsm8k")
    wait_text(page, "#task-validation", "gsm8k")
    assert page.locator("#f-name input, #f-name textarea").first.input_value() == "gsm8k"
    # the form: an emptied required field is named, and the YAML follows the form
    name = page.locator("#f-name textarea")
    name.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("my gsm8k!")
    wait_text(page, "#task-validation", "got 'my gsm8k!'")
    assert "must be a plain name" in text_of(page, "#task-validation")
    wait_text(page, "#task-yaml", "name: my gsm8k!")
    page.keyboard.press("Control+A")
    page.keyboard.type("my_gsm8k")
    wait_text(page, "#task-validation", "my_gsm8k")
    # the YAML editor: a typo'd key is named with the reason
    page.locator("#task-yaml .cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nanswer_typ: number\n")
    wait_text(page, "#task-validation", "answer_typ")
    v = text_of(page, "#task-validation")
    assert "problem" in v and "unknown key" in v


def test_runs_list_shows_every_run(page, showcase):
    open_run(page, showcase, "showcase")
    tab(page, "Runs")
    wait_text(page, "#runs-table", "showcase")
    table = text_of(page, "#runs-table")
    assert "empty" in table and "demo_addition" in table


def test_review_filter_detail_and_edit_creates_a_revision(page, showcase):
    from synthrl.store import RunStore

    store = RunStore(showcase.runs / "showcase" / "run.db", create=False)
    n_dropped = store.scalar("SELECT count(*) FROM samples WHERE status='dropped'")
    total = store.scalar("SELECT count(*) FROM samples")
    open_run(page, showcase, "showcase")
    tab(page, "Review")
    wait_text(page, "#review-caption", f"of {total} samples")
    choose(page, "f-status", "dropped")
    wait_text(page, "#review-caption", f"{n_dropped} of {total} samples")
    first_id = int(page.locator("#review-table [data-testid=cell-0-0]").inner_text())
    assert store.sample(first_id).status == "dropped"

    page.locator("#review-table [data-testid=cell-0-6]").click()
    wait_text(page, "#sample-detail", f"Sample {first_id}")
    detail = text_of(page, "#sample-detail")
    assert "Teacher votes" in detail and "Student attempts" in detail
    q = page.locator("#edit-question textarea")
    assert q.input_value() == store.sample(first_id).question
    q.fill("A shop sold 12 pears in the morning and 30 in the afternoon. How many pears did it sell in total?")
    page.locator("#save-edit").click()
    wait_text(page, "#review-status", "Saved sample")
    revs = store.revisions(first_id)
    assert [r["field"] for r in revs] == ["question"] and revs[0]["author"] == "ui"
    assert store.sample(first_id).question.startswith("A shop sold 12 pears")
    wait_text(page, "#sample-detail", "Revisions (1)")
    store.close()


def test_histogram_is_drawn(page, showcase):
    open_run(page, showcase, "showcase")
    tab(page, "Difficulty")
    wait_text(page, "#difficulty-summary", "learnable")
    page.locator("#hist-plot .js-plotly-plot").wait_for()
    assert "Pass rate per sample" in text_of(page, "#hist-plot")
    assert page.locator("#hist-plot .bars path").count() > 0


def test_training_curves_from_stored_metrics(page, showcase):
    open_run(page, showcase, "showcase")
    tab(page, "Train")
    wait_text(page, "#train-summary", "step 10")
    page.locator("#train-plot .js-plotly-plot").wait_for()
    plot = text_of(page, "#train-plot")
    assert "train/reward" in plot and "train/kl" in plot
    wait_text(page, "#rollouts-table", "reward")


def test_pages_follow_the_store_without_reload(browser, page, showcase):
    """A job (here: this test) writes to the store; every open tab shows it on the next poll."""
    from synthrl.records import Sample
    from synthrl.store import RunStore

    open_run(page, showcase, "empty")
    second = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_run(second, showcase, "empty")
        tab(page, "Generate")
        tab(second, "Review")
        store = RunStore(showcase.runs / "empty" / "run.db", create=False)
        sid = store.add_sample(Sample(None, "A kiosk sold 12 maps and 13 pens. How many items in total?", "25", "25"))
        store.close()
        wait_text(page, "#gen-samples", "A kiosk sold 12 maps")
        wait_text(second, "#review-caption", "1 of 1 samples")
        wait_text(second, "#review-table", "A kiosk sold 12 maps")
        assert str(sid) in text_of(page, "#gen-samples")
        # a tab whose data changed while out of view shows it once selected (the poll renders only the tab in view)
        tab(page, "Review")
        wait_text(page, "#review-table", "A kiosk sold 12 maps")
        tab(second, "Generate")
        wait_text(second, "#gen-samples", "A kiosk sold 12 maps")
    finally:
        second.close()


def test_errors_say_what_to_do(page, showcase):
    open_run(page, showcase, "empty")
    tab(page, "Train")
    page.locator("#tr-start").click()
    page.get_by_text("save a selection on the Select tab first").first.wait_for()


def test_model_text_fetches_nothing_and_links_nothing(page, showcase):
    """A generated `![x](http://host/pixel.png)` must not make the reviewer's browser fetch anything."""
    from synthrl.records import Attempt, Sample
    from synthrl.store import RunStore

    hostile = ("Zq7 ![x](http://127.0.0.1:9/pixel.png) <img src=http://127.0.0.1:9/raw.png> "
               "[click](http://127.0.0.1:9/link) http://127.0.0.1:9/bare")
    store = RunStore(showcase.runs / "empty" / "run.db", create=False)
    sid = store.add_sample(Sample(None, hostile, hostile, "25", status="verified"))
    store.add_sample(Sample(None, "Zq7 child " + hostile, "25", "25", parent_id=sid, origin="harder"))
    store.add_attempts([Attempt(sid, "base", "greedy", hostile, "25", True)])
    store.close()
    outgoing = []
    page.on("request", lambda r: outgoing.append(r.url) if ":9/" in r.url else None)
    open_run(page, showcase, "empty")
    tab(page, "Generate")
    wait_text(page, "#gen-samples", "Zq7")
    tab(page, "Review")
    page.locator("#f-text textarea").fill("Zq7")
    page.locator("#f-text textarea").press("Enter")
    wait_text(page, "#review-caption", "2 of")
    wait_text(page, "#review-table", "Zq7")
    page.locator("#review-table [data-testid=cell-0-6]").click()
    wait_text(page, "#sample-detail", f"Sample {sid}")
    wait_text(page, "#sample-detail", "Student attempts")
    detail = page.locator("#sample-detail")
    # the model's characters are shown as written; nothing became an image or a link
    assert "![x](http://127.0.0.1:9/pixel.png)" in detail.inner_text()
    assert detail.locator("img").count() == 0 and detail.locator("a").count() == 0
    assert page.locator("#review-table img, #gen-samples img").count() == 0
    page.wait_for_timeout(1500)
    assert outgoing == []


# -- the main path, for real (slow) ----------------------------------------------------------------------
@pytest.mark.slow
def test_main_path_on_the_bundled_model(tmp_path, browser):
    """Task -> ingest -> generate -> edit + re-measure -> histogram -> select -> train 2 steps -> evaluate."""
    from synthrl.store import RunStore

    runs = tmp_path / "runs"
    runs.mkdir()
    app = App(runs, tmp_path / "app.log")
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    long = 900_000
    try:
        page.goto(app.url)
        wait_text(page, "#run-summary", "No run open")
        wait_text(page, "#task-validation", "demo_addition")  # the demo template is preloaded
        choose(page, "template-picker", "gsm8k")
        wait_text(page, "#task-validation", "gsm8k")
        choose(page, "template-picker", "demo_addition")
        wait_text(page, "#task-validation", "demo_addition")
        page.locator("#new-run-name textarea").fill("walk")
        page.locator("#save-task").click()
        wait_text(page, "#run-summary", "Run walk")

        tab(page, "Knowledge")
        page.locator("#ingest-demo").click()
        wait_text(page, "#ingest-job", "finished OK", long)
        wait_text(page, "#knowledge-summary", "documents ingested")

        tab(page, "Generate")
        assert "is a demo" in text_of(page, "#bundled-note")
        page.locator("#gen-n input").fill("2")
        page.locator("#gen-votes input").fill("1")
        page.locator("#teacher-max-tokens input").fill("96")
        page.locator("#measure-rollouts input").fill("4")
        page.locator("#measure-max-tokens input").fill("12")
        page.locator("#gen-start").click()
        wait_text(page, "#gen-job", "generate: finished OK", long)
        page.locator("#gen-samples [data-testid=cell-0-0]").wait_for()
        page.locator("#measure-all").click()
        wait_text(page, "#gen-job", "measure: finished OK", long)

        tab(page, "Review")
        page.locator("#review-table [data-testid=cell-0-6]").click()
        wait_text(page, "#sample-detail", "Sample")
        page.locator("#edit-question textarea").fill("A shop sold 20 apples in the morning and 22 in the afternoon. "
                                                     "How many apples did it sell in total?")
        page.locator("#edit-answer textarea").fill("42")
        page.locator("#save-edit").click()
        wait_text(page, "#review-status", "Saved sample")
        sid = int(page.locator("#sample-id input").input_value())
        store = RunStore(runs / "walk" / "run.db", create=False)
        edited_at = time.time()
        page.locator("#remeasure").click()
        deadline = time.time() + long / 1000
        while time.time() < deadline and not (store.scalar("SELECT max(at) FROM pass_rates WHERE sample_id=?",
                                                            (sid,)) or 0) > edited_at:
            time.sleep(1)
        assert store.revisions(sid) and store.sample(sid).question.startswith("A shop sold 20 apples")
        wait_text(page, "#sample-detail", "20 apples")
        page.wait_for_function("!(document.querySelector('#sample-detail')?.innerText || '').includes('not measured')")

        tab(page, "Difficulty")
        page.locator("#hist-plot .js-plotly-plot").wait_for()

        tab(page, "Select")
        page.locator("#save-selection").click()
        wait_text(page, "#export-status", "Saved selection")

        tab(page, "Train")
        page.locator("#tr-steps input").fill("2")
        page.locator("#tr-start").click()
        wait_text(page, "#train-job", "train: finished OK", long)
        wait_text(page, "#train-summary", "step")
        assert "train/" in text_of(page, "#train-plot")

        tab(page, "Evaluate")
        page.locator("#ev-limit input").fill("4")
        page.locator("#ev-both").click()
        wait_text(page, "#eval-job", "eval: finished OK", long)
        wait_text(page, "#eval-table", "base")
        wait_text(page, "#eval-table", "trained")
        wait_text(page, "#eval-summary", "Difference B − A")
    finally:
        ctx.close()
        app.close()
