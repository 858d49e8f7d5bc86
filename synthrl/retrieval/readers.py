"""Turn one document file into text sections, each remembering its page or row.

Supported: .txt .md (plain text), .pdf (pypdf, one section per page), .html/.htm
(BeautifulSoup text), .docx (docx2txt), .jsonl/.csv (one section per row, from a
text column: "text", "content" or "passage" unless `text_column` names another).
A file that cannot be read raises `ReadError` with a reason a person understands.

    sections = read_file(Path("notes.pdf"))     # [Section(text, page=1), ...]
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

SUPPORTED = (".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".docx", ".jsonl", ".csv")
TEXT_COLUMNS = ("text", "content", "passage")


class ReadError(ValueError):
    """The file could not be turned into text; the message says why."""


@dataclass(frozen=True)
class Section:
    text: str
    page: int | None = None
    row: int | None = None


def read_file(path: Path, text_column: str | None = None) -> list[Section]:
    """The file's text sections (non-empty), or ReadError naming the reason."""
    ext = path.suffix.lower()
    if ext not in SUPPORTED:
        raise ReadError(f"unsupported file type '{ext or '(none)'}' (supported: {', '.join(SUPPORTED)})")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReadError(f"cannot read file: {e.strerror or e}") from None
    if not data.strip():
        raise ReadError("empty file")
    if ext in (".txt", ".md", ".markdown"):
        sections = [Section(_decode(data))]
    elif ext == ".pdf":
        sections = _read_pdf(data)
    elif ext in (".html", ".htm"):
        sections = [Section(_html_text(_decode(data)))]
    elif ext == ".docx":
        sections = _read_docx(data)
    else:
        sections = _read_table(data, ext, text_column)
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise ReadError("no text found in the file")
    return sections


def _decode(data: bytes) -> str:
    # Text files with NUL bytes or mostly undecodable bytes are binary files with a text name.
    if b"\x00" in data[:8192]:
        raise ReadError("binary content, not text (NUL bytes found)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        if text.count("\ufffd") > max(8, len(text) // 20):
            raise ReadError("binary content, not UTF-8 text") from None
        return text


def _read_pdf(data: bytes) -> list[Section]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ReadError("encrypted PDF (remove the password first)")
        return [Section(page.extract_text() or "", page=i + 1) for i, page in enumerate(reader.pages)]
    except ReadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as e:
        raise ReadError(f"not a readable PDF ({type(e).__name__}: {e})") from None


def _html_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "head"]):
        tag.decompose()
    lines = (ln.strip() for ln in soup.get_text("\n").splitlines())
    return "\n".join(ln for ln in lines if ln)


def _read_docx(data: bytes) -> list[Section]:
    import zipfile

    import docx2txt

    try:
        return [Section(docx2txt.process(io.BytesIO(data)) or "")]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise ReadError(f"not a readable .docx file ({type(e).__name__}: {e})") from None


def _pick_column(columns: list[str], text_column: str | None) -> str:
    if text_column:
        if text_column not in columns:
            raise ReadError(f"no column '{text_column}' (columns: {', '.join(columns) or 'none'})")
        return text_column
    low = {c.strip().lower(): c for c in columns}
    for name in TEXT_COLUMNS:
        if name in low:
            return low[name]
    raise ReadError(f"no text column: looked for {', '.join(TEXT_COLUMNS)} (columns: {', '.join(columns) or 'none'});"
                    " name one with text_column")


def _read_table(data: bytes, ext: str, text_column: str | None) -> list[Section]:
    text = _decode(data)
    if ext == ".csv":
        try:
            reader = csv.DictReader(io.StringIO(text))
            col = _pick_column(list(reader.fieldnames or []), text_column)
            return [Section(str(r.get(col) or ""), row=i + 1) for i, r in enumerate(reader)]
        except csv.Error as e:
            raise ReadError(f"not a readable CSV file: {e}") from None
    sections, bad, col = [], 0, None
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if not isinstance(obj, dict):
            bad += 1
            continue
        if col is None or col not in obj:
            col = _pick_column([str(k) for k in obj], text_column)
        v = obj.get(col)
        sections.append(Section(v if isinstance(v, str) else json.dumps(v), row=i + 1))
    if not sections and bad:
        raise ReadError(f"no valid JSON object lines ({bad} lines are not JSON objects)")
    return sections
