"""Experiments: variant selections, and a two-variant experiment on the bundled model end to end."""
from __future__ import annotations

import json

import pytest

from synthrl.experiment import (ExperimentConfig, ExperimentError, differing_items, experiment_table, run_experiment,
                                variant_ids, write_reports)
from synthrl.records import PassRate, Sample
from synthrl.task import AnswerSpec, TaskDefinition

TASK = TaskDefinition(name="add", description="Two-number addition word problems.",
                      input_format="A short word problem.", output_format="Answer with just the number.",
                      answer=AnswerSpec("number", format="plain"))
RATES = {1: 0.0, 2: 0.25, 3: 0.5, 4: 1.0, 5: 0.75, 6: 0.125}
ROUNDS = {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 1}


def test_variant_selections_at_equal_m():
    assert variant_ids("paper", RATES, ROUNDS, 3, 0) == [6, 2, 3]
    assert variant_ids("no-adapt", RATES, ROUNDS, 3, 0) == [2, 3, 1]     # round 0 only; unsolved ties by id
    assert variant_ids("easy", RATES, ROUNDS, 2, 0) == [4, 5]
    assert variant_ids("hard", RATES, ROUNDS, 2, 0) == [1, 6]
    assert variant_ids("all", RATES, ROUNDS, 2, 0) == [1, 2, 3, 4, 5, 6]
    r0, r1 = variant_ids("random", RATES, ROUNDS, 3, 0), variant_ids("random", RATES, ROUNDS, 3, 1)
    assert len(r0) == 3 and r0 == variant_ids("random", RATES, ROUNDS, 3, 0) and set(r0) <= set(RATES)
    assert r0 != r1 or r0 == variant_ids("random", RATES, ROUNDS, 3, 2)  # seeded: another seed, (usually) another draw


def test_config_refuses_unknown_variants():
    with pytest.raises(ExperimentError, match="unknown variant"):
        ExperimentConfig(variants="paper,best")
    assert ExperimentConfig(variants="paper, random,paper").variants == ("paper", "random")


def _measured_run(store, tmp_path, n=8):
    store.save_task(TASK)
    for i in range(n):
        a, b = 11 + 7 * i, 20 + 3 * i
        sid = store.add_sample(Sample(None, f"What is {a} + {b}?", str(a + b), str(a + b), status="verified"))
        store.set_pass_rate(PassRate(sid, "v0", 4, i % 5))
    store.record_base_student_version("v0")
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"question": f"Add {a} and {a + 3}.", "answer": str(2 * a + 3)}) + "\n"
                             for a in (12, 25, 40)), encoding="utf-8")
    return bench


