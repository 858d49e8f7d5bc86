"""The LanceDB dense index: incremental sync, reload in a new process, the server setting, old-index migration."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding

from synthrl.records import Chunk
from synthrl.retrieval import get_retriever, ingest
from synthrl.retrieval import vectordb
from synthrl.retrieval.index import fingerprint
from synthrl.retrieval.vectordb import DenseIndex, VectorDBSettings, open_vector_store, settings_for


class WordHashEmbedding(BaseEmbedding):
    """A bag of hashed words as a unit vector; counts the texts it embedded."""

    texts_embedded: int = 0

    @staticmethod
    def _vec(text: str) -> list[float]:
        v = np.zeros(64, dtype=np.float32)
        for w in text.lower().split():
            v[int(hashlib.md5(w.strip(".,?").encode()).hexdigest(), 16) % 64] += 1.0
        return (v / max(float(np.linalg.norm(v)), 1e-9)).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        self.texts_embedded += 1
        return self._vec(text)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)


def chunks_of(doc_id: int, source: str, texts: list[str]) -> list[Chunk]:
    return [Chunk(hashlib.sha256(f"{source}\0{i}\0{t}".encode()).hexdigest()[:20], doc_id, t, source, position=i)
            for i, t in enumerate(texts)]


BAKERY = ["The bakery sold 23 loaves of rye bread.", "The bakery baked 41 baguettes on Tuesday."]
ZOO = ["The zoo feeds 19 penguins every morning.", "The zoo has 8 seals in the pool."]


def test_sync_embeds_only_new_chunks_and_deletes_gone_ones(store):
    embed = WordHashEmbedding()
    chunks = chunks_of(1, "bakery.txt", BAKERY) + chunks_of(2, "zoo.txt", ZOO)
    index = DenseIndex(settings_for(store), embed).sync(chunks, fingerprint(chunks))
    assert (index.embedded, index.deleted, len(index)) == (4, 0, 4)

    # unchanged: the fingerprint matches, nothing is read or embedded
    again = DenseIndex(settings_for(store), embed).sync(chunks, fingerprint(chunks))
    assert (again.embedded, again.deleted, embed.texts_embedded) == (0, 0, 4)

    # the zoo file changed: its old chunks go, only its new text is embedded
    changed = chunks_of(1, "bakery.txt", BAKERY) + chunks_of(2, "zoo.txt", ["The zoo now has 3 giraffes."])
    third = DenseIndex(settings_for(store), embed).sync(changed, fingerprint(changed))
    assert (third.embedded, third.deleted, embed.texts_embedded) == (1, 2, 5)
    assert third.ids() == {c.id for c in changed}
    hits = third.retriever(k=3).retrieve("penguins seals giraffes zoo")
    assert all("penguins" not in h.node.get_content() for h in hits)
    assert hits[0].node.get_content() == "The zoo now has 3 giraffes." and hits[0].node.metadata["source"] == "zoo.txt"


def test_reingest_costs_nothing_and_a_changed_file_replaces_its_chunks(store, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "bakery.txt").write_text(" ".join(BAKERY))
    (lib / "zoo.txt").write_text(" ".join(ZOO))
    ingest(store, [lib])
    first = get_retriever(store, mode="dense")
    assert first.rebuilt == ["dense"] and first._dense.embedded == len(store.chunks())

    ingest(store, [lib])
    second = get_retriever(store, mode="dense")
    assert second.rebuilt == [] and second._dense.embedded == 0

    old_zoo = {c.id for c in store.chunks() if c.source == "lib/zoo.txt"}
    (lib / "zoo.txt").write_text("The zoo now keeps 12 flamingos by the lake.")
    ingest(store, [lib])
    third = get_retriever(store, mode="dense")
    assert third._dense.embedded == 1 and third._dense.deleted == len(old_zoo)
    assert not (third._dense.ids() & old_zoo) and third._dense.ids() == {c.id for c in store.chunks()}
    top = third.retrieve("flamingos at the lake", k=1)[0]
    assert "flamingos" in top.text and top.source == "lib/zoo.txt"


def test_a_new_process_reloads_the_index_and_gets_the_same_results(store, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "bakery.txt").write_text(" ".join(BAKERY))
    (lib / "zoo.txt").write_text(" ".join(ZOO))
    ingest(store, [lib])
    query = "animals eating breakfast"
    here = {mode: [(p.chunk_id, round(p.score, 4)) for p in get_retriever(store, mode=mode).retrieve(query, k=3)]
            for mode in ("dense", "hybrid")}
    code = ("import json, sys; from synthrl.store import RunStore; from synthrl.retrieval import get_retriever\n"
            "s = RunStore.open('t', create=False); out = {}\n"
            "for m in ('dense', 'hybrid'):\n"
            "    r = get_retriever(s, mode=m)\n"
            f"    out[m] = {{'rebuilt': r.rebuilt, 'hits': [(p.chunk_id, round(p.score, 4)) for p in r.retrieve({query!r}, k=3)]}}\n"
            "print(json.dumps(out))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    there = json.loads(res.stdout.strip().splitlines()[-1])
    for mode in ("dense", "hybrid"):
        assert there[mode]["rebuilt"] == []
        assert [tuple(h) for h in there[mode]["hits"]] == here[mode]


def test_the_server_url_setting_is_honoured_by_the_factory(store, monkeypatch):
    local = settings_for(store)
    assert local.uri == str(store.dir / "index" / "lancedb") and local.local_dir is not None and not local.remote

    monkeypatch.setenv(vectordb.ENV_URI, "db://team-vectors")
    monkeypatch.setenv(vectordb.ENV_API_KEY, "sk-test")
    monkeypatch.setenv(vectordb.ENV_REGION, "eu-west-1")
    remote = settings_for(store)
    assert (remote.uri, remote.table, remote.api_key, remote.region) == ("db://team-vectors", "synthrl_t", "sk-test",
                                                                         "eu-west-1")
    assert remote.remote and remote.local_dir is None and "sk-test" not in repr(remote)
    assert settings_for(store, uri="s3://bucket/vectors").local_dir is None

    import lancedb

    calls = []

    class FakeConnection:
        def table_names(self, *a, **kw):
            return []

    def fake_connect(uri, **kw):
        calls.append((uri, kw))
        return FakeConnection()

    monkeypatch.setattr(lancedb, "connect", fake_connect)
    vs = open_vector_store(remote)
    assert calls == [("db://team-vectors", {"api_key": "sk-test", "region": "eu-west-1"})]
    assert vs._table_name == "synthrl_t" and vs._table is None  # created by the first add, on the server


def test_an_index_persisted_the_old_way_is_migrated_with_its_vectors(store):
    from llama_index.core import VectorStoreIndex

    from synthrl.retrieval.vectordb import chunk_nodes

    embed = WordHashEmbedding()
    chunks = chunks_of(1, "bakery.txt", BAKERY) + chunks_of(2, "zoo.txt", ZOO)
    doc = store.upsert_document("/lib/all.txt", "x", "ok")
    store.replace_chunks(doc, [Chunk(c.id, doc, c.text, c.source, position=i) for i, c in enumerate(chunks)])
    old = store.dir / "index" / "dense"
    VectorStoreIndex(chunk_nodes(chunks), embed_model=embed).storage_context.persist(persist_dir=str(old))
    assert embed.texts_embedded == 4

    index = DenseIndex.open(store, embed_model=embed)
    assert (index.migrated, index.embedded, embed.texts_embedded) == (4, 0, 4)
    assert not old.exists() and len(index) == 4
    assert any("migrated the dense index" in e.message for e in store.events("retrieval"))
    assert "penguins" in index.retriever(k=1).retrieve("penguins")[0].node.get_content()


def test_rebuild_starts_the_table_afresh(store):
    embed = WordHashEmbedding()
    chunks = chunks_of(1, "bakery.txt", BAKERY)
    DenseIndex(settings_for(store), embed).sync(chunks, fingerprint(chunks))
    doc = store.upsert_document("/lib/bakery.txt", "x", "ok")
    store.replace_chunks(doc, [Chunk(c.id, doc, c.text, c.source, position=i) for i, c in enumerate(chunks)])
    index = DenseIndex.open(store, rebuild=True, embed_model=embed)
    assert index.embedded == 2 and len(index) == 2


@pytest.mark.parametrize("uri", ["memory://", "s3://bucket/x", "gs://b/x", "az://c/x"])
def test_object_store_uris_are_not_local_folders(uri):
    assert VectorDBSettings(uri, "t").local_dir is None
