"""Evaluation (stage 7): benchmark loading, greedy accuracy with the task's checker, Wilson CI, base vs trained."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from fakes import ScriptedChatModel
from train_helpers import ADDITION, tiny_model  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent
DEMO_BENCH = ROOT / "assets" / "benchmarks" / "demo_addition.jsonl"


def _bench(path: Path, rows: list, raw_lines: list[str] = ()) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(line + "\n" for line in raw_lines))
    return path


def _sum_of(conv) -> int:
    a, b = map(int, re.findall(r"\d+", conv[-1]["content"])[:2])
    return a + b


def test_wilson_interval_matches_the_formula_and_its_limits():
    from synthrl.stages.evaluate import wilson_interval

    lo, hi = wilson_interval(5, 10)
    assert lo < 0.5 < hi and math.isclose(lo + hi, 1.0)  # symmetric around p = 0.5
    assert math.isclose(lo, 0.2366, abs_tol=1e-4) and math.isclose(hi, 0.7634, abs_tol=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.31  # never a zero-width interval at 0/n
    assert wilson_interval(0, 0) == (0.0, 0.0)
    # more items, narrower interval
    assert (lambda a, b: a[1] - a[0] > b[1] - b[0])(wilson_interval(30, 60), wilson_interval(300, 600))


def test_scripted_model_gets_the_accuracy_it_earns(store, tmp_path):
    """A fake student that is right on every second question: accuracy, items, CI and greedy params are exact."""
    from synthrl.stages.evaluate import EvalConfig, evaluate, wilson_interval

    rows = [{"q": f"What is {10 + i} + {20 + 2 * i}?", "a": str(30 + 3 * i)} for i in range(10)]
    bench = _bench(tmp_path / "b.jsonl", rows)
    seen = []

    def script(conv, k):
        seen.append(conv)
        total = _sum_of(conv)
        return f"The answer is {total}" if total % 2 == 0 else f"{total + 1}"

    fake = ScriptedChatModel(script)
    store.save_task(ADDITION)
    eid = evaluate(store, ADDITION, fake, bench, EvalConfig(question_field="q", answer_field="a", batch_size=4))
    expected = [int(r["a"]) % 2 == 0 for r in rows]
    ev = next(e for e in store.evaluations() if e["id"] == eid)
    assert ev["n"] == 10 and ev["n_correct"] == sum(expected)
    assert (ev["ci_low"], ev["ci_high"]) == pytest.approx(wilson_interval(sum(expected), 10))
    items = store.eval_items(eid)
    assert [bool(i["correct"]) for i in items] == expected
    assert [i["question"] for i in items] == [r["q"] for r in rows]
    assert all(i["extracted"] is not None for i in items)
    # greedy, in batches of 4, with the student prompt (question + output format)
    assert all(p.temperature == 0 and p.n == 1 for _, p in fake.calls)
    assert len(fake.calls) == 10 and "Answer with just the number." in seen[0][-1]["content"]
    assert store.progress("eval")["state"] == "done"


def test_bad_benchmark_lines_are_reported_with_line_numbers(store, tmp_path):
    from synthrl.stages.evaluate import EvalConfig, EvalError, evaluate, load_benchmark

    bench = _bench(tmp_path / "b.jsonl", [{"question": "What is 1 + 2?", "answer": 3}],
                   ['{"question": "What is 2 + 2?"', '["not", "an", "object"]', '{"question": "What is 3 + 3?"}',
                    "", '{"question": "What is 4 + 4?", "answer": "8"}'])
    items, problems = load_benchmark(bench)
    assert [i.line for i in items] == [1, 6] and items[0].answer == "3"
    assert [p.split(":")[1] for p in problems] == ["2", "3", "4"]
    assert "not valid JSON" in problems[0] and "expected a JSON object" in problems[1]
    assert "'answer'" in problems[2]
    fake = ScriptedChatModel(lambda conv, k: str(_sum_of(conv)))
    with pytest.raises(EvalError, match=r"(?s)3 bad line\(s\).*b\.jsonl:2: not valid JSON"):
        evaluate(store, ADDITION, fake, bench)
    eid = evaluate(store, ADDITION, fake, bench, EvalConfig(skip_bad_lines=True))
    assert [i["correct"] for i in store.eval_items(eid)] == [1, 1]
    with pytest.raises(EvalError, match="not found"):
        load_benchmark(tmp_path / "missing.jsonl")
    with pytest.raises(EvalError, match="no usable items"):
        evaluate(store, ADDITION, fake, bench, EvalConfig(question_field="prompt", skip_bad_lines=True))


def test_compare_lists_fixed_and_broken_items(store, tmp_path):
    from synthrl.stages.evaluate import compare, evaluate

    rows = [{"question": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(1, 7)]
    bench = _bench(tmp_path / "b.jsonl", rows)
    # base right on items 0-2, trained right on items 2-5
    base = ScriptedChatModel(lambda conv, k: str(_sum_of(conv) + (0 if _sum_of(conv) <= 6 else 1)), "base-v")
    trained = ScriptedChatModel(lambda conv, k: str(_sum_of(conv) + (0 if _sum_of(conv) >= 6 else 1)), "trained-v")
    a = evaluate(store, ADDITION, base, bench)
    b = evaluate(store, ADDITION, trained, bench)
    c = compare(store, a, b)
    assert c.n == 6 and c.fixed == (3, 4, 5) and c.broken == (0, 1) and c.both_right == 1 and c.both_wrong == 0
    assert c.base_accuracy == pytest.approx(3 / 6) and c.trained_accuracy == pytest.approx(4 / 6)


def test_demo_benchmark_file_is_valid_and_held_out():
    from synthrl.scoring import is_correct
    from synthrl.stages.evaluate import load_benchmark
    from synthrl.task import load_task

    items, problems = load_benchmark(DEMO_BENCH)
    assert problems == [] and len(items) == 100
    assert len({i.question for i in items}) == 100
    task = load_task(ROOT / "assets" / "tasks" / "demo_addition.yaml")
    demo_inputs = {d.input for d in task.demos}
    for it in items:
        a, b = map(int, re.findall(r"\d+", it.question)[:2])
        assert 10 <= a < 100 and 10 <= b < 100 and it.answer == str(a + b)
        assert it.question not in demo_inputs
        assert is_correct(it.answer, it.answer, task)


def test_bundled_model_on_five_items_and_the_cli_side_by_side(store, runs_dir, tiny_model, capsys):
    """The real path (transformers backend, greedy, the checker) through the CLI: base, then a trained folder."""
    from synthrl.cli import main
    from synthrl.scoring import is_correct
    from synthrl.stages.evaluate import EvalConfig, EvalError, evaluate
    from synthrl.task import load_task

    task = load_task(ROOT / "assets" / "tasks" / "demo_addition.yaml")
    store.save_task(task)
    with pytest.raises(EvalError, match="no trained model yet"):
        evaluate(store, task, "latest", DEMO_BENCH, EvalConfig(limit=5))
    assert main(["eval", "t", "--benchmark", str(DEMO_BENCH), "--model", "base", "--limit", "5",
                 "--max-tokens", "16"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"demo_addition.jsonl: base: +\d+\.\d%  \(\d/5, 95% CI \d+\.\d-\d+\.\d%\)", out)
    base = store.evaluations()[-1]
    items = store.eval_items(base["id"])
    assert len(items) == 5 and all(i["completion"] for i in items)
    for i in items:  # every stored verdict is the checker's verdict on the stored completion
        assert bool(i["correct"]) == is_correct(i["completion"], i["reference"], task)
    # a "trained" model given as a folder (the tiny random model here) is shown beside the base
    assert main(["eval", "t", "--benchmark", str(DEMO_BENCH), "--model", str(tiny_model), "--limit", "5",
                 "--max-tokens", "8"]) == 0
    out = capsys.readouterr().out
    trained = store.evaluations()[-1]
    m = re.search(r"(\d+) fixed, (\d+) broken, (\d+) right in both, (\d+) wrong in both", out)
    assert "  base " in out and "  trained " in out and m
    fixed, broken, both_right, both_wrong = map(int, m.groups())
    assert fixed + broken + both_right + both_wrong == 5
    assert fixed + both_right == trained["n_correct"] and broken + both_right == base["n_correct"]
    assert main(["eval", "t", "--benchmark", str(runs_dir / "nope.jsonl")]) == 1
    assert "benchmark file not found" in capsys.readouterr().err


def test_an_evaluation_is_keyed_by_the_selection_its_model_was_trained_on(store, tmp_path, tiny_model):
    from synthrl.stages.evaluate import EvalConfig, evaluate

    store.save_task(ADDITION)
    bench = _bench(tmp_path / "b.jsonl", [{"question": "What is 2 + 3?", "answer": "5"}])
    model = str(Path(tiny_model).resolve())
    store.add_trained_model(model, 7, algo="grpo")
    eid = evaluate(store, ADDITION, model, bench, EvalConfig(max_tokens=2))
    base_id = evaluate(store, ADDITION, ScriptedChatModel(lambda conv, k: "5"), bench)
    rows = {e["id"]: e for e in store.evaluations()}
    assert rows[eid]["model"] == model and rows[eid]["selection_id"] == 7
    assert rows[base_id]["selection_id"] is None
