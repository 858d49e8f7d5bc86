"""Frames kept beside a run as Arrow files, so a new process starts from them instead of reading the store again.

A snapshot is a cache, never the truth: it carries the store's id and the point of the store's history it was
taken at (a change of the sample log, an attempts epoch), and the caller reads what changed since from the store.
Anything wrong with one (missing, damaged, written by another store at the same path, other columns) reads as
None: the caller then reads the store in full. Writes happen in a thread, off the render's path, through a
temporary file and an atomic rename; a full disk or a read-only folder only costs the next cold read.

    df, meta = read(path, store_id, columns)          # (None, {}) when unusable
    write(path, df, store_id, {"seq": "42"})          # in a thread; flush() waits for it
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pandas as pd

FORMAT = "1"
_WRITERS: list[threading.Thread] = []


def path_for(run_db: Path, kind: str, key: str | None) -> Path:
    """Where the snapshot of `kind` for `key` (a student version, None too) lives: the run's cache folder."""
    tag = hashlib.blake2b(f"{key}".encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return Path(run_db).parent / "cache" / f"{kind}-{tag}.arrow"


def read(path: Path, store_id: str | None, columns: list[str], index: str | None = None
         ) -> tuple[pd.DataFrame | None, dict]:
    """(the frame, its metadata) if `path` holds a good snapshot of this store with these columns."""
    if store_id is None or not path.exists():
        return None, {}
    try:
        import pyarrow.feather as feather

        table = feather.read_table(path, memory_map=True)
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        want = ([index] if index else []) + list(columns)
        if meta.get("synthrl_format") != FORMAT or meta.get("store_id") != store_id or table.column_names != want:
            return None, {}
        df = table.to_pandas()
        if index:
            df = df.set_index(index)
        return df, meta
    except Exception:  # noqa: BLE001 - a damaged or foreign cache file: the caller reads the store
        return None, {}


def write(path: Path, df: pd.DataFrame, store_id: str | None, meta: dict[str, str], index: str | None = None) -> None:
    """Write `df` (never changed afterwards by the caller) with `meta`, in a thread."""
    if store_id is None or not len(df):
        return
    _WRITERS[:] = [t for t in _WRITERS if t.is_alive()]
    t = threading.Thread(target=_write_now, args=(path, df, {**meta, "store_id": str(store_id)}, index),
                         name="snapshot", daemon=True)
    _WRITERS.append(t)
    t.start()


def flush(timeout: float = 30.0) -> None:
    """Wait for snapshot writes still under way (tests; before a run's folder is removed)."""
    for t in list(_WRITERS):
        t.join(timeout)


def _write_now(path: Path, df: pd.DataFrame, meta: dict[str, str], index: str | None) -> None:
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        import pyarrow as pa
        import pyarrow.feather as feather

        frame = df.reset_index() if index else df
        table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
            {**meta, "synthrl_format": FORMAT})
        path.parent.mkdir(exist_ok=True)
        feather.write_feather(table, tmp, compression="uncompressed")
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 - a cache: not written is only slower next time
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
