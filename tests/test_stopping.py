"""Generation stops where the answer is complete, and what is graded does not change."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import TASKS

from synthrl.scoring import extract, is_correct
from synthrl.stopping import AnswerStop
from synthrl.task import load_task

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_checker", ROOT / "bench" / "checker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stream_cut(text: str, stop: AnswerStop) -> str:
    """The reply as a generator that stops at the first complete answer would leave it."""
    for i, ch in enumerate(text):
        if stop.triggers(ch) and stop.complete(text[: i + 1]):
            return text[: i + 1]
    return text


def test_stopping_never_changes_the_grade_of_real_replies():
    bench = _bench()
    changed, cut, total = [], 0, 0
    for name, (type_, fmt, choices) in bench.SETS.items():
        task = bench.fixture_task(name, type_, fmt, choices)
        stop = AnswerStop.for_task(task)
        for r in bench.load(name):
            short = stream_cut(r["reply"], stop)
            total += 1
            cut += len(short) < len(r["reply"].rstrip())
            if is_correct(short, r["reference"], task) != is_correct(r["reply"], r["reference"], task):
                changed.append(r["id"])
    assert total >= 50
    assert changed == []


@pytest.mark.parametrize("task_name, reply, done_at", [
    ("gsm8k", "3 + 4 = 7 eggs.\n#### 7\nThe next question is", "#### 7\n"),
    ("math", "So $x = \\boxed{\\frac{1}{2}}$. Now let us verify", "\\boxed{\\frac{1}{2}}"),
    ("medqa", "<think>the vignette...</think> <answer>C</answer> and then some more text", "</answer>"),
    ("demo_addition", "64\nA shop sold 12 apples", "64\n"),
    ("demo_addition", "70 + 66 = 136\nA shop sold 12 apples", "= 136\n"),
    ("demo_addition", "The shop sold 23 and 41.\nSo the answer is 64.\nNow a new problem:", "64.\n"),
])
def test_generation_stops_right_after_the_answer(task_name, reply, done_at):
    task = load_task(TASKS / f"{task_name}.yaml")
    stop = AnswerStop.for_task(task)
    short = stream_cut(reply, stop)
    assert short.endswith(done_at)
    assert extract(short, task) == extract(reply[: reply.index(done_at) + len(done_at)], task)


def test_reasoning_before_the_answer_is_not_cut():
    """A model that ignores "just the number" and reasons first is stopped after its answer line only."""
    task = load_task(TASKS / "demo_addition.yaml")
    stop = AnswerStop.for_task(task)
    reply = ("The grocery had 26 tulips on the shelf and 26 more in the storeroom. To find the total\n\n"
             "we add 26 and 26.\nThe answer is 52.\nExtra")
    short = stream_cut(reply, stop)
    assert short.endswith("The answer is 52.\n") and extract(short, task) == "52"
    assert not stop.complete("#### 5")      # an unfinished line is not an answer yet
    gsm = AnswerStop.for_task(load_task(TASKS / "gsm8k.yaml"))
    assert not gsm.complete("#### 5") and gsm.complete("#### 5\n")
    assert not AnswerStop.for_task(load_task(TASKS / "math.yaml")).complete("\\boxed{\\frac{1}{2}")


def test_transformers_backend_stops_rows_independently():
    """The stopping criterion, on the bundled tokenizer: each row stops at its own answer; others go on."""
    import torch

    from synthrl.backends.transformers_backend import _answer_stopping
    from synthrl.models import prepare_bundled_model

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(prepare_bundled_model(quiet=True))
    task = load_task(TASKS / "gsm8k.yaml")
    prompt = tok("Q: 3+4?\n", add_special_tokens=False)["input_ids"]
    rows = ["Add them.\n#### 7\nand more words here", "Thinking about it for a long while without end"]
    ids = [prompt + tok(r, add_special_tokens=False)["input_ids"] for r in rows]
    crit = _answer_stopping(AnswerStop.for_task(task), tok, prompt_len=len(prompt))
    width = max(map(len, ids))
    done = None
    for t in range(len(prompt) + 1, width + 1):
        batch = torch.tensor([(r + [tok.eos_token_id] * width)[:t] for r in ids])
        done = crit(batch, None)
    assert 0 in crit.stopped_at and 1 not in crit.stopped_at
    kept = tok.decode(ids[0][len(prompt):len(prompt) + crit.stopped_at[0]])
    assert kept.rstrip().endswith("#### 7") and "more words" not in kept
    assert bool(done[0]) and not bool(done[1])


def test_a_declared_pattern_stops_after_its_line():
    from synthrl.task import AnswerSpec, TaskDefinition

    task = TaskDefinition("p", "d", "i", "o", AnswerSpec("number", (), (), "plain", "flexible", r"RESULT=(\d+)"))
    stop = AnswerStop.for_task(task)
    assert stop.mode == "pattern"
    assert not stop.complete("thinking RESULT=4") and stop.complete("thinking RESULT=42\n")


def test_openai_server_gets_the_stop_string_and_the_tag_is_put_back():
    """vLLM's OpenAI server cuts the matched stop string and names it in stop_reason; the checker still reads it."""
    from loopback_server import LoopbackServer

    from synthrl.backends.base import GenerationParams
    from synthrl.backends.openai_compat import OpenAIChatModel

    task = load_task(TASKS / "medqa.yaml")
    stop = AnswerStop.for_task(task)
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "loopback",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "reasoning <answer>C"},
                         "finish_reason": "stop", "stop_reason": "</answer>"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    with LoopbackServer() as srv:
        srv.reply_raw(body)
        model = OpenAIChatModel(model="loopback", base_url=srv.url)
        out = model.chat_one([{"role": "user", "content": "q"}], GenerationParams(stop=stop))
        assert srv.chat_requests[-1]["stop"] == ["</answer>"]
    assert out[0].text == "reasoning <answer>C</answer>"
    from dataclasses import replace

    strict = replace(task, answer=replace(task.answer, reading="strict"))
    assert is_correct(out[0].text, "C", strict)


