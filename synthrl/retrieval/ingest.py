"""Ingest the expert's own documents into a run: files and folders -> chunks in the store.

Each file is read (see readers.py), split with a LlamaIndex SentenceSplitter and
stored as chunks that keep their source file and page or row. A file is known
by its path and content hash: re-ingesting an unchanged file adds nothing, a
changed file replaces its chunks, and a file that cannot be read is reported by
name with the reason while the other files are ingested.

Every file fails alone: any error while reading or splitting one file is that
file's reason, recorded on its document row, and the next ingest retries it. A
file is recorded "ok" only after its chunks are stored, so an ingest cut short
never leaves a file that later ingests skip as "unchanged". Long texts are cut
into bounded segments before the SentenceSplitter sees them, and text that is
not prose (long runs with no space or punctuation) is cut by characters, so
splitting stays linear in the file's size.

    report = ingest(store, ["docs/", "notes.pdf"])
    report.ok, report.failed     # per-file results
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..records import Chunk
from .readers import SUPPORTED, ReadError, read_document

DEFAULT_CHUNK_SIZE = 512
DEFAULT_CHUNK_OVERLAP = 64
#: the longest piece of text handed to the SentenceSplitter at once (characters)
SEGMENT_CHARS = 100_000
#: shown on a document row while its chunks are being written; an interrupted ingest leaves it there
INTERRUPTED = "ingest was interrupted before this file's chunks were stored; ingest again"
#: starts the note on a row whose earlier version stays searchable because the changed file failed
CHANGED_FAILED = "the changed file could not be ingested"
# Characters the SentenceSplitter can split at before it falls back to one character at a time.
_BREAKS = str.maketrans({c: " " for c in ",.;:!?。，、；：！？"})


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: added | updated | unchanged | failed.

    `warning` names what was skipped in a file that was otherwise ingested (bad JSONL lines, a CSV quote).
    """

    path: str
    status: str
    chunks: int = 0
    reason: str | None = None
    warning: str | None = None


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
    def warned(self) -> list[FileResult]:
        return [f for f in self.files if f.warning]

    @property
    def chunks_added(self) -> int:
        return sum(f.chunks for f in self.files if f.status in ("added", "updated"))

    def summary(self) -> str:
        by: dict[str, int] = {}
        for f in self.files:
            by[f.status] = by.get(f.status, 0) + 1
        parts = [f"{n} {s}" for s, n in sorted(by.items())]
        if self.warned:
            parts.append(f"{len(self.warned)} with warnings")
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


