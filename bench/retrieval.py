"""Retrieval: index build time and median query time per mode, on synthetic chunks.

Vector store at scale (--vector-sizes, default 100k): synthetic unit vectors
written straight into the run's LanceDB table (no embedding), then the median
vector-store query (precomputed query vector, k=5), the dense LlamaIndex retriever
(same vector), hybrid (BM25 + dense fusion; the MiniLM query embedding is timed
on its own line) and the reload (a new connection + first query). The old
SimpleVectorStore (JSON) is measured in the same run at --old-size (default 10k)
and extrapolated linearly to the largest vector size, labelled as such.

BM25 is measured at 10k and 100k chunks. Dense (MiniLM on the CPU) embeds every
chunk at build time; on a 2-core machine that is tens of chunks per second, so
dense and hybrid are measured at the sizes in --dense-sizes (default 2000) and
the build time at 10k/100k is printed as an extrapolation from the measured
embedding rate, labelled as such. A reload of the persisted index (no rebuild:
same fingerprint) is timed too.

    .venv/bin/python bench/retrieval.py [--sizes 10000 100000] [--dense-sizes 2000]
        [--vector-sizes 100000] [--old-size 10000]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from synthrl.records import Chunk  # noqa: E402
from synthrl.retrieval import get_retriever  # noqa: E402
from synthrl.store import RunStore  # noqa: E402

PLACES = ["bakery", "farm", "library", "market stall", "hardware shop", "school", "warehouse", "orchard", "zoo",
          "pharmacy", "toy store", "fish market", "garden centre", "bookshop", "dairy"]
THINGS = ["loaves", "sacks of potatoes", "picture books", "jars of honey", "boxes of nails", "glue sticks",
          "pallets of tiles", "baskets of plums", "penguins", "bottles of syrup", "kites", "crabs", "seed packets",
          "novels", "pints of milk", "crates of apples", "rolls of tape", "bunches of tulips"]


def chunk_text(rng: random.Random, i: int) -> str:
    p, a, b = rng.choice(PLACES), rng.choice(THINGS), rng.choice(THINGS)
    return (f"Record {i}: the {p} counted {rng.randint(10, 99)} {a} and {rng.randint(10, 99)} {b} on day "
            f"{rng.randint(1, 28)}. The {p} keeps a ledger and adds every delivery to the running total.")


def make_store(root: Path, n: int) -> RunStore:
    rng = random.Random(n)
    store = RunStore(root / f"n{n}" / "run.db")
    doc = store.upsert_document(f"/synthetic/{n}.txt", str(n), "ok")
    store.replace_chunks(doc, [Chunk(f"c{i:07d}", doc, chunk_text(rng, i), "synthetic.txt", position=i)
                               for i in range(n)])
    return store


def measure(store: RunStore, mode: str, queries: list[str]) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    r = get_retriever(store, mode=mode)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    r2 = get_retriever(store, mode=mode)
    reload = time.perf_counter() - t0
    assert r2.rebuilt == [], "the persisted index should be reused"
    times = []
    for q in queries:
        t0 = time.perf_counter()
        hits = r2.retrieve(q, k=5)
        times.append(time.perf_counter() - t0)
        assert hits
    return build, reload, statistics.median(times)


def _median_ms(fn, items) -> float:
    times = []
    for it in items:
        t0 = time.perf_counter()
        fn(it)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def unit_vectors(n: int, seed: int):
    import numpy as np

    v = np.random.default_rng(seed).standard_normal((n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def vector_scale(root: Path, n: int, queries: list[str], qvecs) -> None:
    """LanceDB at n chunks: write, vector-store query, dense and hybrid retrieve, reload."""
    from llama_index.core.schema import QueryBundle
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from synthrl.retrieval.embed import get_embed_model
    from synthrl.retrieval.index import fingerprint
    from synthrl.retrieval.vectordb import BATCH, DenseIndex, settings_for

    store = make_store(root, n)
    chunks, embed = store.chunks(), get_embed_model()
    vecs = unit_vectors(n, n)
    t0 = time.perf_counter()
    index = DenseIndex(settings_for(store), embed)
    for i in range(0, n, BATCH):
        index.add(chunks[i:i + BATCH], vecs[i:i + BATCH])
    index.sync(chunks, fingerprint(chunks))  # nothing to embed: records the fingerprint, compacts
    write = time.perf_counter() - t0
    assert index.embedded == 0 and len(index) == n
    vs_ms = _median_ms(lambda q: index.vector_store.query(VectorStoreQuery(query_embedding=q.tolist(),
                                                                            similarity_top_k=5)), qvecs)
    ret = index.retriever(k=5)
    dense_ms = _median_ms(lambda q: ret.retrieve(QueryBundle("q", embedding=q.tolist())), qvecs)
    t0 = time.perf_counter()
    again = DenseIndex(settings_for(store), embed).sync(chunks, fingerprint(chunks))
    again.vector_store.query(VectorStoreQuery(query_embedding=qvecs[0].tolist(), similarity_top_k=5))
    reload = time.perf_counter() - t0
    t0 = time.perf_counter()
    hybrid = get_retriever(store, mode="hybrid")  # builds BM25 once; the dense table is reused
    assert "dense" not in hybrid.rebuilt
    hybrid.retrieve(queries[0], k=5)
    hyb_ms = _median_ms(lambda q: hybrid.retrieve(q, k=5), queries)
    emb_ms = _median_ms(embed.get_query_embedding, queries)
    print(f"lancedb {n:>8} chunks: write {write:.1f} s, vector-store query {vs_ms:.2f} ms, dense retrieve "
          f"{dense_ms:.2f} ms, hybrid retrieve {hyb_ms:.2f} ms (incl. MiniLM query embedding {emb_ms:.2f} ms), "
          f"reload {reload:.2f} s", flush=True)
    store.close()


def old_simple_store(n: int, qvecs, largest: int) -> None:
    """The old dense index (SimpleVectorStore persisted as JSON) at n chunks, extrapolated to `largest`."""
    from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from synthrl.retrieval.embed import get_embed_model
    from synthrl.retrieval.vectordb import chunk_nodes

    rng = random.Random(n)
    chunks = [Chunk(f"c{i:07d}", 1, chunk_text(rng, i), "synthetic.txt", position=i) for i in range(n)]
    embed = get_embed_model()
    with tempfile.TemporaryDirectory() as tmp:
        VectorStoreIndex(chunk_nodes(chunks, unit_vectors(n, n)), embed_model=embed).storage_context.persist(tmp)
        t0 = time.perf_counter()
        index = load_index_from_storage(StorageContext.from_defaults(persist_dir=tmp), embed_model=embed)
        reload = time.perf_counter() - t0
        q_ms = _median_ms(lambda q: index.vector_store.query(VectorStoreQuery(query_embedding=q.tolist(),
                                                                               similarity_top_k=5)), qvecs[:5])
    f = largest / n
    print(f"simple  {n:>8} chunks: vector-store query {q_ms:.2f} ms, reload {reload:.2f} s (measured)")
    print(f"simple  {largest:>8} chunks: vector-store query ~{q_ms * f:.0f} ms, reload ~{reload * f:.0f} s "
          f"(NOT measured: linear extrapolation from {n})", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="chunk counts for BM25")
    ap.add_argument("--dense-sizes", type=int, nargs="*", default=[2_000], help="chunk counts for dense/hybrid")
    ap.add_argument("--vector-sizes", type=int, nargs="*", default=[100_000],
                    help="chunk counts for the LanceDB scale test (synthetic vectors)")
    ap.add_argument("--old-size", type=int, default=10_000, help="chunk count for the old SimpleVectorStore")
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(0)
    queries = [f"how many {rng.choice(THINGS)} at the {rng.choice(PLACES)}" for _ in range(args.queries)]
    print(f"synthetic chunks of ~35 words; median of {args.queries} queries, k=5; {os.cpu_count()} CPU cores")
    print(f"{'mode':<7} {'chunks':>8} {'build s':>9} {'reload s':>9} {'query ms':>9}")
    embed_rate = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            store = make_store(Path(tmp), n)
            b, rl, q = measure(store, "bm25", queries)
            print(f"{'bm25':<7} {n:>8} {b:>9.2f} {rl:>9.2f} {q * 1000:>9.2f}", flush=True)
            store.close()
        for n in args.dense_sizes:
            store = make_store(Path(tmp), n)
            from synthrl.retrieval.embed import get_embed_model

            get_embed_model()  # load time is not build time
            for mode in ("dense", "hybrid"):
                b, rl, q = measure(store, mode, queries)
                if mode == "dense":
                    embed_rate = n / b
                print(f"{mode:<7} {n:>8} {b:>9.2f} {rl:>9.2f} {q * 1000:>9.2f}", flush=True)
            store.close()
        if args.vector_sizes:
            qvecs = unit_vectors(args.queries, 7)
            for n in args.vector_sizes:
                vector_scale(Path(tmp), n, queries, qvecs)
            if args.old_size:
                old_simple_store(args.old_size, qvecs, max(args.vector_sizes))
    if embed_rate:
        print(f"dense build embeds ~{embed_rate:.0f} chunks/s here; NOT measured, extrapolated: "
              + ", ".join(f"{n} chunks ~{n / embed_rate / 60:.0f} min" for n in args.sizes)
              + " (use a GPU or precomputed embeddings for large libraries; BM25 needs no embedding)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
