"""Retrieval over a run's chunks: BM25, dense (MiniLM) and their fusion, on LlamaIndex.

BM25 persists under the run folder (index/bm25) with a fingerprint of the chunk
set it was built from and is rebuilt only when the chunks changed. The dense
index is a LanceDB table (vectordb.py: on disk in the run, or on a server named
by $SYNTHRL_VECTOR_DB) kept in step incrementally: only new chunks are embedded.

    r = get_retriever(store, mode="hybrid")        # "bm25" | "dense" | "hybrid"
    for p in r.retrieve("apple stock count", k=5):
        print(p.score, p.source, p.text[:80])
"""
from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

from ..records import Chunk, Passage
from .embed import configure_llama_settings
from .vectordb import DenseIndex, chunk_nodes

MODES = ("bm25", "dense", "hybrid")
_BUILD_LOCK = threading.Lock()


class RetrievalError(RuntimeError):
    """Retrieval cannot run (no documents yet, unknown mode); the message says what to do."""


def fingerprint(chunks: list[Chunk]) -> str:
    h = hashlib.sha256()
    for c in sorted(chunks, key=lambda c: c.id):
        h.update(c.id.encode())
        h.update(b"\0")
    return h.hexdigest()


def _read_fp(folder: Path) -> str | None:
    try:
        return json.loads((folder / "fingerprint.json").read_text())["fingerprint"]
    except (OSError, ValueError, KeyError):
        return None


def _publish(tmp: Path, folder: Path, fp: str, n: int) -> None:
    (tmp / "fingerprint.json").write_text(json.dumps({"fingerprint": fp, "n_chunks": n}))
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _bm25(folder: Path, chunks: list[Chunk], fp: str, rebuild: bool):
    from llama_index.retrievers.bm25 import BM25Retriever

    if not rebuild and _read_fp(folder) == fp:
        try:
            return BM25Retriever.from_persist_dir(str(folder)), False
        except Exception:  # noqa: BLE001 - a damaged index is rebuilt, not fatal
            pass
    r = BM25Retriever.from_defaults(nodes=chunk_nodes(chunks), similarity_top_k=min(10, len(chunks)))
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    r.persist(str(tmp))
    _publish(tmp, folder, fp, len(chunks))
    return r, True


class Retriever:
    """`retrieve(query, k) -> list[Passage]` over one run's chunks, in one mode."""

    def __init__(self, store, mode: str = "hybrid", rebuild: bool = False):
        if mode not in MODES:
            raise RetrievalError(f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}")
        configure_llama_settings()
        self.mode = mode
        chunks = store.chunks()
        if not chunks:
            raise RetrievalError(f"run {store.name} has no documents yet: add some with `synthrl ingest "
                                 f"{store.name} PATH...` (txt, md, pdf, html, docx, jsonl, csv)")
        self.n_chunks = len(chunks)
        self.fingerprint = fingerprint(chunks)
        self.rebuilt: list[str] = []
        root = store.dir / "index"
        with _BUILD_LOCK:
            self._bm25 = self._dense = None
            if mode in ("bm25", "hybrid"):
                self._bm25, built = _bm25(root / "bm25", chunks, self.fingerprint, rebuild)
                if built:
                    self.rebuilt.append("bm25")
            if mode in ("dense", "hybrid"):
                self._dense = DenseIndex.open(store, chunks, self.fingerprint, rebuild=rebuild)
                if self._dense.embedded or self._dense.deleted or self._dense.migrated:
                    self.rebuilt.append("dense")
        self._lock = threading.Lock()

    def _llama_retriever(self, k: int):
        if self.mode == "bm25":
            self._bm25.similarity_top_k = k
            return self._bm25
        dense = self._dense.retriever(k)
        if self.mode == "dense":
            return dense
        from llama_index.core.retrievers import QueryFusionRetriever

        self._bm25.similarity_top_k = k
        # One query (no LLM query rewriting), reciprocal rank fusion of BM25 and dense.
        return QueryFusionRetriever([self._bm25, dense], mode="reciprocal_rerank", similarity_top_k=k,
                                    num_queries=1, use_async=False)

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        if not query or not query.strip():
            raise RetrievalError("empty query")
        k = max(1, min(int(k), self.n_chunks))
        with self._lock:
            results = self._llama_retriever(k).retrieve(query)
        out = []
        for r in results[:k]:
            md = r.node.metadata or {}
            out.append(Passage(chunk_id=r.node.node_id, text=r.node.get_content(), source=md.get("source", ""),
                               score=float(r.score or 0.0), page=md.get("page"), row=md.get("row")))
        return out


def get_retriever(store, mode: str = "hybrid", rebuild: bool = False) -> Retriever:
    """A retriever over the run's chunks; loads the persisted index when the chunks did not change."""
    return Retriever(store, mode=mode, rebuild=rebuild)
