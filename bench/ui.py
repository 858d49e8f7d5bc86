"""How fast the workbench is on a big run (20k samples, 1.3M attempts): view functions, then the real page in Chromium.

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


def glance_figures(store) -> None:
    """The expert's-hour views (#15) beside today's: the map, coverage, the Difficulty tab, per-run training."""
    import numpy as np

    from synthrl import atlas
    from ui import views

    # the map renders from cached vectors: stand-in unit vectors here (embedding 20k texts with MiniLM on
    # 2 CPU cores takes minutes and is what `synthrl map` does once, not what a render does)
    rng = np.random.default_rng(0)
    texts = [r[0] for r in store.query("SELECT DISTINCT question FROM samples")] + \
        [r[0] for r in store.query("SELECT DISTINCT text FROM chunks")]
    centres = rng.normal(size=(40, 384)).astype(np.float32)

    def embed(batch):
        v = centres[rng.integers(0, 40, len(batch))] + 0.3 * rng.normal(size=(len(batch), 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    t = time.perf_counter()
    atlas.ensure_embeddings(store, texts, embed=embed)
    te = time.perf_counter() - t
    t = time.perf_counter()
    rep = atlas.update_map(store)
    print(f"map: cache {len(texts)} stand-in vectors {te:.1f}s; update_map (project + near-duplicates, from "
          f"cache) {time.perf_counter() - t:.1f}s; {rep.duplicate_samples} samples in {rep.duplicate_groups} clusters")
    tm, _ = timed(lambda: views.map_view(store, "pass rate"))
    print(f"map figure (pass rate, from the stored projection): {tm * 1000:6.1f} ms")
    tm2, _ = timed(lambda: views.map_view(store, "origin"))
    print(f"map figure (origin):                            {tm2 * 1000:8.1f} ms")
    tc, _ = timed(lambda: views.coverage_view(store))
    print(f"coverage figures:                               {tc * 1000:8.1f} ms")

    def difficulty_tab():
        return (views.difficulty_summary(store), views.pass_rate_histogram(store), views.before_after_figure(store),
                views.shifts_figure(store))

    td, _ = timed(difficulty_tab)
    print(f"Difficulty tab (summary + 3 figures):           {td * 1000:8.1f} ms")
    tt, _ = timed(lambda: (views.training_summary(store), views.training_figure(store), views.rollouts_table(store)))
    print(f"Train tab (header, per-run curves, completions): {tt * 1000:7.1f} ms")


def _review_table_before_15(store, f, limit: int = 500):
    """The Review table as it was before the queue (#15): filter, id order, 8 columns; the baseline."""
    from ui import views

    df = views.filter_samples(store, f)
    shown = df.head(limit).reset_index(drop=True)
    return views.pd.DataFrame({
        "id": shown["id"].astype(int), "round": shown["round"].astype(int), "origin": shown["origin"],
        "status": shown["status"],
        "pass rate": ["" if views.pd.isna(p) else f"{p:.2f} ({int(k)}/{int(n)})"
                      for p, k, n in zip(shown["pass_rate"], shown["n_correct"], shown["n"])],
        "flags": shown["flags"].fillna(""), "question": [views._clip(q, 140) for q in shown["question"]],
        "reference": shown["reference"].fillna("").map(lambda x: views._clip(x, 40))})


def review_queue_figures(store) -> None:
    """#15 section 1-2: the "needs an expert" queue beside today's Review view, its warm-up, and fix-all."""
    from synthrl import triage
    from synthrl.fix import FixSpec, apply_fix, plan_fix, undo_fix
    from synthrl.review import edit_sample
    from ui import views

    version = views.student_versions(store)[0]
    for cache in (triage._STATS, triage._DUPS, triage._SIGS):
        cache.clear()
    t = time.perf_counter()
    triage.answer_stats(store, version)
    t1 = time.perf_counter() - t
    t = time.perf_counter()
    groups = triage.duplicate_groups(store)
    t2 = time.perf_counter() - t
    print(f"queue warm-up, once per app process: majority answers (SQL GROUP BY) {t1 * 1000:.0f} ms; "
          f"near-duplicates (MinHash) {t2 * 1000:.0f} ms ({len(groups)} samples in groups)")
    f = views.ReviewFilter()
    tb, _ = timed(lambda: _review_table_before_15(store, views.ReviewFilter(order="id")))
    print(f"Review table before #15 (id order, 500 rows):   {tb * 1000:8.1f} ms")
    tq, (table, cap) = timed(lambda: views.review_table(store, f))
    print(f"Review queue (needs an expert, reasons, 500 rows): {tq * 1000:6.1f} ms  "
          f"({cap.split('**')[3] if cap.count('**') >= 4 else ''})")
    ti, _ = timed(lambda: views.review_table(store, views.ReviewFilter(order="id")))
    print(f"Review table, id order with reasons:            {ti * 1000:8.1f} ms")
    ids = [int(i) for i in table["id"][:5]]
    times = []
    for sid in ids:
        edit_sample(store, sid, status="accepted", author="bench")
        t = time.perf_counter()
        views.review_table(store, f)
        times.append(time.perf_counter() - t)
    print(f"Review queue right after an accept (new data version, incremental): "
          f"{statistics.median(times) * 1000:6.1f} ms (median of {len(times)})")
    tn, _ = timed(lambda: views.next_in_queue(store, f, ids[-1]))
    print(f"Next in queue:                                  {tn * 1000:8.1f} ms")
    spec = FixSpec("A bakery sold", "A patisserie sold")
    t = time.perf_counter()
    changes = plan_fix(store, spec)
    print(f"fix-all preview over every sample:              {(time.perf_counter() - t) * 1000:8.1f} ms "
          f"({len(changes)} changes)")
    few = [c.sample_id for c in changes[:200]]
    t = time.perf_counter()
    batch = apply_fix(store, spec, few, author="bench")
    ta = time.perf_counter() - t
    t = time.perf_counter()
    undo_fix(store, batch.id, author="bench")
    print(f"fix-all apply {len(batch.changed)} samples: {ta * 1000:.0f} ms; undo: "
          f"{(time.perf_counter() - t) * 1000:.0f} ms (each a revision + dropped measurements)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--rollouts", type=int, default=65,
                    help="student attempts per sample (65 x 20,000 = the 1.3M attempts of issue #15)")
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()

    runs = Path(tempfile.mkdtemp(prefix="synthrl-bench-ui-"))
    os.environ["SYNTHRL_RUNS"] = str(runs)
    from synthrl.store import RunStore
    from ui import views

    sys.path.insert(0, str(ROOT / "tests"))
    from populated_run import populate_run

    n0 = max(1, round(args.samples / 1.5))
    t = time.perf_counter()
    store = populate_run(RunStore.open("big"), n=n0, seed=0, rollouts=args.rollouts)
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
    glance_figures(store)
    review_queue_figures(store)
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
