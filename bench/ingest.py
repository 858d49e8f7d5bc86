"""Ingest of one large .txt file: wall time, MB/s and chunk sizes, for prose and for a text with no breaks.

Two synthetic files of --mb megabytes each: "prose" (sentences and paragraphs) and "blob" (no space,
newline or punctuation at all, like minified data). Each is ingested into a fresh run store with
`synthrl.retrieval.ingest` (read, bounded split, store); the file is recorded "ok" only at the end.
The baseline is LlamaIndex's SentenceSplitter on the whole text, as ingest used it before: it is
timed on a small sample and extrapolated linearly to --mb (labelled as such), because on the blob
it splits one character at a time and would take far too long at full size.

    .venv/bin/python bench/ingest.py [--mb 50] [--kinds prose blob] [--chunk-size 512]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from synthrl.retrieval import ingest  # noqa: E402
from synthrl.retrieval.ingest import _splitter  # noqa: E402
from synthrl.store import RunStore  # noqa: E402

MB = 1_000_000
PLACES = ["bakery", "farm", "library", "market stall", "hardware shop", "school", "warehouse", "orchard"]
THINGS = ["loaves", "sacks of potatoes", "picture books", "jars of honey", "boxes of nails", "kites"]


def prose(n_chars: int) -> str:
    rng, parts, size = random.Random(0), [], 0
    while size < n_chars:
        s = (f"The {rng.choice(PLACES)} counted {rng.randint(10, 99)} {rng.choice(THINGS)} on day "
             f"{rng.randint(1, 28)}, and wrote it in the ledger.")
        s += "\n\n" if rng.random() < 0.1 else " "
        parts.append(s)
        size += len(s)
    return "".join(parts)[:n_chars]


def blob(n_chars: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    unit = "".join(alphabet[(i * 7) % len(alphabet)] for i in range(9973))
    return (unit * (n_chars // len(unit) + 1))[:n_chars]


MAKERS = {"prose": prose, "blob": blob}
SAMPLE = {"prose": 1 * MB, "blob": 50_000}  # baseline sample sizes (characters)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=50.0, help="file size in MB (default 50)")
    ap.add_argument("--kinds", nargs="+", choices=sorted(MAKERS), default=["prose", "blob"])
    ap.add_argument("--chunk-size", type=int, default=512)
    ap.add_argument("--chunk-overlap", type=int, default=64)
    args = ap.parse_args()
    n = int(args.mb * MB)
    splitter = _splitter(args.chunk_size, args.chunk_overlap)
    splitter.split_text("Warm the sentence tokenizer up. " * 200)
    print(f"{'file':<6} {'size':>8} {'ingest s':>9} {'MB/s':>7} {'chunks':>8} {'max chars':>9}   "
          "baseline: SentenceSplitter on the whole text")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            text = MAKERS[kind](n)
            f = Path(tmp) / f"{kind}.txt"
            f.write_text(text)
            store = RunStore(Path(tmp) / kind / "run.db")
            t0 = time.perf_counter()
            report = ingest(store, [f], chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap)
            dt = time.perf_counter() - t0
            (res,) = report.files
            if res.status != "added":
                print(f"{kind}: {res.status} {res.reason}")
                return 1
            longest = max(len(c.text) for c in store.chunks())
            doc = store.documents()[0]
            store.close()
            sample = text[:SAMPLE[kind]]
            t1 = time.perf_counter()
            splitter.split_text(sample)
            base = (time.perf_counter() - t1) * n / len(sample)
            print(f"{kind:<6} {n / MB:>6.1f}MB {dt:>9.1f} {n / MB / dt:>7.2f} {res.chunks:>8} {longest:>9}   "
                  f"~{base:,.0f} s (extrapolated from {len(sample) / MB:.2f} MB; x{base / dt:.1f}); "
                  f"row: {doc['status']}, {doc['n_chunks']} chunks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
