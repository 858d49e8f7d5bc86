"""Who may reach the app, and where uploads may land."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ui.security import SecurityError, is_loopback, resolve_auth, safe_filename, save_upload

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_login(host):
    assert is_loopback(host)
    assert resolve_auth(host, None, env={}) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_non_loopback_without_auth_is_refused(host):
    with pytest.raises(SecurityError, match="--auth"):
        resolve_auth(host, None, env={})
    # an explicit opt-out or a login makes it acceptable
    assert resolve_auth(host, None, insecure=True, env={}) is None
    assert resolve_auth(host, "ann:s3:cret", env={}) == ("ann", "s3:cret")
    assert resolve_auth(host, None, env={"SYNTHRL_AUTH": "bob:pw"}) == ("bob", "pw")


@pytest.mark.parametrize("bad", ["nopassword", "user:", ":pw", ""])
def test_malformed_auth_is_refused(bad):
    with pytest.raises(SecurityError, match="USER:PASSWORD"):
        resolve_auth("0.0.0.0", bad, env={})


def test_cli_refuses_open_bind_with_a_clear_message(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SYNTHRL_RUNS": str(tmp_path), "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--host", "0.0.0.0", "--port", "7999"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 1
    assert "refusing to serve on 0.0.0.0" in r.stderr and "--auth" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("name, expected", [
    ("notes.txt", "notes.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\evil.md", "evil.md"),
    ("My Notes (v2).pdf", "My_Notes_v2_.pdf"),
    (".hidden.csv", "hidden.csv"),
])
def test_file_names_are_sanitised(name, expected):
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", ["..", "/", "...", "???"])
def test_unusable_file_names_are_refused(name):
    with pytest.raises(SecurityError):
        safe_filename(name)


def test_uploads_stay_inside_the_run(tmp_path):
    run = tmp_path / "runs" / "r1"
    src = tmp_path / "incoming"
    src.mkdir()
    f = src / "ledger.txt"
    f.write_text("sold 3 apples")
    # the browser-supplied name tries to climb out of the run folder
    dest = save_upload(run, f, original_name="../../../outside.txt")
    assert dest == (run / "uploads" / "outside.txt").resolve()
    assert not (tmp_path / "outside.txt").exists()
    # the same content again is reused; different content under the same name gets a numbered copy
    assert save_upload(run, f) == (run / "uploads" / "ledger.txt").resolve()
    assert save_upload(run, f) == (run / "uploads" / "ledger.txt").resolve()
    g = src / "sub"
    g.mkdir()
    (g / "ledger.txt").write_text("sold 4 pears")
    assert save_upload(run, g / "ledger.txt").name == "ledger-1.txt"
    assert sorted(p.name for p in (run / "uploads").iterdir()) == ["ledger-1.txt", "ledger.txt", "outside.txt"]


def test_unsupported_upload_type_is_refused(tmp_path):
    f = tmp_path / "tool.sh"
    f.write_text("rm -rf /")
    with pytest.raises(SecurityError, match="unsupported file type"):
        save_upload(tmp_path / "run", f)
    assert not (tmp_path / "run" / "uploads" / "tool.sh").exists()


def test_app_refuses_run_names_that_are_paths(runs_dir):
    import gradio as gr

    from ui import app

    for bad in ("../x", "/etc", "a/b"):
        with pytest.raises(gr.Error):
            app._store(bad)
    assert app._initial_run("../../etc") is None


# -- uploads: only files Gradio received from a browser ------------------------------------------------------
def _secret(tmp_path) -> Path:
    d = tmp_path / "server"
    d.mkdir()
    f = d / "secret.txt"
    f.write_text("TOP SECRET 42")
    return f


def test_upload_outside_gradios_folder_is_refused(tmp_path):
    gradio_dir = tmp_path / "gradio"
    gradio_dir.mkdir()
    secret = _secret(tmp_path)
    with pytest.raises(SecurityError, match="not received from a browser"):
        save_upload(tmp_path / "run", secret, upload_dir=gradio_dir)
    # a link planted inside the upload folder is followed before the check
    (gradio_dir / "abc").mkdir()
    (gradio_dir / "abc" / "notes.txt").symlink_to(secret)
    with pytest.raises(SecurityError, match="not received from a browser"):
        save_upload(tmp_path / "run", gradio_dir / "abc" / "notes.txt", upload_dir=gradio_dir)
    with pytest.raises(SecurityError):
        save_upload(tmp_path / "run", gradio_dir / ".." / "server" / "secret.txt", upload_dir=gradio_dir)
    assert not (tmp_path / "run" / "uploads").exists() or not any((tmp_path / "run" / "uploads").iterdir())
    # a real upload is copied
    (gradio_dir / "def").mkdir()
    real = gradio_dir / "def" / "ledger.txt"
    real.write_text("sold 3 apples")
    assert save_upload(tmp_path / "run", real, upload_dir=gradio_dir).read_text() == "sold 3 apples"


def test_save_uploads_handler_refuses_a_server_path(runs_dir, tmp_path):
    """The app's /save_uploads handler, called with a path the browser never sent, copies nothing."""
    from synthrl.store import RunStore
    from ui.tabs import knowledge

    RunStore.open("r1").close()
    secret = _secret(tmp_path)
    msg = knowledge.save_uploads("r1", [str(secret), "/etc/passwd"])
    uploads = runs_dir / "r1" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert "Refused" in msg and "not received from a browser" in msg


