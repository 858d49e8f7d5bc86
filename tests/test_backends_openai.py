"""The OpenAI-compatible backend against a local fake server, and ModelSpec."""
import json
import socket

import pytest
from loopback_server import LoopbackServer, loopback  # noqa: F401  (fixture)

from synthrl.backends import BackendError, GenerationParams
from synthrl.backends.openai_compat import OpenAIChatModel, normalize_base_url
from synthrl.backends.spec import BUNDLED_TEACHER_NOTE, ModelSpec, load_model

SCHEMA = {"type": "object", "properties": {"input": {"type": "string"}, "output": {"type": "string"}},
          "required": ["input", "output"]}


def conv(text):
    return [{"role": "user", "content": text}]


def make(srv, **kw):
    kw.setdefault("backoff_base", 0.01)
    return OpenAIChatModel(model=kw.pop("model", "loopback"), base_url=srv.url, **kw)


def test_batch_with_n_returns_n_completions_per_conversation(loopback):
    model = make(loopback)
    outs = model.chat([conv("a b c"), conv("d e")], GenerationParams(n=3, temperature=0.5, max_tokens=20, seed=4))
    assert [len(o) for o in outs] == [3, 3]
    assert all(c.text == "echo: a b c" for c in outs[0]) and outs[1][0].text == "echo: d e"
    assert outs[0][0].prompt_tokens == 3 and outs[0][0].completion_tokens > 0
    bodies = loopback.chat_requests
    assert len(bodies) == 2  # n went to the server, not 3 requests each
    assert all(b["n"] == 3 and b["temperature"] == 0.5 and b["max_tokens"] == 20 and b["seed"] == 4 for b in bodies)
    assert "loopback" in model.version and "127.0.0.1" in model.version


def test_server_that_ignores_n_gets_repeated_requests():
    counter = iter(range(1000))
    with LoopbackServer(lambda req: f"answer {next(counter)}", honour_n=False) as srv:
        model = make(srv)
        outs = model.chat([conv("q1"), conv("q2")], GenerationParams(n=3))
        assert [len(o) for o in outs] == [3, 3]
        assert len({c.text for c in outs[0] + outs[1]}) == 6
        assert model.server_honours_n is False
        before = len(srv.chat_requests)
        model.chat([conv("q3")], GenerationParams(n=2))
        new = srv.chat_requests[before:]
        assert len(new) == 2 and all("n" not in b for b in new)


def test_requests_of_a_batch_run_concurrently_within_the_bound():
    with LoopbackServer(delay=0.3) as srv:
        model = make(srv, max_concurrency=3)
        outs = model.chat([conv(f"q{i}") for i in range(7)], GenerationParams())
        assert [o[0].text for o in outs] == [f"echo: q{i}" for i in range(7)]  # order kept
        assert srv.max_in_flight == 3


def test_429_with_retry_after_then_success(loopback):
    loopback.fail(429, times=2, retry_after=0.01)
    out = make(loopback).chat_one(conv("hi"), GenerationParams())
    assert out[0].text == "echo: hi"
    assert len(loopback.chat_requests) == 3


def test_5xx_is_retried_then_gives_up_with_url_and_cause(loopback):
    loopback.fail(500, times=1)
    assert make(loopback).chat_one(conv("x"), GenerationParams())[0].text == "echo: x"
    loopback.fail(503, times=10, message="overloaded")
    with pytest.raises(BackendError) as e:
        make(loopback, max_retries=2).chat_one(conv("x"), GenerationParams())
    msg = str(e.value)
    assert loopback.url in msg and "3 attempt" in msg and "503" in msg and "overloaded" in msg


def test_hang_times_out_is_retried_and_finally_reported(loopback):
    loopback.hang(times=1, seconds=10)
    model = make(loopback, timeout=0.3)
    assert model.chat_one(conv("slow"), GenerationParams())[0].text == "echo: slow"
    loopback.hang(times=5, seconds=10)
    with pytest.raises(BackendError) as e:
        make(loopback, timeout=0.3, max_retries=1).chat_one(conv("slow"), GenerationParams())
    assert "timeout" in str(e.value) and loopback.url in str(e.value)


