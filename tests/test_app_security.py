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
