"""How fast the workbench is on a big run (20k samples, 1.3M attempts): view functions, then the real page in Chromium.

    .venv/bin/python bench/ui.py            # prints figures; no assertions
    .venv/bin/python bench/ui.py --no-browser

Baselines in the same run: the same Review filter done the obvious way (store.samples() +
store.pass_rates() + a Python loop), against the view's one-query pandas version; and every view
timed with the code of --baseline REV (default: the commit before the scale work of #15), extracted
with `git archive` and run in a subprocess on the same store, so "before -> now" is measured on the
same machine under the same load (--no-baseline skips it; then the figures measured on a quiet machine
before the change are printed instead).

A render is the view function and Gradio's serialisation of what it returns (a figure's JSON, a table's
payload): what the server does before the page gets it. Each view is timed in several states (medians of 5):
a new app process (nothing kept in memory; what the run keeps on disk read back), the first time any process
shows the run (also no frame snapshot), and in a running app right after each kind of write (an accept, a new
pass rate, a question edit). The browser part times the real page in Chromium (software rendering here).

What is kept where:
- store (run.db): attempt_summary, per (sample, student version) the attempts' count, the majority
  answer and its count, kept current by every write of attempts; near_duplicates, the review queue's
  near-duplicate groups with the fingerprint of the questions they came from, and near_duplicate_work (the
  questions' MinHash signatures and pair verdicts: a checkpoint an edit starts from); map_points, the map's 2-D
  projection (`synthrl map` / Update map computes it); sample_changes, which samples changed in commit order.
- beside the run (cache/*.arrow, synthrl/snapshots.py): the sample frame every tab starts from, as of one
  change, and the majority answers, as of one attempts epoch; a process starts from them and reads only what
  changed since. A CLI command that wrote to a big run leaves them up to date; the app makes them at start-up.
- process: the frame, patched from the change log after each write; the queue per data version; the
  majority-answer frame (only the summary rows written since are read when the attempts epoch moves); the
  near-duplicate signatures and pair verdicts (after an edit only the edited questions' pairs are checked);
  the map's stored projection until its map_version changes; per question, its hash and hover text.
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the baseline worker runs this file with an older synthrl + ui (git archive) first on the path
CODE = Path(os.environ.get("SYNTHRL_BENCH_CODE") or ROOT)
sys.path.insert(0, str(CODE))
BASELINE_REV = "a42f6b0"  # the commit before the scale work (#15)
# measured with the code of BASELINE_REV on a quiet machine (2 cores; the map: 601-806 ms over the colourings), for
# when no baseline runs
BEFORE_QUIET_MS = {"Review table before #15 (id order, 500 rows)": 360, "Review queue (needs an expert, 500 rows)": 458,
                   "Next in queue": 422, "map figure (pass rate)": 806, "map figure (origin)": 601,
                   "Difficulty tab (summary + 3 figures)": 709, "pass-rate histogram figure": 507,
                   "selection preview (paper, M=500)": 527, "sample detail": 333,
                   "queue warm-up: majority answers": 1900, "queue warm-up: near-duplicates": 1000}
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def served(out) -> None:
    """What Gradio does with a view's outputs before they leave the server (part of every render): a figure
    becomes its JSON (gr.Plot), a table its payload (gr.Dataframe); Markdown is sent as it is."""
    import pandas as pd

    global _PLOT, _TABLE
    if _PLOT is None:
        import gradio as gr

        _PLOT, _TABLE = gr.Plot(), gr.Dataframe()
    for o in (out if isinstance(out, (tuple, list)) else (out,)):
        if hasattr(o, "to_plotly_json"):
            _PLOT.postprocess(o)
        elif isinstance(o, pd.DataFrame):
            _TABLE.postprocess(o)
        elif isinstance(o, (tuple, list)):
            served(o)


_PLOT = _TABLE = None


def drop_snapshots(store) -> None:
    """Remove what views keep beside the run (the sample frame's snapshot), as on a run never shown before."""
    for f in (Path(store.path).parent / "cache").glob("*.arrow"):
        f.unlink()


def forget_process() -> None:
    """Clear everything the views, the queue and the map keep in this process, as a new app process starts:
    what is read back from the store (attempt summary, near-duplicate groups, map projection, the frame
    snapshot) then is, and what is remembered per text (hashes, hover texts) is made again."""
    from synthrl import atlas, triage
    from ui import views

    views.clear_cache()
    for module, names in ((triage, ("_STATS", "_STATS_SNAPSHOT", "_DUPS", "_SIGS")),
                          (atlas, ("_HASHES", "_PROJECTIONS", "_CLIPS"))):
        for name in names:
            getattr(module, name, {}).clear()  # the baseline's code may lack some


def timed(fn, repeat: int = 5, before=None, serve: bool = True) -> tuple[float, object]:
    """Median wall time of rendering `fn` (the view and Gradio's serialisation of what it returns) in a state
    like a new app process's (forget_process); `before()` runs untimed first."""
    times, out = [], None
    for _ in range(repeat):
        forget_process()
        if before is not None:
            before()
        t = time.perf_counter()
        out = fn()
        if serve:
            served(out)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def timed_after(fn, write, repeat: int = 5) -> float:
    """Median wall time of rendering `fn` right after `write()` (caches kept, as in a running app)."""
    fn()
    times = []
    for _ in range(repeat):
        write()
        t = time.perf_counter()
        served(fn())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def view_cases(store) -> dict:
    """The renders compared before -> now: name -> a function of no arguments. Only calls both the baseline
    code and today's have (the worker runs this with the baseline's synthrl and ui)."""
    from ui import views

    f = views.ReviewFilter()
    ids = [int(i) for i in views.review_table(store, f)[0]["id"][:5]]
    sid = int(views.filter_samples(store, views.ReviewFilter(status="verified", lo=0.2, hi=0.8,
                                                             unmeasured=False))["id"].iloc[0])
    return {
        "Review table before #15 (id order, 500 rows)":
            lambda: _review_table_before_15(store, views.ReviewFilter(order="id")),
        "Review queue (needs an expert, 500 rows)": lambda: views.review_table(store, f),
        "Review table, id order with reasons": lambda: views.review_table(store, views.ReviewFilter(order="id")),
        "Next in queue": lambda: views.next_in_queue(store, f, ids[-1]),
        "sample detail": lambda: views.sample_detail(store, sid),
        "map figure (pass rate)": lambda: views.map_view(store, "pass rate"),
        "map figure (origin)": lambda: views.map_view(store, "origin"),
        "coverage figures": lambda: views.coverage_view(store),
        "Difficulty tab (summary + 3 figures)": lambda: (
            views.difficulty_summary(store), views.pass_rate_histogram(store), views.before_after_figure(store),
            views.shifts_figure(store)),
        "pass-rate histogram figure": lambda: views.pass_rate_histogram(store),
        "parent -> child figure": lambda: views.shifts_figure(store),
        "selection preview (paper, M=500)": lambda: views.preview_selection(store, "paper", 0.1, 0.9, 500),
        "Train tab (header, per-run curves, completions)": lambda: (
            views.training_summary(store), views.training_figure(store), views.rollouts_table(store)),
        "store.data_version() (each poll tick)": lambda: store.data_version(),
    }


def warm_up_figures(store) -> dict:
    """What the queue pays once per app process before its first render (in-process caches empty)."""
    from synthrl import triage
    from ui import views

    version = views.student_versions(store)[0]
    for cache in (triage._STATS, triage._DUPS, triage._SIGS):
        cache.clear()
    t = time.perf_counter()
    triage.answer_stats(store, version)
    t1 = time.perf_counter() - t
    t = time.perf_counter()
    groups = triage.duplicate_groups(store)
    return {"queue warm-up: majority answers": t1 * 1000,
            "queue warm-up: near-duplicates": (time.perf_counter() - t) * 1000, "_groups": len(groups)}


def baseline_worker(run: str) -> int:
    """Serve timings of view_cases with the code on the path (a baseline checkout): one JSON line per case
    name read from stdin, so the caller can interleave them with today's (the same load on both)."""
    import json

    from synthrl.store import RunStore

    store = RunStore.open(run)
    warm = warm_up_figures(store)
    cases = view_cases(store)
    print("READY " + json.dumps(warm), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            break
        print("TIMED " + json.dumps(timed(cases[name])[0] * 1000 if name in cases else None), flush=True)
    store.close()
    return 0


class Baseline:
    """The views of an older revision (git archive into a temporary folder) timed on the same store, in a
    subprocess that answers one case at a time."""

    def __init__(self, rev: str, run: str):
        import json
        import subprocess

        self.rev, self.proc, self.warm = rev, None, {}
        code = Path(tempfile.mkdtemp(prefix="synthrl-bench-baseline-"))
        atexit.register(shutil.rmtree, code, True)
        try:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "synthrl", "ui"], capture_output=True,
                                     check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
            self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--_baseline-worker", run],
                                         env={**os.environ, "SYNTHRL_BENCH_CODE": str(code)}, text=True,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            line = self._line("READY ")
            self.warm = json.loads(line) if line is not None else {}
        except (OSError, subprocess.SubprocessError) as e:
            print(f"baseline {rev}: not run ({e})")
            self.close()

    def _line(self, prefix: str) -> str | None:
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix):]
        print(f"baseline {self.rev}: the worker stopped (exit {self.proc.wait()})")
        self.proc = None
        return None

    def time(self, name: str) -> float | None:
        import json

        if self.proc is None:
            return None
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        line = self._line("TIMED ")
        return json.loads(line) if line is not None else None

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait()
            self.proc = None


