"""The dense index of a run: chunk embeddings in LanceDB, through LlamaIndex's LanceDB vector store.

LanceDB is an embedded database (Rust, columnar files on disk): a query scans or
indexes the vectors where they lie, and opening a table reads no vectors, so a
reload costs the same at 2k chunks as at 1M. The same code talks to a LanceDB
server (LanceDB Cloud / Enterprise, `db://...`) or to object storage
(`s3://...`, `gs://...`) when the URI says so:

    SYNTHRL_VECTOR_DB=db://my-team-db  SYNTHRL_VECTOR_DB_API_KEY=...  synthrl generate myrun
    SYNTHRL_VECTOR_DB=s3://bucket/synthrl-vectors                     synthrl generate myrun

Without SYNTHRL_VECTOR_DB a run keeps its vectors under <run>/index/lancedb.

The index is kept in step with the run's chunks incrementally. A chunk id is a
hash of its file, position and text (see ingest.py), so `sync` embeds only the
chunks whose id the table lacks and deletes the rows whose chunk is gone: an
unchanged file costs nothing, a changed file replaces its chunks. A run whose
dense index was persisted the old way (LlamaIndex SimpleVectorStore JSON under
index/dense) is migrated on first use, reusing its stored vectors.

    dense = DenseIndex.open(store)              # syncs with store.chunks()
    dense.embedded, dense.deleted               # what the sync changed
    dense.retriever(k=5).retrieve("apple stock")
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..records import Chunk

#: URI of the vector database; unset: a LanceDB folder inside the run
ENV_URI = "SYNTHRL_VECTOR_DB"
#: API key for a LanceDB server (db://...); LANCE_API_KEY is read too, as LanceDB itself does
ENV_API_KEY = "SYNTHRL_VECTOR_DB_API_KEY"
#: region of a LanceDB Cloud database
ENV_REGION = "SYNTHRL_VECTOR_DB_REGION"
LOCAL_TABLE = "chunks"
#: chunks embedded and written per batch (bounds memory on a large library)
BATCH = 2048
_SCHEMES = ("db://", "s3://", "gs://", "az://", "s3+ddb://", "memory://")


@dataclass(frozen=True)
class VectorDBSettings:
    """Where a run's vectors live: a local folder, object storage or a LanceDB server."""

    uri: str
    table: str
    api_key: str | None = None
    region: str | None = None

    @property
    def remote(self) -> bool:
        return self.uri.startswith("db://")

    @property
    def local_dir(self) -> Path | None:
        return None if self.uri.startswith(_SCHEMES) else Path(self.uri)

    def __repr__(self) -> str:  # never print the key
        return f"VectorDBSettings(uri={self.uri!r}, table={self.table!r}, api_key={'***' if self.api_key else None})"


def settings_for(store, uri: str | None = None) -> VectorDBSettings:
    """The vector database for `store`'s run: `uri`, else $SYNTHRL_VECTOR_DB, else <run>/index/lancedb.

    A shared database (any URI given) holds one table per run, named after the run.
    """
    uri = uri or os.environ.get(ENV_URI) or None
    if uri is None:
        return VectorDBSettings(str(store.dir / "index" / "lancedb"), LOCAL_TABLE)
    table = "synthrl_" + "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in store.name)
    return VectorDBSettings(uri, table, api_key=os.environ.get(ENV_API_KEY) or os.environ.get("LANCE_API_KEY"),
                            region=os.environ.get(ENV_REGION) or None)


def open_vector_store(settings: VectorDBSettings):
    """The LlamaIndex LanceDBVectorStore for these settings (the table is created by the first add)."""
    os.environ.setdefault("LANCE_LOG", "error")  # lance's Rust notes ("creating dataset ...") stay off stderr
    from llama_index.vector_stores.lancedb import LanceDBVectorStore

    kw = {"api_key": settings.api_key} if settings.api_key else {}
    if settings.region:
        kw["region"] = settings.region
    if settings.local_dir is not None:
        settings.local_dir.mkdir(parents=True, exist_ok=True)
    # "overwrite" only applies when the table does not exist yet: it lets the first add create it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the integration lists tables with a deprecated call
        return LanceDBVectorStore(uri=settings.uri, table_name=settings.table, mode="overwrite", **kw)


