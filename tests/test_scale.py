"""The workbench at scale (#15): the store's per-sample attempt summary, the stored near-duplicate groups,
and the caches the Review queue, the map and the Difficulty tab render from. Each must give what a fresh
computation gives, and follow every write (new attempts, edits, status changes) at the next render."""
from __future__ import annotations

import random
from pathlib import Path
from collections import Counter

import numpy as np
import pytest

from synthrl import atlas, snapshots, triage
from synthrl.records import Attempt, PassRate, Sample
from synthrl.review import edit_sample
from synthrl.store import RunStore
from ui import views

V, W = "student@1", "student@2"


def _majority(store, version):
    """The summary as the queue always defined it, in plain Python: n, top answer (most common non-empty
    extracted answer; ties: never judged correct first, then the smallest text), its count, ever correct."""
    by: dict[int, list] = {}
    for r in store.query("SELECT sample_id, extracted, correct FROM attempts WHERE model_version=? ORDER BY id",
                         (version,)):
        by.setdefault(r[0], []).append((r[1], bool(r[2])))
    out = {}
    for sid, atts in by.items():
        counts = Counter(a for a, _ in atts if a is not None)
        ok = {a: any(c for b, c in atts if b == a) for a in counts}
        top = min(counts, key=lambda a: (-counts[a], ok[a], a)) if counts else None
        out[sid] = (len(atts), sum(c for _, c in atts), top, counts[top] if top is not None else 0,
                    bool(ok[top]) if top is not None else False)
    return out


def _summary(store, version):
    return {r[0]: (r[1], r[2], r[3], r[4], bool(r[5])) for r in store.answer_summary(version)}


def _random_run(store, n=40, seed=3):
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        sid = store.add_sample(Sample(None, f"Question {i}: what is {i} plus {i}?", str(2 * i), str(2 * i),
                                      status="verified"))
        ids.append(sid)
        for version in (V, W):
            said = [rng.choice([str(2 * i), str(2 * i + 1), str(2 * i - 1), None]) for _ in range(rng.randint(0, 9))]
            store.add_attempts([Attempt(sid, version, "sample", str(a), a, a == str(2 * i) or rng.random() < 0.05)
                                for a in said])
    return ids


def test_attempt_summary_equals_a_fresh_aggregation_after_every_kind_of_write(store):
    ids = _random_run(store)
    # ties on purpose: two answers with the same count, one of them once judged correct
    store.add_attempts([Attempt(ids[0], V, "sample", "b", "b", False)] * 3 + [Attempt(ids[0], V, "sample", "a", "a", True)]
                       + [Attempt(ids[0], V, "sample", "a", "a", False)] * 2)
    for version in (V, W):
        assert _summary(store, version) == _majority(store, version)
    epoch = store.answer_summary_version()
    dv = store.data_version()
    store.clear_attempts(ids[1], V)                                   # measure re-runs a sample
    assert store.answer_summary_version() != epoch and store.data_version() != dv
    store.add_attempts([Attempt(ids[1], V, "sample", "x", "x", False)] * 4)
    edit_sample(store, ids[2], question="A new question?", author="t")  # an edit drops every version's attempts
    store.edit_sample(ids[3], "t", status="accepted")                    # a status change keeps them
    for version in (V, W):
        assert _summary(store, version) == _majority(store, version)
        assert sorted(store.answer_summary(version)) == sorted(
            (s, *rest) for s, *rest in store.answer_summary_from_attempts(version))
    assert ids[2] not in _summary(store, V) and _summary(store, V)[ids[1]][2] == "x"


def test_an_older_store_is_backfilled_once(runs_dir):
    store = RunStore.open("old")
    _random_run(store, n=12)
    want = {v: _majority(store, v) for v in (V, W)}
    # what a store written before the summary looks like
    store.execute("DELETE FROM attempt_summary")
    store.execute("DELETE FROM meta WHERE key='attempt_summary'")
    store.close()
    again = RunStore.open("old")
    assert {v: _summary(again, v) for v in (V, W)} == want
    assert again.meta("attempt_summary") == "1"
    again.close()