def test_training_rollouts_end_with_eos_where_the_answer_is_complete():
    """TRL masks a completion after its first EOS: a row stopped at its answer gets one there."""
    import torch
    from transformers import AutoTokenizer

    from synthrl.models import prepare_bundled_model
    from synthrl.stages.train import stop_rollouts_at_answer

    tok = AutoTokenizer.from_pretrained(prepare_bundled_model(quiet=True))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    scripted = [tok("#### 7\nrambling on and on", add_special_tokens=False)["input_ids"],
                tok("still thinking about the sum", add_special_tokens=False)["input_ids"]]

    class FakeModel:
        def generate(self, input_ids=None, stopping_criteria=None, **kw):
            """Token by token like transformers: stopped rows are padded, the criteria asked each step."""
            rows = [list(r) for r in input_ids.tolist()]
            done = [False, False]
            for t in range(max(map(len, scripted))):
                for i, seq in enumerate(scripted):
                    rows[i].append(pad if done[i] or t >= len(seq) else seq[t])
                flags = stopping_criteria[0](torch.tensor(rows), None)
                done = [d or bool(f) for d, f in zip(done, flags)]
            return torch.tensor(rows)

    model = FakeModel()
    stop_rollouts_at_answer(model, tok, AnswerStop.for_task(load_task(TASKS / "gsm8k.yaml")))
    prompt = torch.tensor([[1, 2, 3], [1, 2, 3]])
    out = model.generate(input_ids=prompt)
    first = out[0, 3:].tolist()
    cut = first.index(tok.eos_token_id)
    assert tok.decode(first[:cut]).rstrip().endswith("#### 7")
    assert out[1, 3:3 + len(scripted[1])].tolist() == scripted[1]  # the other row ran on
