"""The Knowledge tab: documents, chunk counts and retrieved passages.

    df = documents_table(store)
"""
from __future__ import annotations

import pandas as pd

from synthrl.store import RunStore

from .common import _ago, _clip


# -- knowledge ------------------------------------------------------------------------------------
def documents_table(store: RunStore) -> pd.DataFrame:
    rows = [[d["path"].rsplit("/", 1)[-1], d["status"], d["n_chunks"], d.get("error") or "", _ago(d.get("added_at"))]
            for d in store.documents()]
    return pd.DataFrame(rows, columns=["file", "status", "chunks", "problem", "added"])


def knowledge_summary(store: RunStore) -> str:
    docs = store.documents()
    if not docs:
        return ("**No documents yet.** Upload .txt .md .pdf .html .docx .jsonl .csv files above and press *Ingest*. "
                "For the demo, press *Add the demo corpus*.")
    ok = sum(1 for d in docs if d["status"] == "ok")
    bad = [d for d in docs if d["status"] != "ok"]
    n_chunks = store.n_chunks()
    s = f"**{ok} of {len(docs)} documents ingested**, {n_chunks} chunks."
    if bad:
        s += f" {len(bad)} failed — see *problem* in the table; fix or remove those files and ingest again."
    return s


def passages_table(passages: list) -> pd.DataFrame:
    rows = [[i + 1, round(float(p.score), 4), p.source + (f" p.{p.page}" if p.page else "")
             + (f" row {p.row}" if p.row is not None else ""), _clip(p.text, 400)]
            for i, p in enumerate(passages)]
    return pd.DataFrame(rows, columns=["#", "score", "source", "passage"])
