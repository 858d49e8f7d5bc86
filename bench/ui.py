"""How fast the workbench is on a big run (10k samples): view functions, then the real page in Chromium.

    .venv/bin/python bench/ui.py            # prints figures; no assertions
    .venv/bin/python bench/ui.py --no-browser

Baseline in the same run: the same Review filter done the obvious way (store.samples() +
store.pass_rates() + a Python loop), against the view's one-query pandas version.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    """Median wall time of `fn` with the views' frame cache cleared each time (the cold cost)."""
    from ui import views

    times, out = [], None
    for _ in range(repeat):
        views.clear_cache()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def naive_filter(store, status: str, lo: float, hi: float) -> list[int]:
    rates = store.pass_rates()
    out = []
    for s in store.samples():
        pr = rates.get(s.id)
        if s.status == status and pr is not None and lo <= pr.rate <= hi:
            out.append(s.id)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()

    runs = Path(tempfile.mkdtemp(prefix="synthrl-bench-ui-"))
    os.environ["SYNTHRL_RUNS"] = str(runs)
    from synthrl.store import RunStore
    from ui import views
    from ui.fixtures import populate_run

    n0 = max(1, round(args.samples / 1.5))
    t = time.perf_counter()
    store = populate_run(RunStore.open("big"), n=n0, seed=0, rollouts=4)
    total = store.scalar("SELECT count(*) FROM samples")
    print(f"populated {total} samples ({store.scalar('SELECT count(*) FROM attempts')} attempts) "
          f"in {time.perf_counter() - t:.1f}s")

    f = views.ReviewFilter(status="verified", lo=0.2, hi=0.8, unmeasured=False)
    tb, ids_naive = timed(lambda: naive_filter(store, "verified", 0.2, 0.8))
    tv, df = timed(lambda: views.filter_samples(store, f))
    assert sorted(ids_naive) == sorted(df["id"].tolist())
    print(f"review filter, baseline (store.samples + loop): {tb * 1000:8.1f} ms  ({len(ids_naive)} rows)")
    print(f"review filter, views.filter_samples:            {tv * 1000:8.1f} ms  ({tb / tv:.1f}x)")
    tt, _ = timed(lambda: views.review_table(store, f))
    print(f"review table incl. formatting (500 rows shown): {tt * 1000:8.1f} ms")
    sid = int(df["id"].iloc[0])
    td, _ = timed(lambda: views.sample_detail(store, sid))
    print(f"sample detail:                                  {td * 1000:8.1f} ms")
    th, _ = timed(lambda: views.pass_rate_histogram(store))
    print(f"pass-rate histogram figure:                     {th * 1000:8.1f} ms")
    ts, _ = timed(lambda: views.shifts_figure(store))
    print(f"parent -> child figure:                         {ts * 1000:8.1f} ms")
    tp, _ = timed(lambda: views.preview_selection(store, "paper", 0.1, 0.9, 500))
    print(f"selection preview (paper, M=500):               {tp * 1000:8.1f} ms")
    tf, _ = timed(lambda: store.data_version(), repeat=50)
    print(f"store.data_version() (each poll tick):          {tf * 1000:8.2f} ms")
    store.close()

    if args.no_browser or not os.path.exists("/usr/bin/chromium"):
        print("browser: skipped" + ("" if args.no_browser else " (/usr/bin/chromium missing)"))
        return 0
    sys.path.insert(0, str(ROOT / "tests"))
    from test_browser import CHROMIUM, CHROMIUM_ARGS, App, choose, tab, wait_text  # noqa: E402
    from playwright.sync_api import sync_playwright

    app = App(runs, runs / "app.log")
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = b.new_page(viewport={"width": 1400, "height": 1000})
            pg.set_default_timeout(120_000)
            loads = []
            for _ in range(3):
                t = time.perf_counter()
                pg.goto(f"{app.url}?run=big")
                wait_text(pg, "#run-summary", "Run big")
                loads.append(time.perf_counter() - t)
            print(f"browser: page load until the run is shown:     {statistics.median(loads) * 1000:8.0f} ms "
                  f"(median of 3; first {loads[0] * 1000:.0f} ms)")
            tab(pg, "Review")
            wait_text(pg, "#review-caption", f"of {total} samples")
            t = time.perf_counter()
            choose(pg, "f-status", "dropped")
            n_dropped = len(views.filter_samples(RunStore.open("big"), views.ReviewFilter(status="dropped")))
            wait_text(pg, "#review-caption", f"{n_dropped} of {total} samples")
            print(f"browser: Review filter round trip:              {(time.perf_counter() - t) * 1000:8.0f} ms")
            t = time.perf_counter()
            tab(pg, "Difficulty")
            pg.locator("#hist-plot .js-plotly-plot .bars path").first.wait_for()
            print(f"browser: Difficulty tab until bars drawn:       {(time.perf_counter() - t) * 1000:8.0f} ms")
            b.close()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
