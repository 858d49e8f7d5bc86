"""Ingest keeps every document (issue 14 §3): one bad file fails alone with its reason, a file is
recorded only once its chunks are stored, long texts split in bounded pieces, partly bad JSONL/CSV
keep their good rows and name the bad lines, empty-password PDFs and UTF-16 text are read."""
from __future__ import annotations

import importlib
import io
import json
import zipfile

import pytest

from synthrl.cli import main
from synthrl.retrieval import ingest
from synthrl.retrieval.ingest import INTERRUPTED, _segments, _splitter, split_bounded
from synthrl.retrieval.readers import read_document

# the module, not the function of the same name that synthrl.retrieval re-exports
ingest_mod = importlib.import_module("synthrl.retrieval.ingest")


def docx_bytes(document_xml: str) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"/>')
        z.writestr("word/document.xml", document_xml)
    return b.getvalue()


GOOD_DOCX = ('<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
             'main"><w:body><w:p><w:r><w:t>The depot keeps 64 spare tyres.</w:t></w:r></w:p></w:body></w:document>')
BROKEN_DOCX = '<?xml version="1.0"?><w:document xmlns:w="urn:x"><w:body><w:p>unclosed tags everywhere</w:document'


def by_path(store) -> dict[str, dict]:
    return {d["path"].rsplit("/", 1)[-1]: d for d in store.documents()}


