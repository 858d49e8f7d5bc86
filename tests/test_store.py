"""The run store: WAL, revisions, concurrent writers, crash safety, status and run listing."""
import multiprocessing as mp
import os
import signal
import sqlite3
import time

import pytest

from synthrl.records import Attempt, PassRate, Sample
from synthrl.store import RunStore, StoreError, list_runs

FORK = mp.get_context("fork")


def test_wal_mode_and_reopen(store):
    assert store.scalar("PRAGMA journal_mode") == "wal"
    sid = store.add_sample(Sample(None, "What is 2+3?", "2+3=5", "5"))
    store.close()
    again = RunStore.open("t", create=False)
    assert again.sample(sid).question == "What is 2+3?"
    assert again.scalar("PRAGMA journal_mode") == "wal"
    again.close()


def test_open_missing_run_without_create(runs_dir):
    with pytest.raises(StoreError, match="no run store"):
        RunStore.open("missing", create=False)
    assert not (runs_dir / "missing").exists()


def test_edits_by_an_author_keep_revisions(store):
    sid = store.add_sample(Sample(None, "What is 2+3?", "5", "5"))
    store.update_sample(sid, author="expert", question="What is 2+4?", answer="6", reference="6")
    store.update_sample(sid, status="verified")  # a pipeline update: no revision
    store.update_sample(sid, author="expert", answer="6")  # unchanged: no revision
    s = store.sample(sid)
    assert (s.question, s.answer, s.reference, s.status) == ("What is 2+4?", "6", "6", "verified")
    revs = store.revisions(sid)
    assert [(r["field"], r["old"], r["new"], r["author"]) for r in revs] == [
        ("question", "What is 2+3?", "What is 2+4?", "expert"),
        ("answer", "5", "6", "expert"),
        ("reference", "5", "6", "expert"),
    ]
    with pytest.raises(ValueError):
        store.update_sample(sid, id=3)
    with pytest.raises(StoreError, match="does not exist"):
        store.update_sample(9999, status="dropped")


def _writer(db_path, tag, n):
    s = RunStore(db_path)
    for i in range(n):
        s.add_sample(Sample(None, f"{tag}-{i}", str(i), str(i)))
        s.add_attempts([Attempt(0, tag, "sample", f"{tag}-{i}", str(i), i % 2 == 0)])
    s.close()


def test_two_processes_write_concurrently_without_loss(store):
    n = 150
    procs = [FORK.Process(target=_writer, args=(str(store.path), tag, n)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    # The parent reads while they write (as the UI does).
    while any(p.is_alive() for p in procs):
        store.status()
        time.sleep(0.01)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    questions = [s.question for s in store.samples()]
    assert len(questions) == 2 * n
    for tag in ("a", "b"):
        mine = [q for q in questions if q.startswith(tag + "-")]
        assert mine == [f"{tag}-{i}" for i in range(n)]  # each writer's order kept, nothing lost
    assert store.scalar("SELECT count(*) FROM attempts") == 2 * n
    assert store.scalar("PRAGMA integrity_check") == "ok"


def _endless_writer(db_path, acked):
    s = RunStore(db_path)
    i = 0
    while True:
        s.add_sample(Sample(None, f"q{i}", str(i), str(i)))
        with acked.get_lock():
            acked.value = i + 1  # written and committed
        i += 1


def test_killed_writer_loses_at_most_the_item_in_flight(store):
    acked = FORK.Value("i", 0)
    p = FORK.Process(target=_endless_writer, args=(str(store.path), acked))
    p.start()
    deadline = time.monotonic() + 60
    while acked.value < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    assert p.exitcode == -signal.SIGKILL
    committed = acked.value
    assert committed >= 40
    reopened = RunStore(store.path)
    questions = [s.question for s in reopened.samples()]
    assert committed <= len(questions) <= committed + 1
    assert questions == [f"q{i}" for i in range(len(questions))]
    assert reopened.scalar("PRAGMA integrity_check") == "ok"
    reopened.add_sample(Sample(None, "after the crash"))  # still writable
    reopened.close()


def test_status_counts(store):
    ids = [store.add_sample(Sample(None, f"q{i}", status=st, origin=o))
           for i, (st, o) in enumerate([("verified", "generated"), ("verified", "harder"),
                                        ("dropped", "generated"), ("pending", "easier")])]
    store.set_pass_rate(PassRate(ids[0], "m1", 8, 3, True))
    store.add_attempts([Attempt(ids[0], "m1", "sample", "c", "1", True)] * 3)
    store.add_selection("paper", {"rule": "paper"}, ids[:2], "m1")
    store.add_metrics(5, {"train/reward": 0.5})
    store.add_failure("generate", "parse", "not JSON", raw="{")
    store.add_evaluation("base", "bench.jsonl", [{"correct": True}, {"correct": False}], (0.1, 0.9))
    store.set_progress("measure", 1, 4)
    st = store.status()
    assert st["samples"] == 4
    assert st["samples_by_status"] == {"verified": 2, "dropped": 1, "pending": 1}
    assert st["samples_by_origin"] == {"generated": 2, "harder": 1, "easier": 1}
    assert (st["measured"], st["attempts"], st["selected"], st["train_steps"]) == (1, 3, 2, 5)
    assert st["parse_failures"] == 1
    assert st["evaluations"] == [{"model": "base", "accuracy": 0.5, "n": 2}]
    assert st["progress"]["measure"]["done"] == 1


def test_list_runs(runs_dir):
    assert list_runs() == []
    for name, n in (("alpha", 2), ("beta", 1)):
        s = RunStore.open(name)
        for i in range(n):
            s.add_sample(Sample(None, f"q{i}"))
        s.close()
    broken = runs_dir / "broken"
    broken.mkdir()
    (broken / "run.db").write_bytes(b"this is not a database" * 100)
    (runs_dir / "not-a-run").mkdir()
    runs = {r["run"]: r for r in list_runs()}
    assert set(runs) == {"alpha", "beta", "broken"}
    assert runs["alpha"]["samples"] == 2 and runs["beta"]["samples"] == 1
    assert runs["alpha"]["created_at"] > 0
    assert "error" in runs["broken"]


def test_newer_schema_is_refused(store):
    store.set_meta("schema_version", "999")
    store.close()
    with pytest.raises(StoreError, match="newer synthrl"):
        RunStore.open("t")


def test_store_writes_are_plain_sqlite(store):
    """Other tools (pandas, sqlite3 CLI) can read a run while it is open."""
    store.add_sample(Sample(None, "q"))
    conn = sqlite3.connect(str(store.path))
    assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 1
    conn.close()


def test_sample_rows_reads_named_fields_only(store):
    """The library reads sample fields through the store; a field name that is not one (e.g. from a fix's
    --field) is refused by name instead of reaching SQL."""
    ids = [store.add_sample(Sample(None, f"q{i}", str(i), str(i), status="verified" if i % 2 else "pending"))
           for i in range(2000)]
    assert store.sample_rows(("id", "question"), ids=[ids[5], ids[1999], ids[3]]) == [
        (ids[3], "q3"), (ids[5], "q5"), (ids[1999], "q1999")]
    assert len(store.sample_rows(("id",), ids=ids)) == 2000  # read in parts of 900
    assert [r[0] for r in store.sample_rows(("reference",), statuses=("pending",))][:3] == ["0", "2", "4"]
    assert store.n_with_status(("verified",)) == 1000
    with pytest.raises(ValueError, match="not a sample field: question; DROP TABLE samples"):
        store.sample_rows(("id", "question; DROP TABLE samples"))