def compare(name: str, now_ms: float, before: float | None, note: str = "") -> None:
    if before is not None:
        was = f"{before:8.1f} ms before ->"
    elif name in BEFORE_QUIET_MS:
        was = f"({BEFORE_QUIET_MS[name]:5d} ms quiet, old) ->"
    else:
        was = " " * 21
    print(f"{name + ':':50s} {was} {now_ms:8.1f} ms{'  ' + note if note else ''}")


def naive_filter(store, status: str, lo: float, hi: float) -> list[int]:
    rates = store.pass_rates()
    out = []
    for s in store.samples():
        pr = rates.get(s.id)
        if s.status == status and pr is not None and lo <= pr.rate <= hi:
            out.append(s.id)
    return out


def build_map(store) -> None:
    """Cache stand-in vectors and compute the stored projection, as `synthrl map` does once (not per render)."""
    import numpy as np

    from synthrl import atlas

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


def _majority_by_group_by(store, version):
    """The majority answers as the queue computed them before #15: one GROUP BY over every attempt."""
    import pandas as pd

    rows = store.query("SELECT sample_id, extracted, count(*), max(correct) FROM attempts WHERE model_version=?"
                       " GROUP BY sample_id, extracted", (version,))
    g = pd.DataFrame([tuple(r) for r in rows], columns=["sample_id", "answer", "count", "correct"])
    answered = g[g["answer"].notna()].sort_values(["sample_id", "count", "correct"], ascending=[True, False, True])
    top = answered.drop_duplicates("sample_id").set_index("sample_id")
    return pd.DataFrame({"n": g.groupby("sample_id")["count"].sum(), "top_answer": top["answer"],
                         "top_count": top["count"]})