def chunk_nodes(chunks: Iterable[Chunk], vectors=None):
    """LlamaIndex TextNodes for chunks (source, doc_id, page, row as metadata, not embedded)."""
    from llama_index.core.schema import TextNode

    nodes = []
    for i, c in enumerate(chunks):
        meta = {"source": c.source, "doc_id": c.doc_id}
        if c.page is not None:
            meta["page"] = c.page
        if c.row is not None:
            meta["row"] = c.row
        nodes.append(TextNode(id_=c.id, text=c.text, metadata=meta, embedding=None if vectors is None else
                              [float(x) for x in vectors[i]], excluded_embed_metadata_keys=list(meta),
                              excluded_llm_metadata_keys=list(meta)))
    return nodes


def _quoted(ids: list[str]) -> str:
    return ", ".join("'" + i.replace("'", "''") + "'" for i in ids)


@contextlib.contextmanager
def _file_lock(path: Path | None):
    """One sync at a time per local index across processes (two would both add the same chunks)."""
    if path is None:
        yield
        return
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class DenseIndex:
    """A run's chunk embeddings in a LanceDB table, queried through LlamaIndex."""

    def __init__(self, settings: VectorDBSettings, embed_model=None):
        self.settings = settings
        self.vector_store = open_vector_store(settings)
        self._embed = embed_model
        self.embedded = 0
        self.deleted = 0
        self.migrated = 0
        self._index = None
        self._scan = None  # (table version, in-memory copy for the exhaustive scan)

    @classmethod
    def open(cls, store, chunks: list[Chunk] | None = None, fingerprint: str | None = None,
             uri: str | None = None, legacy_dir: Path | None = None, rebuild: bool = False,
             embed_model=None) -> "DenseIndex":
        """The run's dense index, brought in step with its chunks (see `sync`); `rebuild` starts it afresh.

        `embed_model` (a LlamaIndex embedding) defaults to the bundled MiniLM.
        """
        from .embed import get_embed_model

        index = cls(settings_for(store, uri), embed_model or get_embed_model())
        if rebuild:
            index.drop()
        chunks = store.chunks() if chunks is None else chunks
        index.sync(chunks, fingerprint, legacy_dir=legacy_dir if legacy_dir is not None
                   else store.dir / "index" / "dense", log=store.log)
        return index

    def drop(self) -> None:
        """Delete the table (the next sync embeds every chunk again)."""
        if self._table is not None:
            self.vector_store.client.drop_table(self.settings.table)
            self.vector_store._table = None
        if self._state_file() is not None:
            self._state_file().unlink(missing_ok=True)

    @property
    def _table(self):
        return self.vector_store._table  # None until the first add

    def ids(self) -> set[str]:
        t = self._table
        if t is None:
            return set()
        if hasattr(t, "to_lance"):
            return set(t.to_lance().to_table(columns=["id"]).column("id").to_pylist())
        return set(t.search().select(["id"]).limit(None).to_arrow().column("id").to_pylist())

    def __len__(self) -> int:
        return 0 if self._table is None else self._table.count_rows()

    def _state_file(self) -> Path | None:
        d = self.settings.local_dir
        return None if d is None else d / f"{self.settings.table}.synced.json"

    def _synced_fp(self) -> str | None:
        f = self._state_file()
        try:
            return json.loads(f.read_text())["fingerprint"] if f else None
        except (OSError, ValueError, KeyError):
            return None

    def sync(self, chunks: list[Chunk], fingerprint: str | None = None, legacy_dir: Path | None = None,
             log=None) -> "DenseIndex":
        """Embed the chunks the table lacks and delete the rows of chunks that are gone.

        `fingerprint` (of the chunk ids) skips the comparison when it matches the last sync's.
        """
        lock = None if self.settings.local_dir is None else self.settings.local_dir / f"{self.settings.table}.lock"
        with _file_lock(lock):
            if fingerprint is not None and self._table is not None and self._synced_fp() == fingerprint:
                return self
            have = self.ids()
            if not have and legacy_dir is not None:
                have = self._migrate(legacy_dir, chunks, log)
            wanted = {c.id for c in chunks}
            gone = sorted(have - wanted)
            for i in range(0, len(gone), 1000):
                self._table.delete(f"id IN ({_quoted(gone[i:i + 1000])})")
            new = [c for c in chunks if c.id not in have]
            for i in range(0, len(new), BATCH):
                batch = new[i:i + BATCH]
                vecs = self._embed.get_text_embedding_batch([c.text for c in batch])
                self.add(batch, vecs)
            self.deleted, self.embedded = len(gone), len(new)
            if (gone or new) and hasattr(self._table, "optimize"):
                # compact the small fragments appends and deletes leave behind (queries scan fewer files)
                self._table.optimize()
            if fingerprint is not None and self._state_file() is not None:
                self._state_file().write_text(json.dumps({"fingerprint": fingerprint, "n_chunks": len(chunks)}))
        return self

    def add(self, chunks: list[Chunk], vectors) -> None:
        """Write chunks with their (precomputed) vectors; the benchmark uses this with synthetic ones."""
        self.vector_store.add(chunk_nodes(chunks, vectors))

    def _migrate(self, legacy_dir: Path, chunks: list[Chunk], log) -> set[str]:
        """Copy the vectors of an old SimpleVectorStore JSON index into the table, then remove the old folder."""
        f = legacy_dir / "default__vector_store.json"
        if not f.is_file():
            return set()
        try:
            emb = json.loads(f.read_text()).get("embedding_dict") or {}
        except (OSError, ValueError) as e:
            if log:
                log("retrieval", f"old dense index in {legacy_dir} is unreadable ({e}); re-embedding the chunks",
                    level="warning")
            return set()
        keep = [c for c in chunks if c.id in emb]
        for i in range(0, len(keep), BATCH):
            batch = keep[i:i + BATCH]
            self.add(batch, [emb[c.id] for c in batch])
        self.migrated = len(keep)
        if log:
            log("retrieval", f"migrated the dense index from the old JSON store ({legacy_dir.name}/) to LanceDB: "
                             f"{len(keep)} stored vectors reused, {len(chunks) - len(keep)} chunks to embed")
        shutil.rmtree(legacy_dir, ignore_errors=True)
        return {c.id for c in keep}

    def retriever(self, k: int = 5):
        """A LlamaIndex retriever: a local table is searched in memory (exhaustive cosine, numpy); a
        remote database through LlamaIndex's VectorIndexRetriever over the LanceDB store."""
        if not self.settings.remote:
            return _scan_retriever(self, k)
        from llama_index.core import VectorStoreIndex

        if self._index is None:
            self._index = VectorStoreIndex.from_vector_store(self.vector_store, embed_model=self._embed)
        return self._index.as_retriever(similarity_top_k=k)

    def _matrix(self):
        """(ids, unit-length vectors, texts, metadata columns) of the table, cached per table version.

        An exhaustive scan in numpy is one matrix-vector product: at 100k chunks x 384 dims a few
        milliseconds, where LanceDB's own unindexed scan took ~65 ms (bench/retrieval.py).
        """
        import numpy as np

        t = self._table
        if t is None:
            return None
        ds = t.to_lance()
        if self._scan is not None and self._scan[0] == ds.version:
            return self._scan[1]
        tab = ds.to_table(columns=["id", "vector", "text", "metadata"])
        n = tab.num_rows
        flat = tab.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        mat = np.asarray(flat, dtype=np.float32).reshape(n, -1) if n else np.zeros((0, 1), np.float32)
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        # metadata stays in arrow; only the k rows a query returns are turned into nodes
        data = (tab.column("id").to_pylist(), mat / norms, tab.column("text").to_pylist(),
                tab.column("metadata").combine_chunks())
        self._scan = (ds.version, data)
        return data