def test_unreachable_server_fails_at_once_with_clear_message():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    model = OpenAIChatModel(model="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=3, backoff_base=5)
    with pytest.raises(BackendError, match=f"cannot reach teacher at http://127.0.0.1:{port}/v1"):
        model.chat_one(conv("x"), GenerationParams())


def test_rejected_key_names_the_env_var_and_never_shows_the_key(monkeypatch):
    with LoopbackServer(api_key="sk-right-key-123") as srv:
        monkeypatch.setenv("SYNTHRL_TEST_KEY", "sk-wrong-key-456")
        with pytest.raises(BackendError) as e:
            make(srv, api_key_env="SYNTHRL_TEST_KEY").chat_one(conv("x"), GenerationParams())
        msg = str(e.value)
        assert "rejected the API key (env SYNTHRL_TEST_KEY)" in msg and "sk-wrong-key-456" not in msg
        monkeypatch.setenv("SYNTHRL_TEST_KEY", "sk-right-key-123")
        model = make(srv, api_key_env="SYNTHRL_TEST_KEY")
        assert model.chat_one(conv("x"), GenerationParams())[0].text == "echo: x"
        assert "sk-right-key-123" not in repr(model)


def test_unknown_model_lists_available_models(loopback):
    with pytest.raises(BackendError) as e:
        make(loopback, model="gpt-nope").chat_one(conv("x"), GenerationParams())
    assert str(e.value) == f"model 'gpt-nope' not found at {loopback.url}; available: loopback"


def test_wrong_path_says_base_url_is_wrong(loopback):
    model = OpenAIChatModel(model="loopback", base_url=loopback.root + "/api/v2")
    with pytest.raises(BackendError, match="is base_url right"):
        model.chat_one(conv("x"), GenerationParams())


def test_base_url_is_normalized():
    assert normalize_base_url("http://localhost:8000") == "http://localhost:8000/v1"
    assert normalize_base_url("http://h:1/v1/chat/completions") == "http://h:1/v1"
    assert normalize_base_url(None) == "https://api.openai.com/v1"
    with pytest.raises(BackendError, match="base_url"):
        normalize_base_url("localhost:8000")


def test_schema_is_sent_as_strict_json_schema_response_format():
    with LoopbackServer(lambda req: json.dumps({"input": "2+2?", "output": "4"})) as srv:
        out = make(srv).chat_one(conv("make one"), GenerationParams(json_schema=SCHEMA))
        assert json.loads(out[0].text) == {"input": "2+2?", "output": "4"}
        rf = srv.chat_requests[0]["response_format"]
        assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
        sent = rf["json_schema"]["schema"]
        assert sent["properties"] == SCHEMA["properties"] and sent["additionalProperties"] is False
        # a schema that cannot be strict (optional keys) is still sent, not strict
        loose = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"]}
        make(srv).chat_one(conv("x"), GenerationParams(json_schema=loose))
        rf = srv.chat_requests[-1]["response_format"]["json_schema"]
        assert rf["strict"] is False and rf["schema"] == loose


def test_rejected_response_format_falls_back_once_and_reports_it():
    events = []
    with LoopbackServer(reject_response_format=True) as srv:
        model = make(srv, max_concurrency=4, on_event=lambda level, msg: events.append((level, msg)))
        params = GenerationParams(json_schema=SCHEMA)
        outs = model.chat([conv(f"q{i}") for i in range(4)], params)
        assert [o[0].text for o in outs] == [f"echo: q{i}" for i in range(4)]
        assert len(events) == 1 and events[0][0] == "warning"
        assert "does not support json_schema response_format" in events[0][1] and "plain prompting" in events[0][1]
        before = len(srv.chat_requests)
        model.chat([conv("again")], params)
        assert all("response_format" not in b for b in srv.chat_requests[before:])
        assert len(events) == 1


# ---------------------------------------------------------------- ModelSpec

def test_model_spec_round_trips_and_validates():
    spec = ModelSpec(backend="openai", model="gpt-4o-mini", base_url="http://localhost:8000/v1",
                     api_key_env="MY_KEY", max_concurrency=4)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert not spec.is_bundled and ModelSpec().is_bundled
    with pytest.raises(ValueError, match="unknown model setting.*temprature"):
        ModelSpec.from_dict({"model": "x", "temprature": 1})
    with pytest.raises(ValueError, match="backend 'gpt' is unknown"):
        ModelSpec(backend="gpt")
    with pytest.raises(ValueError, match="base_url"):
        ModelSpec(backend="openai", model="m", base_url="localhost:8000")
    with pytest.raises(ValueError, match="max_concurrency"):
        ModelSpec(backend="openai", model="m", max_concurrency=0)
    with pytest.raises(ValueError) as e:
        ModelSpec(backend="openai", model="m", api_key_env="sk-abcdef123456")
    assert "NAME of an environment variable" in str(e.value) and "sk-abcdef123456" not in str(e.value)
    assert "OpenAI-compatible" in BUNDLED_TEACHER_NOTE and "135M" in BUNDLED_TEACHER_NOTE


def test_load_model_builds_the_openai_backend_and_passes_events(loopback, monkeypatch):
    monkeypatch.setenv("SOME_KEY", "sk-secret-value-1")
    loopback.reject_response_format = True
    events = []
    spec = ModelSpec(backend="openai", model="loopback", base_url=loopback.url, api_key_env="SOME_KEY",
                     max_concurrency=2, timeout=5, max_retries=1)
    model = load_model(spec, on_event=lambda *e: events.append(e))
    assert model.max_concurrency == 2 and model.max_retries == 1
    model.chat_one(conv("x"), GenerationParams(json_schema=SCHEMA))
    assert len(events) == 1
    assert "sk-secret-value-1" not in json.dumps(spec.to_dict())
    assert loopback.requests[-1].headers["authorization"] == "Bearer sk-secret-value-1"
