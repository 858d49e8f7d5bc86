"""The data at a glance: where a run's samples sit among themselves and in the documents.

Every sample question and every document passage is embedded once with the bundled MiniLM
(synthrl/retrieval/embed.py); vectors are cached in the run store keyed by a hash of the text,
so an unchanged text is never embedded twice. `update_map` projects them all to 2-D with PCA
(numpy only) and finds clusters of near-identical questions; the projection is stored too, so
the map renders from the store in milliseconds and never embeds anything itself. `coverage`
says how much of the documents the samples use and how spread their answers are.

    report = update_map(store)                 # embeds what is new, projects, finds near-duplicates
    fig = map_figure(store, color="pass rate") # plotly; the Map tab and `synthrl map RUN --out map.html`
    cov = coverage(store)                      # passages used / total, samples per document, answers
"""
from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from .store import RunStore

EMBED_MODEL = "all-MiniLM-L6-v2"
# Two questions this close (cosine of their embeddings) are "near-identical": the same question reworded.
DUPLICATE_COSINE = 0.95
COLOR_BY = ("pass rate", "status", "round", "origin")
EMBED_BATCH = 256


def text_hash(text: str | None) -> str:
    """The cache key of a text: its exact characters, hashed."""
    return hashlib.blake2b((text or "").encode("utf-8"), digest_size=12).hexdigest()


# -- embeddings (cached) --------------------------------------------------------------------------------
def ensure_embeddings(store: RunStore, texts: Iterable[str], embed: Callable[[list[str]], np.ndarray] | None = None,
                      progress: Callable[[int, int], None] | None = None) -> int:
    """Embed the texts the store has no vector for yet; returns how many were embedded now."""
    by_hash = {text_hash(t): t for t in texts}
    have = store.cached_embeddings(by_hash, EMBED_MODEL)
    todo = [(h, t) for h, t in by_hash.items() if h not in have]
    if not todo:
        return 0
    if embed is None:
        from .retrieval.embed import embed_texts as embed
    for i in range(0, len(todo), EMBED_BATCH):
        part = todo[i:i + EMBED_BATCH]
        vecs = np.asarray(embed([t for _, t in part]), dtype=np.float32)
        store.add_embeddings(EMBED_MODEL, [(h, int(v.shape[0]), v.tobytes()) for (h, _), v in zip(part, vecs)])
        if progress:
            progress(min(i + EMBED_BATCH, len(todo)), len(todo))
    return len(todo)


def _matrix(store: RunStore, hashes: list[str]) -> np.ndarray:
    raw = store.cached_embeddings(hashes, EMBED_MODEL)
    return np.stack([np.frombuffer(raw[h], dtype=np.float32) for h in hashes]) if hashes else np.zeros((0, 0))