def _queue_run(store):
    store.record_base_student_version(V)
    a = store.add_sample(Sample(None, "A farmer has 6 cows and buys 5 more cows at the market today.", "11", "11",
                                status="verified"))
    b = store.add_sample(Sample(None, "A farmer has 6 cows and buys 5 more cows at the market today!", "11", "11",
                                status="verified"))
    c = store.add_sample(Sample(None, "Tom has 3 apples and buys 4 more apples. How many now?", "7", "7",
                                status="verified"))
    for sid, said, ref in ((a, ["11"] * 8, "11"), (b, ["11"] * 8, "11"), (c, ["7"] * 6 + ["8"] * 2, "7")):
        store.add_attempts([Attempt(sid, V, "sample", x, x, x == ref) for x in said])
        store.set_pass_rate(PassRate(sid, V, len(said), sum(x == ref for x in said), True))
    return a, b, c


def _reasons(store, sid):
    table, _ = views.review_table(store, views.ReviewFilter())
    row = table[table["id"] == sid]
    return row["needs an expert because"].iloc[0]


def test_review_queue_follows_status_changes_attempts_and_edits_without_clearing_caches(store):
    a, b, c = _queue_run(store)
    assert _reasons(store, b) == "" and _reasons(store, c) == ""
    edit_sample(store, a, status="accepted", author="t")                 # b is now a near-duplicate of accepted a
    assert _reasons(store, b) == f"near-duplicate of accepted #{a}"
    store.add_attempts([Attempt(c, V, "sample", "9", "9", False)] * 30)  # the student now says 9, consistently
    assert _reasons(store, c).startswith("likely wrong label: the student answers 9 in 30 of 38 attempts")
    edit_sample(store, b, question="Something else entirely: how many goats are in the barn?", author="t")
    assert _reasons(store, b) == "edited, not re-measured"               # no longer a near-duplicate
    assert views.next_in_queue(store, views.ReviewFilter(), None) in (b, c)


def test_near_duplicate_groups_are_stored_and_keyed_by_the_questions(store, monkeypatch):
    a, b, c = _queue_run(store)
    groups = triage.duplicate_groups(store)
    assert groups == {a: a, b: a}
    # a new process (no in-process caches) reads them from the run instead of computing them again
    triage._DUPS.clear()
    triage._SIGS.clear()
    real = triage.near_duplicate_groups
    monkeypatch.setattr(triage, "near_duplicate_groups", lambda *a, **k: pytest.fail("recomputed"))
    assert triage.duplicate_groups(store) == groups
    # an edited question changes the fingerprint: recomputed (also a question edited without a revision)
    monkeypatch.setattr(triage, "near_duplicate_groups", real)
    store.update_sample(b, question="Completely different: how many goats are in the barn today?")
    assert triage.duplicate_groups(store) == {}
    triage._DUPS.clear()
    assert triage.duplicate_groups(store) == {}


def test_near_duplicate_groups_incremental_equal_fresh():
    rng = random.Random(0)
    words = "the a shop sold apples pears in morning afternoon how many did it total".split()
    texts = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(300)]
    texts += [t + " today" for t in texts[:100]]
    ids = list(range(1, len(texts) + 1))
    cache: dict = {}
    assert triage.near_duplicate_groups(ids, texts, cache=cache) == triage.near_duplicate_groups(ids, texts)
    texts[5] = "an entirely new question about something else that nobody asked before at all"
    texts[150] = texts[151]
    assert triage.near_duplicate_groups(ids, texts, cache=cache) == triage.near_duplicate_groups(ids, texts)


