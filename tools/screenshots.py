"""Screenshots of the main screens, taken from the real app (for the README).

    .venv/bin/python tools/screenshots.py --run /tmp/demo-run    # a real run folder (the README's shots)
    .venv/bin/python tools/screenshots.py                         # a hand-made run (tests/populated_run.py)

With --run, the folder is copied (never changed) and shown as it is: the README's screenshots come
from a real `--profile demo` run, and assets/screenshots/SOURCE.md says which. Without it, a
hand-made run (no model ran) is used, for working on the layout only.
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
    import argparse
    import shutil

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=None, help="a real run folder to show (copied, not changed)")
    args = ap.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="synthrl-shots-"))
    os.environ["SYNTHRL_RUNS"] = str(runs)
    sys.path.insert(0, str(ROOT / "tests"))
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, App, choose, tab, wait_text

    from synthrl.store import RunStore

    real = args.run is not None
    if real:
        if not (args.run / "run.db").is_file():
            print(f"error: {args.run} is not a run folder (no run.db)", file=sys.stderr)
            return 2
        main_run = args.run.resolve().name
        # the data only: checkpoints are large and the pages read the store
        shutil.copytree(args.run, runs / main_run, ignore=shutil.ignore_patterns("checkpoints", "*.safetensors"))
        other = None
    else:
        from populated_run import populate_run

        main_run, other = "shop-addition", "shop-addition-v2"
        populate_run(RunStore.open(main_run), n=120, seed=3).close()
        populate_run(RunStore.open(other), n=60, seed=4, with_training=False).close()
    OUT.mkdir(parents=True, exist_ok=True)
    app = App(runs, runs / "app.log")
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = b.new_page(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
            pg.set_default_timeout(60_000)
            pg.goto(f"{app.url}?run={main_run}")
            wait_text(pg, "#run-summary", main_run)
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
            wait_text(pg, "#passages-table", "demo_addition/" if real else "shop_ledger")
            shot("knowledge")

            tab(pg, "Generate")
            shot("generate")

            tab(pg, "Review")
            if not real:
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
            if not real:
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
            wait_text(pg, "#runs-table", other or main_run)
            if other:
                choose(pg, "cmp-a", main_run)
                choose(pg, "cmp-b", other)
                pg.locator("#cmp-btn").click()
                wait_text(pg, "#cmp-table", "accuracy")
            shot("runs")
            b.close()
    finally:
        app.close()
    if real:
        store = RunStore(runs / main_run / "run.db")
        lines = ["# What the screenshots show\n",
                 f"Taken by `tools/screenshots.py --run` from a real run, `{main_run}` "
                 f"(`synthrl run --profile demo`, bundled models, {time.strftime('%Y-%m-%d')}); nothing hand-made.\n"]
        for ev in store.evaluations():
            who = "base student" if ev["model"] == "base" else f"trained student ({Path(str(ev['model'])).parent.name})"
            lines.append(f"- {who}: {ev['n_correct']}/{ev['n']} = {100 * ev['accuracy']:.1f}% on "
                         f"{Path(str(ev.get('benchmark') or 'the benchmark')).name}")
        (OUT / "SOURCE.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {OUT / 'SOURCE.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
