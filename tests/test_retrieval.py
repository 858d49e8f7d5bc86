"""Ingestion of every supported file type (and broken ones), re-ingestion, and the three retrieval modes."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import pytest

from synthrl.retrieval import get_retriever, ingest
from synthrl.retrieval.index import RetrievalError


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(len(pages)))}] /Count {len(pages)} >>",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objs.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>")
        objs.append(f"<< /Length {len(content)} >>\nstream\n{content}\nendstream")
    out, offsets = "%PDF-1.4\n", []
    for i, o in enumerate(objs):
        offsets.append(len(out.encode()))
        out += f"{i + 1} 0 obj\n{o}\nendobj\n"
    xref = len(out.encode())
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n" + "".join(f"{o:010d} 00000 n \n" for o in offsets)
    return (out + f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").encode()


def make_docx(text: str) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"/>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                   f'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>')
    return b.getvalue()


@pytest.fixture
def library(tmp_path):
    """One good file of every type, plus broken ones."""
    d = tmp_path / "library"
    d.mkdir()
    (d / "bakery.txt").write_text("The bakery sold 23 loaves of rye bread and 41 baguettes on Tuesday.")
    (d / "farm.md").write_text("# Farm\n\nBrook Farm harvested 37 sacks of potatoes and 52 crates of onions.")
    (d / "orchard.pdf").write_bytes(make_pdf(["The orchard picked 47 baskets of plums.",
                                              "The second field gave 12 crates of cherries."]))
    (d / "zoo.html").write_text("<html><head><style>p{}</style><script>var x=1;</script></head><body>"
                                "<p>The zoo feeds 19 penguins and 8 seals every morning.</p></body></html>")
    (d / "warehouse.docx").write_bytes(make_docx("The warehouse stores 58 pallets of floor tiles."))
    (d / "shops.csv").write_text("id,text\n1,The toy shop has 33 kites in stock.\n2,The shoe shop has 71 pairs of boots.\n")
    (d / "school.jsonl").write_text("\n".join(json.dumps({"room": r, "content": t}) for r, t in [
        ("1A", "Class 1A counted 44 glue sticks and 26 crayons."), ("2B", "Class 2B counted 15 rulers.")]) + "\n")
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog garbage")
    (bad / "empty.txt").write_text("")
    (bad / "junk.md").write_bytes(bytes(range(256)) * 20)
    (bad / "numbers.csv").write_text("a,b\n1,2\n3,4\n")
    (bad / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (bad / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return d, bad


def test_every_file_type_is_ingested_with_its_page_or_row(store, library):
    good, _ = library
    report = ingest(store, [good])
    assert not report.failed, report.failed
    assert {f.path for f in report.ok} == {f"library/{n}" for n in (
        "bakery.txt", "farm.md", "orchard.pdf", "zoo.html", "warehouse.docx", "shops.csv", "school.jsonl")}
    chunks = store.chunks()
    by_text = {c.text: c for c in chunks}
    assert by_text["The orchard picked 47 baskets of plums."].page == 1
    assert by_text["The second field gave 12 crates of cherries."].page == 2
    assert by_text["The shoe shop has 71 pairs of boots."].row == 2
    assert by_text["Class 2B counted 15 rulers."].source == "library/school.jsonl"
    zoo = next(c for c in chunks if c.source.endswith("zoo.html"))
    assert "19 penguins" in zoo.text and "var x" not in zoo.text
    assert any("58 pallets" in c.text for c in chunks)
    assert all(d["sha256"] and d["status"] == "ok" for d in store.documents())


def test_broken_files_are_reported_by_name_and_the_rest_ingested(store, library):
    good, bad = library
    report = ingest(store, [bad, good / "bakery.txt", good / "missing.txt"])
    reasons = {f.path: f.reason for f in report.failed}
    assert set(reasons) == {"broken/corrupt.pdf", "broken/empty.txt", "broken/junk.md", "broken/numbers.csv",
                            "broken/broken.docx", "broken/image.png", str(good / "missing.txt")}
    assert "PDF" in reasons["broken/corrupt.pdf"]
    assert "empty" in reasons["broken/empty.txt"]
    assert "binary" in reasons["broken/junk.md"]
    assert "no text column" in reasons["broken/numbers.csv"] and "a, b" in reasons["broken/numbers.csv"]
    assert "unsupported" in reasons["broken/image.png"]
    assert "no such file" in reasons[str(good / "missing.txt")]
    assert [f.path for f in report.ok] == ["bakery.txt"]
    assert store.status()["document_failures"] >= 5
    # a named text column rescues the csv
    again = ingest(store, [bad / "numbers.csv"], text_column="b")
    assert again.ok and any(c.text == "4" for c in store.chunks())


def test_reingest_is_a_noop_and_a_changed_file_replaces_its_chunks(store, library):
    good, _ = library
    first = ingest(store, [good])
    n = len(store.chunks())
    second = ingest(store, [good])
    assert all(f.status == "unchanged" for f in second.files) and second.chunks_added == 0
    assert len(store.chunks()) == n
    (good / "bakery.txt").write_text("The bakery now sells 90 scones and 15 tarts.")
    third = ingest(store, [good])
    assert [f.path for f in third.files if f.status == "updated"] == ["library/bakery.txt"]
    texts = [c.text for c in store.chunks()]
    assert "The bakery now sells 90 scones and 15 tarts." in texts
    assert not any("rye bread" in t for t in texts) and len(texts) == n
    assert first.chunks_added == n


def test_long_documents_are_split_into_overlapping_chunks(store, tmp_path):
    f = tmp_path / "long.txt"
    f.write_text(" ".join(f"Sentence {i} says the shop has {i % 90 + 10} boxes." for i in range(400)))
    ingest(store, [f], chunk_size=128, chunk_overlap=16)
    chunks = store.chunks()
    assert len(chunks) > 5 and [c.position for c in chunks] == list(range(len(chunks)))


def test_retrieval_modes_find_the_relevant_passage_and_the_index_persists(store, library):
    good, _ = library
    ingest(store, [good])
    for mode, query in (("bm25", "penguins and seals at the zoo"), ("dense", "animals eating breakfast at the zoo"),
                        ("hybrid", "zoo penguins")):
        r = get_retriever(store, mode=mode)
        passages = r.retrieve(query, k=3)
        assert len(passages) == 3
        assert "penguins" in passages[0].text, (mode, passages)
        assert passages[0].source == "library/zoo.html" and passages[0].score > 0
    # built once, then loaded from index/ while the chunks are unchanged
    assert (store.dir / "index" / "bm25" / "fingerprint.json").exists()
    assert get_retriever(store, mode="hybrid").rebuilt == []
    (good / "extra.txt").write_text("The aquarium has 64 clownfish.")
    ingest(store, [good])
    r = get_retriever(store, mode="bm25")
    assert r.rebuilt == ["bm25"] and "clownfish" in r.retrieve("clownfish aquarium", k=1)[0].text


def test_retrieval_without_documents_says_what_to_do(store):
    with pytest.raises(RetrievalError, match="synthrl ingest"):
        get_retriever(store, mode="bm25")


def test_cli_ingest_and_retrieve(runs_dir, library):
    good, bad = library
    env_run = [sys.executable, "-m", "synthrl.cli"]
    out = subprocess.run(env_run + ["ingest", "cli", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1 and "FAILED" in out.stdout and "corrupt.pdf" in out.stdout
    out = subprocess.run(env_run + ["ingest", "cli", str(good), str(bad)], capture_output=True, text=True)
    assert out.returncode == 0 and "added" in out.stdout and "empty.txt: empty file" in out.stdout
    out = subprocess.run(env_run + ["retrieve", "cli", "toy shop kites", "-k", "2", "--mode", "bm25", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert len(hits) == 2 and "kites" in hits[0]["text"] and hits[0]["source"] == "library/shops.csv"
    assert hits[0]["row"] == 1