def test_a_new_process_edits_a_question_from_the_stored_work_not_from_nothing(store, monkeypatch):
    """After a question edit, a process that has not computed the groups itself starts from the signatures
    and pair verdicts stored with the last groups: it makes shingles only for the pairs it must check, and
    finds the groups a fresh computation finds."""
    rng = random.Random(5)
    words = "the a shop sold apples pears in morning afternoon how many did it total".split()
    texts = [" ".join(rng.choice(words) for _ in range(14)) for _ in range(200)]
    texts += [" ".join(t.split()[:-1] + ["today"]) for t in texts[:60]]
    ids = [store.add_sample(Sample(None, t, "1", "1", status="verified")) for t in texts]
    triage._DUPS.clear()
    triage._SIGS.clear()
    before = triage.duplicate_groups(store)
    assert before == triage.near_duplicate_groups(ids, texts) and len(before) >= 60
    edited = ids[3]
    store.update_sample(edited, question=texts[150])  # now a copy of another question
    texts[3] = texts[150]
    triage._DUPS.clear()
    triage._SIGS.clear()  # a new process
    made = []
    real = triage.shingles
    monkeypatch.setattr(triage, "shingles", lambda t: made.append(t) or real(t))
    after = triage.duplicate_groups(store)
    monkeypatch.setattr(triage, "shingles", real)
    assert after == triage.near_duplicate_groups(ids, texts)
    assert after[edited] == after[ids[150]] and (ids[203] not in after or after[ids[203]] != after[edited])
    assert 0 < len(made) < len(texts) // 4, f"{len(made)} questions shingled for one edit"
    # damaged stored work is ignored: computed afresh, the same groups
    store.execute("UPDATE near_duplicate_work SET state=x'00ff'")
    store.update_sample(ids[7], question=texts[8])
    texts[7] = texts[8]
    triage._DUPS.clear()
    triage._SIGS.clear()
    assert triage.duplicate_groups(store) == triage.near_duplicate_groups(ids, texts)


def _bin_counts_loop(rates, bins=10):
    counts = [0] * bins
    for p in rates:
        counts[min(bins - 1, int(p * bins))] += 1
    return counts


def test_histogram_bins_equal_the_plain_loop():
    rng = np.random.default_rng(1)
    many = rng.integers(0, 66, 5000) / 65                      # k/65: more distinct values than exact bars
    assert views._bin_counts(many) == _bin_counts_loop(many)
    assert views._bin_counts([]) == [0] * 10
    few = rng.integers(0, 9, 500) / 8
    bins = views._Bins(few)
    assert bins.exact and bins.x == sorted({round(float(p), 6) for p in few})
    assert bins.counts(few) == [sum(round(float(p), 6) == x for p in few) for x in bins.x]
    assert bins.counts(few[:0]) == [0] * len(bins.x)


def test_difficulty_and_map_follow_new_pass_rates(store):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from populated_run import STUDENT, populate_run

    populate_run(store, n=40, seed=1, with_training=False, with_eval=False)
    df = views._frame(store, None)
    # parent -> child shifts as the row-by-row version made them
    rate = dict(zip(df["id"], df["pass_rate"]))
    kids = df[df["parent_id"].notna()]
    want = [(int(c), int(p), o, rate.get(int(p)), r) for c, p, o, r in
            zip(kids["id"], kids["parent_id"], kids["origin"], kids["pass_rate"])]
    sh = views.parent_child_shifts(store)
    assert [tuple(r) for r in sh.itertuples(index=False)] == [w for w in want if w[3] == w[3] and w[4] == w[4]]
    before = sum(sum(t.y) for t in views.pass_rate_histogram(store).data)
    sid = int(df[df["pass_rate"].isna()]["id"].iloc[0]) if df["pass_rate"].isna().any() else None
    if sid is None:
        sid = store.add_sample(Sample(None, "A brand new question?", "3", "3", status="verified"))
    store.set_pass_rate(PassRate(sid, STUDENT, 8, 4, True))
    assert sum(sum(t.y) for t in views.pass_rate_histogram(store).data) == before + (
        1 if df.loc[df["id"] == sid, "status"].isin(["verified", "accepted", "pending"]).all() else 0)
    atlas.update_map(store, embed=lambda ts: np.eye(len(ts), 8, dtype=np.float32) + 0.01)
    fig = views.map_view(store, "pass rate")
    shown = {int(i) for t in fig.data if t.name.startswith("samples") for i in t.customdata}
    assert sid in shown
    store.edit_sample(sid, "t", answer="4")                               # drops its pass rate
    fig = views.map_view(store, "pass rate")
    assert sid not in {int(i) for t in fig.data if t.name.startswith("samples") for i in t.customdata}
    # a new projection (Update map) shows at the next render: the process keeps it only per map version
    xs = sorted(x for t in fig.data if t.name.startswith("not measured") for x in t.x)
    store.add_sample(Sample(None, "Far away from every other question, this one moves the projection", "1", "1",
                            status="verified"))
    atlas.update_map(store, embed=lambda ts: np.full((len(ts), 8), 5.0, dtype=np.float32))
    again = views.map_view(store, "pass rate")
    assert sorted(x for t in again.data if t.name.startswith("not measured") for x in t.x) != xs


