"""One process per stage per run: a lock file holding the pid of the process doing the work.

Two `synthrl measure demo` started at once would both measure every sample; with the
lock the second stops at once with "measure is already running on run demo (pid N)".
The lock is `<run>/locks/<stage>.lock`. Where the OS has `flock` the lock dies with its
process, so a lock left by a killed process (a stale pid) is simply taken over; elsewhere
the pid in the file is checked and a dead one is taken over.

    with stage_lock(store.dir, "measure"):
        measure(store, ...)
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class LockError(RuntimeError):
    """The stage is already running on this run in another process; the message names its pid."""


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def lock_path(run_dir: str | os.PathLike, stage: str) -> Path:
    return Path(run_dir) / "locks" / f"{stage}.lock"


class StageLock:
    """Holds `<run>/locks/<stage>.lock` from acquire() to release(); see the module doc."""

    def __init__(self, run_dir: str | os.PathLike, stage: str):
        self.run_dir = Path(run_dir)
        self.stage = stage
        self.path = lock_path(run_dir, stage)
        self._fd: int | None = None

    def _busy(self, pid: int | None) -> LockError:
        who = f"pid {pid}" if pid else "another process"
        return LockError(f"{self.stage} is already running on run {self.run_dir.name} ({who}); wait for it to "
                         f"finish or stop it, then run again (lock file: {self.path})")

    def acquire(self) -> "StageLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is not None:
            self._acquire_flock()
        else:  # pragma: no cover - Windows
            self._acquire_exclusive()
        return self

    def _acquire_flock(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._busy(_read_pid(self.path)) from None
        except BaseException:
            os.close(fd)
            raise
        # Ours now; whatever pid the file held was a finished (stale) holder.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def _acquire_exclusive(self) -> None:  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid = _read_pid(self.path)
                if pid is not None and pid != os.getpid() and pid_alive(pid):
                    raise self._busy(pid) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return
        raise self._busy(_read_pid(self.path))

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if fcntl is not None:
                os.ftruncate(fd, 0)  # no pid: nobody holds it (the file stays, so no unlink race)
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        finally:
            if fcntl is None:  # pragma: no cover - Windows
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> "StageLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@contextmanager
def stage_lock(run_dir: str | os.PathLike, stage: str) -> Iterator[StageLock]:
    """Hold the stage's lock on the run for the duration of the block (LockError when busy)."""
    lock = StageLock(run_dir, stage).acquire()
    try:
        yield lock
    finally:
        lock.release()
