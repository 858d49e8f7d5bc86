"""Screenshots of the main screens, taken from the real app on a populated run (for the README).

    .venv/bin/python tools/screenshots.py         # writes assets/screenshots/*.png

The run is hand-made (tests/populated_run.py), so no model runs; the app, Gradio and Chromium are real.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "screenshots"


def main() -> int:
    runs = Path(tempfile.mkdtemp(prefix="synthrl-shots-"))
    os.environ["SYNTHRL_RUNS"] = str(runs)
    sys.path.insert(0, str(ROOT / "tests"))
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, App, choose, tab, wait_text

    from synthrl.store import RunStore
    from populated_run import populate_run

    populate_run(RunStore.open("shop-addition"), n=120, seed=3).close()
    populate_run(RunStore.open("shop-addition-v2"), n=60, seed=4, with_training=False).close()
    OUT.mkdir(parents=True, exist_ok=True)
    app = App(runs, runs / "app.log")
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = b.new_page(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
            pg.set_default_timeout(60_000)
            pg.goto(f"{app.url}?run=shop-addition")
            wait_text(pg, "#run-summary", "shop-addition")
            time.sleep(1.5)

            def shot(name: str):
                time.sleep(1.2)
                pg.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
                print(f"wrote {OUT / name}.png")

            tab(pg, "Task")
            wait_text(pg, "#task-validation", "valid")
            shot("task")

            tab(pg, "Knowledge")
            pg.locator("#search-query textarea").fill("apples sold")
            pg.locator("#search-btn").click()
            wait_text(pg, "#passages-table", "shop_ledger")
            shot("knowledge")

            tab(pg, "Generate")
            shot("generate")

            tab(pg, "Review")
            choose(pg, "f-origin", "harder")
            wait_text(pg, "#review-caption", "samples match")
            pg.locator("#review-table [data-testid=cell-0-6]").click()
            wait_text(pg, "#sample-detail", "Sample")
            shot("review")
            pg.locator("#sample-detail").scroll_into_view_if_needed()
            shot("review-detail")

            tab(pg, "Difficulty")
            pg.locator("#hist-plot .js-plotly-plot").wait_for()
            shot("difficulty")

            tab(pg, "Select")
            pg.locator("#selection-plot .js-plotly-plot").wait_for()
            pg.locator("#s-m input").fill("60")
            pg.locator("#s-m input").press("Enter")
            wait_text(pg, "#selection-summary", "60 samples")
            shot("select")

            tab(pg, "Train")
            pg.locator("#train-plot .js-plotly-plot").wait_for()
            shot("train")

            tab(pg, "Evaluate")
            wait_text(pg, "#eval-summary", "Difference")
            shot("evaluate")

            tab(pg, "Runs")
            wait_text(pg, "#runs-table", "shop-addition-v2")
            choose(pg, "cmp-a", "shop-addition")
            choose(pg, "cmp-b", "shop-addition-v2")
            pg.locator("#cmp-btn").click()
            wait_text(pg, "#cmp-table", "accuracy")
            shot("runs")
            b.close()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
