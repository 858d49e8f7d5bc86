"""The Review tab in headless Chromium: the "needs an expert" queue order with keyboard review, and
fix-all with its preview and undo (helpers and the app fixture from test_browser.py)."""
from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
from test_browser import (  # noqa: E402,F401  (fixtures are used by name)
    App, browser, open_run, page, showcase, tab, text_of, wait_text)

pytestmark = pytest.mark.browser


def _store(app: App):
    from synthrl.store import RunStore

    return RunStore(app.runs / "showcase" / "run.db", create=False)


def test_queue_order_reasons_and_keyboard_review(page, showcase):
    from ui import views

    store = _store(showcase)
    expected, _ = views.review_table(store, views.ReviewFilter())
    first, second = int(expected["id"][0]), int(expected["id"][1])
    assert expected["needs an expert because"][0].startswith("likely wrong label")
    open_run(page, showcase, "showcase")
    tab(page, "Review")
    wait_text(page, "#review-caption", "open samples need an expert", timeout=90_000)  # first render warms the queue
    assert int(page.locator("#review-table [data-testid=cell-0-0]").inner_text()) == first
    assert "likely wrong label" in page.locator("#review-table [data-testid=cell-0-9]").inner_text()
    page.locator("#review-table [data-testid=cell-0-6]").click()
    wait_text(page, "#sample-detail", f"Sample {first} ·")
    assert "Needs an expert because" in text_of(page, "#sample-detail")
    # keyboard: n = next in the queue, a = accept (focus off the text boxes)
    page.locator("#review-caption").click()
    page.keyboard.press("n")
    wait_text(page, "#sample-detail", f"Sample {second} ·")
    caption = text_of(page, "#review-caption")
    page.keyboard.press("a")
    wait_text(page, "#review-status", f"Sample {second} accepted")
    assert store.sample(second).status == "accepted"
    # the page re-renders after a decision (one open sample fewer); the reviewer reads on after that
    page.wait_for_function("c => (document.querySelector('#review-caption')?.innerText || '') !== c", arg=caption,
                           timeout=60_000)
    wait_text(page, "#sample-detail", f"Sample {second} ·")
    # the decided sample left the open queue: Next goes back to the first sample still open
    page.keyboard.press("n")
    wait_text(page, "#sample-detail", f"Sample {first} ·")
    store.close()


def test_fix_all_preview_apply_and_undo(page, showcase):
    store = _store(showcase)
    targets = [r[0] for r in store.query("SELECT id FROM samples WHERE question LIKE '%A bakery sold%'")]
    assert targets
    open_run(page, showcase, "showcase")
    tab(page, "Review")
    wait_text(page, "#review-caption", "samples match")
    page.locator("#fix-panel").get_by_text("Fix once, apply to all").click()
    page.locator("#fix-find textarea, #fix-find input").first.fill("A bakery sold")
    page.locator("#fix-replace textarea, #fix-replace input").first.fill("A patisserie sold")
    page.locator("#fix-preview").click()
    wait_text(page, "#fix-caption", f"{len(targets)} of the")
    wait_text(page, "#fix-table", "A patisserie sold")
    assert store.sample(targets[0]).question.startswith("A bakery sold")   # a preview changes nothing
    page.locator("#fix-apply").click()
    wait_text(page, "#fix-caption", f"applied to {len(targets)} samples")
    assert all(store.sample(i).question.startswith("A patisserie sold") for i in targets)
    assert store.revisions(targets[0])[-1]["author"].startswith("ui (fix #")
    wait_text(page, "#fix-batches", "A patisserie sold")
    page.locator("#fix-undo").click()
    wait_text(page, "#fix-caption", f"{len(targets)} samples restored")
    assert all(store.sample(i).question.startswith("A bakery sold") for i in targets)
    store.close()