def test_answer_stats_follow_the_epoch_incrementally_and_equal_a_fresh_read(store):
    ids = _random_run(store, n=20)
    first = triage.answer_stats(store, V)
    assert triage.answer_stats(store, V) is first                          # nothing written: the same frame
    store.add_attempts([Attempt(ids[0], V, "sample", "z", "z", False)] * 20)
    store.edit_sample(ids[1], "t", answer="999")                         # drops its attempts
    store.clear_attempts(ids[2], V)
    store.add_attempts([Attempt(ids[2], V, "sample", None, None, False)] * 3)  # only unreadable answers
    store.edit_sample(ids[3], "t", status="rejected")
    now = triage.answer_stats(store, V)
    assert now.loc[ids[0], "top_answer"] == "z" and ids[1] not in now.index
    assert now.loc[ids[2], "n"] == 3 and now["top_answer"].isna()[ids[2]]
    triage._STATS.clear()
    fresh = triage.answer_stats(store, V)
    assert now.sort_index().equals(fresh.sort_index())
    assert fresh.sort_index()["n"].to_dict() == {s: v[0] for s, v in _majority(store, V).items()}


def test_near_duplicate_groups_are_the_same_in_every_process(tmp_path):
    """Shingles are hashed with a fixed hash, not Python's per-process salted one: two processes with
    different PYTHONHASHSEED find the same groups."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, random; from synthrl.triage import near_duplicate_groups as g; r = random.Random(1); "
            "w = ['apples', 'pears', 'sold', 'shop', 'morning', 'total', 'many', 'the', 'in', 'and', 'how', 'did'];"
            "texts = [' '.join(r.choice(w) for _ in range(20)) for _ in range(300)];"
            # near-copies at Jaccard 0.8, the threshold: MinHash banding finds each with p ~0.94, so which
            # ones it misses depends on the hash; with a salted hash it differs from process to process
            "texts += [' '.join(t.split()[:-2] + ['today', 'again']) for t in texts[:100]];"
            "print(json.dumps(sorted(g(list(range(len(texts))), texts).items())))")
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                             cwd=str(Path(__file__).resolve().parent.parent))
        assert res.returncode == 0, res.stderr
        outs.append(json.loads(res.stdout))
    assert outs[0] == outs[1]
    assert len(outs[0]) >= 150  # most of the 100 near-copy pairs are found


def test_the_sample_frame_outlives_unrelated_writes_and_follows_every_sample_write(store):
    """A training step's metrics or a progress tick must not make every view re-read 20k samples; an edit,
    a new sample, a new measurement or a dropped measurement must show at the next render."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from populated_run import STUDENT, populate_run

    populate_run(store, n=20, seed=2, with_training=False, with_eval=False)
    views.clear_cache()
    df = views._frame(store, STUDENT)
    store.set_progress("train", 1, 10, "running", "step 1")
    store.log("train", "a training step")
    assert store.data_version() != () and views._frame(store, STUDENT) is df  # same frame object: no re-read
    sid = int(df["id"].iloc[0])
    edit_sample(store, sid, question="A shop sold 1 apple and 2 pears. How many fruits?", author="test")
    df2 = views._frame(store, STUDENT)
    assert df2 is not df and df2.loc[df2["id"] == sid, "question"].iloc[0].startswith("A shop sold 1 apple")
    new = store.add_sample(Sample(None, "What is 5 + 6?", "11", "11", status="verified"))
    df3 = views._frame(store, STUDENT)
    assert new in set(df3["id"]) and len(df3) == len(df2) + 1
    store.set_pass_rate(PassRate(new, STUDENT, 4, 3, True))
    assert views._frame(store, STUDENT).set_index("id").loc[new, "pass_rate"] == 0.75
    measured = int(df3[df3["pass_rate"].notna()]["id"].iloc[0])
    store.clear_attempts(measured, STUDENT)  # drops its pass rate: a deletion, no newer stamp
    assert np.isnan(views._frame(store, STUDENT).set_index("id").loc[measured, "pass_rate"])


