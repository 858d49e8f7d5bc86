"""Long work runs as `python -m synthrl.cli <cmd> ...` subprocesses; this module starts, stops and polls them.

The UI never computes a stage itself: it launches the same command a user would type,
logs its output to the run folder, and reads progress from the run store. A small
JSON file per job (runs/<run>/jobs/<stage>.json) records the pid, so a reloaded page,
a second browser tab or a restarted app still sees — and can stop — a running job.

    job = start("demo", "generate", ["generate", "demo", "--n", "8"])
    state = job_state("demo", "generate")   # {"running": True, "pid": ..., "tail": "..."}
    stop("demo", "generate")                 # SIGTERM: the command saves and exits
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from synthrl import paths

# Popen objects of the jobs this process started (to reap them and read their exit code).
_PROCS: dict[tuple[str, str], subprocess.Popen] = {}
_LOCK = threading.Lock()
ROOT = Path(__file__).resolve().parent.parent


class JobError(RuntimeError):
    """A job could not be started or stopped; the message says why and what to do."""


def _run_dir(run: str) -> Path:
    if not paths.valid_run_name(run):
        raise JobError(f"invalid run name {run!r}: use letters, digits, '_', '-' or '.'")
    return paths.runs_dir() / run


def _job_file(run: str, stage: str) -> Path:
    return _run_dir(run) / "jobs" / f"{stage}.json"


def _pid_alive(pid: int) -> bool:
    """True when `pid` is still one of our synthrl.cli processes (guards against pid reuse)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    if " Z " in stat.rsplit(")", 1)[-1][:4]:
        return False  # a zombie: finished, not yet reaped
    return b"synthrl.cli" in cmd


def _read(run: str, stage: str) -> dict | None:
    try:
        return json.loads(_job_file(run, stage).read_text())
    except (OSError, ValueError):
        return None


def _write(run: str, stage: str, info: dict) -> None:
    f = _job_file(run, stage)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(f)


def _tail(path: str | None, n_bytes: int = 4000) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - n_bytes))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def job_state(run: str, stage: str) -> dict | None:
    """The job's last known state, with `running`, `returncode` and the log's `tail`; None if never started."""
    info = _read(run, stage)
    if info is None:
        return None
    if info.get("running"):
        proc = _PROCS.get((run, stage))
        if proc is not None and proc.pid == info["pid"]:
            rc = proc.poll()
            alive = rc is None
        else:
            alive, rc = _pid_alive(int(info["pid"])), None
        if not alive:
            info.update(running=False, returncode=rc, ended=time.time())
            try:
                _write(run, stage, info)
            except OSError:
                pass
            with _LOCK:
                _PROCS.pop((run, stage), None)
    info["tail"] = _tail(info.get("log"))
    return info


def jobs(run: str) -> dict[str, dict]:
    """Every job of a run, by stage."""
    d = _run_dir(run) / "jobs"
    if not d.is_dir():
        return {}
    out = {}
    for f in sorted(d.glob("*.json")):
        st = job_state(run, f.stem)
        if st is not None:
            out[f.stem] = st
    return out


def running(run: str) -> list[str]:
    return [s for s, j in jobs(run).items() if j.get("running")]


def start(run: str, stage: str, args: list, env: dict[str, str] | None = None) -> dict:
    """Start `python -m synthrl.cli *args` for `run`; output goes to runs/<run>/logs/<stage>.log.

    `args` may also be a list of argument lists: they run one after the other as one job.
    """
    with _LOCK:
        cur = job_state(run, stage)
        if cur and cur.get("running"):
            raise JobError(f"{stage} is already running for run {run} (pid {cur['pid']}); stop it first or wait")
        rd = _run_dir(run)
        log_dir = rd / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"{stage}.log"
        if args and isinstance(args[0], (list, tuple)):
            # several commands one after the other (stopping at the first failure), one process group
            argv = ["/bin/sh", "-c", " && ".join(
                shlex.join([sys.executable, "-m", "synthrl.cli", *[str(a) for a in cmd]]) for cmd in args)]
            shown = " && ".join("synthrl " + shlex.join([str(a) for a in cmd]) for cmd in args)
        else:
            argv = [sys.executable, "-m", "synthrl.cli", *[str(a) for a in args]]
            shown = "synthrl " + shlex.join([str(a) for a in args])
        full_env = dict(os.environ)
        full_env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                         "PYTHONUNBUFFERED": "1"})
        full_env["PYTHONPATH"] = str(ROOT) + (os.pathsep + full_env["PYTHONPATH"] if full_env.get("PYTHONPATH") else "")
        if env:
            full_env.update(env)
        with open(log, "ab") as fh:
            fh.write(f"\n$ {shown}   # {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            fh.flush()
            try:
                # A new session: the job survives a page reload and gets its own process group.
                proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=str(ROOT), env=full_env, start_new_session=True)
            except OSError as e:
                raise JobError(f"could not start {stage}: {e}") from e
        _PROCS[(run, stage)] = proc
        info = {"run": run, "stage": stage, "pid": proc.pid, "args": args, "cmd": shown,
                "log": str(log), "started": time.time(), "running": True, "returncode": None}
        _write(run, stage, info)
        return info


def stop(run: str, stage: str, timeout: float = 0.0) -> bool:
    """Send SIGTERM to the job's process group (the commands save what is done and exit). True if signalled."""
    info = job_state(run, stage)
    if not info or not info.get("running"):
        return False
    pid = int(info["pid"])
    try:
        os.killpg(pid, signal.SIGTERM)  # the job is its own session leader: pgid == pid
    except ProcessLookupError:
        return False
    except PermissionError as e:
        raise JobError(f"cannot stop {stage} (pid {pid}): {e}") from e
    if timeout > 0:
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = job_state(run, stage)
            if not st or not st.get("running"):
                break
            time.sleep(0.1)
    return True


def wait(run: str, stage: str, timeout: float = 600.0) -> dict | None:
    """Block until the job ends (for tests and scripts, never for the UI)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = job_state(run, stage)
        if not st or not st.get("running"):
            return st
        time.sleep(0.2)
    return job_state(run, stage)
