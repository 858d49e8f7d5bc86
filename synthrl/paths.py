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


def valid_run_name(name: str) -> bool:
    return bool(_NAME_RE.match(name)) and ".." not in name


def run_dir(run: str | os.PathLike) -> Path:
    """Resolve a run given as a name (under runs_dir) or as a path to its folder."""
    text = str(run)
    p = Path(text).expanduser()
    if os.sep in text or text.startswith(".") or p.is_absolute():
        return p.resolve()
    if not valid_run_name(text):
        raise ValueError(
            f"invalid run name {text!r}: use letters, digits, '_', '-' or '.', up to 100 characters"
        )
    return runs_dir() / text
