"""Cost and time before launching (synthrl/estimate.py, `--dry-run`), metering, estimate next to actual."""
from __future__ import annotations

import pytest

from fakes import ScriptedChatModel
from synthrl import estimate as est
from synthrl.backends.base import ChatModel, GenerationParams
from synthrl.records import PassRate, Sample, Vote


@pytest.fixture(autouse=True)
def no_leftover_usage():
    est._USAGE.clear()
    yield
    est._USAGE.clear()


def test_generate_estimate_counts_calls_tokens_time_and_money(store):
    e = est.estimate(store, "generate", n=10, votes=4, teacher_backend="openai", price_in=1.0, price_out=2.0)
    assert e.teacher_calls == 10 * 5 and e.student_calls == 0
    assert e.teacher_tokens_out == 50 * 256                    # nothing measured yet: a stated size
    assert e.seconds == pytest.approx(50 * 256 / est.DEFAULT_TOKENS_PER_S["openai"])
    assert e.money == pytest.approx((e.teacher_tokens_in * 1.0 + e.teacher_tokens_out * 2.0) / 1e6)
    assert any("assumed" in b for b in e.basis)


def test_existing_samples_and_measured_throughput_are_used(store):
    for i in range(4):
        sid = store.add_sample(Sample(None, "q" * 40, "a", "1", status="verified"))
        store.add_votes([Vote(sid, 0, "x" * 400, "1")])      # ~100 tokens a reply
    store.add_throughput("generate", "", "transformers", "bundled", 100, 5000, 20_000, 100.0)
    e = est.estimate(store, "generate", n=10, votes=1)
    assert e.teacher_calls == 6 * 2                             # 6 new samples, 1 generation + 1 vote each
    assert e.teacher_tokens_out == 12 * 100
    assert e.seconds == pytest.approx(1200 / 200.0)             # 20,000 tokens / 100 s measured
    assert any("measured by generate" in b for b in e.basis)


def test_measure_estimate_counts_unmeasured_samples(store):
    for i in range(3):
        sid = store.add_sample(Sample(None, "q", "a", "1", status="verified"))
    store.set_pass_rate(PassRate(sid, "v", 4, 1, None))
    e = est.estimate(store, "measure", rollouts=8)
    assert e.student_calls == 2 * 9 and e.teacher_calls == 0


def test_metered_model_counts_and_flushes_to_the_store(store):
    inner = ScriptedChatModel(lambda conv, k: "four words in reply")
    m = est.Metered(inner, "transformers", "bundled")
    assert isinstance(m, ChatModel) and m.version == "scripted-1" and m.calls is inner.calls
    m.chat([[{"role": "user", "content": "x"}]] * 2, GenerationParams(n=3))
    assert est.flush_usage(store, "measure", 1.0) == 1
    row = store.throughput()[-1]
    assert (row["stage"], row["backend"], row["calls"], row["completion_tokens"]) == ("measure", "transformers", 6, 24)
    assert est.flush_usage(store, "measure") == 0              # flushed once


def test_dry_run_prints_records_and_runs_nothing(store, capsys):
    from synthrl.cli import main

    from synthrl.task import bundled_tasks, load_task

    store.save_task(load_task(bundled_tasks()["demo_addition"]))
    assert main(["generate", "t", "--n", "20", "--votes", "2", "--dry-run", "--price-in", "0.5",
                 "--price-out", "1.5"]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing started" in out and "60 calls" in out and "money" in out
    assert store.count_samples() == 0
    assert store.estimates("generate")[-1]["data"]["dry_run"] is True
    assert main(["train", "t", "--profile", "tiny", "--max-steps", "3", "--dry-run"]) == 0
    assert "3 steps" in capsys.readouterr().out


def test_estimate_is_shown_next_to_the_actual(store):
    e = est.estimate(store, "measure", rollouts=4, samples=10)
    est.record(store, e)
    assert "no finished run measured yet" in est.estimate_vs_actual(store, "measure")
    store.add_throughput("measure", "", "transformers", "bundled", 50, 1000, 4000, 80.0)
    line = est.estimate_vs_actual(store, "measure")
    assert "estimated" in line and "actual 80 s, 50 calls, 4,000 tokens out" in line


def test_stage_guard_records_the_stage_throughput(store):
    from synthrl.commands.run_arg import stage_guard

    m = est.Metered(ScriptedChatModel(lambda conv, k: "a b"), "transformers", "bundled")
    with stage_guard(store, "measure"):
        m.chat([[{"role": "user", "content": "x"}]], GenerationParams(n=2))
    assert store.throughput()[-1]["completion_tokens"] == 4