def _same_frame(a, b):
    import pandas as pd

    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False)


@pytest.mark.parametrize("version", [None, "smollm2-135m-instruct@base"])
def test_the_refreshed_frame_equals_a_full_read_after_every_kind_of_write(store, version):
    """The frame is patched with the samples written since it was read (the store's change log), not read
    again: after each write it must equal a full read, for the default student and a named one."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from populated_run import STUDENT, populate_run
    from synthrl.fix import FixSpec, apply_fix, undo_fix

    populate_run(store, n=30, seed=4, with_training=False, with_eval=False)
    views.clear_cache()
    reads = []
    real = views.frame._load_frame
    views.frame._load_frame = lambda *a: reads.append(1) or real(*a)
    try:
        views._frame(store, version)
        assert len(reads) == 1
        ids = [int(i) for i in views._frame(store, version)["id"]]
        steps = [
            lambda: edit_sample(store, ids[0], question="A shop sold 3 pens and 4 pens. How many pens?", author="t"),
            lambda: edit_sample(store, ids[1], status="rejected", author="t"),
            lambda: store.add_sample(Sample(None, "What is 5 + 6?", "11", "11", status="verified")),
            lambda: store.set_pass_rate(PassRate(ids[2], STUDENT, 8, 1, False)),
            lambda: store.set_pass_rate(PassRate(ids[3], "another@1", 8, 8, True)),  # another student only
            lambda: store.clear_attempts(ids[4], STUDENT),
            lambda: undo_fix(store, apply_fix(store, FixSpec("sold", "traded"), ids[5:9], author="t").id, author="t"),
            lambda: store.set_statuses([ids[9], ids[10]], "accepted", author="t"),
        ]
        for step in steps:
            step()
            got = views._frame(store, version)
            _same_frame(got, real(store, version))
        assert len(reads) == 1, "a write to a few samples read the whole frame again"
        # a change log that no longer reaches back (pruned) makes a full read, still equal
        edit_sample(store, ids[11], status="accepted", author="t")
        edit_sample(store, ids[12], status="accepted", author="t")
        store.execute("DELETE FROM sample_changes WHERE seq < (SELECT max(seq) FROM sample_changes)")
        got = views._frame(store, version)
        assert len(reads) == 2 and got.set_index("id").loc[ids[11], "status"] == "accepted"
        _same_frame(got, real(store, version))
    finally:
        views.frame._load_frame = real


def test_a_new_process_starts_from_the_frame_snapshot_and_reads_only_what_changed(store, tmp_path):
    """The frame kept beside the run (Arrow) spares a new process the full read; what was written since it
    was taken is read from the change log. A damaged snapshot, or one left by another store at the same
    path, is never used: the frame then equals a full read all the same."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from populated_run import populate_run

    populate_run(store, n=30, seed=6, with_training=False, with_eval=False)
    views.clear_cache()
    real = views.frame._load_frame
    reads = []
    views.frame._load_frame = lambda *a: reads.append(1) or real(*a)
    try:
        first = views._frame(store, None)
        snapshots.flush()
        snap = views.frame._snapshot_path(store, None)
        assert len(reads) == 1 and snap.exists()
        ids = [int(i) for i in first["id"]]
        edit_sample(store, ids[0], status="rejected", author="t")
        store.add_sample(Sample(None, "What is 7 + 8?", "15", "15", status="verified"))
        views.clear_cache()  # as a new process
        _same_frame(views._frame(store, None), real(store, None))
        assert len(reads) == 1, "a new process read every sample although a snapshot was there"

        snap.write_bytes(b"not an arrow file")
        views.clear_cache()
        _same_frame(views._frame(store, None), real(store, None))
        assert len(reads) == 2
        snapshots.flush()

        # another store made later at the same path (same sample ids, other content) ignores the snapshot
        views.clear_cache()
        views._frame(store, None)  # from the good snapshot the full read left
        assert len(reads) == 2
        snapshots.flush()
        path = store.path
        store.close()
        for f in path.parent.glob("run.db*"):
            f.unlink()
        other = RunStore(path, create=True)
        populate_run(other, n=30, seed=99, with_training=False, with_eval=False)
        views.clear_cache()
        _same_frame(views._frame(other, None), real(other, None))
        assert len(reads) == 3
        other.close()
    finally:
        views.frame._load_frame = real