# -- every file fails alone --------------------------------------------------------------------------
def test_malformed_docx_fails_alone_and_later_files_are_ingested(store, tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a_bakery.txt").write_text("The bakery sold 23 loaves of rye bread.")
    (d / "b_report.docx").write_bytes(docx_bytes(BROKEN_DOCX))
    (d / "c_farm.txt").write_text("Brook Farm harvested 37 sacks of potatoes.")
    report = ingest(store, [d])
    assert [f.path for f in report.ok] == ["docs/a_bakery.txt", "docs/c_farm.txt"]
    (bad,) = report.failed
    assert bad.path == "docs/b_report.docx" and "XML" in bad.reason and ".docx" in bad.reason
    row = by_path(store)["b_report.docx"]
    assert row["status"] == "error" and "XML" in row["error"]
    assert any("37 sacks" in c.text for c in store.chunks())


def test_an_unexpected_error_in_one_file_is_that_files_reason(store, tmp_path, monkeypatch):
    real = ingest_mod.read_document

    def flaky(path, text_column=None):
        if path.name == "b.txt":
            raise RuntimeError("reader bug")
        return real(path, text_column=text_column)

    monkeypatch.setattr(ingest_mod, "read_document", flaky)
    for n in "abc":
        (tmp_path / f"{n}.txt").write_text(f"File {n} says the shop has 12 boxes.")
    report = ingest(store, [tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"])
    assert [f.path for f in report.ok] == ["a.txt", "c.txt"]
    assert report.failed[0].path == "b.txt" and "RuntimeError: reader bug" in report.failed[0].reason


def test_a_failed_document_is_recorded_shown_in_status_and_retried(store, tmp_path, capsys):
    f = tmp_path / "report.docx"
    f.write_bytes(docx_bytes(BROKEN_DOCX))
    assert ingest(store, [f]).failed
    # the next ingest reads it again (not "unchanged"), and still says why it fails
    again = ingest(store, [f])
    assert again.files[0].status == "failed" and "XML" in again.files[0].reason
    assert main(["status", store.name]) == 0
    out = capsys.readouterr().out
    assert "report.docx" in out and "failed" in out and "XML" in out
    f.write_bytes(docx_bytes(GOOD_DOCX))
    fixed = ingest(store, [f])
    assert fixed.files[0].status == "updated" and fixed.files[0].chunks == 1
    row = by_path(store)["report.docx"]
    assert row["status"] == "ok" and row["error"] is None and row["n_chunks"] == 1


# -- recorded only once indexed; bounded splitting -------------------------------------------------
def blob(n: int) -> str:
    """n characters with no space, newline or punctuation (minified data, a text without separators)."""
    return "".join(chr(ord("a") + (i * 7) % 26) for i in range(n))


def test_text_without_any_break_splits_into_bounded_chunks(store, tmp_path):
    # The SentenceSplitter alone splits such a text one character at a time (minutes for a few MB).
    text = blob(3_000_000)
    (tmp_path / "blob.txt").write_text(text)
    report = ingest(store, [tmp_path / "blob.txt"], chunk_size=256, chunk_overlap=32)
    chunks = store.chunks()
    assert report.files[0].status == "added" and len(chunks) == report.files[0].chunks
    assert all(len(c.text) <= 256 for c in chunks)
    assert "".join(c.text for c in chunks) == text  # nothing lost
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_a_file_is_recorded_ok_only_after_its_chunks_are_stored(store, tmp_path, monkeypatch):
    big = tmp_path / "big.txt"
    big.write_text(blob(2_000_000))
    real = store.replace_chunks

    def killed(doc_id, chunks):
        raise KeyboardInterrupt  # the process dies (a timeout, Ctrl-C) while the chunks are being written

    monkeypatch.setattr(store, "replace_chunks", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest(store, [big])
    row = by_path(store)["big.txt"]
    assert row["status"] != "ok" and row["error"] == INTERRUPTED and not store.chunks()
    # the next ingest does the work instead of skipping the file as unchanged
    monkeypatch.setattr(store, "replace_chunks", real)
    report = ingest(store, [big])
    assert report.files[0].status == "updated" and report.files[0].chunks > 1000
    row = by_path(store)["big.txt"]
    assert row["status"] == "ok" and row["error"] is None
    assert row["n_chunks"] == len(store.chunks()) == report.files[0].chunks
    assert ingest(store, [big]).files[0].status == "unchanged"


def test_segments_are_bounded_cut_at_breaks_and_lose_nothing():
    text = ("word " * 50 + "\n\n") * 2000 + "x" * 5000
    parts = list(_segments(text, 1000))
    assert "".join(parts) == text and all(len(p) <= 1000 for p in parts)
    assert all(p.endswith("\n\n") for p in parts[:-10])  # paragraph breaks are preferred
    assert list(_segments("short", 1000)) == ["short"]


def test_long_prose_is_split_by_sentences_in_bounded_segments(monkeypatch):
    monkeypatch.setattr(ingest_mod, "SEGMENT_CHARS", 5_000)  # keeps the test small; the logic is the same
    prose = " ".join(f"Shop {i} sold {i % 50} kites." for i in range(2_000))  # no newline at all
    assert len(prose) > 5 * ingest_mod.SEGMENT_CHARS
    chunks = list(split_bounded(_splitter(128, 16), prose, 128))
    assert len(chunks) > 10 and all(c.rstrip().endswith(".") for c in chunks)
    assert max(len(c) for c in chunks) < 1000


# -- partly bad tables -----------------------------------------------------------------------------
def test_jsonl_keeps_good_lines_and_names_the_bad_ones(store, tmp_path):
    f = tmp_path / "notes.jsonl"
    f.write_text("\n".join([
        json.dumps({"text": "The toy shop has 33 kites."}),
        '{"text": "broken line',
        json.dumps({"text": "The shoe shop has 71 boots."}),
        json.dumps({"title": "no text field here"}),
        json.dumps(["a", "list"]),
        json.dumps({"text": "The hat shop has 12 caps."}),
    ]) + "\n")
    report = ingest(store, [f])
    (res,) = report.files
    assert res.status == "added" and res.chunks == 3
    assert "3 bad lines skipped" in res.warning
    assert "line 2 (not JSON" in res.warning and "line 4 (no text column" in res.warning and "line 5" in res.warning
    assert {c.row for c in store.chunks()} == {1, 3, 6}
    row = by_path(store)["notes.jsonl"]
    assert row["status"] == "ok" and row["error"] == res.warning


def test_jsonl_with_no_good_line_fails_with_line_numbers(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text("not json\n[1, 2]\n")
    with pytest.raises(ValueError, match=r"line 1 \(not JSON.*line 2 \(a JSON list"):
        read_document(f)


def test_csv_unclosed_quote_is_reported_and_later_rows_kept(store, tmp_path):
    f = tmp_path / "shops.csv"
    f.write_text('id,text\n1,"The toy shop has 33 kites.\n2,The shoe shop has 71 boots.\n3,The hat shop has 12 caps.\n')
    report = ingest(store, [f])
    (res,) = report.files
    assert res.status == "added" and "line 2" in res.warning and "never closes" in res.warning
    texts = sorted(c.text for c in store.chunks())
    assert texts == ["The hat shop has 12 caps.", "The shoe shop has 71 boots."]
    assert by_path(store)["shops.csv"]["error"] == res.warning


def test_csv_with_a_stray_quote_closing_later_is_reported(tmp_path):
    f = tmp_path / "shops.csv"
    f.write_text('id,text\n1,"The toy shop\n2,has a "quoted" word\n3,The hat shop has 12 caps.\n')
    doc = read_document(f)
    assert doc.warnings and "lines 2-3" in doc.warnings[0]
    assert any("12 caps" in s.text for s in doc.sections)


def test_clean_csv_with_a_quoted_multiline_field_has_no_warning(tmp_path):
    f = tmp_path / "ok.csv"
    f.write_text('id,text\n1,"two\nlines"\n2,plain\n')
    doc = read_document(f)
    assert doc.warnings == () and [s.text for s in doc.sections] == ["two\nlines", "plain"]
    assert [s.row for s in doc.sections] == [1, 2]


# -- encodings and encryption ----------------------------------------------------------------------
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_text_is_read(store, tmp_path, codec):
    f = tmp_path / f"{codec}.txt"
    f.write_bytes("The café sold 23 crêpes — and 4 teas.".encode(codec))
    report = ingest(store, [f])
    assert report.files[0].status == "added", report.files[0].reason
    assert store.chunks()[0].text == "The café sold 23 crêpes — and 4 teas."


def test_damaged_utf16_is_named_as_utf16_not_binary(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"\xff\xfe" + b"\x00\xd8" * 200)  # lone surrogates throughout
    with pytest.raises(ValueError, match="UTF-16"):
        read_document(f)


def _encrypted_pdf(tmp_path, user_password: str):
    from pypdf import PdfReader, PdfWriter
    from test_retrieval import make_pdf

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["The vault holds 88 gold coins."]))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    f = tmp_path / f"locked-{user_password or 'empty'}.pdf"
    with open(f, "wb") as out:
        writer.write(out)
    return f


def test_pdf_encrypted_with_an_empty_user_password_opens(store, tmp_path):
    f = _encrypted_pdf(tmp_path, "")
    report = ingest(store, [f])
    assert report.files[0].status == "added", report.files[0].reason
    assert store.chunks()[0].text == "The vault holds 88 gold coins." and store.chunks()[0].page == 1


def test_pdf_that_needs_a_password_says_so(store, tmp_path):
    report = ingest(store, [_encrypted_pdf(tmp_path, "hunter2")])
    assert report.files[0].status == "failed" and "needs a password" in report.files[0].reason


# -- the CLI ---------------------------------------------------------------------------------------
def test_cli_prints_each_failure_and_warning_and_exits_1_only_when_nothing_was_ingested(runs_dir, tmp_path,
                                                                                         capsys):
    bad = tmp_path / "report.docx"
    bad.write_bytes(docx_bytes(BROKEN_DOCX))
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "The mill ground 9 sacks."}\n{oops\n')
    assert main(["ingest", "cli", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAILED     report.docx: not a readable .docx file: its XML is malformed" in out
    assert main(["ingest", "cli", str(bad), str(rows)]) == 0
    out = capsys.readouterr().out
    assert "FAILED     report.docx" in out and "added      rows.jsonl: 1 chunks" in out
    assert "warning  rows.jsonl: 1 bad line skipped: line 2 (not JSON" in out
    # unchanged files count as ingested: a re-run with the same bad file still exits 0
    assert main(["ingest", "cli", str(bad), str(rows)]) == 0
