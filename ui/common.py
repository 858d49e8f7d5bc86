"""What every tab of the workbench shares: the open run's store, its jobs, and launching or stopping them.

One RunStore per run is kept open for the whole process (all browser sessions share it); jobs
are `synthrl ...` subprocesses started through ui/jobs.py.

    st = _need_store(run)            # or a gr.Error that says how to open one
    line = _start(run, "measure", ["measure", run])
"""
from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr

from synthrl import paths, snapshots
from synthrl.records import Sample
from synthrl.store import RunStore

from . import jobs, views

ROOT = Path(__file__).resolve().parent.parent
DEMO_CORPUS = ROOT / "assets" / "corpus" / "demo_addition"
DEMO_BENCHMARK = ROOT / "assets" / "benchmarks" / "demo_addition.jsonl"
POLL_SECONDS = 2.0
OPEN_A_RUN = "Open a run (top of the page) or create one on the **Task** tab."

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
    snapshots.flush()  # no snapshot is being written into the run's folder after this
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


def _bundled_tasks() -> dict[str, Path]:
    from synthrl.task import bundled_tasks

    return bundled_tasks()


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