def review_queue_figures(store, baseline: Baseline | None) -> None:
    """#15 section 1-2: the queue's warm-up per app process, the views beside the baseline's, then edits."""
    from synthrl import triage
    from synthrl.fix import FixSpec, apply_fix, plan_fix, undo_fix
    from synthrl.review import edit_sample
    from ui import views

    version = views.student_versions(store)[0]
    t = time.perf_counter()
    old = _majority_by_group_by(store, version)
    t_old = time.perf_counter() - t
    stats = triage.answer_stats(store, version)
    same = (old["n"].sort_index().to_numpy() == stats["n"].sort_index().to_numpy()).all() and \
        (old["top_count"].sort_index().fillna(0).to_numpy() == stats["top_count"].sort_index().to_numpy()).all() and \
        (old["top_answer"].sort_index().fillna("").to_numpy() == stats["top_answer"].sort_index().fillna("")
         .to_numpy()).all()
    print(f"majority answers, GROUP BY over the attempts (the old way): {t_old * 1000:.0f} ms; the stored "
          f"summary {'equals' if same else 'DIFFERS FROM'} it")
    for cache in (triage._STATS, triage._DUPS, triage._SIGS):
        cache.clear()
    store.execute("DELETE FROM meta WHERE key='near_duplicates_key'")  # as if never computed on this run
    t = time.perf_counter()
    groups = triage.duplicate_groups(store)
    print(f"near-duplicates (MinHash), first time on this run (computed, then stored): "
          f"{(time.perf_counter() - t) * 1000:.0f} ms ({len(groups)} samples in groups)")
    w = warm_up_figures(store)
    warm = baseline.warm if baseline is not None else {}
    compare("queue warm-up: majority answers", w["queue warm-up: majority answers"],
            warm.get("queue warm-up: majority answers"), "(the snapshot beside the run, else the stored summary)")
    compare("queue warm-up: near-duplicates", w["queue warm-up: near-duplicates"],
            warm.get("queue warm-up: near-duplicates"), "(reads the stored groups; a new process or the CLI)")
    print("each view, median of 5 renders (a render: the view and Gradio's serialisation of what it returns):\n"
          "  before: the baseline's code as a new app process would run it: nothing kept in the process (taken in"
          " turn with today's)\n"
          "  cold:   today's code, likewise (what the run keeps on disk is read back: attempt summary, near-"
          "duplicate groups, map projection, frame snapshot)\n"
          "  first:  also without the frame snapshot (the first time any app process shows this run)\n"
          "  accept / measure / edit: right after one sample is accepted or rejected / gets a new pass rate /"
          " has its question edited, caches kept (a running app)")
    from synthrl.records import PassRate

    queue_ids = [int(i) for i in views.review_table(store, views.ReviewFilter())[0]["id"][:50]]
    turn = iter(range(10 ** 9))

    def accept():
        k = next(turn)
        edit_sample(store, queue_ids[k % 50], status="accepted" if k % 2 else "rejected", author="bench")

    def measure():
        k = next(turn)
        store.set_pass_rate(PassRate(queue_ids[k % 50], version, 65, k % 66, k % 2 == 0))

    def edit():
        sid = queue_ids[next(turn) % 50]
        edit_sample(store, sid, question=store.sample(sid).question + " (edited)", author="bench")

    print(f"{'':44s} {'before':>8s} {'cold':>8s} {'first':>8s} {'accept':>8s} {'measure':>8s} {'edit':>8s}  (ms)")
    worst = {}
    for name, fn in view_cases(store).items():
        if name.startswith("store.data_version"):
            continue
        before = baseline.time(name) if baseline is not None else BEFORE_QUIET_MS.get(name)
        cold, out = timed(fn)
        first, _ = timed(fn, before=lambda: drop_snapshots(store))
        after = [timed_after(fn, w) for w in (accept, measure, edit)]
        figures = [cold, first, *after]
        worst[name] = (max(after) * 1000, cold * 1000, first * 1000)
        was = "" if before is None else f"{before:8.0f}" + ("" if baseline is not None else "*")
        print(f"{name + ':':44s} {was:>8s} " + " ".join(f"{x * 1000:8.0f}" for x in figures))
    if baseline is None:
        print("* measured before #15 on a quiet machine (no baseline run)")
    if baseline is not None:
        baseline.close()
    t = time.perf_counter()
    store.data_version()
    print(f"store.data_version() (each poll tick): {(time.perf_counter() - t) * 1000:.2f} ms")
    bound = {k: v for k, v in worst.items() if k.startswith(("Review queue", "map figure", "Difficulty tab"))}
    for i, what in enumerate(("in a running app, right after a write (slowest kind)", "in a new app process (cold)",
                              "the first time any process shows the run (first)")):
        print(f"#15 bound (<= 300 ms), {what}: " + "; ".join(
            f"{k.split(' (')[0] if not k.startswith('map') else k} {v[i]:.0f} ms" for k, v in bound.items())
            + (" -- all within" if all(v[i] <= 300 for v in bound.values()) else " -- NOT all within"))
    f = views.ReviewFilter()
    # a question edit seen by a process that has not computed the near-duplicate groups itself
    edit()
    forget_process()
    t = time.perf_counter()
    served(views.review_table(store, f))
    print(f"Review queue after a question edit, in a new process (groups re-checked from the work stored with "
          f"them): {(time.perf_counter() - t) * 1000:.0f} ms")
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