# ~1-2 minutes on 2 CPU cores: 2 one-step GRPO trainings and 3 evaluations of the bundled 135M model
@pytest.mark.slow
def test_two_variant_experiment_on_the_bundled_model(store, tmp_path, capsys):
    from synthrl.cli import main

    bench = _measured_run(store, tmp_path)
    cfg = ExperimentConfig(variants=("paper", "random"), m=4, benchmark=str(bench),
                           train_overrides=dict(max_steps=1, per_device_batch=4, num_generations=2,
                                                max_completion_length=8, heldout_fraction=0.0, save_steps=1),
                           eval_overrides=dict(max_tokens=8))
    rec = run_experiment(store, cfg, progress=None)
    assert set(rec["cells"]) == {"paper/s0", "random/s0"}
    sels = {c["selection_id"] for c in rec["cells"].values()}
    assert len(sels) == 2 and all(store.trained_model(s) for s in sels)   # one model folder per variant
    rows = experiment_table(store)
    assert [r.variant for r in rows] == ["base", "paper", "random"]
    assert all(r.n == 3 and 0 <= r.ci_low <= r.accuracy <= r.ci_high <= 1 for r in rows)
    assert rows[1].m == 4 and rows[1].steps == 1
    assert rows[1].change == pytest.approx(rows[1].accuracy - rows[0].accuracy)
    # curves are kept per cell
    assert store.metrics("train/reward", tag="exp:default:paper:s0")
    assert isinstance(differing_items(store), list)
    # resumable: a second run trains and evaluates nothing new
    n_evals = len(store.evaluations())
    run_experiment(store, cfg, progress=None)
    assert len(store.evaluations()) == n_evals
    # other settings under the same name are refused
    with pytest.raises(ExperimentError, match="other settings"):
        run_experiment(store, ExperimentConfig(variants=("paper",), m=3, benchmark=str(bench)), progress=None)
    html, md = write_reports(store, "default", tmp_path / "out")
    assert "plotly" in html.read_text() and "| paper | 4 |" in md.read_text()
    capsys.readouterr()  # what training printed
    assert main(["experiment", "t", "--report-only", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["variant"] for r in out["table"]] == ["base", "paper", "random"]


def test_table_reports_and_views_read_a_stored_experiment(store, tmp_path):
    """The read side, on a hand-made record (no training): table, differing items, Markdown, HTML, UI views."""
    from synthrl.experiment import CONFIG_PREFIX, html_report, markdown_summary

    store.save_task(TASK)
    items = lambda pattern: [{"question": f"q{i}", "reference": "1", "completion": "1" if ok else "2",  # noqa: E731
                              "extracted": "1" if ok else "2", "correct": ok} for i, ok in enumerate(pattern)]
    base = store.add_evaluation("base", "/b.jsonl", items([1, 0, 0, 0]), (0.05, 0.7))
    e0 = store.add_evaluation("/m/paper0", "/b.jsonl", items([1, 1, 1, 0]), (0.3, 0.95), selection_id=1)
    e1 = store.add_evaluation("/m/paper1", "/b.jsonl", items([1, 1, 0, 0]), (0.15, 0.85), selection_id=2)
    e2 = store.add_evaluation("/m/random0", "/b.jsonl", items([1, 0, 0, 0]), (0.05, 0.7), selection_id=3)
    store.set_config(CONFIG_PREFIX + "default", {
        "name": "default", "m": 4, "benchmark": "/b.jsonl", "pool": "8 samples sha1:x", "variants": ["paper", "random"],
        "train": {"algo": "grpo", "max_steps": 2, "learning_rate": 5e-6, "num_generations": 2, "temperature": 1.0},
        "base_eval": base, "seeds": 2, "cells": {
            "paper/s0": {"variant": "paper", "seed": 0, "m": 4, "steps": 2, "eval_id": e0, "train_seconds": 10},
            "paper/s1": {"variant": "paper", "seed": 1, "m": 4, "steps": 2, "eval_id": e1, "train_seconds": 12},
            "random/s0": {"variant": "random", "seed": 0, "m": 4, "steps": 2, "eval_id": e2}}})
    store.add_metrics(1, {"train/reward": 0.5}, tag="exp:default:paper:s0")
    rows = experiment_table(store)
    assert [(r.variant, r.seeds) for r in rows] == [("base", 1), ("paper", 2), ("random", 1)]
    assert rows[1].accuracy == pytest.approx(0.625) and rows[1].change == pytest.approx(0.375)
    assert rows[1].per_seed == (0.75, 0.5) and rows[1].seconds == pytest.approx(22)
    diff = differing_items(store)
    assert [d["idx"] for d in diff] == [1, 2]
    assert diff[0]["paper"].startswith("✓") and diff[0]["base"].startswith("✗")
    md = markdown_summary(store)
    assert "| paper | 4 | 2 (75.0, 50.0) | 62.5 |" in md and "+37.5" in md
    assert "<table>" in html_report(store)

    from ui import views

    assert list(views.experiment_frame(store)["variant"]) == ["base", "paper", "random"]
    assert len(views.experiment_diff_frame(store)) == 2
    assert views.experiment_figure(store) is not None
