"""The run a command works on, and the per-stage lock of the commands that write to it.

A run is given by NAME (a plain name: it lives under the runs folder) or, explicitly, by
folder with --run-dir PATH. A name such as '..' or '../x' is refused, so no task or run
name can put run.db outside the runs folder.

    add_run_argument(p)                       # RUN positional + --run-dir
    store = open_run(args, create=False)
    with stage_guard(store, "measure"):       # "measure is already running on run demo (pid N)"
        ...
"""
from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def add_run_argument(p: argparse.ArgumentParser, help: str = "run name (a plain name under the runs folder)") -> None:
    p.add_argument("run", nargs="?", default=None, metavar="RUN", help=help)
    p.add_argument("--run-dir", default=None, metavar="PATH",
                   help="the run's folder, anywhere on disk (instead of RUN)")


def run_location(args: argparse.Namespace) -> str | Path:
    """RUN (a name) or --run-dir (a folder, as a Path); UserError when neither, both, or a bad name."""
    from .. import paths
    from ..cli import UserError

    name, folder = getattr(args, "run", None), getattr(args, "run_dir", None)
    if name is not None and folder is not None:
        raise UserError(f"give the run either as RUN ({name!r}) or as --run-dir ({folder!r}), not both")
    if folder is not None:
        if not str(folder).strip():
            raise UserError("--run-dir is empty: give the run's folder")
        return Path(folder)
    if name is None:
        raise UserError("which run? give its name (RUN) or its folder with --run-dir PATH")
    try:
        paths.run_dir(name)
    except ValueError as e:
        raise UserError(str(e)) from None
    return name


def open_run(args: argparse.Namespace, create: bool = True):
    """The RunStore of the command's run (see run_location)."""
    from ..cli import UserError
    from ..store import RunStore

    try:
        return RunStore.open(run_location(args), create=create)
    except ValueError as e:
        raise UserError(str(e)) from None


def _is_main_rank() -> bool:
    """False in the non-zero ranks of a distributed launch (accelerate/torchrun): rank 0 holds the lock."""
    for var in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(var)
        if value is not None and value.strip().isdigit():
            return int(value) == 0
    return True


def _cancel_on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"stopped by signal {signum}")


@contextmanager
def cancel_on_sigterm() -> Iterator[None]:
    """SIGTERM (the UI's Stop) ends the block like Ctrl-C, so the stage's progress ends 'cancelled'
    instead of staying 'running'. A handler someone else installed (training's) is left alone."""
    installed = (threading.current_thread() is threading.main_thread()
                 and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None))
    if installed:
        signal.signal(signal.SIGTERM, _cancel_on_sigterm)
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def stage_guard(store, stage: str) -> Iterator[None]:
    """Run one stage command on `store`: one process per stage and run (else UserError naming the
    pid of the one already running), cancelled cleanly by SIGTERM."""
    from ..cli import UserError
    from ..locks import LockError, StageLock

    lock = StageLock(store.dir, stage)
    if _is_main_rank():
        try:
            lock.acquire()
        except LockError as e:
            raise UserError(str(e)) from None
    started = time.time()
    try:
        with cancel_on_sigterm():
            yield
    finally:
        try:
            # the throughput this stage measured on this machine, for the next estimate (synthrl/estimate.py)
            from ..estimate import flush_usage

            flush_usage(store, stage, time.time() - started)
        except Exception:  # noqa: BLE001 - bookkeeping must never turn a finished stage into a failure
            pass
        lock.release()
