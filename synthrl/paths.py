"""Where synthrl keeps things on disk.

`SYNTHRL_HOME` (default ``~/.cache/synthrl``) holds the prepared embedded models;
runs live in `SYNTHRL_RUNS` (default ``$SYNTHRL_HOME/runs``), one folder per run:

    runs/<name>/run.db        the run store (SQLite, WAL)
    runs/<name>/index/        the persisted retrieval index
    runs/<name>/uploads/      documents uploaded through the UI
    runs/<name>/checkpoints/  training checkpoints
    runs/<name>/exports/      JSONL / Parquet / HF dataset exports
"""
from __future__ import annotations

import os
import re
from pathlib import Path

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def home() -> Path:
    return Path(os.environ.get("SYNTHRL_HOME", Path.home() / ".cache" / "synthrl")).expanduser()


def runs_dir() -> Path:
    env = os.environ.get("SYNTHRL_RUNS")
    return Path(env).expanduser() if env else home() / "runs"


def models_dir() -> Path:
    return home() / "models"


NAME_RULE = "start with a letter or digit, then letters, digits, '_', '-' or '.', up to 100 characters"


def valid_run_name(name: str) -> bool:
    """A plain name: no path separators, never '.' or '..' (so it cannot leave the runs folder)."""
    return isinstance(name, str) and bool(_NAME_RE.match(name)) and ".." not in name


def run_dir(run: str | os.PathLike) -> Path:
    """The folder of a run: a plain name (a str) lives under runs_dir(); a folder is given as a Path.

    A str that looks like a path ('../x', '/tmp/x', 'a/b') is refused: `synthrl` takes such a folder
    only through an explicit --run-dir, so a task or run name can never place a run elsewhere.

        run_dir("demo")               # runs_dir() / "demo"
        run_dir(Path("/data/runs/x")) # that folder
    """
    if isinstance(run, os.PathLike):
        return Path(run).expanduser().resolve()
    text = str(run)
    if not valid_run_name(text):
        looks_like_path = "/" in text or os.sep in text or text.startswith((".", "~"))
        hint = (" (to use a folder outside the runs folder, pass it with --run-dir PATH)" if looks_like_path
                else "")
        raise ValueError(f"invalid run name {text!r}: a run name must be a plain name: {NAME_RULE}{hint}")
    return runs_dir() / text