def test_eval_benchmark_path_is_limited_to_allowed_folders(runs_dir, tmp_path, monkeypatch):
    import gradio as gr

    from synthrl.store import RunStore
    from synthrl.task import load_task
    from ui.tabs import evaluate

    st = RunStore.open("r1")
    st.save_task(load_task(ROOT / "assets" / "tasks" / "demo_addition.yaml"))
    outside = tmp_path / "elsewhere" / "bench.jsonl"
    outside.parent.mkdir()
    outside.write_text('{"question": "1+1?", "answer": "2"}\n')
    started = []
    monkeypatch.setattr(evaluate, "_start", lambda run, stage, args, env=None: started.append(args) or "started")
    with pytest.raises(gr.Error, match="SYNTHRL_ALLOWED_DIRS"):
        evaluate.start_eval("r1", str(outside), 5, ("base",))
    with pytest.raises(gr.Error):
        evaluate.start_eval("r1", "/etc/passwd", 5, ("base",))
    assert started == []
    # the bundled benchmark, and a folder the operator allowed, are fine
    evaluate.start_eval("r1", "assets/benchmarks/demo_addition.jsonl", 5, ("base",))
    monkeypatch.setenv("SYNTHRL_ALLOWED_DIRS", str(outside.parent))
    evaluate.start_eval("r1", str(outside), 5, ("base",))
    assert len(started) == 2 and str(outside) in started[1]
    st.close()


@pytest.mark.parametrize("name", ["отчет.pdf", "報告.md", "تقرير 2024.txt", "Ünïcødé notes.md"])
def test_upload_names_in_any_script_are_kept(tmp_path, name):
    src = tmp_path / "in.bin"
    src.write_text("x")
    dest = save_upload(tmp_path / "run", src, original_name=name)
    assert dest.parent == (tmp_path / "run" / "uploads").resolve()
    assert dest.suffix == Path(name).suffix
    assert dest.stem.replace("_", " ") == Path(name).stem


def test_upload_names_stay_within_file_system_limits(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("x")
    dest = save_upload(tmp_path / "run", src, original_name="報" * 300 + ".txt")
    assert len(dest.name.encode()) <= 255 and dest.suffix == ".txt"


def test_api_call_naming_a_server_file_copies_nothing(tmp_path, monkeypatch):
    """Through the real server's HTTP API, as a remote client would send it."""
    import json
    import os
    import socket
    import time
    import urllib.request

    from synthrl.store import RunStore

    runs = tmp_path / "runs"
    monkeypatch.setenv("SYNTHRL_RUNS", str(runs))
    monkeypatch.delenv("SYNTHRL_AUTH", raising=False)
    RunStore.open("r1").close()
    env = dict(os.environ, GRADIO_TEMP_DIR=str(tmp_path / "gradio"))
    secret = _secret(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "app.log", "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 150
        while time.time() < deadline:
            try:
                urllib.request.urlopen(base + "/", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "app.log").read_text()
                time.sleep(0.5)
        for path in (str(secret), "/etc/passwd"):
            body = json.dumps({"data": ["r1", [{"path": path, "meta": {"_type": "gradio.FileData"}}]]}).encode()
            req = urllib.request.Request(base + "/gradio_api/call/save_uploads", data=body,
                                         headers={"Content-Type": "application/json"})
            event = json.load(urllib.request.urlopen(req, timeout=30))["event_id"]
            out = urllib.request.urlopen(f"{base}/gradio_api/call/save_uploads/{event}", timeout=60).read().decode()
            assert "event: error" in out
        uploads = runs / "r1" / "uploads"
        assert not uploads.exists() or list(uploads.iterdir()) == []
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
