"""Every sample with its pass rate, as one frame the app's Review, Map, Difficulty and Select views start from.

Read once per process (from the snapshot kept beside the run when there is one, else from the store), then
patched after each write with only the samples the store's change log names; kept per fingerprint of the
samples and their pass rates, so writes elsewhere (training metrics, progress) leave it as it is.

    df = _frame(store, version)      # id, round, origin, ..., n, n_correct, pass_rate; treat as read-only
"""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from . import snapshots
from .store import RunStore


def student_versions(store: RunStore) -> list[str]:
    """Model versions with pass rates; the run's base student (the select stage's default) first.

    Asked several times per render: kept per data version (and recorded base student)."""
    key = (str(store.path), store.samples_version())
    hit = _VERSIONS_CACHE.get(key)
    if hit is not None:
        return list(hit)
    versions = store.pass_rate_versions()
    base = store.base_student_version()
    out = ([base] if base in versions else []) + [v for v in versions if v != base]
    if len(_VERSIONS_CACHE) >= 4:
        _VERSIONS_CACHE.pop(next(iter(_VERSIONS_CACHE)))
    _VERSIONS_CACHE[key] = tuple(out)
    return out


_FRAME_CACHE: dict[tuple, pd.DataFrame] = {}
_VERSIONS_CACHE: dict[tuple, tuple] = {}


def _frame(store: RunStore, version: str | None) -> pd.DataFrame:
    """Every sample with its pass rate under `version`; treat as read-only.

    One page render asks for it several times (table, histograms, selection), so the last few
    are kept, keyed by the fingerprint of the samples and their pass rates: writes elsewhere (training
    metrics, progress) leave it as it is. After an edit, a new sample or a new measurement only the samples
    written since are read again (the store's change log) and a fresh frame is made from the kept one.
    """
    path = str(store.path)
    fingerprint = store.samples_version()
    key = (path, version, fingerprint)
    hit = _FRAME_CACHE.get(key)
    if hit is not None:
        return hit
    with _FRAME_LOCK:  # renders run in several threads (and the app's warm-up): one read, the others wait for it
        hit = _FRAME_CACHE.get(key)
        if hit is not None:
            return hit
        return _new_frame(store, version, path, fingerprint)