# -- projection and near-duplicates ------------------------------------------------------------------------
def pca_2d(x: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows of `x` (signs fixed, so a refit does not mirror the map)."""
    if len(x) == 0:
        return np.zeros((0, 2))
    centred = x - x.mean(axis=0)
    if len(x) < 3:
        return np.column_stack([centred[:, 0] if centred.shape[1] else np.zeros(len(x)), np.zeros(len(x))])
    # eigenvectors of the covariance (d x d, d = 384): cheaper than an SVD of the n x d matrix
    cov = centred.T @ centred
    vals, vecs = np.linalg.eigh(cov)
    top = vecs[:, np.argsort(vals)[::-1][:2]]
    top *= np.where(top[np.abs(top).argmax(axis=0), [0, 1]] < 0, -1, 1)
    return centred @ top


def near_duplicate_groups(x: np.ndarray, threshold: float = DUPLICATE_COSINE, block: int = 2048) -> np.ndarray:
    """Group id per row (-1: no near-identical row); rows are unit vectors. Groups are connected components
    of the "cosine >= threshold" graph, computed block by block (never an n x n matrix in memory)."""
    n = len(x)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, n, block):
        sims = x[start:start + block] @ x.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows + start, cols):
            if r < c:
                a, b = find(int(r)), find(int(c))
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots = np.array([find(i) for i in range(n)]) if n else np.zeros(0, dtype=int)
    sizes = Counter(roots.tolist())
    return np.array([r if sizes[r] > 1 else -1 for r in roots.tolist()], dtype=int)


@dataclass(frozen=True)
class MapReport:
    """What `update_map` did."""

    samples: int
    passages: int
    embedded: int                 # texts embedded now (the rest came from the cache)
    duplicate_groups: int
    duplicate_samples: int
    seconds: float

    def summary(self) -> str:
        return (f"{self.samples} samples and {self.passages} passages on the map ({self.embedded} texts embedded "
                f"now, the rest from the cache); {self.duplicate_samples} samples in {self.duplicate_groups} "
                f"clusters of near-identical questions; {self.seconds:.1f}s")


def update_map(store: RunStore, embed: Callable[[list[str]], np.ndarray] | None = None,
               threshold: float = DUPLICATE_COSINE, progress: Callable[[int, int], None] | None = None) -> MapReport:
    """Embed new texts, refit the projection on every sample and passage, store it; see the module doc."""
    t0 = time.time()
    questions, passages = store.distinct_texts()
    embedded = ensure_embeddings(store, questions + passages, embed, progress)
    qh = list(dict.fromkeys(text_hash(q) for q in questions))
    ph = [h for h in dict.fromkeys(text_hash(p) for p in passages) if h not in set(qh)]
    x = _matrix(store, qh + ph)
    xy = pca_2d(x) if len(x) else np.zeros((0, 2))
    groups = near_duplicate_groups(x[:len(qh)], threshold) if len(qh) else np.zeros(0, dtype=int)
    rows = [(h, "sample", float(a), float(b), int(g) if g >= 0 else None)
            for h, (a, b), g in zip(qh, xy[:len(qh)], groups)]
    rows += [(h, "passage", float(a), float(b), None) for h, (a, b) in zip(ph, xy[len(qh):])]
    store.replace_map_points(rows)
    dup = groups[groups >= 0]
    report = MapReport(len(qh), len(ph), embedded, len(set(dup.tolist())), int(len(dup)), time.time() - t0)
    store.log("map", report.summary())
    return report


# -- what the map draws ---------------------------------------------------------------------------------------
def sample_frame(store: RunStore, version: str | None = None) -> pd.DataFrame:
    """Every sample with its pass rate under `version` (default: the base student, else the most measured
    one): synthrl.frame's frame, the one the app's views share. Treat as read-only."""
    from .frame import _frame

    return _frame(store, version)


_HASHES: dict[str, str] = {}


def _hashes(texts: list) -> list[str]:
    """text_hash of each text, remembered in this process (a pure function of the text: nothing to invalidate)."""
    memo = _HASHES
    if len(memo) > 400_000:
        memo.clear()
    out = [memo.get(t) for t in texts]
    for i, h in enumerate(out):
        if h is None:
            out[i] = memo[texts[i]] = text_hash(texts[i])
    return out


_PROJECTIONS: dict[tuple, tuple[pd.DataFrame, list]] = {}


def _projection(store: RunStore) -> tuple[pd.DataFrame, list]:
    """The stored projection: (samples' points indexed by text hash: x, y, dup) and the passages' rows.
    Kept in this process until the store's map_version changes (update_map replaces it)."""
    key = (str(store.path), store.meta("created_at"), store.map_version())
    hit = _PROJECTIONS.get(key)
    if hit is None:
        where = pd.DataFrame(store.map_points("sample"), columns=["hash", "x", "y", "dup"])
        where = where.drop_duplicates("hash").set_index("hash")
        hit = (where, store.map_points("passage"))
        for k in [k for k in _PROJECTIONS if k[:2] == key[:2]]:
            _PROJECTIONS.pop(k)
        if len(_PROJECTIONS) >= 4:
            _PROJECTIONS.pop(next(iter(_PROJECTIONS)))
        _PROJECTIONS[key] = hit
    return hit


def map_points(store: RunStore, samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(samples with x, y, dup; only those on the map) and (passages: x, y, used)."""
    where, pp = _projection(store)
    if not len(where) or not len(samples):
        return samples.head(0).assign(x=[], y=[], dup=[]), pd.DataFrame(columns=["x", "y", "used", "text"])
    at = where.index.get_indexer(_hashes(samples["question"].tolist()))
    keep = at >= 0
    on = samples[keep].copy()
    on["x"] = where["x"].to_numpy(dtype=float)[at[keep]]
    on["y"] = where["y"].to_numpy(dtype=float)[at[keep]]
    on["dup"] = where["dup"].to_numpy(dtype=float)[at[keep]]  # NaN: no near-identical question
    used = set(_hashes(store.used_passage_texts()))
    passages = pd.DataFrame([(x, y, h in used) for h, x, y, _ in pp], columns=["x", "y", "used"])
    return on, passages


_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!|~:>=<&]")


def _md(text: Any) -> str:
    """Text (a file name, a model-written answer) shown in Markdown as plain characters, never markup."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0) if m.group(0) not in "<&" else
                           {"<": "&lt;", "&": "&amp;"}[m.group(0)], str(text))


def _clip(text: Any, n: int = 110) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


_PLAIN = r"[!-~]+(?: [!-~]+)*"  # printable ASCII words, single spaces: what _clip leaves as it is (if short)


_CLIPS: dict[int, dict[str, str]] = {}


def _clip_all(texts: pd.Series, n: int = 110) -> np.ndarray:
    """_clip of every text as a str array, remembered in this process per length and text (a pure function:
    nothing to invalidate; a render at 20k samples looks them up instead of cutting them again)."""
    memo = _CLIPS.setdefault(n, {})
    if len(memo) > 400_000:
        memo.clear()
    values = texts.fillna("").astype(str).tolist()
    out = [memo.get(t) for t in values]
    todo = [i for i, c in enumerate(out) if c is None]
    if todo:
        cut = _clip_many(pd.Series([values[i] for i in todo], dtype=object), n)
        for i, c in zip(todo, cut.tolist()):
            out[i] = memo[values[i]] = c
    return np.asarray(out, dtype=str) if out else np.zeros(0, dtype=str)


def _clip_many(texts: pd.Series, n: int = 110) -> np.ndarray:
    """_clip of every text as a str array. Texts of printable ASCII words with single spaces (found in one
    vectorised match) are cut as _clip would cut them without a Python call each; any other text goes
    through _clip itself."""
    s = texts.fillna("").astype(str)
    plain = s.str.fullmatch(_PLAIN).to_numpy(dtype=bool)
    long = (s.str.len() > n).to_numpy(dtype=bool)
    out = s.to_numpy(dtype=object)
    cut = plain & long
    if cut.any():
        out[cut] = (s[cut].str.slice(0, n - 1) + "…").to_numpy(dtype=object)
    if (~plain).any():
        out[~plain] = [_clip(t, n) for t in out[~plain]]
    return np.asarray(out.tolist(), dtype=str) if len(out) else np.zeros(0, dtype=str)


def map_figure(store: RunStore, color: str = "pass rate", version: str | None = None,
               samples: pd.DataFrame | None = None):
    """The map as a plotly figure: samples coloured by `color` (COLOR_BY) with the question on hover and
    the sample id as customdata (for click-through); passages in grey (light: no sample uses them);
    near-identical questions ringed. `samples`: a frame like sample_frame's, when the caller has one."""
    import plotly.graph_objects as go

    df = sample_frame(store, version) if samples is None else samples
    # only the columns drawn: the rows on the map are copied
    on, passages = map_points(store, df[[c for c in ("id", "question", "pass_rate", "status", "round", "origin")
                                         if c in df.columns]])
    if not len(on):
        missing = len(df)
        fig = go.Figure(layout={"xaxis": {"visible": False}, "yaxis": {"visible": False}, "height": 520})
        fig.add_annotation(text=("No samples yet" if not missing else
                                 f"{missing} samples are not on the map yet: press Update map "
                                 f"(or run synthrl map {store.name})"),
                           showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14})
        return fig
    off = len(df) - len(on)
    layout = {
        "title": {"text": f"Samples and passages by meaning (MiniLM + PCA); colour: {color}"
                          + (f" — {off} newer samples not on the map yet (Update map)" if off else "")},
        "height": 560, "legend": {"orientation": "h", "yanchor": "top", "y": -0.04, "x": 0},
        "xaxis": {"showticklabels": False, "zeroline": False}, "yaxis": {"showticklabels": False, "zeroline": False},
        "margin": {"l": 20, "r": 20, "t": 50, "b": 20}, "hovermode": "closest", "clickmode": "event"}
    traces = []
    for used, name, col in ((False, "passage no sample uses", "#e5e7eb"), (True, "passage used", "#9ca3af")):
        sub = passages[passages["used"] == used]
        if len(sub):
            traces.append(_points(sub["x"].to_numpy(), sub["y"].to_numpy(), f"{name} ({len(sub)})", hoverinfo="skip",
                                  marker={"color": col, "size": 6, "symbol": "square"}))
    hover = "#%{customdata}: %{text}<extra>%{fullData.name}</extra>"
    text = _clip_all(on["question"])
    ids = on["id"].to_numpy(dtype=np.int64)  # customdata: click-through reads the sample id from it
    xs, ys = on["x"].to_numpy(), on["y"].to_numpy()
    if color == "pass rate":
        measured = on["pass_rate"].notna().to_numpy()
        if (~measured).any():
            m = ~measured
            traces.append(_points(xs[m], ys[m], f"not measured ({int(m.sum())})", ids[m], text[m], hover,
                                  marker={"color": "#6b7280", "size": 7, "symbol": "x"}))
        if measured.any():
            pr = on["pass_rate"].to_numpy()[measured]
            traces.append(_points(
                xs[measured], ys[measured], f"samples ({int(measured.sum())})", ids[measured], text[measured],
                "#%{customdata} · pass rate %{marker.color:.2f}: %{text}<extra></extra>",
                marker={"color": np.asarray(pr, dtype=float), "cmin": 0, "cmax": 1, "colorscale": _RDYLGN, "size": 7,
                        "colorbar": {"title": {"text": "pass rate"}, "thickness": 12}}))
    else:
        col = {"status": "status", "round": "round", "origin": "origin"}.get(color, "status")
        for value in sorted(on[col].dropna().unique(), key=str):
            m = (on[col] == value).to_numpy()
            traces.append(_points(xs[m], ys[m], f"{col} {value} ({int(m.sum())})", ids[m], text[m], hover,
                                  marker={"size": 7}))
    dup = on["dup"].notna().to_numpy()
    if dup.any():
        traces.append(_points(xs[dup], ys[dup], f"near-identical question ({int(dup.sum())})", ids[dup], text[dup],
                              hover, marker={"size": 13, "symbol": "circle-open", "color": "#111827",
                                             "line": {"width": 1.5}}))
    return figure(traces, layout)


# plotly's RdYlGn as the explicit scale plotly.js needs (it has no scale of that name built in)
_RDYLGN = [[0.0, "rgb(165,0,38)"], [0.1, "rgb(215,48,39)"], [0.2, "rgb(244,109,67)"], [0.3, "rgb(253,174,97)"],
           [0.4, "rgb(254,224,139)"], [0.5, "rgb(255,255,191)"], [0.6, "rgb(217,239,139)"],
           [0.7, "rgb(166,217,106)"], [0.8, "rgb(102,189,99)"], [0.9, "rgb(26,152,80)"], [1.0, "rgb(0,104,55)"]]


def _points(x: np.ndarray, y: np.ndarray, name: str, ids: np.ndarray | None = None, text: np.ndarray | None = None,
            hovertemplate: str | None = None, **kw: Any) -> dict:
    """One scattergl trace of markers as a plain dict: coordinates as numpy arrays (copied at once, sent as
    binary), texts as a list of str (JSON-encoded natively; a numpy str array makes plotly clean the whole figure
    element by element first: 20k points, 2-3x the time), the ids as a list of int (the page reads them back
    from the trace's data, where a binary array would stay encoded)."""
    t = {"type": "scattergl", "x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float), "mode": "markers",
         "name": name, **kw}
    if ids is not None:
        t["customdata"] = np.asarray(ids, dtype=np.int64).tolist()
    if text is not None:
        t["text"] = text.tolist()
    if hovertemplate is not None:
        t["hovertemplate"] = hovertemplate
    return t


def figure(traces: list[dict], layout: dict):
    """A plotly Figure from plain dicts, without plotly checking them property by property: at 20k points its
    checks and deep copies cost ~100 ms and make its JSON (what the page gets) slower too. So the dicts must
    be right: names as plotly.js knows them, explicit colour scales."""
    import plotly.graph_objects as go

    return go.Figure(data=traces, layout=layout, _validate=False)


# -- coverage -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Coverage:
    """How much of the documents the samples use, and how spread their answers are."""

    passages_total: int
    passages_used: int
    samples: int
    samples_without_passage: int
    per_document: list[dict] = field(default_factory=list)    # document, chunks, chunks_used, samples
    answers_distinct: int = 0
    answers_top: list[tuple[str, int]] = field(default_factory=list)
    answers_numeric: dict | None = None                          # min, median, max over numeric answers
    exact_duplicates: int = 0                                     # samples whose question repeats another's
    near_duplicate_samples: int | None = None                     # from the map (None: map not computed)
    near_duplicate_groups: int | None = None

    def to_dict(self) -> dict:
        import dataclasses

        return dataclasses.asdict(self)


def coverage(store: RunStore, statuses: tuple[str, ...] = ("verified", "accepted", "pending")) -> Coverage:
    """Coverage of the samples that count (by default: not dropped, rejected or failed)."""
    rows = store.sample_rows(("question", "reference", "passage_id"), statuses=statuses)
    total = store.n_chunks()
    used_ids = {r[2] for r in rows if r[2]}
    docs = store.document_chunk_ids()
    per_samples = Counter(r[2] for r in rows if r[2])
    by_doc: dict[str, dict] = {}
    for path, n_chunks, cid in docs:
        d = by_doc.setdefault(path, {"document": path.rsplit("/", 1)[-1], "chunks": n_chunks or 0, "chunks_used": 0,
                                     "samples": 0})
        if cid in used_ids:
            d["chunks_used"] += 1
            d["samples"] += per_samples[cid]
    known = store.chunk_ids()
    refs = Counter((r[1] or "").strip() for r in rows if (r[1] or "").strip())
    numeric = []
    for v, n in refs.items():
        try:
            numeric += [float(v.replace(",", ""))] * n
        except ValueError:
            pass
    qs = Counter(" ".join((r[0] or "").lower().split()) for r in rows)
    dups = store.map_duplicates()
    return Coverage(
        passages_total=total, passages_used=len(used_ids & known), samples=len(rows),
        samples_without_passage=sum(1 for r in rows if not r[2]),
        per_document=sorted(by_doc.values(), key=lambda d: -d["samples"]),
        answers_distinct=len(refs), answers_top=refs.most_common(5),
        answers_numeric={"n": len(numeric), "min": min(numeric), "median": float(np.median(numeric)),
                         "max": max(numeric)} if numeric else None,
        exact_duplicates=sum(n - 1 for n in qs.values() if n > 1),
        near_duplicate_samples=dups[1] if dups else None,
        near_duplicate_groups=dups[0] if dups else None,
    )


def coverage_markdown(cov: Coverage, max_documents: int = 12) -> str:
    """The coverage figures as Markdown (the Map tab; `synthrl coverage` prints the same)."""
    if not cov.samples:
        return "**No samples yet.** Generate some; coverage says how much of the documents they use."
    share = f" ({cov.passages_used / cov.passages_total:.0%})" if cov.passages_total else ""
    lines = [f"**Passages used: {cov.passages_used} / {cov.passages_total}**{share} by {cov.samples} samples"
             + (f" ({cov.samples_without_passage} without a passage)" if cov.samples_without_passage else "")]
    top = ", ".join(f"{_md(v)} × {n}" for v, n in cov.answers_top)
    spread = f"**Answers: {cov.answers_distinct} distinct** among {cov.samples}"
    if cov.answers_top:
        spread += f"; most common: {top} (the first is {cov.answers_top[0][1] / cov.samples:.0%} of samples)"
    if cov.answers_numeric:
        a = cov.answers_numeric
        spread += f"; numeric answers from {a['min']:g} to {a['max']:g} (median {a['median']:g})"
    lines.append(spread)
    dup = f"**Repetition:** {cov.exact_duplicates} questions repeat another word for word"
    if cov.near_duplicate_samples is not None:
        dup += (f"; {cov.near_duplicate_samples} samples in {cov.near_duplicate_groups} clusters of "
                f"near-identical questions (ringed on the map)")
    else:
        dup += "; near-identical questions: press *Update map*"
    lines.append(dup)
    if cov.per_document:
        lines += ["", "| document | passages | used | samples |", "|---|---|---|---|"]
        lines += [f"| {_md(d['document'])} | {d['chunks']} | {d['chunks_used']} | {d['samples']} |"
                  for d in cov.per_document[:max_documents]]
        if len(cov.per_document) > max_documents:
            lines.append(f"| … {len(cov.per_document) - max_documents} more | | | |")
    return "\n\n".join(lines[:3]) + "\n" + "\n".join(lines[3:])
