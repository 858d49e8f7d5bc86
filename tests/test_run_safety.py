"""Issue 14 §5: runs stay where they belong — plain names, per-stage locks, damaged stores, bad input.

Checked through `python -m synthrl.cli`, as a user would.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthrl import paths
from synthrl.locks import StageLock, lock_path
from synthrl.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "assets" / "tasks" / "demo_addition.yaml"


def synthrl(*args: str, runs: Path, cwd: Path | None = None, stdin: bytes | None = None, timeout: float = 120):
    env = {**os.environ, "SYNTHRL_RUNS": str(runs), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "synthrl.cli", *args], capture_output=True, timeout=timeout, env=env,
                       cwd=str(cwd or ROOT), input=stdin)
    r.stdout, r.stderr = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    return r


def one_error_line(r, command: str) -> str:
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith(f"synthrl {command}: error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def populated(runs: Path, name: str = "demo") -> RunStore:
    """A run with samples and pass rates under `runs` (the runs_dir fixture's folder)."""
    from populated_run import populate_run

    assert paths.runs_dir() == runs
    return populate_run(RunStore.open(name), n=12, seed=0, with_training=False, with_eval=False, rollouts=4)


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# -- names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", ".hidden", "x..y"])
def test_a_task_name_that_is_not_a_plain_name_is_invalid(tmp_path, name):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TASK.read_text().replace("name: demo_addition", f"name: {json.dumps(name)}"))
    r = synthrl("validate", str(bad), runs=tmp_path / "runs")
    assert r.returncode == 1
    assert f"{bad}: field 'name': must be a plain name" in r.stdout


def test_run_with_a_dotdot_task_writes_nothing_outside_the_runs_folder(tmp_path):
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    bad = tmp_path / "dotdot.yaml"
    bad.write_text(TASK.read_text().replace("name: demo_addition", "name: '..'"))
    r = synthrl("run", "--task", str(bad), "--until", "ingest", runs=Path("runs"), cwd=work)
    assert "field 'name'" in one_error_line(r, "run")
    assert not list(tmp_path.rglob("run.db"))


@pytest.mark.parametrize("argv", [["run", "--task", str(TASK), "--run", "../x", "--until", "ingest"],
                                  ["status", "../x"], ["measure", "../x"], ["ingest", "/tmp/x", str(TASK)],
                                  ["select", "a/b"]])
def test_run_paths_are_refused_with_a_hint_to_use_run_dir(tmp_path, argv):
    runs = tmp_path / "nest" / "runs"
    line = one_error_line(synthrl(*argv, runs=runs), argv[0])
    assert "plain name" in line and "--run-dir" in line
    assert not list(tmp_path.rglob("run.db"))


def test_an_explicit_run_dir_is_used_as_the_run_folder(tmp_path, runs_dir):
    import shutil

    populated(runs_dir, "seed").close()
    # a run folder outside the runs folder: copy one, then work on it with --run-dir
    folder = tmp_path / "elsewhere" / "myrun"
    folder.mkdir(parents=True)
    shutil.copy(runs_dir / "seed" / "run.db", folder / "run.db")
    r = synthrl("status", "--run-dir", str(folder), "--json", runs=tmp_path / "runs")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == str(folder.resolve())
    r = synthrl("select", "--run-dir", str(folder), "--m", "3", runs=tmp_path / "runs")
    assert r.returncode == 0, r.stderr
    assert "3 samples" in r.stdout
    line = one_error_line(synthrl("status", "seed", "--run-dir", str(folder), runs=tmp_path / "runs"), "status")
    assert "not both" in line


def test_run_dir_helper_keeps_names_plain():
    assert paths.run_dir("demo") == paths.runs_dir() / "demo"
    for bad in ("..", ".", "../x", "/etc", "a/b", "~/x"):
        with pytest.raises(ValueError, match="plain name"):
            paths.run_dir(bad)
    assert paths.run_dir(Path("/tmp/some/run")) == Path("/tmp/some/run").resolve()


# -- one process per stage and run ---------------------------------------------------------------
def test_a_second_measure_on_the_same_run_is_refused_naming_the_pid(runs_dir):
    runs = runs_dir
    store = populated(runs)
    attempts = store.scalar("SELECT count(*) FROM attempts")
    with StageLock(store.dir, "measure"):  # this test process is the measure already running
        line = one_error_line(synthrl("measure", "demo", "--rollouts", "2", runs=runs), "measure")
    assert f"measure is already running on run demo (pid {os.getpid()})" in line
    assert store.scalar("SELECT count(*) FROM attempts") == attempts  # no double work
    store.close()


@pytest.mark.parametrize("argv, stage", [
    (["ingest", "demo", str(TASK)], "ingest"), (["generate", "demo", "--n", "1"], "generate"),
    (["adapt", "demo"], "adapt"), (["select", "demo"], "select"), (["train", "demo"], "train"),
    (["eval", "demo", "--benchmark", str(TASK)], "eval"),
])
def test_every_writing_stage_command_takes_its_lock(runs_dir, argv, stage):
    runs = runs_dir
    store = populated(runs)
    with StageLock(store.dir, stage):
        line = one_error_line(synthrl(*argv, runs=runs), argv[0])
    assert f"{stage} is already running on run demo (pid {os.getpid()})" in line
    store.close()


def test_a_stale_lock_of_a_dead_process_is_taken_over(runs_dir):
    runs = runs_dir
    store = populated(runs)
    lock = lock_path(store.dir, "select")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(f"{dead_pid()}\n")
    before = len(store.selections())
    r = synthrl("select", "demo", "--m", "4", runs=runs)
    assert r.returncode == 0, r.stderr
    assert len(store.selections()) == before + 1
    # released when done: the next one runs too
    assert synthrl("select", "demo", "--m", "4", runs=runs).returncode == 0
    store.close()


def test_the_pipeline_takes_the_same_lock(runs_dir):
    from synthrl.locks import LockError
    from synthrl.pipeline import run_pipeline

    store = populated(runs_dir)
    with StageLock(store.dir, "select"):
        with pytest.raises(LockError, match="select is already running on run demo"):
            run_pipeline("demo", stages=["select"], progress=None)
    assert store.progress("pipeline")["state"] == "failed"
    store.close()


# -- damaged store, undecodable input ----------------------------------------------------------------
@pytest.mark.parametrize("argv", [["status", "broken"], ["measure", "broken"], ["select", "broken"],
                                  ["generate", "broken", "--n", "1"]])
def test_a_corrupt_run_db_gives_a_message_not_a_traceback(tmp_path, argv):
    runs = tmp_path / "runs"
    (runs / "broken").mkdir(parents=True)
    (runs / "broken" / "run.db").write_bytes(b"this is not a database" * 200)
    line = one_error_line(synthrl(*argv, runs=runs), argv[0])
    assert "run.db" in line and "not a database" in line


def test_grade_reports_an_undecodable_line_and_grades_the_rest(tmp_path):
    lines = [json.dumps({"completion": "64", "reference": "64"}).encode(),
             b'{"completion": "\xff\xfe 64", "reference": "64"}',
             json.dumps({"completion": "12", "reference": "13"}).encode()]
    r = synthrl("grade", "--task", str(TASK), runs=tmp_path / "runs", stdin=b"\n".join(lines) + b"\n")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert out[0]["correct"] is True and out[2]["correct"] is False
    assert out[1]["error"].startswith("line 2: not valid UTF-8")