def _scan_retriever(index: "DenseIndex", k: int):
    """A LlamaIndex retriever that scans the index's in-memory vectors (see DenseIndex._matrix)."""
    import numpy as np
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.core.vector_stores.utils import metadata_dict_to_node

    class ScanRetriever(BaseRetriever):
        def _retrieve(self, query_bundle):
            data = index._matrix()
            if data is None or not data[0]:
                return []
            ids, mat, texts, meta = data
            emb = query_bundle.embedding or index._embed.get_query_embedding(query_bundle.query_str)
            q = np.asarray(emb, dtype=np.float32)
            q /= float(np.linalg.norm(q)) or 1.0
            scores = mat @ q
            top_k = min(k, len(ids))
            top = np.argpartition(-scores, top_k - 1)[:top_k]
            top = top[np.argsort(-scores[top], kind="stable")]
            out = []
            for i in top.tolist():
                md = meta[i].as_py() or {}
                try:  # the node exactly as stored (same id, metadata and hash as BM25's, for fusion)
                    node = metadata_dict_to_node(md, text=texts[i] or "")
                except Exception:  # noqa: BLE001 - a row without LlamaIndex's node payload
                    node = TextNode(id_=ids[i], text=texts[i] or "",
                                    metadata={k: v for k, v in md.items() if not k.startswith("_") and v is not None})
                out.append(NodeWithScore(node=node, score=float(scores[i])))
            return out

    return ScanRetriever()
