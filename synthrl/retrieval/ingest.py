"""Ingest the expert's own documents into a run: files and folders -> chunks in the store.

Each file is read (see readers.py), split with a LlamaIndex SentenceSplitter and
stored as chunks that keep their source file and page or row. A file is known
by its path and content hash: re-ingesting an unchanged file adds nothing, a
changed file replaces its chunks, and a file that cannot be read is reported by
name with the reason while the other files are ingested.

    report = ingest(store, ["docs/", "notes.pdf"])
    report.ok, report.failed     # per-file results
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..records import Chunk
from .readers import SUPPORTED, ReadError, read_file

DEFAULT_CHUNK_SIZE = 512
DEFAULT_CHUNK_OVERLAP = 64


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: added | updated | unchanged | failed."""

    path: str
    status: str
    chunks: int = 0
    reason: str | None = None


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> list[FileResult]:
        return [f for f in self.files if f.status != "failed"]

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def chunks_added(self) -> int:
        return sum(f.chunks for f in self.files if f.status in ("added", "updated"))

    def summary(self) -> str:
        by: dict[str, int] = {}
        for f in self.files:
            by[f.status] = by.get(f.status, 0) + 1
        parts = [f"{n} {s}" for s, n in sorted(by.items())]
        return f"{len(self.files)} file(s): " + (", ".join(parts) or "none") + f"; {self.chunks_added} new chunks"


def _expand(paths: Iterable[str | Path]) -> list[tuple[Path, str, str | None]]:
    """(file, display name, problem) for every file under the given paths, folders walked in order."""
    out: list[tuple[Path, str, str | None]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            files = sorted(f for f in p.rglob("*")
                           if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not files:
                out.append((p, str(raw), "folder has no files"))
            for f in files:
                out.append((f, str(Path(p.name) / f.relative_to(p)), None))
        elif p.is_file():
            out.append((p, p.name, None))
        else:
            out.append((p, str(raw), "no such file or folder"))
    return out


def _splitter(chunk_size: int, chunk_overlap: int):
    from llama_index.core.node_parser import SentenceSplitter

    if chunk_overlap >= chunk_size:
        raise ValueError(f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})")
    return SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)


def ingest(store, paths: Iterable[str | Path], progress: Callable[[int, int, str], None] | None = None,
           text_column: str | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
           chunk_overlap: int = DEFAULT_CHUNK_OVERLAP) -> IngestReport:
    """Ingest files and folders into `store`; never stops at a bad file.

    progress(done, total, name) is called after each file.
    """
    splitter = _splitter(chunk_size, chunk_overlap)
    items = _expand(paths)
    report = IngestReport()
    known = {d["path"]: d for d in store.documents()}
    for i, (path, name, problem) in enumerate(items):
        result = _ingest_one(store, splitter, path, name, problem, known, text_column)
        report.files.append(result)
        if progress:
            progress(i + 1, len(items), name)
    store.log("ingest", report.summary(), files=len(report.files), failed=len(report.failed),
              chunks_added=report.chunks_added)
    for f in report.failed:
        store.log("ingest", f"skipped {f.path}: {f.reason}", level="warning")
    return report


def _ingest_one(store, splitter, path: Path, name: str, problem: str | None, known: dict,
                text_column: str | None) -> FileResult:
    if problem:
        return FileResult(name, "failed", reason=problem)
    key = str(path.resolve())
    try:
        data = path.read_bytes()
    except OSError as e:
        return FileResult(name, "failed", reason=f"cannot read file: {e.strerror or e}")
    sha = hashlib.sha256(data).hexdigest()
    prev = known.get(key)
    if prev and prev["sha256"] == sha and prev["status"] == "ok":
        return FileResult(name, "unchanged", chunks=0)
    try:
        sections = read_file(path, text_column=text_column)
    except ReadError as e:
        reason = str(e)
        if prev and prev["status"] == "ok":
            # The earlier, readable version stays searchable; the row says what went wrong now.
            reason += f" (kept the {prev['n_chunks']} chunks of the earlier version)"
            store.log("ingest", f"{name}: {reason}", level="warning")
        else:
            store.upsert_document(key, sha, "error", error=reason)
        return FileResult(name, "failed", reason=reason)
    doc_id = store.upsert_document(key, sha, "ok")
    chunks: list[Chunk] = []
    for sec in sections:
        for piece in splitter.split_text(sec.text):
            if not piece.strip():
                continue
            pos = len(chunks)
            cid = hashlib.sha256(f"{key}\0{pos}\0{piece}".encode()).hexdigest()[:20]
            chunks.append(Chunk(cid, doc_id, piece, name, page=sec.page, row=sec.row, position=pos))
    store.replace_chunks(doc_id, chunks)
    return FileResult(name, "updated" if prev else "added", chunks=len(chunks))


__all__ = ["FileResult", "IngestReport", "ingest", "SUPPORTED"]
