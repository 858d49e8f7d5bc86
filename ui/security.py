"""Who may reach the app, and where uploaded files may go.

- Binding to anything but loopback needs a login (`--auth user:pass` or SYNTHRL_AUTH),
  unless the user says `--insecure-no-auth` explicitly.
- Uploaded files are copied into the open run's uploads/ folder under a sanitised name;
  nothing the browser sends can choose a path outside it.

    auth = resolve_auth("0.0.0.0", "ann:s3cret", insecure=False)   # -> ("ann", "s3cret")
    dest = save_upload(run_dir, "/tmp/gradio/abc/My Notes (v2).pdf")  # -> run_dir/uploads/My_Notes_v2_.pdf
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shutil
from pathlib import Path

ALLOWED_SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".docx", ".jsonl", ".json", ".csv")
MAX_NAME = 120


class SecurityError(ValueError):
    """A refused bind or upload; the message says what to do instead."""


def is_loopback(host: str) -> bool:
    h = (host or "").strip().strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def parse_auth(text: str) -> tuple[str, str]:
    user, sep, password = (text or "").partition(":")
    if not sep or not user.strip() or not password:
        raise SecurityError("--auth must be USER:PASSWORD with a non-empty user and password")
    return user.strip(), password


def resolve_auth(host: str, auth: str | None, insecure: bool = False,
                 env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """The login to require for `host`, or None; refuses an open non-loopback bind."""
    env = os.environ if env is None else env
    auth = auth or env.get("SYNTHRL_AUTH") or None
    if auth:
        return parse_auth(auth)
    if is_loopback(host) or insecure:
        return None
    raise SecurityError(
        f"refusing to serve on {host} without a login: anyone who can reach this machine could read your runs "
        f"and start jobs. Add --auth USER:PASSWORD (or set SYNTHRL_AUTH=USER:PASSWORD), bind to 127.0.0.1, "
        f"or pass --insecure-no-auth if you really mean it."
    )


def safe_filename(name: str) -> str:
    """A file name with no path, no leading dots and only [A-Za-z0-9._-]; raises on nothing usable."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")
    stem, dot, suffix = base.rpartition(".")
    if dot:
        stem, suffix = stem[: MAX_NAME - len(suffix) - 1], suffix[:16]
        base = f"{stem}.{suffix}" if stem else ""
    else:
        base = base[:MAX_NAME]
    if not base or base in (".", ".."):
        raise SecurityError(f"cannot use file name {name!r}: give the file a normal name such as notes.txt")
    return base


def save_upload(run_dir: Path, src: str | os.PathLike, original_name: str | None = None) -> Path:
    """Copy an uploaded file into run_dir/uploads/ and return where it went.

    Same name and same content: reused. Same name, different content: a numbered copy.
    """
    name = safe_filename(original_name or Path(src).name)
    if Path(name).suffix.lower() not in ALLOWED_SUFFIXES:
        raise SecurityError(f"{name}: unsupported file type; upload one of {' '.join(ALLOWED_SUFFIXES)}")
    uploads = (Path(run_dir) / "uploads").resolve()
    uploads.mkdir(parents=True, exist_ok=True)
    dest = (uploads / name).resolve()
    if dest.parent != uploads:
        raise SecurityError(f"{name}: would be written outside the run's uploads folder")
    digest = _sha256(src)
    stem, suffix = dest.stem, dest.suffix
    k = 1
    while dest.exists():
        if _sha256(dest) == digest:
            return dest
        dest = uploads / f"{stem}-{k}{suffix}"
        k += 1
    shutil.copyfile(src, dest)
    return dest


def _sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
