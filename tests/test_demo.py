"""The demo profile's promise, end to end with the bundled models (slow: ~10-15 minutes on 2 idle CPU cores).

The trained student beats the base on held-out addition questions phrased unlike its training
questions by >= 20 points of greedy accuracy, with non-overlapping 95% intervals. The wall time
is printed by bench/demo.py, never asserted here.
"""
from __future__ import annotations

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_demo_profile_learns_addition(tmp_path):
    from synthrl.config import RunConfig
    from synthrl.pipeline import run_pipeline
    from synthrl.stages.demo_questions import label_accuracy
    from synthrl.store import RunStore

    folder = tmp_path / "demo"
    run_pipeline(folder, task_path=ROOT / "assets" / "tasks" / "demo_addition.yaml",
                 docs=[ROOT / "assets" / "corpus" / "demo_addition"], config=RunConfig.from_profile("demo"),
                 profile="demo", progress=None)
    store = RunStore(folder / "run.db")
    acc = label_accuracy(store)
    assert acc["total"] >= 20
    evals = store.evaluations()
    base = next(e for e in evals if e["model"] == "base")
    trained = next(e for e in evals if e["model"] != "base")
    assert base["n"] == trained["n"] >= 200
    assert trained["accuracy"] - base["accuracy"] >= 0.20
    assert trained["ci_low"] > base["ci_high"]
