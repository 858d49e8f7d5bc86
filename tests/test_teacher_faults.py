"""Issue 14 §4: any teacher reply is handled — odd replies, a dead teacher, a key inside base_url.

The CLI tests run `python -m synthrl.cli` against the loopback server, as a user would.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopback_server import LoopbackServer
from synthrl.backends import get_backend
from synthrl.backends.base import BackendError, GenerationParams
from synthrl.backends.spec import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-test0123456789abcdef"

# No demos and a pinned domain: generation asks the teacher nothing but samples and votes.
PINNED_TASK = """\
name: plus
description: Add two whole numbers below 100 and give the total.
input_format: A short question with two numbers.
output_format: Answer with just the number.
answer: {type: number, format: plain}
retrieval: {domain: arithmetic}
"""
# Without pinned keywords the teacher is asked for them first.
ASKING_TASK = PINNED_TASK.replace("retrieval: {domain: arithmetic}\n", "")


def is_generation(req: dict) -> bool:
    return "Write ONE new" in req["messages"][-1]["content"]


def synthrl(*args: str, runs: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "SYNTHRL_RUNS": str(runs), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "synthrl.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(ROOT))


def progress_of(runs: Path, run: str, stage: str) -> dict:
    from synthrl.store import RunStore

    store = RunStore(runs / run / "run.db", create=False)
    try:
        return store.progress(stage)
    finally:
        store.close()


@pytest.fixture
def task_file(tmp_path):
    f = tmp_path / "plus.yaml"
    f.write_text(PINNED_TASK)
    return f


def model_for(srv: LoopbackServer, **kw):
    return get_backend("openai", model="loopback", base_url=srv.url, max_retries=0, **kw)


# -- the backend: every reply shape gives text or a BackendError ----------------------------------
def test_content_as_a_list_of_parts_is_joined_into_text():
    parts = [{"type": "text", "text": "The answer "}, {"type": "image_url", "image_url": {"url": "x"}},
             {"type": "text", "text": "is 5"}]
    with LoopbackServer(lambda req: parts) as srv:
        model = model_for(srv)
        try:
            [[c]] = model.chat([[{"role": "user", "content": "2+3?"}]], GenerationParams())
        finally:
            model.close()
    assert c.text == "The answer is 5"


def test_null_content_is_empty_text():
    with LoopbackServer(lambda req: None) as srv:
        model = model_for(srv)
        try:
            [[c]] = model.chat([[{"role": "user", "content": "2+3?"}]], GenerationParams())
        finally:
            model.close()
    assert c.text == ""


@pytest.mark.parametrize("payload, says", [
    ({"choices": []}, "no choices"),
    ({"choices": [{"message": {"content": 42}}]}, "not an OpenAI chat completion"),
    ({"choices": "nope"}, "not an OpenAI chat completion"),
    ([1, 2], "not an OpenAI chat completion"),
])
def test_unusable_replies_are_backend_errors_naming_the_server(payload, says):
    with LoopbackServer() as srv:
        srv.reply_raw(payload)
        model = model_for(srv)
        try:
            with pytest.raises(BackendError, match=says) as err:
                model.chat([[{"role": "user", "content": "2+3?"}]], GenerationParams())
        finally:
            model.close()
    assert srv.url in str(err.value)


@pytest.mark.parametrize("url", [f"https://user:{SECRET}@api.example.com/v1", f"http://{SECRET}@127.0.0.1:8000/v1",
                                 f"https://api.example.com/v1?api_key={SECRET}"])
def test_a_key_inside_base_url_is_refused_with_a_hint_and_never_echoed(url):
    with pytest.raises(ValueError) as err:
        ModelSpec(backend="openai", model="m", base_url=url)
    assert "api_key_env" in str(err.value) and SECRET not in str(err.value)
    with pytest.raises(BackendError) as err:
        get_backend("openai", model="m", base_url=url)
    assert "api_key_env" in str(err.value) and SECRET not in str(err.value)


# -- the generate stage ------------------------------------------------------------------------
def test_parts_content_reaches_samples_and_failure_records(store):
    """List-of-parts content used to reach the failure record as a list (sqlite3.ProgrammingError)."""
    from synthrl.stages.generate import GenerateConfig, generate
    from synthrl.stages.verify import VerifyConfig
    from synthrl.task import TaskDefinition

    task = TaskDefinition.from_yaml(PINNED_TASK)
    replies = iter([[{"type": "text", "text": "no JSON here"}]])

    def responder(req):
        if is_generation(req):
            return next(replies, [{"type": "text", "text": '{"input": "What is 2 + 3?", '},
                                  {"type": "text", "text": '"output": "5"}'}])
        return [{"type": "text", "text": "5"}]

    with LoopbackServer(responder) as srv:
        teacher = model_for(srv)
        try:
            report = generate(store, task, teacher, GenerateConfig(n=1, concurrency=1, dedup_threshold=None),
                              verify_config=VerifyConfig(votes=2))
        finally:
            teacher.close()
    assert report.total == 1 and store.progress("generate")["state"] == "done"
    [s] = store.samples()
    assert (s.question, s.reference, s.status) == ("What is 2 + 3?", "5", "verified")
    [failure] = store.failures("generate")
    assert failure["kind"] == "parse" and failure["raw"] == "no JSON here"


def test_a_teacher_that_dies_mid_run_stops_after_a_bounded_run_of_failures(store):
    from synthrl.stages.generate import GenerateConfig, GenerationError, generate
    from synthrl.stages.verify import VerifyConfig
    from synthrl.task import TaskDefinition

    task = TaskDefinition.from_yaml(PINNED_TASK)
    count = iter(range(10**6))

    def responder(req):
        if is_generation(req):
            return json.dumps({"input": f"What is {next(count)} + 3?", "output": "3"})
        return "3"

    with LoopbackServer(responder) as srv:
        srv.die(after=4)  # 2 samples (a generation and a vote request each), then HTTP 503 for ever
        teacher = get_backend("openai", model="loopback", base_url=srv.url, max_retries=1, backoff_base=0.001)
        try:
            with pytest.raises(GenerationError) as err:
                generate(store, task, teacher, GenerateConfig(n=50, concurrency=1, dedup_threshold=None,
                                                              max_failures_in_a_row=5),
                         verify_config=VerifyConfig(votes=1))
        finally:
            teacher.close()
        sent = len(srv.chat_requests)
    assert "5 generation attempts in a row" in str(err.value) and "HTTP 503" in str(err.value)
    assert "2 of 50 samples" in str(err.value)
    assert sent <= 4 + 5 * 2  # 5 failed attempts of 2 tries each, not 3n+10 attempts
    prog = store.progress("generate")
    assert prog["state"] == "failed" and "HTTP 503" in prog["message"]


def test_an_unexpected_error_still_ends_the_progress_record(store):
    from fakes import ScriptedChatModel
    from synthrl.stages.generate import GenerateConfig, generate
    from synthrl.task import TaskDefinition

    def script(conv, k):
        raise RuntimeError("teacher library bug")

    with pytest.raises(RuntimeError):
        generate(store, TaskDefinition.from_yaml(ASKING_TASK), ScriptedChatModel(script), GenerateConfig(n=2))
    prog = store.progress("generate")
    assert prog["state"] == "failed" and "teacher library bug" in prog["message"]


def test_ctrl_c_ends_the_progress_record_as_cancelled(store):
    from fakes import ScriptedChatModel
    from synthrl.stages.generate import GenerateConfig, generate
    from synthrl.task import TaskDefinition

    def script(conv, k):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(store, TaskDefinition.from_yaml(PINNED_TASK), ScriptedChatModel(script),
                 GenerateConfig(n=2, concurrency=1))
    assert store.progress("generate")["state"] == "cancelled"


# -- through the CLI ---------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["", None, [{"type": "text", "text": "not a sample"}]],
                         ids=["empty", "null", "parts"])
def test_cli_generate_fails_when_no_sample_is_made(tmp_path, task_file, content):
    with LoopbackServer(lambda req: content) as srv:
        r = synthrl("generate", "r", "--task", str(task_file), "--n", "6", "--teacher-url", srv.url,
                    "--teacher-model", "loopback", runs=tmp_path / "runs")
        sent = len(srv.chat_requests)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "generation stopped" in r.stderr and "unusable replies" in r.stderr
    assert sent <= 3 * (10 + 6)  # 10 failed attempts in a row (+ those in flight), 3 tries each
    prog = progress_of(tmp_path / "runs", "r", "generate")
    assert prog["state"] == "failed" and prog["done"] == 0


def test_cli_generate_stops_calling_a_dead_teacher(tmp_path, task_file):
    with LoopbackServer() as srv:
        srv.die(after=0)
        r = synthrl("generate", "r", "--task", str(task_file), "--n", "6", "--teacher-url", srv.url,
                    "--teacher-model", "loopback", runs=tmp_path / "runs")
        sent = len(srv.chat_requests)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "HTTP 503" in r.stderr and "the server is down" in r.stderr
    assert sent <= 5 * (10 + 6)  # at most 10 failed attempts (+ 6 in flight), 1 + 4 retries each
    assert progress_of(tmp_path / "runs", "r", "generate")["state"] == "failed"


def test_cli_run_with_a_teacher_that_answers_no_choices_is_one_error_line(tmp_path):
    task = tmp_path / "asking.yaml"
    task.write_text(ASKING_TASK)
    with LoopbackServer() as srv:
        srv.reply_raw({"choices": []}, times=100)
        r = synthrl("run", "--task", str(task), "--profile", "tiny", "--until", "generate",
                    "--set", "teacher.backend=openai", "--set", "teacher.model=loopback",
                    "--set", f"teacher.base_url={srv.url}", runs=tmp_path / "runs")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    [line] = [x for x in r.stderr.splitlines() if x.startswith("synthrl run: error:")]
    assert "no choices" in line and "keywords" in line
    assert progress_of(tmp_path / "runs", "plus", "generate")["state"] == "failed"


def test_cli_refuses_a_key_inside_the_teacher_url_and_stores_nothing_of_it(tmp_path, task_file):
    runs = tmp_path / "runs"
    r = synthrl("generate", "r", "--task", str(task_file), "--n", "1", "--teacher-model", "m",
                "--teacher-url", f"https://user:{SECRET}@api.example.com/v1", runs=runs)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "api_key_env" in r.stderr and SECRET not in r.stderr + r.stdout
    stored = b"".join(p.read_bytes() for p in runs.rglob("*") if p.is_file())
    assert SECRET.encode() not in stored