def _segments(text: str, limit: int) -> Iterator[str]:
    """Consecutive pieces of `text`, each at most `limit` characters, that join back to `text`.

    A piece ends at the last paragraph break, line break, sentence end or space in the second
    half of its window, else exactly at the limit. Plain `str.rfind` over each window: linear
    time, whatever the text looks like.
    """
    start, n = 0, len(text)
    while n - start > limit:
        end = start + limit
        cut = end
        for sep in ("\n\n", "\n", ". ", " "):
            k = text.rfind(sep, start + limit // 2, end)
            if k != -1:
                cut = k + len(sep)
                break
        yield text[start:cut]
        start = cut
    if start < n:
        yield text[start:]


def split_bounded(splitter, text: str, chunk_size: int) -> Iterator[str]:
    """Chunks of `text`: the SentenceSplitter on segments of at most SEGMENT_CHARS characters.

    A segment holding a run longer than `chunk_size` characters with no space or punctuation is
    not prose (minified data, base64, a text without separators); the SentenceSplitter would split
    it one character at a time, so it is cut into pieces of at most `chunk_size` characters instead.
    """
    for segment in _segments(text, SEGMENT_CHARS):
        longest = max(map(len, segment.translate(_BREAKS).split()), default=0)
        if longest > chunk_size:
            yield from _segments(segment, chunk_size)
        else:
            yield from splitter.split_text(segment)


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
        result = _ingest_one(store, splitter, path, name, problem, known, text_column, chunk_size)
        report.files.append(result)
        if progress:
            progress(i + 1, len(items), name)
    store.log("ingest", report.summary(), files=len(report.files), failed=len(report.failed),
              chunks_added=report.chunks_added)
    for f in report.failed:
        store.log("ingest", f"skipped {f.path}: {f.reason}", level="warning")
    return report


def _ingest_one(store, splitter, path: Path, name: str, problem: str | None, known: dict,
                text_column: str | None, chunk_size: int) -> FileResult:
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
        if (prev["error"] or "").startswith(CHANGED_FAILED):
            # The file is back to the version its chunks came from: the failure note no longer applies.
            store.upsert_document(key, sha, "ok", n_chunks=prev["n_chunks"])
        return FileResult(name, "unchanged", chunks=0)
    try:
        doc = read_document(path, text_column=text_column)
        warning = "; ".join(doc.warnings) or None
        pieces = [(piece, sec.page, sec.row) for sec in doc.sections
                  for piece in split_bounded(splitter, sec.text, chunk_size) if piece.strip()]
        if not pieces:
            raise ReadError("no text found in the file")
    except Exception as e:  # noqa: BLE001 - one file's failure, whatever it is, must not stop the others
        reason = str(e) if isinstance(e, ReadError) else f"could not read or split it ({type(e).__name__}: {e})"
        return _failed(store, key, name, sha, prev, reason)
    try:
        # Recorded "ok" only once the chunks are stored: until then the row says the ingest is unfinished,
        # so a process killed here leaves a row the next ingest retries instead of skipping as unchanged.
        doc_id = store.upsert_document(key, None, "indexing", error=INTERRUPTED,
                                       n_chunks=prev["n_chunks"] if prev else 0)
        chunks = []
        for pos, (piece, page, row) in enumerate(pieces):
            cid = hashlib.sha256(f"{key}\0{pos}\0{piece}".encode()).hexdigest()[:20]
            chunks.append(Chunk(cid, doc_id, piece, name, page=page, row=row, position=pos))
        store.replace_chunks(doc_id, chunks)
        store.upsert_document(key, sha, "ok", error=warning, n_chunks=len(chunks))
    except Exception as e:  # noqa: BLE001 - e.g. a full disk: this file failed, the next may still fit
        return _failed(store, key, name, sha, None, f"could not store its chunks ({type(e).__name__}: {e})")
    if warning:
        store.log("ingest", f"{name}: {warning}", level="warning")
    return FileResult(name, "updated" if prev else "added", chunks=len(chunks), warning=warning)


def _failed(store, key: str, name: str, sha: str, prev: dict | None, reason: str) -> FileResult:
    """Record a file that could not be ingested, so the document list shows why and the next ingest retries it."""
    try:
        return _record_failure(store, key, name, sha, prev, reason)
    except Exception as e:  # noqa: BLE001 - the store itself failing must not hide the file's own reason
        return FileResult(name, "failed", reason=f"{reason}; could not record it in the run store either "
                                                 f"({type(e).__name__}: {e})")


def _record_failure(store, key: str, name: str, sha: str, prev: dict | None, reason: str) -> FileResult:
    if prev and prev["status"] == "ok":
        # The earlier, readable version stays searchable and keeps its hash, so the next ingest tries the
        # new one again; the row says what went wrong now.
        reason += f" (kept the {prev['n_chunks']} chunks of the earlier version)"
        store.upsert_document(key, prev["sha256"], "ok", error=f"{CHANGED_FAILED}: {reason}",
                              n_chunks=prev["n_chunks"])
    else:
        doc_id = store.upsert_document(key, sha, "error", error=reason)
        # chunks left by an interrupted or failed store: the row says the file failed, so none of it is searchable
        store.replace_chunks(doc_id, [])
    return FileResult(name, "failed", reason=reason)


__all__ = ["FileResult", "IngestReport", "ingest", "split_bounded", "SUPPORTED"]