def _new_frame(store: RunStore, version: str | None, path: str, fingerprint: tuple) -> pd.DataFrame:
    # the newest frame of this store and version, and the change it was read at
    last = next((k for k in reversed(_FRAME_CACHE) if k[:2] == (path, version) and k[2][0] == fingerprint[0]
                 and k[2][2:] == fingerprint[2:]), None)
    base, base_seq = (_FRAME_CACHE[last], last[2][1]) if last is not None else (None, None)
    if base is None:  # nothing in this process: the snapshot the last full read left on disk, if still good
        base, base_seq = _read_snapshot(store, version, fingerprint[0])
        if base is not None:
            _SNAPSHOT_SEQ[(path, version)] = base_seq
    seq, changed = store.samples_changed_since(base_seq)
    df = None
    if base is not None and changed is not None and len(changed) <= max(200, len(base) // 5):
        df = _refreshed(store, base, version, changed)
    full = df is None
    if full:
        df = _load_frame(store, version)
    if seq is not None and (full or seq - _SNAPSHOT_SEQ.get((path, version), seq - SNAPSHOT_LAG) >= SNAPSHOT_LAG):
        _write_snapshot(store, version, fingerprint[0], seq, df)  # after a full read, or many changes since
        _SNAPSHOT_SEQ[(path, version)] = seq
    key = (path, version, (fingerprint[0], seq, *fingerprint[2:]))
    if len(_FRAME_CACHE) >= 4:
        _FRAME_CACHE.pop(next(iter(_FRAME_CACHE)))
    _FRAME_CACHE[key] = df
    return df


_FRAME_LOCK = threading.Lock()
_SNAPSHOT_SEQ: dict[tuple, int] = {}  # (store path, version) -> the change the last snapshot read or written is at
SNAPSHOT_LAG = 2000  # changes since the snapshot before a patched frame is written as the new one


# The frame as of a change of the log, kept beside the run (synthrl.snapshots; read back in a few ms at 20k
# samples, against ~100 ms from SQLite), so a new process starts from it and reads only the samples written
# since. Checked against the store's id and the columns; anything wrong with it means a full read.
def _snapshot_path(store: RunStore, version: str | None):
    return snapshots.path_for(store.path, "sample-frame", version)


def _read_snapshot(store: RunStore, version: str | None, store_id) -> tuple[pd.DataFrame | None, int | None]:
    df, meta = snapshots.read(_snapshot_path(store, version), store_id, [*store.SAMPLE_TABLE_COLUMNS, "pass_rate"])
    if df is None or not meta.get("seq", "").isdigit():
        return None, None
    df.attrs["version"] = None if meta.get("version_none") == "1" else meta.get("version")
    return df, int(meta["seq"])


def _write_snapshot(store: RunStore, version: str | None, store_id, seq: int | None, df: pd.DataFrame) -> None:
    if seq is None:
        return
    v = df.attrs.get("version")
    snapshots.write(_snapshot_path(store, version), df, store_id, {
        "seq": str(int(seq)), "version": "" if v is None else str(v), "version_none": "1" if v is None else "0"})


def _frame_version(store: RunStore, version: str | None) -> str | None:
    if version is None:
        versions = student_versions(store)
        version = versions[0] if versions else None
    return version


def _load_frame(store: RunStore, version: str | None) -> pd.DataFrame:
    version = _frame_version(store, version)
    df = _to_frame(store.sample_table(version), store.SAMPLE_TABLE_COLUMNS)
    df.attrs["version"] = version  # the student whose pass rates it shows (the default one when asked for None)
    return df


def _to_frame(parts: tuple[list[tuple], list[tuple]], names: tuple) -> pd.DataFrame:
    """The frame of store.sample_table's (samples, pass rates)."""
    rows, rates = parts
    if not rows:
        df = pd.DataFrame(columns=list(names))
        for c in ("n", "n_correct", "pass_rate"):
            df[c] = pd.Series(dtype=float)
        return df
    # column by column, each with its dtype given (a frame built from row tuples infers every column from
    # a 2-D object array first: about twice the time at 20k samples)
    cols = dict(zip(names, zip(*rows)))
    data = {}
    for name in names[:-2]:
        col = cols[name]
        if name in ("id", "round"):
            data[name] = np.fromiter(col, dtype=np.int64, count=len(rows))
        elif name in ("parent_id", "agreement"):
            data[name] = np.array(col, dtype=float)  # None -> NaN (no parent)
        else:
            data[name] = pd.array(col, dtype="str")
    n, k = np.full(len(rows), np.nan), np.full(len(rows), np.nan)  # NaN: not measured
    if rates:
        r = np.array(rates, dtype=float).reshape(-1, 3)
        ids = data["id"]
        at = np.searchsorted(ids, r[:, 0].astype(np.int64))
        ok = (at < len(ids)) & (ids[np.minimum(at, len(ids) - 1)] == r[:, 0])
        n[at[ok]], k[at[ok]] = r[ok, 1], r[ok, 2]
    data["n"], data["n_correct"] = n, k
    with np.errstate(invalid="ignore", divide="ignore"):
        data["pass_rate"] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    return pd.DataFrame(data, copy=False)


def _refreshed(store: RunStore, old: pd.DataFrame, version: str | None, changed: list[int]) -> pd.DataFrame | None:
    """`old` with the rows of `changed` read again (added where new, left out where gone), in id order; None
    when the frame cannot be patched (the default student changed with the data: read it in full)."""
    version = _frame_version(store, version)
    if "version" not in old.attrs or old.attrs["version"] != version:
        return None
    if not changed:
        return old
    fresh = _to_frame(store.sample_table(version, changed), store.SAMPLE_TABLE_COLUMNS)
    ids = old["id"].to_numpy()
    keep = ~np.isin(ids, np.asarray(changed, dtype=np.int64))
    if not len(fresh):
        df = old[keep]
    else:
        df = pd.concat([old[keep], fresh], ignore_index=True)
        if len(df) > 1 and not (np.diff(df["id"].to_numpy()) > 0).all():
            df = df.sort_values("id", kind="stable")
    df = df.reset_index(drop=True)
    df.attrs = dict(old.attrs)
    return df


def has_snapshot(store: RunStore) -> bool:
    """Whether the run's sample frame was kept beside it (then a new process need not read every sample)."""
    return _snapshot_path(store, None).exists()


def forget() -> None:
    """Forget the frames and versions kept in this process; snapshots on disk stay."""
    _FRAME_CACHE.clear()
    _SNAPSHOT_SEQ.clear()
    _VERSIONS_CACHE.clear()


PREPARE_FROM = 2000  # samples: below this a full read is quick, and no snapshot is made by the CLI


def prepare(store: RunStore, min_samples: int | None = None) -> bool:
    """Leave the run ready for its first showing in the app: the snapshots of the sample frame and of the
    student's majority answers, up to date (the CLI does this after a command that wrote to a big run; they
    are written before this returns, as the process is about to end). True if anything was written."""
    if store.n_samples() < (PREPARE_FROM if min_samples is None else min_samples):
        return False
    from . import triage

    made = False
    store_id, seq = store.samples_version()[:2]
    df = _frame(store, None)  # from the snapshot and the log, or read in full (then written as the snapshot)
    if seq is not None and _SNAPSHOT_SEQ.get((str(store.path), None), -1) < seq:
        _write_snapshot(store, None, store_id, seq, df)
        _SNAPSHOT_SEQ[(str(store.path), None)] = seq
        made = True
    version = df.attrs.get("version")
    if version:
        epoch = store.answer_summary_version()
        stats = triage.answer_stats(store, version)  # likewise: its snapshot, then the rows since, or in full
        key = triage._stats_key(store, version)
        taken = triage._STATS_SNAPSHOT.get(key)
        if taken is None or taken[0] < epoch:
            snapshots.write(snapshots.path_for(store.path, "answer-stats", version), stats, store_id,
                            {"epoch": str(epoch)}, index="sample_id")
            triage._STATS_SNAPSHOT[key] = (epoch, 0)
            made = True
    snapshots.flush()
    return made