def test_warm_makes_the_first_render_find_everything_ready_and_threads_share_one_read(store, monkeypatch):
    """The app prepares the run it opens first: after views.warm the frame and the queue are there (no read,
    no queue computed by the render); renders in several threads at once read the samples once."""
    import sys
    import threading

    sys.path.insert(0, str(Path(__file__).parent))
    from populated_run import populate_run

    populate_run(store, n=40, seed=8, with_training=False, with_eval=False)
    views.clear_cache()
    for f in (store.path.parent / "cache").glob("*.arrow"):
        f.unlink()
    reads, queues = [], []
    real_load, real_queue = views.frame._load_frame, triage.queue_frame
    monkeypatch.setattr(views.frame, "_load_frame", lambda *a: reads.append(1) or real_load(*a))
    monkeypatch.setattr(triage, "queue_frame", lambda *a, **k: queues.append(1) or real_queue(*a, **k))
    views.warm(store)
    assert (len(reads), len(queues)) == (1, 1)
    table, caption = views.review_table(store, views.ReviewFilter())
    assert len(table) and (len(reads), len(queues)) == (1, 1)

    views.clear_cache()
    for f in (store.path.parent / "cache").glob("*.arrow"):
        f.unlink()
    snapshots.flush()
    got = []
    threads = [threading.Thread(target=lambda: got.append(views._frame(store, None))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reads) == 2 and all(g is got[0] for g in got)


def test_a_frame_patched_many_times_is_written_as_the_new_snapshot(store, monkeypatch):
    """The snapshot follows the run: once SNAPSHOT_LAG changes were patched in, the patched frame replaces it,
    so a new process does not start from an ever older one (or read everything again)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from populated_run import populate_run

    populate_run(store, n=30, seed=9, with_training=False, with_eval=False)
    monkeypatch.setattr(views.frame, "SNAPSHOT_LAG", 5)
    views.clear_cache()
    views._frame(store, None)
    snapshots.flush()
    snap = views.frame._snapshot_path(store, None)
    taken = snap.stat().st_mtime_ns
    first_seq = views.frame._read_snapshot(store, None, store.samples_version()[0])[1]
    ids = [int(i) for i in views._frame(store, None)["id"]][:6]
    for sid in ids[:2]:
        edit_sample(store, sid, status="accepted", author="t")
        views._frame(store, None)
    snapshots.flush()
    assert snap.stat().st_mtime_ns == taken  # 2 changes: the old snapshot still serves
    for sid in ids[2:]:
        edit_sample(store, sid, status="rejected", author="t")
        views._frame(store, None)
    snapshots.flush()
    assert snap.stat().st_mtime_ns != taken
    assert views.frame._read_snapshot(store, None, store.samples_version()[0])[1] >= first_seq + 5
    # a new process starts from it and patches in the one change since: equal to a full read, without one
    real = views.frame._load_frame
    reads = []
    monkeypatch.setattr(views.frame, "_load_frame", lambda *a: reads.append(1) or real(*a))
    views.clear_cache()
    _same_frame(views._frame(store, None), real(store, None))
    assert not reads


def test_map_hover_texts_equal_the_plain_clip_also_when_remembered():
    import pandas as pd

    texts = ["short", "x " * 200, "tabs\tand\nnewlines  and   spaces " * 8, "ünïcödé " * 30, None, "", "a" * 110,
             "b" * 111, "<b>html</b> " * 20]
    for _ in range(2):  # the second time from the process's memo
        got = atlas._clip_all(pd.Series(texts, dtype=object)).tolist()
        assert got == [atlas._clip(t) for t in texts]
    assert atlas._clip_all(pd.Series(texts, dtype=object), 20).tolist() == [atlas._clip(t, 20) for t in texts]


def test_a_new_process_reads_the_answer_stats_snapshot_and_only_the_summary_rows_since(store, monkeypatch):
    """The majority answers a new process needs come from the frame kept beside the run plus the summary
    rows written after it; they equal a fresh read. A damaged snapshot means a fresh read, the same answers."""

    ids = _random_run(store, n=30)
    triage._STATS.clear()
    triage._STATS_SNAPSHOT.clear()
    first = triage.answer_stats(store, V)
    snapshots.flush()
    snap = snapshots.path_for(store.path, "answer-stats", V)
    assert snap.exists()
    store.add_attempts([Attempt(ids[0], V, "sample", "q", "q", False)] * 30)
    store.clear_attempts(ids[1], V)
    full = []
    real = store.answer_summary
    monkeypatch.setattr(store, "answer_summary", lambda v: full.append(v) or real(v))
    triage._STATS.clear()
    triage._STATS_SNAPSHOT.clear()  # a new process
    got = triage.answer_stats(store, V)
    assert not full, "a new process read the whole summary although a snapshot was there"
    assert got.loc[ids[0], "top_answer"] == "q" and ids[1] not in got.index
    fresh = _stats_of(store, V)
    assert got.sort_index().equals(fresh.sort_index()) and not first.sort_index().equals(fresh.sort_index())
    snapshots.flush()
    snap.write_bytes(b"junk")
    triage._STATS.clear()
    triage._STATS_SNAPSHOT.clear()
    assert triage.answer_stats(store, V).sort_index().equals(fresh.sort_index()) and full == [V]


def _stats_of(store, version):
    return triage._stats_frame(store.answer_summary_from_attempts(version))


def test_app_start_prepares_the_first_run_and_snapshots_recent_runs_never_shown(runs_dir, monkeypatch):
    """At start-up the app makes the first run's frame and queue, and the snapshots of other recent runs a
    CLI made (so their first showing in the app reads no sample table in full)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from populated_run import populate_run
    from ui import app
    from ui.common import _forget_store

    for name, seed in (("cli-made", 1), ("opened", 2)):
        s = populate_run(RunStore.open(name), n=20, seed=seed, with_training=False, with_eval=False)
        s.close()
    views.clear_cache()
    queues = []
    real_queue = triage.queue_frame
    monkeypatch.setattr(triage, "queue_frame", lambda *a, **k: queues.append(1) or real_queue(*a, **k))
    try:
        app._warm_runs("opened")
        snapshots.flush()
        for name in ("cli-made", "opened"):
            assert snapshots.path_for(runs_dir / name / "run.db", "sample-frame", None).exists(), name
            assert list((runs_dir / name / "cache").glob("answer-stats-*.arrow")), name
        assert len(queues) == 1  # the queue only for the run the page opens
    finally:
        for name in ("cli-made", "opened"):
            _forget_store(name)


def test_a_cli_command_on_a_big_run_leaves_the_app_snapshots_up_to_date(store, monkeypatch):
    """After `synthrl edit` (any command that writes) on a run past synthrl.frame.PREPARE_FROM samples, the
    snapshots match the store, so the app's first showing of the run starts from them; a small run gets none."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from populated_run import populate_run
    from synthrl import frame
    from synthrl.cli import main

    populate_run(store, n=30, seed=11, with_training=False, with_eval=False)
    cache = store.path.parent / "cache"
    sid = int(store.samples()[0].id)
    assert main(["edit", "t", str(sid), "--question", "What is 10 + 2?", "--answer", "12"]) == 0
    assert not list(cache.glob("*.arrow"))  # 45 samples: below PREPARE_FROM, a full read is quick
    monkeypatch.setattr(frame, "PREPARE_FROM", 10)
    assert main(["edit", "t", str(sid), "--question", "What is 10 + 3?", "--answer", "13"]) == 0
    store_id, seq = store.samples_version()[:2]
    df, at = frame._read_snapshot(store, None, store_id)
    assert at == seq and df.set_index("id").loc[sid, "question"] == "What is 10 + 3?"
    version = frame.student_versions(store)[0]
    _, meta = snapshots.read(snapshots.path_for(store.path, "answer-stats", version), store_id,
                             triage._STATS_COLUMNS, index="sample_id")
    assert meta["epoch"] == str(store.answer_summary_version())
