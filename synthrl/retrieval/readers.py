"""Turn one document file into text sections, each remembering its page or row.

Supported: .txt .md (plain text: UTF-8, or UTF-16/32 with a byte-order mark or
mostly-ASCII UTF-16 without one), .pdf (pypdf, one section per page; PDFs
encrypted with an empty user password open), .html/.htm (BeautifulSoup text),
.docx (docx2txt), .jsonl/.csv (one section per row, from a text column: "text",
"content" or "passage" unless `text_column` names another).

A file that cannot be read raises `ReadError` with a reason a person understands.
A file that is readable in part (a JSONL line that is not JSON, a CSV quote that
never closes) keeps its good rows; what was skipped comes back as warnings that
name the line numbers, so nothing is dropped silently.

    sections = read_file(Path("notes.pdf"))     # [Section(text, page=1), ...]
    doc = read_document(Path("rows.jsonl"))     # doc.sections, doc.warnings
"""
from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

SUPPORTED = (".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".docx", ".jsonl", ".csv")
TEXT_COLUMNS = ("text", "content", "passage")
#: bad lines listed by number in a warning; the rest are counted
MAX_LISTED = 10


class ReadError(ValueError):
    """The file could not be turned into text; the message says why."""


@dataclass(frozen=True)
class Section:
    text: str
    page: int | None = None
    row: int | None = None


@dataclass(frozen=True)
class Document:
    """A file's readable sections, and what was skipped in it (empty when nothing was)."""

    sections: tuple[Section, ...]
    warnings: tuple[str, ...] = ()


def read_file(path: Path, text_column: str | None = None) -> list[Section]:
    """The file's text sections (non-empty), or ReadError naming the reason."""
    return list(read_document(path, text_column).sections)


def read_document(path: Path, text_column: str | None = None) -> Document:
    """The file's text sections (non-empty) and warnings for skipped parts, or ReadError naming the reason."""
    ext = path.suffix.lower()
    if ext not in SUPPORTED:
        raise ReadError(f"unsupported file type '{ext or '(none)'}' (supported: {', '.join(SUPPORTED)})")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReadError(f"cannot read file: {e.strerror or e}") from None
    if not data.strip():
        raise ReadError("empty file")
    warnings: list[str] = []
    if ext in (".txt", ".md", ".markdown"):
        sections = [Section(_decode(data))]
    elif ext == ".pdf":
        sections = _read_pdf(data)
    elif ext in (".html", ".htm"):
        sections = [Section(_html_text(_decode(data)))]
    elif ext == ".docx":
        sections = _read_docx(data)
    elif ext == ".csv":
        sections = _read_csv(_decode(data), text_column, warnings)
    else:
        sections = _read_jsonl(_decode(data), text_column, warnings)
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise ReadError("no text found in the file" + (f" ({'; '.join(warnings)})" if warnings else ""))
    return Document(tuple(sections), tuple(warnings))


# Byte-order marks, longest first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
         (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
         (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"))


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the bytes look like mostly-ASCII UTF-16 (a NUL in every other byte)."""
    head = data[:8192]
    half = len(head) // 2
    if half < 2:
        return None
    even, odd = head[0:2 * half:2].count(0), head[1:2 * half:2].count(0)
    if odd >= half * 0.3 and even <= half * 0.05:
        return "utf-16-le"
    if even >= half * 0.3 and odd <= half * 0.05:
        return "utf-16-be"
    return None


def _decode_as(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        text = data.decode(codec, errors="replace")
        if text.count("\ufffd") > max(8, len(text) // 20):
            raise ReadError(f"{name} text that does not decode (damaged, or not {name}); save it as UTF-8") from None
        return text


def _decode(data: bytes) -> str:
    """Text from UTF-8 (the default), or UTF-16/32 named by a byte-order mark or by their NUL pattern."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            return _decode_as(data, codec, name)
    utf16 = _utf16_without_bom(data)
    if utf16:
        return _decode_as(data, utf16, "UTF-16")
    # Text files with NUL bytes or mostly undecodable bytes are binary files with a text name.
    if b"\x00" in data[:8192]:
        raise ReadError("binary content, not text (NUL bytes found; not UTF-16 either)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        if text.count("\ufffd") > max(8, len(text) // 20):
            raise ReadError("binary content, not UTF-8 or UTF-16 text") from None
        return text


def _read_pdf(data: bytes) -> list[Section]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    from pypdf import PasswordType
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data))
        # Many PDFs are "encrypted" only to set permissions: the user password is empty and
        # any reader opens them. Only a PDF that needs a real password is refused.
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise ReadError("encrypted PDF that needs a password to open (save an unprotected copy and ingest that)")
        return [Section(page.extract_text() or "", page=i + 1) for i, page in enumerate(reader.pages)]
    except ReadError:
        raise
    except FileNotDecryptedError as e:
        raise ReadError(f"encrypted PDF that could not be decrypted ({e})") from None
    except DependencyError as e:
        raise ReadError(f"encrypted PDF whose cipher needs an extra package ({e})") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, NotImplementedError) as e:
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
    from xml.etree.ElementTree import ParseError

    import docx2txt

    try:
        return [Section(docx2txt.process(io.BytesIO(data)) or "")]
    except ParseError as e:
        # docx2txt parses word/document.xml (and headers, footers) with ElementTree.
        raise ReadError(f"not a readable .docx file: its XML is malformed ({e})") from None
    except KeyError as e:
        raise ReadError(f"not a readable .docx file: {e.args[0] if e.args else e}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, RuntimeError,
            NotImplementedError) as e:
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


def _listed(what: str, bad: list[str], verb: str = "skipped") -> str:
    """'2 bad lines skipped: line 3 (not JSON: ...); line 7 (...)' with at most MAX_LISTED listed."""
    shown = "; ".join(bad[:MAX_LISTED]) + (f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else "")
    return f"{len(bad)} {what}{'s' if len(bad) != 1 else ''} {verb}: {shown}"


def _read_jsonl(text: str, text_column: str | None, warnings: list[str]) -> list[Section]:
    """One section per JSON object line; bad lines are skipped and named by line number."""
    sections: list[Section] = []
    bad: list[str] = []
    col = None
    # Split on "\n" only: str.splitlines would also cut at U+2028 and other characters JSON strings may hold.
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            bad.append(f"line {n} (not JSON: {e.msg} at column {e.colno})")
            continue
        except RecursionError:
            bad.append(f"line {n} (not JSON: nested too deeply)")
            continue
        if not isinstance(obj, dict):
            bad.append(f"line {n} (a JSON {type(obj).__name__}, not an object)")
            continue
        if col is None or col not in obj:
            try:
                col = _pick_column([str(k) for k in obj], text_column)
            except ReadError as e:
                bad.append(f"line {n} ({e})")
                continue
        v = obj.get(col)
        sections.append(Section(v if isinstance(v, str) else json.dumps(v), row=n))
    if bad and not sections:
        raise ReadError(f"no usable JSON object lines: {_listed('bad line', bad)}")
    if bad:
        warnings.append(_listed("bad line", bad))
    return sections


def _strict_error(lines: list[str], first: int, last: int) -> str | None:
    """What a strict CSV reader says about the record on lines first..last (1-based), None if it is clean."""
    try:
        list(csv.reader(lines[first - 1:last], strict=True))
    except csv.Error as e:
        return str(e)
    return None


def _read_csv(text: str, text_column: str | None, warnings: list[str]) -> list[Section]:
    """One section per CSV row (row = data row number). A quote that never closes would swallow
    every later row into one field: that line is reported and skipped, and reading goes on from
    the next line. Line numbers in warnings are 1-based lines of the file."""
    import itertools

    lines = io.StringIO(text, newline="").readlines()  # line ends as the csv module sees them
    header: list[str] | None = None
    col = 0
    sections: list[Section] = []
    problems: list[str] = []
    n_rows = 0
    start = 0  # 0-based index of the line the reader (re)starts at
    while start < len(lines):
        reader = csv.reader(itertools.islice(lines, start, None))
        first, restart = start + 1, None
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                problems.append(f"line {first} ({e})")
                restart = first
                break
            last = start + reader.line_num
            # Only a record spanning lines can hide a quote problem; a strict re-read tells which.
            strict = _strict_error(lines, first, last) if last > first else None
            if strict and last == len(lines) and "unexpected end of data" in strict:
                problems.append(f"line {first} (a quote opens and never closes: lines {first}-{last} "
                                "would have merged into one row)")
                restart = first
                break
            if fields and header is None:
                header = fields
                col = header.index(_pick_column(header, text_column))
            elif fields:
                n_rows += 1
                if strict or (last > first and len(fields) != len(header)):
                    why = strict or f"{len(fields)} fields, the header has {len(header)}"
                    problems.append(f"lines {first}-{last} (row {n_rows} spans them: {why}; probably a stray "
                                    "quote; kept as one row)")
                sections.append(Section(fields[col] if col < len(fields) else "", row=n_rows))
            first = last + 1
        if restart is None or len(problems) > 1000:
            break
        start = restart
    if problems:
        warnings.append(_listed("CSV problem", problems, verb="found"))
    if header is None:
        raise ReadError("no CSV header row" + (f" ({'; '.join(problems[:MAX_LISTED])})" if problems else ""))
    return sections
