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
import tempfile
import unicodedata
from pathlib import Path

ALLOWED_SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".docx", ".jsonl", ".json", ".csv")
MAX_NAME = 120
# File systems limit a name to 255 bytes; names in other scripts take 2-4 bytes a character.
MAX_NAME_BYTES = 200


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
    """A file name with no path, no leading dots and only letters (any script), digits and ._-

    Names in any script are kept (`отчет.pdf`, `報告.md`); a name with nothing usable left raises.
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name or ""))[-1]
    base = re.sub(r"[^\w.-]+", "_", base).lstrip("._-")
    stem, dot, suffix = base.rpartition(".")
    if dot:
        suffix = suffix[:16]
        stem = _clip_bytes(stem[: MAX_NAME - len(suffix) - 1], MAX_NAME_BYTES - len(suffix.encode()) - 1)
        base = f"{stem}.{suffix}" if stem else ""
    else:
        base = _clip_bytes(base[:MAX_NAME], MAX_NAME_BYTES)
    if not base or base in (".", ".."):
        raise SecurityError(f"cannot use file name {name!r}: give the file a normal name such as notes.txt")
    return base


def _clip_bytes(text: str, limit: int) -> str:
    while len(text.encode("utf-8")) > limit:
        text = text[:-1]
    return text


def gradio_upload_dir() -> Path:
    """Where Gradio puts the files a browser uploads (its cache); the only place uploads are copied from."""
    try:
        from gradio.utils import get_upload_folder
    except ImportError:  # the library without the app: Gradio's own default
        return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()
    return Path(get_upload_folder()).resolve()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def check_received(src: str | os.PathLike, upload_dir: Path) -> Path:
    """The real path of an uploaded file, or SecurityError when it is not a file Gradio received.

    The path is resolved (symlinks followed) before the check, so a link planted in the upload folder
    cannot point outside it.
    """
    real = Path(os.path.realpath(src))
    root = Path(os.path.realpath(upload_dir))
    if not _inside(real, root) or real == root:
        raise SecurityError(f"{Path(str(src)).name}: refused: only files uploaded through the app can be added "
                            "(this path was not received from a browser)")
    if not real.is_file():
        raise SecurityError(f"{Path(str(src)).name}: refused: not a regular file")
    return real


def allowed_dirs(extra: list[str | os.PathLike] = ()) -> list[Path]:
    """Folders whose files the app may read when a user types a path (benchmarks)."""
    from synthrl import paths

    root = Path(__file__).resolve().parent.parent
    dirs = [root / "assets", paths.runs_dir(), *extra]
    dirs += [Path(d) for d in os.environ.get("SYNTHRL_ALLOWED_DIRS", "").split(os.pathsep) if d.strip()]
    return [Path(os.path.realpath(Path(d).expanduser())) for d in dirs]


def check_readable(path: str | os.PathLike, dirs: list[Path]) -> Path:
    """`path` resolved, if it lies inside one of `dirs`; SecurityError naming the allowed folders otherwise."""
    real = Path(os.path.realpath(Path(path).expanduser()))
    if not any(_inside(real, d) for d in dirs):
        raise SecurityError(
            f"{path}: the app reads typed paths only inside {', '.join(map(str, dirs))}. Put the file there, "
            "or start the app with SYNTHRL_ALLOWED_DIRS=/your/folder (the CLI reads any path you give it).")
    return real


def save_upload(run_dir: Path, src: str | os.PathLike, original_name: str | None = None,
                upload_dir: Path | None = None) -> Path:
    """Copy an uploaded file into run_dir/uploads/ and return where it went.

    With `upload_dir` (the app passes Gradio's upload folder), `src` must lie inside it.
    Same name and same content: reused. Same name, different content: a numbered copy.
    """
    if upload_dir is not None:
        src = check_received(src, upload_dir)
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