def live_refresh_figures(store) -> None:
    """A poll tick after a write while a job runs (every 2 s): the header and every tab (before), against the
    header and the tab in view (now; here Review, the heaviest, and Train)."""
    from synthrl.records import PassRate
    from ui import views
    from ui.app import build_app, render_live

    tabs = build_app().synthrl_tabs
    values = {id(c): c.value for t in tabs for c in t.inputs}
    version = views.student_versions(store)[0]
    ids = [r[0] for r in store.query_tuples("SELECT id FROM samples ORDER BY id LIMIT 50")]
    turn = iter(range(10 ** 9))

    def measure():
        k = next(turn)
        store.set_pass_rate(PassRate(ids[k % 50], version, 65, k % 66, k % 2 == 0))

    every = timed_after(lambda: render_live(tabs, store.name, version, values), measure)
    figures = {shown: timed_after(lambda: render_live(tabs, store.name, version, values, only=shown), measure)
               for shown in ("review", "train")}
    print("live refresh, one poll tick after a new pass rate (the header and ...): every tab "
          f"{every * 1000:.0f} ms; the tab in view: Review {figures['review'] * 1000:.0f} ms, "
          f"Train {figures['train'] * 1000:.0f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--rollouts", type=int, default=65,
                    help="student attempts per sample (65 x 20,000 = the 1.3M attempts of issue #15)")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--baseline", default=BASELINE_REV, help="git revision whose views to time beside today's")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--_baseline-worker", dest="worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return baseline_worker(args.worker)

    runs = Path(tempfile.mkdtemp(prefix="synthrl-bench-ui-"))
    atexit.register(shutil.rmtree, runs, True)  # ~200 MB
    os.environ["SYNTHRL_RUNS"] = str(runs)
    from synthrl.store import RunStore
    from ui import views

    sys.path.insert(0, str(ROOT / "tests"))
    from populated_run import populate_run

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    n0 = max(1, round(args.samples / 1.5))
    t = time.perf_counter()
    store = populate_run(RunStore.open("big"), n=n0, seed=0, rollouts=args.rollouts)
    total = store.scalar("SELECT count(*) FROM samples")
    print(f"populated {total} samples ({store.scalar('SELECT count(*) FROM attempts')} attempts) "
          f"in {time.perf_counter() - t:.1f}s")
    build_map(store)

    baseline = None
    if not args.no_baseline:
        baseline = Baseline(args.baseline, "big")
        if baseline.proc is not None:
            print(f"baseline: the views of {args.baseline} (git archive), timed on the same store in a subprocess")

    f = views.ReviewFilter(status="verified", lo=0.2, hi=0.8, unmeasured=False)
    tb, ids_naive = timed(lambda: naive_filter(store, "verified", 0.2, 0.8), serve=False)
    tv, df = timed(lambda: views.filter_samples(store, f), serve=False)
    assert sorted(ids_naive) == sorted(df["id"].tolist())
    print(f"review filter, baseline (store.samples + loop): {tb * 1000:8.1f} ms  ({len(ids_naive)} rows)")
    print(f"review filter, views.filter_samples:            {tv * 1000:8.1f} ms  ({tb / tv:.1f}x)")
    tt, _ = timed(lambda: views.review_table(store, f))
    print(f"review table incl. formatting (500 rows shown): {tt * 1000:8.1f} ms")
    review_queue_figures(store, baseline)
    live_refresh_figures(store)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
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
            print(f"browser: Difficulty tab until bars drawn:       {(time.perf_counter() - t) * 1000:8.0f} ms "
                  f"(the first plot on the page: loads plotly.js)")
            t = time.perf_counter()
            tab(pg, "Map")
            pg.locator("#map-plot .js-plotly-plot").wait_for()
            pg.wait_for_function("() => (document.querySelector('#map-plot .js-plotly-plot')?.data || [])"
                                 ".some(t => (t.name || '').startsWith('samples'))")
            print(f"browser: Map tab until the samples are drawn:   {(time.perf_counter() - t) * 1000:8.0f} ms "
                  f"(20k WebGL points, software-rendered here)")
            tab(pg, "Review")
            t = time.perf_counter()
            tab(pg, "Difficulty")
            pg.locator("#hist-plot .js-plotly-plot .bars path").first.wait_for()
            print(f"browser: Difficulty tab again:                  {(time.perf_counter() - t) * 1000:8.0f} ms")
            b.close()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
