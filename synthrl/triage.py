"""Which samples need an expert, and why: the order of the Review tab and of `synthrl samples --order expert`.

An expert has an hour and a run has thousands of samples, so the samples are ranked by the
evidence that something is wrong with them, each with its reasons:

- likely wrong label: the student is consistent (most of its answers agree) on an answer the
  checker calls wrong, e.g. "the student answers 41 in 58 of 65 attempts; the label is 40";
- low judge score: a judge pass (synthrl.judge) rated the sample under a threshold;
- suspect label / contamination: flags the pipeline set (verify, synthrl.contamination);
- split votes: the teacher's verification votes did not agree well;
- near-duplicate of an accepted sample (word 3-gram Jaccard, found with MinHash);
- edited, not re-measured: its pass rates were dropped by an edit (synthrl.review).

Samples the expert already decided (accepted, rejected) and those the pipeline dropped come
after the open ones. Per-sample statistics over the attempts (the student's majority answer)
come from the store's summary table, which every write of attempts keeps current, and the
near-duplicate groups are stored with a fingerprint of the questions they came from, so
neither is recomputed per render (or per process) on 20,000 samples and 1.3M attempts.

    q = queue_frame(store)                       # id, tier, priority, mask, evidence; most urgent first
    [r.text for r in reasons_of(q.loc[12])]      # ["likely wrong label: the student answers 41 in ..."]
"""
from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import snapshots
from .store import NEEDS_REMEASURE, RunStore, StoreError


@dataclass(frozen=True)
class QueueConfig:
    """When a sample needs an expert."""

    #: the student's most common answer holds at least this share of its attempts: it is consistent
    consistent_share: float = 0.6
    #: attempts needed before the student's consistency counts as evidence
    min_attempts: int = 4
    #: teacher agreement (share of votes for the label) under this: the votes were split
    split_below: float = 0.75
    #: a judge rating (the lowest of grounding, clarity, correctness) under this
    judge_below: float = 3.0
    #: word 3-gram Jaccard similarity from which two questions are near-duplicates
    duplicate_similarity: float = 0.8

    def __post_init__(self):
        for name in ("consistent_share", "split_below", "duplicate_similarity"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise ValueError(f"QueueConfig.{name} must be in (0, 1], got {v}")
        if self.min_attempts < 1:
            raise ValueError(f"QueueConfig.min_attempts must be >= 1, got {self.min_attempts}")
        if not 1 <= self.judge_below <= 6:
            raise ValueError(f"QueueConfig.judge_below must be in [1, 6], got {self.judge_below}")


@dataclass(frozen=True)
class ReasonKind:
    code: str
    label: str
    weight: int


# In order of urgency; a sample's priority is the sum of its reasons' weights.
REASON_KINDS = (
    ReasonKind("wrong_label", "likely wrong label", 100),
    ReasonKind("low_judge", "low judge score", 60),
    ReasonKind("suspect_label", "suspect label", 50),
    ReasonKind("contaminated", "contaminated", 40),
    ReasonKind("split_votes", "split votes", 30),
    ReasonKind("near_duplicate", "near-duplicate", 20),
    ReasonKind("needs_remeasure", "edited, not re-measured", 10),
)
BIT = {k.code: 1 << i for i, k in enumerate(REASON_KINDS)}
KIND = {k.code: k for k in REASON_KINDS}
# Statuses an expert has decided or the pipeline has ruled out: after the open samples.
CLOSED_STATUSES = ("accepted", "rejected", "dropped", "failed")


@dataclass(frozen=True)
class Reason:
    """Why a sample needs an expert: a reason kind and the evidence, in one line."""

    code: str
    text: str


# ---------------------------------------------------------------- the student's majority answer
_STATS_COLUMNS = ["n", "top_answer", "top_count", "top_correct"]
_STATS: dict[tuple, tuple[int, pd.DataFrame]] = {}
_STATS_LOCK = threading.Lock()


def _stats_frame(rows) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({"n": np.zeros(0, np.int64), "top_answer": pd.array([], dtype="str"),
                             "top_count": np.zeros(0, np.int64), "top_correct": np.zeros(0, bool)},
                            index=pd.Index(np.zeros(0, np.int64), name="sample_id"))
    ids, n, _k, top, count, ok = zip(*rows)
    # pandas' default string dtype, missing = NaN: what inference made of the answers before
    return pd.DataFrame({"n": np.asarray(n, dtype=np.int64), "top_answer": pd.array(top, dtype="str"),
                         "top_count": np.asarray(count, dtype=np.int64), "top_correct": np.asarray(ok, dtype=bool)},
                        index=pd.Index(np.asarray(ids, dtype=np.int64), name="sample_id"))


def answer_stats(store: RunStore, version: str | None) -> pd.DataFrame:
    """The student's answers per sample under `version`: n, top_answer, top_count, top_correct (indexed by id).

    Read from the store's per-sample summary (kept current by every write of attempts); this process
    keeps the frame and, when the attempts epoch moves, reads only the summary rows written since (an
    accept changes nothing here; a re-measured or edited sample, one row). Treat as read-only.
    """
    if version is None:
        return _stats_frame([])
    key = _stats_key(store, version)
    now = store.answer_summary_version()
    with _STATS_LOCK:
        seen = _STATS.get(key)
    if seen is not None and seen[0] == now:
        return seen[1]
    store_id, snap = store.meta("store_id"), snapshots.path_for(store.path, "answer-stats", version)
    if seen is None:  # a new process: the frame kept beside the run, then the rows written since (below)
        df, meta = snapshots.read(snap, store_id, _STATS_COLUMNS, index="sample_id")
        if df is not None and meta.get("epoch", "").isdigit():
            seen = (int(meta["epoch"]), df)
            _STATS_SNAPSHOT[key] = (seen[0], 0)
    frame, patched = None, 0
    if seen is not None and seen[0] == now:
        frame = seen[1]
    elif seen is not None and seen[0] < now:
        rows = store.answer_summary_since(version, seen[0], now)
        if len(rows) < max(1000, len(seen[1]) // 4):
            changed = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            kept = seen[1][~seen[1].index.isin(changed)]
            fresh = _stats_frame([r for r in rows if r[1] > 0])
            frame = pd.concat([kept, fresh]) if len(fresh) else kept
            patched = len(rows)
    if frame is None:
        frame = _stats_frame(store.answer_summary(version))
        _STATS_SNAPSHOT.pop(key, None)
    taken = _STATS_SNAPSHOT.get(key)
    if taken is None or taken[1] + patched >= STATS_SNAPSHOT_LAG:  # after a full read, or many rows patched in
        snapshots.write(snap, frame, store_id, {"epoch": str(now)}, index="sample_id")
        _STATS_SNAPSHOT[key] = (now, 0)
    else:
        _STATS_SNAPSHOT[key] = (taken[0], taken[1] + patched)
    with _STATS_LOCK:
        if len(_STATS) >= 8 and key not in _STATS:
            _STATS.pop(next(iter(_STATS)))
        _STATS[key] = (now, frame)
    return frame


def _stats_key(store: RunStore, version: str) -> tuple:
    return (str(store.path), store.meta("created_at"), version)


_STATS_SNAPSHOT: dict[tuple, tuple[int, int]] = {}  # key -> (epoch of the snapshot on disk, rows patched in since)
STATS_SNAPSHOT_LAG = 2000


# ---------------------------------------------------------------- near-duplicate questions
_WORD = re.compile(r"\w+")
_BANDS, _ROWS = 4, 3          # MinHash: 4 bands of 3 functions; P(candidate | Jaccard 0.8) = 0.94
_PERMS = _BANDS * _ROWS
_MASK = (1 << 61) - 1
_rng = np.random.default_rng(20251)
_A = _rng.integers(1, _MASK, size=_PERMS, dtype=np.int64).astype(np.uint64) | np.uint64(1)
_B = _rng.integers(0, _MASK, size=_PERMS, dtype=np.int64).astype(np.uint64)
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


def _stable_hash(words: str) -> int:
    """A 64-bit hash that is the same in every process (Python's str hash is salted per process,
    which made the near-duplicate groups differ from one app start to the next)."""
    return int.from_bytes(hashlib.blake2b(words.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def shingles(text: str) -> frozenset[int]:
    """The hashed word 3-grams of a text (lower-cased; a text under 3 words is one shingle)."""
    ws = _WORD.findall((text or "").lower())
    if len(ws) < 3:
        return frozenset((_stable_hash(" ".join(ws)),))
    return frozenset(_stable_hash(f"{a} {b} {c}") for a, b, c in zip(ws, ws[1:], ws[2:]))


def _signatures(sets: list[frozenset[int]]) -> np.ndarray:
    """One MinHash signature row (_PERMS values) per shingle set."""
    lens = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    flat = np.fromiter((h & _MASK for s in sets for h in s), dtype=np.uint64, count=int(lens.sum()))
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    # (a*h + b) with wrap-around, then a xor-shift: a cheap family of hash permutations
    mixed = flat[:, None] * _A[None, :] + _B[None, :]
    mixed ^= mixed >> np.uint64(29)
    return np.minimum.reduceat(mixed, starts, axis=0)


def near_duplicate_groups(ids: list[int], texts: list[str], similarity: float = 0.8,
                          cache: dict | None = None) -> dict[int, int]:
    """Sample id -> the id of its group's first member, for every sample that has a near-duplicate.

    Candidates share a MinHash band; each is confirmed by the exact Jaccard similarity of its 3-gram
    set with the band bucket's first member, so a bucket of any size costs linear time. Groups are the
    connected components of the confirmed pairs. `cache` keeps the work done for unchanged texts between
    calls: id -> (text, shingles, signature), and ("pairs", similarity) -> the verdicts on candidate pairs
    (sorted pair codes, confirmed), so after an edit only the edited questions' pairs are checked again.
    """
    if len(ids) < 2:
        return {}
    cache = {} if cache is None else cache
    todo = [i for i, (sid, t) in enumerate(zip(ids, texts)) if cache.get(sid, (None,))[0] != t]
    cache[("computed",)] = cache.get(("computed",), 0) + len(todo)  # questions signed since (see duplicate_groups)
    if todo:
        fresh = [shingles(texts[i]) for i in todo]
        for i, sh, sg in zip(todo, fresh, _signatures(fresh)):
            cache[ids[i]] = (texts[i], sh, sg)
        changed = np.array([ids[i] for i in todo], dtype=np.int64)
        for key in [k for k in cache if isinstance(k, tuple) and k[0] == "pairs"]:  # pairs of edited texts
            codes, ok = cache[key]
            keep = ~(np.isin(codes >> 32, changed) | np.isin(codes & 0xFFFFFFFF, changed))
            cache[key] = (codes[keep], ok[keep])
    entries = [cache[sid] for sid in ids]
    sid = np.asarray(ids, dtype=np.int64)
    stacked = cache.get(("stack",))
    if stacked is not None and np.array_equal(stacked[0], sid):
        sig = stacked[1].copy()
        for i in todo:
            sig[i] = entries[i][2]
    else:
        sig = np.stack([e[2] for e in entries])
    cache[("stack",)] = (sid, sig)

    n = len(ids)
    everyone = np.arange(n)
    firsts, heads_of = [], []
    for b in range(_BANDS):
        band = sig[:, b * _ROWS:(b + 1) * _ROWS]
        key = band[:, 0] ^ (band[:, 1] * _MIX[0]) ^ (band[:, 2] * _MIX[1])
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        heads = first[inverse.reshape(-1)]
        m = heads != everyone
        firsts.append(everyone[m])
        heads_of.append(heads[m])
    at = np.unique(np.concatenate(firsts).astype(np.int64) * n + np.concatenate(heads_of))
    pi, pj = at // n, at % n
    if len(ids) and (sid.min() < 0 or sid.max() >= 1 << 32):
        raise ValueError("sample ids must be in [0, 2**32) for near-duplicate pair codes")
    codes = (sid[pi] << 32) | sid[pj]
    known_codes, known_ok = cache.get(("pairs", similarity), (np.zeros(0, np.int64), np.zeros(0, bool)))
    where = np.searchsorted(known_codes, codes)
    where_c = np.minimum(where, max(len(known_codes) - 1, 0))
    found = (known_codes[where_c] == codes) if len(known_codes) else np.zeros(len(codes), bool)
    ok = np.zeros(len(codes), bool)
    ok[found] = known_ok[where_c[found]]

    def shingled(i: int) -> frozenset[int]:
        e = entries[i]
        if e[1] is None:  # seeded from stored work: a signature, no shingles yet
            e = entries[i] = cache[ids[i]] = (e[0], shingles(e[0]), e[2])
        return e[1]

    for k in np.nonzero(~found)[0].tolist():
        a, c = shingled(pi[k]), shingled(pj[k])
        both = len(a & c)
        ok[k] = both >= similarity * (len(a) + len(c) - both)  # |a & c| >= s |a | c|
    if (~found).any():
        merged = np.concatenate([known_codes, codes[~found]])
        order = np.argsort(merged, kind="stable")
        cache[("pairs", similarity)] = (merged[order], np.concatenate([known_ok, ok[~found]])[order])
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(pi[ok].tolist(), pj[ok].tolist()):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[ri] = rj
    groups: dict[int, list[int]] = {}
    for i in np.unique(np.concatenate([pi[ok], pj[ok]])).tolist():  # everyone else is on their own
        groups.setdefault(find(i), []).append(i)
    out = {}
    for members in groups.values():
        if len(members) > 1:
            head = ids[min(members)]
            for m in members:
                out[ids[m]] = head
    return out


_DUPS: dict[tuple, dict[int, int]] = {}
_SIGS: dict[tuple, dict] = {}
WORK_CHECKPOINT = 200  # questions signed since the stored work was written, before it is written again
_SIGS_LOCK = threading.Lock()  # renders run in several threads; the cache is filled in place


def _text_hashes(texts: list[str]) -> np.ndarray:
    """A 64-bit hash of each text to tell an unchanged question (pandas' SipHash with its fixed key: the same in
    every process, vectorised: ~8 ms for 20k questions). Should another pandas hash differently, the stored
    work only fails to match and is computed again."""
    return pd.util.hash_array(np.array([t or "" for t in texts], dtype=object), categorize=False)


def _pack_work(ids: np.ndarray, texts: list[str], cache: dict, similarity: float) -> bytes | None:
    """What near_duplicate_groups kept in `cache` for these questions, as bytes for the store (numpy arrays
    only, read back without pickle): ids, a hash of each question, its signature, the pair verdicts."""
    import io

    if not len(ids) or any(int(i) not in cache for i in ids.tolist()):
        return None  # fewer than two questions: nothing was computed
    codes, ok = cache.get(("pairs", similarity), (np.zeros(0, np.int64), np.zeros(0, bool)))
    buf = io.BytesIO()
    np.savez(buf, ids=ids.astype(np.int64), hashes=_text_hashes(texts),
             sigs=np.stack([cache[int(i)][2] for i in ids]), codes=codes, ok=ok, similarity=np.array([similarity]))
    return buf.getvalue()


def _seed_from_work(work: bytes | None, ids: np.ndarray, texts: list[str], cache: dict, similarity: float) -> None:
    """Fill an empty `cache` from stored work: the signature of every question that is still the same text
    (its shingles are made again only if a pair needs them), and the verdicts on pairs."""
    import io

    if not work:
        return
    try:
        z = np.load(io.BytesIO(work), allow_pickle=False)
        old_ids, hashes, sigs = z["ids"], z["hashes"], z["sigs"]
        codes, ok, sim = z["codes"], z["ok"], float(z["similarity"][0])
    except (OSError, ValueError, KeyError):
        return  # unreadable: everything is computed afresh
    if sigs.shape[1:] != (_PERMS,) or len(old_ids) != len(hashes) or len(old_ids) != len(sigs):
        return
    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(old_ids, kind="stable")
    at = order[np.minimum(np.searchsorted(old_ids, ids, sorter=order), max(len(old_ids) - 1, 0))] \
        if len(old_ids) else np.zeros(len(ids), np.int64)
    same = (old_ids[at] == ids) & (hashes[at] == _text_hashes(texts)) if len(old_ids) else np.zeros(len(ids), bool)
    rows, id_list = sigs[at], ids.tolist()
    for k in np.nonzero(same)[0].tolist():
        cache[id_list[k]] = (texts[k], None, rows[k])
    if len(old_ids):  # the stacked signatures too (near_duplicate_groups replaces the rows of changed questions)
        cache[("stack",)] = (ids.copy(), rows)
    if sim == similarity and len(codes) == len(ok):
        seeded = ids[same]
        keep = np.isin(codes >> 32, seeded) & np.isin(codes & 0xFFFFFFFF, seeded)  # pairs of unchanged questions
        cache[("pairs", similarity)] = (codes[keep], ok[keep])


def questions_fingerprint(ids, texts) -> str:
    """What near-duplicate groups depend on: every sample id and its question (and each one's length, so
    no two lists of questions join to the same text), hashed."""
    texts = [t or "" for t in texts] if any(t is None for t in texts) else texts
    h = hashlib.blake2b(digest_size=16)
    h.update(b"shingles-v2")  # v2: shingles hashed the same in every process (groups stored by v1 are not reused)
    h.update(np.asarray(ids, dtype=np.int64).tobytes())
    h.update(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)).tobytes())
    h.update("\x1f".join(texts).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def duplicate_groups(store: RunStore, similarity: float = 0.8, ids=None, texts=None) -> dict[int, int]:
    """near_duplicate_groups over the run's questions (`ids`, `texts`: every sample's id and question, by
    id, when the caller holds them). Keyed by a fingerprint of the ids and questions: kept in this process,
    and stored in the run, so a new process (or the CLI) reads them instead of computing them again;
    recomputed (incrementally, for the texts this process has seen) only when a question is added or edited."""
    if ids is None or texts is None:
        rows = store.sample_rows(("id", "question"))
        ids, texts = [r[0] for r in rows], [r[1] for r in rows]
    ids = np.asarray(ids, dtype=np.int64)
    texts = list(texts)
    fp = f"{similarity:g}:{questions_fingerprint(ids, texts)}"
    key = (str(store.path), store.meta("created_at"), fp)
    hit = _DUPS.get(key)
    if hit is not None:
        return hit
    groups = store.near_duplicates(fp)
    if groups is None:
        with _SIGS_LOCK:
            sigs = _SIGS.setdefault(key[:2], {})
            if not sigs:  # a new process: start from the work stored with the last groups (not from nothing)
                _seed_from_work(store.near_duplicate_work(), ids, texts, sigs, similarity)
            groups = near_duplicate_groups(ids.tolist(), texts, similarity, cache=sigs)
            # the stored work is a checkpoint: a process that starts from it redoes only the questions changed
            # since, so it is written again only once many were (not on every edit: 2 MB at 20k questions)
            work = None
            if sigs.get(("computed",), 0) > WORK_CHECKPOINT:
                work = _pack_work(ids, texts, sigs, similarity)
                sigs[("computed",)] = 0
        try:
            store.set_near_duplicates(fp, groups, work)
        except (StoreError, sqlite3.Error):
            pass  # a busy or read-only store: the groups are still right, just not kept for the next process
    for k in [k for k in _DUPS if k[:2] == key[:2]]:
        _DUPS.pop(k)
    _DUPS[key] = groups
    return groups


# ---------------------------------------------------------------- the queue
QUEUE_COLUMNS = ["id", "tier", "priority", "mask", "n", "top_answer", "top_count", "agreement", "judge",
                 "duplicate_of"]


def queue_frame(store: RunStore, version: str | None = None, config: QueueConfig | None = None,
                samples: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every sample with its reasons (a bitmask of REASON_KINDS) and the evidence, most urgent first.

    tier 0: open samples (pending, verified) with a reason; 1: open without one; 2: decided or dropped.
    Within a tier: priority (sum of reason weights), then id. `samples` (every sample, by id: id, status,
    flags, agreement, reference, and question if at hand) can be passed in when the caller holds them already.
    """
    from .stages.select import default_model_version

    cfg = config or QueueConfig()
    version = version or default_model_version(store)
    if samples is None:
        columns = ["id", "status", "flags", "agreement", "reference", "question"]
        samples = pd.DataFrame(store.sample_rows(columns), columns=columns)
    df = samples[["id", "status", "flags", "agreement", "reference"]].set_index("id", drop=False)
    if not len(df):
        return pd.DataFrame(columns=QUEUE_COLUMNS)
    ids = df.index
    mask = np.zeros(len(df), dtype=np.int64)
    flags = df["flags"].fillna("")

    stats = answer_stats(store, version).reindex(ids)
    n = stats["n"].fillna(0).astype(int)
    top_count = stats["top_count"].fillna(0).astype(int)
    wrong = ((n >= cfg.min_attempts) & stats["top_answer"].notna() & ~stats["top_correct"].fillna(True).astype(bool)
             & (top_count >= cfg.consistent_share * n.where(n > 0, 1)))
    mask |= np.where(wrong, BIT["wrong_label"], 0)

    judge = judge_scores(store).reindex(ids)
    mask |= np.where(judge < cfg.judge_below, BIT["low_judge"], 0)
    for flag in ("suspect_label", "contaminated"):
        mask |= np.where(flags.str.contains(flag, regex=False), BIT[flag], 0)
    agreement = pd.to_numeric(df["agreement"], errors="coerce")
    mask |= np.where(agreement < cfg.split_below, BIT["split_votes"], 0)
    mask |= np.where(flags.str.contains(NEEDS_REMEASURE, regex=False), BIT["needs_remeasure"], 0)

    dup_of = pd.Series(pd.NA, index=ids, dtype="Int64")
    if "question" in samples.columns:
        groups = duplicate_groups(store, cfg.duplicate_similarity, samples["id"].to_numpy(),
                                  samples["question"].tolist())
    else:
        groups = duplicate_groups(store, cfg.duplicate_similarity)
    if groups:
        g = pd.Series(groups).reindex(ids)
        accepted = df["status"] == "accepted"
        acc = pd.DataFrame({"group": g[accepted & g.notna()], "id": ids[accepted & g.notna()]})
        if len(acc):
            first_acc = acc.groupby("group")["id"].min()
            second_acc = acc.groupby("group")["id"].apply(lambda s: s.nsmallest(2).iloc[-1] if len(s) > 1 else pd.NA)
            mine = g.map(first_acc)
            # an accepted sample points at another accepted member (if any), never at itself
            mine = mine.where(mine != pd.Series(ids, index=ids), g.map(second_acc))
            dup_of = pd.to_numeric(mine, errors="coerce").astype("Int64")
            mask |= np.where(dup_of.notna(), BIT["near_duplicate"], 0)

    weights = np.zeros(len(df), dtype=np.int64)
    for k in REASON_KINDS:
        weights += np.where(mask & BIT[k.code], k.weight, 0)
    closed = df["status"].isin(CLOSED_STATUSES).to_numpy()
    tier = np.where(closed, 2, np.where(mask > 0, 0, 1))
    out = pd.DataFrame({"id": ids.to_numpy(), "tier": tier, "priority": weights, "mask": mask,
                        "n": n.to_numpy(), "top_answer": stats["top_answer"].to_numpy(),
                        "top_count": top_count.to_numpy(), "agreement": agreement.to_numpy(),
                        "judge": judge.to_numpy(), "duplicate_of": dup_of.to_numpy(),
                        "reference": df["reference"].to_numpy()}, index=ids.to_numpy())
    return out.sort_values(["tier", "priority", "id"], ascending=[True, False, True], kind="stable")


def reasons_of(row, config: QueueConfig | None = None) -> list[Reason]:
    """The reasons of one queue_frame row, with their evidence."""
    cfg = config or QueueConfig()
    mask = int(row["mask"])
    out = []
    for k in REASON_KINDS:
        if not mask & BIT[k.code]:
            continue
        if k.code == "wrong_label":
            text = (f"{k.label}: the student answers {row['top_answer']} in {int(row['top_count'])} of "
                    f"{int(row['n'])} attempts; the label is {row['reference']}")
        elif k.code == "low_judge":
            text = f"{k.label}: {float(row['judge']):.0f}/5 (under {cfg.judge_below:g})"
        elif k.code == "split_votes":
            text = f"{k.label}: {float(row['agreement']):.0%} of teacher votes agree"
        elif k.code == "near_duplicate":
            text = f"{k.label} of accepted #{int(row['duplicate_of'])}"
        else:
            text = k.label
        out.append(Reason(k.code, text))
    return out


def reason_mask(codes: list[str] | tuple[str, ...]) -> int:
    """The bitmask of reason codes ("any" = every reason)."""
    if "any" in codes:
        return sum(BIT.values())
    bad = [c for c in codes if c not in BIT]
    if bad:
        raise ValueError(f"unknown reason(s) {', '.join(bad)}; known: any, {', '.join(BIT)}")
    return sum(BIT[c] for c in codes)


def judge_scores(store: RunStore) -> pd.Series:
    """Each judged sample's lowest rating (grounding, clarity, correctness) from its latest judgement."""
    rows = store.judge_minima()
    return pd.Series({sid: lo for sid, lo in rows}, dtype="float64")
